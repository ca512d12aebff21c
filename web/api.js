// api.js — the console's HTTP API (docs/console-api.md): JSON in and out, the session cookie,
// the CSRF header on every POST, one error shape.

import { noteServerDate } from './util.js';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // 0 = the request never got an answer
    this.code = code;
    this.retryAfter = retryAfter; // seconds, for 429
  }
}

let csrfToken = null;
let unauthorizedHandler = () => {};

export function setCsrf(token) {
  csrfToken = token || null;
}

/** Called on any 401 (other than a failed login): the console shows the login form. */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

const FALLBACK = {
  400: ['invalid', 'The request was refused as invalid.'],
  401: ['unauthenticated', 'Your session has ended. Please sign in again.'],
  403: ['forbidden', 'You are not allowed to do this.'],
  404: ['not_found', 'Not found.'],
  405: ['method', 'Method not allowed.'],
  409: ['conflict', 'The case changed meanwhile.'],
  413: ['too_big', 'The request is too big.'],
  429: ['rate_limited', 'Too many attempts.'],
  500: ['internal', 'The server failed; nothing was changed.'],
};

function parseRetryAfter(v) {
  if (!v) return null;
  if (/^\d+$/.test(v.trim())) return parseInt(v, 10);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

/**
 * One API call. GET has no body; everything else sends JSON with the CSRF token.
 * opts.auth401 = false: a 401 is only thrown, not turned into "show the login form".
 */
export async function request(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached (network error).');
  }
  noteServerDate(res.headers.get('Date'));
  let data = null;
  try {
    const text = await res.text();
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return data ?? {};

  const [fbCode, fbMsg] = FALLBACK[res.status] || ['http_' + res.status, `The server answered ${res.status}.`];
  const e = (data && typeof data === 'object' && data.error) || {};
  const err = new ApiError(res.status, e.code || fbCode, e.message || fbMsg,
    parseRetryAfter(res.headers.get('Retry-After')));

  // A stale CSRF token (e.g. the server restarted its sessions' tokens): re-read it once and retry.
  // Safe for replies too: they carry a request_id, so a retry is the same reply.
  if (res.status === 403 && err.code === 'csrf' && method !== 'GET' && !opts.csrfRetried &&
      path !== '/api/login') {
    try {
      const me = await request('GET', '/api/me', null, opts);
      setCsrf(me.csrf);
      return await request(method, path, body, { ...opts, csrfRetried: true });
    } catch (e2) {
      if (e2 instanceof ApiError && e2.status !== 403) throw e2;
    }
  }
  if (res.status === 401 && err.code !== 'bad_credentials' && opts.auth401 !== false) {
    unauthorizedHandler(err);
  }
  throw err;
}

export const get = (path, opts) => request('GET', path, null, opts);
export const post = (path, body, opts) => request('POST', path, body, opts);

// ---- the routes -------------------------------------------------------------------------------

export const login = (name, password) => post('/api/login', { name, password }, { auth401: false });
export const logout = () => post('/api/logout', {});
export const me = (opts) => get('/api/me', opts);
export const queues = () => get('/api/queues');
export const agents = () => get('/api/agents');
export const caseDetail = (id) => get(`/api/cases/${encodeURIComponent(id)}`);

/** q: {owner, queue, assignee, limit, after} */
export function cases(q) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  return get(`/api/cases?${p}`);
}

export const caseAction = (id, action, body = {}) =>
  post(`/api/cases/${encodeURIComponent(id)}/${action}`, body);
