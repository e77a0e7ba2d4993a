// The dashboard's System page as an admin uses it: version and health
// checks, "Back up now" adds a row, the row's download is the archive
// itself, and a restore asks first, then runs while the shop keeps serving.

import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { admin, check, shot, signIn } from '../harness.mjs';

await check('an admin sees the system, backs up from the page, downloads and restores the backup', async (page) => {
  await signIn(page);
  // The overview's alerts may link to System too: use the navigation's link.
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'System' }).click();
  await page.waitForURL('**/admin/system');
  await page.getByRole('heading', { level: 1, name: 'System' }).waitFor();
  await page.locator('main:not([aria-busy])').waitFor();

  const system = await admin('GET', '/api/v1/admin/system');
  await page.locator('.stat', { hasText: 'Version' }).getByText(system.version, { exact: true }).waitFor();
  await page.getByRole('heading', { level: 2, name: 'Health' }).waitFor();
  assert.equal(await page.locator('.checks li').count(), 4);
  await page.locator('.checks li', { hasText: 'Database' }).locator('.badge-ok').waitFor();
  assert.match(await page.locator('.checks li', { hasText: 'Database' }).textContent(), /SQLite at /);
  assert.equal(await page.getByRole('meter').count(), 2, 'disk and memory bars');

  const rows = page.locator('.card tbody tr');
  const before = await rows.count();
  const button = page.getByRole('button', { name: 'Back up now' });
  await button.click();
  await page.getByText(/^Took backup shopkeep-/).waitFor();
  assert.equal(await button.isEnabled(), true, 'the button is free again');
  const [newest] = await admin('GET', '/api/v1/admin/backups');
  const row = rows.filter({ hasText: newest.name });
  await row.waitFor();
  assert.equal(await rows.count(), before + 1);

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row.getByRole('link', { name: `Download ${newest.name}` }).click(),
  ]);
  assert.equal(download.suggestedFilename(), newest.name);
  const size = statSync(await download.path()).size;
  assert.ok(size > 0, 'the download has content');
  assert.equal(size, newest.bytes, 'the download is the whole archive');

  // Restore asks first; Cancel changes nothing.
  await row.getByRole('button', { name: `Restore ${newest.name}` }).click();
  const dialog = page.getByRole('dialog', { name: `Restore ${newest.name}?` });
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /before-restore/);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await shot(page, 'admin-system', { fullPage: true });

  await row.getByRole('button', { name: `Restore ${newest.name}` }).click();
  await dialog.getByRole('button', { name: 'Restore this backup' }).click();
  await page.getByText(/^Restored the backup taken /).waitFor();
  assert.equal((await admin('GET', '/api/v1/admin/system')).readiness.ready, true, 'the shop still serves');
});
