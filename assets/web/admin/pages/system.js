// The System page: health checks with their reasons, disk and memory,
// version and uptime, the database and the search index, and backups —
// take one now, download, upload one, restore one after a confirmation.
// A restore runs live on the server (the shop keeps serving); the page says
// what it replaces and where the replaced database is kept.

import { h, replace, when, toast } from '/static/shop/dom.js';
import { badge, card, dataTable, field, heading, notice, showProblem, clearProblem, stat, whileBusy } from '../ui.js';

const CHECK_BADGE = { ok: ['ok', 'ok'], degraded: ['warn', 'warn'], down: ['fail', 'bad'] };

/** 1536 → "1.5 KB". */
export function bytes(n) {
  if (n == null) return 'unknown';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** 3725 → "1 h 2 min". */
function duration(seconds) {
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${minutes} min`;
  return minutes ? `${minutes} min` : `${seconds} s`;
}

function age(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  return Number.isNaN(seconds) ? '' : `${duration(seconds)} ago`;
}

/** A labelled bar of how much of something is used. */
function usage(label, used, total) {
  if (used == null || !total) return h('p', { class: 'usage' }, h('strong', {}, label), ' — not reported on this system');
  const percent = Math.round((used / total) * 100);
  const id = `usage-${label.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return h('div', { class: 'usage' },
    h('label', { for: id }, label),
    h('meter', { id, min: 0, max: total, value: used, low: total * 0.8, high: total * 0.9, optimum: 0 }),
    h('p', { class: 'hint' }, `${bytes(used)} of ${bytes(total)} used (${percent}%)`));
}

function healthCard(readiness) {
  const checks = [
    ['Database', readiness.database],
    ['Search index', readiness.search_index],
    ['Language model', readiness.model],
    ['Tier', { status: readiness.tier.status, reason: `${readiness.tier.active} (configured: ${readiness.tier.configured}). ${readiness.tier.reason}` }],
  ];
  return card('Health',
    h('p', {}, readiness.ready ? badge('ready', 'ok') : badge('not ready', 'bad'), ' ',
      readiness.ready ? 'The shop is serving.' : 'The shop cannot serve: see the failing check below.'),
    h('ul', { class: 'checks' }, checks.map(([name, check]) => {
      const [text, kind] = CHECK_BADGE[check.status] ?? ['?', 'info'];
      return h('li', {}, h('span', { class: 'check-name' }, name), badge(text, kind), h('span', { class: 'check-reason' }, check.reason));
    })));
}

function resourcesCard(report) {
  const { disk, memory } = report;
  const systemUsed = memory.system_total_bytes != null && memory.system_available_bytes != null
    ? memory.system_total_bytes - memory.system_available_bytes : null;
  return card('Disk and memory',
    usage(`Disk (${report.data_dir})`, disk ? disk.total_bytes - disk.free_bytes : null, disk?.total_bytes),
    usage('System memory', systemUsed, memory.system_total_bytes),
    h('p', {}, `This process uses ${bytes(memory.process_rss_bytes)} of memory on ${report.cpus} CPU ${report.cpus === 1 ? 'core' : 'cores'}.`));
}

function facts(report) {
  const db = report.database;
  const search = report.search;
  const last = report.last_backup;
  return h('div', { class: 'stats' },
    stat('Version', report.version, report.started_at ? `up ${duration(report.uptime_secs)}` : null),
    stat('Database', bytes(db.bytes), `schema ${db.schema_version} (this build knows ${db.known_schema_version})`),
    stat('Search index', search ? `${search.indexed} products` : 'unavailable',
      search ? `${search.pending} changes waiting${search.embedding_model ? `; ${search.embedded} embedded` : '; keyword search'}` : null),
    stat('Last backup', last ? age(last.created_at) : 'none yet', last ? last.name : 'take one with “Back up now”'));
}

export async function render(main, dashboard) {
  const backUp = h('button', { type: 'button' }, 'Back up now');
  const messages = h('div', { class: 'system-messages', 'aria-live': 'polite' });
  const body = h('div', {});
  const dialog = restoreDialog();
  let backups = [];

  const say = (text, kind) => replace(messages, notice(text, kind));

  async function refresh() {
    const [report, list] = await Promise.all([
      dashboard.request('/api/v1/admin/system'),
      dashboard.request('/api/v1/admin/backups'),
    ]);
    backups = list;
    replace(body,
      facts(report),
      h('div', { class: 'system-grid' }, healthCard(report.readiness), resourcesCard(report)),
      backupsCard(report.backups, list));
  }

  async function restore(backup) {
    if (!(await dialog.confirm(backup))) return;
    say(`Restoring ${backup.name}…`);
    try {
      const report = await dashboard.request(`/api/v1/admin/backups/${encodeURIComponent(backup.name)}/restore`, { method: 'POST' });
      say(`Restored the backup taken ${when(report.backup_created_at)}. The replaced database is kept on the server as ${report.before_restore}. Search: ${report.search_index}.`);
      await refresh();
    } catch (error) {
      say(`The restore did not happen: ${error.message}`, 'error');
    }
  }

  function backupsCard(schedule, list) {
    const plan = schedule.schedule === 'daily'
      ? `A backup is taken every day at ${schedule.at} UTC; the newest of the last ${schedule.keep_daily} days and ${schedule.keep_weekly} weeks are kept.`
      : 'Scheduled backups are off (backup.schedule = "off"); take them here or with `shopkeep backup`.';
    const table = dataTable({
      caption: 'Backups on this server, newest first',
      empty: 'No backups yet: take one with “Back up now”.',
      rows: list,
      columns: [
        { label: 'Name', cell: (b) => h('code', {}, b.name) },
        { label: 'Kind', cell: (b) => (b.problem ? badge('unusable', 'bad') : badge(b.kind, 'info')) },
        { label: 'Taken', cell: (b) => h('span', { title: b.created_at }, `${when(b.created_at)} (${age(b.created_at)})`) },
        { label: 'Size', numeric: true, cell: (b) => bytes(b.bytes) },
        { label: 'Orders', numeric: true, cell: (b) => (b.orders ?? '—') },
        {
          label: 'Actions',
          cell: (b) => (b.problem ? h('span', { class: 'hint' }, b.problem) : h('div', { class: 'actions' },
            h('a', { class: 'button secondary small', href: `/api/v1/admin/backups/${encodeURIComponent(b.name)}`, download: b.name, 'aria-label': `Download ${b.name}` }, 'Download'),
            h('button', { type: 'button', class: 'danger small', 'aria-label': `Restore ${b.name}`, onclick: () => restore(b) }, 'Restore…'))),
        },
      ],
    });
    return card('Backups', h('p', {}, plan, ' ', h('span', { class: 'hint' }, `Folder: ${schedule.folder}`)), table, uploadForm());
  }

  function uploadForm() {
    const input = h('input', { type: 'file', name: 'archive', accept: '.zst,.tar.zst,application/zstd', required: true });
    const send = h('button', { type: 'submit', class: 'secondary' }, 'Upload and check');
    const form = h('form', { class: 'upload', novalidate: true },
      h('h3', {}, 'Restore from a file'),
      field('Backup archive (.tar.zst)', input, 'Made by `shopkeep backup` or downloaded here. It is checked whole before anything changes; you confirm the restore next.'),
      send);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(form);
      const file = input.files?.[0];
      if (!file) {
        showProblem(form, { message: 'Choose a backup file first.', errors: [{ field: 'archive', reason: 'Choose a .tar.zst backup file.' }] });
        return;
      }
      await whileBusy(send, async () => {
        try {
          const uploaded = await dashboard.upload('/api/v1/admin/backups/upload', file, { contentType: 'application/zstd' });
          toast(`Uploaded and checked ${uploaded.name}`);
          await refresh();
          const listed = backups.find((b) => b.name === uploaded.name) ?? uploaded;
          await restore(listed);
        } catch (error) {
          showProblem(form, { message: `This file cannot be restored: ${error.message}`, errors: [] });
        }
      });
    });
    return form;
  }

  backUp.addEventListener('click', () => whileBusy(backUp, async () => {
    backUp.textContent = 'Backing up…';
    try {
      const created = await dashboard.request('/api/v1/admin/backups', { method: 'POST' });
      toast(`Backup ${created.name} taken`);
      say(`Took backup ${created.name} (${bytes(created.bytes)}, SHA-256 ${created.sha256}).`);
      await refresh();
    } catch (error) {
      say(`The backup failed: ${error.message}`, 'error');
    } finally {
      backUp.textContent = 'Back up now';
    }
  }));

  replace(main, heading('System', backUp), messages, body, dialog.element);
  await refresh();
}

