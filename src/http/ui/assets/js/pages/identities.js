// The identity inventory: filters, sort by risk, 100 rows a page.

import { get } from '../api.js';
import { h, fill, table, riskBadge, routeQuery, go, show, errorBox } from '../dom.js';

const PAGE = 100;
const KINDS = ['', 'token', 'db_role', 'static_db_user', 'aws_role', 'approle', 'jwt_role', 'lease',
  'postgres_role', 'iam_user', 'iam_access_key', 'iam_role', 'file_secret'];
const FILTERS = ['owner', 'kind', 'managed', 'orphaned', 'risk_above', 'unused_for', 'sort'];

export async function render(main) {
  const query = routeQuery();
  const offset = Math.max(0, parseInt(query.get('offset') || '0', 10) || 0);
  const value = (name) => query.get(name) || '';
  const field = (label, name, attrs = {}) =>
    h('label', {}, label, h('input', { name, id: `filter-${name}`, value: value(name), ...attrs }));
  const choice = (label, name, options) => h('label', {}, label,
    h('select', { name, id: `filter-${name}` }, options.map(([v, text]) =>
      h('option', { value: v, selected: v === value(name) }, text))));
  const filters = h('form', { class: 'row', id: 'identity-filters', role: 'search' },
    field('Owner', 'owner', { placeholder: 'any' }),
    choice('Kind', 'kind', KINDS.map((k) => [k, k || 'any'])),
    choice('Managed', 'managed', [['', 'any'], ['true', 'issued by the broker'], ['false', 'discovered outside']]),
    choice('Orphaned', 'orphaned', [['', 'any'], ['true', 'orphaned only'], ['false', 'not orphaned']]),
    field('Risk above', 'risk_above', { type: 'number', min: 0, max: 100, inputmode: 'numeric', size: 4 }),
    field('Unused for', 'unused_for', { placeholder: 'e.g. 30d', size: 8 }),
    choice('Sort', 'sort', [['source', 'source order'], ['risk', 'risk, highest first'], ['id', 'id'], ['last_accessed', 'last used']]),
    h('button', { type: 'submit', id: 'filter-apply' }, 'Apply'));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = {};
    for (const [k, v] of new FormData(filters)) if (String(v).trim()) params[k] = String(v).trim();
    go('#/identities', params);
  });
  const results = h('div', { id: 'identity-results', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  fill(main, h('h1', {}, 'Identities'), filters, results);

  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  for (const name of FILTERS) if (value(name)) params.set(name, value(name));
  // Source order by default: its first page reads only that page, at any
  // scale (sort=risk scores every identity until the risk index lands).
  // Marks for benches/nhi_scale.rs: the API's share and the table's.
  performance.clearMarks();
  performance.clearMeasures();
  performance.mark('qm-identities-asked');
  let answer;
  try {
    answer = (await get(`sys/nhi/identities?${params}`)).data;
    performance.mark('qm-identities-answered');
  } catch (e) {
    fill(results, errorBox(e));
    return;
  }
  const rows = answer.identities;
  const pageOf = (at) => {
    const next = Object.fromEntries(query);
    next.offset = String(at);
    return () => go('#/identities', next);
  };
  const total = answer.total === null || answer.total === undefined ? null : answer.total;
  const counted = total === null ? `${offset + 1}–${offset + rows.length}${answer.more ? ' of more' : ''}`
    : `${rows.length ? offset + 1 : 0}–${offset + rows.length} of ${total}`;
  fill(results,
    table([
      ['Risk', (i) => riskBadge(i.risk_score), 'num'],
      ['Identity', (i) => h('a', { href: `#/identity?id=${encodeURIComponent(i.id)}`, class: 'mono' }, i.id)],
      ['Kind', (i) => i.identity_type],
      ['Owner', (i) => i.owner || h('span', { class: 'muted' }, 'none')],
      ['Managed', (i) => i.managed ? 'yes' : h('span', { class: 'muted' }, `found in ${i.source}`)],
      ['Environment', (i) => show(i.environment)],
      ['Last used', (i) => show(i.last_accessed)],
      ['Expires', (i) => show(i.expiration)],
      ['Leases', (i) => String(i.active_leases), 'num'],
      ['Why', (i) => i.risk_reasons.length
        ? h('ul', { class: 'reasons' }, i.risk_reasons.map((r) => h('li', {}, r))) : h('span', { class: 'muted' }, '—')],
    ], rows, { rowId: (i) => i.id, caption: `Identities ${counted}` }),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      h('button', { type: 'button', class: 'secondary', id: 'page-prev', disabled: offset === 0, onclick: pageOf(Math.max(0, offset - PAGE)) }, 'Previous'),
      h('span', { id: 'page-status' }, counted),
      h('button', { type: 'button', class: 'secondary', id: 'page-next', disabled: !answer.more, onclick: pageOf(offset + PAGE) }, 'Next')));
  void results.offsetHeight; // the layout of the rows counts too
  performance.measure('qm-identities-render', 'qm-identities-answered');
  performance.measure('qm-identities-total', 'qm-identities-asked');
}
