// Settings: the shop (name, currency, tax), its brand (colours with a live
// preview, logo), the assistant (tone, instructions), the FAQ, webhooks and
// the chat widget (allowed origins, the tag to paste). Each section saves on
// its own and shows the shop's answer under the fields it is about.

import { h, replace, toast, when } from '/static/shop/dom.js';
import { badge, card, clearProblem, dataTable, field, heading, notice, showProblem, whileBusy } from '../ui.js';

const TONES = [['friendly', 'Friendly'], ['concise', 'Concise'], ['formal', 'Formal']];
const EVENTS = ['order.created', 'order.status_changed', 'stock.low', 'budget.alert'];
const WHITE = [255, 255, 255];
const INK = [0x1c, 0x1b, 0x19];

/** WCAG contrast of two `[r, g, b]` colours. */
function contrast(a, b) {
  const lum = (rgb) => rgb.map((c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** A form that PATCHes its fields to the settings and shows errors under them. */
function settingsForm(dashboard, state, fields, collect, onSaved) {
  const save = h('button', { type: 'submit' }, 'Save');
  const form = h('form', { novalidate: true }, fields, h('div', { class: 'actions' }, save));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    whileBusy(save, async () => {
      clearProblem(form);
      try {
        state.settings = await dashboard.request('/api/v1/admin/settings', { method: 'PATCH', body: collect() });
        toast('Settings saved');
        onSaved?.(state.settings);
      } catch (error) {
        showProblem(form, error);
      }
    });
  });
  return form;
}

function shopSection(dashboard, state) {
  const s = state.settings;
  const name = h('input', { type: 'text', name: 'shop_name', value: s.shop_name, maxlength: '80', required: true, autocomplete: 'organization' });
  const currency = h('input', { type: 'text', name: 'currency', value: s.currency, maxlength: '3', size: '4', disabled: s.currency_locked, autocapitalize: 'characters' });
  const rate = h('input', { name: 'tax_rate_percent', type: 'number', min: '0', max: '100', step: '0.01', value: String(s.tax_rate_percent) });
  const inclusive = h('input', { name: 'tax_inclusive', type: 'checkbox', checked: s.tax_inclusive });
  const currencyHint = s.currency_locked
    ? `Fixed: the shop has orders in ${s.running_currency}, and their amounts would be misstated in another currency.`
    : `ISO code such as USD or EUR. Prices keep their numbers; a new currency applies from the next start (now ${s.running_currency}).`;
  return card('Shop', settingsForm(dashboard, state, [
    field('Shop name', name, 'As shoppers see it in the storefront, the chat and emails.'),
    field('Currency', currency, currencyHint),
    field('Tax rate (%)', rate, 'Applied to every checkout from now on.'),
    h('div', { class: 'field check' }, h('label', {}, inclusive, ' Prices already include tax')),
  ], () => ({
    shop_name: name.value,
    ...(s.currency_locked ? {} : { currency: currency.value.trim().toUpperCase() }),
    tax_rate_percent: rate.value === '' ? NaN : Number(rate.value),
    tax_inclusive: inclusive.checked,
  })));
}

function colourField(label, name, value, check) {
  const picker = h('input', { type: 'color', value, 'aria-label': `${label} picker` });
  const text = h('input', { type: 'text', name, value, maxlength: '7', size: '8', pattern: '#[0-9a-fA-F]{6}', spellcheck: 'false' });
  const rating = h('p', { class: 'hint', 'aria-live': 'polite' });
  const sync = (from) => {
    if (from === picker) text.value = picker.value;
    else if (/^#[0-9a-f]{6}$/i.test(text.value)) picker.value = text.value.toLowerCase();
    const ok = /^#[0-9a-f]{6}$/i.test(text.value);
    rating.textContent = ok ? check(text.value) : 'Use #rrggbb.';
    text.dispatchEvent(new CustomEvent('colour', { bubbles: true }));
  };
  picker.addEventListener('input', () => sync(picker));
  text.addEventListener('input', () => sync(text));
  const wrapper = field(label, text);
  wrapper.querySelector('label').after(h('div', { class: 'colour-pair' }, picker, text));
  wrapper.append(rating);
  sync(text);
  return { wrapper, text };
}

function rated(ratio, against) {
  const value = `${ratio.toFixed(1)}:1 with ${against}`;
  return ratio >= 4.5 ? `Contrast ${value} — readable.` : `Contrast ${value} — too low; the shop will refuse it (needs 4.5:1).`;
}

function brandSection(dashboard, state) {
  const s = state.settings;
  const primary = colourField('Primary colour', 'brand_primary', s.brand_primary, (hex) => rated(contrast(rgb(hex), WHITE), 'white text'));
  const accent = colourField('Accent colour', 'brand_accent', s.brand_accent, (hex) => rated(contrast(rgb(hex), INK), 'dark text'));
  const previewName = h('strong', {}, s.shop_name);
  const previewLogo = h('img', { alt: '', width: '28', height: '28', src: s.logo_url ?? '/static/shop/icon.svg' });
  const preview = h('div', { class: 'brand-preview', 'aria-label': 'Preview of the storefront header', role: 'img' },
    h('div', { class: 'brand-preview-top' }, previewLogo, previewName),
    h('div', { class: 'brand-preview-body' },
      h('span', { class: 'brand-preview-button' }, 'Add to cart'),
      h('span', { class: 'brand-preview-accent' }, 'New')));
  const paint = () => {
    preview.style.setProperty('--preview-primary', primary.text.value);
    preview.style.setProperty('--preview-accent', accent.text.value);
  };
  paint();
  const form = settingsForm(dashboard, state, [h('div', { class: 'brand-grid' }, h('div', {}, primary.wrapper, accent.wrapper), preview)],
    () => ({ brand_primary: primary.text.value, brand_accent: accent.text.value }));
  form.addEventListener('colour', paint);
  return card('Brand', form, logoForm(dashboard, state, previewLogo));
}

function logoForm(dashboard, state, previewLogo) {
  const file = h('input', { type: 'file', name: 'logo', accept: 'image/png,image/svg+xml,image/webp' });
  const upload = h('button', { type: 'submit', class: 'secondary' }, 'Upload logo');
  const remove = h('button', { type: 'button', class: 'danger', hidden: !state.settings.logo_url }, 'Remove logo');
  const form = h('form', { class: 'logo-form', novalidate: true },
    field('Logo', file, 'PNG, WebP or SVG, at most 256 kB. SVGs with scripts or outside links are refused.'),
    h('div', { class: 'actions' }, upload, remove));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return showProblem(form, { message: 'Choose an image first.', errors: [] });
    return whileBusy(upload, async () => {
      clearProblem(form);
      try {
        const saved = await dashboard.upload('/api/v1/admin/settings/logo', chosen, { method: 'PUT', contentType: chosen.type || 'application/octet-stream' });
        state.settings.logo_url = saved.logo_url;
        previewLogo.src = saved.logo_url;
        remove.hidden = false;
        file.value = '';
        toast('Logo saved');
      } catch (error) {
        showProblem(form, error);
      }
    });
  });
  remove.addEventListener('click', () => whileBusy(remove, async () => {
    try {
      await dashboard.request('/api/v1/admin/settings/logo', { method: 'DELETE' });
      state.settings.logo_url = null;
      previewLogo.src = '/static/shop/icon.svg';
      remove.hidden = true;
      toast('Logo removed');
    } catch (error) {
      showProblem(form, error);
    }
  }));
  return form;
}

