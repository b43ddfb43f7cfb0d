// Leases by prefix: browse (mount, role, lease), count, look one up, revoke
// one, or revoke a whole prefix with a preview of how many and a progress
// bar while the background job runs.

import { get, put, list, pathOf } from '../api.js';
import { h, fill, routeQuery, go, pairs, show, errorBox, notice } from '../dom.js';

const POLL_MS = 250;

/** `database/creds/app/` -> crumbs for `database/`, `database/creds/`, ... */
function crumbs(prefix) {
  const parts = prefix.split('/').filter(Boolean);
  const out = [h('a', { href: '#/leases' }, 'all')];
  let at = '';
  for (const part of parts) {
    at += `${part}/`;
    out.push(' / ', h('a', { href: `#/leases?prefix=${encodeURIComponent(at)}`, class: 'mono' }, part));
  }
  return h('nav', { class: 'crumbs', 'aria-label': 'Prefix' }, out);
}

export async function render(main) {
  const prefix = routeQuery().get('prefix') || '';
  const folder = prefix.endsWith('/') || prefix === '';
  const body = h('div', { id: 'lease-body' });
  const browse = h('form', { class: 'row', id: 'lease-browse' },
    h('label', {}, 'Prefix', h('input', { name: 'prefix', id: 'lease-prefix', value: prefix, size: 48, placeholder: 'database/creds/app/' })),
    h('button', { type: 'submit' }, 'Browse'));
  browse.addEventListener('submit', (event) => {
    event.preventDefault();
    go('#/leases', { prefix: String(new FormData(browse).get('prefix')).trim() });
  });
  fill(main, h('h1', {}, 'Leases'), browse, crumbs(prefix), body);
  if (!folder) return showLease(body, prefix);
  const keys = await list(prefix ? `sys/leases/lookup/${pathOf(prefix.slice(0, -1))}/` : 'sys/leases/lookup/');
  const count = prefix ? h('p', { id: 'lease-count', class: 'muted' }, 'Counting…') : null;
  fill(body,
    count,
    keys.length ? h('ul', { class: 'plain mono', id: 'lease-keys' }, keys.map((key) =>
      h('li', {}, h('a', { href: `#/leases?prefix=${encodeURIComponent(prefix + key)}` }, key))))
      : h('p', { class: 'muted' }, 'No leases under this prefix.'),
    prefix ? revokePrefix(prefix) : null);
  if (count) {
    try {
      const answer = (await get(`sys/nhi/lease-count/${pathOf(prefix.slice(0, -1))}/`)).data;
      fill(count, `${answer.count}${answer.capped ? '+' : ''} leases under ${prefix}`);
    } catch (e) {
      fill(count, `Count unavailable: ${e.message}`);
    }
  }
}

async function showLease(body, id) {
  const answer = (await put('sys/leases/lookup', { lease_id: id })).data;
  const result = h('div', { 'aria-live': 'polite' });
  const revoke = h('button', { type: 'button', class: 'danger', id: 'lease-revoke' }, 'Revoke this lease');
  revoke.addEventListener('click', async () => {
    revoke.disabled = true;
    try {
      await put('sys/leases/revoke', { lease_id: id });
      fill(result, notice(`Revoked ${id}.`));
    } catch (e) {
      fill(result, errorBox(e));
      revoke.disabled = false;
    }
  });
  fill(body, h('div', { class: 'panel' }, pairs(Object.keys(answer).sort().map((k) => [k, show(answer[k])]))),
    h('div', { class: 'row' }, revoke), result);
}

/** The revoke-prefix control: preview the count, confirm, watch the job. */
function revokePrefix(prefix) {
  const out = h('div', { id: 'revoke-prefix-box', 'aria-live': 'polite' });
  const start = h('button', { type: 'button', class: 'danger', id: 'revoke-prefix' }, `Revoke every lease under ${prefix}`);
  start.addEventListener('click', async () => {
    start.disabled = true;
    let count;
    try {
      count = (await get(`sys/nhi/lease-count/${pathOf(prefix.slice(0, -1))}/`)).data;
    } catch (e) {
      fill(out, errorBox(e));
      start.disabled = false;
      return;
    }
    const yes = h('button', { type: 'button', class: 'danger', id: 'revoke-prefix-confirm' }, `Revoke ${count.count}${count.capped ? '+' : ''} leases`);
    const no = h('button', { type: 'button', class: 'secondary', onclick: () => { fill(out); start.disabled = false; } }, 'Cancel');
    yes.addEventListener('click', () => runJob(out, prefix, yes, no));
    fill(out, h('p', { role: 'alert' }, `This revokes ${count.count}${count.capped ? '+' : ''} leases under ${prefix} and their credentials.`),
      h('div', { class: 'row' }, yes, no));
    yes.focus();
  });
  return h('section', { class: 'panel', 'aria-label': 'Revoke by prefix' }, h('div', { class: 'row' }, start), out);
}

async function runJob(out, prefix, ...buttons) {
  for (const b of buttons) b.disabled = true;
  const bar = h('progress', { id: 'revoke-progress', max: 100, value: 0, 'aria-label': 'Revocation progress' });
  const label = h('p', { id: 'revoke-progress-text' }, 'Starting…');
  fill(out, bar, label);
  try {
    const started = await put(`sys/leases/revoke-prefix/${pathOf(prefix.slice(0, -1))}/`, { sync: false });
    const job = started.data.job_id;
    for (;;) {
      const status = (await get(`sys/nhi/jobs/${pathOf(job)}`)).data;
      const handled = status.revoked + status.failed;
      const percent = status.total ? Math.floor((handled * 100) / status.total) : (status.done ? 100 : 0);
      bar.value = status.done ? 100 : percent;
      bar.setAttribute('aria-valuenow', String(bar.value));
      label.textContent = `${status.done ? 100 : percent}%: ${status.revoked} revoked, ${status.failed} failed of ${status.total}`;
      if (status.done) {
        out.append(status.failed ? errorBox({ errors: [`${status.failed} could not be revoked; they stay scheduled for retry.`] })
          : notice(`Done: ${status.revoked} leases revoked.`));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } catch (e) {
    out.append(errorBox(e));
  }
}
