// The cart: one store the whole page shares, and <shop-cart>, the drawer
// that shows and edits it. The chat changes the cart too; it says so with a
// `shopkeep:cart` event (detail: the cart, or null to reload it).

import { ApiError, shopApi } from './api.js';
import { h, money, replace, toast } from './dom.js';
import { navigate } from './router.js';

class CartStore extends EventTarget {
  value = null;

  /** Reloads the cart from the server. */
  async load() {
    this.set(await shopApi.cart());
    return this.value;
  }

  set(cart) {
    this.value = cart;
    this.dispatchEvent(new Event('change'));
  }

  /** Runs a cart call that answers with the cart, and keeps its answer. */
  async apply(call) {
    const cart = await call;
    this.set(cart);
    return cart;
  }

  add(productId, { variantId, quantity = 1 } = {}) {
    return this.apply(shopApi.addToCart({ product_id: productId, variant_id: variantId, quantity }));
  }

  setQuantity(lineId, quantity) {
    return this.apply(quantity > 0 ? shopApi.setQuantity(lineId, quantity) : shopApi.removeLine(lineId));
  }
}

export const cart = new CartStore();

document.addEventListener('shopkeep:cart', (event) => {
  if (event.detail && Array.isArray(event.detail.items)) cart.set(event.detail);
  else cart.load().catch(() => {});
});

/**
 * Adds a product from a button, telling the shopper how it went; a product
 * that needs a variant chosen sends them to its page.
 */
export async function addFromButton(button, product, options = {}) {
  button.disabled = true;
  try {
    await cart.add(product.id, options);
    toast(`Added ${product.name} to your cart`);
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.reasonFor('variant_id')) {
      navigate(`/products/${encodeURIComponent(product.handle)}`);
      toast('Choose a size or option first');
    } else {
      toast(error.message);
    }
    return false;
  } finally {
    button.disabled = false;
  }
}

/** The cart's lines and totals, shared by the drawer and the checkout page. */
export function cartSummary(value, { editable = false } = {}) {
  const lines = value.items.map((line) => h('li', { class: 'line' },
    h('div', { class: 'line-main' },
      h('a', { href: `/products/${encodeURIComponent(line.handle)}`, class: 'line-name' }, line.name),
      line.variant_title && h('span', { class: 'muted' }, ` · ${line.variant_title}`),
      h('div', { class: 'muted small' }, `${money(line.unit_price_minor)} each`),
      line.previous_unit_price && h('div', { class: 'notice small' }, `Price changed from ${line.previous_unit_price}`),
      line.problem && h('div', { class: 'error small', role: 'alert' }, line.problem)),
    editable ? quantityStepper(line) : h('span', { class: 'qty' }, `× ${line.quantity}`),
    h('strong', { class: 'line-total' }, money(line.line_total_minor))));
  return h('div', { class: 'summary' },
    h('ul', { class: 'lines' }, lines),
    totalsList(value));
}

/** Subtotal, discount, tax and total as a definition list. */
export function totalsList(value) {
  const row = (label, amount, cls) => [h('dt', { class: cls }, label), h('dd', { class: cls }, amount)];
  const taxLabel = value.tax_inclusive ? 'Tax (included)' : 'Tax';
  return h('dl', { class: 'totals' },
    row('Subtotal', money(value.subtotal_minor)),
    value.discount_minor > 0 && row(`Discount${value.voucher ? ` (${value.voucher.code})` : ''}`, `−${money(value.discount_minor)}`, 'discount'),
    (value.tax_minor > 0 || value.tax_rate_percent > 0) && row(taxLabel, money(value.tax_minor)),
    row('Total', money(value.total_minor), 'grand'));
}

