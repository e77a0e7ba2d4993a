// The Orders page: the list with its filters (status, text, dates) and
// pages, and one order at /admin/orders/<number> with its lines, totals,
// customer, delivery and history. Status changes offer only the moves the
// order's lifecycle allows (the API's `next_statuses`).

import { h, replace, money, when, toast } from '/static/shop/dom.js';
import { heading, card, dataTable, field, showProblem, clearProblem, badge, whileBusy, linkButton } from '../ui.js';

const PAGE_SIZE = 20;

const STATUS = {
  pending: { label: 'Waiting for payment', kind: 'warn' },
  paid: { label: 'Paid', kind: 'info' },
  fulfilled: { label: 'Fulfilled', kind: 'ok' },
  cancelled: { label: 'Cancelled', kind: 'bad' },
  refunded: { label: 'Refunded', kind: 'bad' },
};

/** What the button moving an order to a status says. */
const MOVE = { paid: 'Mark paid', fulfilled: 'Mark fulfilled', cancelled: 'Cancel order', refunded: 'Refund', pending: 'Mark pending' };

const statusBadge = (status) => badge(STATUS[status]?.label ?? status, STATUS[status]?.kind ?? 'info');

const orderPath = (number) => `/api/v1/admin/orders/${encodeURIComponent(number)}`;

const changeStatus = (dashboard, number, body) =>
  dashboard.request(`${orderPath(number)}/status`, { method: 'POST', body });

export async function render(main, dashboard) {
  const number = dashboard.subpath();
  if (number) await renderOrder(main, dashboard, number);
  else await renderList(main, dashboard);
}

// --- the list -------------------------------------------------------------

async function renderList(main, dashboard) {
  const params = new URLSearchParams(window.location.search);
  const filters = { q: params.get('q') ?? '', status: params.get('status') ?? '', from: params.get('from') ?? '', to: params.get('to') ?? '' };
  // The `before` of each page shown so far, so "Newer" can go back.
  const pages = [null];
  const results = h('div', { class: 'orders-results', 'aria-live': 'polite' });
  const form = filterForm(filters, () => {
    pages.length = 1;
    show();
  });
  replace(main, heading('Orders'), card('Find orders', form), results);

  async function show() {
    const before = pages[pages.length - 1];
    const wanted = { ...filters, before, limit: PAGE_SIZE };
    window.history.replaceState(null, '', `/admin/orders${dashboard.query(filters)}`);
    clearProblem(form);
    let page;
    try {
      page = await dashboard.request(`/api/v1/admin/orders${dashboard.query(wanted)}`);
    } catch (error) {
      showProblem(form, error);
      return;
    }
    const pager = h('div', { class: 'actions pager' },
      h('button', { type: 'button', class: 'secondary', disabled: pages.length === 1, onclick: () => { pages.pop(); show(); } }, '← Newer'),
      h('span', { class: 'hint' }, `Page ${pages.length}`),
      h('button', { type: 'button', class: 'secondary', disabled: !page.next_before, onclick: () => { pages.push(page.next_before); show(); } }, 'Older →'));
    replace(results, card('Orders', orderTable(page.orders, dashboard, results, show), pager));
  }
  await show();
}

function filterForm(filters, apply) {
  const search = h('input', { type: 'search', name: 'q', value: filters.q, maxlength: '200', autocomplete: 'off' });
  const status = h('select', { name: 'status' },
    h('option', { value: '' }, 'Any status'),
    Object.entries(STATUS).map(([value, { label }]) => h('option', { value, selected: value === filters.status }, label)));
  const from = h('input', { type: 'date', name: 'from', value: filters.from });
  const to = h('input', { type: 'date', name: 'to', value: filters.to });
  const form = h('form', { class: 'filters', role: 'search' },
    field('Search', search, 'Order number, customer email or name'),
    field('Status', status),
    field('From', from),
    field('To', to),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    Object.assign(filters, { q: search.value.trim(), status: status.value, from: from.value, to: to.value });
    apply();
  });
  status.addEventListener('change', () => form.requestSubmit());
  return form;
}

function customerName(order) {
  return order.contact?.name || order.contact?.email || 'Guest';
}

function orderTable(orders, dashboard, results, reload) {
  return dataTable({
    caption: 'Newest first',
    empty: 'No orders match.',
    rows: orders,
    columns: [
      { label: 'Order', cell: (o) => h('a', { href: `/admin/orders/${encodeURIComponent(o.number)}` }, o.number) },
      { label: 'Placed', cell: (o) => when(o.created_at) },
      { label: 'Customer', cell: (o) => h('span', { class: 'who-cell' }, customerName(o), h('small', {}, o.contact?.email ?? '')) },
      { label: 'Items', numeric: true, cell: (o) => String(o.lines.reduce((n, l) => n + l.quantity, 0)) },
      { label: 'Total', numeric: true, cell: (o) => money(o.total_minor) },
      { label: 'Status', cell: (o) => statusBadge(o.status) },
      { label: 'Change status', cell: (o) => moveButtons(o, async (to) => {
        await changeStatus(dashboard, o.number, { status: to });
        toast(`${o.number}: ${STATUS[to].label}`);
        await reload();
      }, (error) => showProblem(results, error)) },
    ],
  });
}

