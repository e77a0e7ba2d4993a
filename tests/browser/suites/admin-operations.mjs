// The dashboard's daily operations as an owner uses them: signing in (and
// being sent there without a session, and refused with a forged CSRF
// token), the overview's figures, changing an order's status from the Orders
// page, and taking over a flagged conversation while the shopper watches the
// chat; and one page on a phone.

import assert from 'node:assert/strict';
import { admin, base, chat, check, shot, signIn, watch } from '../harness.mjs';

const product = await admin('POST', '/api/v1/products', {
  handle: `dashboard-tea-${Date.now()}`, name: 'Harbour Breakfast Tea 250 g', category: 'Drinks > Tea',
  price: '6.40', stock: 40,
});

/** A card of a dashboard page, by its title's id (`card-<title>`). */
const cardOf = (page, name) => page.locator(`section[aria-labelledby="card-${name}"]`);

/** Places an order as a new guest shopper through the API; returns it. */
async function placeOrder(name, email) {
  const added = await fetch(new URL('/api/v1/cart/items', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ product_id: product.id, quantity: 2 }),
  });
  assert.equal(added.status, 200, await added.clone().text());
  const session = added.headers.get('x-session-id');
  const placed = await fetch(new URL('/api/v1/checkout', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-session-id': session },
    body: JSON.stringify({
      contact: { name, email },
      delivery: { method: 'delivery', address: { line1: '4 Quay Lane', city: 'Bristol', postal_code: 'BS1 4DJ', country: 'GB' } },
      payment_method: 'manual',
    }),
  });
  const order = await placed.json();
  assert.equal(placed.status, 201, JSON.stringify(order));
  return order;
}

const guarded = await placeOrder('Rosa Quint', 'rosa.quint@example.com');
const shipped = await placeOrder('Milo Brandt', 'milo.brandt@example.com');

