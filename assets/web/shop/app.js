// The storefront: its routes, the shop's name on the page, the cart, and
// what the chat tells the page (an order placed in the conversation).

import { cart } from './cart.js';
import { catalogView } from './catalog.js';
import { checkoutView } from './checkout.js';
import { toast } from './dom.js';
import { orderView, ordersView } from './orders.js';
import { productView } from './product.js';
import { route, start } from './router.js';
import './search-box.js';
import { shopInfo } from './shop.js';

route(/^\/$/, catalogView);
route(/^\/products\/([^/]+)\/?$/, productView);
route(/^\/checkout\/?$/, checkoutView);
route(/^\/orders\/?$/, ordersView);
route(/^\/orders\/([^/]+)\/?$/, orderView);

document.addEventListener('shopkeep:order', (event) => {
  cart.load().catch(() => {});
  toast(`Order ${event.detail.number} is placed — see it under My orders`);
});

shopInfo().catch(() => {});
cart.load().catch(() => {});
start(document.getElementById('main'));
