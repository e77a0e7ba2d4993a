// The home view: search results or the whole catalog, with facets, filters,
// sorting and a product grid. The address holds the whole state
// (`/?q=&category=&dietary=&brand=&price=&in_stock=&sort=`), so back,
// reload and shared links show the same results.

import { shopApi } from './api.js';
import { addFromButton } from './cart.js';
import { h, highlighted, highlightText, money, productPicture, replace, toDecimal, toMinor } from './dom.js';
import { navigate } from './router.js';
import { shopInfo } from './shop.js';

const PAGE_SIZE = 24;
const TYPING_DELAY_MS = 250;
const FILTERS = ['category', 'brand', 'dietary', 'price', 'in_stock'];
const SORTS = [
  ['relevance', 'Best match'],
  ['price_asc', 'Price: low to high'],
  ['price_desc', 'Price: high to low'],
  ['newest', 'Newest'],
];

/** The address's search state. */
function stateFrom(search) {
  const params = new URLSearchParams(search);
  return {
    q: params.get('q') ?? '',
    category: params.get('category') ?? '',
    brand: params.get('brand') ?? '',
    dietary: (params.get('dietary') ?? '').split(',').filter(Boolean),
    price: params.get('price') ?? '',
    in_stock: params.get('in_stock') === 'true',
    sort: params.get('sort') ?? 'relevance',
  };
}

/** The address for a state. */
function hrefFor(state) {
  const params = new URLSearchParams();
  if (state.q) params.set('q', state.q);
  if (state.category) params.set('category', state.category);
  if (state.brand) params.set('brand', state.brand);
  if (state.dietary.length) params.set('dietary', state.dietary.join(','));
  if (state.price) params.set('price', state.price);
  if (state.in_stock) params.set('in_stock', 'true');
  if (state.sort !== 'relevance') params.set('sort', state.sort);
  const text = params.toString();
  return text ? `/?${text}` : '/';
}

/**
 * The search API's parameters for a state. A price bucket "5-10" (5 up to,
 * not including, 10) or "50+" becomes bounds the API includes.
 */
function searchParams(state, offset) {
  const [min, max] = state.price.replace('+', '-').split('-');
  return {
    q: state.q, category: state.category, brand: state.brand,
    dietary: state.dietary.join(','), min_price: min, max_price: max ? toDecimal(toMinor(max) - 1) : '',
    in_stock: state.in_stock ? 'true' : '', sort: state.sort === 'relevance' ? '' : state.sort,
    limit: PAGE_SIZE, offset: offset || '',
  };
}

let typingTimer = 0;
document.addEventListener('search-typed', (event) => {
  if (location.pathname !== '/') return;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => {
    const shown = stateFrom(location.search);
    if (shown.q === event.detail.q) return;
    navigate(hrefFor({ ...shown, q: event.detail.q }), { replace: true, focus: false });
  }, TYPING_DELAY_MS);
});

export async function catalogView(main, _groups, signal) {
  const state = stateFrom(location.search);
  const results = await shopApi.search(searchParams(state, 0), signal);
  const shop = await shopInfo();
  document.title = state.q ? `“${state.q}” · ${shop.name}` : shop.name;
  const searchBox = document.querySelector('shop-search');
  if (searchBox) searchBox.value = state.q;

  const grid = h('ul', { class: 'grid', 'aria-label': 'Products' }, results.hits.map(productCard));
  const more = moreButton(state, results, grid, signal);
  const heading = state.q ? `Results for “${state.q}”` : state.category ? lastPart(state.category) : shop.name;
  replace(main,
    h('div', { class: 'catalog' },
      h('div', { class: 'catalog-head' },
        h('div', {},
          h('h1', {}, heading),
          h('p', { class: 'muted', role: 'status' }, countText(results.total, state))),
        sortControl(state)),
      activeFilters(state),
      h('div', { class: 'catalog-body' },
        facetsPanel(state, results.facets),
        h('section', { class: 'results', 'aria-label': 'Results' },
          results.hits.length ? grid : emptyState(state),
          more))));
}

function countText(total, state) {
  if (total === 0) return 'No products found';
  const noun = total === 1 ? 'product' : 'products';
  return state.q || FILTERS.some((f) => hasFilter(state, f)) ? `${total} ${noun} found` : `${total} ${noun} in the shop`;
}

function hasFilter(state, name) {
  const value = state[name];
  return Array.isArray(value) ? value.length > 0 : Boolean(value);
}

function lastPart(category) {
  return category.split('>').pop().trim();
}

/** One product in the grid: picture, name (with the matched words marked), price and an add button. */
export function productCard(hit) {
  const href = `/products/${encodeURIComponent(hit.handle)}`;
  const snippet = hit.highlights?.find((fragment) => !hit.name.includes(highlightText(fragment)));
  const add = h('button', { type: 'button', class: 'button small', disabled: !hit.in_stock, 'aria-label': `Add ${hit.name} to cart` }, hit.in_stock ? 'Add' : 'Sold out');
  add.addEventListener('click', () => addFromButton(add, hit));
  return h('li', { class: 'card' },
    h('a', { href, class: 'card-link', tabindex: '-1', 'aria-hidden': 'true' }, productPicture(hit.name, hit.images)),
    h('div', { class: 'card-body' },
      hit.brand && h('p', { class: 'brand-name' }, hit.brand),
      h('h2', { class: 'card-title' }, h('a', { href }, markedName(hit.name, hit.highlights))),
      snippet && h('p', { class: 'snippet' }, highlighted(snippet)),
      h('div', { class: 'card-foot' },
        h('span', { class: 'price' }, money(Number(hit.price_minor))),
        add)));
}