function assistantSection(dashboard, state) {
  const s = state.settings;
  const tone = h('select', { name: 'assistant_tone' },
    TONES.map(([value, label]) => h('option', { value, selected: value === s.assistant_tone }, label)));
  const instructions = h('textarea', { name: 'assistant_instructions', rows: '5', maxlength: '1000' }, s.assistant_instructions);
  const count = h('span', {}, '');
  const recount = () => { count.textContent = `${instructions.value.length} / 1000 characters`; };
  instructions.addEventListener('input', recount);
  recount();
  return card('Assistant', settingsForm(dashboard, state, [
    field('Tone', tone, 'How the assistant sounds when a language model answers.'),
    field('Instructions from the shop', instructions, 'House style and facts, e.g. “Mention free delivery over $40.” They never override the assistant’s safety rules.'),
    h('p', { class: 'hint' }, count),
  ], () => ({ assistant_tone: tone.value, assistant_instructions: instructions.value })));
}

function faqSection(dashboard, faq) {
  const list = h('ol', { class: 'faq-list' });
  const form = h('form', { novalidate: true });
  const draw = () => {
    replace(list, faq.map((entry, i) => {
      const question = h('input', { type: 'text', name: `[${i}].question`, value: entry.question, maxlength: '500', oninput: (e) => { entry.question = e.target.value; } });
      const answer = h('textarea', { name: `[${i}].answer`, rows: '3', maxlength: '4000', oninput: (e) => { entry.answer = e.target.value; } }, entry.answer);
      const move = (by) => () => {
        const [item] = faq.splice(i, 1);
        faq.splice(i + by, 0, item);
        draw();
        list.children[i + by]?.querySelector(`button[data-move="${by}"]`)?.focus();
      };
      return h('li', { class: 'faq-entry' },
        field(`Question ${i + 1}`, question),
        field('Answer', answer),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary small', 'data-move': '-1', disabled: i === 0, 'aria-label': `Move question ${i + 1} up`, onclick: move(-1) }, 'Up'),
          h('button', { type: 'button', class: 'secondary small', 'data-move': '1', disabled: i === faq.length - 1, 'aria-label': `Move question ${i + 1} down`, onclick: move(1) }, 'Down'),
          h('button', { type: 'button', class: 'danger small', 'aria-label': `Remove question ${i + 1}`, onclick: () => { faq.splice(i, 1); draw(); } }, 'Remove')));
    }));
    if (!faq.length) list.append(h('li', { class: 'empty' }, 'No questions yet: the assistant answers shop questions from these.'));
  };
  draw();
  const add = h('button', { type: 'button', class: 'secondary' }, 'Add a question');
  add.addEventListener('click', () => {
    faq.push({ question: '', answer: '' });
    draw();
    list.lastElementChild?.querySelector('input')?.focus();
  });
  const save = h('button', { type: 'submit' }, 'Save FAQ');
  replace(form, list, h('div', { class: 'actions' }, add, save));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    whileBusy(save, async () => {
      clearProblem(form);
      try {
        await dashboard.request('/api/v1/admin/faq', { method: 'PUT', body: faq });
        toast('FAQ saved');
      } catch (error) {
        showProblem(form, error);
      }
    });
  });
  return card('FAQ and policies', h('p', { class: 'hint' }, 'Delivery, returns, opening hours: the assistant quotes these answers.'), form);
}

