// The dashboard's AI page as an admin uses it: saving a remote provider with
// a key (shown back only as its last four characters, never in the page or
// its API answers), changing budgets with inline field errors, and running
// the test console on the free tier.

import assert from 'node:assert/strict';
import { admin, check, shot, signIn } from '../harness.mjs';

const FAKE_KEY = 'sk-browser-test-7c1d9e42';

async function openAiPage(page) {
  await page.goto('/admin/ai');
  await page.locator('main:not([aria-busy])').waitFor();
  await page.getByRole('heading', { level: 1, name: 'AI' }).waitFor();
}

await check('an admin saves a remote provider and budgets, the key shows only its last 4, and the test console answers on the free tier', async (page) => {
  const original = await admin('GET', '/api/v1/admin/ai');
  await signIn(page);
  const answers = [];
  page.on('response', async (response) => {
    if (response.url().includes('/api/v1/admin/ai')) answers.push(await response.text().catch(() => ''));
  });
  await openAiPage(page);

  const openai = page.locator('fieldset.provider').first();
  await openai.getByLabel('Use OpenAI-compatible').check();
  await openai.getByLabel('Base URL').fill('http://127.0.0.1:9/v1');
  await openai.getByLabel('API key').fill(FAKE_KEY);

  // A day's budget above the month's is refused next to its field.
  await page.getByLabel('guest daily tokens').fill('5000000');
  await page.getByRole('button', { name: 'Save AI settings' }).click();
  const error = page.locator('#budget-guest-daily-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /day's budget/);
  assert.equal(await page.getByLabel('guest daily tokens').getAttribute('aria-invalid'), 'true');

  await page.getByLabel('guest daily tokens').fill('12345');
  await page.getByLabel('Monthly spend cap on remote APIs').fill('25.00');
  await page.getByRole('button', { name: 'Save AI settings' }).click();
  await openai.locator('.key-saved code').waitFor();

  await page.reload();
  await openAiPage(page);
  const saved = page.locator('fieldset.provider').first();
  assert.equal(await saved.locator('.key-saved code').textContent(), 'sk-…9e42');
  assert.equal(await saved.getByLabel('API key').inputValue(), '', 'the key field comes back empty');
  assert.equal(await page.getByLabel('guest daily tokens').inputValue(), '12345');
  assert.equal(await page.getByLabel('Monthly spend cap on remote APIs').inputValue(), '25.00');
  assert.ok(!(await page.content()).includes(FAKE_KEY), 'the page never holds the full key');
  for (const text of answers) assert.ok(!text.includes(FAKE_KEY), 'no API answer holds the full key');
  const view = await admin('GET', '/api/v1/admin/ai');
  assert.ok(!JSON.stringify(view).includes(FAKE_KEY));
  assert.equal(view.budgets.guest.daily, 12345);
  assert.equal(view.budgets.monthly_spend_cap_micros, 25_000_000);
  assert.equal(view.tier.active, 'enterprise');

  const consoleForm = page.locator('form.console');
  await consoleForm.getByLabel('Message').fill('Do you have any coffee?');
  await consoleForm.getByLabel('Tier').selectOption('free');
  await consoleForm.getByRole('button', { name: 'Run a test turn' }).click();
  await page.locator('.console-reply').waitFor();
  const tier = page.locator('.console-result .stat').filter({ hasText: 'Tier' }).locator('.stat-value');
  assert.equal(await tier.textContent(), 'free');
  assert.ok((await page.locator('.console-reply').textContent()).length > 0);
  await shot(page, 'admin-ai', { fullPage: true });

  // Leave the shop as it was for the suites after this one.
  const reset = { ...original, tier: original.tier.setting, routing: { simple: original.routing.simple, complex: original.routing.complex } };
  const provider = (p) => (p ? { base_url: p.base_url, fast_model: p.fast_model, strong_model: p.strong_model } : null);
  const { spent_this_month_micros: _spent, ...budgets } = original.budgets;
  await admin('PUT', '/api/v1/admin/ai', {
    tier: reset.tier,
    openai: { base_url: 'http://127.0.0.1:9/v1', fast_model: 'm', strong_model: 'm', api_key: null },
    gemini: provider(original.gemini),
    routing: reset.routing,
    budgets,
  });
  await admin('PUT', '/api/v1/admin/ai', { tier: reset.tier, openai: provider(original.openai), gemini: provider(original.gemini), routing: reset.routing, budgets });
});
