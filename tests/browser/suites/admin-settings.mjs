// Settings as an admin uses them: the shop's name, a colour refused for its
// contrast and a readable one, a logo and the assistant's tone change the
// storefront at once; an edited FAQ answer is what the chat then says; a new
// webhook shows its secret once; a widget origin is added. Everything changed
// is put back at the end, so the suites after this one see the demo shop.

import assert from 'node:assert/strict';
import { admin, adminKey, base, chat, check, shot, signIn } from '../harness.mjs';

const LOGO = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="30" fill="#7a2e0e"/>'
  + '<path d="M16 38c4-12 28-12 32 0z" fill="#ffd166"/></svg>',
);
const BLOG = 'https://flour-and-ember.example';

const section = (page, title) => page.locator('section.card', { has: page.getByRole('heading', { level: 2, name: title, exact: true }) });

/** Waits for the PATCH a Save button sends, and its answer. */
async function saved(page, button) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/admin/settings') && r.request().method() === 'PATCH'),
    button.click(),
  ]);
  return response;
}

async function restore(faq, hooksBefore) {
  await admin('PATCH', '/api/v1/admin/settings', {
    shop_name: 'Corner Larder', brand_primary: '#1f5c3d', brand_accent: '#f2b84b',
    assistant_tone: 'friendly', assistant_instructions: '', widget_allowed_origins: [],
  });
  await fetch(new URL('/api/v1/admin/settings/logo', base), { method: 'DELETE', headers: { authorization: `Bearer ${adminKey}` } });
  if (faq) await admin('PUT', '/api/v1/admin/faq', faq);
  for (const hook of await admin('GET', '/api/v1/admin/webhooks')) {
    if (!hooksBefore.has(hook.id)) await admin('DELETE', `/api/v1/admin/webhooks/${hook.id}`);
  }
}

await check('an admin edits the settings and the storefront and chat follow at once', async (page, context) => {
  const faq = await admin('GET', '/api/v1/admin/faq');
  const hooksBefore = new Set((await admin('GET', '/api/v1/admin/webhooks')).map((h) => h.id));
  try {
    await signIn(page);
    await page.goto('/admin/settings');
    await page.locator('main:not([aria-busy])').waitFor();
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();

    const shopCard = section(page, 'Shop');
    await shopCard.getByLabel('Shop name').fill('Harbour Crumb Bakery');
    assert.equal((await saved(page, shopCard.getByRole('button', { name: 'Save' }))).status(), 200);

    // A colour white text cannot be read on is refused, under its own field.
    const brand = section(page, 'Brand');
    const primary = brand.getByLabel('Primary colour', { exact: true });
    await primary.fill('#ffe066');
    assert.match(await brand.locator('.hint', { hasText: 'Contrast' }).first().textContent(), /too low/);
    assert.equal((await saved(page, brand.getByRole('button', { name: 'Save' }))).status(), 422);
    const error = brand.locator('.field-error:not([hidden])');
    assert.match(await error.textContent(), /contrast .*:1/);
    assert.equal(await primary.getAttribute('aria-invalid'), 'true');
    await primary.fill('#7a2e0e');
    assert.equal(
      await brand.locator('.brand-preview-top').evaluate((el) => getComputedStyle(el).backgroundColor),
      'rgb(122, 46, 14)',
    );
    assert.equal((await saved(page, brand.getByRole('button', { name: 'Save' }))).status(), 200);
    assert.equal(await error.count(), 0);

    await brand.getByLabel('Logo').setInputFiles({ name: 'logo.svg', mimeType: 'image/svg+xml', buffer: LOGO });
    await brand.getByRole('button', { name: 'Upload logo' }).click();
    await brand.getByRole('button', { name: 'Remove logo' }).waitFor();
    assert.match(await brand.locator('.brand-preview-top img').getAttribute('src'), /^\/media\/logo\//);

    const assistant = section(page, 'Assistant');
    await assistant.getByLabel('Tone').selectOption('formal');
    await assistant.getByLabel('Instructions from the shop').fill('Sign off as the Harbour Crumb team.');
    assert.equal((await saved(page, assistant.getByRole('button', { name: 'Save' }))).status(), 200);

    // The FAQ: change the delivery answer.
    const faqCard = section(page, 'FAQ and policies');
    const answer = faqCard.getByLabel('Answer').first();
    await answer.fill('We deliver by cargo bike within the harbour district the same day. Delivery is free on orders over $30.');
    const [faqSaved] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/admin/faq') && r.request().method() === 'PUT'),
      faqCard.getByRole('button', { name: 'Save FAQ' }).click(),
    ]);
    assert.equal(faqSaved.status(), 200);

    // A webhook: its secret is shown once, at creation.
    const hooks = section(page, 'Webhooks');
    await hooks.getByLabel('Endpoint URL').fill('https://hooks.example/harbour-crumb');
    await hooks.getByLabel('stock.low').check();
    await hooks.getByRole('button', { name: 'Add endpoint' }).click();
    const secret = hooks.locator('code.secret');
    assert.match(await secret.textContent(), /^whsec_/);
    await hooks.getByRole('cell', { name: 'https://hooks.example/harbour-crumb', exact: true }).waitFor();
    assert.match(await hooks.getByRole('row', { name: /hooks\.example/ }).first().textContent(), /order\.created, stock\.low/);

    const widget = section(page, 'Chat widget');
    await widget.getByLabel('Allowed origins, one per line').fill(BLOG);
    assert.equal((await saved(page, widget.getByRole('button', { name: 'Save' }))).status(), 200);
    assert.ok((await widget.locator('pre code').textContent()).includes(`${new URL(base).origin}/widget.js`));
    await shot(page, 'admin-settings', { fullPage: true });

    // Reloaded, the saved values come back and the secret is gone for good.
    await page.reload();
    await page.locator('main:not([aria-busy])').waitFor();
    assert.equal(await section(page, 'Shop').getByLabel('Shop name').inputValue(), 'Harbour Crumb Bakery');
    assert.equal(await section(page, 'Assistant').getByLabel('Tone').inputValue(), 'formal');
    assert.equal(await section(page, 'Chat widget').getByLabel('Allowed origins, one per line').inputValue(), BLOG);
    assert.equal(await page.locator('code.secret').count(), 0);

    // The storefront, in a new tab: name, colour and logo from the settings.
    const shop = await context.newPage();
    await shop.goto('/');
    await shop.locator('.brand .shop-name', { hasText: 'Harbour Crumb Bakery' }).waitFor();
    assert.equal(await shop.locator('header.top').evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(122, 46, 14)');
    await shop.waitForFunction(() => document.querySelector('[data-shop-logo]')?.src.includes('/media/logo/'));
    assert.ok(await shop.locator('[data-shop-logo]').evaluate((img) => img.complete && img.naturalWidth > 0), 'the logo loads');

    // The chat answers from the edited FAQ.
    const talk = chat(shop);
    await talk.bubble.click();
    const reply = await talk.say('How much is delivery?');
    assert.match(await reply.textContent(), /cargo bike|over \$30/);
  } finally {
    await restore(faq, hooksBefore);
  }
});
