// The AI page: the tier asked for and the one serving (and why), the local
// models (load, switch, unload), the remote providers with their keys (only
// ever shown as a hint such as sk-…abcd), routing, budgets with this month's
// spend, and a test console that runs one sandboxed assistant turn.

import { h, replace, money, toMinor, toast } from '/static/shop/dom.js';
import { heading, card, stat, dataTable, field, showProblem, clearProblem, badge, notice, whileBusy } from '../ui.js';

const TIERS = ['auto', 'free', 'starter', 'professional', 'enterprise'];
const CLASSES = ['guest', 'registered', 'premium'];
const SIZES = ['fast', 'strong'];
const MICROS = 1_000_000;

/** Micro-units of the shop currency in minor units (money() takes those). */
const microsToMinor = (micros) => Math.round(micros / (MICROS / toMinor('1')));
const decimalToMicros = (text) => Math.round(Number(text) * MICROS);

function select(name, options, value, labels = {}) {
  return h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, labels[o] ?? o)));
}

function input(name, value, props = {}) {
  return h('input', { name, value: value ?? '', autocomplete: 'off', ...props });
}

function tierCard(view) {
  const { tier } = view;
  return card('Tier',
    h('p', { class: 'tier-now' }, 'Serving now: ', badge(tier.active, tier.degraded ? 'warn' : 'ok'),
      tier.degraded ? h('span', {}, ' ', badge('degraded', 'warn')) : null),
    h('p', { class: 'hint' }, tier.reason),
    field('Tier to run', select('tier', TIERS, tier.setting),
      'auto runs the highest tier this machine and these settings allow.'));
}

function localCard(view, dashboard, redraw) {
  const { local } = view;
  const status = h('div', { class: 'model-status', role: 'status', 'aria-live': 'polite' },
    local.loading ? notice(`Loading ${local.loading}…`) : null);
  const switchTo = async (button, id) => {
    replace(status, notice(id ? `Loading ${id}… this can take a minute.` : 'Unloading the model…'));
    await whileBusy(button, async () => {
      try {
        const next = await dashboard.request('/api/v1/admin/ai/model', { method: 'POST', body: { id } });
        toast(id ? `${id} is loaded.` : 'The local model is unloaded.');
        redraw(next);
      } catch (error) {
        replace(status, notice(`${id ?? 'Unloading'}: ${error.message}`, 'error'));
      }
    });
  };
  const loaded = local.loaded;
  const rows = local.installed.map((m) => ({ ...m }));
  return card('Local model',
    h('div', { class: 'stats' },
      stat('Loaded', loaded ? loaded.id : 'none', loaded ? `${loaded.device}, ${loaded.context}-token context, gives ${loaded.tier}` : local.status),
      stat('Installed chat models', String(rows.length), `in ${local.models_dir}`)),
    status,
    dataTable({
      caption: 'Installed chat models',
      columns: [
        { label: 'Model', cell: (m) => h('span', {}, h('strong', {}, m.id), h('br'), h('span', { class: 'hint' }, m.description)) },
        { label: 'Size', cell: (m) => m.size, numeric: true },
        { label: 'RAM', cell: (m) => (m.ram_mb ? `${m.ram_mb} MB` : '–'), numeric: true },
        {
          label: 'Action',
          cell: (m) => (m.loaded
            ? badge('loaded', 'ok')
            : h('button', { type: 'button', class: 'small', onclick: (e) => switchTo(e.currentTarget, m.id), 'aria-label': `Load ${m.id}` }, loaded ? 'Switch' : 'Load')),
        },
      ],
      rows,
      empty: 'No chat model is installed: `shopkeep models pull gemma-3-270m` installs a small one.',
    }),
    loaded ? h('p', {}, h('button', { type: 'button', class: 'secondary small', onclick: (e) => switchTo(e.currentTarget, null) }, 'Unload the model')) : null);
}

