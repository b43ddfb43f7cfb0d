// Unseal (when sealed) and log in with a token, userpass or AppRole.

import { session, get, put, post, pathOf } from '../api.js';
import { h, fill, errorBox } from '../dom.js';

export async function render(main) {
  const status = await get('sys/seal-status');
  if (status.sealed) return unseal(main, status);
  const box = h('section', { class: 'login panel', 'aria-labelledby': 'login-title' });
  fill(main, box);
  const methods = [
    ['token', 'Token', tokenForm],
    ['userpass', 'Userpass', userpassForm],
    ['approle', 'AppRole', approleForm],
  ];
  const formHolder = h('div');
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Login method' });
  const select = (name) => {
    for (const tab of tabs.children) tab.setAttribute('aria-selected', String(tab.dataset.method === name));
    const [, , make] = methods.find(([n]) => n === name);
    fill(formHolder, make());
    formHolder.querySelector('input')?.focus();
  };
  for (const [name, label] of methods) {
    tabs.append(h('button', { type: 'button', role: 'tab', id: `tab-${name}`, 'data-method': name, onclick: () => select(name) }, label));
  }
  fill(box, h('h1', { id: 'login-title' }, 'Sign in'), tabs, formHolder);
  select('token');
}

function form(id, fields, submitLabel, onSubmit) {
  const error = h('div');
  const el = h('form', { id, novalidate: true }, fields, error, h('button', { type: 'submit', id: `${id}-submit` }, submitLabel));
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    fill(error);
    const submit = el.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      await onSubmit(new FormData(el));
    } catch (e) {
      fill(error, errorBox(e));
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

const input = (label, name, attrs = {}) =>
  h('label', {}, label, h('input', { name, id: `login-${name}`, autocomplete: 'off', ...attrs }));

async function signedIn(token) {
  session.remember(token);
  try {
    await get('auth/token/lookup-self');
  } catch (e) {
    session.forget();
    throw e;
  }
  location.hash = '#/identities';
}

function tokenForm() {
  return form('form-token', [input('Token', 'token', { type: 'password', required: true })], 'Sign in',
    async (data) => signedIn(String(data.get('token')).trim()));
}

function userpassForm() {
  return form('form-userpass', [
    input('Mount path', 'mount', { value: 'userpass' }),
    input('Username', 'username', { required: true, autocomplete: 'username' }),
    input('Password', 'password', { type: 'password', required: true, autocomplete: 'current-password' }),
  ], 'Sign in', async (data) => {
    const path = pathOf('auth', String(data.get('mount')).replace(/^\/+|\/+$/g, ''), 'login', String(data.get('username')));
    const answer = await post(path, { password: String(data.get('password')) });
    await signedIn(answer.auth.client_token);
  });
}

function approleForm() {
  return form('form-approle', [
    input('Mount path', 'mount', { value: 'approle' }),
    input('Role ID', 'role_id', { required: true }),
    input('Secret ID', 'secret_id', { type: 'password' }),
  ], 'Sign in', async (data) => {
    const path = pathOf('auth', String(data.get('mount')).replace(/^\/+|\/+$/g, ''), 'login');
    const body = { role_id: String(data.get('role_id')) };
    if (data.get('secret_id')) body.secret_id = String(data.get('secret_id'));
    const answer = await post(path, body);
    await signedIn(answer.auth.client_token);
  });
}

function unseal(main, status) {
  const progress = h('p', { id: 'unseal-progress' }, `Sealed: ${status.progress} of ${status.t} key shares given.`);
  const el = form('unseal', [input('Unseal key share', 'key', { type: 'password', required: true })], 'Unseal',
    async (data) => {
      const answer = await put('sys/unseal', { key: String(data.get('key')).trim() });
      if (!answer.sealed) return render(main);
      progress.textContent = `Sealed: ${answer.progress} of ${answer.t} key shares given.`;
      el.reset();
    });
  fill(main, h('section', { class: 'login panel' }, h('h1', {}, 'Unseal'), progress, el));
}
