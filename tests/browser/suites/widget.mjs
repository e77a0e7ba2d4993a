// The chat widget on someone else's website: the demo bakery blog is served
// from a second local HTTP server (another origin), allowlisted through the
// settings API. The bubble lives in a shadow root, a shopper finds a product
// and adds it from a card, and neither page nor widget restyles the other.
// A page from an origin that is not allowlisted gets a polite note instead.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { admin, base, browser, chat, check, here, shot } from '../harness.mjs';

const shopOrigin = new URL(base).origin;
const demo = readFileSync(join(here, '../../assets/web/widget/demo.html'), 'utf8')
  .replaceAll('http://127.0.0.1:8080', shopOrigin);

/** A foreign site: serves the demo page at / and nothing else. */
function blogServer() {
  const server = http.createServer((req, res) => {
    if (req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(demo);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const origin = (server) => `http://127.0.0.1:${server.address().port}`;

const allowed = await blogServer();
const stranger = await blogServer();
const before = (await admin('GET', '/api/v1/admin/settings')).widget_allowed_origins;

try {
  await admin('PATCH', '/api/v1/admin/settings', { widget_allowed_origins: [...before, origin(allowed)] });

  await check('the widget works on another origin, isolated in a shadow root', async (page) => {
    await page.goto(`${origin(allowed)}/`);
    const talk = chat(page);
    await talk.bubble.waitFor();
    const isolation = await page.evaluate(() => {
      const host = document.querySelector('[data-shopkeep-widget]');
      return {
        shadow: Boolean(host?.shadowRoot),
        inLightDom: document.querySelector('shopkeep-chat') !== null,
        sheets: document.styleSheets.length,
      };
    });
    assert.deepEqual(isolation, { shadow: true, inLightDom: false, sheets: 1 });
    // The page's loud button rule and serif font do not reach the widget.
    const bubble = await talk.bubble.evaluate((el) => {
      const style = getComputedStyle(el);
      return { background: style.backgroundColor, outline: style.outlineStyle };
    });
    assert.equal(bubble.background, 'rgb(31, 92, 61)');
    assert.notEqual(bubble.outline, 'solid');
    await shot(page, 'widget');

    await talk.bubble.click();
    const reply = await talk.say('Do you have sourdough bread?');
    const card = reply.locator('.card').first();
    await card.waitFor();
    const font = await talk.panel.evaluate((el) => getComputedStyle(el).fontFamily);
    assert.doesNotMatch(font, /Georgia/);
    const add = card.getByRole('button', { name: /^Add .* to cart$/ });
    assert.notEqual(await add.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(255, 105, 180)');
    await add.click();
    await card.getByText('Added ✓').waitFor();
    await shot(page, 'widget-chat');

    // The cart is the widget's own session, kept by token on the blog's origin.
    const token = await page.evaluate((shop) => localStorage.getItem(`shopkeep.session@${shop}`), shopOrigin);
    assert.ok(token, 'the widget keeps a session token');
    const cart = await (await fetch(`${shopOrigin}/api/v1/cart`, { headers: { 'x-session-id': token } })).json();
    assert.equal(cart.items.length, 1);
    assert.match(cart.items[0].name, /sourdough/i);

    // The widget's styles do not leak out: the page's own button keeps its look.
    const pageButton = await page.locator('.subscribe').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(pageButton, 'rgb(255, 105, 180)');
    assert.match(await page.locator('h1').evaluate((el) => getComputedStyle(el).fontFamily), /Georgia/);
  });

  await check('a page from an origin that is not allowlisted gets no chat, politely', async () => {
    // Its own context: the refused CORS request is logged by Chromium as a
    // console error, which is what this check expects rather than a fault.
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    try {
      const page = await context.newPage();
      await page.goto(`${origin(stranger)}/`);
      const note = page.locator('[data-shopkeep-widget] .note');
      await note.waitFor();
      assert.match(await note.textContent(), /not available on this page/);
      assert.equal(await page.locator('shopkeep-chat').count(), 0);
      const refused = await page.evaluate(async (shop) => {
        try {
          await fetch(`${shop}/api/v1/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"message":"hi"}' });
          return 'answered';
        } catch {
          return 'blocked';
        }
      }, shopOrigin);
      assert.equal(refused, 'blocked');
    } finally {
      await context.close();
    }
  });
} finally {
  await admin('PATCH', '/api/v1/admin/settings', { widget_allowed_origins: before });
  allowed.close();
  stranger.close();
}
