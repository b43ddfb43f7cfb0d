// KV secrets: pick a mount, browse its folders, read a secret (values
// hidden until asked for) and, on KV v2, its versions.

import { get, list, pathOf } from '../api.js';
import { h, fill, routeQuery, pairs, show, errorBox } from '../dom.js';

async function kvMounts() {
  const answer = await get('sys/mounts');
  const data = answer.data || answer;
  return Object.entries(data)
    .filter(([, m]) => m && (m.type === 'kv' || m.type === 'kv-v2' || m.type === 'generic'))
    .map(([path, m]) => ({ path, v2: m.type === 'kv-v2' || (m.options && m.options.version === '2') }));
}

const link = (mount, path, text) =>
  h('a', { href: `#/secrets?mount=${encodeURIComponent(mount)}&path=${encodeURIComponent(path)}`, class: 'mono' }, text);

export async function render(main) {
  const query = routeQuery();
  const mounts = await kvMounts();
  const mount = query.get('mount') || (mounts[0] && mounts[0].path) || '';
  const path = query.get('path') || '';
  const picker = h('nav', { class: 'row', 'aria-label': 'KV mounts' },
    mounts.map((m) => h('a', { href: `#/secrets?mount=${encodeURIComponent(m.path)}`, 'aria-current': m.path === mount ? 'page' : undefined, class: 'mono' }, m.path)));
  const body = h('div', { id: 'secret-body' });
  fill(main, h('h1', {}, 'Secrets'), picker, h('p', { class: 'mono' }, link(mount, '', mount), path), body);
  const kv = mounts.find((m) => m.path === mount);
  if (!kv) return fill(body, h('p', { class: 'muted' }, 'No KV mount.'));
  const base = mount.replace(/\/$/, '');
  if (path === '' || path.endsWith('/')) {
    const folder = path ? `${pathOf(path.slice(0, -1))}/` : '';
    const keys = await list(kv.v2 ? `${pathOf(base)}/metadata/${folder}` : `${pathOf(base)}/${folder}`);
    return fill(body, keys.length ? h('ul', { class: 'plain', id: 'secret-keys' }, keys.map((k) => h('li', {}, link(mount, path + k, k))))
      : h('p', { class: 'muted' }, 'Nothing here.'));
  }
  const version = query.get('version');
  try {
    const read = await get(kv.v2 ? `${pathOf(base)}/data/${pathOf(path)}${version ? `?version=${encodeURIComponent(version)}` : ''}`
      : `${pathOf(base)}/${pathOf(path)}`);
    const values = kv.v2 ? (read.data.data || {}) : read.data;
    const hidden = h('dl', { class: 'kv', id: 'secret-values' }, Object.keys(values).flatMap((k) => [h('dt', {}, k), h('dd', { class: 'mono' }, '••••••')]));
    const reveal = h('button', { type: 'button', class: 'secondary', id: 'secret-reveal' }, 'Show values');
    reveal.addEventListener('click', () => {
      fill(hidden, Object.entries(values).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, show(v))]));
      reveal.remove();
    });
    fill(body, h('div', { class: 'panel' }, hidden, reveal));
    if (kv.v2) {
      const meta = (await get(`${pathOf(base)}/metadata/${pathOf(path)}`)).data;
      const versions = Object.entries(meta.versions || {}).sort((a, b) => Number(b[0]) - Number(a[0]));
      body.append(h('h2', {}, 'Versions'), h('ul', { class: 'plain', id: 'secret-versions' }, versions.map(([n, v]) =>
        h('li', {}, h('a', { href: `#/secrets?mount=${encodeURIComponent(mount)}&path=${encodeURIComponent(path)}&version=${n}` }, `version ${n}`),
          ` created ${v.created_time}`, v.deletion_time ? ` (deleted ${v.deletion_time})` : '', v.destroyed ? ' (destroyed)' : ''))),
      pairs([['Current version', show(meta.current_version)], ['Max versions', show(meta.max_versions)]]));
    }
  } catch (e) {
    fill(body, errorBox(e));
  }
}