function providerFieldset(name, title, provider, defaults) {
  const on = h('input', { type: 'checkbox', name: `${name}.enabled`, checked: Boolean(provider) });
  const p = provider ?? defaults;
  const key = provider?.key;
  const keyInput = input(`${name}.api_key`, '', { type: 'password', placeholder: key ? 'leave empty to keep the saved key' : 'paste the API key' });
  const remove = key ? h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: `${name}.remove_key` }), ' Remove the saved key') : null;
  const saved = key
    ? h('p', { class: 'key-saved' }, 'Saved: ', h('code', {}, key.hint), ` (${key.source})`, key.problem ? h('span', {}, ' ', badge('unusable', 'bad'), ` ${key.problem}`) : null)
    : h('p', { class: 'hint' }, 'No key saved.');
  const statusKind = !provider ? 'info' : provider.status.startsWith('failing') ? 'bad' : provider.status.startsWith('ok') ? 'ok' : 'info';
  return h('fieldset', { class: 'provider' },
    h('legend', {}, title),
    h('label', { class: 'inline' }, on, ` Use ${title}`),
    provider ? h('p', {}, badge(provider.status, statusKind)) : null,
    field('Base URL', input(`${name}.base_url`, p.base_url, { type: 'url', inputmode: 'url' }), name === 'gemini' ? 'Empty means Google’s API.' : 'Any OpenAI-compatible API, such as https://api.openai.com/v1.'),
    h('div', { class: 'pair' },
      field('Fast model', input(`${name}.fast_model`, p.fast_model)),
      field('Strong model', input(`${name}.strong_model`, p.strong_model))),
    field('API key', keyInput, 'Stored encrypted; never shown again in full.'),
    saved, remove);
}

function routingCard(view) {
  const { routing } = view;
  const labels = { fast: 'fast model', strong: 'strong model' };
  return card('Routing',
    h('p', {}, routing.rule),
    h('div', { class: 'pair' },
      field('Simple turns go to the', select('routing.simple', SIZES, routing.simple, labels)),
      field('Complex turns go to the', select('routing.complex', SIZES, routing.complex, labels))),
    h('p', { class: 'hint' }, 'Remote providers are tried in order (OpenAI-compatible, then Gemini), then the local model, then the rules.'));
}

function budgetsCard(view) {
  const { budgets } = view;
  const tokens = (cls, period) => input(`budgets.${cls}.${period}`, String(budgets[cls][period]), { id: `budget-${cls}-${period}`, type: 'number', min: '0', step: '1', inputmode: 'numeric', 'aria-label': `${cls} ${period} tokens` });
  const spent = microsToMinor(budgets.spent_this_month_micros);
  const cap = microsToMinor(budgets.monthly_spend_cap_micros);
  const share = cap ? Math.min(100, Math.round((spent / cap) * 100)) : 100;
  const capInput = input('budgets.monthly_spend_cap_micros', (budgets.monthly_spend_cap_micros / MICROS).toFixed(2), { type: 'number', min: '0', step: '0.01', inputmode: 'decimal' });
  return card('Budgets',
    h('div', { class: 'stats' },
      stat('Remote spend this month', money(spent), `${share}% of the ${money(cap)} cap`)),
    h('progress', { class: 'meter', max: 100, value: share, 'aria-label': `${share}% of the spend cap used` }, `${share}%`),
    dataTable({
      caption: 'Model tokens per shopper (input + output)',
      columns: [
        { label: 'Class', cell: (cls) => cls },
        { label: 'Per day', cell: (cls) => h('div', {}, tokens(cls, 'daily'), h('p', { class: 'field-error', id: `budget-${cls}-daily-error`, hidden: true })) },
        { label: 'Per month', cell: (cls) => h('div', {}, tokens(cls, 'monthly'), h('p', { class: 'field-error', id: `budget-${cls}-monthly-error`, hidden: true })) },
      ],
      rows: CLASSES,
    }),
    field('Monthly spend cap on remote APIs', capInput, 'In the shop currency; 0 allows no remote calls.'));
}

