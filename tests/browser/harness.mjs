// What every browser suite shares: Debian's Chromium (headless, driven by
// playwright-core), `check` to run one named check in a fresh context, and
// helpers for screenshots, the admin API and the chat. See run.mjs for the
// environment it reads.

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const base = process.argv[2];
if (!base) {
  console.error('usage: node run.mjs BASE_URL');
  process.exit(2);
}
export const adminKey = process.env.SHOPKEEP_ADMIN_KEY ?? '';
export const here = dirname(fileURLToPath(import.meta.url));
export const shots = resolve(process.env.SCREENSHOT_DIR ?? join(here, '../../target/screenshots'));
mkdirSync(shots, { recursive: true });

export const XSS_NAME = '<img src=x onerror=alert(1)>';
export const MARKUP_MESSAGE = '<b>bold</b><img src=x onerror=alert(2)> do you have <i>cookies</i>?';
export const TIMEOUT = 20_000;

export const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
});

export const results = [];

/** Runs one check in a fresh browser context (its own cookies and storage). */
export async function check(name, body, { viewport = { width: 1280, height: 860 }, init } = {}) {
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
export function watch(page, trouble) {
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

export function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
}

export async function shot(page, name, options = {}) {
  await page.screenshot({ path: join(shots, `${name}.png`), ...options });
}

/** Calls the API as the admin. */
export async function admin(method, path, body) {
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
export async function searchable(q) {
  for (let i = 0; i < 100; i++) {
    const response = await fetch(new URL(`/api/v1/search?q=${encodeURIComponent(q)}`, base));
    const body = await response.json();
    if (body.hits?.length) return body.hits;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`search never found ${q}`);
}

export const chat = (page) => ({
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
export async function settled(page, url) {
  await page.waitForURL(url);
  await page.locator('main:not([aria-busy])').waitFor();
}

export async function cartCount(page) {
  return Number(await page.locator('[data-cart-count]').first().textContent());
}

/** The dashboard's user and password (set by the test before the suite runs). */
export const adminUser = process.env.SHOPKEEP_ADMIN_USER ?? 'admin';
export const adminPassword = process.env.SHOPKEEP_ADMIN_PASSWORD ?? '';

/** Signs in to the dashboard through its form and waits for the overview. */
export async function signIn(page) {
  await page.goto('/admin/login');
  await page.getByLabel('User name').fill(adminUser);
  await page.getByLabel('Password').fill(adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/admin');
  await page.locator('main:not([aria-busy])').waitFor();
}

