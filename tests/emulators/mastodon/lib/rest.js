'use strict';
// Mastodon REST API (the part Switchboard uses), with the request pipeline of a real
// instance: front faults → Rack::Attack throttles → Doorkeeper auth/scopes → controller,
// and X-RateLimit-* headers on every response.
//
// Endpoints: GET /api/v1/accounts/verify_credentials, GET /api/v1/notifications[/:id],
// POST /api/v1/statuses, GET|DELETE /api/v1/statuses/:id, GET /api/v1/instance,
// GET /api/v2/instance.

const { asArray, firstParam, requestId } = require('./http');
const { faultResponse } = require('./faults');
const { countableLength, isBlank } = require('./format');
const events = require('./events');

const VISIBILITIES = new Set(['public', 'unlisted', 'private', 'direct']);
const INVALID_TOKEN = 'The access token is invalid';

class ApiError extends Error {
  constructor(status, message, headers) {
    super(message);
    this.status = status;
    this.headers = headers || {};
  }
}

const ROUTES = [
  ['GET', /^\/api\/v1\/accounts\/verify_credentials$/, verifyCredentials, { auth: 'required', scopes: ['read', 'read:accounts', 'profile'] }],
  ['GET', /^\/api\/v1\/notifications$/, listNotifications, { auth: 'required', scopes: ['read', 'read:notifications'] }],
  ['GET', /^\/api\/v1\/notifications\/([^/]+)$/, getNotification, { auth: 'required', scopes: ['read', 'read:notifications'] }],
  ['POST', /^\/api\/v1\/statuses$/, createStatus, { auth: 'required', scopes: ['write', 'write:statuses'] }],
  ['GET', /^\/api\/v1\/statuses\/([^/]+)$/, getStatus, { auth: 'optional', scopes: ['read', 'read:statuses'] }],
  ['DELETE', /^\/api\/v1\/statuses\/([^/]+)$/, deleteStatus, { auth: 'required', scopes: ['write', 'write:statuses'] }],
  ['GET', /^\/api\/v1\/instance$/, instanceV1, { auth: 'none' }],
  ['GET', /^\/api\/v2\/instance$/, instanceV2, { auth: 'none' }],
];

/** Token as Doorkeeper finds it: Bearer header, then access_token / bearer_token params. */
function tokenFrom(req, params) {
  const h = req.headers.authorization;
  if (h && /^Bearer\s+/i.test(h)) return h.replace(/^Bearer\s+/i, '');
  return firstParam(params.access_token) || firstParam(params.bearer_token) || null;
}

function isPaging(query) {
  return ['page', 'min_id', 'max_id', 'since_id'].some((k) => query[k] !== undefined);
}

/**
 * Handle one /api/ request. ctx: {req, res, method, url, query, params, logEntry}.
 * Returns a Promise that resolves when the reply has been written (or the socket dropped).
 */
