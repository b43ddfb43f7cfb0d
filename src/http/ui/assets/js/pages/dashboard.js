// A small dashboard: leases by mount, issuance and revocation rates,
// identities by risk band, orphans. Charts are SVG drawn here; each tile
// that the token may not read says so instead.

import { get, call } from '../api.js';
import { h, fill, errorBox } from '../dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const SAMPLE_MS = 5000;
const KEEP = 60;
let timer = null;
const series = []; // [{at, issued, revoked}]

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Horizontal bars: [[label, value]]. */
function bars(entries, title) {
  const width = 420;
  const row = 24;
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${Math.max(1, entries.length) * row + 4}`, role: 'img', 'aria-label': title, width: '100%' });
  entries.forEach(([label, value], i) => {
    const w = Math.round(((width - 190) * value) / max);
    chart.append(
      svg('text', { x: 0, y: i * row + 16 }, label.length > 22 ? `${label.slice(0, 21)}…` : label),
      svg('rect', { class: 'bar', x: 150, y: i * row + 4, width: Math.max(w, value ? 2 : 0), height: row - 8, rx: 2 }),
      svg('text', { x: 156 + w, y: i * row + 16 }, String(value)));
  });
  return chart;
}

/** A line of per-second rates over the samples kept. */
function line(points, title) {
  const width = 420;
  const height = 90;
  const max = Math.max(1, ...points);
  const step = points.length > 1 ? width / (points.length - 1) : width;
  const coords = points.map((p, i) => `${Math.round(i * step)},${Math.round(height - (p * (height - 10)) / max)}`).join(' ');
  return svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, width: '100%' },
    svg('polyline', { points: coords || `0,${height}` }));
}

function parseMetrics(text) {
  const byMount = new Map();
  let issued = 0;
  let revoked = 0;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) continue;
    const m = raw.match(/^(qm_[a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$/);
    if (!m) continue;
    const [, name, labels = '', value] = m;
    const n = Number(value);
    if (name === 'qm_leases_active') {
      const mount = (labels.match(/mount="([^"]*)"/) || [])[1] || '?';
      byMount.set(mount, (byMount.get(mount) || 0) + n);
    } else if (name === 'qm_leases_issued_total') issued += n;
    else if (name === 'qm_leases_revoked_total') revoked += n;
  }
  return { byMount, issued, revoked };
}

async function riskBands() {
  const count = async (query) => (await get(`sys/nhi/identities?sort=risk&limit=1&${query}`)).data.total;
  const [all, above24, above49, above74, orphans] = await Promise.all(
    ['', 'risk_above=24', 'risk_above=49', 'risk_above=74', 'orphaned=true'].map(count));
  return {
    bands: [['low (0-24)', all - above24], ['medium (25-49)', above24 - above49], ['high (50-74)', above49 - above74], ['critical (75+)', above74]],
    orphans,
  };
}

export async function render(main) {
  if (timer) clearInterval(timer);
  const leaseTile = h('div', { id: 'dash-leases' }, 'Loading…');
  const rateTile = h('div', { id: 'dash-rates' }, 'Measuring…');
  const riskTile = h('div', { id: 'dash-risk' }, 'Loading…');
  const orphanTile = h('div', { id: 'dash-orphans' }, 'Loading…');
  fill(main, h('h1', {}, 'Dashboard'), h('div', { class: 'cards' },
    h('section', { class: 'panel card' }, h('h2', {}, 'Leases by mount'), leaseTile),
    h('section', { class: 'panel card' }, h('h2', {}, 'Issuance and revocation'), rateTile),
    h('section', { class: 'panel card' }, h('h2', {}, 'Identities by risk'), riskTile),
    h('section', { class: 'panel card' }, h('h2', {}, 'Orphaned identities'), orphanTile)));

  const sample = async () => {
    if (!document.body.contains(rateTile)) {
      clearInterval(timer);
      return;
    }
    try {
      const parsed = parseMetrics(await call('GET', 'sys/metrics?format=prometheus', undefined, { raw: true }));
      fill(leaseTile, parsed.byMount.size ? bars([...parsed.byMount.entries()].sort((a, b) => b[1] - a[1]), 'Active leases by mount')
        : h('p', { class: 'muted' }, 'No active leases.'));
      series.push({ at: Date.now(), issued: parsed.issued, revoked: parsed.revoked });
      while (series.length > KEEP) series.shift();
      const rates = (key) => series.slice(1).map((s, i) => Math.max(0, (s[key] - series[i][key]) / ((s.at - series[i].at) / 1000)));
      const issued = rates('issued');
      const revoked = rates('revoked');
      if (issued.length) {
        const last = (xs) => xs[xs.length - 1].toFixed(1);
        fill(rateTile, h('p', {}, `Issued ${last(issued)}/s, revoked ${last(revoked)}/s (every ${SAMPLE_MS / 1000} s)`),
          h('p', { class: 'muted' }, 'Issued'), line(issued, 'Leases issued per second'),
          h('p', { class: 'muted' }, 'Revoked'), line(revoked, 'Leases revoked per second'));
      } else {
        fill(rateTile, h('p', { class: 'muted' }, `Totals: ${parsed.issued} issued, ${parsed.revoked} revoked since start; rates after the next sample.`));
      }
    } catch (e) {
      fill(leaseTile, errorBox(e));
      fill(rateTile, errorBox(e));
    }
  };
  await sample();
  timer = setInterval(sample, SAMPLE_MS);
  try {
    const { bands, orphans } = await riskBands();
    fill(riskTile, bars(bands, 'Identities by risk band'));
    fill(orphanTile, h('p', { class: 'big' }, String(orphans)),
      h('a', { href: '#/identities?orphaned=true' }, 'See them'));
  } catch (e) {
    fill(riskTile, errorBox(e));
    fill(orphanTile, errorBox(e));
  }
}
