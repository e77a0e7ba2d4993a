// Small SVG charts for the dashboard, drawn with DOM APIs (no library): a
// line / area chart over days and a horizontal bar chart for top-N lists.
// Each chart is a <figure>: the SVG (role="img", its aria-label sums the data
// up), a legend, and the figures as a table behind a toggle, the text
// alternative. Labels from the catalog go in as text nodes only. The maths
// (ticks, scales) is exported on its own so it can be tested.

import { h } from '/static/shop/dom.js';

const SVG = 'http://www.w3.org/2000/svg';
/** Series colours, each at least 3:1 against the white card. */
export const COLOURS = ['#1f5fbf', '#b34700', '#2e7d32', '#7b1fa2'];

/**
 * A "nice" step (1, 2, 2.5 or 5 times a power of ten) that cuts `span` into
 * about `count` parts; at least 1 when `integer` (tokens, orders, minor units).
 */
export function niceStep(span, count = 5, integer = false) {
  const raw = span / Math.max(1, count);
  if (!(raw > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  // 2.5 of a unit is no step for whole numbers: 1, 2, 5 there.
  const multiples = integer && magnitude < 10 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  const step = multiples.find((m) => m * magnitude >= raw * (1 - 1e-9)) * magnitude;
  return integer ? Math.max(1, step) : step;
}

/**
 * Axis ticks from a round number at or below `min` to one at or above `max`.
 * A flat series (all zeros) still gets an axis from min to min + 1 step.
 */
export function niceTicks(min, max, { count = 5, integer = false } = {}) {
  const top = max > min ? max : min + (integer ? 1 : Math.abs(min) || 1);
  const step = niceStep(top - min, count, integer);
  const low = Math.floor(min / step) * step;
  const high = Math.ceil(top / step) * step;
  const places = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  const ticks = [];
  for (let i = 0; low + i * step <= high + step / 2; i++) ticks.push(Number((low + i * step).toFixed(places)));
  return { min: low, max: high, step, ticks };
}

/** Maps [d0, d1] onto [r0, r1]; a zero-width domain maps everything to r0. */
export function linearScale([d0, d1], [r0, r1]) {
  const width = d1 - d0;
  return (value) => (width === 0 ? r0 : r0 + ((value - d0) / width) * (r1 - r0));
}

/** Which of `n` points get an x label so that at most `most` are labelled, first and evenly spaced. */
export function labelledIndexes(n, most = 7) {
  const every = Math.max(1, Math.ceil(n / most));
  return Array.from({ length: n }, (_, i) => i).filter((i) => i % every === 0);
}

/** 1234 → "1.2K": axis labels stay short; tables show full figures. */
export function compact(value) {
  return new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 }).format(value);
}

/** A day "2025-03-07" as "7 Mar" (read as UTC, the day the server meant). */
export function shortDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return day;
  return date.toLocaleDateString(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

const round = (n) => Math.round(n * 10) / 10;

/** The figure around a chart: the picture, its legend and its figures as a table. */
function figure(kind, label, picture, legend, table) {
  picture.setAttribute('role', 'img');
  picture.setAttribute('aria-label', label.summary);
  return h('figure', { class: `chart chart-${kind}` },
    h('figcaption', {}, label.title),
    picture,
    legend,
    h('details', { class: 'chart-data' }, h('summary', {}, `${label.title}: the figures`), table));
}

function dataTable(caption, headings, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headings.map((text, i) => h('th', { scope: 'col', class: i ? 'num' : null }, text)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((text, i) => (i ? h('td', { class: 'num' }, text) : h('th', { scope: 'row' }, text))))))));
}

function legendOf(series) {
  if (series.length < 2) return null;
  return h('ul', { class: 'chart-legend' }, series.map((s, i) => {
    const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = s.colour ?? COLOURS[i % COLOURS.length];
    return h('li', {}, swatch, s.name);
  }));
}

/** Gridlines and labels of a value axis along y (line chart) or x (bar chart). */
function valueAxis(ticks, scale, { vertical, from, to, format }) {
  return svg('g', { class: 'axis' }, ...ticks.map((tick) => {
    const at = round(scale(tick));
    return vertical
      ? svg('g', {}, svg('line', { x1: from, x2: to, y1: at, y2: at }), svg('text', { x: from - 6, y: at + 4, 'text-anchor': 'end' }, format(tick)))
      : svg('g', {}, svg('line', { x1: at, x2: at, y1: from, y2: to }), svg('text', { x: at, y: to + 16, 'text-anchor': 'middle' }, format(tick)));
  }));
}

/**
 * A line chart over days. `points` are the days' rows, `x(point)` a day
 * (YYYY-MM-DD); each of `series` is `{name, value(point), colour}`; the
 * first is filled below its line when `area`. `format` writes values (money
 * or counts) for tooltips and the table, `axisFormat` for the axis.
 */
