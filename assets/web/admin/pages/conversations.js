// The Conversations page: a live list (polled every few seconds) that marks
// frustrated shoppers and those who asked for a person, and one transcript
// at /admin/conversations/<id> where a person from the shop takes over (the
// assistant pauses), writes to the shopper and hands back. The shopper's
// messages appear in the open transcript as they come.

import { h, replace, append, when, toast } from '/static/shop/dom.js';
import { heading, card, dataTable, field, showProblem, clearProblem, badge, notice, whileBusy, linkButton } from '../ui.js';

const LIST_EVERY_MS = 3000;
const TRANSCRIPT_EVERY_MS = 2000;
const PREVIEW_CHARS = 140;

const FLAGS = {
  asked_for_human: { label: 'Wants a person', kind: 'bad' },
  frustrated: { label: 'Frustrated', kind: 'bad' },
};

const ROLES = { shopper: 'Shopper', assistant: 'Assistant', admin: 'Shop' };

const conversationPath = (id) => `/api/v1/admin/conversations/${encodeURIComponent(id)}`;

export async function render(main, dashboard) {
  const id = dashboard.subpath();
  if (id) await renderTranscript(main, dashboard, id);
  else await renderList(main, dashboard);
}

/**
 * Calls `tick` now and then every `ms` while the tab is visible, until the
 * page goes away. A failed tick is shown by `failed` and retried.
 */
async function poll(ms, tick, failed) {
  let timer;
  const again = () => {
    timer = setTimeout(async () => {
      if (!document.hidden) await tick().catch(failed);
      again();
    }, ms);
  };
  await tick();
  again();
  window.addEventListener('pagehide', () => clearTimeout(timer), { once: true });
}

/** The shopper's mood, −1 (angry) to 1 (happy), as a word and a colour. */
function moodBadge(mood) {
  if (mood <= -0.5) return badge('upset', 'bad');
  if (mood < -0.1) return badge('unhappy', 'warn');
  if (mood > 0.3) return badge('happy', 'ok');
  return badge('neutral', 'info');
}

function marks(conversation) {
  return [
    conversation.flag ? badge(FLAGS[conversation.flag]?.label ?? conversation.flag, FLAGS[conversation.flag]?.kind ?? 'warn') : null,
    conversation.taken_over_by ? badge(`${conversation.taken_over_by} is answering`, 'info') : null,
  ].filter(Boolean);
}

const clip = (text) => (text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text);

// --- the live list ----------------------------------------------------------

