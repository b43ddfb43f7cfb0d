// Building the page without innerHTML: every value from the server is set
// as text, so a hostile name or owner stays text and never becomes markup.

/** h('a', {href: '#/x'}, 'text', child): an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `el` holds. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An error box (role=alert, so screen readers announce it). */
export function errorBox(error) {
  const lines = error && error.errors ? error.errors : [String(error && error.message || error)];
  return h('div', { class: 'error', role: 'alert' }, lines.join('\n'));
}

export function notice(text) {
  return h('div', { class: 'notice', role: 'status' }, text);
}

/** A table: columns are [header, cell(row) -> node or text, class?]. */
export function table(columns, rows, { caption, rowId } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'responsive' },
      caption ? h('caption', { class: 'muted' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map(([head, , cls]) => h('th', { scope: 'col', class: cls }, head)))),
      h('tbody', {}, rows.map((row) => h('tr', { 'data-id': rowId ? rowId(row) : undefined },
        columns.map(([head, cell, cls]) => h('td', { 'data-label': head, class: cls }, cell(row))))))));
}

/** Key/value pairs as a description list. */
export function pairs(entries) {
  return h('dl', { class: 'kv' }, entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function riskBadge(score) {
  const band = score >= 75 ? 'critical' : score >= 50 ? 'high' : score >= 25 ? 'medium' : 'low';
  return h('span', { class: `risk ${band}`, title: `risk ${score} (${band})` }, String(score));
}

/** The hash route's query (`#/leases?prefix=x`). */
export function routeQuery() {
  const hash = location.hash || '';
  const q = hash.indexOf('?');
  return new URLSearchParams(q >= 0 ? hash.slice(q + 1) : '');
}

export function go(route, params) {
  const query = params ? new URLSearchParams(params).toString() : '';
  location.hash = query ? `${route}?${query}` : route;
}

export function show(value) {
  if (value === null || value === undefined || value === '') return 'n/a';
  if (Array.isArray(value)) return value.length ? value.join(', ') : 'none';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
