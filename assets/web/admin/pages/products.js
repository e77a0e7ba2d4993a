// The Products page: the catalog list with search, filters, pages and a stock
// quick-edit; a product's edit form at /admin/products/<id> (a new one at
// /admin/products/new); deleting with a confirmation; and the import panel,
// which uploads a file as a background job and follows its progress.
// Catalog values go into the page as text only.

import { h, replace, money, toast } from '/static/shop/dom.js';
import { heading, card, stat, dataTable, field, showProblem, clearProblem, badge, notice, whileBusy, linkButton } from '../ui.js';

const PAGE_SIZE = 25;
const POLL_MS = 400;

export async function render(main, dashboard) {
  const sub = dashboard.subpath();
  if (!sub) return listPage(main, dashboard);
  return editPage(main, dashboard, sub === 'new' ? null : sub);
}

/* ---------- the list ---------- */

async function listPage(main, dashboard) {
  const params = new URLSearchParams(window.location.search);
  const state = { q: params.get('q') ?? '', stock: params.get('stock') ?? '', published: params.get('published') ?? '', cursors: [null] };
  const results = h('div', { class: 'product-results', 'aria-live': 'polite' });
  const load = () => showList(results, dashboard, state);
  replace(main,
    heading('Products', linkButton('New product', '/admin/products/new')),
    importPanel(dashboard, load),
    filters(state, load),
    results);
  await load();
}

