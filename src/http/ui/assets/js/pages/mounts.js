// The secrets engines and auth methods mounted.

import { get } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';

async function section(title, path) {
  try {
    const answer = await get(path);
    const data = answer.data || answer;
    const rows = Object.entries(data).filter(([, v]) => v && typeof v === 'object' && v.type)
      .map(([p, v]) => ({ path: p, ...v }));
    return [h('h2', {}, title), table([
      ['Path', (m) => h('span', { class: 'mono' }, m.path)],
      ['Type', (m) => m.type],
      ['Description', (m) => m.description || ''],
      ['Accessor', (m) => h('span', { class: 'mono' }, m.accessor || '')],
    ], rows, { rowId: (m) => m.path })];
  } catch (e) {
    return [h('h2', {}, title), errorBox(e)];
  }
}

export async function render(main) {
  fill(main, h('h1', {}, 'Mounts'),
    ...(await section('Secrets engines', 'sys/mounts')),
    ...(await section('Auth methods', 'sys/auth')));
}
