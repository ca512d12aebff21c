// jetstream-bridge.mjs — a small Jetstream v1 server fed by a real PDS's firehose.
//
// It subscribes to the PDS's own com.atproto.sync.subscribeRepos (binary DAG-CBOR frames with
// CAR blocks), decodes and verifies every commit with Bluesky's own consumer library
// (@atproto/sync Firehose: the signature is checked against the DID's key from the PLC
// directory, and each op's record is proven by an MST inclusion proof), and re-serves the
// operations on a Jetstream v1 `GET /subscribe` WebSocket:
//
//   {"did","time_us","kind":"commit","commit":{"rev","operation","collection","rkey","record","cid"}}
//   {"did","time_us","kind":"identity","identity":{"did","handle"?,"seq","time"}}
//   {"did","time_us","kind":"account","account":{"active","did","seq","status"?,"time"}}
//
// Like Jetstream's Go encoder the record map is written with its keys sorted at every level and
// `<`, `>`, `&`, U+2028, U+2029 escaped; CIDs and bytes inside records use the atproto JSON forms
// ({"$link"}, {"$bytes"}). Supported query parameters: repeated `wantedCollections` (NSIDs or
// `prefix.*`, commits only: identity and account events bypass it), repeated `wantedDids`,
// `cursor` (unix µs, inclusive replay from an in-memory log), `maxMessageSizeBytes` (larger events
// are skipped), `requireHello=true` and client `options_update` frames. Not implemented: zstd
// (`compress=true` is refused with a 400), the slow-consumer detector, `#sync` events.
//
// It also answers one AppView query, `app.bsky.actor.getProfile`, from the PDS's own data
// (com.atproto.repo.describeRepo + the actor's app.bsky.actor.profile/self record), so that a PDS
// configured with `bskyAppViewUrl` = this bridge can proxy it: the real AppView (@atproto/bsky)
// needs PostgreSQL, which these tests do not use. Every other `/xrpc/app.bsky.*` call answers
// `501 MethodNotImplemented`. `appview: false` (or `--no-appview`) turns that stand-in off
// (then getProfile answers 502 UpstreamFailure, as a PDS does when its AppView is down).
//
// Module: `const b = await startBridge({ port: 0 }); await b.connect({ pdsUrl, plcUrl }); … await b.close()`
// CLI:    node jetstream-bridge.mjs --pds http://127.0.0.1:2583 --plc http://127.0.0.1:2582 [--port 0] [--unverified] [--no-appview]
//         prints one JSON line {"ready":true,"port","jetstream","appview"} once the firehose is open.
// Everything listens on 127.0.0.1 only.
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const require = createRequire(import.meta.url);
const { Firehose, MemoryRunner } = require('@atproto/sync');
const { IdResolver } = require('@atproto/identity');
const { lexToJson } = require('@atproto/lexicon');

const MAX_COLLECTIONS = 100;
const MAX_DIDS = 10000;
const NSID_RE = /^[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+(\.\*)?$/;
const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]+$/;

