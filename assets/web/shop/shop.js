// The shop's public facts (name, currency, tax, ways to pay, colours, logo),
// fetched once from GET /api/v1/shop and shared by every view.

import { shopApi } from './api.js';
import { useCurrency } from './dom.js';

let info = null;

/**
 * Puts the shop's colours in the custom properties the styles read, and its
 * logo in the header. The colours come from settings that only accept
 * `#rrggbb` with readable contrast; the darker and softer shades derive from them.
 */
function applyBrand(brand) {
  if (!brand) return;
  const root = document.documentElement.style;
  root.setProperty('--brand', brand.primary);
  root.setProperty('--brand-dark', `color-mix(in srgb, ${brand.primary} 78%, black)`);
  root.setProperty('--brand-soft', `color-mix(in srgb, ${brand.primary} 12%, white)`);
  root.setProperty('--accent', brand.accent);
  const chat = document.querySelector('shopkeep-chat');
  chat?.style.setProperty('--chat-brand', brand.primary);
  chat?.style.setProperty('--chat-brand-dark', `color-mix(in srgb, ${brand.primary} 78%, black)`);
  chat?.style.setProperty('--chat-soft', `color-mix(in srgb, ${brand.primary} 12%, white)`);
  chat?.style.setProperty('--chat-accent', brand.accent);
  if (brand.logo_url) {
    for (const img of document.querySelectorAll('[data-shop-logo]')) img.src = brand.logo_url;
  }
}

/** The shop's facts; the first call fetches them and sets the page's name, currency and brand. */
export function shopInfo() {
  info ??= shopApi.shop().then((shop) => {
    useCurrency(shop.currency, shop.currency_exponent);
    for (const el of document.querySelectorAll('[data-shop-name]')) el.textContent = shop.name;
    applyBrand(shop.brand);
    return shop;
  }).catch((error) => {
    info = null;
    throw error;
  });
  return info;
}