export function lineChart({ title, points, x, series, format = String, axisFormat = compact, area = true }) {
  // About the size a half-width card draws it at, so text stays near 12px.
  const [width, height] = [460, 220];
  const box = { left: 52, right: 10, top: 10, bottom: 26 };
  const values = series.flatMap((s) => points.map((p) => s.value(p)));
  const axis = niceTicks(0, Math.max(0, ...values), { count: 4, integer: true });
  const y = linearScale([axis.min, axis.max], [height - box.bottom, box.top]);
  const xAt = linearScale([0, Math.max(1, points.length - 1)], [box.left + 8, width - box.right - 8]);
  const picture = svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', preserveAspectRatio: 'xMidYMid meet' });
  picture.append(valueAxis(axis.ticks, y, { vertical: true, from: box.left, to: width - box.right, format: axisFormat }));
  picture.append(svg('g', { class: 'axis axis-x' }, ...labelledIndexes(points.length, 6).map((i) =>
    svg('text', { x: round(xAt(i)), y: height - 8, 'text-anchor': 'middle' }, shortDay(x(points[i]))))));
  series.forEach((s, n) => {
    const colour = s.colour ?? COLOURS[n % COLOURS.length];
    const coords = points.map((p, i) => [round(xAt(i)), round(y(s.value(p)))]);
    const line = coords.map(([cx, cy], i) => `${i ? 'L' : 'M'}${cx} ${cy}`).join(' ');
    const group = svg('g', { class: 'series', 'data-series': s.name });
    if (area && n === 0 && coords.length) {
      const base = round(y(axis.min));
      group.append(svg('path', { class: 'area', d: `${line} L${coords.at(-1)[0]} ${base} L${coords[0][0]} ${base} Z`, fill: colour }));
    }
    group.append(svg('path', { class: 'line', d: line, stroke: colour }));
    coords.forEach(([cx, cy], i) => group.append(svg('circle', { class: 'point', cx, cy, r: 3, fill: colour },
      svg('title', {}, `${shortDay(x(points[i]))} · ${s.name}: ${format(s.value(points[i]))}`))));
    picture.append(group);
  });
  const totals = series.map((s) => `${s.name} ${format(points.reduce((sum, p) => sum + s.value(p), 0))}`);
  const range = points.length ? `${shortDay(x(points[0]))} to ${shortDay(x(points.at(-1)))}` : 'no days';
  const summary = `${title}, ${points.length} days, ${range}. Totals: ${totals.join(', ')}.`;
  const table = dataTable(title, ['Day', ...series.map((s) => s.name)],
    points.map((p) => [x(p), ...series.map((s) => format(s.value(p)))]));
  return figure('line', { title, summary }, picture, legendOf(series), table);
}

/**
 * A horizontal bar chart: `bars` are `{label, value}`, largest first as
 * given. Long labels are shortened in the picture, whole in the tooltip and table.
 */
export function barChart({ title, bars, format = String, axisFormat = compact, valueName = 'Value', colour = COLOURS[0] }) {
  // About the size a full-width card draws it at.
  const width = 900;
  const box = { left: 240, right: 80, top: 8, bottom: 28 };
  const row = 30;
  const height = box.top + box.bottom + Math.max(1, bars.length) * row;
  const axis = niceTicks(0, Math.max(0, ...bars.map((b) => b.value)), { count: 4, integer: true });
  const xAt = linearScale([axis.min, axis.max], [box.left, width - box.right]);
  const picture = svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', preserveAspectRatio: 'xMidYMid meet' });
  picture.append(valueAxis(axis.ticks, xAt, { vertical: false, from: box.top, to: height - box.bottom, format: axisFormat }));
  bars.forEach((bar, i) => {
    const top = box.top + i * row + 5;
    const end = round(xAt(bar.value));
    const name = bar.label.length > 32 ? `${bar.label.slice(0, 31)}…` : bar.label;
    picture.append(svg('g', { class: 'bar-row' },
      svg('text', { class: 'bar-label', x: box.left - 8, y: top + 14, 'text-anchor': 'end' }, name),
      svg('rect', { class: 'bar', x: box.left, y: top, width: Math.max(1, round(end - box.left)), height: row - 10, fill: colour },
        svg('title', {}, `${bar.label}: ${format(bar.value)}`)),
      svg('text', { class: 'bar-value', x: end + 6, y: top + 14 }, format(bar.value))));
  });
  const listed = bars.slice(0, 3).map((b) => `${b.label} ${format(b.value)}`).join(', ');
  const summary = bars.length ? `${title}, ${bars.length} bars. Largest: ${listed}.` : `${title}: nothing to show.`;
  const table = dataTable(title, ['Name', valueName], bars.map((b) => [b.label, format(b.value)]));
  return figure('bar', { title, summary }, picture, null, table);
}
