// Building blocks shared by the dashboard's pages: headings, cards, figures,
// tables, labelled fields with their errors, badges and busy buttons. Values
// go into the page as text (through `h`), never as markup.

import { h } from '/static/shop/dom.js';

/** The page's <h1> with its actions (buttons, links) beside it. */
export function heading(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', {}, title), h('div', { class: 'actions' }, actions));
}

/** A titled section of a page. */
export function card(title, ...children) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/** One figure with its label and an optional line under it. */
export function stat(label, value, detail) {
  return h('div', { class: 'stat' },
    h('span', { class: 'stat-label' }, label),
    h('strong', { class: 'stat-value' }, value),
    detail ? h('span', { class: 'stat-detail' }, detail) : null);
}

/**
 * A table. `columns` are `{ label, cell: (row) => text or node, numeric }`;
 * `empty` is said when there are no rows. Wide tables scroll sideways on a
 * phone instead of the page.
 */
export function dataTable({ caption, columns, rows, empty = 'Nothing yet.' }) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  const cls = (column) => (column.numeric ? 'num' : null);
  const table = h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: cls(c) }, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', { class: cls(c) }, c.cell(row)))))));
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption ?? 'table' }, table);
}

let fieldCount = 0;

/**
 * A labelled control with room for a hint and an error. `control` is an
 * <input>, <select> or <textarea> with a `name`, which errors are matched by.
 */
export function field(label, control, hint) {
  fieldCount += 1;
  control.id ||= `field-${fieldCount}`;
  const hintId = `${control.id}-hint`;
  const errorId = `${control.id}-error`;
  control.setAttribute('aria-describedby', hint ? `${hintId} ${errorId}` : errorId);
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errorId, hidden: true }));
}

/**
 * Shows an ApiError on a form: each `{field, reason}` under the control of
 * that name, anything else at the top. Clears what an earlier error showed.
 */
export function showProblem(form, error) {
  clearProblem(form);
  const unplaced = [];
  for (const { field: name, reason } of error.errors ?? []) {
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
    const slot = control && form.querySelector(`#${CSS.escape(control.id)}-error`);
    if (!slot) {
      unplaced.push(`${name}: ${reason}`);
      continue;
    }
    slot.textContent = reason;
    slot.hidden = false;
    control.setAttribute('aria-invalid', 'true');
  }
  const summary = error.errors?.length && !unplaced.length ? 'Please correct the marked fields.' : [error.message, ...unplaced].join(' ');
  form.prepend(h('p', { class: 'notice notice-error form-problem', role: 'alert' }, summary));
  form.querySelector('[aria-invalid="true"]')?.focus();
}

/** Removes what showProblem put on a form. */
export function clearProblem(form) {
  form.querySelectorAll('.form-problem').forEach((el) => el.remove());
  form.querySelectorAll('.field-error').forEach((el) => { el.hidden = true; el.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
}

/** A short coloured label; `kind` is one of ok, warn, bad, info. */
export function badge(text, kind = 'info') {
  return h('span', { class: `badge badge-${kind}` }, text);
}

/** A notice box; `kind` is 'error' for something that went wrong. */
export function notice(text, kind) {
  return h('p', { class: kind ? `notice notice-${kind}` : 'notice', role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** Runs `action` with `button` disabled and marked busy, whatever the outcome. */
export async function whileBusy(button, action) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** A link that looks like a button (downloads, page changes). */
export function linkButton(text, href, props = {}) {
  return h('a', { class: 'button secondary', href, ...props }, text);
}