async function handle(emu, ctx) {
  const { req, res } = ctx;
  const { outcome, slow } = emu.faults.take(ctx.method, ctx.url.pathname);
  const reply = await compute(emu, ctx, outcome);
  if (slow) await new Promise((r) => setTimeout(r, Number(slow.ms)));
  if (outcome && outcome.kind === 'lost_response') {
    ctx.logEntry.response_status = null;
    req.socket.destroy();
    return;
  }
  const headers = { 'Cache-Control': 'private, no-store', 'X-Request-Id': requestId(), ...reply.headers };
  let payload = reply.body;
  if (payload !== null && typeof payload === 'object') {
    payload = JSON.stringify(payload);
    if (!headers['Content-Type']) headers['Content-Type'] = 'application/json; charset=utf-8';
  }
  payload = payload === undefined || payload === null ? '' : String(payload);
  headers['Content-Length'] = Buffer.byteLength(payload);
  ctx.logEntry.response_status = reply.status;
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/** → {status, headers, body}. Effects (status creation, ...) happen here. */
async function compute(emu, ctx, outcome) {
  if (outcome && outcome.kind === 'http_status') {
    const r = faultResponse(outcome, emu);
    return { status: outcome.status, headers: r.headers, body: r.body };
  }
  const { state, rates } = emu;
  const token = tokenFrom(ctx.req, ctx.params);
  const forcedInvalid = outcome && outcome.kind === 'unauthorized';
  const tokenRec = forcedInvalid ? null : state.tokenRecord(token);

  // Rack::Attack runs before the controller and counts every API request.
  const throttle = rates.hitRequest({ tokenRec, ip: ctx.req.socket.remoteAddress, paging: isPaging(ctx.query), method: ctx.method, path: ctx.url.pathname });
  if (throttle.throttled) {
    return { status: 429, headers: { 'Content-Type': 'application/json', ...throttle.headers }, body: { error: 'Too many requests' } };
  }
  let headers = { ...throttle.headers };
  const route = ROUTES.find(([m, re]) => m === ctx.method && re.test(ctx.url.pathname));
  if (!route) return { status: 404, headers, body: { error: 'Not Found' } };
  const [, re, fn, opts] = route;
  const match = re.exec(ctx.url.pathname);
  const needAuth = opts.auth === 'required' || (opts.auth === 'optional' && (token || forcedInvalid));
  if (needAuth && !tokenRec) {
    const raw = token ? state.tokens.get(token) : null;
    const message = raw && raw.revoked && !forcedInvalid ? 'The access token was revoked' : INVALID_TOKEN;
    const errorCode = 'invalid_token';
    return {
      status: 401,
      headers: { ...headers, 'WWW-Authenticate': `Bearer realm="Doorkeeper", error="${errorCode}", error_description="${message}"` },
      body: { error: message },
    };
  }
  if (needAuth && opts.scopes && !opts.scopes.some((s) => tokenRec.scopes.includes(s))) {
    return { status: 403, headers, body: { error: 'This action is outside the authorized scopes' } };
  }
  const c = { ...ctx, tokenRec, match, account: tokenRec ? state.accounts.get(tokenRec.account_id) : null };
  try {
    const r = await fn(emu, c);
    if (r.statusHeaders) headers = rates.overrideWithStatusHeaders(headers, c.account.id);
    return { status: r.status || 200, headers: { ...headers, ...(r.headers || {}) }, body: r.body };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.statusHeaders) headers = rates.overrideWithStatusHeaders(headers, c.account.id);
    return { status: err.status, headers: { ...headers, ...err.headers }, body: { error: err.message } };
  }
}

// ---- accounts ----------------------------------------------------------------------------------

function verifyCredentials(emu, c) {
  return { body: emu.state.renderCredentialAccount(c.account) };
}

// ---- notifications -----------------------------------------------------------------------------

function idNum(v) {
  const s = String(firstParam(v) ?? '');
  return /^\d+$/.test(s) ? BigInt(s) : null;
}

/** Rails' Hash#to_query: CGI-escaped, sorted. */
function toQuery(params) {
  const parts = [];
  const esc = (s) => encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) for (const item of v) parts.push(`${esc(`${k}[]`)}=${esc(item)}`);
    else parts.push(`${esc(k)}=${esc(v)}`);
  }
  return parts.sort().join('&');
}

function listNotifications(emu, c) {
  const { state } = emu;
  const q = c.query;
  const types = asArray(q.types);
  const exclude = asArray(q.exclude_types);
  const accountId = firstParam(q.account_id);
  let limit = 40;
  if (q.limit !== undefined) limit = Math.min(Math.abs(parseInt(firstParam(q.limit), 10) || 0), 80);
  const maxId = idNum(q.max_id);
  const sinceId = idNum(q.since_id);
  const minId = idNum(q.min_id);

  let items = state.notifications.filter((n) => n.recipient_id === c.account.id
    && (types.length === 0 || types.includes(n.type))
    && !exclude.includes(n.type)
    && (!accountId || n.account_id === String(accountId)));
  let page;
  if (q.min_id !== undefined && minId !== null) {
    // paginate_by_min_id: ascending after min_id, limited, then reversed (newest first).
    items = items.filter((n) => BigInt(n.id) > minId && (maxId === null || BigInt(n.id) < maxId));
    page = items.slice(0, limit).reverse();
  } else {
    items = items.filter((n) => (maxId === null || BigInt(n.id) < maxId) && (sinceId === null || BigInt(n.id) > sinceId));
    page = items.slice().reverse().slice(0, limit);
  }
  const headers = {};
  if (page.length > 0) {
    const base = `${c.req.socket.encrypted ? 'https' : 'http'}://${c.req.headers.host}/api/v1/notifications`;
    const keep = {};
    for (const k of ['limit', 'account_id', 'types', 'exclude_types', 'include_filtered']) {
      if (q[k] !== undefined) keep[k] = k.endsWith('types') ? asArray(q[k]) : String(firstParam(q[k]));
    }
    const next = `${base}?${toQuery({ ...keep, max_id: page[page.length - 1].id })}`;
    const prev = `${base}?${toQuery({ ...keep, min_id: page[0].id })}`;
    headers.Link = `<${next}>; rel="next", <${prev}>; rel="prev"`;
  }
  return { headers, body: page.map((n) => state.renderNotification(n)) };
}

