// Test helpers for the Mastodon emulator: start/stop, control calls, REST calls, a raw HTTP
// client (to see the exact bytes of a refused upgrade) and a WebSocket client with a frame queue.

import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.resolve(HERE, '../../../../shared/fixtures');
export const { start } = require('./server.js');
export const WebSocket = require('ws');
export const TOKEN = 'brand-token';
export const BRAND_ID = '109000000000000001';

export async function startEmu(options = {}) {
  const emu = await start({ port: 0, ...options });
  emu.ctl = (p, body) => ctl(emu.base, p, body);
  emu.api = (p, opts) => api(emu.base, p, opts);
  return emu;
}

export async function ctl(base, p, body) {
  // No body → GET; a body (use {} for none) → POST with JSON.
  const res = await fetch(base + p, body === undefined
    ? { method: 'GET' }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** REST call. opts: {method, token (null = none), json, form, headers}. → {status, headers, body, text} */
export async function api(base, p, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form !== undefined) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  }
  const res = await fetch(base + p, { method: opts.method || (body ? 'POST' : 'GET'), headers, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, body: json, text };
}

/** Send raw bytes, collect everything until the server closes. */
export function rawHttp(port, request, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const sock = net.connect(port, '127.0.0.1', () => sock.write(request));
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('raw request: server did not close')); }, timeoutMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => {});
    sock.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('utf8')); });
  });
}

export function upgradeRequest(pathAndQuery, extraHeaders = {}) {
  const lines = [
    `GET ${pathAndQuery} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...Object.entries(extraHeaders).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Open a WebSocket to the emulator's streaming API. Resolves once open, with helpers:
 * next(ms) → next text frame (string), json(ms) → next frame parsed, closed → Promise<{code, reason}>,
 * none(ms) → resolves true if no frame arrives in ms.
 */
export function openStream(emu, query = '', opts = {}) {
  const { protocols, headers = { Authorization: `Bearer ${TOKEN}` }, ...wsOpts } = opts;
  const ws = new WebSocket(`${emu.streaming}${query}`, protocols, { headers, ...wsOpts });
  const frames = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const frame = isBinary ? data : data.toString('utf8');
    const w = waiters.shift();
    if (w) w(frame); else frames.push(frame);
  });
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
  ws.next = (ms = 2000) => (frames.length ? Promise.resolve(frames.shift()) : new Promise((resolve, reject) => {
    const t = setTimeout(() => { waiters.splice(waiters.indexOf(done), 1); reject(new Error(`no frame within ${ms} ms`)); }, ms);
    const done = (f) => { clearTimeout(t); resolve(f); };
    waiters.push(done);
  }));
  ws.json = async (ms) => JSON.parse(await ws.next(ms));
  ws.none = async (ms = 200) => {
    try { await ws.next(ms); return false; } catch { return true; }
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`unexpected response ${res.statusCode}`), { statusCode: res.statusCode, headers: res.headers })));
  });
}

/** Subscribe through a frame and wait until the emulator lists the subscription. */
export async function subscribe(emu, ws, stream, extra = {}) {
  ws.send(JSON.stringify({ type: 'subscribe', stream, ...extra }));
  for (let i = 0; i < 50; i++) {
    const conns = await emu.ctl('/__emu/connections');
    if (conns.some((c) => c.subscriptions.some((s) => s.channel === stream))) return;
    await sleep(10);
  }
  throw new Error(`subscription ${stream} never appeared`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` (async) until it returns a truthy value; fail after `ms`. */
export async function waitFor(fn, what, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export const ISO_6 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
