// ACL policies: list, read, edit and create, with the server's validation
// errors shown next to the text.

import { get, put, list, pathOf } from '../api.js';
import { h, fill, routeQuery, go, errorBox, notice } from '../dom.js';

export async function render(main) {
  const name = routeQuery().get('name') || '';
  const names = await list('sys/policies/acl');
  const creator = h('form', { class: 'row', id: 'policy-new' },
    h('label', {}, 'New policy', h('input', { name: 'name', id: 'policy-new-name', placeholder: 'name', required: true })),
    h('button', { type: 'submit', class: 'secondary' }, 'Create'));
  creator.addEventListener('submit', (event) => {
    event.preventDefault();
    const wanted = String(new FormData(creator).get('name')).trim();
    if (wanted) go('#/policies', { name: wanted });
  });
  const editor = h('div', { id: 'policy-editor' });
  fill(main, h('h1', {}, 'Policies'), creator,
    h('div', { class: 'cards' },
      h('ul', { class: 'plain', id: 'policy-list' }, names.map((n) => h('li', {}, h('a', { href: `#/policies?name=${encodeURIComponent(n)}`, 'aria-current': n === name ? 'page' : undefined }, n)))),
      editor));
  if (!name) return;
  let text = '';
  try {
    text = (await get(`sys/policies/acl/${pathOf(name)}`)).data.policy || '';
  } catch (e) {
    if (e.status !== 404) return fill(editor, errorBox(e));
  }
  const area = h('textarea', { id: 'policy-text', name: 'policy', spellcheck: 'false', 'aria-label': `Policy ${name}`, 'aria-describedby': 'policy-status' });
  area.value = text;
  const status = h('div', { id: 'policy-status', 'aria-live': 'polite' });
  const save = h('button', { type: 'button', id: 'policy-save', disabled: name === 'root' }, 'Save');
  save.addEventListener('click', async () => {
    save.disabled = true;
    try {
      await put(`sys/policies/acl/${pathOf(name)}`, { policy: area.value });
      fill(status, notice(`Saved ${name}.`));
    } catch (e) {
      fill(status, errorBox(e));
    } finally {
      save.disabled = false;
    }
  });
  fill(editor, h('h2', { class: 'mono' }, name), area, status, h('div', { class: 'row' }, save));
}
