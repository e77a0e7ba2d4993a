// The product page: picture, price, stock, labels, description, details,
// variant and quantity, "add to cart", and what is often bought with it.

import { shopApi } from './api.js';
import { addFromButton } from './cart.js';
import { productCard } from './catalog.js';
import { h, money, productPicture, replace, toMinor } from './dom.js';
import { shopInfo } from './shop.js';

export async function productView(main, [handle], signal) {
  const [product, shop] = await Promise.all([shopApi.product(handle, signal), shopInfo()]);
  document.title = `${product.name} · ${shop.name}`;
  const buy = buyBox(product, shop);
  const related = h('section', { class: 'related', 'aria-labelledby': 'related-title', hidden: true });
  replace(main,
    breadcrumbs(product),
    h('article', { class: 'product' },
      h('div', { class: 'product-picture' }, productPicture(product.name, product.images, 'large')),
      h('div', { class: 'product-info' },
        product.brand && h('p', { class: 'brand-name' }, product.brand),
        h('h1', {}, product.name),
        buy.price,
        labels(product),
        buy.form,
        h('p', { class: 'description' }, product.description),
        details(product))),
    related);
  fillRelated(related, product, signal);
}

function breadcrumbs(product) {
  const parts = product.category.split('>').map((p) => p.trim()).filter(Boolean);
  const crumbs = parts.map((part, i) => {
    const path = parts.slice(0, i + 1).join(' > ');
    return h('li', {}, h('a', { href: `/?category=${encodeURIComponent(path)}` }, part));
  });
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('ol', {}, h('li', {}, h('a', { href: '/' }, 'Shop')), crumbs,
      h('li', { 'aria-current': 'page' }, product.name)));
}

function labels(product) {
  if (!product.dietary.length) return null;
  return h('ul', { class: 'labels', 'aria-label': 'Dietary' }, product.dietary.map((d) => h('li', { class: 'label' }, d)));
}

function stockText(item) {
  if (!item.in_stock) return ['Out of stock', 'out'];
  if (item.stock != null && item.stock <= 5) return [`Only ${item.stock} left`, 'low'];
  return ['In stock', 'in'];
}

/** Price, variant choice, quantity and the add button, kept in step with the chosen variant. */
function buyBox(product, shop) {
  const price = h('p', { class: 'product-price' });
  const stock = h('p', { class: 'stock' });
  const variants = product.variants ?? [];
  const select = variants.length > 1 ? h('select', { id: 'variant', name: 'variant' },
    variants.map((v) => h('option', { value: String(v.id), disabled: !v.in_stock }, v.in_stock ? v.title : `${v.title} (sold out)`))) : null;
  if (select) select.value = String((variants.find((v) => v.in_stock) ?? variants[0]).id);
  const quantity = h('input', { id: 'quantity', name: 'quantity', type: 'number', inputMode: 'numeric', min: 1, max: shop.max_line_quantity, value: '1', required: true });
  const add = h('button', { type: 'submit', class: 'button primary' }, 'Add to cart');
  const chosen = () => (select ? variants.find((v) => String(v.id) === select.value) : variants[0]) ?? product;
  const update = () => {
    const item = chosen();
    const compare = item.compare_at_price && toMinor(item.compare_at_price) > item.price_minor
      ? h('s', { class: 'muted', 'aria-label': `was ${money(toMinor(item.compare_at_price))}` }, money(toMinor(item.compare_at_price))) : null;
    replace(price, h('span', {}, money(item.price_minor)), compare && ' ', compare);
    const [text, level] = stockText(item);
    stock.textContent = text;
    stock.dataset.level = level;
    add.disabled = !item.in_stock;
  };
  select?.addEventListener('change', update);
  update();
  const form = h('form', {
    class: 'buy',
    onsubmit: (event) => {
      event.preventDefault();
      if (!quantity.reportValidity()) return;
      const variant = chosen();
      addFromButton(add, product, {
        variantId: variant === product ? undefined : variant.id,
        quantity: Number(quantity.value),
      });
    },
  },
  stock,
  select && h('div', { class: 'field' }, h('label', { for: 'variant' }, 'Option'), select),
  h('div', { class: 'inline' },
    h('div', { class: 'field qty-field' }, h('label', { for: 'quantity' }, 'Quantity'), quantity),
    add));
  return { price, form };
}

function details(product) {
  const rows = Object.entries(product.attributes ?? {});
  if (product.sku) rows.push(['SKU', product.sku]);
  if (!rows.length) return null;
  return h('dl', { class: 'details' }, rows.map(([key, value]) => [h('dt', {}, capitalise(key)), h('dd', {}, value)]));
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1).replaceAll('_', ' ');
}

async function fillRelated(section, product, signal) {
  try {
    const { items } = await shopApi.related(product.id, signal);
    const others = items.filter((item) => item.id !== product.id);
    if (!others.length) return;
    replace(section,
      h('h2', { id: 'related-title' }, 'Often bought together'),
      h('ul', { class: 'grid' }, others.map((item) => productCard(item))));
    section.hidden = false;
  } catch {
    // Recommendations are extra; the page stands without them.
  }
}
