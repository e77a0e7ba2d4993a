// Sales: revenue and orders per day, the top products and categories,
// totals and average order value over a date range, and CSV downloads of the
// days and of the top products. Everything comes from GET /api/v1/admin/analytics.

import { h, replace, money } from '/static/shop/dom.js';
import { heading, card, stat, dataTable, notice, linkButton } from '../ui.js';
import { lineChart, barChart } from '../chart.js';
import { rangeFromAddress, rangeControls, keepInAddress } from '../date-range.js';

const count = (n) => n.toLocaleString();
const REPORT = '/api/v1/admin/analytics';

export async function render(main, dashboard) {
  const state = { range: rangeFromAddress(), shown: 0 };
  const days = linkButton('Download CSV', '#', { download: '', 'data-download': 'days' });
  const products = linkButton('Top products CSV', '#', { download: '', 'data-download': 'products' });
  const report = h('div', { class: 'report' });
  replace(main,
    heading('Sales', days, products),
    h('div', { class: 'report-controls' }, rangeControls(state.range, (range) => { state.range = range; show(); })),
    report);

  async function show() {
    const { from, to } = state.range;
    const shown = ++state.shown;
    keepInAddress(state.range);
    days.href = `${REPORT}${dashboard.query({ from, to, format: 'csv' })}`;
    products.href = `${REPORT}${dashboard.query({ from, to, format: 'csv', table: 'products' })}`;
    report.setAttribute('aria-busy', 'true');
    try {
      const sales = await dashboard.request(`${REPORT}${dashboard.query({ from, to })}`);
      // A later choice may have answered first; only the latest is drawn.
      if (shown === state.shown) replace(report, ...draw(sales));
    } catch (error) {
      if (shown === state.shown) replace(report, notice(`The report could not be loaded: ${error.message}`, 'error'));
    } finally {
      if (shown === state.shown) report.removeAttribute('aria-busy');
    }
  }
  await show();
}

function draw(sales) {
  const totals = sales.totals;
  const lost = [totals.cancelled && `${count(totals.cancelled)} cancelled`, totals.refunded && `${count(totals.refunded)} refunded`].filter(Boolean);
  return [
    h('div', { class: 'stats', 'data-totals': '' },
      stat('Revenue', money(totals.revenue_minor), `${sales.from} to ${sales.to}`),
      stat('Orders', count(totals.orders), lost.join(', ') || 'none cancelled'),
      stat('Average order value', money(totals.average_order_value_minor)),
      stat('Units sold', count(totals.units), `discounts ${money(totals.discount_minor)}`)),
    h('div', { class: 'chart-grid' },
      card('Revenue per day', lineChart({
        title: 'Revenue per day',
        points: sales.days,
        x: (d) => d.day,
        format: money,
        axisFormat: money,
        series: [{ name: 'Revenue', value: (d) => d.revenue_minor }],
      })),
      card('Orders per day', lineChart({
        title: 'Orders per day',
        points: sales.days,
        x: (d) => d.day,
        format: count,
        area: false,
        series: [{ name: 'Orders', value: (d) => d.orders, colour: '#2e7d32' }],
      }))),
    card('Top products', sales.top_products.length
      ? barChart({
        title: 'Top products by revenue',
        valueName: 'Revenue',
        bars: sales.top_products.map((p) => ({ label: p.name, value: p.revenue_minor })),
        format: money,
        axisFormat: money,
      })
      : h('p', { class: 'empty' }, 'No sales in this range.'),
    dataTable({
      caption: 'Units and revenue per product',
      empty: '',
      rows: sales.top_products,
      columns: [
        { label: 'Product', cell: (p) => p.name },
        { label: 'Units', cell: (p) => count(p.units), numeric: true },
        { label: 'Revenue', cell: (p) => money(p.revenue_minor), numeric: true },
      ],
    })),
    card('Top categories', dataTable({
      caption: 'Units and revenue per category',
      empty: 'No sales in this range.',
      rows: sales.top_categories,
      columns: [
        { label: 'Category', cell: (c) => c.category },
        { label: 'Units', cell: (c) => count(c.units), numeric: true },
        { label: 'Revenue', cell: (c) => money(c.revenue_minor), numeric: true },
      ],
    })),
  ];
}
