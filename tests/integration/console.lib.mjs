// console.lib.mjs — shared by the console tests (API and browser): the Mastodon emulator (or,
// with {platform: 'bluesky'}, the Bluesky one), the service with its console on a free loopback
// port, agents made with `switchboard agent add`, and a small API client that keeps a session
// cookie and CSRF token like the web app does.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startService, until, sbBin, repo } from './lib.mjs';

const require = createRequire(import.meta.url);
export const WebSocket = require('../emulators/node_modules/ws');
const { start } = require('../emulators/mastodon/server.js');

export const PASSWORD = 'correct horse battery staple';
/** The brand's app password on the Bluesky emulator (one with chat access). */
export const BLUESKY_APP_PASSWORD = 'brand-app-password';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Emulator + service + console; agents: [{name, role, queues}]; opts.platform: 'mastodon'
 * (default) or 'bluesky' (then the result has the Bluesky emulator's views instead). */
export async function startConsole(agents, extraLua = '', opts = {}) {
  const bluesky = opts.platform === 'bluesky';
  const emu = bluesky
    ? await require('../emulators/bluesky/server.js').start({ port: 0, pingMs: 1000 })
    : await start({ port: 0, pingMs: 1000 });
  const base = bluesky ? emu.pds : `http://127.0.0.1:${emu.port}`;
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const account = bluesky
    ? `{ platform = "bluesky", name = "acme", pds_url = "${emu.pds}", jetstream_url = "${emu.jetstream}", ` +
      `identifier = "acme.test", password = "${BLUESKY_APP_PASSWORD}" }`
    : `{ platform = "mastodon", name = "acme", base_url = "${base}", token = "brand-token" }`;
  const svc = startService(
    account,
    `  console = { listen = "127.0.0.1:${port}", origin = "${origin}", web = "${path.join(repo, 'web')}" },\n` +
      `  queues = { support = { first_response = "30m", next_response = "1h" },\n` +
      `             legal = { first_response = "15m", next_response = "1h" },\n` +
      `             billing = { first_response = "1h" }, safety = {}, vip = {} },\n${extraLua}`,
  );
  const db = path.join(svc.dir, 'sb.db');
  try {
    await until(() => svc.events('stream_open').length, 'the stream to open');
    for (const a of agents) {
      const args = ['agent', 'add', a.name, '--role', a.role || 'agent', '--db', db];
      if (a.queues) args.push('--queues', a.queues);
      execFileSync(sbBin, args, { input: PASSWORD + '\n' });
    }
  } catch (e) {
    await svc.stop('SIGKILL');
    await emu.close();
    throw e;
  }
  const stop = async () => {
    const ex = await svc.stop('SIGTERM');
    await emu.close();
    return ex;
  };
  const common = { emu, base, port, origin, url: origin + '/', svc, db, stop };
  if (bluesky) return { ...common, ...blueskyViews(base) };
  // customers by name: made on the emulator at their first post
  const known = new Map();
  const inject = async (b) => {
    const account = known.has(b.account) ? { id: known.get(b.account) }
      : { username: b.account, display_name: b.account[0].toUpperCase() + b.account.slice(1) };
    const r = await fetch(base + '/__emu/inject', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ deliver: 'stream', ...b, account }),
    });
    if (!r.ok) throw new Error(`inject: ${r.status} ${await r.text()}`);
    const j = await r.json();
    known.set(b.account, j.status.account.id);
    return j;
  };
  const brandStatuses = async () => (await fetch(base + '/__emu/statuses?created_by=brand')).json();
  return { ...common, inject, brandStatuses };
}

/** The Bluesky emulator's control API: inject a post ({author, text, reply_to, mention_brand…}:
 * {uri, cid, event, record}), the brand's post records, the chat messages, the request log. */
function blueskyViews(base) {
  const call = async (method, p, body) => {
    const r = await fetch(base + p, {
      method, headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!r.ok) throw new Error(`${p}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  return {
    inject: (b) => call('POST', '/__emu/inject', b),
    brandPosts: async () =>
      (await call('GET', '/__emu/records?repo=acme.test&collection=app.bsky.feed.post')).records,
    messages: async () => (await call('GET', '/__emu/messages')).messages,
    requests: async (p) => (await call('GET', `/__emu/log?path=${encodeURIComponent(p)}`)).entries,
  };
}

/** An API client with a cookie jar of one cookie and the CSRF token. */
export class Client {
  constructor(origin) {
    this.origin = origin;
    this.cookie = null;
    this.csrf = null;
  }
  async req(method, p, body, headers = {}) {
    const h = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    if (method !== 'GET') {
      if (this.csrf && !('x-csrf-token' in h)) h['x-csrf-token'] = this.csrf;
      if (body !== undefined && !('content-type' in h)) h['content-type'] = 'application/json';
    }
    const r = await fetch(this.origin + p, {
      method, headers: h,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const sc = r.headers.get('set-cookie');
    if (sc) {
      const m = /sb_session=([^;]*)/.exec(sc);
      this.cookie = m && m[1] ? `sb_session=${m[1]}` : null;
      this.setCookie = sc;
    }
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    return { status: r.status, json, text, headers: r.headers };
  }
  get(p) { return this.req('GET', p); }
  post(p, body = {}, headers) { return this.req('POST', p, body, headers); }
  async login(name, password = PASSWORD) {
    const r = await this.post('/api/login', { name, password });
    if (r.status === 200) this.csrf = r.json.csrf;
    return r;
  }
  /** A live console: resolves once the hello arrived; .messages collects everything. */
  live(origin = this.origin) {
    const ws = new WebSocket(this.origin.replace('http', 'ws') + '/ws', {
      headers: { origin, ...(this.cookie ? { cookie: this.cookie } : {}) },
    });
    const messages = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    return new Promise((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
      ws.on('error', reject);
      ws.on('open', async () => {
        await until(() => messages.find((m) => m.type === 'hello'), 'hello');
        resolve({ ws, messages });
      });
    });
  }
}