/** The PUT body from the form; a key is sent only when typed or removed. */
function formBody(form) {
  const data = new FormData(form);
  const text = (name) => String(data.get(name) ?? '').trim();
  const provider = (name) => {
    if (!data.get(`${name}.enabled`)) return null;
    const body = { base_url: text(`${name}.base_url`), fast_model: text(`${name}.fast_model`), strong_model: text(`${name}.strong_model`) };
    if (data.get(`${name}.remove_key`)) body.api_key = null;
    else if (text(`${name}.api_key`)) body.api_key = text(`${name}.api_key`);
    return body;
  };
  const count = (name) => (text(name) === '' ? -1 : Number(text(name)));
  return {
    tier: text('tier'),
    openai: provider('openai'),
    gemini: provider('gemini'),
    routing: { simple: text('routing.simple'), complex: text('routing.complex') },
    budgets: {
      ...Object.fromEntries(CLASSES.map((cls) => [cls, { daily: count(`budgets.${cls}.daily`), monthly: count(`budgets.${cls}.monthly`) }])),
      monthly_spend_cap_micros: decimalToMicros(text('budgets.monthly_spend_cap_micros') || '-1'),
    },
  };
}

function consoleCard(dashboard) {
  const message = h('textarea', { name: 'message', rows: 3, required: true, maxlength: 2000 }, 'Do you have oat milk?');
  const tier = select('tier', ['', 'free', 'starter', 'professional', 'enterprise'], '', { '': 'the tier serving now' });
  const result = h('div', { class: 'console-result', role: 'status', 'aria-live': 'polite' });
  const run = h('button', { type: 'submit' }, 'Run a test turn');
  const form = h('form', { class: 'console', novalidate: true },
    field('Message', message, 'Runs in a sandbox: a throwaway conversation and cart, deleted afterwards.'),
    field('Tier', tier),
    h('div', { class: 'actions' }, run));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    const body = { message: message.value };
    if (tier.value) body.tier = tier.value;
    await whileBusy(run, async () => {
      replace(result, notice('Waiting for the assistant…'));
      try {
        const answer = await dashboard.request('/api/v1/admin/ai/test', { method: 'POST', body });
        const { usage } = answer;
        replace(result,
          h('blockquote', { class: 'console-reply' }, answer.reply || '(no text)'),
          h('div', { class: 'stats' },
            stat('Tier', answer.tier),
            stat('Model', answer.model ?? 'rules (no model)'),
            stat('Tokens', `${usage.input_tokens} in · ${usage.output_tokens} out`, usage.cached_tokens ? `${usage.cached_tokens} cached` : null),
            stat('Latency', `${answer.latency_ms} ms`),
            stat('Cost', money(microsToMinor(usage.cost_micros)))),
          answer.tools.length ? h('p', { class: 'hint' }, `Tools called: ${answer.tools.join(', ')}`) : null);
      } catch (error) {
        replace(result);
        showProblem(form, error);
      }
    });
  });
  return card('Test console', form, result);
}

export async function render(main, dashboard) {
  const consoleSection = consoleCard(dashboard);
  const draw = (view) => {
    const save = h('button', { type: 'submit' }, 'Save AI settings');
    const form = h('form', { class: 'ai-settings', novalidate: true },
      tierCard(view),
      card('Remote providers',
        h('p', { class: 'hint' }, view.saved_from_dashboard ? 'Saved here; these override the config file.' : 'From the config file until saved here.'),
        providerFieldset('openai', 'OpenAI-compatible', view.openai, { base_url: 'https://api.openai.com/v1', fast_model: 'gpt-4o-mini', strong_model: 'gpt-4o' }),
        providerFieldset('gemini', 'Gemini', view.gemini, { base_url: '', fast_model: 'gemini-2.5-flash', strong_model: 'gemini-2.5-pro' })),
      routingCard(view),
      budgetsCard(view),
      h('div', { class: 'actions sticky-save' }, save));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(form);
      await whileBusy(save, async () => {
        try {
          const next = await dashboard.request('/api/v1/admin/ai', { method: 'PUT', body: formBody(form) });
          toast('AI settings saved; they apply from the next turn.');
          draw(next);
        } catch (error) {
          showProblem(form, error);
        }
      });
    });
    replace(main,
      heading('AI', h('a', { class: 'button secondary', href: '/admin/usage' }, 'Usage and cost')),
      localCard(view, dashboard, draw),
      form,
      consoleSection);
  };
  draw(await dashboard.request('/api/v1/admin/ai'));
}
