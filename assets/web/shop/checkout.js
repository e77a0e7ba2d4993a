// The checkout page: contact, delivery or pickup, payment and a note, with
// each field checked as the shopper leaves it and the server's field errors
// (problem+json `errors`) shown beside the field they are about.

import { ApiError, shopApi } from './api.js';
import { cart, cartSummary } from './cart.js';
import { h, randomKey, replace } from './dom.js';
import { navigate } from './router.js';
import { shopInfo } from './shop.js';

const ADDRESS_FIELDS = [
  ['delivery.address.line1', 'Address', { autocomplete: 'address-line1', required: true }],
  ['delivery.address.line2', 'Address line 2 (optional)', { autocomplete: 'address-line2' }],
  ['delivery.address.city', 'City', { autocomplete: 'address-level2', required: true }],
  ['delivery.address.region', 'State or region (optional)', { autocomplete: 'address-level1' }],
  ['delivery.address.postal_code', 'Postal code', { autocomplete: 'postal-code', required: true }],
  ['delivery.address.country', 'Country', { autocomplete: 'country-name', required: true }],
];

export async function checkoutView(main, _groups, signal) {
  const [shop, value] = await Promise.all([shopInfo(), cart.load()]);
  if (signal.aborted) return;
  document.title = `Checkout · ${shop.name}`;
  if (value.items.length === 0) {
    replace(main, h('h1', {}, 'Checkout'),
      h('div', { class: 'empty' }, h('p', {}, 'Your cart is empty.'), h('a', { class: 'button', href: '/' }, 'Continue shopping')));
    return;
  }
  const summary = h('aside', { class: 'checkout-summary', 'aria-labelledby': 'summary-title' });
  const drawSummary = () => cart.value && replace(summary, h('h2', { id: 'summary-title' }, 'Order summary'), cartSummary(cart.value));
  drawSummary();
  cart.addEventListener('change', drawSummary, { signal });
  replace(main,
    h('h1', {}, 'Checkout'),
    h('div', { class: 'checkout' }, checkoutForm(shop), summary));
}

