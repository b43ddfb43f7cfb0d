// The one way the console talks to the server: the same HTTP API and ACL
// as every other client. The token lives in this tab's sessionStorage
// only; logging out forgets it and revokes nothing.

const TOKEN_KEY = 'qm.token';

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  remember: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.join('; '));
    this.status = status;
    this.errors = errors;
  }
}

/** One segment-by-segment encoded path: slashes stay, the rest is escaped. */
export function pathOf(...parts) {
  return parts.join('/').split('/').map(encodeURIComponent).join('/');
}

/**
 * Calls `/v1/<path>` (path already encoded; use pathOf for user values).
 * Resolves to the parsed body (null for 204); rejects with ApiError
 * carrying Vault's `errors`.
 */
export async function call(method, path, body, { raw = false } = {}) {
  const headers = {};
  const token = session.token();
  if (token) headers['X-Vault-Token'] = token;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/v1/${path}`, init);
  const text = await response.text();
  if (!response.ok) {
    let errors = [`${response.status} ${response.statusText}`];
    try {
      const parsed = JSON.parse(text);
      if (Array.isArray(parsed.errors) && parsed.errors.length) errors = parsed.errors.map(String);
    } catch (_) { /* not JSON: keep the status line */ }
    throw new ApiError(response.status, errors);
  }
  if (raw) return text;
  return text ? JSON.parse(text) : null;
}

export const get = (path) => call('GET', path);
export const put = (path, body = {}) => call('PUT', path, body);
export const post = (path, body = {}) => call('POST', path, body);

/** LIST as `GET ?list=true`; an empty folder (404) is no keys. */
export async function list(path) {
  try {
    const answer = await call('GET', `${path}${path.includes('?') ? '&' : '?'}list=true`);
    return (answer && answer.data && answer.data.keys) || [];
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return [];
    throw e;
  }
}
