#!/usr/bin/env node
'use strict';
// Protocol-faithful Mastodon emulator for Switchboard's tests: REST API, streaming API
// (WebSocket + SSE) and a control API (/__emu/...) on one loopback port.
//
//   node tests/emulators/mastodon/server.js [--port 0] [--token T] [--ping-ms 30000] [--config FILE]
//
// Prints one line when listening:
//   {"ready":true,"port":N,"base":"http://127.0.0.1:N","streaming":"ws://127.0.0.1:N/api/v1/streaming"}
// Embedding: `const { start } = require('./server'); const emu = await start({ port: 0 });`
// → {port, base, streaming, close(), emu}. Wire behaviour and the control API are described in
// tests/emulators/README.md ("Mastodon emulator"), after platforms.md §1 and §6.1.

const fs = require('node:fs');
const http = require('node:http');
const { Clock } = require('./lib/clock');
const { State } = require('./lib/state');
const { RateLimits } = require('./lib/ratelimit');
const { Faults } = require('./lib/faults');
const { RequestLog } = require('./lib/log');
const { StreamHub } = require('./lib/streaming');
const { readBody, parseQuery, parseBody, send } = require('./lib/http');
const rest = require('./lib/rest');
const control = require('./lib/control');
const { DEFAULTS } = require('./lib/defaults');

function clone(x) {
  return JSON.parse(JSON.stringify(x));
}

/**
 * options: {port=0, host='127.0.0.1', token, pingMs, config: object | configFile: path}
 * `token` replaces the default brand token ("brand-token").
 */
function buildConfig(options) {
  let fileCfg = {};
  if (options.configFile) fileCfg = JSON.parse(fs.readFileSync(options.configFile, 'utf8'));
  const cfg = { ...clone(DEFAULTS), ...clone(fileCfg), ...clone(options.config || {}) };
  cfg.rate_limits = { ...clone(DEFAULTS.rate_limits), ...(cfg.rate_limits || {}) };
  for (const k of Object.keys(DEFAULTS.rate_limits)) cfg.rate_limits[k] = { ...DEFAULTS.rate_limits[k], ...cfg.rate_limits[k] };
  cfg.brand = { ...DEFAULTS.brand, ...(cfg.brand || {}) };
  if (options.token) {
    const brandTokens = Object.entries(cfg.tokens).filter(([, v]) => !v.account || v.account === cfg.brand.username || v.account === cfg.brand.id);
    const scopes = brandTokens.length ? brandTokens[0][1].scopes : 'read write follow push';
    for (const [t] of brandTokens) delete cfg.tokens[t];
    cfg.tokens[options.token] = { account: cfg.brand.username, scopes };
  }
  if (options.pingMs !== undefined) cfg.ping_ms = Number(options.pingMs);
  if (!(cfg.ping_ms > 0)) throw new Error('ping_ms must be > 0');
  return cfg;
}

function createEmulator(config) {
  const clock = new Clock();
  const initialRateLimits = clone(config.rate_limits);
  const emu = { config, clock };
  emu.state = new State(config, clock);
  emu.rates = new RateLimits(config.rate_limits, clock);
  emu.faults = new Faults();
  emu.log = new RequestLog(clock);
  emu.hub = new StreamHub(emu);
  emu.reset = () => {
    clock.reset();
    // config.rate_limits is shared with RateLimits and the control API: restore in place.
    for (const k of Object.keys(initialRateLimits)) Object.assign(config.rate_limits[k], initialRateLimits[k]);
    emu.state.reset();
    emu.rates.reset();
    emu.faults.reset();
    emu.log.clear();
    emu.hub.reset();
  };
  return emu;
}

function logHttp(emu, req, url, kind, body) {
  return emu.log.record({
    kind,
    method: req.method,
    path: url.pathname,
    query: parseQuery(url.search),
    raw_query: url.search.replace(/^\?/, ''),
    headers: { ...req.headers },
    body,
    remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
  });
}

async function onRequest(emu, req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/__emu' || url.pathname.startsWith('/__emu/')) return control.handle(emu, req, res, url);
  let raw;
  try {
    raw = await readBody(req);
  } catch (err) {
    return send(res, err.status || 400, {}, { error: err.message });
  }
  const entry = logHttp(emu, req, url, 'http', raw.toString('utf8'));
  if (url.pathname === '/api/v1/streaming/health') {
    entry.response_status = 200;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'private, no-store' });
    return res.end('OK');
  }
  if (url.pathname === '/api/v1/streaming' || url.pathname.startsWith('/api/v1/streaming/')) {
    return emu.hub.handleHttp(req, res, url);
  }
  if (!url.pathname.startsWith('/api/')) {
    entry.response_status = 404;
    return send(res, 404, { 'Content-Type': 'text/plain' }, 'Not Found');
  }
  let params;
  const query = parseQuery(url.search);
  try {
    params = { ...query, ...parseBody(raw, req.headers['content-type']) };
  } catch (err) {
    entry.response_status = err.status || 400;
    return send(res, err.status || 400, {}, { error: err.message });
  }
  return rest.handle(emu, { req, res, method: req.method, url, query, params, logEntry: entry });
}

function onUpgrade(emu, req, socket, head) {
  const url = new URL(req.url, 'http://127.0.0.1');
  logHttp(emu, req, url, 'upgrade', '');
  const { outcome, slow } = emu.faults.take('GET', url.pathname);
  const go = () => emu.hub.handleUpgrade(req, socket, head, url, outcome);
  if (slow) setTimeout(go, Number(slow.ms));
  else go();
}

/** Start an emulator. Resolves to {port, base, streaming, close(), emu}. */
function start(options = {}) {
  const config = buildConfig(options);
  const emu = createEmulator(config);
  const server = http.createServer((req, res) => {
    onRequest(emu, req, res).catch((err) => {
      process.stderr.write(`mastodon-emulator: ${err.stack || err}\n`);
      if (!res.headersSent) send(res, 500, {}, { error: 'An unexpected error occurred' });
      else res.destroy();
    });
  });
  server.on('upgrade', (req, socket, head) => onUpgrade(emu, req, socket, head));
  server.on('clientError', (err, socket) => socket.destroy());
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(options.port || 0), options.host || '127.0.0.1', () => {
      const { port } = server.address();
      const close = () => new Promise((done) => {
        emu.hub.close();
        for (const s of sockets) s.destroy();
        server.close(() => done());
      });
      resolve({ port, base: `http://127.0.0.1:${port}`, streaming: `ws://127.0.0.1:${port}/api/v1/streaming`, close, emu });
    });
  });
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? a.split(/=(.*)/s) : [a, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--port': out.port = Number(value()); break;
      case '--token': out.token = value(); break;
      case '--ping-ms': out.pingMs = Number(value()); break;
      case '--config': out.configFile = value(); break;
      case '-h': case '--help':
        process.stdout.write('usage: server.js [--port 0] [--token T] [--ping-ms 30000] [--config FILE]\n');
        process.exit(0);
        break;
      default:
        process.stderr.write(`server.js: unknown argument ${a}\n`);
        process.exit(2);
    }
  }
  return out;
}

if (require.main === module) {
  start(parseArgs(process.argv.slice(2))).then((emu) => {
    process.stdout.write(`${JSON.stringify({ ready: true, port: emu.port, base: emu.base, streaming: emu.streaming })}\n`);
    const stop = () => emu.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  }).catch((err) => {
    process.stderr.write(`mastodon-emulator: ${err.message}\n`);
    process.exit(1);
  });
}

module.exports = { start, buildConfig };