/** A labelled input with a place for its error, tied together for screen readers. */
function field(name, label, attributes = {}) {
  const id = `f-${name.replaceAll('.', '-')}`;
  const input = h(attributes.multiline ? 'textarea' : 'input', {
    id, name, 'aria-describedby': `${id}-error`, type: attributes.multiline ? null : (attributes.type ?? 'text'),
    autocomplete: attributes.autocomplete, required: attributes.required, maxLength: attributes.maxLength ?? 200,
  });
  input.addEventListener('blur', () => checkField(input));
  input.addEventListener('input', () => { if (input.getAttribute('aria-invalid')) checkField(input); });
  return h('div', { class: 'field' },
    h('label', { for: id }, label, attributes.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    input,
    h('p', { class: 'field-error', id: `${id}-error` }));
}

/** Shows (or clears) the problem with one input, from the browser's own checks. */
function checkField(input) {
  const value = input.value.trim();
  let reason = '';
  if (input.required && !value) reason = 'is required';
  else if (input.type === 'email' && value && !input.checkValidity()) reason = 'is not an email address';
  setError(input, reason);
  return !reason;
}

function setError(input, reason) {
  const error = input.form?.querySelector(`#${CSS.escape(input.id)}-error`) ?? document.getElementById(`${input.id}-error`);
  if (error) error.textContent = reason ? `${labelOf(input)} ${reason}` : '';
  if (reason) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

function labelOf(input) {
  return (input.labels?.[0]?.firstChild?.textContent ?? input.name).replace(/\s*\(optional\)$/, '');
}

function checkoutForm(shop) {
  const address = h('fieldset', { class: 'address' }, h('legend', {}, 'Delivery address'),
    ADDRESS_FIELDS.map(([name, label, attrs]) => field(name, label, attrs)));
  const method = (value, label, hint) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'delivery.method', value, checked: value === 'delivery' }),
    h('span', {}, h('strong', {}, label), h('span', { class: 'muted small' }, hint)));
  const payments = shop.payment_methods.map((p, i) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'payment_method', value: p.id, checked: i === 0 }),
    h('span', {}, h('strong', {}, p.id === 'manual' ? 'Pay later' : p.id), h('span', { class: 'muted small' }, p.description))));
  const alert = h('div', { class: 'form-alert', role: 'alert', tabindex: '-1', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Place order');
  const form = h('form', { class: 'checkout-form', novalidate: true },
    alert,
    h('fieldset', {}, h('legend', {}, 'Contact'),
      field('contact.name', 'Full name', { autocomplete: 'name', required: true }),
      field('contact.email', 'Email', { type: 'email', autocomplete: 'email', required: true, maxLength: 254 }),
      field('contact.phone', 'Phone (optional)', { type: 'tel', autocomplete: 'tel', maxLength: 40 })),
    h('fieldset', { class: 'choices' }, h('legend', {}, 'Delivery'),
      method('delivery', 'Deliver to my address', 'We bring it to your door'),
      method('pickup', 'Pick up at the shop', 'Collect it when it suits you')),
    address,
    h('fieldset', { class: 'choices' }, h('legend', {}, 'Payment'), payments),
    field('note', 'Note for the shop (optional)', { multiline: true, maxLength: 1000 }),
    submit);
  form.addEventListener('change', (event) => {
    if (event.target.name === 'delivery.method') showAddress(form, address);
  });
  let attempt = { body: '', key: '' };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.hidden = true;
    const inputs = [...form.querySelectorAll('input[id], textarea[id]')].filter((i) => !i.closest('[disabled]'));
    const bad = inputs.filter((input) => !checkField(input));
    if (bad.length) return bad[0].focus();
    const details = detailsFrom(form);
    const body = JSON.stringify(details);
    // The same details sent again (a retry after a lost answer) keep their key,
    // so the server places the order at most once.
    if (attempt.body !== body) attempt = { body, key: randomKey() };
    submit.disabled = true;
    submit.textContent = 'Placing your order…';
    try {
      const order = await shopApi.checkout(details, attempt.key);
      cart.load().catch(() => {});
      navigate(`/orders/${encodeURIComponent(order.number)}?placed=1`);
    } catch (error) {
      showProblem(form, alert, error);
      if (error instanceof ApiError) attempt = { body: '', key: '' };
      if (error instanceof ApiError && error.status === 409) cart.load().catch(() => {});
    } finally {
      submit.disabled = false;
      submit.textContent = 'Place order';
    }
  });
  return form;
}

function showAddress(form, address) {
  const pickup = form.elements['delivery.method'].value === 'pickup';
  address.hidden = pickup;
  address.disabled = pickup;
}

/** The checkout request from the form. */
function detailsFrom(form) {
  const value = (name) => form.elements[name]?.value.trim() ?? '';
  const optional = (name) => value(name) || undefined;
  const method = form.elements['delivery.method'].value;
  return {
    contact: { name: value('contact.name'), email: value('contact.email'), phone: optional('contact.phone') },
    delivery: {
      method,
      address: method === 'pickup' ? undefined : {
        line1: value('delivery.address.line1'), line2: optional('delivery.address.line2'),
        city: value('delivery.address.city'), region: optional('delivery.address.region'),
        postal_code: value('delivery.address.postal_code'), country: value('delivery.address.country'),
      },
    },
    payment_method: form.elements.payment_method?.value || undefined,
    note: optional('note'),
  };
}

/** Puts each of the server's field errors by its field; the rest goes in the alert at the top. */
function showProblem(form, alert, error) {
  const loose = [];
  for (const { field: name, reason } of error.errors ?? []) {
    const input = form.elements[name === 'delivery.address' ? 'delivery.address.line1' : name];
    if (input instanceof HTMLElement && input.id) setError(input, reason);
    else loose.push(reason);
  }
  const fieldErrors = (error.errors ?? []).length - loose.length;
  const lines = [fieldErrors ? 'Please check the marked fields.' : error.message, ...loose];
  replace(alert, lines.map((line) => h('p', {}, line)));
  alert.hidden = false;
  const first = form.querySelector('[aria-invalid="true"]');
  (first ?? alert).focus();
}
