// Shared helpers for the Bluesky emulator tests (real sockets, node built-ins + ws).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const { start } = require('./server.js');
export const U = require('./lib/atproto-util.js');
export const WebSocket = require('ws');

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.resolve(HERE, '../../../../shared/fixtures');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function withEmu(opts, fn) {
  const h = await start({ port: 0, ...opts });
  try {
    return await fn(h);
  } finally {
    await h.close();
  }
}

// Control API / XRPC helpers bound to one emulator.
export function api(h) {
  const base = h.pds;
  const control = async (method, p, body) => {
    const r = await fetch(base + p, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const j = await r.json();
    if (r.status !== 200) throw new Error(`${method} ${p} → ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  const xrpc = async (method, nsid, { params, body, token, headers = {} } = {}) => {
    const u = new URL(`${base}/xrpc/${nsid}`);
    for (const [k, v] of Object.entries(params || {})) for (const x of [].concat(v)) u.searchParams.append(k, x);
    const hd = { ...headers };
    if (token) hd.authorization = `Bearer ${token}`;
    if (body !== undefined) hd['content-type'] = 'application/json';
    const r = await fetch(u, { method, headers: hd, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not json */ }
    return { status: r.status, headers: r.headers, json, text };
  };
  return {
    get: (p) => control('GET', p),
    post: (p, body = {}) => control('POST', p, body),
    xrpc,
    login: async (identifier = 'acme.test', password = 'brand-app-password') => {
      const r = await xrpc('POST', 'com.atproto.server.createSession', { body: { identifier, password } });
      if (r.status !== 200) throw new Error(`login failed ${r.status} ${r.text}`);
      return r.json;
    },
  };
}

// A Jetstream client that records frames, close code/reason and pings.
export function jet(h, query = '', { headers } = {}) {
  const url = `${h.jetstream}${query ? (query.startsWith('?') ? query : `?${query}`) : ''}`;
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const c = {
    ws, frames: [], events: [], pings: 0, closed: null, error: null, waiters: [],
    opened: new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`unexpected ${res.statusCode}`), { res }))); ws.once('error', reject); }),
    send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
    async waitFor(pred, ms = 2000, what = 'condition') {
      const t0 = Date.now();
      while (!pred(c)) {
        if (Date.now() - t0 > ms) throw new Error(`timeout waiting for ${what}; frames=${c.frames.length} closed=${JSON.stringify(c.closed)}`);
        await sleep(5);
      }
    },
    async count(n, ms = 2000) { await c.waitFor(() => c.frames.length >= n, ms, `${n} frames`); return c.events; },
    async waitClose(ms = 2000) { await c.waitFor(() => c.closed, ms, 'close'); return c.closed; },
    close() { try { ws.terminate(); } catch { /* */ } },
  };
  ws.on('message', (data, isBinary) => {
    const s = data.toString('utf8');
    c.frames.push(isBinary ? data : s);
    try { c.events.push(JSON.parse(s)); } catch { c.events.push({ __unparsed: s }); }
  });
  ws.on('ping', () => { c.pings++; });
  ws.on('close', (code, reason) => { c.closed = { code, reason: reason.toString() }; });
  ws.on('error', (e) => { c.error = e; });
  return c;
}

// Raw HTTP upgrade attempt (to see pre-upgrade plain-text errors).
export async function rawUpgrade(h, query) {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request(`${h.pds}/subscribe?${query}`, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: 101, headers: res.headers, body: '' }); });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
