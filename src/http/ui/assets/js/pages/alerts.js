// Drift alerts: what departed from its workload's baseline, the baseline it
// broke, and acknowledging it.

import { get, post, pathOf } from '../api.js';
import { h, fill, table, routeQuery, go, show, errorBox } from '../dom.js';

function baselineText(baseline) {
  if (!baseline || typeof baseline !== 'object') return 'n/a';
  return Object.entries(baseline).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${show(v)}`).join('; ');
}

export async function render(main) {
  const pendingOnly = routeQuery().get('acknowledged') === 'false';
  const toggle = h('label', { class: 'row' }, h('span', {},
    h('input', { type: 'checkbox', id: 'alerts-pending', checked: pendingOnly,
      onchange: (e) => go('#/alerts', e.target.checked ? { acknowledged: 'false' } : undefined) }),
    ' Only alerts not acknowledged'));
  const answer = (await get(`sys/nhi/alerts${pendingOnly ? '?acknowledged=false' : ''}`)).data;
  const alerts = (answer.alerts || []).slice().reverse();
  const ack = (alert) => {
    if (alert.acknowledged) return h('span', { class: 'muted' }, `acknowledged${alert.acknowledged_by ? ` by ${alert.acknowledged_by}` : ''}`);
    if (!alert.id) return h('span', { class: 'muted' }, 'n/a');
    const button = h('button', { type: 'button', class: 'secondary', 'data-ack': alert.id }, 'Acknowledge');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await post(`sys/nhi/alerts/${pathOf(alert.id)}/ack`);
        fill(button.parentElement, h('span', { class: 'muted' }, 'acknowledged'));
      } catch (e) {
        button.parentElement.append(errorBox(e));
        button.disabled = false;
      }
    });
    return button;
  };
  fill(main, h('h1', {}, 'Drift alerts'), toggle,
    alerts.length ? table([
      ['Time', (a) => a.time],
      ['Identity', (a) => h('span', { class: 'mono' }, a.identity)],
      ['What', (a) => a.reason],
      ['Detail', (a) => a.detail],
      ['Path', (a) => h('span', { class: 'mono' }, a.path)],
      ['From', (a) => a.remote_address],
      ['Baseline it broke', (a) => baselineText(a.baseline)],
      ['Refused', (a) => (a.denied ? 'yes' : 'no')],
      ['', ack],
    ], alerts, { rowId: (a) => a.id }) : h('p', { class: 'muted' }, 'No drift alerts.'));
}