/** JSON like Go's encoding/json on a map: sorted keys, HTML-safe escapes. */
export function goJson(v) {
  const sort = (x) => {
    if (Array.isArray(x)) return x.map(sort);
    if (x && typeof x === 'object') {
      const o = {};
      for (const k of Object.keys(x).sort()) o[k] = sort(x[k]);
      return o;
    }
    return x;
  };
  return JSON.stringify(sort(v))
    .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

// The envelope keeps Jetstream's field order; only the record itself is sorted.
function encodeEvent(ev) {
  if (ev.kind === 'commit') {
    const c = ev.commit;
    let s = `{"rev":${JSON.stringify(c.rev)},"operation":${JSON.stringify(c.operation)},` +
      `"collection":${JSON.stringify(c.collection)},"rkey":${JSON.stringify(c.rkey)}`;
    if (c.record !== undefined) s += `,"record":${goJson(c.record)},"cid":${JSON.stringify(c.cid)}`;
    return `{"did":${JSON.stringify(ev.did)},"time_us":${ev.time_us},"kind":"commit","commit":${s}}}`;
  }
  // identity / account: the inner object's fields are alphabetical in v1 as well
  return `{"did":${JSON.stringify(ev.did)},"time_us":${ev.time_us},"kind":"${ev.kind}","${ev.kind}":${goJson(ev[ev.kind])}}`;
}

function parseFilters(colls, dids) {
  const c = [...new Set(colls)];
  const d = [...new Set(dids)];
  if (c.length > MAX_COLLECTIONS) return { error: `too many wanted collections: > ${MAX_COLLECTIONS}` };
  if (d.length > MAX_DIDS) return { error: `too many wanted DIDs: ${d.length} > ${MAX_DIDS}` };
  for (const x of c) if (!NSID_RE.test(x)) return { error: `invalid collection: ${x}` };
  for (const x of d) if (!DID_RE.test(x)) return { error: `invalid DID: ${x}` };
  return { collections: c, dids: new Set(d) };
}

function matches(sub, ev) {
  if (sub.dids.size && !sub.dids.has(ev.did)) return false;
  if (ev.kind !== 'commit' || !sub.collections.length) return true;
  const col = ev.commit.collection;
  return sub.collections.some((w) => (w.endsWith('.*') ? col.startsWith(w.slice(0, -1)) : col === w));
}

/**
 * Start the HTTP/WS side on 127.0.0.1 (the firehose is attached later with connect(), so the
 * bridge's URL can be handed to the PDS as its AppView first).
 */
export async function startBridge({ port = 0, appview = true, log = () => {} } = {}) {
  const events = []; // { time_us, ev, line } — the replay log
  const subs = new Set();
  let lastUs = 0;
  let pdsUrl = null;
  let firehose = null;
  let firehoseOpen = false;
  let lastSeq = null; // last firehose seq handled (resume point)
  let closing = false;
  const stats = { firehoseEvents: 0, emitted: 0, appviewCalls: 0, errors: [] };
  let appviewOn = appview;

  const nextUs = () => {
    const now = Math.floor((performance.timeOrigin + performance.now()) * 1000); // µs, like Go's UnixMicro
    lastUs = Math.max(now, lastUs + 1);
    return lastUs;
  };

  const deliver = (sub, e) => {
    if (!sub.delivering || !matches(sub, e.ev)) return;
    if (sub.maxBytes > 0 && Buffer.byteLength(e.line) > sub.maxBytes) return;
    sub.ws.send(e.line);
    sub.sent++;
  };

  const emit = (ev) => {
    const e = { time_us: ev.time_us, ev, line: encodeEvent(ev) };
    events.push(e);
    stats.emitted++;
    for (const sub of subs) deliver(sub, e);
  };

  const startDelivery = (sub) => {
    sub.delivering = true;
    if (sub.cursor != null) for (const e of events) if (e.time_us >= sub.cursor) deliver(sub, e);
  };

  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname.startsWith('/xrpc/app.bsky.')) return appviewHandler(u, res);
    if (u.pathname === '/__bridge/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ ...stats, firehoseOpen, subscribers: [...subs].map((s) => ({ query: s.query, sent: s.sent })) }));
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
  });

  const xrpcErr = (res, status, error, message) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ error, message }));
  };

  async function appviewHandler(u, res) {
    const nsid = u.pathname.slice('/xrpc/'.length);
    stats.appviewCalls++;
    if (!appviewOn) return xrpcErr(res, 502, 'UpstreamFailure', 'appview unavailable');
    if (nsid !== 'app.bsky.actor.getProfile') return xrpcErr(res, 501, 'MethodNotImplemented', 'Method Not Implemented');
    const actor = u.searchParams.get('actor');
    if (!actor) return xrpcErr(res, 400, 'InvalidRequest', 'Error: Params must have the property "actor"');
    if (!pdsUrl) return xrpcErr(res, 503, 'NotEnoughResources', 'bridge not connected to a PDS yet');
    try {
      const r = await fetch(`${pdsUrl}/xrpc/com.atproto.repo.describeRepo?repo=${encodeURIComponent(actor)}`);
      if (!r.ok) return xrpcErr(res, 400, 'InvalidRequest', 'Profile not found');
      const repo = await r.json();
      const view = { did: repo.did, handle: repo.handleIsCorrect === false ? 'handle.invalid' : repo.handle };
      const p = await fetch(`${pdsUrl}/xrpc/com.atproto.repo.getRecord?repo=${encodeURIComponent(repo.did)}` +
        '&collection=app.bsky.actor.profile&rkey=self');
      if (p.ok) {
        const { value } = await p.json();
        if (value.displayName) view.displayName = value.displayName;
        if (value.description) view.description = value.description;
      }
      Object.assign(view, { followersCount: 0, followsCount: 0, postsCount: 0, indexedAt: new Date().toISOString(),
        viewer: { muted: false, blockedBy: false }, labels: [] });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(view));
    } catch (err) {
      xrpcErr(res, 500, 'InternalServerError', String(err?.message || err));
    }
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 10_000_000 });
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url, 'http://x');
    const refuse = (msg) => {
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n` +
        `Content-Length: ${Buffer.byteLength(msg) + 1}\r\nConnection: close\r\n\r\n${msg}\n`);
    };
    if (u.pathname !== '/subscribe') return refuse('404 page not found');
    if (u.searchParams.get('compress') === 'true' || /zstd/i.test(req.headers['socket-encoding'] || ''))
      return refuse('subscribe: zstd compression is not implemented by this bridge');
    const f = parseFilters(u.searchParams.getAll('wantedCollections'), u.searchParams.getAll('wantedDids'));
    if (f.error) return refuse(`subscribe: invalid options: ${f.error}`);
    let cursor = null;
    if (u.searchParams.has('cursor')) {
      const c = u.searchParams.get('cursor');
      if (!/^\d+$/.test(c)) return refuse(`subscribe: invalid cursor: ${JSON.stringify(c)}`);
      cursor = Number(c);
    }
    const maxBytes = Number.parseInt(u.searchParams.get('maxMessageSizeBytes') || '0', 10) || 0;
    const requireHello = u.searchParams.get('requireHello') === 'true';
    wss.handleUpgrade(req, socket, head, (ws) => {
      const sub = { ws, query: u.search, collections: f.collections, dids: f.dids, cursor, maxBytes, delivering: false, sent: 0 };
      subs.add(sub);
      log({ event: 'subscriber', query: u.search });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        let m;
        try { m = JSON.parse(String(data)); } catch { return ws.close(1007, 'bad SubscriberSourcedMessage envelope'); }
        if (!m || typeof m !== 'object' || typeof m.type !== 'string') return ws.close(1007, 'bad SubscriberSourcedMessage envelope');
        if (m.type !== 'options_update') return;
        const p = m.payload;
        if (!p || typeof p !== 'object') return ws.close(1007, 'bad options_update payload');
        const nf = parseFilters(p.wantedCollections || [], p.wantedDids || []);
        if (nf.error) return ws.close(1008, nf.error.slice(0, 123));
        sub.collections = nf.collections;
        sub.dids = nf.dids;
        sub.maxBytes = Number(p.maxMessageSizeBytes) || 0;
        if (!sub.delivering) startDelivery(sub);
      });
      ws.on('close', () => subs.delete(sub));
      ws.on('error', () => subs.delete(sub));
      if (!requireHello) startDelivery(sub);
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = server.address().port;

  const handleEvent = (evt) => {
    stats.firehoseEvents++;
    if (evt.event === 'create' || evt.event === 'update' || evt.event === 'delete') {
      const commit = { rev: evt.rev, operation: evt.event, collection: evt.collection, rkey: evt.rkey };
      if (evt.event !== 'delete') {
        commit.record = lexToJson(evt.record);
        commit.cid = evt.cid.toString();
      }
      emit({ did: evt.did, time_us: nextUs(), kind: 'commit', commit });
    } else if (evt.event === 'identity') {
      const identity = { did: evt.did, seq: evt.seq, time: evt.time };
      // Jetstream passes the firehose's handle on; @atproto/sync only returns one it could verify
      // (DNS or /.well-known, impossible for *.test), so take it from the DID document it resolved
      const aka = evt.didDocument?.alsoKnownAs?.find((a) => a.startsWith('at://'));
      const handle = evt.handle || (aka && aka.slice('at://'.length));
      if (handle) identity.handle = handle;
      emit({ did: evt.did, time_us: nextUs(), kind: 'identity', identity });
    } else if (evt.event === 'account') {
      const account = { active: evt.active, did: evt.did, seq: evt.seq, time: evt.time };
      if (evt.status) account.status = evt.status;
      emit({ did: evt.did, time_us: nextUs(), kind: 'account', account });
    }
    // #sync events are not sent on v1
  };

  /**
   * Attach to the PDS firehose. The first connection asks for cursor 0, i.e. the PDS's whole
   * sequencer history (a test PDS is fresh, so that is small), and every reconnection resumes
   * after the last seq seen: nothing committed on the PDS can fall between "bridge started" and
   * "socket open". Resolves when the first frame has been handled (or after `readyMs` on a PDS
   * that has never sequenced anything).
   */
  async function connect({ pdsUrl: p, plcUrl, verify = true, readyMs = 3000 }) {
    pdsUrl = p.replace(/\/$/, '');
    // no DID cache: a handle change or key rotation on the PLC is seen at the next event
    const idResolver = new IdResolver({ plcUrl });
    let first;
    const gotFirst = new Promise((r) => (first = r));
    firehose = new Firehose({
      idResolver,
      service: pdsUrl.replace(/^http/, 'ws'),
      unauthenticatedCommits: !verify,
      unauthenticatedHandles: true, // handles under .test cannot be checked against DNS
      subscriptionReconnectDelay: 200,
      // The runner supplies the cursor (its `getCursor` option is not called by @atproto/sync
      // 0.1.x, which passes the function itself as the query value). concurrency 1 keeps the
      // PDS's order across repos.
      runner: new MemoryRunner({ startCursor: 0, concurrency: 1 }),
      handleEvent: (evt) => {
        if (typeof evt.seq === 'number') lastSeq = evt.seq;
        handleEvent(evt);
        first();
      },
      onError: (err) => {
        if (closing) return;
        stats.errors.push(String(err?.message || err));
        log({ event: 'firehose_error', error: String(err?.stack || err), cause: String(err?.cause?.stack || err?.cause || '') });
      },
    });
    firehose.start();
    await Promise.race([gotFirst, new Promise((r) => setTimeout(r, readyMs))]);
    firehoseOpen = true;
  }

  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    jetstream: `ws://127.0.0.1:${bound}/subscribe`,
    appview: `http://127.0.0.1:${bound}`,
    connect,
    events: () => events.map((e) => e.ev),
    subscribers: () => subs.size,
    stats: () => ({ ...stats, lastSeq, subscribers: subs.size }),
    setAppview: (on) => { appviewOn = !!on; },
    async close() {
      closing = true;
      for (const s of subs) s.ws.close(1001, 'server shutting down');
      if (firehose) await firehose.destroy().catch(() => {});
      await new Promise((r) => wss.close(() => r()));
      server.closeAllConnections?.();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

// ---- CLI ------------------------------------------------------------------------------------
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : def;
  };
  const pds = opt('--pds');
  const plc = opt('--plc');
  if (!pds || !plc) {
    process.stderr.write('usage: node jetstream-bridge.mjs --pds http://127.0.0.1:PORT --plc http://127.0.0.1:PORT [--port N] [--unverified] [--no-appview]\n');
    process.exit(2);
  }
  const b = await startBridge({
    port: Number(opt('--port', '0')),
    appview: !args.includes('--no-appview'),
    log: (o) => process.stderr.write(JSON.stringify(o) + '\n'),
  });
  await b.connect({ pdsUrl: pds, plcUrl: plc, verify: !args.includes('--unverified') });
  process.stdout.write(JSON.stringify({ ready: true, port: b.port, jetstream: b.jetstream, appview: b.appview }) + '\n');
  const stop = async () => { await b.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