function webhooksSection(dashboard) {
  const endpoints = h('div', {});
  const deliveries = h('div', {});
  const secret = h('div', { 'aria-live': 'polite' });
  const url = h('input', { name: 'url', type: 'url', placeholder: 'https://example.com/hooks/shop', required: true });
  const boxes = EVENTS.map((name, i) => h('input', { type: 'checkbox', name: 'events', value: name, id: i ? null : 'webhook-events', checked: name === 'order.created' }));
  const eventsGroup = h('fieldset', { class: 'field events' }, h('legend', {}, 'Events'),
    boxes.map((box) => h('label', {}, box, ` ${box.value}`)),
    h('p', { class: 'field-error', id: 'webhook-events-error', hidden: true }));
  const create = h('button', { type: 'submit' }, 'Add endpoint');
  const form = h('form', { novalidate: true }, field('Endpoint URL', url), eventsGroup, h('div', { class: 'actions' }, create));

  const load = async () => {
    const [list, log] = await Promise.all([
      dashboard.request('/api/v1/admin/webhooks'),
      dashboard.request('/api/v1/admin/webhooks/deliveries?limit=10'),
    ]);
    replace(endpoints, dataTable({
      caption: 'Endpoints',
      columns: [
        { label: 'URL', cell: (e) => e.url },
        { label: 'Events', cell: (e) => e.events.join(', ') },
        { label: 'Added', cell: (e) => when(e.created_at) },
        { label: 'Actions', cell: (e) => endpointActions(e) },
      ],
      rows: list,
      empty: 'No webhook endpoints yet.',
    }));
    replace(deliveries, dataTable({
      caption: 'Recent deliveries',
      columns: [
        { label: 'Event', cell: (d) => d.event_type },
        { label: 'URL', cell: (d) => d.url },
        { label: 'Status', cell: (d) => badge(d.status, { delivered: 'ok', failed: 'bad' }[d.status] ?? 'warn') },
        { label: 'Attempts', cell: (d) => String(d.attempts), numeric: true },
        { label: 'Last answer', cell: (d) => d.last_status_code ? `HTTP ${d.last_status_code}` : d.last_error ?? '—' },
        { label: 'When', cell: (d) => when(d.created_at) },
      ],
      rows: log,
      empty: 'Nothing sent yet.',
    }));
  };

  const endpointActions = (endpoint) => {
    const ping = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Ping ${endpoint.url}` }, 'Ping');
    const remove = h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete ${endpoint.url}` }, 'Delete');
    ping.addEventListener('click', () => whileBusy(ping, async () => {
      await dashboard.request(`/api/v1/admin/webhooks/${endpoint.id}/ping`, { method: 'POST' });
      toast('Ping queued — see the deliveries below');
      setTimeout(() => load().catch(() => {}), 1500);
    }));
    remove.addEventListener('click', () => whileBusy(remove, async () => {
      if (!window.confirm(`Delete the endpoint ${endpoint.url}? Nothing more is sent to it.`)) return;
      await dashboard.request(`/api/v1/admin/webhooks/${endpoint.id}`, { method: 'DELETE' });
      toast('Endpoint deleted');
      await load();
    }));
    return h('div', { class: 'actions' }, ping, remove);
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    whileBusy(create, async () => {
      clearProblem(form);
      replace(secret);
      try {
        const events = boxes.filter((box) => box.checked).map((box) => box.value);
        const created = await dashboard.request('/api/v1/admin/webhooks', { method: 'POST', body: { url: url.value.trim(), events } });
        url.value = '';
        replace(secret, secretNotice(created));
        await load();
      } catch (error) {
        showProblem(form, error);
      }
    });
  });
  load().catch((error) => replace(endpoints, notice(`Could not load webhooks: ${error.message}`, 'error')));
  return card('Webhooks', form, secret, endpoints, deliveries);
}

