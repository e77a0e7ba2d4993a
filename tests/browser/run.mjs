// The storefront and the chat in a real browser: Debian's Chromium, headless,
// driven by playwright-core against a running shopkeep.
//
//   node tests/browser/run.mjs http://127.0.0.1:8080
//
// Environment: SHOPKEEP_ADMIN_KEY (to create products through the admin
// API), SCREENSHOT_DIR (default target/screenshots), CHROMIUM (default
// /usr/bin/chromium). Exits 1 when any check fails, printing why.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const base = process.argv[2];
if (!base) {
  console.error('usage: node run.mjs BASE_URL');
  process.exit(2);
}
const adminKey = process.env.SHOPKEEP_ADMIN_KEY ?? '';
const here = dirname(fileURLToPath(import.meta.url));
const shots = resolve(process.env.SCREENSHOT_DIR ?? join(here, '../../target/screenshots'));
mkdirSync(shots, { recursive: true });

const XSS_NAME = '<img src=x onerror=alert(1)>';
const MARKUP_MESSAGE = '<b>bold</b><img src=x onerror=alert(2)> do you have <i>cookies</i>?';
const TIMEOUT = 20_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
});

const results = [];

/** Runs one check in a fresh browser context (its own cookies and storage). */
async function check(name, body, { viewport = { width: 1280, height: 860 }, init } = {}) {
  const context = await browser.newContext({ viewport, locale: 'en-US', baseURL: base });
  context.setDefaultTimeout(TIMEOUT);
  if (init) await context.addInitScript(init);
  const trouble = [];
  context.on('page', (page) => watch(page, trouble));
  const page = await context.newPage();
  const started = Date.now();
  try {
    await body(page, context);
    assert.deepEqual(trouble, [], 'the page raised no dialogs and no script errors');
    results.push({ name, ok: true, ms: Date.now() - started });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}\n     ${String(error.stack ?? error).replaceAll('\n', '\n     ')}`);
    if (trouble.length) console.log(`     page trouble: ${JSON.stringify(trouble)}`);
    await page.screenshot({ path: join(shots, `failed-${slug(name)}.png`), fullPage: true }).catch(() => {});
  } finally {
    await context.close();
  }
}

/** Dialogs (an injected alert) and uncaught errors count against the page. */
function watch(page, trouble) {
  page.on('dialog', (dialog) => {
    if (dialog.type() === 'confirm' && dialog.message().startsWith('Cancel order')) return dialog.accept();
    trouble.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    return dialog.dismiss();
  });
  page.on('pageerror', (error) => trouble.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    // A refused request (422, offline) is logged by the browser itself; what the checks
    // care about are errors from the page's own scripts.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      trouble.push(`console: ${message.text()}`);
    }
  });
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
}

async function shot(page, name, options = {}) {
  await page.screenshot({ path: join(shots, `${name}.png`), ...options });
}

/** Calls the API as the admin. */
async function admin(method, path, body) {
  const response = await fetch(new URL(path, base), {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Waits until a search finds `q` (the index follows the catalog a moment later). */
async function searchable(q) {
  for (let i = 0; i < 100; i++) {
    const response = await fetch(new URL(`/api/v1/search?q=${encodeURIComponent(q)}`, base));
    const body = await response.json();
    if (body.hits?.length) return body.hits;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`search never found ${q}`);
}

const chat = (page) => ({
  bubble: page.locator('shopkeep-chat .bubble'),
  panel: page.locator('shopkeep-chat .panel'),
  input: page.locator('shopkeep-chat textarea'),
  log: page.locator('shopkeep-chat .log'),
  /** Sends a message and waits until the assistant's reply is complete. */
  async say(text) {
    const before = await page.locator('shopkeep-chat .msg.assistant[aria-busy="false"]').count();
    await this.input.fill(text);
    await this.input.press('Enter');
    await page.locator('shopkeep-chat .msg.assistant[aria-busy="false"]').nth(before).waitFor({ state: 'attached' });
    return page.locator('shopkeep-chat .msg.assistant').last();
  },
});

/** Waits until the view for the current address is drawn (the router marks main busy meanwhile). */
async function settled(page, url) {
  await page.waitForURL(url);
  await page.locator('main:not([aria-busy])').waitFor();
}

async function cartCount(page) {
  return Number(await page.locator('[data-cart-count]').first().textContent());
}

// ---------------------------------------------------------------------------

await check('a shopper finds products by type-ahead, search as you type and facets', async (page) => {
  await page.goto('/');
  await page.locator('.grid .card').first().waitFor();
  assert.equal(await page.locator('.brand .shop-name').textContent(), 'Corner Larder');
  assert.match(await page.title(), /Corner Larder/);
  await shot(page, 'storefront');

  const search = page.getByRole('combobox', { name: 'Search products' });
  await search.pressSequentially('sourd', { delay: 30 });
  const suggestion = page.getByRole('option', { name: 'Country Sourdough Loaf 800 g' });
  await suggestion.waitFor();
  assert.equal(await search.getAttribute('aria-expanded'), 'true');
  await shot(page, 'storefront-suggestions');
  // Keyboard: down to the option, Enter opens the product.
  const options = await page.getByRole('option').allTextContents();
  for (let i = 0; i <= options.indexOf('Country Sourdough Loaf 800 g'); i++) await search.press('ArrowDown');
  await search.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Country Sourdough Loaf 800 g' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/products/country-sourdough-loaf-800g');
  await shot(page, 'product-page', { fullPage: true });

  // A deep link loads the same view straight from the server.
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Country Sourdough Loaf 800 g' }).waitFor();

  await page.goto('/');
  await page.locator('.grid .card').first().waitFor();
  await search.fill('chocolate chip cookies');
  await settled(page, /q=chocolate/);
  await page.getByRole('heading', { level: 1, name: 'Results for “chocolate chip cookies”' }).waitFor();
  const titles = await page.locator('.card-title').allTextContents();
  assert.ok(titles.some((t) => /Chocolate Chip Cookies/.test(t)), `results: ${titles}`);
  assert.ok(await page.locator('.card-title mark').count() > 0, 'matched words are marked');

  await page.goto('/');
  await page.locator('.facets').getByRole('link', { name: /^vegan\s*\d+$/ }).click();
  await settled(page, /dietary=vegan/);
  await page.getByRole('link', { name: 'Remove filter vegan' }).waitFor();
  const vegan = await (await fetch(new URL('/api/v1/search?dietary=vegan&limit=1', base))).json();
  assert.match(await page.locator('.catalog-head [role="status"]').textContent(), new RegExp(`^${vegan.total} products`));
  // A price bucket shows exactly the products its count promised.
  const bucket = page.locator('.facets').getByRole('link', { name: /^Under \$5\.00\s*\d+$/ });
  const promised = Number(await bucket.locator('.count').textContent());
  await bucket.click();
  await settled(page, /price=0-5/);
  assert.match(await page.locator('.catalog-head [role="status"]').textContent(), new RegExp(`^${promised} products? found`));
  await page.locator('#sort').selectOption('price_asc');
  await settled(page, /sort=price_asc/);
  const prices = await page.locator('.card .price').allTextContents();
  const amounts = prices.map((p) => Number(p.replace(/[^0-9.]/g, '')));
  assert.deepEqual(amounts, [...amounts].sort((a, b) => a - b), 'sorted by price');
  assert.ok(amounts.every((a) => a < 5), `all under $5: ${amounts}`);
});

let chatOrder = null;
await check('a shopper finds a product in the chat, adds it from a card, confirms and sees the order', async (page) => {
  await page.goto('/');
  const c = chat(page);
  await c.bubble.click();
  await c.panel.waitFor();
  const found = await c.say('show me chocolate chip cookies');
  const first = found.locator('.cards .card', { hasText: 'Cookies' }).first();
  await first.waitFor();
  const name = await first.locator('.name').textContent();
  assert.match(name, /Cookies/);
  assert.equal(await cartCount(page), 0);
  await first.getByRole('button', { name: `Add ${name} to cart` }).click();
  await first.getByText('Added ✓').waitFor();
  // The page's cart follows what happened in the chat.
  await page.waitForFunction(() => document.querySelector('[data-cart-count]').textContent === '1');

  const asked = await c.say('checkout please');
  assert.match(await asked.textContent(), /email/);
  const summary = await c.say('Sam Lee, sam@example.com');
  assert.match(await summary.textContent(), /Shall I place it\?/);
  const card = summary.locator('.confirm');
  await card.waitFor();
  assert.match(await card.textContent(), new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  await shot(page, 'chat-confirmation');
  const orders = await (await page.request.get('/api/v1/orders')).json();
  assert.equal(orders.orders.length, 0, 'nothing is ordered before the yes');

  await card.getByRole('button', { name: 'Yes, place it' }).click();
  const placed = page.locator('shopkeep-chat .placed a');
  await placed.waitFor();
  chatOrder = (await placed.textContent()).replace('View order ', '');
  assert.match(chatOrder, /^SK-\d+$/);
  await page.waitForFunction(() => document.querySelector('[data-cart-count]').textContent === '0');
  await shot(page, 'chat');

  await page.getByRole('link', { name: 'My orders' }).click();
  const row = page.locator('table.orders tbody tr', { hasText: chatOrder });
  await row.waitFor();
  assert.match(await row.textContent(), /Waiting for payment/);
  await shot(page, 'my-orders');

  // The conversation comes back after a reload.
  await page.reload();
  await c.bubble.waitFor();
  if (!(await c.panel.isVisible())) await c.bubble.click();
  await page.locator('shopkeep-chat .msg.shopper', { hasText: 'Sam Lee, sam@example.com' }).waitFor();
  const restored = await page.locator('shopkeep-chat .msg').count();
  assert.ok(restored >= 8, `history restored: ${restored} messages`);
});

await check('checkout shows every problem by its field and places the order', async (page) => {
  await page.goto('/products/seeded-rye-tin-loaf-700g');
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForFunction(() => document.querySelector('[data-cart-count]').textContent === '2');
  await page.locator('[data-open-cart]').click();
  const drawer = page.getByRole('dialog', { name: 'Your cart' });
  await drawer.waitFor();
  assert.match(await drawer.textContent(), /Seeded Rye Tin Loaf 700 g/);
  await drawer.getByRole('button', { name: 'One more' }).click();
  await drawer.locator('output', { hasText: '3' }).waitFor();
  await shot(page, 'cart');
  await drawer.getByRole('link', { name: 'Checkout' }).click();
  await page.getByRole('heading', { level: 1, name: 'Checkout' }).waitFor();
  assert.equal(await drawer.isVisible(), false, 'the drawer closes on the way');

  // Nothing filled in: each required field says so, and focus goes to the first.
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.locator('#f-contact-name-error', { hasText: 'Full name is required' }).waitFor();
  assert.equal(await page.locator('#f-contact-name').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-contact-name');
  assert.match(await page.locator('#f-delivery-address-city-error').textContent(), /City is required/);

  // An email the browser accepts but the shop refuses: the server's reason lands by the field.
  await page.getByLabel('Full name').fill('Ana Ruiz');
  await page.getByLabel('Email').fill('ana@localhost');
  await page.getByLabel('Pick up at the shop').check();
  assert.equal(await page.locator('fieldset.address').isVisible(), false);
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.locator('#f-contact-email-error', { hasText: 'must be an email address' }).waitFor();
  assert.equal(await page.locator('#f-contact-email').getAttribute('aria-invalid'), 'true');
  await shot(page, 'checkout', { fullPage: true });

  await page.getByLabel('Email').fill('ana@example.com');
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.getByRole('heading', { name: 'Thank you — your order is placed' }).waitFor();
  const number = (await page.getByRole('heading', { level: 1 }).textContent()).replace('Order ', '');
  assert.match(number, /^SK-\d+$/);
  assert.match(await page.locator('.order').textContent(), /Seeded Rye Tin Loaf 700 g/);
  assert.equal(await cartCount(page), 0);
  await shot(page, 'order-confirmation', { fullPage: true });

  await page.getByRole('link', { name: '← My orders' }).click();
  await page.locator('table.orders tbody tr', { hasText: number }).waitFor();
});

await check('catalog values and chat messages with markup render as text', async (page) => {
  await admin('POST', '/api/v1/products', {
    handle: `markup-probe-${Date.now()}`, name: XSS_NAME, category: 'Pantry > Probes',
    description: '<script>alert(3)</script> a product whose text is markup', price: '2.50', stock: 5,
  });
  await searchable('onerror');
  await page.goto('/?q=onerror');
  const title = page.locator('.card-title').first();
  await title.waitFor();
  assert.equal(await title.textContent(), XSS_NAME);
  assert.equal(await page.locator('main img[src="x"], main script').count(), 0, 'no element from the name');
  await page.locator('.card-title a').first().click();
  await settled(page, /\/products\/markup-probe/);
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), XSS_NAME);
  assert.match(await page.locator('.description').textContent(), /^<script>alert\(3\)<\/script>/);
  assert.equal(await page.title(), `${XSS_NAME} · Corner Larder`);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.locator('[data-open-cart]').click();
  await page.getByRole('dialog', { name: 'Your cart' }).getByText(XSS_NAME).waitFor();
  await page.keyboard.press('Escape');

  const c = chat(page);
  await c.bubble.click();
  const reply = await c.say(MARKUP_MESSAGE);
  const mine = page.locator('shopkeep-chat .msg.shopper').last();
  assert.equal(await mine.textContent(), MARKUP_MESSAGE);
  const found = await c.say('show me onerror');
  await found.locator('.cards .card').first().waitFor();
  assert.ok((await found.locator('.cards .name').allTextContents()).includes(XSS_NAME));
  const injected = await page.locator('shopkeep-chat').evaluate((host) =>
    host.shadowRoot.querySelectorAll('.log b, .log i, .log img, .log script').length);
  assert.equal(injected, 0, 'no element from the messages');
  assert.ok(await reply.isVisible());
  await shot(page, 'markup-as-text');
});

await check('a message sent while offline goes out when the network is back', async (page, context) => {
  await page.goto('/');
  const c = chat(page);
  await c.bubble.click();
  await c.panel.waitFor();
  await context.setOffline(true);
  await c.input.fill('show me oat milk');
  await c.input.press('Enter');
  await page.locator('shopkeep-chat .notice', { hasText: /offline|Connection lost/ }).waitFor();
  await page.waitForTimeout(500);
  await context.setOffline(false);
  const reply = page.locator('shopkeep-chat .msg.assistant[aria-busy="false"]').last();
  await reply.locator('.cards .card').first().waitFor();
  assert.match(await reply.textContent(), /Oat/i);
  assert.equal(await page.locator('shopkeep-chat .notice').isVisible(), false);
});

await check('a person from the shop joins the chat and the shopper sees their reply', async (page) => {
  await page.goto('/');
  const c = chat(page);
  await c.bubble.click();
  await c.say('I want to talk to a person please');
  const id = await page.evaluate(() => localStorage.getItem('shopkeep.chat.conversation'));
  assert.ok(id, 'the conversation id is kept');
  const flagged = await admin('GET', '/api/v1/admin/conversations?flagged=true');
  assert.ok(flagged.conversations.some((x) => x.conversation.id === id), 'the conversation is flagged');
  await admin('POST', `/api/v1/admin/conversations/${id}/takeover`, { name: 'Ana' });
  await page.locator('shopkeep-chat .note', { hasText: 'Ana from the shop joined the chat' }).waitFor();
  await admin('POST', `/api/v1/admin/conversations/${id}/messages`, { text: 'Hi, Ana here <b>how</b> can I help?' });
  const message = page.locator('shopkeep-chat .msg.admin').last();
  await message.waitFor();
  assert.equal(await message.locator('.text').textContent(), 'Hi, Ana here <b>how</b> can I help?');
  assert.match(await page.locator('shopkeep-chat .status').textContent(), /Ana from the shop/);
  await shot(page, 'chat-person-joined');
});

await check('voice buttons show only where the browser can listen and speak', async (page) => {
  await page.goto('/');
  await page.locator('shopkeep-chat .bubble').click();
  const has = await page.evaluate(() => ({
    listen: 'SpeechRecognition' in window || 'webkitSpeechRecognition' in window,
    speak: 'speechSynthesis' in window,
  }));
  assert.equal(await page.locator('shopkeep-chat .mic').isVisible(), has.listen);
  assert.equal(await page.getByRole('button', { name: 'Read replies aloud' }).isVisible(), has.speak);
});

await check('without the Web Speech API the voice buttons are hidden', async (page) => {
  await page.goto('/');
  await page.locator('shopkeep-chat .bubble').click();
  await page.locator('shopkeep-chat textarea').waitFor();
  assert.equal(await page.locator('shopkeep-chat .mic').isVisible(), false);
  assert.equal(await page.getByRole('button', { name: 'Read replies aloud' }).isVisible(), false);
}, {
  init: () => {
    delete window.SpeechRecognition;
    delete window.webkitSpeechRecognition;
    delete window.speechSynthesis;
    delete window.SpeechSynthesisUtterance;
  },
});

await check('the storefront works on a phone', async (page) => {
  await page.goto('/');
  await page.locator('.grid .card').first().waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling (${width}px)`);
  await shot(page, 'storefront-phone');
  await page.locator('shopkeep-chat .bubble').click();
  await chat(page).say('something for breakfast under $10');
  await shot(page, 'chat-phone');
}, { viewport: { width: 390, height: 844 } });

await check('first paint and script weight of the storefront', async (page) => {
  await page.goto('/', { waitUntil: 'load' });
  await page.locator('.grid .card').first().waitFor();
  const measured = await page.evaluate(() => {
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((p) => [p.name, Math.round(p.startTime)]));
    const scripts = performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.js'));
    const navigation = performance.getEntriesByType('navigation')[0];
    return {
      first_paint_ms: paint['first-paint'],
      first_contentful_paint_ms: paint['first-contentful-paint'],
      dom_content_loaded_ms: Math.round(navigation.domContentLoadedEventEnd),
      scripts: scripts.length,
      script_bytes: scripts.reduce((n, r) => n + r.decodedBodySize, 0),
      script_bytes_transferred: scripts.reduce((n, r) => n + r.transferSize, 0),
    };
  });
  writeFileSync(join(shots, 'storefront-performance.json'), `${JSON.stringify(measured, null, 2)}\n`);
  console.log(`     ${JSON.stringify(measured)}`);
  assert.ok(measured.script_bytes > 0 && measured.script_bytes < 100_000, `JS under 100 kB: ${measured.script_bytes}`);
});

await browser.close();
const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${shots}`);
process.exit(failed.length ? 1 : 0);