function getNotification(emu, c) {
  const n = emu.state.notifications.find((x) => x.id === c.match[1] && x.recipient_id === c.account.id);
  if (!n) throw new ApiError(404, 'Record not found');
  return { body: emu.state.renderNotification(n) };
}

// ---- statuses ----------------------------------------------------------------------------------

function visibleTo(state, rec, viewerId) {
  if (rec.visibility === 'public' || rec.visibility === 'unlisted') return true;
  if (!viewerId) return false;
  if (rec.account_id === viewerId || rec.mention_ids.includes(viewerId)) return true;
  return false; // private: the emulated brand follows nobody
}

function paramString(v) {
  const x = firstParam(v);
  if (x === undefined || x === null) return null;
  return typeof x === 'object' ? JSON.stringify(x) : String(x);
}

function createStatus(emu, c) {
  const { state, rates, config } = emu;
  const p = c.params;
  const account = c.account;

  // before_action :set_thread
  const replyTo = paramString(p.in_reply_to_id);
  let parent = null;
  if (!isBlank(replyTo)) {
    parent = state.liveStatus(replyTo);
    if (!parent || !visibleTo(state, parent, account.id)) throw Object.assign(new ApiError(404, config.in_reply_not_found_message), { statusHeaders: true });
  }

  // PostStatusService: an Idempotency-Key seen in the last hour returns the original status.
  const key = c.req.headers['idempotency-key'];
  if (key) {
    const entry = state.idempotencyGet(account.id, key);
    if (entry) {
      const original = state.liveStatus(entry.status_id);
      if (!original) throw Object.assign(new ApiError(404, 'Record not found'), { statusHeaders: true });
      return { body: state.renderStatus(original, account.id), statusHeaders: true };
    }
  }

  let text = paramString(p.status) ?? '';
  let spoiler = paramString(p.spoiler_text) ?? '';
  if (isBlank(text) && !isBlank(spoiler)) { text = spoiler; spoiler = ''; }
  const visibility = isBlank(paramString(p.visibility)) ? 'public' : paramString(p.visibility);

  const errors = [];
  if (isBlank(text)) errors.push("Text can't be blank");
  else if (countableLength(text, spoiler, config.char_count) > config.max_characters) errors.push(`Text character limit of ${config.max_characters} exceeded`);
  if (!VISIBILITIES.has(visibility)) errors.push('Visibility is not included in the list');
  if (!isBlank(paramString(p.scheduled_at))) errors.push('Scheduled at is not supported by this emulator');
  if (errors.length) throw Object.assign(new ApiError(422, `Validation failed: ${errors.join(', ')}`), { statusHeaders: true });

  // RateLimiter family :statuses, recorded after create (a refused status is rolled back).
  if (!rates.recordStatus(account.id)) {
    throw Object.assign(new ApiError(429, 'Too many requests'), { statusHeaders: true });
  }
  const lang = paramString(p.language);
  const sensitive = ['1', 'true', 'on', 't'].includes(String(paramString(p.sensitive)).toLowerCase());
  const rec = state.createStatus({
    account,
    text,
    visibility,
    in_reply_to_id: parent ? parent.id : null,
    spoiler_text: spoiler,
    sensitive,
    language: lang && /^[a-z]{2}$/i.test(lang) ? lang.toLowerCase() : 'en',
    application: c.tokenRec.application || { name: 'Switchboard', website: null },
    origin: 'api',
  });
  rec.idempotency_key = key || null;
  rec.request_seq = c.logEntry.seq;
  if (key) state.idempotencySet(account.id, key, rec.id);

  // FanOutOnWriteService: own home timeline (user stream), public streams, conversations.
  events.deliverStatus(emu, rec, 'update', [account.id]);
  events.deliverConversation(emu, rec);
  return { body: state.renderStatus(rec, account.id), statusHeaders: true };
}

