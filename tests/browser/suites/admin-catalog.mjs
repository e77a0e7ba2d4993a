// The dashboard's Products page as a shop owner uses it: import a real
// Shopify export through the file input and watch it, find an imported
// product, change its price and stock (with the API's inline refusals on the
// way) and see the change in the shop; then a small CSV with a bad row and a
// name that is markup, whose per-row error and name show as text.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { XSS_NAME, check, shot, signIn } from '../harness.mjs';

/** 354 rows, 56 products, no bad row (counted in tests/importers.rs). */
const EXPORT = 'greatoutdoorin-star__greatoutdoor.csv';
const EXPORT_PRODUCTS = 56;

async function productsPage(page) {
  await page.goto('/admin/products');
  await page.locator('main:not([aria-busy])').waitFor();
  await page.locator('.product-results:not([aria-busy]) table').waitFor();
}

/** Picks `file` in the import panel, imports it, and waits for the outcome. */
async function importFile(page, file, format) {
  const panel = page.getByRole('region', { name: 'Import a catalog' });
  await panel.getByLabel('Catalog file').setInputFiles(file);
  if (format) await panel.getByLabel('Format').selectOption(format);
  await panel.getByRole('button', { name: 'Import' }).click();
  const bar = panel.getByRole('progressbar', { name: 'Import progress' });
  await bar.waitFor();
  await panel.locator('.import-result').waitFor();
  return { panel, bar };
}

await check('an admin imports a Shopify export, edits a product and the shop shows it', async (page) => {
  const exports = process.env.SHOPIFY_EXPORTS;
  assert.ok(exports, 'SHOPIFY_EXPORTS names the folder of Shopify exports');
  await signIn(page);
  await productsPage(page);
  await shot(page, 'admin-products', { fullPage: true });

  const { panel, bar } = await importFile(page, join(exports, EXPORT));
  assert.equal(await bar.getAttribute('max'), String(EXPORT_PRODUCTS));
  assert.equal(await bar.evaluate((el) => el.value), EXPORT_PRODUCTS, 'the bar is full');
  assert.equal(await bar.getAttribute('aria-valuetext'), `${EXPORT_PRODUCTS} of ${EXPORT_PRODUCTS} rows`);
  assert.match(await panel.getByRole('status').textContent(), new RegExp(`${EXPORT}: ${EXPORT_PRODUCTS} of ${EXPORT_PRODUCTS} rows`));
  const figure = async (label) => Number(await panel.locator('.stat', { hasText: label }).locator('.stat-value').textContent());
  assert.equal(await figure('Created') + await figure('Updated') + await figure('Unchanged'), EXPORT_PRODUCTS);
  assert.equal(await figure('Skipped'), 0);
  await shot(page, 'admin-import', { fullPage: true });

  // Find an imported product in the list and open it.
  await page.getByRole('searchbox', { name: 'Search' }).fill('Honey Armchair');
  await page.getByRole('button', { name: 'Find' }).click();
  await page.waitForURL(/q=Honey/);
  const link = page.getByRole('link', { name: 'Honey Armchair', exact: true });
  await link.waitFor();
  assert.match(await page.locator('.result-count').textContent(), /^1 product/);
  await link.click();
  await page.getByRole('heading', { level: 1, name: 'Honey Armchair' }).waitFor();

  // A price the API refuses is shown beside its field, not lost.
  const price = page.getByLabel('Price', { exact: true });
  const stock = page.getByLabel('Stock', { exact: true });
  await price.fill('cheap');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('.form-problem').waitFor();
  assert.equal(await price.getAttribute('aria-invalid'), 'true');
  assert.ok((await page.locator(`#${await price.getAttribute('id')}-error`).textContent()).length > 0, 'the reason is shown');

  await price.fill('1234.50');
  await stock.fill('3');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('[data-toast]', { hasText: 'Saved.' }).waitFor();
  assert.equal(await price.getAttribute('aria-invalid'), null);
  await shot(page, 'admin-product-edit', { fullPage: true });

  await page.goto('/products/honey-textured-armchair');
  await page.getByRole('heading', { level: 1, name: 'Honey Armchair' }).waitFor();
  assert.match(await page.locator('.product-price').textContent(), /\$1,234\.50/);
  assert.equal(await page.locator('.stock').textContent(), 'Only 3 left');

  // The list's quick edit: out of stock, and the filter finds it there.
  await page.goto('/admin/products?q=Honey%20Armchair');
  await page.locator('.product-results:not([aria-busy]) table').waitFor();
  const quick = page.getByLabel('Stock of Honey Armchair');
  await quick.fill('0');
  await quick.press('Enter');
  await page.locator('[data-toast]', { hasText: 'Stock of Honey Armchair is now 0.' }).waitFor();
  await page.getByLabel('Stock', { exact: true }).selectOption('out');
  await page.waitForURL(/stock=out/);
  await page.locator('.product-results:not([aria-busy]) table').waitFor();
  await page.getByRole('link', { name: 'Honey Armchair', exact: true }).waitFor();
  assert.ok(await page.locator('.product-results .badge-bad', { hasText: 'Out of stock' }).count() > 0);
});

await check('a CSV with a bad row shows its line and field, and markup in a name stays text', async (page) => {
  const folder = mkdtempSync(join(tmpdir(), 'shopkeep-catalog-'));
  const file = join(folder, 'crates.csv');
  writeFileSync(file, [
    'handle,name,price,stock,active',
    `catalog-markup,${XSS_NAME},3.50,4,false`,
    'catalog-broken,Broken Crate,free,1,true',
    'catalog-crate,Sturdy Crate,12.00,7,true',
  ].join('\n'));
  await signIn(page);
  await productsPage(page);
  const { panel } = await importFile(page, file, 'csv');
  const errors = panel.getByRole('region', { name: 'Rows refused' });
  await errors.waitFor();
  const cells = await errors.locator('tbody tr').first().locator('td').allTextContents();
  assert.equal(cells[0], '3', 'the bad row is line 3');
  assert.equal(cells[1], 'price');
  assert.match(cells[2], /catalog-broken/);
  const skipped = Number(await panel.locator('.stat', { hasText: 'Skipped' }).locator('.stat-value').textContent());
  assert.equal(skipped, 1);

  await page.getByLabel('Status').selectOption('false');
  await page.waitForURL(/published=false/);
  await page.locator('.product-results:not([aria-busy]) table').waitFor();
  const named = page.getByRole('link', { name: XSS_NAME, exact: true });
  await named.waitFor();
  assert.equal(await page.locator('.product-results img').count(), 0, 'no image was made from the name');

  // Deleting asks first; cancelling keeps the product.
  await page.getByRole('button', { name: `Delete ${XSS_NAME}` }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete this product?' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await named.waitFor();
  await page.getByRole('button', { name: `Delete ${XSS_NAME}` }).click();
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await page.locator('[data-toast]', { hasText: 'Deleted' }).waitFor();
  await named.waitFor({ state: 'detached' });
});
