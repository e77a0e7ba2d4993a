// The Overview page: today's sales and conversations, this month's AI spend
// against the cap, the tier and models serving, and what needs attention
// (spend alerts, components not ready, conversations waiting, low stock).
// Each figure links to the page behind it.

import { h, replace, money, toMinor, when } from '/static/shop/dom.js';
import { heading, card, stat, badge, notice, dataTable } from '../ui.js';

/** How often the figures refresh while the page is open. */
const REFRESH_MS = 30_000;

const COMPONENTS = { database: 'Database', search_index: 'Search index', model: 'Language model', tier: 'Tier' };

export async function render(main, dashboard) {
  const body = h('div', { class: 'overview' });
  replace(main, heading('Overview'), body);
  const draw = async () => {
    const [figures, readiness] = await Promise.all([dashboard.request('/api/v1/admin/overview'), readyz()]);
    replace(body, tiles(figures), alerts(figures, readiness), serving(figures.serving));
  };
  await draw();
  const timer = setInterval(() => {
    if (!document.hidden) draw().catch(() => {});
  }, REFRESH_MS);
  window.addEventListener('pagehide', () => clearInterval(timer), { once: true });
}

/** /readyz answers 503 with the same report when the shop is not ready. */
async function readyz() {
  try {
    const response = await fetch('/readyz', { headers: { accept: 'application/json' } });
    return await response.json();
  } catch {
    return null;
  }
}

/** A figure that leads to the page with its details. */
function tile(href, label, value, detail) {
  const figure = stat(label, value, detail);
  return h('a', { class: 'stat-link', href, 'aria-label': `${label}: ${value}${detail ? `, ${detail}` : ''}` }, figure);
}

function tiles({ today, conversations, ai, serving: tier, low_stock: low }) {
  const spend = ai.remote_spend;
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  return h('div', { class: 'stats' },
    tile('/admin/sales', 'Sales today', money(today.revenue_minor), plural(today.orders, 'order', 'orders')),
    tile('/admin/orders', 'Orders today', String(today.orders), `${plural(today.units, 'item', 'items')} sold`),
    tile('/admin/conversations', 'Conversations today', String(conversations.started_today),
      `${conversations.flagged_today} flagged · ${conversations.waiting} waiting`),
    tile('/admin/usage', 'AI spend this month', money(toMinor(spend.spent)), spendDetail(spend, ai.usage)),
    tile('/admin/ai', 'Tier serving', tier.tier, tier.models.length ? tier.models[0].model : 'rules and templates, no model'),
    tile('/admin/products', 'Low stock', String(low.total), `at or under ${low.threshold} in stock`));
}

function spendDetail(spend, usage) {
  if (spend.cap_micros === 0) return `no remote spending allowed · ${usage.calls} model calls`;
  const share = Math.round((spend.spent_micros / spend.cap_micros) * 100);
  return `${share}% of the ${money(toMinor(spend.cap))} cap · ${usage.calls} model calls`;
}

/** Everything that needs the owner's attention, most urgent first. */
function alerts(figures, readiness) {
  const items = [];
  for (const alert of figures.ai.alerts.filter((a) => a.scope === 'spend_cap')) {
    items.push(h('li', { class: 'alert alert-bad' }, badge(`${alert.threshold}%`, alert.threshold >= 100 ? 'bad' : 'warn'), ' ',
      `Remote AI spend reached ${alert.threshold}% of the monthly cap (${alert.period}), ${when(alert.at)}. `,
      h('a', { href: '/admin/usage' }, 'See usage')));
  }
  if (!readiness) {
    items.push(h('li', { class: 'alert' }, badge('unknown', 'warn'), ' The readiness check did not answer.'));
  } else {
    for (const [key, label] of Object.entries(COMPONENTS)) {
      const check = readiness[key];
      if (!check || check.status === 'ok') continue;
      items.push(h('li', { class: 'alert' }, badge(check.status, check.status === 'down' ? 'bad' : 'warn'), ' ',
        h('strong', {}, `${label}: `), check.reason, ' ', h('a', { href: '/admin/system' }, 'System')));
    }
  }
  const waiting = figures.conversations.waiting;
  if (waiting) {
    items.push(h('li', { class: 'alert' }, badge('flagged', 'bad'), ' ',
      `${waiting} ${waiting === 1 ? 'conversation waits' : 'conversations wait'} for a person. `,
      h('a', { href: '/admin/conversations' }, 'Open conversations')));
  }
  const low = figures.low_stock;
  if (low.total) {
    items.push(h('li', { class: 'alert' }, badge('stock', 'warn'), ' ',
      `${low.total} ${low.total === 1 ? 'product is' : 'products are'} at or under ${low.threshold} in stock. `,
      h('a', { href: '/admin/products' }, 'See products')));
  }
  return card('Alerts', items.length ? h('ul', { class: 'alerts' }, items) : notice('Nothing needs your attention.'));
}

function serving(tier) {
  const state = tier.degraded ? badge('degraded', 'warn') : badge('as configured', 'ok');
  return card('Tier and models',
    h('p', { class: 'serving' }, 'Serving on the ', h('strong', {}, tier.tier), ' tier ', state,
      ` (configured: ${tier.configured}).`),
    h('p', { class: 'hint' }, tier.reason),
    dataTable({
      caption: 'Models the assistant uses',
      columns: [
        { label: 'Backend', cell: (m) => m.backend },
        { label: 'Model', cell: (m) => m.model },
        { label: 'Runs on / role', cell: (m) => m.role },
      ],
      rows: tier.models,
      empty: 'No language model: intent rules and templates answer every shopping task.',
    }));
}