function getStatus(emu, c) {
  const rec = emu.state.liveStatus(c.match[1]);
  if (!rec || !visibleTo(emu.state, rec, c.account ? c.account.id : null)) throw new ApiError(404, 'Record not found');
  return { body: emu.state.renderStatus(rec, c.account ? c.account.id : null) };
}

function deleteStatus(emu, c) {
  const { state } = emu;
  const rec = state.liveStatus(c.match[1]);
  if (!rec) throw new ApiError(404, 'Record not found');
  if (rec.account_id !== c.account.id) throw new ApiError(403, 'This action is not allowed');
  const body = state.renderStatus(rec, c.account.id);
  body.text = rec.text;
  state.deleteStatus(rec);
  events.deliverDelete(emu, rec);
  return { body };
}

// ---- instance ----------------------------------------------------------------------------------

function streamingBase(c) {
  return `ws://${c.req.headers.host}`;
}

function configurationStatuses(config) {
  return { max_characters: config.max_characters, max_media_attachments: 4, characters_reserved_per_url: 23 };
}

function instanceV1(emu, c) {
  const { config, state } = emu;
  return {
    body: {
      uri: config.host,
      title: config.title,
      short_description: 'Local Mastodon emulator for Switchboard tests.',
      description: '',
      email: `admin@${config.host}`,
      version: config.version,
      urls: { streaming_api: streamingBase(c) },
      stats: { user_count: [...state.accounts.values()].filter((a) => a.domain === null).length, status_count: state.statuses.size, domain_count: 4 },
      thumbnail: null,
      languages: ['en'],
      registrations: false,
      approval_required: false,
      invites_enabled: false,
      configuration: {
        accounts: { max_featured_tags: 10 },
        statuses: configurationStatuses(config),
        media_attachments: { supported_mime_types: ['image/jpeg', 'image/png'], image_size_limit: 16777216, image_matrix_limit: 33177600, video_size_limit: 103809024, video_frame_rate_limit: 120, video_matrix_limit: 8294400 },
        polls: { max_options: 4, max_characters_per_option: 50, min_expiration: 300, max_expiration: 2629746 },
      },
      contact_account: state.renderAccount(state.brand()),
      rules: [],
    },
  };
}

function instanceV2(emu, c) {
  const { config, state } = emu;
  return {
    body: {
      domain: config.host,
      title: config.title,
      version: config.version,
      source_url: 'https://github.com/mastodon/mastodon',
      description: 'Local Mastodon emulator for Switchboard tests.',
      usage: { users: { active_month: 5 } },
      thumbnail: { url: `https://${config.host}/packs/media/images/preview.png` },
      languages: ['en'],
      configuration: {
        urls: { streaming: streamingBase(c), status: null },
        accounts: { max_featured_tags: 10, max_pinned_statuses: 5 },
        statuses: configurationStatuses(config),
        media_attachments: { supported_mime_types: ['image/jpeg', 'image/png'], image_size_limit: 16777216, image_matrix_limit: 33177600, video_size_limit: 103809024, video_frame_rate_limit: 120, video_matrix_limit: 8294400 },
        polls: { max_options: 4, max_characters_per_option: 50, min_expiration: 300, max_expiration: 2629746 },
        translation: { enabled: false },
      },
      registrations: { enabled: false, approval_required: false, message: null },
      contact: { email: `admin@${config.host}`, account: state.renderAccount(state.brand()) },
      rules: [],
    },
  };
}

module.exports = { handle, ApiError, toQuery };
