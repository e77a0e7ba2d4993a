// Usage and cost: model calls, tokens and cost over a date range, as charts
// over days and a table per group (day, model, tier, shopper class), this
// month's remote spend against the cap, the spend alerts, and the CSV of
// what is shown. Everything comes from GET /api/v1/admin/usage[/alerts].

import { h, replace, when } from '/static/shop/dom.js';
import { heading, card, stat, dataTable, notice, badge, field, linkButton } from '../ui.js';
import { lineChart } from '../chart.js';
import { rangeFromAddress, rangeControls, keepInAddress } from '../date-range.js';

const GROUPS = [['day', 'Day'], ['model', 'Model'], ['tier', 'Tier'], ['class', 'Shopper class']];

const count = (n) => n.toLocaleString();

/** Micro-units of `currency` as money, with room for fractions of a cent. */
function costFormat(currency) {
  const format = new Intl.NumberFormat(undefined, { style: 'currency', currency, minimumFractionDigits: 2, maximumFractionDigits: 4 });
  return (micros) => format.format(micros / 1e6);
}

export async function render(main, dashboard) {
  const wanted = new URLSearchParams(window.location.search).get('group_by');
  const state = { range: rangeFromAddress(), group: GROUPS.some(([key]) => key === wanted) ? wanted : 'day', shown: 0 };
  const download = linkButton('Download CSV', '#', { download: '', 'data-download': 'usage' });
  const group = h('select', { name: 'group_by' }, GROUPS.map(([key, label]) => h('option', { value: key, selected: key === state.group }, label)));
  const report = h('div', { class: 'report' });
  replace(main,
    heading('Usage and cost', download),
    h('div', { class: 'report-controls' },
      rangeControls(state.range, (range) => { state.range = range; show(); }),
      h('form', { class: 'range', 'aria-label': 'Grouping', onsubmit: (e) => e.preventDefault() }, field('Group by', group))),
    report);
  group.addEventListener('change', () => { state.group = group.value; show(); });

  async function show() {
    const { from, to } = state.range;
    const shown = ++state.shown;
    keepInAddress(state.range, { group_by: state.group });
    download.href = `/api/v1/admin/usage${dashboard.query({ from, to, group_by: state.group, format: 'csv' })}`;
    report.setAttribute('aria-busy', 'true');
    try {
      const byDay = dashboard.request(`/api/v1/admin/usage${dashboard.query({ from, to })}`);
      const grouped = state.group === 'day' ? byDay : dashboard.request(`/api/v1/admin/usage${dashboard.query({ from, to, group_by: state.group })}`);
      const answers = await Promise.all([byDay, grouped, dashboard.request('/api/v1/admin/usage/alerts')]);
      // A later choice may have answered first; only the latest is drawn.
      if (shown === state.shown) replace(report, ...draw(...answers));
    } catch (error) {
      if (shown === state.shown) replace(report, notice(`The report could not be loaded: ${error.message}`, 'error'));
    } finally {
      if (shown === state.shown) report.removeAttribute('aria-busy');
    }
  }
  await show();
}

function draw(byDay, grouped, alerts) {
  const cost = costFormat(byDay.currency);
  const totals = byDay.totals;
  const cachedShare = totals.input_tokens ? Math.round((totals.cached_tokens / totals.input_tokens) * 100) : 0;
  const groupLabel = GROUPS.find(([key]) => key === grouped.group_by)?.[1] ?? grouped.group_by;
  return [
    h('div', { class: 'stats', 'data-totals': '' },
      stat('Model calls', count(totals.calls), `${count(totals.failed)} failed`),
      stat('Input tokens', count(totals.input_tokens)),
      stat('Output tokens', count(totals.output_tokens)),
      stat('Cached tokens', count(totals.cached_tokens), `${cachedShare}% of input`),
      stat('Cost', cost(totals.cost_micros), `${byDay.from} to ${byDay.to}`)),
    spendCard(alerts.spend, cost),
    h('div', { class: 'chart-grid' },
      card('Tokens per day', lineChart({
        title: 'Tokens per day',
        points: byDay.groups,
        x: (g) => g.key,
        format: count,
        area: false,
        series: [
          { name: 'Input', value: (g) => g.input_tokens },
          { name: 'Output', value: (g) => g.output_tokens },
          { name: 'Cached', value: (g) => g.cached_tokens },
        ],
      })),
      card('Cost per day', lineChart({
        title: 'Cost per day',
        points: byDay.groups,
        x: (g) => g.key,
        format: cost,
        axisFormat: cost,
        series: [{ name: 'Cost', value: (g) => g.cost_micros }],
      }))),
    card(`By ${groupLabel.toLowerCase()}`, dataTable({
      caption: `Usage by ${groupLabel.toLowerCase()}, ${grouped.from} to ${grouped.to}`,
      empty: 'No model calls in this range.',
      rows: grouped.groups,
      columns: [
        { label: groupLabel, cell: (g) => g.key },
        { label: 'Calls', cell: (g) => count(g.calls), numeric: true },
        { label: 'Failed', cell: (g) => count(g.failed), numeric: true },
        { label: 'Input tokens', cell: (g) => count(g.input_tokens), numeric: true },
        { label: 'Output tokens', cell: (g) => count(g.output_tokens), numeric: true },
        { label: 'Cached tokens', cell: (g) => count(g.cached_tokens), numeric: true },
        { label: 'Cost', cell: (g) => cost(g.cost_micros), numeric: true },
      ],
    })),
    alertsCard(alerts, cost),
  ];
}

function spendCard(spend, cost) {
  if (!spend.cap_micros) {
    return card('Remote spend this month', h('p', {}, `Remote model APIs are off: the monthly cap is ${cost(0)}. Spent ${cost(spend.spent_micros)}.`));
  }
  const percent = Math.round((spend.spent_micros / spend.cap_micros) * 100);
  const meter = h('meter', {
    min: 0, max: spend.cap_micros, value: Math.min(spend.spent_micros, spend.cap_micros),
    low: spend.cap_micros * 0.8, high: spend.cap_micros * 0.999, optimum: 0, 'aria-label': 'Remote spend against the monthly cap',
  });
  return card('Remote spend this month',
    h('p', { class: 'spend-figure' }, h('strong', {}, cost(spend.spent_micros)), ` of ${cost(spend.cap_micros)} cap (${percent}%) in ${spend.month}`),
    meter,
    percent >= 100 ? notice('The cap is reached: turns use local models only until next month.', 'error') : null);
}

function alertText(alert, cost) {
  if (alert.scope === 'spend_cap') {
    return `Remote spend reached ${alert.threshold}% of the monthly cap: ${cost(alert.used)} of ${cost(alert.limit)}.`;
  }
  return `${alert.scope} used its token budget for ${alert.period}: ${count(alert.used)} of ${count(alert.limit)} tokens.`;
}

function alertsCard(alerts, cost) {
  const open = alerts.open.length
    ? h('ul', { class: 'alerts' }, alerts.open.map((a) => h('li', {}, badge(`${a.threshold}%`, a.threshold >= 100 ? 'bad' : 'warn'), ' ', alertText(a, cost))))
    : h('p', {}, badge('No alerts', 'ok'), ' Nothing this month.');
  return card('Alerts', open, dataTable({
    caption: 'Latest alerts',
    empty: 'No alerts yet.',
    rows: alerts.recent,
    columns: [
      { label: 'When', cell: (a) => when(a.at) },
      { label: 'Period', cell: (a) => a.period },
      { label: 'Alert', cell: (a) => alertText(a, cost) },
    ],
  }));
}
