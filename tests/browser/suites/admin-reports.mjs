// The dashboard's report pages, Usage and cost and Sales: the chart module's
// maths run in the page on the real module; orders and chat turns made
// through the API first; then each page's charts hold a point per day and a
// bar per top product, its totals are the API's, its CSV download has the
// header and the rows, and product names with markup or a formula stay text.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { admin, base, check, shot, signIn, XSS_NAME } from '../harness.mjs';

const FORMULA_NAME = '=1+2';
const stamp = Date.now();

/** A shopper over the API, keeping its session the way an API client does. */
function shopper() {
  let session = null;
  return async (method, path, body) => {
    const headers = { 'content-type': 'application/json' };
    if (session) headers['x-session-id'] = session;
    const response = await fetch(new URL(path, base), { method, headers, body: body && JSON.stringify(body) });
    session = response.headers.get('x-session-id') ?? session;
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

const DETAILS = {
  contact: { name: 'Rui Report', email: 'rui@example.com', phone: '+1 555 0101' },
  delivery: { method: 'delivery', address: { line1: '3 Chart Lane', city: 'Portland', postal_code: '04101', country: 'US' } },
  payment_method: 'manual',
};

async function product(handle, name, price) {
  const created = await admin('POST', '/api/v1/products', { handle: `${handle}-${stamp}`, name, category: 'Pantry > Reports', price, stock: 40 });
  return created.id;
}

const formula = await product('report-formula', FORMULA_NAME, '3.10');
const markup = await product('report-markup', XSS_NAME, '2.20');
for (const items of [[[formula, 2]], [[markup, 1], [formula, 1]], [[markup, 3]]]) {
  const buy = shopper();
  for (const [id, quantity] of items) await buy('POST', '/api/v1/cart/items', { product_id: id, quantity });
  await buy('POST', '/api/v1/checkout', DETAILS);
}
const talk = shopper();
for (const message of ['hello', 'do you have sourdough?']) await talk('POST', '/api/v1/chat', { message });

/** The CSV a download link saves, read as text. */
async function downloaded(page, link) {
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  return { name: download.suggestedFilename(), text: await readFile(await download.path(), 'utf8') };
}

await check('the chart module makes readable ticks and scales', async (page) => {
  await signIn(page);
  const maths = await page.evaluate(async () => {
    const chart = await import('/admin/assets/chart.js');
    return {
      counts: chart.niceTicks(0, 1234, { count: 4, integer: true }),
      small: chart.niceTicks(0, 3, { count: 5, integer: true }),
      flat: chart.niceTicks(0, 0, { integer: true }).ticks,
      fractions: chart.niceTicks(0, 0.7, { count: 4 }).ticks,
      scale: [0, 50, 100].map(chart.linearScale([0, 100], [200, 0])),
      labelled: chart.labelledIndexes(30, 7),
      steps: [chart.niceStep(1000, 4), chart.niceStep(7, 5, true), chart.niceStep(11, 5, true), chart.niceStep(0.3, 3)],
    };
  });
  assert.deepEqual(maths.counts.ticks, [0, 500, 1000, 1500]);
  assert.deepEqual(maths.small.ticks, [0, 1, 2, 3]);
  assert.deepEqual(maths.flat, [0, 1], 'all zeros still get an axis');
  assert.deepEqual(maths.fractions, [0, 0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(maths.scale, [200, 100, 0]);
  assert.deepEqual(maths.labelled, [0, 5, 10, 15, 20, 25]);
  assert.deepEqual(maths.steps, [250, 2, 5, 0.1], 'whole numbers never step by 2.5');
});

await check('the usage page charts the days, totals the API and downloads its CSV', async (page) => {
  await signIn(page);
  await page.goto('/admin/usage?range=7d');
  await page.locator('main:not([aria-busy]) .report:not([aria-busy]) [data-totals]').waitFor();
  const api = await (await page.request.get(`/api/v1/admin/usage?from=${daysAgo(6)}&to=${daysAgo(0)}`)).json();
  assert.equal(api.groups.length, 7);
  assert.ok(api.totals.calls > 0, 'the test shop has model calls this week');
  const tokens = page.locator('figure.chart', { has: page.locator('figcaption', { hasText: 'Tokens per day' }) });
  for (const series of ['Input', 'Output', 'Cached']) {
    assert.equal(await tokens.locator(`g[data-series="${series}"] circle.point`).count(), 7, series);
  }
  assert.match(await tokens.locator('svg').getAttribute('aria-label'), /7 days/);
  assert.equal(await tokens.locator('svg').getAttribute('role'), 'img');
  assert.equal(await tokens.locator('details tbody tr').count(), 7, 'the figures as a table');
  const totals = page.locator('[data-totals]');
  assert.equal(await totals.locator('.stat', { hasText: 'Model calls' }).locator('.stat-value').textContent(), api.totals.calls.toLocaleString('en-US'));
  assert.equal(await totals.locator('.stat', { hasText: 'Input tokens' }).locator('.stat-value').textContent(), api.totals.input_tokens.toLocaleString('en-US'));
  await page.getByRole('heading', { name: 'Remote spend this month' }).waitFor();
  assert.equal(await page.locator('meter').count(), 1);

  await page.getByLabel('Group by').selectOption('tier');
  await page.locator('.report:not([aria-busy]) table', { hasText: 'Usage by tier' }).waitFor();
  assert.match(page.url(), /group_by=tier/);
  const csv = await downloaded(page, page.getByRole('link', { name: 'Download CSV' }));
  assert.match(csv.name, /^usage-by-tier-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
  const lines = csv.text.trimEnd().split('\r\n');
  assert.equal(lines[0], 'tier,calls,failed,input_tokens,output_tokens,cached_tokens,cost');
  const byTier = await (await page.request.get(`/api/v1/admin/usage?from=${daysAgo(6)}&to=${daysAgo(0)}&group_by=tier`)).json();
  assert.equal(lines.length - 1, byTier.groups.length, 'a row per tier');
  assert.equal(await page.getByRole('region', { name: /^Usage by tier/ }).locator('tbody tr').count(), byTier.groups.length);

  await page.getByLabel('Group by').selectOption('day');
  await page.locator('.report:not([aria-busy]) table', { hasText: 'Usage by day' }).waitFor();
  await shot(page, 'admin-usage', { fullPage: true });
});

await check('the sales page charts days and top products, totals the API and downloads its CSV', async (page) => {
  await signIn(page);
  await page.goto('/admin/sales');
  await page.locator('main:not([aria-busy]) .report:not([aria-busy]) [data-totals]').waitFor();
  const api = await (await page.request.get('/api/v1/admin/analytics')).json();
  assert.ok(api.totals.orders >= 3, `orders made: ${api.totals.orders}`);
  const revenue = page.locator('figure.chart', { has: page.locator('figcaption', { hasText: 'Revenue per day' }) });
  assert.equal(await revenue.locator('circle.point').count(), api.days.length);
  assert.equal(api.days.length, 30);
  const bars = page.locator('figure.chart-bar rect.bar');
  assert.equal(await bars.count(), api.top_products.length);
  const totals = page.locator('[data-totals]');
  const shownRevenue = await totals.locator('.stat', { hasText: 'Revenue' }).locator('.stat-value').textContent();
  assert.equal(shownRevenue, money(api.totals.revenue_minor));
  assert.equal(await totals.locator('.stat', { hasText: 'Orders' }).locator('.stat-value').textContent(), String(api.totals.orders));
  assert.equal(await totals.locator('.stat', { hasText: 'Average order value' }).locator('.stat-value').textContent(), money(api.totals.average_order_value_minor));

  // Names from the catalog are text: in the bars, their tooltips and the table.
  const labels = await page.locator('figure.chart-bar .bar-label').allTextContents();
  assert.ok(labels.includes(FORMULA_NAME), `bar labels: ${labels}`);
  assert.ok(labels.includes(XSS_NAME), `bar labels: ${labels}`);
  const tooltips = await page.locator('figure.chart-bar rect.bar title').allTextContents();
  assert.ok(tooltips.includes(`${XSS_NAME}: ${money(880)}`), `bar tooltips: ${tooltips}`);
  assert.ok(await page.locator('table td', { hasText: XSS_NAME }).count() >= 1);
  assert.equal(await page.locator('main img, main script').count(), 0, 'no element from a name');

  const days = await downloaded(page, page.getByRole('link', { name: 'Download CSV' }));
  assert.match(days.name, /^sales-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
  const dayLines = days.text.trimEnd().split('\r\n');
  assert.equal(dayLines[0], 'day,orders,revenue,discount,tax,units,average_order_value,cancelled,refunded,refunded_amount');
  assert.equal(dayLines.length - 1, api.days.length);
  const products = await downloaded(page, page.getByRole('link', { name: 'Top products CSV' }));
  const productLines = products.text.trimEnd().split('\r\n');
  assert.equal(productLines[0], 'product_id,name,units,revenue');
  assert.equal(productLines.length - 1, api.top_products.length);
  assert.ok(productLines.includes(`${formula},"'=1+2",3,9.30`), products.text);
  assert.ok(productLines.includes(`${markup},${XSS_NAME},4,8.80`), products.text);

  await page.getByLabel('Dates').selectOption('7d');
  await page.locator('.report:not([aria-busy])').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('figure.chart-line')[0]?.querySelectorAll('circle.point').length === 7);
  assert.match(page.url(), /range=7d/);
  await shot(page, 'admin-sales', { fullPage: true });
});

await check('the report pages hold up on a phone', async (page) => {
  await signIn(page);
  await page.goto('/admin/sales');
  await page.locator('.report:not([aria-busy]) figure.chart-bar').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no sideways scrolling: ${overflow}px`);
}, { viewport: { width: 390, height: 844 } });

function daysAgo(days) {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

function money(minor) {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(minor / 100);
}
