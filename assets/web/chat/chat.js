// <shopkeep-chat>: the shop assistant as a chat bubble that opens a panel,
// isolated in a shadow root so it can sit on the storefront or on any other
// site. Replies stream as server-sent events from POST /api/v1/chat; product
// cards, the cart, the checkout confirmation and a person joining show up in
// the conversation. The conversation id stays in localStorage, so the history
// comes back after a reload. Everything said is rendered as text, never markup.
// On the shop's own pages the session is the shop's cookie; on another site
// (the widget) it is a token the shop issues in `X-Session-Id`, kept in that
// site's localStorage and sent back as a header, with no cookies across sites.
//
// To the page it dispatches (bubbling, composed):
//   shopkeep:cart  detail = the cart as GET /api/v1/cart returns it, or null: reload it
//   shopkeep:order detail = {number}: an order was placed in the chat

const STORAGE_KEY = 'shopkeep.chat.conversation';
const SPEAK_KEY = 'shopkeep.chat.speak';
const OPEN_KEY = 'shopkeep.chat.open';
const RETRIES = 5;
const TOOL_TEXT = {
  search_products: 'Searching the shop',
  product_details: 'Looking up the product',
  add_to_cart: 'Adding to your cart',
  update_cart: 'Updating your cart',
  remove_from_cart: 'Updating your cart',
  view_cart: 'Checking your cart',
  apply_voucher: 'Applying the voucher',
  checkout: 'Preparing your order',
  order_status: 'Looking up your order',
  recommend: 'Finding suggestions',
  store_info: 'Checking the shop’s answers',
};

/** An element with attributes, listeners (`onclick`) and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';

/** A 24×24 line icon from path data. */
function icon(...paths) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  for (const d of paths) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

const ICONS = {
  chat: ['M4 5h16v11H9l-5 4z'],
  close: ['M6 6l12 12M18 6L6 18'],
  send: ['M4 12l16-8-6 16-2-7z'],
  mic: ['M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z', 'M5 11a7 7 0 0 0 14 0M12 18v3'],
  speaker: ['M4 9h4l5-4v14l-5-4H4z', 'M16 9a4 4 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11'],
};

/** Reads server-sent events from a response body, calling onEvent(name, data) for each. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll('\r\n', '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The part of EventSource used here, over fetch(): a stream that must carry a
 * header, which EventSource cannot send. Reconnects after a drop, like it.
 */
class HeaderEventSource extends EventTarget {
  #stop = new AbortController();

  constructor(open) {
    super();
    this.#run(open);
  }

  async #run(open) {
    while (!this.#stop.signal.aborted) {
      try {
        const response = await open(this.#stop.signal);
        if (response.status === 404) return;
        if (response.ok) {
          this.dispatchEvent(new Event('open'));
          await readEvents(response.body, (name, data) => this.dispatchEvent(new MessageEvent(name, { data: JSON.stringify(data) })));
        }
      } catch {
        // Dropped or offline: try again below.
      }
      await sleep(3000);
    }
  }

  close() {
    this.#stop.abort();
  }
}

/** Resolves when the browser is online again, or after `ms`, whichever is first. */
function networkOrTimeout(ms) {
  return new Promise((resolve) => {
    const done = () => { removeEventListener('online', done); clearTimeout(timer); resolve(); };
    const timer = setTimeout(done, navigator.onLine ? ms : 60_000);
    addEventListener('online', done);
  });
}

class ShopkeepChat extends HTMLElement {
  #base;
  #ui = {};
  #conversation = null;
  #busy = false;
  #live = null;
  #liveOpenedBefore = false;
  #seenAdmin = new Set();
  #staff = 'Shop staff';
  #lastId = 0;
  #historyLoaded = false;
  #speak = false;
  #recognition = null;
  #crossSite = false;
  #tokenKey = '';

