// <shop-search>: the search box with type-ahead suggestions (an ARIA
// combobox). Suggestions are product names from /api/v1/search/suggest;
// choosing one opens the product, Enter searches for the words typed.

import { shopApi } from './api.js';
import { h, replace } from './dom.js';
import { navigate } from './router.js';

const SUGGEST_DELAY_MS = 120;

class ShopSearch extends HTMLElement {
  #input;
  #list;
  #options = [];
  #active = -1;
  #timer = 0;
  #pending = null;

  connectedCallback() {
    this.#input = h('input', {
      id: 'search-input', type: 'search', name: 'q', autocomplete: 'off', spellcheck: false,
      placeholder: 'Search products', role: 'combobox', 'aria-autocomplete': 'list',
      'aria-expanded': 'false', 'aria-controls': 'search-suggestions',
      oninput: () => this.#typed(), onkeydown: (event) => this.#key(event),
      onblur: () => setTimeout(() => this.#close(), 150),
    });
    this.#list = h('ul', { id: 'search-suggestions', role: 'listbox', 'aria-label': 'Suggestions', hidden: true });
    const form = h('form', { role: 'search', onsubmit: (event) => { event.preventDefault(); this.#search(); } },
      h('label', { for: 'search-input', class: 'sr-only' }, 'Search products'),
      this.#input,
      h('button', { class: 'search-go', 'aria-label': 'Search' }),
      this.#list);
    this.append(form);
    this.value = new URLSearchParams(location.search).get('q') ?? '';
  }

  get value() { return this.#input.value; }

  set value(text) {
    if (document.activeElement !== this.#input) this.#input.value = text;
  }

  #typed() {
    clearTimeout(this.#timer);
    const q = this.#input.value.trim();
    this.dispatchEvent(new CustomEvent('search-typed', { bubbles: true, detail: { q } }));
    if (!q) return this.#close();
    this.#timer = setTimeout(() => this.#suggest(q), SUGGEST_DELAY_MS);
  }

  async #suggest(q) {
    this.#pending?.abort();
    const controller = new AbortController();
    this.#pending = controller;
    try {
      const { suggestions } = await shopApi.suggest(q, controller.signal);
      if (controller.signal.aborted || this.#input.value.trim() !== q) return;
      this.#show(suggestions);
    } catch {
      // Type-ahead is a convenience: a failed suggestion leaves the box as it is.
    }
  }

  #show(suggestions) {
    this.#active = -1;
    this.#input.removeAttribute('aria-activedescendant');
    this.#options = suggestions.map((s, i) => h('li', {
      id: `suggestion-${i}`, role: 'option', 'aria-selected': 'false', dataset: { handle: s.handle },
      onmousedown: (event) => event.preventDefault(),
      onclick: () => this.#open(s.handle),
    }, s.name));
    replace(this.#list, this.#options);
    this.#list.hidden = this.#options.length === 0;
    this.#input.setAttribute('aria-expanded', String(!this.#list.hidden));
  }

  #close() {
    this.#list.hidden = true;
    this.#active = -1;
    this.#input.setAttribute('aria-expanded', 'false');
    this.#input.removeAttribute('aria-activedescendant');
  }

  #key(event) {
    const open = !this.#list.hidden && this.#options.length > 0;
    if (event.key === 'ArrowDown' && open) this.#move(1, event);
    else if (event.key === 'ArrowUp' && open) this.#move(-1, event);
    else if (event.key === 'Escape' && open) { event.preventDefault(); this.#close(); }
    else if (event.key === 'Enter' && open && this.#active >= 0) {
      event.preventDefault();
      this.#open(this.#options[this.#active].dataset.handle);
    }
  }

  #move(step, event) {
    event.preventDefault();
    const count = this.#options.length;
    this.#active = (this.#active + step + count) % count;
    this.#options.forEach((option, i) => option.setAttribute('aria-selected', String(i === this.#active)));
    const option = this.#options[this.#active];
    this.#input.setAttribute('aria-activedescendant', option.id);
    option.scrollIntoView({ block: 'nearest' });
  }

  #open(handle) {
    this.#close();
    navigate(`/products/${encodeURIComponent(handle)}`);
  }

  #search() {
    this.#close();
    const params = new URLSearchParams(location.pathname === '/' ? location.search : '');
    params.delete('q');
    const q = this.#input.value.trim();
    if (q) params.set('q', q);
    navigate(`/?${params}`, { focus: false });
  }
}

customElements.define('shop-search', ShopSearch);