function secretNotice(created) {
  const code = h('code', { class: 'secret' }, created.secret);
  return h('div', { class: 'notice secret-box', role: 'status' },
    h('p', {}, h('strong', {}, 'Signing secret for ', created.url, ' — shown only this once.')),
    h('p', {}, 'Copy it into the receiving app to verify the X-Shopkeep-Signature header.'),
    h('div', { class: 'actions' }, code, copyButton(() => created.secret, 'Copy secret')));
}

function copyButton(text, label = 'Copy') {
  const button = h('button', { type: 'button', class: 'secondary small' }, label);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
      toast('Copied');
    } catch {
      toast('Select the text and copy it by hand');
    }
  });
  return button;
}

function widgetSection(dashboard, state) {
  const origins = h('textarea', { name: 'widget_allowed_origins', rows: '4', spellcheck: 'false', placeholder: 'https://blog.example.com' },
    state.settings.widget_allowed_origins.join('\n'));
  const shop = window.location.origin;
  const tag = `<script src="${shop}/widget.js" data-shop="${shop}" async></script>`;
  const form = settingsForm(dashboard, state, [
    field('Allowed origins, one per line', origins, 'Only pages on these sites may run the chat (scheme, host and port, no path).'),
  ], () => ({ widget_allowed_origins: origins.value.split('\n').map((line) => line.trim()).filter(Boolean) }));
  return card('Chat widget',
    h('p', {}, 'Paste this tag into any page of an allowed site to add the chat bubble:'),
    h('div', { class: 'snippet' }, h('pre', {}, h('code', {}, tag)), copyButton(() => tag, 'Copy tag')),
    form);
}

export async function render(main, dashboard) {
  const [settings, faq] = await Promise.all([
    dashboard.request('/api/v1/admin/settings'),
    dashboard.request('/api/v1/admin/faq'),
  ]);
  const state = { settings };
  replace(main,
    heading('Settings', h('a', { class: 'button secondary', href: '/', target: '_blank', rel: 'noopener' }, 'Open the storefront')),
    h('div', { class: 'settings-sections' },
      shopSection(dashboard, state),
      brandSection(dashboard, state),
      assistantSection(dashboard, state),
      faqSection(dashboard, faq),
      webhooksSection(dashboard),
      widgetSection(dashboard, state)));
}
