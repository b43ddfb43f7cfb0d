// One identity: what it is, who owns it, what it can reach, its leases and
// the requests it made lately.

import { get, list, pathOf } from '../api.js';
import { h, fill, pairs, riskBadge, routeQuery, show, table, errorBox } from '../dom.js';

/** The lease prefixes a role mints under (as the server's nhi::paths does). */
function leasePrefixes(identity) {
  const [mount, name] = identity.id.split('/roles/');
  if (name === undefined) return [];
  if (identity.identity_type === 'db_role') return [`${mount}/creds/${name}/`];
  if (identity.identity_type === 'aws_role') return [`${mount}/creds/${name}/`, `${mount}/sts/${name}/`];
  return [];
}

export async function render(main) {
  const id = routeQuery().get('id') || '';
  const answer = await get(`sys/nhi/identities/${pathOf(id)}`);
  const i = answer.data;
  const leaseBox = h('div', { id: 'identity-leases' });
  const requestBox = h('div', { id: 'identity-requests' });
  fill(main,
    h('p', {}, h('a', { href: '#/identities' }, '← Identities')),
    h('h1', { class: 'mono' }, i.id),
    h('div', { class: 'panel' }, pairs([
      ['Kind', i.identity_type],
      ['Owner', i.owner || 'none'],
      ['Purpose', show(i.purpose)],
      ['Environment', show(i.environment)],
      ['Labels', show(i.labels && Object.keys(i.labels).length ? Object.entries(i.labels).map(([k, v]) => `${k}=${v}`) : '')],
      ['Created', show(i.creation_date)],
      ['Last used', show(i.last_accessed)],
      ['Expires', show(i.expiration)],
      ['Disabled', show(i.disabled)],
      ['Orphaned', i.orphaned ? 'yes' : 'no'],
      ['Risk', h('span', {}, riskBadge(i.risk_score))],
    ])),
    h('h2', {}, 'Why this risk'),
    i.risk_reasons.length ? h('ul', { class: 'reasons', id: 'identity-reasons' }, i.risk_reasons.map((r) => h('li', {}, r)))
      : h('p', { class: 'muted' }, 'Nothing raises it.'),
    h('h2', {}, 'Policies and what they grant'),
    i.permissions.length ? h('ul', { class: 'plain mono' }, i.permissions.map((p) => h('li', {}, p)))
      : h('p', { class: 'muted' }, 'No permissions.'),
    h('h2', {}, `Leases (${i.active_leases} active)`), leaseBox,
    h('h2', {}, 'Recent requests'), requestBox);

  const prefixes = leasePrefixes(i);
  if (!prefixes.length) {
    fill(leaseBox, h('p', { class: 'muted' }, 'Leases of this kind of identity are listed under Leases.'));
  } else {
    const found = [];
    try {
      for (const prefix of prefixes) {
        for (const key of await list(`sys/leases/lookup/${pathOf(prefix.replace(/\/$/, ''))}/`)) found.push(prefix + key);
      }
      fill(leaseBox, found.length
        ? h('ul', { class: 'plain mono' }, found.slice(0, 200).map((lease) =>
          h('li', {}, h('a', { href: `#/leases?prefix=${encodeURIComponent(lease.slice(0, lease.lastIndexOf('/') + 1))}` }, lease))))
        : h('p', { class: 'muted' }, 'No active leases.'),
      found.length > 200 ? h('p', { class: 'muted' }, `and ${found.length - 200} more`) : null);
    } catch (e) {
      fill(leaseBox, errorBox(e));
    }
  }
  const requests = i.recent_requests || [];
  fill(requestBox, requests.length ? table([
    ['Time', (r) => r.time],
    ['Operation', (r) => r.operation],
    ['Path', (r) => h('span', { class: 'mono' }, r.path)],
    ['Status', (r) => show(r.status)],
    ['From', (r) => show(r.remote_address)],
  ], requests.slice().reverse()) : h('p', { class: 'muted' }, 'No requests recorded since this identity was last seen.'));
}