function filters(state, load) {
  const q = h('input', { type: 'search', name: 'q', value: state.q, placeholder: 'Name or SKU', autocomplete: 'off' });
  const stock = select('stock', state.stock, [['', 'Any stock'], ['in', 'In stock'], ['out', 'Out of stock'], ['low', 'Low stock']]);
  const published = select('published', state.published, [['', 'Published or not'], ['true', 'Published'], ['false', 'Unpublished']]);
  const form = h('form', { class: 'card product-filters', role: 'search', 'aria-label': 'Find products' },
    field('Search', q), field('Stock', stock), field('Status', published),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Find')));
  const apply = (event) => {
    event?.preventDefault();
    Object.assign(state, { q: q.value.trim(), stock: stock.value, published: published.value, cursors: [null] });
    const shown = new URLSearchParams(Object.entries({ q: state.q, stock: state.stock, published: state.published }).filter(([, v]) => v));
    history.replaceState(null, '', `${location.pathname}${shown.size ? `?${shown}` : ''}`);
    load();
  };
  form.addEventListener('submit', apply);
  stock.addEventListener('change', apply);
  published.addEventListener('change', apply);
  return form;
}

function select(name, value, options) {
  return h('select', { name }, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

async function showList(results, dashboard, state) {
  results.setAttribute('aria-busy', 'true');
  try {
    const cursor = state.cursors.at(-1);
    const page = await dashboard.request(`/api/v1/admin/products${dashboard.query({
      q: state.q, stock: state.stock, published: state.published, limit: PAGE_SIZE, cursor,
    })}`);
    const reload = () => showList(results, dashboard, state);
    const pageNumber = state.cursors.length;
    const go = (cursors) => { state.cursors = cursors; reload(); };
    replace(results,
      h('p', { class: 'result-count' }, `${page.total} ${page.total === 1 ? 'product' : 'products'}${pageNumber > 1 ? ` · page ${pageNumber}` : ''}`),
      dataTable({
        caption: 'Products',
        empty: 'No products match. Import a catalog or change the filters.',
        rows: page.items,
        columns: [
          { label: 'Product', cell: (p) => productCell(p) },
          { label: 'Price', numeric: true, cell: (p) => money(p.price_minor) },
          { label: 'Stock', cell: (p) => stockCell(p, dashboard, page.low_stock_threshold) },
          { label: 'Status', cell: (p) => (p.active ? badge('Published', 'ok') : badge('Unpublished', 'info')) },
          { label: 'Actions', cell: (p) => h('div', { class: 'row-actions' },
            linkButton('Edit', `/admin/products/${p.id}`, { class: 'button secondary small', 'aria-label': `Edit ${p.name}` }),
            h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete ${p.name}`, onclick: () => confirmDelete(dashboard, p, reload) }, 'Delete')) },
        ],
      }),
      h('nav', { class: 'pager actions', 'aria-label': 'Pages' },
        h('button', { type: 'button', class: 'secondary', disabled: pageNumber === 1, onclick: () => go(state.cursors.slice(0, -1)) }, 'Previous'),
        h('button', { type: 'button', class: 'secondary', disabled: !page.next_cursor, onclick: () => go([...state.cursors, page.next_cursor]) }, 'Next')));
  } catch (error) {
    replace(results, notice(`The products could not be loaded: ${error.message}`, 'error'));
  } finally {
    results.removeAttribute('aria-busy');
  }
}

function productCell(p) {
  return h('div', { class: 'product-cell' },
    h('a', { href: `/admin/products/${p.id}` }, p.name),
    p.sku ? h('span', { class: 'sku' }, `SKU ${p.sku}`) : null,
    p.variants.length ? h('span', { class: 'sku' }, `${p.variants.length} variants`) : null);
}

/** The stock figure, with a quick edit for products without variants. */
function stockCell(p, dashboard, threshold) {
  const flag = p.stock == null ? badge('Not tracked', 'info')
    : p.stock <= 0 ? badge('Out of stock', 'bad')
      : p.stock <= threshold || p.variants.some((v) => v.stock != null && v.stock <= threshold) ? badge('Low', 'warn') : null;
  if (p.variants.length) return h('div', { class: 'stock-cell' }, h('span', {}, p.stock ?? '—'), flag);
  const input = h('input', { type: 'number', name: 'stock', step: '1', value: p.stock ?? '', class: 'stock-input', 'aria-label': `Stock of ${p.name}` });
  const form = h('form', { class: 'stock-cell' }, input, h('button', { type: 'submit', class: 'secondary small' }, 'Save'), flag);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const stock = input.value === '' ? null : Number(input.value);
    try {
      await whileBusy(form.querySelector('button'), () => dashboard.request(`/api/v1/products/${p.id}`, { method: 'PATCH', body: { stock } }));
      input.removeAttribute('aria-invalid');
      toast(`Stock of ${p.name} is now ${stock ?? 'not tracked'}.`);
    } catch (error) {
      input.setAttribute('aria-invalid', 'true');
      toast(error.reasonFor?.('stock') ?? error.message);
    }
  });
  return form;
}

/** Asks in a modal dialog (focus stays inside, Escape cancels), then deletes. */
function confirmDelete(dashboard, p, done) {
  const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
    h('h2', { id: 'confirm-title' }, 'Delete this product?'),
    h('p', {}, `“${p.name}” and its variants will be removed from the shop. This cannot be undone.`),
    h('form', { method: 'dialog', class: 'actions' },
      h('button', { value: 'cancel', class: 'secondary', autofocus: true }, 'Cancel'),
      h('button', { value: 'delete', class: 'danger' }, 'Delete')));
  dialog.addEventListener('close', async () => {
    dialog.remove();
    if (dialog.returnValue !== 'delete') return;
    try {
      await dashboard.request(`/api/v1/products/${p.id}`, { method: 'DELETE' });
      toast(`Deleted ${p.name}.`);
      done?.();
    } catch (error) {
      toast(`Not deleted: ${error.message}`);
    }
  });
  document.body.append(dialog);
  dialog.showModal();
}

/* ---------- the import panel ---------- */

function importPanel(dashboard, refresh) {
  const file = h('input', { type: 'file', name: 'file', required: true, accept: '.csv,.json,.ndjson,.jsonl,.txt,text/csv,application/json' });
  const format = select('format', '', [['', 'Detect automatically'], ['shopify', 'Shopify export'], ['woocommerce', 'WooCommerce export'], ['csv', 'CSV (shopkeep columns)'], ['json', 'JSON'], ['ndjson', 'NDJSON (one product a line)']]);
  const strict = h('input', { type: 'checkbox', name: 'strict' });
  const button = h('button', { type: 'submit' }, 'Import');
  const outcome = h('div', { class: 'import-outcome' });
  const form = h('form', { class: 'import-form' },
    field('Catalog file', file, 'Shopify or WooCommerce product export, a CSV or a JSON file.'),
    field('Format', format),
    h('div', { class: 'field check' }, h('label', {}, strict, ' Refuse the whole file if any row is bad')),
    h('div', { class: 'actions' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    const chosen = file.files[0];
    if (!chosen) return;
    await whileBusy(button, async () => {
      try {
        const path = `/api/v1/admin/imports${dashboard.query({ format: format.value, strict: strict.checked || '', file_name: chosen.name })}`;
        const job = await dashboard.upload(path, chosen, { contentType: chosen.type || 'text/csv' });
        await follow(dashboard, job, outcome);
        refresh();
      } catch (error) {
        showProblem(form, error);
      }
    });
  });
  return card('Import a catalog', form, outcome);
}

/** Polls the job, drawing its progress, until it has finished; then its result. */
async function follow(dashboard, job, outcome) {
  const bar = h('progress', { max: 1, 'aria-label': 'Import progress' });
  const words = h('p', { class: 'import-status', role: 'status', 'aria-live': 'polite' });
  replace(outcome, h('div', { class: 'import-progress' }, bar, words));
  for (;;) {
    drawProgress(job, bar, words);
    if (job.status === 'done' || job.status === 'failed') break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await dashboard.request(`/api/v1/admin/imports/${encodeURIComponent(job.id)}`);
  }
  outcome.append(result(job));
}

function drawProgress(job, bar, words) {
  const name = job.file_name ?? 'the file';
  if (job.rows_total == null) {
    bar.removeAttribute('value');
    bar.setAttribute('aria-valuetext', job.status === 'queued' ? 'Waiting' : 'Reading the file');
    words.textContent = job.status === 'queued' ? `Waiting for another import before ${name}…` : `Reading ${name}…`;
    return;
  }
  bar.max = Math.max(job.rows_total, 1);
  bar.value = Math.min(job.rows_done, bar.max);
  const text = `${job.rows_done} of ${job.rows_total} rows`;
  bar.setAttribute('aria-valuetext', text);
  words.textContent = job.status === 'running' ? `Importing ${name}: ${text}` : `${name}: ${text}`;
}

function result(job) {
  const summary = job.status === 'failed'
    ? notice(`The import failed: ${job.detail ?? 'no reason given'}`, 'error')
    : h('div', { class: 'stats import-summary' },
      stat('Created', job.created), stat('Updated', job.updated), stat('Unchanged', job.unchanged), stat('Skipped', job.skipped));
  const errors = job.errors.length
    ? dataTable({
      caption: job.skipped > job.errors.length ? `Rows refused (the first ${job.errors.length} of ${job.skipped})` : 'Rows refused',
      rows: job.errors,
      columns: [
        { label: 'Line', numeric: true, cell: (e) => e.line },
        { label: 'Field', cell: (e) => e.field ?? '—' },
        { label: 'Reason', cell: (e) => e.reason },
      ],
    })
    : null;
  return h('div', { class: 'import-result' }, summary, errors);
}

/* ---------- one product ---------- */

async function editPage(main, dashboard, id) {
  const product = id ? await dashboard.request(`/api/v1/admin/products/${encodeURIComponent(id)}`) : null;
  const title = product ? product.name : 'New product';
  const back = linkButton('All products', '/admin/products');
  const view = product?.active ? linkButton('View in shop', `/products/${encodeURIComponent(product.handle)}`) : null;
  const form = productForm(product);
  const save = h('button', { type: 'submit' }, product ? 'Save changes' : 'Create product');
  form.append(h('div', { class: 'actions' }, save,
    product ? h('button', { type: 'button', class: 'danger', onclick: () => confirmDelete(dashboard, product, () => window.location.assign('/admin/products')) }, 'Delete') : null));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    await whileBusy(save, async () => {
      try {
        const body = formBody(form, product);
        const saved = product
          ? await dashboard.request(`/api/v1/products/${product.id}`, { method: 'PATCH', body })
          : await dashboard.request('/api/v1/products', { method: 'POST', body });
        if (!product) return window.location.assign(`/admin/products/${saved.id}`);
        toast('Saved.');
        replace(main.querySelector('h1'), saved.name);
        document.title = `${saved.name} · Products`;
      } catch (error) {
        showProblem(form, error);
      }
    });
  });
  replace(main, heading(title, back, view), card(product ? 'Details' : 'New product', form));
  document.title = `${title} · Products`;
}

function productForm(p) {
  const input = (name, value, props = {}) => h('input', { type: 'text', name, value: value ?? '', ...props });
  const controls = [
    field('Name', input('name', p?.name, { required: true })),
    field('Description', h('textarea', { name: 'description', rows: 5 }, p?.description ?? '')),
    h('div', { class: 'field-row' },
      field('Price', input('price', p?.price, { inputmode: 'decimal', required: !p?.variants.length }), p?.variants.length ? 'The cheapest variant sets it.' : null),
      field('Compare-at price', input('compare_at_price', p?.compare_at_price, { inputmode: 'decimal' }), 'The old price, shown struck through. Leave empty for none.'),
      p?.variants.length ? null : field('Stock', input('stock', p?.stock, { type: 'number', step: '1' }), 'Leave empty to not track stock.')),
    field('Tags', input('tags', p?.tags.join(', ')), 'Separated by commas.'),
    h('div', { class: 'field check' }, h('label', {}, h('input', { type: 'checkbox', name: 'active', checked: p ? p.active : true }), ' Published (shown in the shop)')),
  ];
  const form = h('form', { class: 'product-form', novalidate: true }, controls);
  if (p?.variants.length) form.append(variantTable(p.variants));
  return form;
}

function variantTable(variants) {
  // Each input keeps an error slot of its own, so showProblem can put a
  // variant's refusal ("variants[2].price") beside it.
  const cell = (name, value, label, props) => {
    const control = h('input', { name, value: value ?? '', id: `v-${name.replace(/\W+/g, '-')}`, 'aria-label': label, ...props });
    control.setAttribute('aria-describedby', `${control.id}-error`);
    return [control, h('p', { class: 'field-error', id: `${control.id}-error`, hidden: true })];
  };
  return h('fieldset', { class: 'variants' }, h('legend', {}, 'Variants'),
    dataTable({
      caption: 'Price and stock per variant',
      rows: variants.map((v, i) => ({ v, i })),
      columns: [
        { label: 'Variant', cell: ({ v }) => [v.title, v.sku ? h('span', { class: 'sku' }, `SKU ${v.sku}`) : null] },
        { label: 'Price', cell: ({ v, i }) => cell(`variants[${i}].price`, v.price, `Price of ${v.title}`, { type: 'text', inputmode: 'decimal' }) },
        { label: 'Stock', cell: ({ v, i }) => cell(`variants[${i}].stock`, v.stock, `Stock of ${v.title}`, { type: 'number', step: '1' }) },
      ],
    }));
}

/** The form as the API's product fields; a merge patch for an existing product. */
function formBody(form, product) {
  const value = (name) => form.elements[name]?.value.trim() ?? '';
  const number = (text) => (text === '' ? null : Number(text));
  const body = {
    name: value('name'),
    description: value('description'),
    compare_at_price: value('compare_at_price') || null,
    tags: value('tags').split(',').map((t) => t.trim()).filter(Boolean),
    active: form.elements.active.checked,
  };
  if (product?.variants.length) {
    body.variants = product.variants.map((v, i) => ({
      sku: v.sku, title: v.title, options: v.options, image: v.image, compare_at_price: v.compare_at_price,
      price: value(`variants[${i}].price`), stock: number(value(`variants[${i}].stock`)),
    }));
  } else {
    body.price = value('price');
    body.stock = number(value('stock'));
  }
  if (!product) Object.keys(body).forEach((key) => body[key] == null && delete body[key]);
  return body;
}
