'use strict';
// Armed faults. Request faults are consumed by matching requests (REST and the streaming
// upgrade); stream faults act at once on the connected streaming clients (see streaming.js).
//
// Request faults:
//   http_status   {status, count, path?, method?, body?, content_type?}  answered before the app
//                 sees the request (a proxy/front error): no effect, not counted in rate limits.
//   slow          {ms, count, path?, method?}     the request is handled, the answer waits ms.
//   lost_response {count, path?, method?}         the request is handled (status created,
//                 Idempotency-Key stored), then the socket is destroyed without an answer.
//   unauthorized  {count, path?, method?}         the token is treated as invalid (401).
// `path` matches the request path exactly, or as a prefix when it ends with "*".

const REQUEST_KINDS = new Set(['http_status', 'slow', 'lost_response', 'unauthorized']);
const OUTCOME_KINDS = ['unauthorized', 'http_status', 'lost_response'];
const STREAM_KINDS = new Set(['drop_stream', 'close_stream', 'malformed_frame', 'oversized_frame', 'no_pong']);

class Faults {
  constructor() {
    this.armed = [];
    this.nextId = 1;
    this.fired = [];
  }

  reset() {
    this.armed = [];
    this.fired = [];
  }

  /** Validate and arm a request fault. Throws Error with a message for a bad spec. */
  arm(spec) {
    if (!REQUEST_KINDS.has(spec.kind)) throw new Error(`unknown request fault kind: ${spec.kind}`);
    const count = spec.count === undefined ? 1 : Number(spec.count);
    if (!Number.isInteger(count) || count < 1) throw new Error('count must be a positive integer');
    if (spec.kind === 'http_status') {
      const status = Number(spec.status);
      if (!Number.isInteger(status) || status < 400 || status > 599) throw new Error('status must be 400..599');
    }
    if (spec.kind === 'slow' && !(Number(spec.ms) >= 0)) throw new Error('slow needs ms >= 0');
    if (spec.path !== undefined && typeof spec.path !== 'string') throw new Error('path must be a string');
    const fault = { id: this.nextId++, ...spec, count, remaining: count };
    this.armed.push(fault);
    return fault;
  }

  static matches(fault, method, path) {
    if (fault.method && fault.method.toUpperCase() !== method) return false;
    if (fault.path === undefined) return true;
    if (fault.path.endsWith('*')) return path.startsWith(fault.path.slice(0, -1));
    return fault.path === path;
  }

  /** Consume at most one outcome fault and one slow fault for this request. */
  take(method, path) {
    const result = { outcome: null, slow: null };
    for (const fault of this.armed) {
      if (fault.remaining <= 0 || !Faults.matches(fault, method, path)) continue;
      if (fault.kind === 'slow' && !result.slow) result.slow = fault;
      else if (OUTCOME_KINDS.includes(fault.kind) && !result.outcome) result.outcome = fault;
    }
    for (const f of [result.outcome, result.slow]) {
      if (!f) continue;
      f.remaining -= 1;
      this.fired.push({ id: f.id, kind: f.kind, method, path });
    }
    this.armed = this.armed.filter((f) => f.remaining > 0);
    return result;
  }

  list() {
    return { armed: this.armed, fired: this.fired };
  }
}

const http = require('node:http');
const { iso6 } = require('./clock');

/**
 * The reply for an http_status fault: {headers, body (string)}.
 * 429 looks like Rack::Attack's throttled response; 500 like Rails' static error page;
 * 502/503/504 like the nginx in front of every Mastodon; anything else is a JSON error.
 * `body`, `content_type` and `headers` in the fault spec override the defaults.
 */
function faultResponse(fault, emu) {
  const status = fault.status;
  const reason = http.STATUS_CODES[status] || 'Error';
  let headers;
  let body;
  if (status === 429) {
    const { limit, period_s: periodS } = emu.config.rate_limits.per_token;
    const now = emu.clock.now();
    const reset = now + (periodS - (Math.floor(now / 1000) % periodS)) * 1000;
    headers = { 'Content-Type': 'application/json', 'X-RateLimit-Limit': String(limit), 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': iso6(reset) };
    body = JSON.stringify({ error: 'Too many requests' });
  } else if (status === 500) {
    headers = { 'Content-Type': 'text/html; charset=utf-8' };
    body = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>We\'re sorry, but something went wrong (500)</title>\n</head>\n<body class="error">\n<div class="dialog"><h1>We\'re sorry, but something went wrong on our end.</h1></div>\n</body>\n</html>\n';
  } else if (status >= 502 && status <= 504) {
    headers = { 'Content-Type': 'text/html', Server: 'nginx' };
    body = `<html>\r\n<head><title>${status} ${reason}</title></head>\r\n<body>\r\n<center><h1>${status} ${reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  } else {
    headers = { 'Content-Type': 'application/json; charset=utf-8' };
    body = JSON.stringify({ error: reason });
  }
  if (fault.content_type) headers['Content-Type'] = fault.content_type;
  if (fault.body !== undefined) body = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
  if (fault.headers && typeof fault.headers === 'object') Object.assign(headers, fault.headers);
  return { headers, body };
}

module.exports = { Faults, faultResponse, REQUEST_KINDS, STREAM_KINDS };
