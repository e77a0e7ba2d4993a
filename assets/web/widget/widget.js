// The shop's chat on any website, from one tag:
//   <script src="https://SHOP/widget.js" data-shop="https://SHOP" async></script>
// It puts a host element in a shadow root of its own (the page's styles stay
// out, the widget's stay in), asks the shop whether this site may use its
// chat (CORS: only origins on the shop's allowlist get an answer), then
// loads <shopkeep-chat> from the shop and points it at the shop's API.
// A plain script, not a module, so it works in any page without a build.
(() => {
  const script = document.currentScript || document.querySelector('script[data-shop]');
  if (!script || window.__shopkeepWidget) return;
  window.__shopkeepWidget = true;

  let shop;
  try {
    shop = new URL(script.dataset.shop || script.src, location.href).origin;
  } catch {
    return;
  }

  function mount() {
    const host = document.createElement('div');
    host.setAttribute('data-shopkeep-widget', '');
    const root = host.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    // `all: initial` stops the page's inherited fonts and colours at the door.
    style.textContent = ':host{all:initial;position:fixed;right:0;bottom:0;z-index:2147483000}'
      + '.note{all:initial;position:fixed;right:20px;bottom:20px;max-width:260px;padding:10px 14px;border-radius:12px;'
      + 'background:#fff;color:#1c1b19;border:1px solid #e3ded3;box-shadow:0 4px 16px rgb(0 0 0/15%);'
      + 'font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}';
    root.append(style);
    document.body.append(host);
    return root;
  }

  function politeNote(root) {
    const note = document.createElement('p');
    note.className = 'note';
    note.setAttribute('role', 'status');
    note.textContent = 'The shop’s chat is not available on this page.';
    root.append(note);
  }

  async function start() {
    const root = mount();
    let brand = null;
    try {
      const response = await fetch(`${shop}/api/v1/shop`, { credentials: 'omit', headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`shop answered ${response.status}`);
      brand = (await response.json()).brand;
      await import(`${shop}/static/chat/chat.js`);
    } catch {
      // Refused by CORS (this origin is not on the shop's allowlist) or the shop is down.
      politeNote(root);
      return;
    }
    const chat = document.createElement('shopkeep-chat');
    chat.setAttribute('api', `${shop}/`);
    if (brand?.primary) chat.style.setProperty('--chat-brand', brand.primary);
    if (brand?.accent) chat.style.setProperty('--chat-accent', brand.accent);
    root.append(chat);
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
})();