  connectedCallback() {
    if (this.shadowRoot) return;
    // The server that served this script answers the API (the storefront, or
    // the shop behind a widget on another site).
    this.#base = new URL(this.getAttribute('api') || new URL('../../', import.meta.url).href, location.href);
    this.#crossSite = this.#base.origin !== location.origin;
    this.#tokenKey = `shopkeep.session@${this.#base.origin}`;
    this.#conversation = localStorage.getItem(STORAGE_KEY);
    this.#speak = localStorage.getItem(SPEAK_KEY) === 'on';
    this.#build();
    if (this.#conversation) this.#loadHistory().catch(() => {});
    if (sessionStorage.getItem(OPEN_KEY) === 'yes') this.open({ focus: false });
  }

  disconnectedCallback() {
    this.#live?.close();
  }

  #url(path) {
    return new URL(path, this.#base).href;
  }

  /** The session header on another site (the widget's token), else nothing: the cookie goes. */
  #sessionHeaders(headers = {}) {
    const token = this.#crossSite ? localStorage.getItem(this.#tokenKey) : null;
    return token ? { ...headers, 'x-session-id': token } : headers;
  }

  /** fetch() to the shop in this shopper's session; keeps a token the shop issues. */
  async #fetch(path, init = {}) {
    const response = await fetch(this.#url(path), {
      ...init,
      headers: this.#sessionHeaders(init.headers),
      credentials: this.#crossSite ? 'omit' : 'include',
    });
    const issued = response.headers.get('x-session-id');
    if (this.#crossSite && issued) localStorage.setItem(this.#tokenKey, issued);
    return response;
  }

  #build() {
    const root = this.attachShadow({ mode: 'open' });
    const ui = this.#ui;
    ui.badge = el('span', { class: 'badge', hidden: true });
    ui.bubble = el('button', {
      type: 'button', class: 'bubble', 'aria-expanded': 'false', 'aria-controls': 'panel',
      'aria-label': 'Chat with the shop assistant', onclick: () => this.toggle(),
    }, icon(...ICONS.chat), ui.badge);
    ui.status = el('p', { class: 'status' }, 'Ask about products, your cart or an order');
    ui.speakToggle = el('button', {
      type: 'button', class: 'icon', 'aria-pressed': String(this.#speak), 'aria-label': 'Read replies aloud',
      title: 'Read replies aloud', hidden: !('speechSynthesis' in window), onclick: () => this.#toggleSpeech(),
    }, icon(...ICONS.speaker));
    ui.log = el('ol', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
    ui.typing = el('p', { class: 'typing', hidden: true }, el('span', { class: 'dots', 'aria-hidden': 'true' }, el('i'), el('i'), el('i')), el('span', { class: 'sr-only' }, 'The assistant is typing'));
    ui.notice = el('div', { class: 'notice', role: 'status', hidden: true });
    ui.input = el('textarea', {
      id: 'message', name: 'message', rows: '1', maxlength: '2000', autocomplete: 'off',
      placeholder: 'Type a message…', enterkeyhint: 'send',
      onkeydown: (event) => {
        if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          ui.form.requestSubmit();
        }
      },
      oninput: () => this.#fitInput(),
    });
    ui.mic = el('button', { type: 'button', class: 'icon mic', 'aria-pressed': 'false', 'aria-label': 'Speak your message', title: 'Speak', hidden: !speechRecognition(), onclick: () => this.#listen() }, icon(...ICONS.mic));
    ui.send = el('button', { type: 'submit', class: 'icon send', 'aria-label': 'Send' }, icon(...ICONS.send));
    ui.form = el('form', {
      class: 'composer',
      onsubmit: (event) => {
        event.preventDefault();
        const text = ui.input.value.trim();
        if (!text || this.#busy) return;
        ui.input.value = '';
        this.#fitInput();
        this.send(text);
      },
    }, el('label', { for: 'message', class: 'sr-only' }, 'Message to the shop assistant'), ui.input, ui.mic, ui.send);
    ui.panel = el('section', { id: 'panel', class: 'panel', role: 'dialog', 'aria-label': 'Shop assistant', hidden: true, onkeydown: (event) => { if (event.key === 'Escape') this.close(); } },
      el('header', {},
        el('div', { class: 'who' }, el('h2', {}, 'Shop assistant'), ui.status),
        ui.speakToggle,
        el('button', { type: 'button', class: 'icon', 'aria-label': 'Close chat', title: 'Close', onclick: () => this.close() }, icon(...ICONS.close))),
      ui.log, ui.typing, ui.notice, ui.form);
    const style = el('link', { rel: 'stylesheet', href: new URL('chat.css', import.meta.url).href });
    root.append(style, ui.panel, ui.bubble);
  }

  get isOpen() {
    return !this.#ui.panel.hidden;
  }

  open({ focus = true } = {}) {
    const ui = this.#ui;
    ui.panel.hidden = false;
    ui.bubble.setAttribute('aria-expanded', 'true');
    ui.badge.hidden = true;
    sessionStorage.setItem(OPEN_KEY, 'yes');
    if (!ui.log.childElementCount) this.#greet();
    this.#scroll();
    if (focus) ui.input.focus();
  }

  close() {
    const ui = this.#ui;
    ui.panel.hidden = true;
    ui.bubble.setAttribute('aria-expanded', 'false');
    sessionStorage.removeItem(OPEN_KEY);
    ui.bubble.focus();
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  #greet() {
    const hello = this.#message('assistant', 'Hi! I can find products, fill your cart and place your order. What are you looking for?');
    hello.classList.add('greeting');
  }

  /** Adds a message to the log as plain text and returns its item. */
  #message(role, text, label) {
    const item = el('li', { class: `msg ${role}` },
      label && el('span', { class: 'from' }, label),
      el('p', { class: 'text' }, text));
    this.#ui.log.append(item);
    this.#scroll();
    return item;
  }

  #note(text) {
    this.#ui.log.append(el('li', { class: 'note' }, text));
    this.#scroll();
  }

  #scroll() {
    const log = this.#ui.log;
    requestAnimationFrame(() => { log.scrollTop = log.scrollHeight; });
  }

  #fitInput() {
    const input = this.#ui.input;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
  }

  #remember(id) {
    if (!id || id === this.#conversation) return;
    this.#conversation = id;
    localStorage.setItem(STORAGE_KEY, id);
    this.#listenLive();
  }

  #forget() {
    this.#conversation = null;
    localStorage.removeItem(STORAGE_KEY);
    this.#live?.close();
    this.#live = null;
  }

  /** Sends one message and shows the streamed reply. */
  async send(text) {
    if (this.#busy) return;
    this.#busy = true;
    this.#ui.send.disabled = true;
    for (const old of this.#ui.log.querySelectorAll('.confirm button')) old.disabled = true;
    if (!this.isOpen) this.open({ focus: false });
    const question = this.#message('shopper', text);
    const turn = new Turn(this.#ui.log, question, () => this.#scroll());
    this.#typing(true);
    try {
      await this.#stream(text, turn);
    } finally {
      this.#typing(false);
      this.#busy = false;
      this.#ui.send.disabled = false;
    }
  }

  async #stream(text, turn) {
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await this.#fetch('api/v1/chat', {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ message: text, conversation_id: this.#conversation ?? undefined }),
        });
      } catch {
        // The message never reached the shop: wait for the network and send it again.
        if (attempt >= RETRIES) return this.#offerRetry(text, turn);
        this.#notify(navigator.onLine ? 'Connection lost — trying again…' : 'You are offline — your message goes out when the connection is back.');
        await networkOrTimeout(1000 * 2 ** attempt);
        continue;
      }
      this.#notify('');
      if (response.status === 404 && this.#conversation) {
        // The conversation is gone (another session, or cleared): start afresh.
        this.#forget();
        continue;
      }
      if (!response.ok) return this.#refused(response, text, turn);
      try {
        await readEvents(response.body, (name, data) => this.#onEvent(name, data, turn));
      } catch {
        // The answer broke off; the shop still finishes the turn, so read it from the history.
      }
      if (!turn.finished) await this.#recover(turn);
      return;
    }
  }

  async #refused(response, text, turn) {
    const problem = await response.json().catch(() => null);
    turn.fail(problem?.errors?.[0]?.reason ?? problem?.detail ?? 'The assistant could not answer just now.');
    if (response.status === 429 || response.status >= 500) this.#offerRetry(text, turn);
  }

  #offerRetry(text, turn) {
    if (!turn.finished) turn.fail('The message could not be sent.');
    this.#notify('Could not reach the shop.', ' ', el('button', {
      type: 'button', class: 'link',
      onclick: () => { this.#notify(''); turn.remove(); this.send(text); },
    }, 'Try again'));
  }

  /** After a broken stream: waits for the reply to land in the history, then shows it. */
  async #recover(turn) {
    this.#notify('Connection lost — fetching the reply…');
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      await networkOrTimeout(1000 * 2 ** attempt);
      try {
        const history = await this.#fetchHistory(0);
        const last = history.messages.at(-1);
        if (last && last.role !== 'shopper') {
          turn.finish({ reply: last.content });
          this.#notify('');
          this.#dispatch('shopkeep:cart', null);
          return;
        }
      } catch {
        // Still offline; try again.
      }
    }
    turn.fail('The reply did not arrive. Please send your message again.');
    this.#notify('');
  }

  #onEvent(name, data, turn) {
    switch (name) {
      case 'conversation': return this.#remember(data.conversation_id);
      case 'token': this.#typing(false); return turn.append(data.text);
      case 'tool_call': return turn.activity(data.name, TOOL_TEXT[data.name] ?? 'Working on it');
      case 'tool_result': return turn.activityDone(data.name, data.ok, data.summary);
      case 'products': return turn.products(data.products.map((p) => this.#card(p)));
      case 'cart':
        turn.cart = data;
        return this.#dispatch('shopkeep:cart', data);
      case 'confirmation': turn.confirm = true; return undefined;
      case 'handoff': return this.#joined(data.by);
      case 'done': return this.#done(data, turn);
      case 'error': this.#typing(false); return turn.fail(data.detail ?? 'The assistant could not answer just now.');
      default: return undefined;
    }
  }

  #done(data, turn) {
    this.#typing(false);
    turn.finish(data);
    if (turn.confirm && turn.cart) turn.attach(this.#confirmCard(turn.cart));
    if (data.order_number) {
      turn.attach(el('p', { class: 'placed' }, el('a', { href: this.#url(`orders/${encodeURIComponent(data.order_number)}`) }, `View order ${data.order_number}`)));
      this.#dispatch('shopkeep:order', { number: data.order_number });
      this.#dispatch('shopkeep:cart', null);
    }
    if (data.reply) this.#say(data.reply);
    if (!this.isOpen) this.#ui.badge.hidden = false;
  }

  #dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #typing(on) {
    this.#ui.typing.hidden = !on;
    if (on) this.#scroll();
  }

  #notify(text, ...extra) {
    const notice = this.#ui.notice;
    notice.replaceChildren(text, ...extra);
    notice.hidden = !text;
  }

  /** A product card with its price, stock and an "add to cart" button. */
  #card(product) {
    const status = el('span', { class: 'added', role: 'status' });
    const add = el('button', { type: 'button', class: 'add', disabled: !product.in_stock, 'aria-label': `Add ${product.name} to cart` }, product.in_stock ? 'Add to cart' : 'Sold out');
    add.addEventListener('click', async () => {
      add.disabled = true;
      status.textContent = '';
      try {
        const response = await this.#fetch('api/v1/cart/items', {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ product_id: product.id, quantity: 1 }),
        });
        const body = await response.json().catch(() => null);
        if (!response.ok) {
          const needsOption = body?.errors?.[0]?.field === 'variant_id';
          throw new Error(needsOption ? 'Choose an option on its page' : body?.errors?.[0]?.reason ?? body?.detail ?? 'Could not add it');
        }
        status.textContent = 'Added ✓';
        this.#dispatch('shopkeep:cart', body);
      } catch (error) {
        status.textContent = error.message;
      } finally {
        add.disabled = !product.in_stock;
      }
    });
    return el('li', { class: 'card' },
      el('a', { class: 'name', href: this.#url(`products/${encodeURIComponent(product.handle)}`) }, product.name),
      product.brand && el('span', { class: 'brand' }, product.brand),
      el('span', { class: 'price' }, product.price),
      el('div', { class: 'card-foot' }, add, status));
  }

  /** The order summary waiting for yes or no, with the buttons that answer it. */
  #confirmCard(cart) {
    const answer = (text) => () => this.send(text);
    return el('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm your order' },
      el('p', { class: 'confirm-title' }, 'Place this order?'),
      el('ul', {}, cart.items.map((line) => el('li', {}, el('span', {}, `${line.quantity} × ${line.name}`), el('span', {}, amount(line.line_total, cart.currency))))),
      el('p', { class: 'confirm-total' }, el('span', {}, 'Total'), el('strong', {}, amount(cart.total, cart.currency))),
      el('div', { class: 'confirm-actions' },
        el('button', { type: 'button', class: 'yes', onclick: answer('yes') }, 'Yes, place it'),
        el('button', { type: 'button', class: 'no', onclick: answer('no') }, 'No')));
  }

  #joined(by) {
    if (by) this.#staff = `${by} · shop`;
    this.#ui.status.textContent = by ? `${by} from the shop is here` : 'Ask about products, your cart or an order';
    this.#note(by ? `${by} from the shop joined the chat` : 'The assistant is back');
    this.#listenLive();
  }

  async #fetchHistory(after) {
    const path = `api/v1/conversations/${encodeURIComponent(this.#conversation)}${after ? `?after=${after}` : ''}`;
    const response = await this.#fetch(path, { headers: { accept: 'application/json' } });
    if (response.status === 404) {
      this.#forget();
      throw new Error('no such conversation');
    }
    if (!response.ok) throw new Error(`history: ${response.status}`);
    const history = await response.json();
    for (const m of history.messages) this.#lastId = Math.max(this.#lastId, m.id);
    return history;
  }

  /** Shows the stored conversation after a reload, and listens for the shop's people. */
  async #loadHistory() {
    const history = await this.#fetchHistory(0);
    if (this.#historyLoaded || this.#ui.log.querySelector('.msg.shopper')) return;
    this.#historyLoaded = true;
    this.#ui.log.replaceChildren();
    for (const m of history.messages) this.#showStored(m);
    if (history.taken_over) this.#ui.status.textContent = 'A person from the shop is here';
    this.#listenLive();
  }

  #showStored(m) {
    if (m.role === 'admin') {
      if (this.#seenAdmin.has(m.id)) return;
      this.#seenAdmin.add(m.id);
      this.#message('admin', m.content, this.#staff);
    } else if (m.content) {
      this.#message(m.role === 'shopper' ? 'shopper' : 'assistant', m.content);
    }
  }

  /** Keeps a stream open for a person from the shop joining and writing. */
  #listenLive() {
    if (this.#live || !this.#conversation || typeof EventSource === 'undefined') return;
    const url = this.#url(`api/v1/conversations/${encodeURIComponent(this.#conversation)}/events`);
    const live = this.#crossSite
      ? new HeaderEventSource((signal) => fetch(url, { signal, credentials: 'omit', headers: this.#sessionHeaders({ accept: 'text/event-stream' }) }))
      : new EventSource(url, { withCredentials: true });
    this.#live = live;
    live.addEventListener('open', () => {
      // After a reconnect, pick up what the shop said meanwhile.
      if (this.#liveOpenedBefore) this.#catchUp();
      this.#liveOpenedBefore = true;
    });
    live.addEventListener('handoff', (event) => {
      const data = JSON.parse(event.data);
      this.#joined(data.by);
    });
    live.addEventListener('message', (event) => {
      const data = JSON.parse(event.data);
      if (data.role !== 'admin' || this.#seenAdmin.has(data.id)) return;
      this.#seenAdmin.add(data.id);
      this.#lastId = Math.max(this.#lastId, data.id);
      this.#message('admin', data.content, this.#staff);
      this.#say(data.content);
      if (!this.isOpen) this.#ui.badge.hidden = false;
    });
  }

  async #catchUp() {
    try {
      const history = await this.#fetchHistory(this.#lastId);
      for (const m of history.messages) if (m.role === 'admin') this.#showStored(m);
    } catch {
      // The live stream retries by itself.
    }
  }

  #toggleSpeech() {
    this.#speak = !this.#speak;
    localStorage.setItem(SPEAK_KEY, this.#speak ? 'on' : 'off');
    this.#ui.speakToggle.setAttribute('aria-pressed', String(this.#speak));
    if (!this.#speak) speechSynthesis.cancel();
  }

  #say(text) {
    if (!this.#speak || !('speechSynthesis' in window)) return;
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = document.documentElement.lang || 'en';
    speechSynthesis.speak(utterance);
  }

  /** Dictation: what the shopper says fills the box and is sent when they stop. */
  #listen() {
    const Recognition = speechRecognition();
    if (!Recognition) return;
    if (this.#recognition) return this.#recognition.stop();
    const recognition = new Recognition();
    recognition.lang = document.documentElement.lang || 'en';
    recognition.interimResults = true;
    recognition.addEventListener('result', (event) => {
      this.#ui.input.value = Array.from(event.results, (r) => r[0].transcript).join('');
    });
    recognition.addEventListener('end', () => {
      this.#recognition = null;
      this.#ui.mic.setAttribute('aria-pressed', 'false');
      if (this.#ui.input.value.trim()) this.#ui.form.requestSubmit();
    });
    recognition.addEventListener('error', (event) => this.#notify(event.error === 'not-allowed' ? 'The microphone is blocked for this site.' : ''));
    this.#recognition = recognition;
    this.#ui.mic.setAttribute('aria-pressed', 'true');
    recognition.start();
  }
}

/** A decimal amount ("4.99") in a currency as the shopper reads it. */
function amount(decimal, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(Number(decimal));
  } catch {
    return `${decimal} ${currency}`;
  }
}

function speechRecognition() {
  return window.SpeechRecognition || window.webkitSpeechRecognition || null;
}

/** One assistant reply as it streams in: its text, the tools at work, cards. */
class Turn {
  finished = false;
  confirm = false;
  cart = null;
  #text;
  #item;
  #activities = new Map();
  #question;
  #onGrow;

  constructor(log, question, onGrow) {
    this.#question = question;
    this.#text = el('p', { class: 'text' });
    this.#item = el('li', { class: 'msg assistant', 'aria-busy': 'true' }, this.#text);
    this.#onGrow = onGrow;
    log.append(this.#item);
  }

  append(text) {
    this.#text.append(text);
    this.#onGrow();
  }

  activity(name, label) {
    const line = el('p', { class: 'tool', 'data-state': 'working' }, `${label}…`);
    this.#activities.set(name, line);
    this.#text.before(line);
    this.#onGrow();
  }

  activityDone(name, ok, summary) {
    const line = this.#activities.get(name);
    if (!line) return;
    line.dataset.state = ok ? 'done' : 'failed';
    line.textContent = ok ? line.textContent.replace(/…$/, '') : `Could not do that: ${summary}`;
  }

  products(cards) {
    this.attach(el('ul', { class: 'cards', 'aria-label': 'Products' }, cards));
  }

  attach(node) {
    this.#item.hidden = false;
    this.#item.append(node);
    this.#onGrow();
  }

  finish(data) {
    this.finished = true;
    if (!this.#text.textContent && data.reply) this.#text.textContent = data.reply;
    if (!this.#text.textContent && !this.#item.querySelector('.cards')) this.#item.hidden = true;
    this.#item.setAttribute('aria-busy', 'false');
    this.#onGrow();
  }

  fail(reason) {
    this.finished = true;
    this.#item.classList.add('failed');
    this.#item.setAttribute('aria-busy', 'false');
    this.attach(el('p', { class: 'error' }, reason));
  }

  /** Takes the question and its failed answer out of the log (before sending it again). */
  remove() {
    this.#question.remove();
    this.#item.remove();
  }
}

customElements.define('shopkeep-chat', ShopkeepChat);
