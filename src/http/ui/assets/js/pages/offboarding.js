// Offboarding an owner: the dry run (what would be revoked, disabled or
// handed over), then the real one after a confirmation.

import { post, pathOf } from '../api.js';
import { h, fill, table, riskBadge, routeQuery, go, errorBox, notice, pairs, show } from '../dom.js';

export async function render(main) {
  const query = routeQuery();
  const owner = query.get('owner') || '';
  const reassign = query.get('reassign_to') || '';
  const chooser = h('form', { class: 'row', id: 'offboard-form' },
    h('label', {}, 'Owner', h('input', { name: 'owner', id: 'offboard-owner', value: owner, required: true })),
    h('label', {}, 'Hand roles over to (optional)', h('input', { name: 'reassign_to', id: 'offboard-reassign', value: reassign })),
    h('button', { type: 'submit', id: 'offboard-preview' }, 'Dry run'));
  chooser.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(chooser);
    const params = { owner: String(data.get('owner')).trim() };
    if (String(data.get('reassign_to')).trim()) params.reassign_to = String(data.get('reassign_to')).trim();
    if (params.owner) go('#/offboarding', params);
  });
  const result = h('div', { id: 'offboard-result', 'aria-live': 'polite' });
  fill(main, h('h1', {}, 'Offboarding'),
    h('p', { class: 'muted' }, 'Revokes the owner\'s tokens and leases and disables their roles, or hands the roles to a new owner.'),
    chooser, result);
  if (!owner) return;
  const path = `sys/nhi/owners/${pathOf(owner)}/offboard`;
  const body = reassign ? { reassign_to: reassign } : {};
  let plan;
  try {
    plan = (await post(path, { ...body, dry_run: true })).data;
  } catch (e) {
    fill(result, errorBox(e));
    return;
  }
  const owned = plan.identities || [];
  const confirm = h('button', { type: 'button', class: 'danger', id: 'offboard-confirm', disabled: !owned.length }, `Offboard ${owner}`);
  const progress = h('div', { id: 'offboard-progress', 'aria-live': 'polite' });
  // Two steps in the page (no browser dialog): the button asks, a second
  // button does it.
  confirm.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger', id: 'offboard-really' }, `Yes, revoke ${owner}'s credentials now`);
    const no = h('button', { type: 'button', class: 'secondary', id: 'offboard-cancel', onclick: () => fill(progress) }, 'Cancel');
    yes.addEventListener('click', async () => {
      confirm.disabled = true;
      fill(progress, h('progress', { 'aria-label': 'Offboarding' }), h('p', {}, 'Revoking…'));
      try {
        const done = (await post(path, body)).data;
        fill(progress, notice(`Offboarded ${owner}.`), pairs([
          ['Revoked tokens', show(done.revoked_tokens)],
          ['Revoked leases', show(done.revoked_leases)],
          [reassign ? 'Reassigned roles' : 'Disabled roles', show(done.disabled_roles || done.reassigned_roles)],
        ]));
      } catch (e) {
        fill(progress, errorBox(e));
        confirm.disabled = false;
      }
    });
    fill(progress, h('p', { role: 'alert' }, `This revokes ${owned.length} identities' credentials now.`), h('div', { class: 'row' }, yes, no));
    yes.focus();
  });
  fill(result,
    h('h2', {}, `Dry run: ${owned.length} identities owned by ${owner}`),
    owned.length ? table([
      ['Identity', (i) => h('span', { class: 'mono' }, i.id)],
      ['Kind', (i) => i.identity_type],
      ['Would be', (i) => i.identity_type === 'token' ? 'revoked'
        : reassign ? `handed to ${reassign}` : `disabled, ${i.active_leases} leases revoked`],
      ['Risk', (i) => riskBadge(i.risk_score), 'num'],
    ], owned, { rowId: (i) => i.id }) : h('p', { class: 'muted' }, 'Nothing is owned by this name.'),
    h('div', { class: 'row' }, confirm), progress);
}
