// The report pages' date range: presets (7 days, 30 days, this month) or
// custom from / to, in UTC days as the server counts them. The choice lives
// in the page's address (?from=&to=&range=), so a reload or a shared link
// shows the same report.

import { h } from '/static/shop/dom.js';
import { field } from './ui.js';

export const PRESETS = [
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['month', 'This month'],
  ['custom', 'Custom'],
];

/** A UTC day as YYYY-MM-DD. */
export const isoDay = (date) => date.toISOString().slice(0, 10);

/** The days a preset covers, ending on `today` (a Date, read in UTC). */
export function presetRange(preset, today = new Date()) {
  const to = isoDay(today);
  const back = (days) => isoDay(new Date(today.getTime() - days * 86_400_000));
  if (preset === '7d') return { from: back(6), to };
  if (preset === 'month') return { from: `${to.slice(0, 8)}01`, to };
  return { from: back(29), to };
}

/** The range the address asks for: a preset, or custom days; 30 days when it names neither. */
export function rangeFromAddress(search = window.location.search) {
  const params = new URLSearchParams(search);
  const preset = PRESETS.some(([key]) => key === params.get('range')) ? params.get('range') : '30d';
  const day = (name) => (/^\d{4}-\d{2}-\d{2}$/.test(params.get(name) ?? '') ? params.get(name) : null);
  if (preset === 'custom' && day('from') && day('to')) return { preset, from: day('from'), to: day('to') };
  return { preset: preset === 'custom' ? '30d' : preset, ...presetRange(preset === 'custom' ? '30d' : preset) };
}

/** Writes the range (and `extra` parameters) into the address without a new history entry. */
export function keepInAddress(range, extra = {}) {
  const params = new URLSearchParams({ range: range.preset, ...extra });
  if (range.preset === 'custom') {
    params.set('from', range.from);
    params.set('to', range.to);
  }
  window.history.replaceState(null, '', `${window.location.pathname}?${params}`);
}

/**
 * The range controls: a preset select and, for custom, from / to fields and
 * a Show button. `onChange({preset, from, to})` runs on every new choice.
 */
export function rangeControls(range, onChange) {
  const preset = h('select', { name: 'range' },
    PRESETS.map(([key, label]) => h('option', { value: key, selected: key === range.preset }, label)));
  const from = h('input', { type: 'date', name: 'from', value: range.from, required: true });
  const to = h('input', { type: 'date', name: 'to', value: range.to, required: true });
  const custom = h('div', { class: 'range-custom', hidden: range.preset !== 'custom' },
    field('From', from), field('To', to), h('button', { type: 'submit', class: 'secondary' }, 'Show'));
  preset.addEventListener('change', () => {
    const chosen = preset.value;
    custom.hidden = chosen !== 'custom';
    if (chosen === 'custom') {
      from.focus();
      return;
    }
    const days = presetRange(chosen);
    from.value = days.from;
    to.value = days.to;
    onChange({ preset: chosen, ...days });
  });
  const form = h('form', { class: 'range', 'aria-label': 'Date range' }, field('Dates', preset), custom);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    onChange({ preset: 'custom', from: from.value, to: to.value });
  });
  return form;
}