function quantityStepper(line) {
  const change = (quantity) => async (event) => {
    event.currentTarget.disabled = true;
    try {
      await cart.setQuantity(line.id, quantity);
    } catch (error) {
      toast(error.message);
    }
  };
  const max = line.available ?? undefined;
  return h('div', { class: 'stepper', role: 'group', 'aria-label': `Quantity of ${line.name}` },
    h('button', { type: 'button', class: 'icon-button', 'aria-label': line.quantity > 1 ? 'One less' : 'Remove', onclick: change(line.quantity - 1) }, line.quantity > 1 ? '−' : '×'),
    h('output', { 'aria-live': 'polite' }, String(line.quantity)),
    h('button', { type: 'button', class: 'icon-button', 'aria-label': 'One more', disabled: max !== undefined && line.quantity >= max, onclick: change(line.quantity + 1) }, '+'));
}

/** <shop-cart>: the cart drawer, a modal dialog sliding in from the side. */
class ShopCart extends HTMLElement {
  #dialog;
  #body;

  connectedCallback() {
    this.#body = h('div', { class: 'drawer-body' });
    this.#dialog = h('dialog', { class: 'drawer', 'aria-labelledby': 'cart-title' },
      h('header', { class: 'drawer-head' },
        h('h2', { id: 'cart-title' }, 'Your cart'),
        h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close cart', onclick: () => this.close() }, '×')),
      this.#body);
    // A click on the backdrop (outside the panel) closes it.
    this.#dialog.addEventListener('click', (event) => { if (event.target === this.#dialog) this.close(); });
    this.#dialog.addEventListener('click', (event) => {
      if (event.target.closest?.('a[href]')) this.close();
    });
    this.append(this.#dialog);
    cart.addEventListener('change', () => this.#render());
    document.addEventListener('click', (event) => {
      if (event.target.closest?.('[data-open-cart]')) this.open();
    });
    this.#render();
  }

  open() {
    if (!this.#dialog.open) this.#dialog.showModal();
  }

  close() {
    this.#dialog.close();
  }

  #render() {
    const value = cart.value;
    for (const badge of document.querySelectorAll('[data-cart-count]')) {
      badge.textContent = String(value?.item_count ?? 0);
      badge.closest('button')?.setAttribute('aria-label', `Cart, ${value?.item_count ?? 0} items`);
    }
    if (!value) return replace(this.#body, h('p', { class: 'muted' }, 'Loading…'));
    if (value.items.length === 0) {
      return replace(this.#body, h('div', { class: 'empty' },
        h('p', {}, 'Your cart is empty.'),
        h('p', { class: 'muted' }, 'Search above, or ask the assistant: “something for breakfast under $10”.')));
    }
    replace(this.#body,
      value.notices.map((notice) => h('p', { class: 'notice' }, notice)),
      cartSummary(value, { editable: true }),
      voucherForm(value),
      h('a', { class: 'button primary wide', href: '/checkout' }, 'Checkout'));
  }
}

function voucherForm(value) {
  if (value.voucher) {
    return h('p', { class: 'voucher' }, `Voucher ${value.voucher.code}: ${value.voucher.description} `,
      h('button', { type: 'button', class: 'link', onclick: () => cart.apply(shopApi.removeVoucher()).catch((e) => toast(e.message)) }, 'Remove'));
  }
  const input = h('input', { id: 'voucher-code', name: 'code', autocomplete: 'off', 'aria-describedby': 'voucher-error' });
  const error = h('p', { id: 'voucher-error', class: 'field-error' }, value.voucher_problem?.reason ?? '');
  return h('form', {
    class: 'voucher-form',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      try {
        await cart.apply(shopApi.applyVoucher(input.value.trim()));
      } catch (e) {
        error.textContent = e.reasonFor?.('code') ?? e.message;
        input.setAttribute('aria-invalid', 'true');
      }
    },
  }, h('label', { for: 'voucher-code' }, 'Voucher code'), h('div', { class: 'inline' }, input, h('button', { class: 'button' }, 'Apply')), error);
}

customElements.define('shop-cart', ShopCart);
