// The dashboard's frame in the browser: the menu button on narrow screens and
// loading the current page's module (`pages/<slug>.js`), which draws the page
// into <main>. The server sends the frame only with a live session.

import { replace, h, useCurrency } from '/static/shop/dom.js';
import { dashboard } from './api.js';

const main = document.getElementById('page');
const menu = document.querySelector('.menu');
const nav = document.getElementById('nav');

menu?.addEventListener('click', () => {
  const open = menu.getAttribute('aria-expanded') !== 'true';
  menu.setAttribute('aria-expanded', String(open));
  nav.classList.toggle('open', open);
});

async function start() {
  const slug = main.dataset.page;
  try {
    const shop = await dashboard.request('/api/v1/shop');
    useCurrency(shop.currency, shop.currency_exponent);
    const page = await import(`./pages/${slug}.js`);
    await page.render(main, dashboard);
  } catch (error) {
    replace(main,
      h('h1', {}, document.title.split(' · ')[0]),
      h('p', { class: 'notice notice-error', role: 'alert' }, `This page could not be drawn: ${error.message}`));
  } finally {
    main.removeAttribute('aria-busy');
  }
}

start();