await check('dashboard pages send a browser without a session to sign in, and forged CSRF tokens are refused', async (page) => {
  for (const path of ['/admin', '/admin/orders', `/admin/orders/${guarded.number}`, '/admin/conversations', '/admin/overview']) {
    await page.goto(path);
    assert.equal(new URL(page.url()).pathname, '/admin/login', `${path} goes to sign in`);
  }
  const anonymous = await page.evaluate(async () => (await fetch('/api/v1/admin/overview')).status);
  assert.equal(anonymous, 401);

  await signIn(page);
  const attempt = (token) => page.evaluate(async ({ number, token }) => {
    const response = await fetch(`/api/v1/admin/orders/${number}/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token },
      body: JSON.stringify({ status: 'paid', note: 'CSRF probe' }),
    });
    return { status: response.status, body: await response.json() };
  }, { number: guarded.number, token });
  const real = await page.locator('main').getAttribute('data-csrf');
  assert.ok(real && real.length >= 32, 'the frame carries a CSRF token');
  const forged = await attempt(`${real.slice(0, -4)}beef`);
  assert.equal(forged.status, 403, JSON.stringify(forged.body));
  assert.equal((await admin('GET', `/api/v1/admin/orders/${guarded.number}`)).status, 'pending', 'nothing changed');
  const missing = await attempt('');
  assert.equal(missing.status, 403);
  const allowed = await attempt(real);
  assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
  assert.equal(allowed.body.status, 'paid');
});

await check('the overview shows today’s real figures with links to their pages', async (page) => {
  await signIn(page);
  const tile = (label) => page.locator('.stat-link', { hasText: label });
  await tile('Sales today').waitFor();
  const today = await admin('GET', '/api/v1/admin/overview');
  assert.ok(today.today.orders >= 2, `orders today: ${today.today.orders}`);
  const orders = await tile('Orders today').locator('.stat-value').textContent();
  assert.equal(Number(orders), today.today.orders);
  const sales = await tile('Sales today').locator('.stat-value').textContent();
  assert.notEqual(sales, '$0.00');
  assert.match(sales, /^\$\d/);
  assert.equal(await tile('Orders today').getAttribute('href'), '/admin/orders');
  assert.equal(await tile('Conversations today').getAttribute('href'), '/admin/conversations');
  assert.match(await tile('AI spend this month').textContent(), /cap/);
  assert.equal(await tile('Tier serving').locator('.stat-value').textContent(), today.serving.tier);
  assert.ok(await cardOf(page, 'alerts').isVisible(), 'the alerts card is there');
  await shot(page, 'admin-overview', { fullPage: true });
});

await check('an order’s status changes from the Orders page, in the list and in its detail', async (page) => {
  await signIn(page);
  await page.goto('/admin/orders');
  const row = (number) => page.locator('tbody tr', { hasText: number });
  await row(shipped.number).waitFor();
  // Finding it by the customer's name.
  await page.getByLabel('Search').fill('milo BRANDT');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/q=milo/);
  await page.waitForFunction(() => document.querySelectorAll('.orders-results tbody tr').length === 1);
  assert.match(await row(shipped.number).textContent(), /Waiting for payment/);
  // Only the moves a pending order allows.
  const buttons = await row(shipped.number).getByRole('button').allTextContents();
  assert.deepEqual(buttons, ['Mark paid', 'Cancel order']);
  await page.getByRole('button', { name: `Mark paid ${shipped.number}` }).click();
  await row(shipped.number).locator('.badge', { hasText: 'Paid' }).waitFor();
  assert.deepEqual(await row(shipped.number).getByRole('button').allTextContents(), ['Mark fulfilled', 'Refund']);
  await page.getByLabel('Search').fill('');
  await page.getByRole('button', { name: 'Apply' }).click();
  await row(guarded.number).waitFor();
  await shot(page, 'admin-orders', { fullPage: true });

  await row(shipped.number).getByRole('link', { name: shipped.number }).click();
  await page.waitForURL(`**/admin/orders/${shipped.number}`);
  await page.getByRole('heading', { level: 1, name: `Order ${shipped.number}` }).waitFor();
  const history = page.locator('.history');
  assert.match(await history.textContent(), /Waiting for payment → Paid/);
  assert.match(await cardOf(page, 'customer').textContent(), /milo\.brandt@example\.com/);
  assert.match(await cardOf(page, 'delivery').textContent(), /4 Quay Lane/);
  assert.match(await cardOf(page, 'items').textContent(), /Harbour Breakfast Tea 250 g/);

  // Someone else fulfilled it meanwhile: the refused move is explained, not lost.
  await admin('POST', `/api/v1/admin/orders/${shipped.number}/status`, { status: 'fulfilled' });
  await page.getByRole('button', { name: `Mark fulfilled ${shipped.number}` }).click();
  await page.locator('.status-form .form-problem').waitFor();
  assert.match(await page.locator('.status-form .form-problem').textContent(), /fulfilled/);
  await page.reload();
  await page.locator('.page-head .badge', { hasText: 'Fulfilled' }).waitFor();
  await page.getByLabel('Note for the history (optional)').fill('Box arrived crushed');
  await page.getByLabel('Put refunded goods back in stock').check();
  await page.getByRole('button', { name: `Refund ${shipped.number}` }).click();
  await page.locator('.page-head .badge', { hasText: 'Refunded' }).waitFor();
  assert.match(await history.textContent(), /Box arrived crushed/);
  assert.match(await cardOf(page, 'status').textContent(), /closed/);
  assert.equal((await admin('GET', `/api/v1/admin/orders/${shipped.number}`)).status, 'refunded');
  await shot(page, 'admin-order-detail', { fullPage: true });
});

await check('an admin takes over a flagged conversation and the shopper sees the person and the reply', async (page, context) => {
  const shopperContext = await context.browser().newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US', baseURL: base });
  const trouble = [];
  shopperContext.on('page', (p) => watch(p, trouble));
  const shopper = await shopperContext.newPage();
  try {
    await signIn(page);
    await page.goto('/admin/conversations');
    await page.locator('.live-status').waitFor();

    await shopper.goto('/');
    const c = chat(shopper);
    await c.bubble.click();
    await c.say('This is useless and I am annoyed. I want to talk to a person');
    const id = await shopper.evaluate(() => localStorage.getItem('shopkeep.chat.conversation'));
    assert.ok(id, 'the shopper has a conversation');

    // The live list shows it, flagged, without a reload.
    const link = page.locator(`a[data-conversation="${id}"]`);
    await link.waitFor();
    const row = page.locator('tbody tr', { has: link });
    await row.locator('.badge', { hasText: 'Wants a person' }).waitFor();
    assert.equal(await link.getAttribute('class'), 'needs-person');
    await shot(page, 'admin-conversations', { fullPage: true });

    await link.click();
    await page.waitForURL(`**/admin/conversations/${id}`);
    await page.locator('.transcript .msg-shopper', { hasText: 'I want to talk to a person' }).waitFor();
    await page.getByLabel('Your name, as the shopper sees it').fill('Ana');
    await page.getByRole('button', { name: 'Take over' }).click();
    await shopper.locator('shopkeep-chat .note', { hasText: 'Ana from the shop joined the chat' }).waitFor();

    const reply = 'Hi, Ana here. Sorry about that <b>really</b> — what can I sort out for you?';
    await page.getByLabel('Reply to the shopper').fill(reply);
    await page.getByRole('button', { name: 'Send reply' }).click();
    await page.locator('.transcript .msg-admin', { hasText: 'Ana here' }).waitFor();
    const received = shopper.locator('shopkeep-chat .msg.admin').last();
    await received.waitFor();
    assert.equal(await received.locator('.text').textContent(), reply);

    // The shopper answers; it arrives in the open transcript by itself.
    await c.input.fill('My parcel SK-0000 never came');
    await c.input.press('Enter');
    await page.locator('.transcript .msg-shopper', { hasText: 'My parcel SK-0000 never came' }).waitFor();
    const assistantReplies = await page.locator('.transcript .msg-assistant').allTextContents();
    assert.ok(!assistantReplies.some((t) => /parcel/i.test(t)), 'the assistant stays silent while a person answers');
    await shot(page, 'admin-conversation', { fullPage: true });
    await shot(shopper, 'chat-human-joined');

    await page.getByRole('button', { name: 'Hand back to the assistant' }).click();
    await page.getByRole('button', { name: 'Take over' }).waitFor();
    await shopper.locator('shopkeep-chat .note', { hasText: 'The assistant is back' }).waitFor();
    const after = await admin('GET', `/api/v1/admin/conversations/${id}`);
    assert.equal(after.conversation.taken_over_by, null);
    assert.equal(after.conversation.flag, null, 'handing back clears the flag');
    assert.deepEqual(trouble, [], 'the shopper’s page raised no errors');
  } finally {
    await shopperContext.close();
  }
});

await check('a dashboard page fits a phone without sideways scrolling', async (page) => {
  await signIn(page);
  await page.goto('/admin/orders');
  await page.locator('.orders-results tbody tr').first().waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling (${width}px)`);
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('link', { name: 'Conversations' }).waitFor();
  await page.getByRole('button', { name: 'Menu' }).click();
  await shot(page, 'admin-phone', { fullPage: true });
}, { viewport: { width: 390, height: 844 } });
