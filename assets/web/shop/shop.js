// The shop's public facts (name, currency, tax, ways to pay), fetched once
// from GET /api/v1/shop and shared by every view.

import { shopApi } from './api.js';
import { useCurrency } from './dom.js';

let info = null;

/** The shop's facts; the first call fetches them and sets the page's name and currency. */
export function shopInfo() {
  info ??= shopApi.shop().then((shop) => {
    useCurrency(shop.currency, shop.currency_exponent);
    for (const el of document.querySelectorAll('[data-shop-name]')) el.textContent = shop.name;
    return shop;
  }).catch((error) => {
    info = null;
    throw error;
  });
  return info;
}