/** One button per status the order may move to; `move(to)` does it. */
function moveButtons(order, move, failed) {
  if (!order.next_statuses.length) return h('span', { class: 'hint' }, 'Final');
  return h('div', { class: 'actions' }, order.next_statuses.map((to) => {
    const button = h('button', {
      type: 'button',
      class: `small ${to === 'cancelled' || to === 'refunded' ? 'danger' : 'secondary'}`,
      'aria-label': `${MOVE[to] ?? to} ${order.number}`,
    }, MOVE[to] ?? to);
    button.addEventListener('click', () => whileBusy(button, () => move(to).catch(failed)));
    return button;
  }));
}

// --- one order ------------------------------------------------------------

async function renderOrder(main, dashboard, number) {
  let order;
  try {
    order = await dashboard.request(orderPath(number));
  } catch (error) {
    if (error.status !== 404) throw error;
    replace(main, heading(`Order ${number}`, linkButton('← All orders', '/admin/orders')),
      h('p', { class: 'notice notice-error', role: 'alert' }, error.message));
    return;
  }
  const draw = (current) => {
    document.title = `Order ${current.number} · ${document.title.split(' · ').slice(1).join(' · ')}`;
    replace(main,
      heading(`Order ${current.number}`, statusBadge(current.status), linkButton('← All orders', '/admin/orders')),
      h('div', { class: 'order-grid' },
        h('div', {}, linesCard(current), historyCard(current)),
        h('div', {}, statusCard(current, dashboard, draw), customerCard(current), deliveryCard(current))));
  };
  draw(order);
}

function linesCard(order) {
  const totals = [
    ['Subtotal', order.subtotal_minor],
    order.discount_minor ? [`Discount${order.voucher_code ? ` (${order.voucher_code})` : ''}`, -order.discount_minor] : null,
    [order.tax_inclusive ? 'Tax (included)' : 'Tax', order.tax_minor],
  ].filter(Boolean);
  return card('Items',
    dataTable({
      caption: `${order.lines.length} ${order.lines.length === 1 ? 'line' : 'lines'}`,
      rows: order.lines,
      columns: [
        { label: 'Product', cell: (l) => h('span', {}, l.name, l.variant_title ? h('small', {}, ` · ${l.variant_title}`) : null) },
        { label: 'SKU', cell: (l) => l.sku ?? '—' },
        { label: 'Qty', numeric: true, cell: (l) => String(l.quantity) },
        { label: 'Price', numeric: true, cell: (l) => money(l.unit_price_minor) },
        { label: 'Total', numeric: true, cell: (l) => money(l.line_total_minor) },
      ],
    }),
    h('dl', { class: 'totals' },
      totals.map(([label, minor]) => [h('dt', {}, label), h('dd', {}, money(minor))]),
      h('dt', { class: 'grand' }, 'Total'), h('dd', { class: 'grand' }, money(order.total_minor))));
}

function historyCard(order) {
  return card('History', h('ol', { class: 'history' }, order.history.map((e) =>
    h('li', {},
      h('span', {}, e.from ? `${STATUS[e.from]?.label ?? e.from} → ` : 'Placed as ', h('strong', {}, STATUS[e.to]?.label ?? e.to)),
      h('small', {}, ` ${when(e.at)} · by ${e.actor}`),
      e.note ? h('p', { class: 'hint' }, e.note) : null))));
}

function statusCard(order, dashboard, redraw) {
  if (!order.next_statuses.length) {
    return card('Status', h('p', {}, statusBadge(order.status), ' This order is closed: its status cannot change any more.'));
  }
  const note = h('textarea', { name: 'note', maxlength: '1000', rows: 2 });
  const restock = h('input', { type: 'checkbox', name: 'restock' });
  const form = h('form', { class: 'status-form' },
    field('Note for the history (optional)', note),
    order.next_statuses.includes('refunded')
      ? h('label', { class: 'check' }, restock, ' Put refunded goods back in stock') : null,
    moveButtons(order, async (to) => {
      clearProblem(form);
      const changed = await changeStatus(dashboard, order.number, { status: to, note: note.value.trim() || undefined, restock: restock.checked });
      toast(`${order.number}: ${STATUS[to].label}`);
      redraw(changed);
    }, (error) => showProblem(form, error)));
  form.addEventListener('submit', (event) => event.preventDefault());
  return card('Status', h('p', {}, 'Now: ', statusBadge(order.status)), form);
}

function customerCard(order) {
  const c = order.contact ?? {};
  return card('Customer', h('dl', { class: 'facts' },
    h('dt', {}, 'Name'), h('dd', {}, c.name ?? '—'),
    h('dt', {}, 'Email'), h('dd', {}, c.email ? h('a', { href: `mailto:${c.email}` }, c.email) : '—'),
    h('dt', {}, 'Phone'), h('dd', {}, c.phone ?? '—'),
    h('dt', {}, 'Account'), h('dd', {}, order.customer_id ? `customer #${order.customer_id}` : 'guest'),
    h('dt', {}, 'Payment'), h('dd', {}, order.payment_method, order.payment_reference ? ` · ${order.payment_reference}` : '')));
}

function deliveryCard(order) {
  const d = order.delivery ?? {};
  const a = d.address;
  const address = a
    ? [a.line1, a.line2, [a.postal_code, a.city].filter(Boolean).join(' '), a.region, a.country].filter(Boolean)
    : [];
  return card('Delivery',
    h('p', {}, d.method === 'pickup' ? 'Picked up at the shop' : 'Delivered to:'),
    address.length ? h('address', {}, address.map((line) => h('span', { class: 'line' }, line))) : null,
    d.note ? h('p', { class: 'hint' }, `Note: ${d.note}`) : null);
}
