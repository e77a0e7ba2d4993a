// "My orders": the session's orders, one order with its lines and status
// history, the confirmation right after checkout, and cancelling a pending one.

import { shopApi } from './api.js';
import { totalsList } from './cart.js';
import { h, money, replace, toast, when } from './dom.js';
import { shopInfo } from './shop.js';

const STATUS_TEXT = {
  pending: 'Waiting for payment',
  paid: 'Paid',
  fulfilled: 'Fulfilled',
  cancelled: 'Cancelled',
  refunded: 'Refunded',
};

function statusBadge(status) {
  return h('span', { class: `status status-${status}` }, STATUS_TEXT[status] ?? status);
}

export async function ordersView(main, _groups, signal) {
  const [shop, { orders }] = await Promise.all([shopInfo(), shopApi.orders(signal)]);
  document.title = `My orders · ${shop.name}`;
  if (orders.length === 0) {
    replace(main, h('h1', {}, 'My orders'),
      h('div', { class: 'empty' }, h('p', {}, 'No orders yet.'), h('a', { class: 'button', href: '/' }, 'Start shopping')));
    return;
  }
  replace(main,
    h('h1', {}, 'My orders'),
    h('table', { class: 'orders' },
      h('caption', { class: 'sr-only' }, 'Your orders, newest first'),
      h('thead', {}, h('tr', {}, ['Order', 'Placed', 'Items', 'Status', 'Total'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, orders.map((order) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: `/orders/${encodeURIComponent(order.number)}` }, order.number)),
        h('td', { 'data-label': 'Placed' }, when(order.created_at)),
        h('td', { 'data-label': 'Items' }, String(order.lines.reduce((n, line) => n + line.quantity, 0))),
        h('td', { 'data-label': 'Status' }, statusBadge(order.status)),
        h('td', { 'data-label': 'Total', class: 'num' }, money(order.total_minor)))))));
}

export async function orderView(main, [number], signal) {
  const [shop, order] = await Promise.all([shopInfo(), shopApi.order(number, signal)]);
  document.title = `Order ${order.number} · ${shop.name}`;
  const placed = new URLSearchParams(location.search).has('placed');
  replace(main,
    placed && h('div', { class: 'thanks', role: 'status' },
      h('h2', {}, 'Thank you — your order is placed'),
      h('p', {}, `Keep the number ${order.number} to ask about it, here or in the chat. The shop confirms payment and ${order.delivery?.method === 'pickup' ? 'pick-up' : 'delivery'} with you.`)),
    h('p', { class: 'crumbs' }, h('a', { href: '/orders' }, '← My orders')),
    h('div', { class: 'order-head' }, h('h1', {}, `Order ${order.number}`), statusBadge(order.status)),
    h('p', { class: 'muted' }, `Placed ${when(order.created_at)}`),
    h('div', { class: 'order' },
      h('section', { 'aria-labelledby': 'items-title' },
        h('h2', { id: 'items-title' }, 'Items'),
        h('ul', { class: 'lines' }, order.lines.map((line) => h('li', { class: 'line' },
          h('div', { class: 'line-main' }, line.name, line.variant_title && h('span', { class: 'muted' }, ` · ${line.variant_title}`)),
          h('span', { class: 'qty' }, `× ${line.quantity}`),
          h('strong', { class: 'line-total' }, money(line.line_total_minor))))),
        totalsList(order)),
      h('section', { 'aria-labelledby': 'details-title' },
        h('h2', { id: 'details-title' }, 'Details'),
        deliveryDetails(order),
        history(order),
        cancelButton(order, main, signal))));
}

function deliveryDetails(order) {
  const address = order.delivery?.address;
  const lines = address ? [address.line1, address.line2, [address.postal_code, address.city].filter(Boolean).join(' '), address.region, address.country].filter(Boolean) : [];
  return h('dl', { class: 'details' },
    h('dt', {}, 'Name'), h('dd', {}, order.contact?.name ?? ''),
    h('dt', {}, 'Email'), h('dd', {}, order.contact?.email ?? ''),
    h('dt', {}, 'Delivery'), h('dd', {}, order.delivery?.method === 'pickup' || !address ? 'Pick up at the shop' : lines.join(', ')),
    h('dt', {}, 'Payment'), h('dd', {}, order.payment_method === 'manual' ? 'On delivery or pick-up' : order.payment_method));
}

function history(order) {
  return h('ol', { class: 'timeline', 'aria-label': 'Status history' }, order.history.map((event) =>
    h('li', {}, statusBadge(event.to), ' ', h('span', { class: 'muted small' }, when(event.at)),
      event.note && h('p', { class: 'small' }, event.note))));
}

function cancelButton(order, main, signal) {
  if (order.status !== 'pending') return null;
  const button = h('button', { type: 'button', class: 'button danger' }, 'Cancel this order');
  button.addEventListener('click', async () => {
    if (!confirm(`Cancel order ${order.number}?`)) return;
    button.disabled = true;
    try {
      await shopApi.cancelOrder(order.number);
      toast(`Order ${order.number} is cancelled`);
      await orderView(main, [order.number], signal);
    } catch (error) {
      toast(error.message);
      button.disabled = false;
    }
  });
  return button;
}