/** A modal confirmation, resolved true only by its Restore button. */
function restoreDialog() {
  const title = h('h2', { id: 'restore-title' });
  const what = h('p', {});
  const cancel = h('button', { type: 'button', class: 'secondary', value: 'cancel' }, 'Cancel');
  const confirm = h('button', { type: 'button', class: 'danger', value: 'restore' }, 'Restore this backup');
  const element = h('dialog', { class: 'confirm', 'aria-labelledby': 'restore-title' },
    title, what,
    h('p', {}, 'Everything changed since then — orders, customers, products, settings — is replaced by the backup. '
      + 'The current database is kept on the server as shopkeep.db.before-restore. The shop keeps running; '
      + 'search catches up within moments. If you signed in after the backup was taken, you will be asked to sign in again.'),
    h('div', { class: 'actions' }, cancel, confirm));
  let settle = () => {};
  cancel.addEventListener('click', () => element.close('cancel'));
  confirm.addEventListener('click', () => element.close('restore'));
  element.addEventListener('close', () => settle(element.returnValue === 'restore'));
  return {
    element,
    confirm(backup) {
      title.textContent = `Restore ${backup.name}?`;
      const counts = backup.orders != null ? ` It holds ${backup.orders} orders and ${backup.products} products.` : '';
      what.textContent = `This backup was taken ${when(backup.created_at)} (${age(backup.created_at)}).${counts}`;
      element.returnValue = '';
      element.showModal();
      cancel.focus();
      return new Promise((resolve) => { settle = resolve; });
    },
  };
}
