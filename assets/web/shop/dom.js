// DOM helpers for the storefront. Every value from the catalog or a shopper
// goes into the page as a text node or an attribute, never as markup.

/** An element with properties, listeners (`onclick`) and children (strings become text). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (typeof value !== 'string' && key in el) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children, flattening arrays and skipping null, undefined and false. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces an element's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

const shop = { currency: 'USD', exponent: 2, locale: undefined };

/** Sets the currency money() formats in (from GET /api/v1/shop). */
export function useCurrency(code, exponent) {
  shop.currency = code;
  shop.exponent = exponent;
}

/** An amount in minor units as the shopper reads it: "$4.99". */
export function money(minor) {
  try {
    return new Intl.NumberFormat(shop.locale, {
      style: 'currency',
      currency: shop.currency,
      minimumFractionDigits: shop.exponent,
      maximumFractionDigits: shop.exponent,
    }).format(minor / 10 ** shop.exponent);
  } catch {
    return `${(minor / 10 ** shop.exponent).toFixed(shop.exponent)} ${shop.currency}`;
  }
}

/** A decimal string in the shop currency ("4.99") in minor units. */
export function toMinor(decimal) {
  return Math.round(Number(decimal) * 10 ** shop.exponent);
}

/** Minor units as the decimal string the API reads ("4.99"). */
export function toDecimal(minor) {
  return (minor / 10 ** shop.exponent).toFixed(shop.exponent);
}

const ENTITIES = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Undoes the search index's minimal HTML escaping, giving plain text back. */
export function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name) => {
    if (name[0] !== '#') return ENTITIES[name.toLowerCase()] ?? whole;
    const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
  });
}

/**
 * A search highlight ("Oat <b>Milk</b> 1 l", escaped by the index) as nodes:
 * the matched words in <mark>, everything else as text.
 */
export function highlighted(fragment) {
  const nodes = [];
  let marked = false;
  for (const part of fragment.split(/(<b>|<\/b>)/)) {
    if (part === '<b>') marked = true;
    else if (part === '</b>') marked = false;
    else if (part) nodes.push(marked ? h('mark', {}, unescapeHtml(part)) : unescapeHtml(part));
  }
  return nodes;
}

/** The plain text of a highlight. */
export function highlightText(fragment) {
  return unescapeHtml(fragment.replace(/<\/?b>/g, ''));
}

/**
 * A picture for a product: its first image when it has a web address,
 * otherwise a monogram tile coloured from its name.
 */
export function productPicture(name, images = [], size = 'card') {
  const src = images.find((url) => /^(https:\/\/|\/)/.test(url));
  if (src) return h('img', { class: `picture ${size}`, src, alt: '', loading: 'lazy', decoding: 'async' });
  const words = name.replace(/[^\p{L}\p{N} ]/gu, ' ').split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  const tile = h('div', { class: `picture monogram ${size}`, 'aria-hidden': 'true' }, letters);
  tile.style.setProperty('--hue', String(hash % 360));
  return tile;
}

/** A short, friendly date ("12 Mar 2026, 14:05"). */
export function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Tells screen-reader users and sighted users alike, briefly. */
export function toast(message) {
  const box = document.querySelector('[data-toast]');
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 3500);
}

/** Sixteen random bytes as hex: an idempotency key, also on plain-HTTP hosts. */
export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