/** The name with the words the search matched marked, from the highlight that is part of it. */
function markedName(name, highlights = []) {
  for (const fragment of highlights) {
    const text = highlightText(fragment);
    const at = text ? name.indexOf(text) : -1;
    if (at >= 0) return [name.slice(0, at), highlighted(fragment), name.slice(at + text.length)];
  }
  return [name];
}

function moreButton(state, results, grid, signal) {
  let shown = results.hits.length;
  if (shown >= results.total) return null;
  const button = h('button', { type: 'button', class: 'button wide more' }, 'Show more');
  button.addEventListener('click', async () => {
    button.disabled = true;
    const next = await shopApi.search(searchParams(state, shown), signal);
    const cards = next.hits.map(productCard);
    grid.append(...cards);
    shown += next.hits.length;
    cards[0]?.querySelector('.card-title a')?.focus();
    button.disabled = false;
    if (shown >= next.total || next.hits.length === 0) button.remove();
  });
  return button;
}

function sortControl(state) {
  const select = h('select', { id: 'sort', name: 'sort' },
    SORTS.map(([value, label]) => h('option', { value, selected: value === state.sort }, label)));
  select.addEventListener('change', () => navigate(hrefFor({ ...state, sort: select.value }), { focus: false }));
  const stock = h('input', { type: 'checkbox', id: 'in-stock', checked: state.in_stock });
  stock.addEventListener('change', () => navigate(hrefFor({ ...state, in_stock: stock.checked }), { focus: false }));
  return h('div', { class: 'controls' },
    h('label', { class: 'check' }, stock, 'In stock only'),
    h('label', { for: 'sort', class: 'sr-only' }, 'Sort by'),
    select);
}

/** The filters in force, each a chip that removes it. */
function activeFilters(state) {
  const chips = [];
  const chip = (label, next) => chips.push(h('li', {}, h('a', { class: 'chip', href: hrefFor(next), 'aria-label': `Remove filter ${label}` }, label, h('span', { 'aria-hidden': 'true' }, ' ×'))));
  if (state.category) chip(state.category, { ...state, category: '' });
  if (state.brand) chip(state.brand, { ...state, brand: '' });
  for (const label of state.dietary) chip(label, { ...state, dietary: state.dietary.filter((d) => d !== label) });
  if (state.price) chip(priceLabel(state.price), { ...state, price: '' });
  if (state.in_stock) chip('In stock', { ...state, in_stock: false });
  if (chips.length === 0) return null;
  return h('ul', { class: 'chips', 'aria-label': 'Filters in use' }, chips,
    h('li', {}, h('a', { class: 'link', href: hrefFor({ ...stateFrom(''), q: state.q }) }, 'Clear all')));
}

function priceLabel(bucket) {
  const [min, max] = bucket.replace('+', '-').split('-');
  const amount = (value) => money(toMinor(value));
  if (!max) return `${amount(min)} and up`;
  if (Number(min) === 0) return `Under ${amount(max)}`;
  return `${amount(min)} – ${amount(max)}`;
}

function facetsPanel(state, facets) {
  const groups = [
    facetGroup('Category', facets.category, (value) => ({ ...state, category: state.category === value ? '' : value }), (value) => value === state.category, lastPart),
    facetGroup('Dietary', facets.dietary, (value) => ({ ...state, dietary: toggle(state.dietary, value) }), (value) => state.dietary.includes(value)),
    facetGroup('Price', facets.price, (value) => ({ ...state, price: state.price === value ? '' : value }), (value) => value === state.price, priceLabel),
    facetGroup('Brand', facets.brand, (value) => ({ ...state, brand: state.brand === value ? '' : value }), (value) => value === state.brand),
  ].filter(Boolean);
  if (state.category.includes('>') || (state.category && facets.category.length === 0)) {
    const parent = state.category.split('>').slice(0, -1).join('>').trim();
    groups.unshift(h('p', { class: 'up' }, h('a', { href: hrefFor({ ...state, category: parent }) }, `← ${parent ? lastPart(parent) : 'All products'}`)));
  }
  return h('details', { class: 'facets', open: matchMedia('(min-width: 760px)').matches },
    h('summary', {}, 'Filters'),
    h('nav', { 'aria-label': 'Filters' }, groups));
}

function toggle(list, value) {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
}

function facetGroup(title, values, next, selected, label = (v) => v) {
  if (!values || values.length === 0) return null;
  const shown = values.slice(0, 12);
  return h('section', { class: 'facet' },
    h('h2', {}, title),
    h('ul', {}, shown.map((facet) => {
      const on = selected(facet.value);
      return h('li', {}, h('a', { href: hrefFor(next(facet.value)), 'aria-current': on ? 'true' : null, class: on ? 'on' : null },
        h('span', {}, label(facet.value)), h('span', { class: 'count' }, String(facet.count))));
    })));
}

function emptyState(state) {
  const filtered = FILTERS.some((f) => hasFilter(state, f));
  return h('div', { class: 'empty' },
    h('p', {}, state.q ? `Nothing matches “${state.q}”${filtered ? ' with these filters' : ''}.` : 'Nothing matches these filters.'),
    filtered && h('p', {}, h('a', { href: hrefFor({ ...stateFrom(''), q: state.q }) }, 'Clear the filters')),
    h('p', { class: 'muted' }, 'Or ask the assistant — it understands “gluten free pasta under $5”.'));
}
