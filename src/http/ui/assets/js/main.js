// The console's shell: a hash router (#/identities, #/leases?prefix=...),
// the navigation, and the login guard. Each page is a module exporting
// `render(main)`; it draws into `main` and fetches through api.js.

import { session, get, ApiError } from './api.js';
import { fill, errorBox } from './dom.js';
import * as login from './pages/login.js';
import * as dashboard from './pages/dashboard.js';
import * as identities from './pages/identities.js';
import * as identity from './pages/identity.js';
import * as offboarding from './pages/offboarding.js';
import * as leases from './pages/leases.js';
import * as alerts from './pages/alerts.js';
import * as secrets from './pages/secrets.js';
import * as policies from './pages/policies.js';
import * as mounts from './pages/mounts.js';

const pages = {
  '#/login': login,
  '#/dashboard': dashboard,
  '#/identities': identities,
  '#/identity': identity,
  '#/offboarding': offboarding,
  '#/leases': leases,
  '#/alerts': alerts,
  '#/secrets': secrets,
  '#/policies': policies,
  '#/mounts': mounts,
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const whoami = document.getElementById('whoami');
const logout = document.getElementById('logout');

logout.addEventListener('click', () => {
  session.forget();
  location.hash = '#/login';
});

/** Who the token is, shown in the header; null when it no longer works. */
async function lookupSelf() {
  try {
    const answer = await get('auth/token/lookup-self');
    return answer.data;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 401)) return null;
    throw e;
  }
}

let generation = 0;

async function route() {
  const mine = ++generation;
  const hash = location.hash || '#/dashboard';
  const base = hash.split('?')[0];
  const page = pages[base] || dashboard;
  const signedIn = Boolean(session.token());
  if (page !== login && !signedIn) {
    location.hash = '#/login';
    return;
  }
  nav.hidden = !signedIn || page === login;
  logout.hidden = nav.hidden;
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === base) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (signedIn && page !== login) {
    const self = await lookupSelf().catch(() => undefined);
    if (mine !== generation) return;
    if (self === null) {
      session.forget();
      location.hash = '#/login';
      return;
    }
    whoami.textContent = self ? `${self.display_name} (${(self.policies || []).join(', ')})` : '';
  } else {
    whoami.textContent = '';
  }
  fill(main);
  try {
    await page.render(main);
  } catch (e) {
    if (mine === generation) fill(main, errorBox(e));
  }
  if (mine === generation) main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
route();