async function renderList(main, dashboard) {
  const onlyFlagged = h('input', { type: 'checkbox', id: 'only-flagged', checked: new URLSearchParams(window.location.search).has('flagged') });
  const status = h('p', { class: 'hint live-status', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { class: 'conversation-list' });
  replace(main,
    heading('Conversations', h('label', { class: 'check', for: 'only-flagged' }, onlyFlagged, ' Only those needing a person')),
    status, list);
  let shown = '';
  let known = null;
  const refresh = async () => {
    const flagged = onlyFlagged.checked;
    const page = await dashboard.request(`/api/v1/admin/conversations${dashboard.query({ flagged: flagged || undefined, limit: 100 })}`);
    announceNewFlags(page.conversations, known, status);
    known = new Set(page.conversations.filter((l) => l.conversation.flag).map((l) => l.conversation.id));
    status.dataset.updated = new Date().toLocaleTimeString();
    if (!status.textContent.startsWith('New')) status.textContent = `Live: refreshes every ${LIST_EVERY_MS / 1000} seconds.`;
    // Redraw only when something changed, so focus and reading place stay put.
    const signature = JSON.stringify(page.conversations);
    if (signature === shown) return;
    shown = signature;
    redrawKeepingFocus(list, () => conversationTable(page.conversations, flagged));
  };
  onlyFlagged.addEventListener('change', () => {
    window.history.replaceState(null, '', onlyFlagged.checked ? '?flagged' : window.location.pathname);
    shown = '';
    refresh().catch(failedList(list));
  });
  await poll(LIST_EVERY_MS, refresh, failedList(list));
}

const failedList = (list) => (error) => replace(list, notice(`The list could not be refreshed: ${error.message}. Trying again…`, 'error'));

function announceNewFlags(listings, known, status) {
  if (!known) return;
  const fresh = listings.filter((l) => l.conversation.flag && !known.has(l.conversation.id));
  if (!fresh.length) return;
  const text = `New: ${fresh.length} ${fresh.length === 1 ? 'conversation needs' : 'conversations need'} a person.`;
  status.textContent = text;
  toast(text);
}

function redrawKeepingFocus(container, draw) {
  const focused = document.activeElement?.closest?.('[data-conversation]')?.dataset.conversation;
  replace(container, draw());
  if (focused) container.querySelector(`[data-conversation="${CSS.escape(focused)}"]`)?.focus();
}

function conversationTable(listings, flagged) {
  return card(flagged ? 'Needing a person' : 'Latest conversations', dataTable({
    caption: 'Most recent first',
    empty: flagged ? 'No shopper is waiting for a person.' : 'No conversations yet.',
    rows: listings,
    columns: [
      {
        label: 'Conversation',
        cell: ({ conversation: c, last_message: last }) => h('span', { class: 'who-cell' },
          h('a', {
            href: `/admin/conversations/${encodeURIComponent(c.id)}`,
            dataset: { conversation: c.id },
            class: c.flag && !c.taken_over_by ? 'needs-person' : null,
          }, `${c.customer_id ? `Customer #${c.customer_id}` : 'Guest'} · ${when(c.created_at)}`),
          h('small', {}, clip(last || c.summary || 'No messages yet'))),
      },
      { label: 'Needs', cell: ({ conversation: c }) => h('span', { class: 'marks' }, marks(c).length ? marks(c) : '—') },
      { label: 'Mood', cell: ({ conversation: c }) => moodBadge(c.mood) },
      { label: 'Messages', numeric: true, cell: (l) => String(l.messages) },
      { label: 'Last activity', cell: ({ conversation: c }) => when(c.updated_at) },
    ],
  }));
}

// --- one transcript ---------------------------------------------------------

async function renderTranscript(main, dashboard, id) {
  const log = h('ol', { class: 'transcript', 'aria-label': 'Transcript', 'aria-live': 'polite' });
  const controls = h('div', { class: 'takeover' });
  const summary = h('div', { class: 'conversation-state' });
  replace(main,
    heading('Conversation', linkButton('← All conversations', '/admin/conversations')),
    card('Status', summary, controls),
    card('Transcript', log));
  const seen = new Set();
  let state = '';
  const showMessages = (messages) => {
    const fresh = messages.filter((m) => !seen.has(m.id));
    fresh.forEach((m) => seen.add(m.id));
    append(log, fresh.map(messageItem));
    if (fresh.length) log.lastElementChild?.scrollIntoView({ block: 'nearest' });
  };
  const refresh = async () => {
    const { conversation, messages } = await dashboard.request(conversationPath(id));
    showMessages(messages);
    const now = JSON.stringify([conversation.flag, conversation.taken_over_by, conversation.mood]);
    if (now === state) return;
    state = now;
    replace(summary, stateLine(conversation));
    replace(controls, conversation.taken_over_by
      ? answering(dashboard, id, conversation.taken_over_by, showMessages, refresh)
      : takeOverForm(dashboard, id, refresh));
  };
  try {
    await poll(TRANSCRIPT_EVERY_MS, refresh, () => {});
  } catch (error) {
    if (error.status !== 404) throw error;
    replace(main, heading('Conversation', linkButton('← All conversations', '/admin/conversations')),
      notice(error.message, 'error'));
  }
}

function stateLine(c) {
  return h('p', { class: 'marks' },
    marks(c), ' Mood: ', moodBadge(c.mood),
    ` · started ${when(c.created_at)} · ${c.customer_id ? `customer #${c.customer_id}` : 'guest'}`,
    c.flagged_at ? ` · flagged ${when(c.flagged_at)}` : '');
}

function messageItem(m) {
  const facts = [when(m.at)];
  if (m.role === 'shopper' && m.intent) facts.push(`intent ${m.intent}`);
  if (m.role === 'assistant' && m.tier) facts.push(`tier ${m.tier}`);
  return h('li', { class: `msg msg-${m.role}`, dataset: { id: String(m.id) } },
    h('p', { class: 'msg-head' },
      h('strong', {}, ROLES[m.role] ?? m.role), ' ',
      h('small', {}, facts.join(' · ')), ' ',
      m.role === 'shopper' && typeof m.mood === 'number' ? moodBadge(m.mood) : null),
    h('p', { class: 'msg-text' }, m.content || '(no text)'));
}

/** The signed-in admin's name, as the frame shows it. */
function adminName() {
  return document.querySelector('.who strong')?.textContent.trim() ?? '';
}

function takeOverForm(dashboard, id, refresh) {
  const name = h('input', { type: 'text', name: 'name', value: adminName(), maxlength: '60', autocomplete: 'nickname' });
  const form = h('form', { class: 'takeover-form' },
    h('p', {}, 'The assistant answers this shopper. Take over to answer yourself: the assistant pauses until you hand back.'),
    field('Your name, as the shopper sees it', name, 'Shown as “… from the shop”.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Take over')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearProblem(form);
    whileBusy(form.querySelector('button'), async () => {
      try {
        await dashboard.request(`${conversationPath(id)}/takeover`, { method: 'POST', body: { name: name.value.trim() || undefined } });
        toast('You are answering this shopper now.');
        await refresh();
      } catch (error) {
        showProblem(form, error);
      }
    });
  });
  return form;
}

function answering(dashboard, id, by, showMessages, refresh) {
  const text = h('textarea', { name: 'text', rows: 3, required: true, maxlength: '4000' });
  const form = h('form', { class: 'reply-form' },
    h('p', {}, badge(`${by} is answering`, 'info'), ' The assistant is paused.'),
    field('Reply to the shopper', text, 'Ctrl+Enter sends.'),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Send reply'),
      h('button', { type: 'button', class: 'secondary', onclick: (event) => handBack(event.currentTarget) }, 'Hand back to the assistant')));
  const send = () => whileBusy(form.querySelector('button[type="submit"]'), async () => {
    clearProblem(form);
    try {
      const message = await dashboard.request(`${conversationPath(id)}/messages`, { method: 'POST', body: { text: text.value } });
      showMessages([message]);
      text.value = '';
      text.focus();
    } catch (error) {
      showProblem(form, error);
    }
  });
  const handBack = (button) => whileBusy(button, async () => {
    clearProblem(form);
    try {
      await dashboard.request(`${conversationPath(id)}/release`, { method: 'POST' });
      toast('The assistant answers this shopper again.');
      await refresh();
    } catch (error) {
      showProblem(form, error);
    }
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  });
  return form;
}
