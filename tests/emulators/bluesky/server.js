#!/usr/bin/env node
'use strict';
// Bluesky emulator for Switchboard tests: Jetstream v1 (`GET /subscribe`, WS)
// + a PDS (XRPC; also stands in for the chat.bsky service) + a control API
// under /__emu/, all on one loopback HTTP port.
//
//   node tests/emulators/bluesky/server.js [--port 0] [--ping-ms 30000] [--access-ttl-ms 7200000]
//
// Wire reference: shared/reference/platforms.md §2 and §6.2. Behaviour notes and
// deliberate choices are documented in tests/emulators/README.md ("Bluesky emulator").

const http = require('node:http');
const crypto = require('node:crypto');
const { URL } = require('node:url');
const { performance } = require('node:perf_hooks');
const { WebSocketServer } = require('ws');
const U = require('./lib/atproto-util.js');

const HOST = '127.0.0.1';
const BRAND_HANDLE = 'acme.test';
const CHAT_PROXY = 'did:web:api.bsky.chat#bsky_chat';
const MAX_WANTED_COLLECTIONS = 100;
const MAX_WANTED_DIDS = 10000;
const MAX_SUBSCRIBER_MESSAGE_BYTES = 10000000;

const DEFAULTS = {
  port: 0,
  pingMs: 30000,
  accessTtlMs: 2 * 60 * 60 * 1000,
  refreshTtlMs: 90 * 24 * 60 * 60 * 1000,
  writePointsHour: 5000,
  writePointsDay: 35000,
  sessionLimit5m: 30,
  sessionLimitDay: 300,
  globalLimit: 3000,
  globalWindowMs: 5 * 60 * 1000,
  eventLogMax: 100000,
  deflate: true,
  duplicateRkey: 'invalid_request', // or 'internal_error' (reference-PDS MST behaviour)
  strictFacets: true,
  seed: 'switchboard',
};

const DEFAULT_ACCOUNTS = [
  { handle: BRAND_HANDLE, displayName: 'Acme Support', description: 'Official Acme support account.', brand: true,
    passwords: [{ password: 'brand-app-password', privileged: true }, { password: 'brand-app-password-nodm', privileged: false }],
    followersCount: 1204, followsCount: 37, basePosts: 88 },
  { handle: 'alice.test', displayName: 'Alice Example', description: 'Customer.', followersCount: 210, followsCount: 180, basePosts: 512 },
  { handle: 'bob.test', displayName: 'Bob Example', description: 'Customer.', followersCount: 42, followsCount: 77, basePosts: 64 },
  { handle: 'carol.test', displayName: 'Carol 🌸', description: 'Customer (non-ASCII display name).', followersCount: 9001, followsCount: 300, basePosts: 4000 },
  { handle: 'dave.test', displayName: 'Dave', description: 'Customer.', followersCount: 3, followsCount: 5, basePosts: 1 },
];

class XrpcError extends Error {
  constructor(status, error, message, headers) {
    super(message);
    this.status = status;
    this.error = error;
    this.headers = headers || {};
  }
}
const invalid = (msg, name = 'InvalidRequest') => new XrpcError(400, name, msg);

class FilterError extends Error {}

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const STATUS_NAMES = {
  400: ['InvalidRequest', 'Invalid Request'],
  401: ['AuthenticationRequired', 'Authentication Required'],
  403: ['Forbidden', 'Forbidden'],
  404: ['XRPCNotSupported', 'XRPC Not Supported'],
  413: ['PayloadTooLarge', 'Payload Too Large'],
  429: ['RateLimitExceeded', 'Rate Limit Exceeded'],
  500: ['InternalServerError', 'Internal Server Error'],
  501: ['MethodNotImplemented', 'Method Not Implemented'],
  502: ['UpstreamFailure', 'Upstream Failure'],
  503: ['NotEnoughResources', 'Not Enough Resources'],
  504: ['UpstreamTimeout', 'Upstream Timeout'],
};

// Fixed-window limiter (what rate-limiter-flexible does for the PDS).
class Limiter {
  constructor(name, points, windowMs, nowMs) {
    Object.assign(this, { name, points, windowMs, nowMs });
    this.buckets = new Map();
  }
  bucket(key) {
    const now = this.nowMs();
    let b = this.buckets.get(key);
    if (!b || now >= b.start + this.windowMs) {
      b = { start: now, consumed: 0 };
      this.buckets.set(key, b);
    }
    return b;
  }
  consume(key, pts) {
    const b = this.bucket(key);
    b.consumed += pts;
    return this.status(key, b.consumed > this.points);
  }
  status(key, exceeded = false) {
    const b = this.bucket(key);
    return {
      name: this.name,
      limit: this.points,
      remaining: Math.max(0, this.points - b.consumed),
      reset: Math.floor((b.start + this.windowMs) / 1000),
      windowSec: Math.round(this.windowMs / 1000),
      exceeded,
    };
  }
}
const rateHeaders = (s) => ({
  'RateLimit-Limit': String(s.limit),
  'RateLimit-Remaining': String(s.remaining),
  'RateLimit-Reset': String(s.reset),
  'RateLimit-Policy': `${s.limit};w=${s.windowSec}`,
});

class Emulator {
  constructor(options = {}) {
    this.opts = { ...DEFAULTS, ...options };
    this.clockOffsetUs = 0;
    this.frozenUs = null;
    this.jwtSecret = crypto.randomBytes(32);
    this.tids = new U.TidGenerator(() => this.nowUs());
    this.subs = new Map();
    this.closedSubs = [];
    this.subCounter = 0;
    this.initState();
    this.initAccounts();
    // Go's default MaxHeaderBytes is 1 MB; 10,000 wantedDids need ~450 KB of query string.
    this.server = http.createServer({ maxHeaderSize: 2 * 1024 * 1024 }, (req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_SUBSCRIBER_MESSAGE_BYTES, perMessageDeflate: !!this.opts.deflate });
  }

  // ------------------------------------------------------------- clock ---
  nowUs() {
    if (this.frozenUs !== null) return this.frozenUs;
    return Math.floor((performance.timeOrigin + performance.now()) * 1000) + this.clockOffsetUs;
  }
  nowMs() { return Math.floor(this.nowUs() / 1000); }
  isoNow() { return new Date(this.nowMs()).toISOString(); }
  nextTimeUs() {
    const t = Math.max(Math.floor(this.nowUs()), this.maxTimeUs + 1);
    this.maxTimeUs = t;
    return t;
  }

  // ------------------------------------------------------------- state ---
  initState() {
    this.events = []; // {seq, time_us, did, kind, collection, frame, duplicate}
    this.baseSeq = 0;
    this.nextSeq = 0;
    this.maxTimeUs = 0;
    this.repos = new Map(); // did -> {did, rev, commitCid, records: Map}
    this.notifications = [];
    this.notifCounter = 0;
    this.seenAt = new Map();
    this.faults = [];
    this.log = [];
    this.logSeq = 0;
    this.convos = new Map();
    this.messages = [];
    this.firehoseSeq = 31527016000;
    this.limiters = {
      global: new Limiter('global-ip', this.opts.globalLimit, this.opts.globalWindowMs, () => this.nowMs()),
      writeHour: new Limiter('repo-write-hour', this.opts.writePointsHour, 3600000, () => this.nowMs()),
      writeDay: new Limiter('repo-write-day', this.opts.writePointsDay, 86400000, () => this.nowMs()),
      session5m: new Limiter('auth-session-5m', this.opts.sessionLimit5m, 300000, () => this.nowMs()),
      sessionDay: new Limiter('auth-session-day', this.opts.sessionLimitDay, 86400000, () => this.nowMs()),
    };
    if (!this.tokens) this.tokens = new Map();
    if (this.accounts) for (const a of this.accounts.values()) { a.dmsDisabled = false; }
  }

  initAccounts() {
    this.accounts = new Map();
    this.handles = new Map();
    for (const spec of this.opts.accounts || DEFAULT_ACCOUNTS) {
      const name = spec.handle.split('.')[0];
      const acct = {
        did: spec.did || U.plcDid(`${this.opts.seed}:${spec.handle}`),
        handle: spec.handle,
        displayName: spec.displayName || name,
        description: spec.description || '',
        brand: !!spec.brand,
        passwords: spec.passwords || [{ password: `${name}-app-password`, privileged: true }],
        followersCount: spec.followersCount || 0,
        followsCount: spec.followsCount || 0,
        basePosts: spec.basePosts || 0,
        createdAt: '2024-03-11T09:15:27.301Z',
        dmsDisabled: false,
      };
      this.accounts.set(acct.did, acct);
      this.handles.set(acct.handle.toLowerCase(), acct.did);
      if (acct.brand) this.brand = acct;
    }
    if (!this.brand) this.brand = this.accounts.values().next().value;
  }

  resolveActor(actor) {
    if (typeof actor !== 'string') return null;
    if (actor.startsWith('did:')) return this.accounts.get(actor) || null;
    const did = this.handles.get(actor.replace(/^@/, '').toLowerCase());
    return did ? this.accounts.get(did) : null;
  }
  resolveRepoDid(repo) {
    if (typeof repo !== 'string') return null;
    if (repo.startsWith('did:')) return U.isDid(repo) ? repo : null;
    const a = this.resolveActor(repo);
    return a ? a.did : null;
  }

  repo(did) {
    let r = this.repos.get(did);
    if (!r) {
      r = { did, rev: null, commitCid: null, records: new Map() };
      this.repos.set(did, r);
    }
    return r;
  }
  getRecord(uri) {
    const p = U.parseAtUri(uri);
    if (!p || !p.collection || !p.rkey) return null;
    const did = this.resolveRepoDid(p.repo) || p.repo;
    const r = this.repos.get(did);
    return r ? r.records.get(`${p.collection}/${p.rkey}`) || null : null;
  }

  newCommit(repo) {
    const rev = this.tids.next();
    repo.rev = rev;
    repo.commitCid = U.cidForRecord({ did: repo.did, rev, version: 3, data: { $link: U.cidForRecord({ n: repo.records.size, rev }) }, prev: null });
    return { cid: repo.commitCid, rev };
  }

  // Writes a record to a repo and (optionally) emits the Jetstream event.
  writeRecord(did, collection, rkey, record, { emit = true, notify = true, duplicate = 0, operation } = {}) {
    const repo = this.repo(did);
    const key = `${collection}/${rkey}`;
    const existed = repo.records.has(key);
    const op = operation || (existed ? 'update' : 'create');
    const cid = U.cidForRecord(record);
    const uri = `at://${did}/${collection}/${rkey}`;
    const commit = this.newCommit(repo);
    const rec = { uri, cid, value: record, did, collection, rkey, indexedAt: this.isoNow(), sortUs: this.nowUs() };
    repo.records.set(key, rec);
    let event = null;
    const obj = {
      did,
      time_us: 0,
      kind: 'commit',
      commit: { rev: commit.rev, operation: op, collection, rkey, record: U.goMapOrder(record), cid },
    };
    if (emit) event = this.emit(obj, { duplicate });
    else obj.time_us = this.nextTimeUs();
    if (notify && op === 'create') this.notifyFor(rec);
    return { uri, cid, commit, event: event || obj, record: rec };
  }

  deleteRecord(did, collection, rkey, { emit = true } = {}) {
    const repo = this.repo(did);
    const key = `${collection}/${rkey}`;
    const rec = repo.records.get(key);
    repo.records.delete(key);
    const commit = this.newCommit(repo);
    const uri = `at://${did}/${collection}/${rkey}`;
    this.notifications = this.notifications.filter((n) => n.uri !== uri);
    const obj = { did, time_us: 0, kind: 'commit', commit: { rev: commit.rev, operation: 'delete', collection, rkey } };
    const event = emit ? this.emit(obj) : null;
    return { existed: !!rec, commit, event, uri };
  }

  // ------------------------------------------------------- notifications ---
  notifyFor(rec) {
    const v = rec.value || {};
    const author = rec.did;
    const notified = new Set([author]);
    const add = (recipient, reason, reasonSubject) => {
      if (!recipient || notified.has(recipient) || !this.accounts.has(recipient)) return;
      notified.add(recipient);
      this.notifications.push({
        id: ++this.notifCounter, recipient, uri: rec.uri, cid: rec.cid, author, reason,
        reasonSubject, record: v, indexedAt: rec.indexedAt, sortUs: rec.sortUs,
      });
    };
    const didOfUri = (uri) => { const p = U.parseAtUri(uri); return p ? this.resolveRepoDid(p.repo) || p.repo : null; };
    if (rec.collection === 'app.bsky.feed.post') {
      for (const f of Array.isArray(v.facets) ? v.facets : []) {
        for (const feat of Array.isArray(f && f.features) ? f.features : []) {
          if (feat && feat.$type === 'app.bsky.richtext.facet#mention') add(feat.did, 'mention');
        }
      }
      if (v.reply && v.reply.parent) add(didOfUri(v.reply.parent.uri), 'reply', v.reply.parent.uri);
      if (v.reply && v.reply.root) add(didOfUri(v.reply.root.uri), 'reply', v.reply.parent && v.reply.parent.uri);
      const q = v.embed && (v.embed.record && v.embed.record.uri ? v.embed.record : v.embed.record && v.embed.record.record);
      if (q && q.uri) add(didOfUri(q.uri), 'quote', q.uri);
    } else if (rec.collection === 'app.bsky.feed.like' || rec.collection === 'app.bsky.feed.repost') {
      if (v.subject && v.subject.uri) add(didOfUri(v.subject.uri), rec.collection.endsWith('like') ? 'like' : 'repost', v.subject.uri);
    } else if (rec.collection === 'app.bsky.graph.follow') {
      add(v.subject, 'follow');
    }
  }

  // ------------------------------------------------------------ events ---
  emit(obj, { duplicate = 0, raw = null } = {}) {
    if (!raw) obj.time_us = this.nextTimeUs();
    else if (typeof obj.time_us === 'number') this.maxTimeUs = Math.max(this.maxTimeUs, obj.time_us);
    const frame = raw || U.goJson(obj);
    const meta = {
      time_us: typeof obj.time_us === 'number' ? obj.time_us : 0,
      did: typeof obj.did === 'string' ? obj.did : '',
      kind: obj.kind,
      collection: obj.commit && typeof obj.commit.collection === 'string' ? obj.commit.collection : '',
      frame,
      bytes: Buffer.byteLength(frame),
    };
    for (let i = 0; i <= duplicate; i++) {
      this.events.push({ ...meta, seq: this.nextSeq++, duplicate: i > 0 });
    }
    while (this.events.length > this.opts.eventLogMax) {
      this.events.shift();
      this.baseSeq++;
    }
    for (const sub of this.subs.values()) this.pump(sub);
    return obj;
  }

  eventAt(seq) { return seq >= this.baseSeq ? this.events[seq - this.baseSeq] : undefined; }

  wants(filter, ev) {
    if (!filter) return true;
    if (filter.dids && !filter.dids.has(ev.did)) return false;
    if (!filter.collections) return true;
    if (ev.kind !== 'commit') return true;
    if (!ev.collection) return true;
    if (filter.collections.full.has(ev.collection)) return true;
    return filter.collections.prefixes.some((p) => ev.collection.startsWith(p));
  }

  pump(sub) {
    if (!sub.started || sub.ws.readyState !== 1) return;
    if (sub.nextSeq < this.baseSeq) sub.nextSeq = this.baseSeq;
    while (sub.nextSeq < this.nextSeq) {
      const ev = this.eventAt(sub.nextSeq++);
      if (!ev || !this.wants(sub.filter, ev)) continue;
      if (sub.filter && sub.filter.maxSize > 0 && ev.bytes > sub.filter.maxSize) continue;
      sub.ws.send(ev.frame);
      sub.sent++;
      sub.lastTimeUs = ev.time_us;
    }
  }

  // Filter parsing shared by the query string and options_update.
  parseFilter(collections, dids, maxSize) {
    const f = { collections: null, dids: null, maxSize: 0 };
    if (collections && collections.length) {
      if (collections.length > MAX_WANTED_COLLECTIONS * 100) throw new FilterError(`subscribe: invalid options: too many wanted collections: ${collections.length}`);
      const full = new Set();
      const prefixes = [];
      for (const raw of collections) {
        if (raw.endsWith('.*')) {
          const head = raw.slice(0, -1);
          if (prefixes.includes(head)) continue;
          prefixes.push(head);
        } else {
          if (!U.isNsid(raw)) throw new FilterError(`subscribe: invalid options: invalid collection: ${raw}`);
          full.add(raw);
        }
        if (full.size + prefixes.length > MAX_WANTED_COLLECTIONS) throw new FilterError(`subscribe: invalid options: too many wanted collections: > ${MAX_WANTED_COLLECTIONS}`);
      }
      f.collections = { full, prefixes };
    }
    if (dids && dids.length) {
      if (dids.length > MAX_WANTED_DIDS * 100) throw new FilterError(`subscribe: invalid options: too many wanted DIDs: ${dids.length}`);
      const set = new Set();
      for (const d of dids) {
        if (!U.isDid(d)) throw new FilterError(`subscribe: invalid options: invalid DID: ${d}`);
        set.add(d);
      }
      if (set.size > MAX_WANTED_DIDS) throw new FilterError(`subscribe: invalid options: too many wanted DIDs: ${set.size} > ${MAX_WANTED_DIDS}`);
      f.dids = set;
    }
    f.maxSize = maxSize > 0 && maxSize <= 0xffffffff ? maxSize : 0;
    return f;
  }

  // Cursor (unix µs) → start seq, or null for live. Returns {start, clamped}.
  resolveCursor(raw) {
    if (raw === null || raw === '') return { live: true };
    if (!/^[+-]?[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new FilterError(`subscribe: invalid cursor: ${JSON.stringify(raw)}`);
    const n = Number(raw);
    if (n < 0) throw new FilterError(`subscribe: invalid cursor: negative value ${n}`);
    if (n > this.nowUs()) return { live: true, clamped: true };
    const first = this.events[0];
    if (!first || n <= first.time_us) return { start: this.baseSeq, clamped: !!first && n < first.time_us };
    const idx = this.events.findIndex((e) => e.time_us >= n);
    return { start: idx < 0 ? this.nextSeq : this.baseSeq + idx };
  }

  // ------------------------------------------------------------ logging ---
  addLog(entry) {
    const e = { seq: ++this.logSeq, at: this.isoNow(), time_us: Math.floor(this.nowUs()), ...entry };
    this.log.push(e);
    if (this.log.length > 20000) this.log.shift();
    return e;
  }

  // ------------------------------------------------------------- faults ---
  takeFault(kinds, path, method) {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i];
      if (!kinds.includes(f.kind)) continue;
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (f.path) {
        if (f.path.endsWith('*') ? !path.startsWith(f.path.slice(0, -1)) : f.path !== path) continue;
      } else if (!path.startsWith('/xrpc/')) continue;
      f.remaining--;
      f.fired = (f.fired || 0) + 1;
      if (f.remaining <= 0) this.faults.splice(i, 1);
      return f;
    }
    return null;
  }

  // ---------------------------------------------------------------- JWT ---
  issueTokens(acct, privileged) {
    const nowS = Math.floor(this.nowMs() / 1000);
    const sign = (payload, typ) => {
      const head = b64url({ typ, alg: 'HS256' });
      const body = b64url(payload);
      const sig = crypto.createHmac('sha256', this.jwtSecret).update(`${head}.${body}`).digest('base64url');
      return `${head}.${body}.${sig}`;
    };
    const aud = `did:web:127.0.0.1%3A${this.port}`;
    const accessExp = this.nowUs() + this.opts.accessTtlMs * 1000;
    const refreshExp = this.nowUs() + this.opts.refreshTtlMs * 1000;
    const scope = privileged ? 'com.atproto.appPassPrivileged' : 'com.atproto.appPass';
    const accessJwt = sign({ scope, sub: acct.did, iat: nowS, exp: Math.floor(accessExp / 1e6), aud, jti: crypto.randomBytes(12).toString('base64url') }, 'at+jwt');
    const refreshJwt = sign({ scope: 'com.atproto.refresh', sub: acct.did, aud, jti: crypto.randomBytes(24).toString('base64url'), iat: nowS, exp: Math.floor(refreshExp / 1e6) }, 'refresh+jwt');
    this.tokens.set(accessJwt, { kind: 'access', did: acct.did, expUs: accessExp, privileged, issuedAt: this.isoNow() });
    this.tokens.set(refreshJwt, { kind: 'refresh', did: acct.did, expUs: refreshExp, privileged, issuedAt: this.isoNow() });
    return { accessJwt, refreshJwt };
  }

  authenticate(req, kind = 'access') {
    const h = req.headers.authorization;
    if (!h || !/^Bearer\s+\S/i.test(h)) throw new XrpcError(401, 'AuthMissing', 'Authentication Required');
    const token = h.replace(/^Bearer\s+/i, '').trim();
    const t = this.tokens.get(token);
    if (!t) throw invalid('Token could not be verified', 'InvalidToken');
    if (t.kind !== kind) throw invalid('Invalid token type', 'InvalidToken');
    if (t.revoked) throw invalid('Token has been revoked', 'ExpiredToken');
    if (this.nowUs() >= t.expUs) throw invalid('Token has expired', 'ExpiredToken');
    const acct = this.accounts.get(t.did);
    if (!acct) throw invalid('Token could not be verified', 'InvalidToken');
    return { token, acct, privileged: t.privileged, tok: t };
  }

  didDoc(acct) {
    return {
      '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1', 'https://w3id.org/security/suites/secp256k1-2019/v1'],
      id: acct.did,
      alsoKnownAs: [`at://${acct.handle}`],
      verificationMethod: [{ id: `${acct.did}#atproto`, type: 'Multikey', controller: acct.did, publicKeyMultibase: 'zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF' }],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: this.pdsUrl }],
    };
  }

  // ----------------------------------------------------------- profiles ---
  postsCount(acct) {
    const r = this.repos.get(acct.did);
    let n = acct.basePosts;
    if (r) for (const rec of r.records.values()) if (rec.collection === 'app.bsky.feed.post') n++;
    return n;
  }
  profileBasic(did) {
    const a = this.accounts.get(did);
    if (!a) return { did, handle: 'handle.invalid', associated: { chat: { allowIncoming: 'all' } }, viewer: { muted: false, blockedBy: false }, labels: [] };
    return {
      did: a.did, handle: a.handle, displayName: a.displayName,
      associated: { chat: { allowIncoming: a.dmsDisabled ? 'none' : 'all' } },
      viewer: { muted: false, blockedBy: false }, labels: [], createdAt: a.createdAt,
    };
  }
  profileView(did) {
    const p = this.profileBasic(did);
    const a = this.accounts.get(did);
    if (a) { p.description = a.description; p.indexedAt = a.createdAt; }
    return p;
  }
  profileDetailed(a) {
    return {
      did: a.did, handle: a.handle, displayName: a.displayName, description: a.description,
      associated: { lists: 0, feedgens: 0, starterPacks: 0, labeler: false, chat: { allowIncoming: a.dmsDisabled ? 'none' : 'all' } },
      indexedAt: a.createdAt, createdAt: a.createdAt,
      viewer: { muted: false, blockedBy: false }, labels: [],
      followersCount: a.followersCount, followsCount: a.followsCount, postsCount: this.postsCount(a),
    };
  }

  // --------------------------------------------------------- validation ---
  validatePost(record, { strict }) {
    const bad = (m) => invalid(`Invalid app.bsky.feed.post record: ${m}`);
    if (typeof record.text !== 'string') throw bad(record.text === undefined ? 'Record must have the property "text"' : 'Record/text must be a string');
    if (U.utf8Length(record.text) > 3000) throw bad('Record/text must not be longer than 3000 characters');
    if (U.graphemeLength(record.text) > 300) throw bad('Record/text must not be longer than 300 graphemes');
    if (record.createdAt === undefined) throw bad('Record must have the property "createdAt"');
    if (!U.isDatetime(record.createdAt)) throw bad('Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)');
    if (record.langs !== undefined) {
      if (!Array.isArray(record.langs)) throw bad('Record/langs must be an array');
      if (record.langs.length > 3) throw bad('Record/langs must not have more than 3 elements');
      record.langs.forEach((l, i) => { if (typeof l !== 'string' || !/^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$/.test(l)) throw bad(`Record/langs/${i} must be a well-formed BCP 47 language tag`); });
    }
    if (record.tags !== undefined) {
      if (!Array.isArray(record.tags)) throw bad('Record/tags must be an array');
      if (record.tags.length > 8) throw bad('Record/tags must not have more than 8 elements');
      record.tags.forEach((t, i) => { if (typeof t !== 'string' || U.utf8Length(t) > 640 || U.graphemeLength(t) > 64) throw bad(`Record/tags/${i} must not be longer than 64 graphemes`); });
    }
    if (record.facets !== undefined) this.validateFacets(record.text, record.facets, { strict, bad });
    if (record.reply !== undefined) this.validateReply(record.reply, { strict, bad });
    if (record.embed !== undefined && (typeof record.embed !== 'object' || record.embed === null || typeof record.embed.$type !== 'string')) {
      throw bad('Record/embed must be an object which includes the "$type" property');
    }
  }

  validateFacets(text, facets, { strict, bad }) {
    if (!Array.isArray(facets)) throw bad('Record/facets must be an array');
    const buf = Buffer.from(text, 'utf8');
    const spans = [];
    facets.forEach((f, i) => {
      const p = `Record/facets/${i}`;
      if (!f || typeof f !== 'object') throw bad(`${p} must be an object`);
      const ix = f.index;
      if (!ix || typeof ix !== 'object') throw bad(`${p} must have the property "index"`);
      for (const k of ['byteStart', 'byteEnd']) {
        if (!Number.isInteger(ix[k])) throw bad(`${p}/index must have the property "${k}"`);
        if (ix[k] < 0) throw bad(`${p}/index/${k} can not be less than 0`);
      }
      if (!Array.isArray(f.features)) throw bad(`${p} must have the property "features"`);
      f.features.forEach((feat, j) => {
        const fp = `${p}/features/${j}`;
        if (!feat || typeof feat !== 'object' || typeof feat.$type !== 'string') throw bad(`${fp} must be an object which includes the "$type" property`);
        if (feat.$type === 'app.bsky.richtext.facet#mention' && !U.isDid(feat.did)) throw bad(`${fp}/did must be a valid did`);
        if (feat.$type === 'app.bsky.richtext.facet#link' && (typeof feat.uri !== 'string' || !/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(feat.uri))) throw bad(`${fp}/uri must be a uri`);
        if (feat.$type === 'app.bsky.richtext.facet#tag' && (typeof feat.tag !== 'string' || U.utf8Length(feat.tag) > 640 || U.graphemeLength(feat.tag) > 64)) throw bad(`${fp}/tag must not be longer than 64 graphemes`);
      });
      if (strict) {
        // Emulator-strict checks (the real lexicon only requires integers ≥ 0).
        if (!(ix.byteStart < ix.byteEnd)) throw bad(`${p}/index: byteStart (${ix.byteStart}) must be less than byteEnd (${ix.byteEnd})`);
        if (ix.byteEnd > buf.length) throw bad(`${p}/index: byteEnd (${ix.byteEnd}) is beyond the UTF-8 byte length of text (${buf.length})`);
        const cont = (o) => o < buf.length && (buf[o] & 0xc0) === 0x80;
        if (cont(ix.byteStart) || cont(ix.byteEnd)) throw bad(`${p}/index: offsets must fall on UTF-8 character boundaries (they are byte offsets, not character offsets)`);
        if (f.features.length === 0) throw bad(`${p}/features must not be empty`);
        spans.push([ix.byteStart, ix.byteEnd, i]);
      }
    });
    spans.sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < spans.length; k++) {
      if (spans[k][0] < spans[k - 1][1]) throw bad(`Record/facets/${spans[k][2]} overlaps another facet`);
    }
  }

  validateReply(reply, { strict, bad }) {
    if (!reply || typeof reply !== 'object') throw bad('Record/reply must be an object');
    const refs = {};
    for (const k of ['root', 'parent']) {
      const r = reply[k];
      if (!r || typeof r !== 'object') throw bad(`Record/reply must have the property "${k}"`);
      if (typeof r.uri !== 'string' || !U.parseAtUri(r.uri)) throw bad(`Record/reply/${k}/uri must be a valid at-uri`);
      if (!U.isCidString(r.cid)) throw bad(`Record/reply/${k}/cid must be a cid string`);
      const rec = this.getRecord(r.uri);
      if (!rec) throw invalid(`Invalid reply reference: ${k} record not found: ${r.uri}`);
      if (rec.collection !== 'app.bsky.feed.post') throw invalid(`Invalid reply reference: ${k} is not an app.bsky.feed.post: ${r.uri}`);
      if (rec.cid !== r.cid) throw invalid(`Invalid reply reference: ${k} cid mismatch for ${r.uri} (have ${rec.cid}, got ${r.cid})`);
      refs[k] = rec;
    }
    if (strict) {
      const pr = refs.parent.value.reply;
      const expected = pr && pr.root ? pr.root.uri : refs.parent.uri;
      if (reply.root.uri !== expected) throw invalid(`Invalid reply reference: root must be ${expected} (parent.reply.root if the parent is a reply, else the parent), got ${reply.root.uri}`);
    }
  }

  // -------------------------------------------------------------- HTTP ---
  async readBody(req, limit = 5 * 1024 * 1024) {
    const chunks = [];
    let n = 0;
    for await (const c of req) {
      n += c.length;
      if (n > limit) throw new XrpcError(413, 'PayloadTooLarge', 'request entity too large');
      chunks.push(c);
    }
    return Buffer.concat(chunks);
  }

  async onRequest(req, res) {
    const url = new URL(req.url, `http://${HOST}`);
    try {
      if (url.pathname.startsWith('/__emu/')) return await this.handleControl(req, res, url);
      if (url.pathname.startsWith('/xrpc/')) return await this.handleXrpc(req, res, url);
      const body = await this.readBody(req).catch(() => Buffer.alloc(0));
      this.addLog({ type: 'http', method: req.method, path: url.pathname, query: queryObject(url), headers: req.headers, body: body.toString('utf8') });
      if (url.pathname === '/subscribe') {
        // Not a WebSocket upgrade request.
        return sendText(res, 426, 'WebSocket protocol violation: Connection header "" does not contain Upgrade\n');
      }
      if (url.pathname === '/') return sendText(res, 200, 'Switchboard Bluesky emulator: Jetstream v1 at /subscribe, PDS at /xrpc/, control at /__emu/\n');
      return sendText(res, 404, '404 page not found\n');
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: 'InternalServerError', message: String(err && err.stack || err) });
    }
  }

  async handleXrpc(req, res, url) {
    let bodyBuf;
    const entry = this.addLog({ type: 'http', method: req.method, path: url.pathname, query: queryObject(url), headers: req.headers, body: '' });
    try {
      bodyBuf = await this.readBody(req);
      entry.body = bodyBuf.toString('utf8');
    } catch (e) {
      entry.status = 413;
      return sendJson(res, 413, { error: 'PayloadTooLarge', message: 'request entity too large' });
    }
    const ip = req.socket.remoteAddress || '?';
    const glob = this.limiters.global.consume(ip, 1);
    let rl = glob;
    const respond = (status, body, extraHeaders = {}) => {
      entry.status = status;
      entry.response = body;
      if (ctx.lost) {
        entry.fault = 'lost_response';
        entry.status = null;
        req.socket.destroy();
        return;
      }
      const headers = { ...rateHeaders(rl), ...extraHeaders };
      if (body === undefined) {
        res.writeHead(status, headers);
        res.end();
      } else sendJson(res, status, body, headers);
    };
    const ctx = { lost: false };
    const fail = (err) => {
      if (err instanceof XrpcError) return respond(err.status, { error: err.error, message: err.message }, err.headers);
      const [name, msg] = STATUS_NAMES[500];
      entry.exception = String(err && err.stack || err);
      return respond(500, { error: name, message: msg });
    };

    if (glob.exceeded) return fail(new XrpcError(429, 'RateLimitExceeded', 'Rate Limit Exceeded'));

    const fault = this.takeFault(['http_status', 'slow', 'lost_response'], url.pathname, req.method);
    if (fault) {
      entry.fault = fault.kind;
      if (fault.kind === 'http_status') {
        const status = fault.status || 500;
        const [name, msg] = STATUS_NAMES[status] || ['InternalServerError', 'Internal Server Error'];
        if (status === 429) rl = { ...glob, remaining: 0 };
        return respond(status, { error: fault.error || name, message: fault.message || msg });
      }
      if (fault.kind === 'slow') await sleep(fault.ms || 0);
      if (fault.kind === 'lost_response') ctx.lost = true;
    }

    const nsid = url.pathname.slice('/xrpc/'.length);
    if (nsid === '_health') return respond(200, { version: 'switchboard-bluesky-emulator' });
    const route = ROUTES[nsid];
    if (!route) return fail(new XrpcError(501, 'MethodNotImplemented', 'Method Not Implemented'));
    const wantMethod = route.type === 'query' ? 'GET' : 'POST';
    if (req.method !== wantMethod && !(req.method === 'HEAD' && wantMethod === 'GET')) {
      return fail(invalid(`Incorrect HTTP method (${req.method}) expected ${wantMethod}`));
    }
    let input;
    if (route.type === 'procedure' && route.input !== false) {
      const ct = String(req.headers['content-type'] || '');
      if (!bodyBuf.length) return fail(invalid('Request encoding (Content-Type) required but not provided'));
      if (!/^application\/json\b/i.test(ct)) return fail(invalid(`Wrong request encoding (Content-Type): ${ct.split(';')[0] || '(none)'}`));
      try {
        input = JSON.parse(bodyBuf.toString('utf8'));
      } catch {
        return fail(invalid('Request body is not valid JSON'));
      }
      if (!input || typeof input !== 'object' || Array.isArray(input)) return fail(invalid('Input must be an object'));
    }
    const call = {
      req, url, input: input || {}, params: url.searchParams,
      // Consume a route limiter; the tightest limiter is reported in headers.
      limit: (limiter, key, points) => {
        const s = limiter.consume(key, points);
        if (s.exceeded || s.remaining < rl.remaining) rl = s;
        if (s.exceeded) throw new XrpcError(429, 'RateLimitExceeded', 'Rate Limit Exceeded');
      },
    };
    try {
      const out = await route.handler.call(this, call);
      entry.session_did = call.did;
      return respond(200, out === null ? undefined : out);
    } catch (err) {
      entry.session_did = call.did;
      return fail(err);
    }
  }

  // ---------------------------------------------------------- WS upgrade ---
  onUpgrade(req, socket, head) {
    const url = new URL(req.url, `http://${HOST}`);
    const entry = this.addLog({ type: 'ws-upgrade', method: req.method, path: url.pathname, query: queryObject(url), headers: req.headers, body: '' });
    socket.on('error', () => {});
    const reject = (status, text, extra = {}) => {
      entry.status = status;
      entry.response = text;
      rawHttp(socket, status, text, extra);
    };
    if (url.pathname !== '/subscribe') return reject(404, '404 page not found\n');
    const run = async () => {
      const fault = this.takeFault(['http_status', 'slow', 'lost_response'], url.pathname, req.method);
      if (fault) {
        entry.fault = fault.kind;
        if (fault.kind === 'http_status') {
          const st = fault.status || 503;
          return reject(st, (fault.message || (st === 503 ? 'service not ready: bootstrap in progress' : http.STATUS_CODES[st] || 'error')) + '\n');
        }
        if (fault.kind === 'slow') await sleep(fault.ms || 0);
        if (fault.kind === 'lost_response') { entry.status = null; return socket.destroy(); }
      }
      const q = url.searchParams;
      const wantZstd = q.get('compress') === 'true' || String(req.headers['socket-encoding'] || '').includes('zstd');
      if (wantZstd && String(req.headers['sec-websocket-extensions'] || '').includes('permessage-deflate')) {
        return reject(400, 'choose one compression scheme: custom zstd (compress=true / Socket-Encoding: zstd) or RFC 7692 permessage-deflate, not both\n');
      }
      if (wantZstd) return reject(400, 'emulator: compress=true / Socket-Encoding: zstd (custom-dictionary zstd) is not supported; connect without compression\n');
      let filter;
      let cursor;
      try {
        filter = this.parseFilter(q.getAll('wantedCollections'), q.getAll('wantedDids'), parseMaxSize(q.get('maxMessageSizeBytes')));
        cursor = this.resolveCursor(q.get('cursor'));
      } catch (e) {
        if (e instanceof FilterError) return reject(400, e.message + '\n');
        throw e;
      }
      const requireHello = q.get('requireHello') === 'true';
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        entry.status = 101;
        this.onSubscriber(ws, req, url, { filter, cursor, requireHello });
      });
    };
    run().catch((e) => { try { reject(500, String(e) + '\n'); } catch { /* ignore */ } });
  }

  onSubscriber(ws, req, url, { filter, cursor, requireHello }) {
    const sub = {
      id: ++this.subCounter, ws, filter, requireHello, hello: false, started: false, sent: 0,
      nextSeq: this.nextSeq, cursor: url.searchParams.get('cursor'), cursorPlan: cursor, alive: true,
      query: queryObject(url), remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      connectedAt: this.isoNow(), framesReceived: 0, lastTimeUs: null,
    };
    this.subs.set(sub.id, sub);
    const start = () => {
      sub.started = true;
      sub.nextSeq = cursor.live ? this.nextSeq : cursor.start;
      this.pump(sub);
    };
    ws.on('message', (data, isBinary) => {
      sub.framesReceived++;
      const text = isBinary ? null : data.toString('utf8');
      this.addLog({ type: 'ws-frame', conn: sub.id, path: '/subscribe', binary: isBinary, bytes: data.length, body: isBinary ? data.toString('base64') : text });
      if (isBinary) return; // v1: non-text frames are ignored
      const res = parseSubscriberMessage(text);
      if (res.close) {
        sub.closeSent = res.close;
        return ws.close(res.close[0], res.close[1]);
      }
      if (res.type !== 'options_update') return; // unknown types are ignored
      let nf;
      try {
        nf = this.parseFilter(res.payload.wantedCollections, res.payload.wantedDids, res.payload.maxMessageSizeBytes);
      } catch (e) {
        const reason = truncateReason(e.message);
        sub.closeSent = [1008, reason];
        return ws.close(1008, reason);
      }
      sub.filter = nf; // atomic swap: applies from the next event on
      sub.optionsUpdates = (sub.optionsUpdates || 0) + 1;
      if (!sub.hello) {
        sub.hello = true;
        if (sub.requireHello) start();
      }
    });
    ws.on('pong', () => { sub.alive = true; });
    ws.on('error', () => {});
    ws.on('close', (code, reason) => {
      clearInterval(sub.pingTimer);
      this.subs.delete(sub.id);
      sub.closedAt = this.isoNow();
      sub.closeCode = code;
      sub.closeReason = reason.toString();
      this.closedSubs.push(sub);
      if (this.closedSubs.length > 200) this.closedSubs.shift();
    });
    sub.pingTimer = setInterval(() => {
      if (!sub.alive) { sub.terminatedForPong = true; return ws.terminate(); }
      sub.alive = false;
      try { ws.ping(); } catch { /* closed */ }
    }, this.opts.pingMs);
    sub.pingTimer.unref();
    if (!requireHello) start();
  }

  connectionInfo(sub) {
    return {
      id: sub.id, remote: sub.remote, query: sub.query, connected_at: sub.connectedAt, closed_at: sub.closedAt || null,
      close_code: sub.closeCode === undefined ? null : sub.closeCode, close_reason: sub.closeReason === undefined ? null : sub.closeReason,
      require_hello: sub.requireHello, hello_received: sub.hello, delivering: sub.started, cursor: sub.cursor,
      wanted_collections: sub.filter && sub.filter.collections ? [...sub.filter.collections.full, ...sub.filter.collections.prefixes.map((p) => p + '*')] : null,
      wanted_dids: sub.filter && sub.filter.dids ? [...sub.filter.dids] : null,
      max_message_size_bytes: sub.filter ? sub.filter.maxSize : 0,
      events_sent: sub.sent, frames_received: sub.framesReceived, last_time_us: sub.lastTimeUs, options_updates: sub.optionsUpdates || 0,
    };
  }

  // ----------------------------------------------------------- control ---
  async handleControl(req, res, url) {
    let body = {};
    const raw = await this.readBody(req).catch(() => Buffer.alloc(0));
    if (raw.length) {
      try { body = JSON.parse(raw.toString('utf8')); } catch { return sendJson(res, 400, { error: 'control body must be JSON' }); }
    }
    const route = `${req.method} ${url.pathname}`;
    try {
      const out = await this.control(route, body || {}, url);
      if (out === undefined) return sendJson(res, 404, { error: `unknown control route ${route}` });
      return sendJson(res, 200, out);
    } catch (e) {
      return sendJson(res, e.status || 400, { error: e.message });
    }
  }

  async control(route, b, url) {
    const q = url.searchParams;
    const need = (cond, msg) => { if (!cond) { const e = new Error(msg); e.status = 400; throw e; } };
    switch (route) {
      case 'GET /__emu/health': return { ok: true };
      case 'GET /__emu/accounts':
        return { brand: this.accountInfo(this.brand), accounts: [...this.accounts.values()].map((a) => this.accountInfo(a)) };
      case 'POST /__emu/inject': return this.inject(b, need);
      case 'POST /__emu/inject_raw': {
        let obj;
        let line = null;
        if (typeof b.line === 'string') {
          line = b.line.replace(/\r?\n$/, '');
          obj = JSON.parse(line);
        } else obj = b.event;
        need(obj && typeof obj === 'object' && !Array.isArray(obj), 'inject_raw needs {"event":{...}} or {"line":"<json text>"}');
        const frame = line !== null ? line : U.goJson(obj);
        if (b.store !== false) this.storeRaw(obj);
        this.emit(obj, { raw: frame, duplicate: b.duplicate || 0 });
        return { ok: true, event: obj, bytes: Buffer.byteLength(frame) };
      }
      case 'POST /__emu/delete': {
        need(typeof b.uri === 'string', 'delete needs {"uri"}');
        const p = U.parseAtUri(b.uri);
        need(p && p.collection && p.rkey, 'bad at:// uri');
        const did = this.resolveRepoDid(p.repo) || p.repo;
        const r = this.deleteRecord(did, p.collection, p.rkey, { emit: b.emit !== false });
        return { uri: r.uri, existed: r.existed, event: r.event };
      }
      case 'POST /__emu/noise': return this.noise(b);
      case 'POST /__emu/identity': {
        const a = this.resolveActor(b.did || b.handle);
        const did = a ? a.did : b.did;
        need(U.isDid(did), 'identity needs a known handle or a did');
        const ident = { did };
        if (b.handle !== undefined || a) ident.handle = b.new_handle || b.handle || a.handle;
        ident.seq = ++this.firehoseSeq;
        ident.time = this.isoNow();
        const ev = this.emit({ did, time_us: 0, kind: 'identity', identity: ident });
        return { event: ev };
      }
      case 'POST /__emu/account': {
        const a = this.resolveActor(b.did || b.handle);
        const did = a ? a.did : b.did;
        need(U.isDid(did), 'account needs a known handle or a did');
        const acc = { active: b.active !== false, did, seq: ++this.firehoseSeq };
        if (b.active === false) acc.status = b.status || 'deactivated';
        acc.time = this.isoNow();
        const ev = this.emit({ did, time_us: 0, kind: 'account', account: acc });
        return { event: ev };
      }
      case 'POST /__emu/fault': return this.addFault(b, need);
      case 'GET /__emu/faults': return { faults: this.faults };
      case 'POST /__emu/faults/clear': this.faults = []; return { ok: true };
      case 'GET /__emu/log': {
        let entries = this.log;
        if (q.get('type')) entries = entries.filter((e) => e.type === q.get('type'));
        if (q.get('path')) entries = entries.filter((e) => e.path === q.get('path'));
        if (q.get('since')) entries = entries.filter((e) => e.seq > Number(q.get('since')));
        return { entries };
      }
      case 'POST /__emu/log/clear': this.log = []; return { ok: true };
      case 'GET /__emu/records': {
        const out = [];
        const repoDid = q.get('repo') ? this.resolveRepoDid(q.get('repo')) || q.get('repo') : null;
        for (const r of this.repos.values()) {
          if (repoDid && r.did !== repoDid) continue;
          for (const rec of r.records.values()) {
            if (q.get('collection') && rec.collection !== q.get('collection')) continue;
            out.push({ uri: rec.uri, cid: rec.cid, repo: rec.did, collection: rec.collection, rkey: rec.rkey, value: rec.value, indexedAt: rec.indexedAt });
          }
        }
        return { records: out };
      }
      case 'GET /__emu/events': {
        const since = q.get('since_seq') ? Number(q.get('since_seq')) : -1;
        return { events: this.events.filter((e) => e.seq > since).map((e) => ({ seq: e.seq, time_us: e.time_us, duplicate: e.duplicate, event: JSON.parse(e.frame) })) };
      }
      case 'GET /__emu/notifications': {
        const a = q.get('did') ? this.resolveActor(q.get('did')) : this.brand;
        return { notifications: this.notifications.filter((n) => !a || n.recipient === a.did) };
      }
      case 'GET /__emu/messages': return { messages: this.messages };
      case 'GET /__emu/connections': {
        const list = [...this.subs.values()].map((s) => this.connectionInfo(s));
        if (q.get('all')) return { connections: list, closed: this.closedSubs.map((s) => this.connectionInfo(s)) };
        return { connections: list };
      }
      case 'GET /__emu/clock': return { now_us: Math.floor(this.nowUs()), frozen: this.frozenUs !== null };
      case 'POST /__emu/clock': {
        if (b.freeze === true && this.frozenUs === null) this.frozenUs = this.nowUs();
        if (b.now_us !== undefined) {
          need(Number.isFinite(b.now_us), 'now_us must be a number');
          if (this.frozenUs !== null) this.frozenUs = b.now_us;
          else this.clockOffsetUs = b.now_us - (this.nowUs() - this.clockOffsetUs);
        }
        if (b.advance_ms !== undefined) {
          need(Number.isFinite(b.advance_ms), 'advance_ms must be a number');
          if (this.frozenUs !== null) this.frozenUs += b.advance_ms * 1000;
          else this.clockOffsetUs += b.advance_ms * 1000;
        }
        if (b.freeze === false && this.frozenUs !== null) { const f = this.frozenUs; this.frozenUs = null; this.clockOffsetUs = 0; this.clockOffsetUs = f - this.nowUs(); }
        if (b.real === true) { this.clockOffsetUs = 0; this.frozenUs = null; }
        return { now_us: Math.floor(this.nowUs()), frozen: this.frozenUs !== null };
      }
      case 'GET /__emu/config': return { config: this.publicConfig() };
      case 'POST /__emu/config': return { config: this.applyConfig(b) };
      case 'POST /__emu/reset': {
        const keepSubs = [...this.subs.values()];
        this.initState();
        this.clockOffsetUs = 0;
        this.frozenUs = null;
        if (b.sessions) this.tokens = new Map();
        for (const s of keepSubs) {
          if (b.connections) s.ws.close(1001, 'server shutting down');
          else s.nextSeq = 0;
        }
        return { ok: true };
      }
      default: return undefined;
    }
  }

  accountInfo(a) {
    return { did: a.did, handle: a.handle, displayName: a.displayName, brand: a.brand, dms_disabled: a.dmsDisabled, app_passwords: a.passwords.map((p) => ({ password: p.password, dm_access: p.privileged })) };
  }

  publicConfig() {
    const o = this.opts;
    return {
      ping_ms: o.pingMs, access_ttl_ms: o.accessTtlMs, refresh_ttl_ms: o.refreshTtlMs,
      write_points_per_hour: o.writePointsHour, write_points_per_day: o.writePointsDay,
      session_limit_5min: o.sessionLimit5m, session_limit_day: o.sessionLimitDay,
      global_limit: o.globalLimit, global_window_ms: o.globalWindowMs, event_log_max: o.eventLogMax,
      duplicate_rkey: o.duplicateRkey, strict_facets: o.strictFacets, deflate: o.deflate,
    };
  }
  applyConfig(b) {
    const map = {
      ping_ms: 'pingMs', access_ttl_ms: 'accessTtlMs', refresh_ttl_ms: 'refreshTtlMs', write_points_per_hour: 'writePointsHour',
      write_points_per_day: 'writePointsDay', session_limit_5min: 'sessionLimit5m', session_limit_day: 'sessionLimitDay',
      global_limit: 'globalLimit', global_window_ms: 'globalWindowMs', event_log_max: 'eventLogMax', duplicate_rkey: 'duplicateRkey', strict_facets: 'strictFacets',
    };
    for (const [k, v] of Object.entries(b)) {
      if (!map[k]) { const e = new Error(`unknown config key ${k}`); e.status = 400; throw e; }
      this.opts[map[k]] = v;
    }
    const L = this.limiters;
    L.global.points = this.opts.globalLimit; L.global.windowMs = this.opts.globalWindowMs;
    L.writeHour.points = this.opts.writePointsHour; L.writeDay.points = this.opts.writePointsDay;
    L.session5m.points = this.opts.sessionLimit5m; L.sessionDay.points = this.opts.sessionLimitDay;
    return this.publicConfig();
  }

  addFault(b, need) {
    const kinds = ['http_status', 'slow', 'lost_response', 'expire_tokens', 'drop_stream', 'close_stream', 'malformed_frame', 'oversized_frame', 'dms_disabled'];
    need(kinds.includes(b.kind), `fault kind must be one of ${kinds.join(', ')}`);
    const targets = () => [...this.subs.values()].filter((s) => b.connection === undefined || s.id === b.connection);
    switch (b.kind) {
      case 'http_status':
      case 'slow':
      case 'lost_response': {
        if (b.kind === 'http_status') need([400, 401, 403, 404, 413, 429, 500, 501, 502, 503, 504].includes(b.status), 'status must be one of 400,401,403,404,413,429,500,501,502,503,504');
        if (b.kind === 'slow') need(Number.isFinite(b.ms) && b.ms >= 0, 'slow needs "ms"');
        const f = { id: crypto.randomUUID(), kind: b.kind, status: b.status, ms: b.ms, path: b.path, method: b.method, error: b.error, message: b.message, count: b.count || 1, remaining: b.count || 1 };
        this.faults.push(f);
        return { armed: f };
      }
      case 'expire_tokens': {
        let n = 0;
        for (const t of this.tokens.values()) {
          if (t.kind === 'access' || b.refresh) { t.expUs = 0; n++; }
        }
        return { expired: n };
      }
      case 'drop_stream': {
        const t = targets();
        for (const s of t) { s.dropped = true; if (b.reset && s.ws._socket.resetAndDestroy) s.ws._socket.resetAndDestroy(); else s.ws._socket.destroy(); }
        return { dropped: t.map((s) => s.id) };
      }
      case 'close_stream': {
        const code = b.code || 1001;
        need(Number.isInteger(code) && ((code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999)), 'close code not sendable on the wire');
        const reason = b.reason !== undefined ? b.reason : code === 1001 ? 'server shutting down' : '';
        const t = targets();
        for (const s of t) { s.closeSent = [code, reason]; s.ws.close(code, reason); }
        return { closed: t.map((s) => s.id), code, reason };
      }
      case 'malformed_frame': {
        const data = typeof b.data === 'string' ? b.data : `{"did":"${this.brand.did}","time_us":${Math.floor(this.nowUs())},"kind":"commit","commit":{"rev":`;
        const t = targets();
        for (const s of t) s.ws.send(b.binary ? Buffer.from(data) : data, { binary: !!b.binary });
        return { sent_to: t.map((s) => s.id), data };
      }
      case 'oversized_frame': {
        const bytes = b.bytes || 2 * 1024 * 1024;
        const did = U.plcDid(`oversize:${this.nextSeq}`);
        const obj = { did, time_us: Math.floor(this.nowUs()), kind: 'commit', commit: { rev: this.tids.next(), operation: 'create', collection: 'app.bsky.feed.post', rkey: this.tids.next(), record: { $type: 'app.bsky.feed.post', createdAt: this.isoNow(), text: '' }, cid: '' } };
        obj.commit.cid = U.cidForRecord(obj.commit.record);
        const baseLen = Buffer.byteLength(U.goJson(obj));
        need(bytes >= baseLen, `bytes must be at least ${baseLen}`);
        obj.commit.record.text = 'x'.repeat(bytes - baseLen);
        obj.commit.cid = U.cidForRecord(obj.commit.record);
        const frame = U.goJson(obj);
        const t = targets();
        for (const s of t) s.ws.send(frame);
        return { sent_to: t.map((s) => s.id), bytes: Buffer.byteLength(frame) };
      }
      case 'dms_disabled': {
        const a = this.resolveActor(b.did || b.handle);
        need(a, 'dms_disabled needs a known "did" (or handle)');
        a.dmsDisabled = b.disabled !== false;
        return { did: a.did, dms_disabled: a.dmsDisabled };
      }
      default: return undefined;
    }
  }

  inject(b, need) {
    const author = this.resolveActor(b.author || 'alice.test');
    need(author, `unknown author ${b.author}`);
    let text = typeof b.text === 'string' ? b.text : '';
    const brandTok = `@${this.brand.handle}`;
    // Default: mention the brand, unless the brand itself is the author.
    const mentionBrand = b.mention_brand === undefined ? author.did !== this.brand.did : b.mention_brand !== false;
    if (mentionBrand && !text.includes(brandTok)) text = text ? `${brandTok} ${text}` : brandTok;
    const facets = [];
    const addFacet = (span, feature) => facets.push({ index: { byteStart: span.byteStart, byteEnd: span.byteEnd }, features: [feature] });
    if (mentionBrand) for (const s of U.utf8Occurrences(text, brandTok)) addFacet(s, { $type: 'app.bsky.richtext.facet#mention', did: this.brand.did });
    for (const m of b.mentions || []) {
      const a = this.resolveActor(m);
      need(a, `unknown mention ${m}`);
      const tok = `@${a.handle}`;
      if (!text.includes(tok)) text += ` ${tok}`;
      for (const s of U.utf8Occurrences(text, tok)) addFacet(s, { $type: 'app.bsky.richtext.facet#mention', did: a.did });
    }
    for (const link of b.links || []) {
      if (!text.includes(link)) text += (text ? ' ' : '') + link;
      const s = U.utf8Occurrences(text, link)[0];
      addFacet(s, { $type: 'app.bsky.richtext.facet#link', uri: link });
    }
    for (const rawTag of b.tags || []) {
      const tag = String(rawTag).replace(/^#/, '');
      const tok = `#${tag}`;
      const endsOk = (s) => !/[\p{L}\p{N}_]/u.test(Buffer.from(text, 'utf8').subarray(s.byteEnd).toString('utf8').slice(0, 1));
      if (!U.utf8Occurrences(text, tok).some(endsOk)) text += ` ${tok}`;
      for (const s of U.utf8Occurrences(text, tok).filter(endsOk)) addFacet(s, { $type: 'app.bsky.richtext.facet#tag', tag });
    }
    facets.sort((x, y) => x.index.byteStart - y.index.byteStart);
    const record = { $type: 'app.bsky.feed.post', text, createdAt: b.created_at || this.isoNow(), langs: b.langs || ['en'] };
    if (facets.length) record.facets = facets;
    if (b.reply_to) {
      const parent = this.getRecord(b.reply_to);
      need(parent && parent.collection === 'app.bsky.feed.post', `reply_to not found: ${b.reply_to}`);
      const parentRef = { uri: parent.uri, cid: parent.cid };
      const root = parent.value.reply && parent.value.reply.root ? { uri: parent.value.reply.root.uri, cid: parent.value.reply.root.cid } : parentRef;
      record.reply = { root, parent: parentRef };
    }
    if (b.embed) record.embed = b.embed;
    if (b.extra && typeof b.extra === 'object') Object.assign(record, b.extra);
    const rkey = b.rkey || this.tids.next();
    const w = this.writeRecord(author.did, 'app.bsky.feed.post', rkey, record, { emit: b.emit !== false, notify: b.notify !== false, duplicate: b.duplicate || 0 });
    return { uri: w.uri, cid: w.cid, event: w.event, record };
  }

  storeRaw(obj) {
    if (obj.kind !== 'commit' || !obj.commit || typeof obj.did !== 'string') return;
    const c = obj.commit;
    if (typeof c.collection !== 'string' || typeof c.rkey !== 'string') return;
    const repo = this.repo(obj.did);
    const key = `${c.collection}/${c.rkey}`;
    if (c.operation === 'delete') {
      repo.records.delete(key);
      this.notifications = this.notifications.filter((n) => n.uri !== `at://${obj.did}/${key}`);
      return;
    }
    if (!c.record) return;
    const rec = { uri: `at://${obj.did}/${key}`, cid: c.cid || U.cidForRecord(c.record), value: c.record, did: obj.did, collection: c.collection, rkey: c.rkey, indexedAt: this.isoNow(), sortUs: this.nowUs() };
    repo.records.set(key, rec);
    if (typeof c.rev === 'string') repo.rev = c.rev;
    if (c.operation === 'create') this.notifyFor(rec);
  }

  noise(b) {
    const sent = [];
    const n = (k) => Math.min(Math.max(0, Number(b[k]) || 0), 100000);
    for (let i = 0; i < n('likes'); i++) {
      const did = U.plcDid(`noise-liker:${this.nextSeq}:${i}`);
      const subj = U.plcDid(`noise-author:${this.nextSeq}:${i}`);
      const record = { $type: 'app.bsky.feed.like', createdAt: this.isoNow(), subject: { cid: U.cidForRecord({ n: this.nextSeq, i }), uri: `at://${subj}/app.bsky.feed.post/${this.tids.next()}` } };
      const ev = this.emit({ did, time_us: 0, kind: 'commit', commit: { rev: this.tids.next(), operation: 'create', collection: 'app.bsky.feed.like', rkey: this.tids.next(), record: U.goMapOrder(record), cid: U.cidForRecord(record) } });
      sent.push(ev.time_us);
    }
    for (let i = 0; i < n('posts'); i++) {
      const did = U.plcDid(`noise-poster:${this.nextSeq}:${i}`);
      const record = { $type: 'app.bsky.feed.post', createdAt: this.isoNow(), langs: ['en'], text: `unrelated post ${i} 🌤️ nothing to see` };
      const ev = this.emit({ did, time_us: 0, kind: 'commit', commit: { rev: this.tids.next(), operation: 'create', collection: 'app.bsky.feed.post', rkey: this.tids.next(), record: U.goMapOrder(record), cid: U.cidForRecord(record) } });
      sent.push(ev.time_us);
    }
    for (let i = 0; i < n('follows'); i++) {
      const did = U.plcDid(`noise-follower:${this.nextSeq}:${i}`);
      const record = { $type: 'app.bsky.graph.follow', createdAt: this.isoNow(), subject: U.plcDid(`noise-followee:${this.nextSeq}:${i}`) };
      const ev = this.emit({ did, time_us: 0, kind: 'commit', commit: { rev: this.tids.next(), operation: 'create', collection: 'app.bsky.graph.follow', rkey: this.tids.next(), record: U.goMapOrder(record), cid: U.cidForRecord(record) } });
      sent.push(ev.time_us);
    }
    return { sent: sent.length, first_time_us: sent[0] || null, last_time_us: sent[sent.length - 1] || null };
  }

  // ------------------------------------------------------------ listen ---
  listen(port) {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, HOST, () => {
        this.port = this.server.address().port;
        this.pdsUrl = `http://${HOST}:${this.port}`;
        resolve(this.port);
      });
    });
  }

  async close() {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      const waits = [];
      for (const s of this.subs.values()) {
        clearInterval(s.pingTimer);
        waits.push(new Promise((r) => { s.ws.once('close', r); setTimeout(() => { try { s.ws.terminate(); } catch { /* */ } r(); }, 1000).unref(); }));
        try { s.ws.close(1001, 'server shutting down'); } catch { /* */ }
      }
      await Promise.all(waits);
      await new Promise((r) => {
        this.server.close(() => r());
        this.server.closeAllConnections();
      });
    })();
    return this.closing;
  }
}

// ------------------------------------------------------------------ XRPC ---
const requireProxy = (call) => {
  const v = call.req.headers['atproto-proxy'];
  if (v === undefined) throw new XrpcError(404, 'XRPCNotSupported', `${call.url.pathname.slice(6)} is served by the chat service; send "atproto-proxy: ${CHAT_PROXY}"`);
  if (!String(v).includes('#')) throw invalid('no service id specified');
  if (v !== CHAT_PROXY) throw new XrpcError(404, 'XRPCNotSupported', `${call.url.pathname.slice(6)} is not supported by ${v}`);
};

function chatAuth(call) {
  const s = this.authenticate(call.req);
  call.did = s.acct.did;
  requireProxy(call);
  if (!s.privileged) throw invalid('Bad token scope', 'InvalidToken');
  return s;
}

function needString(obj, k, where = 'Input') {
  if (obj[k] === undefined) throw invalid(`${where} must have the property "${k}"`);
  if (typeof obj[k] !== 'string') throw invalid(`${where}/${k} must be a string`);
  return obj[k];
}

function parseLimit(params, def, max) {
  const raw = params.get('limit');
  if (raw === null) return def;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw invalid('Error: limit must be an integer');
  if (n < 1) throw invalid('Error: limit can not be less than 1');
  if (n > max) throw invalid(`Error: limit can not be greater than ${max}`);
  return n;
}

const ROUTES = {
  'com.atproto.server.describeServer': {
    type: 'query',
    handler() {
      return { did: `did:web:127.0.0.1%3A${this.port}`, availableUserDomains: ['.test'], inviteCodeRequired: false, links: {}, contact: {} };
    },
  },
  'com.atproto.server.createSession': {
    type: 'procedure',
    handler(call) {
      const identifier = needString(call.input, 'identifier');
      const password = needString(call.input, 'password');
      const key = identifier.toLowerCase();
      call.limit(this.limiters.session5m, key, 1);
      call.limit(this.limiters.sessionDay, key, 1);
      const acct = this.resolveActor(identifier);
      const pw = acct && acct.passwords.find((p) => p.password === password);
      if (!acct || !pw) throw new XrpcError(401, 'AuthenticationRequired', 'Invalid identifier or password');
      call.did = acct.did;
      const t = this.issueTokens(acct, pw.privileged);
      return {
        accessJwt: t.accessJwt, refreshJwt: t.refreshJwt, handle: acct.handle, did: acct.did, didDoc: this.didDoc(acct),
        email: `${acct.handle.split('.')[0]}@example.com`, emailConfirmed: true, emailAuthFactor: false, active: true,
      };
    },
  },
  'com.atproto.server.refreshSession': {
    type: 'procedure',
    input: false,
    handler(call) {
      const s = this.authenticate(call.req, 'refresh');
      call.did = s.acct.did;
      s.tok.revoked = true; // single use: a replayed refresh token → ExpiredToken "Token has been revoked"
      const t = this.issueTokens(s.acct, s.privileged);
      return { accessJwt: t.accessJwt, refreshJwt: t.refreshJwt, handle: s.acct.handle, did: s.acct.did, didDoc: this.didDoc(s.acct), email: `${s.acct.handle.split('.')[0]}@example.com`, emailConfirmed: true, emailAuthFactor: false, active: true };
    },
  },
  'com.atproto.server.getSession': {
    type: 'query',
    handler(call) {
      const s = this.authenticate(call.req);
      call.did = s.acct.did;
      return { handle: s.acct.handle, did: s.acct.did, email: `${s.acct.handle.split('.')[0]}@example.com`, emailConfirmed: true, emailAuthFactor: false, didDoc: this.didDoc(s.acct), active: true };
    },
  },
  'com.atproto.server.deleteSession': {
    type: 'procedure',
    input: false,
    handler(call) {
      const s = this.authenticate(call.req, 'refresh');
      call.did = s.acct.did;
      s.tok.revoked = true;
      return null;
    },
  },
  'com.atproto.identity.resolveHandle': {
    type: 'query',
    handler(call) {
      const h = call.params.get('handle');
      if (!h) throw invalid('Params must have the property "handle"');
      const a = this.resolveActor(h);
      if (!a || h.startsWith('did:')) throw invalid('Unable to resolve handle');
      return { did: a.did };
    },
  },
  'com.atproto.repo.createRecord': {
    type: 'procedure',
    handler(call) {
      const s = this.authenticate(call.req);
      call.did = s.acct.did;
      call.limit(this.limiters.writeHour, s.acct.did, 3);
      call.limit(this.limiters.writeDay, s.acct.did, 3);
      return this.doWrite(call, s, 'create');
    },
  },
  'com.atproto.repo.putRecord': {
    type: 'procedure',
    handler(call) {
      const s = this.authenticate(call.req);
      call.did = s.acct.did;
      call.limit(this.limiters.writeHour, s.acct.did, 2);
      call.limit(this.limiters.writeDay, s.acct.did, 2);
      return this.doWrite(call, s, 'put');
    },
  },
  'com.atproto.repo.deleteRecord': {
    type: 'procedure',
    handler(call) {
      const s = this.authenticate(call.req);
      call.did = s.acct.did;
      call.limit(this.limiters.writeHour, s.acct.did, 1);
      call.limit(this.limiters.writeDay, s.acct.did, 1);
      const b = call.input;
      const repo = needString(b, 'repo');
      const collection = needString(b, 'collection');
      const rkey = needString(b, 'rkey');
      const did = this.resolveRepoDid(repo);
      if (!did || !this.accounts.has(did)) throw invalid(`Could not find repo: ${repo}`);
      if (did !== s.acct.did) throw new XrpcError(401, 'AuthenticationRequired', 'Authentication Required');
      const r = this.repo(did);
      if (b.swapCommit !== undefined && b.swapCommit !== r.commitCid) throw invalid(`Commit was at ${r.commitCid}`, 'InvalidSwap');
      const existing = r.records.get(`${collection}/${rkey}`);
      if (b.swapRecord !== undefined && (existing ? existing.cid : null) !== b.swapRecord) throw invalid(`Record was at ${existing ? existing.cid : 'null'}`, 'InvalidSwap');
      if (!existing) return {};
      const d = this.deleteRecord(did, collection, rkey);
      return { commit: { cid: d.commit.cid, rev: d.commit.rev } };
    },
  },
  'com.atproto.repo.getRecord': {
    type: 'query',
    handler(call) {
      const p = call.params;
      for (const k of ['repo', 'collection', 'rkey']) if (!p.get(k)) throw invalid(`Params must have the property "${k}"`);
      const did = this.resolveRepoDid(p.get('repo')) || p.get('repo');
      const uri = `at://${did}/${p.get('collection')}/${p.get('rkey')}`;
      const rec = this.getRecord(uri);
      if (!rec || (p.get('cid') && p.get('cid') !== rec.cid)) throw invalid(`Could not locate record: ${uri}`, 'RecordNotFound');
      return { uri: rec.uri, cid: rec.cid, value: U.dagCborOrder(rec.value) };
    },
  },
  'com.atproto.repo.listRecords': {
    type: 'query',
    handler(call) {
      const p = call.params;
      for (const k of ['repo', 'collection']) if (!p.get(k)) throw invalid(`Params must have the property "${k}"`);
      const did = this.resolveRepoDid(p.get('repo'));
      if (!did) throw invalid(`Could not find repo: ${p.get('repo')}`);
      const limit = parseLimit(p, 50, 100);
      const r = this.repos.get(did);
      let recs = r ? [...r.records.values()].filter((x) => x.collection === p.get('collection')) : [];
      recs.sort((a, b2) => (a.rkey < b2.rkey ? 1 : -1));
      if (p.get('reverse') === 'true') recs.reverse();
      const cursor = p.get('cursor');
      if (cursor) recs = recs.filter((x) => (p.get('reverse') === 'true' ? x.rkey > cursor : x.rkey < cursor));
      const page = recs.slice(0, limit);
      const out = { records: page.map((x) => ({ uri: x.uri, cid: x.cid, value: U.dagCborOrder(x.value) })) };
      if (page.length === limit && recs.length > limit) out.cursor = page[page.length - 1].rkey;
      return out;
    },
  },
  'app.bsky.actor.getProfile': {
    type: 'query',
    handler(call) {
      const actor = call.params.get('actor');
      if (!actor) throw invalid('Params must have the property "actor"');
      const a = this.resolveActor(actor);
      if (!a) throw invalid('Profile not found');
      return this.profileDetailed(a);
    },
  },
  'app.bsky.actor.getProfiles': {
    type: 'query',
    handler(call) {
      const actors = call.params.getAll('actors');
      if (!actors.length) throw invalid('Params must have the property "actors"');
      if (actors.length > 25) throw invalid('Error: actors must not have more than 25 elements');
      return { profiles: actors.map((x) => this.resolveActor(x)).filter(Boolean).map((a) => this.profileDetailed(a)) };
    },
  },
  'app.bsky.feed.getPosts': {
    type: 'query',
    handler(call) {
      const uris = call.params.getAll('uris');
      if (!uris.length) throw invalid('Params must have the property "uris"');
      if (uris.length > 25) throw invalid('Error: uris must not have more than 25 elements');
      const posts = [];
      for (const u of uris) {
        const rec = this.getRecord(u);
        if (!rec || rec.collection !== 'app.bsky.feed.post') continue;
        let replyCount = 0;
        for (const r of this.repos.values()) for (const x of r.records.values()) if (x.value && x.value.reply && x.value.reply.parent && x.value.reply.parent.uri === rec.uri) replyCount++;
        posts.push({ uri: rec.uri, cid: rec.cid, author: this.profileBasic(rec.did), record: U.dagCborOrder(rec.value), replyCount, repostCount: 0, likeCount: 0, quoteCount: 0, indexedAt: rec.indexedAt, viewer: {}, labels: [] });
      }
      return { posts };
    },
  },
  'app.bsky.notification.listNotifications': {
    type: 'query',
    handler(call) {
      const s = this.authenticate(call.req);
      call.did = s.acct.did;
      const p = call.params;
      const limit = parseLimit(p, 50, 100);
      const reasons = p.getAll('reasons').flatMap((r) => r.split(',')).filter(Boolean);
      const seenAt = this.seenAt.get(s.acct.did);
      let list = this.notifications.filter((n) => n.recipient === s.acct.did && (!reasons.length || reasons.includes(n.reason)));
      list.sort((a, b2) => b2.sortUs - a.sortUs || b2.id - a.id);
      const cursor = p.get('cursor');
      if (cursor) {
        const m = /^(\d+)::(\d+)$/.exec(cursor);
        if (!m) throw invalid('Malformed cursor');
        const cs = Number(m[1]);
        const ci = Number(m[2]);
        list = list.filter((n) => n.sortUs < cs || (n.sortUs === cs && n.id < ci));
      }
      const page = list.slice(0, limit);
      const out = {
        notifications: page.map((n) => {
          const o = { uri: n.uri, cid: n.cid, author: this.profileView(n.author), reason: n.reason };
          if (n.reasonSubject) o.reasonSubject = n.reasonSubject;
          Object.assign(o, { record: U.dagCborOrder(n.record), isRead: !!seenAt && n.indexedAt <= seenAt, indexedAt: n.indexedAt, labels: [] });
          return o;
        }),
        priority: false,
      };
      if (page.length === limit && list.length > limit) {
        const last = page[page.length - 1];
        out.cursor = `${last.sortUs}::${last.id}`;
      }
      if (seenAt) out.seenAt = seenAt;
      return out;
    },
  },
  'app.bsky.notification.getUnreadCount': {
    type: 'query',
    handler(call) {
      const s = this.authenticate(call.req);
      call.did = s.acct.did;
      const seenAt = this.seenAt.get(s.acct.did);
      return { count: this.notifications.filter((n) => n.recipient === s.acct.did && (!seenAt || n.indexedAt > seenAt)).length };
    },
  },
  'app.bsky.notification.updateSeen': {
    type: 'procedure',
    handler(call) {
      const s = this.authenticate(call.req);
      call.did = s.acct.did;
      const seenAt = needString(call.input, 'seenAt');
      if (!U.isDatetime(seenAt)) throw invalid('Input/seenAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)');
      this.seenAt.set(s.acct.did, new Date(seenAt).toISOString());
      return null;
    },
  },
  'chat.bsky.convo.getConvoForMembers': {
    type: 'query',
    handler(call) {
      const s = chatAuth.call(this, call);
      const members = call.params.getAll('members');
      if (!members.length) throw invalid('Params must have the property "members"');
      if (members.length > 10) throw invalid('Error: members must not have more than 10 elements');
      members.forEach((m, i) => { if (!U.isDid(m)) throw invalid(`Error: members/${i} must be a valid did`); });
      const convo = this.convoFor(s.acct.did, members, true);
      return { convo: this.convoView(convo, s.acct.did) };
    },
  },
  'chat.bsky.convo.getConvoAvailability': {
    type: 'query',
    handler(call) {
      const s = chatAuth.call(this, call);
      const members = call.params.getAll('members');
      if (!members.length) throw invalid('Params must have the property "members"');
      members.forEach((m, i) => { if (!U.isDid(m)) throw invalid(`Error: members/${i} must be a valid did`); });
      const others = members.filter((m) => m !== s.acct.did);
      const canChat = others.every((m) => this.accounts.has(m) && !this.accounts.get(m).dmsDisabled);
      const key = [...new Set([s.acct.did, ...members])].sort().join(',');
      const existing = [...this.convos.values()].find((c) => c.key === key);
      const out = { canChat };
      if (existing) out.convo = this.convoView(existing, s.acct.did);
      return out;
    },
  },
  'chat.bsky.convo.getConvo': {
    type: 'query',
    handler(call) {
      const s = chatAuth.call(this, call);
      const c = this.convos.get(call.params.get('convoId') || '');
      if (!c || !c.members.includes(s.acct.did)) throw invalid('Convo not found');
      return { convo: this.convoView(c, s.acct.did) };
    },
  },
  'chat.bsky.convo.getMessages': {
    type: 'query',
    handler(call) {
      const s = chatAuth.call(this, call);
      const c = this.convos.get(call.params.get('convoId') || '');
      if (!c || !c.members.includes(s.acct.did)) throw invalid('Convo not found');
      const limit = parseLimit(call.params, 50, 100);
      let msgs = [...c.messages].reverse();
      const cursor = call.params.get('cursor');
      if (cursor) msgs = msgs.filter((m) => m.rev < cursor);
      const page = msgs.slice(0, limit);
      const out = { messages: page.map((m) => ({ $type: 'chat.bsky.convo.defs#messageView', ...this.messageView(m) })) };
      if (page.length === limit && msgs.length > limit) out.cursor = page[page.length - 1].rev;
      return out;
    },
  },
  'chat.bsky.convo.sendMessage': {
    type: 'procedure',
    handler(call) {
      const s = chatAuth.call(this, call);
      const convoId = needString(call.input, 'convoId');
      const message = call.input.message;
      if (!message || typeof message !== 'object') throw invalid('Input must have the property "message"');
      const text = needString(message, 'text', 'Input/message');
      if (U.utf8Length(text) > 10000) throw invalid('Input/message/text must not be longer than 10000 characters');
      if (U.graphemeLength(text) > 1000) throw invalid('Input/message/text must not be longer than 1000 graphemes');
      if (message.facets !== undefined) this.validateFacets(text, message.facets, { strict: this.opts.strictFacets, bad: (m) => invalid(`Input/message: ${m.replace(/^Record\//, '')}`) });
      const c = this.convos.get(convoId);
      if (!c || !c.members.includes(s.acct.did)) throw invalid('Convo not found');
      this.assertCanMessage(s.acct.did, c.members);
      const msg = { id: this.tids.next(), rev: this.tids.next(), convoId, text, sender: { did: s.acct.did }, sentAt: this.isoNow() };
      if (message.facets !== undefined) msg.facets = message.facets;
      if (message.embed !== undefined) msg.embed = message.embed;
      c.messages.push(msg);
      c.rev = msg.rev;
      this.messages.push({ ...msg, members: c.members, recipients: c.members.filter((m) => m !== s.acct.did) });
      return this.messageView(msg);
    },
  },
};

Object.assign(Emulator.prototype, {
  doWrite(call, s, mode) {
    const b = call.input;
    const repo = needString(b, 'repo');
    const collection = needString(b, 'collection');
    if (b.record === undefined) throw invalid('Input must have the property "record"');
    if (!b.record || typeof b.record !== 'object' || Array.isArray(b.record)) throw invalid('Input/record must be an object');
    if (!U.isNsid(collection)) throw invalid('Input/collection must be a valid nsid');
    const did = this.resolveRepoDid(repo);
    if (!did || !this.accounts.has(did)) throw invalid(`Could not find repo: ${repo}`);
    if (did !== s.acct.did) throw new XrpcError(401, 'AuthenticationRequired', 'Authentication Required');
    if (b.validate === false && collection.startsWith('app.bsky.')) throw invalid('Unvalidated writes are not yet supported.');
    const record = b.record;
    if (record.$type !== collection) throw invalid(`Invalid $type: expected ${collection}, got ${record.$type}`);
    let rkey = b.rkey;
    if (mode === 'put' && rkey === undefined) throw invalid('Input must have the property "rkey"');
    if (rkey !== undefined) {
      if (typeof rkey !== 'string' || !U.isRecordKey(rkey)) throw invalid('Input/rkey must be a valid Record Key');
      if ((collection === 'app.bsky.feed.post' || collection === 'app.bsky.feed.like' || collection === 'app.bsky.feed.repost' || collection === 'app.bsky.graph.follow') && !U.isTid(rkey)) {
        throw invalid(`Invalid ${collection} record: Record key must be a TID (lexicon "key":"tid")`);
      }
    }
    const r = this.repo(did);
    if (b.swapCommit !== undefined && b.swapCommit !== r.commitCid) throw invalid(`Commit was at ${r.commitCid}`, 'InvalidSwap');
    let validationStatus = 'unknown';
    if (collection === 'app.bsky.feed.post') {
      this.validatePost(record, { strict: this.opts.strictFacets });
      validationStatus = 'valid';
    } else if (collection === 'app.bsky.feed.like' || collection === 'app.bsky.feed.repost') {
      const sub = record.subject;
      if (!sub || typeof sub.uri !== 'string' || !U.isCidString(sub.cid)) throw invalid(`Invalid ${collection} record: Record/subject must be a strongRef {uri, cid}`);
      if (!U.isDatetime(record.createdAt)) throw invalid(`Invalid ${collection} record: Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)`);
      validationStatus = 'valid';
    } else if (collection === 'app.bsky.graph.follow' || collection === 'app.bsky.graph.block') {
      if (!U.isDid(record.subject)) throw invalid(`Invalid ${collection} record: Record/subject must be a valid did`);
      validationStatus = 'valid';
    }
    if (rkey === undefined) rkey = this.tids.next();
    const existing = r.records.get(`${collection}/${rkey}`);
    if (mode === 'create' && existing) {
      if (this.opts.duplicateRkey === 'internal_error') throw new XrpcError(500, 'InternalServerError', 'Internal Server Error');
      throw invalid(`Record already exists: at://${did}/${collection}/${rkey}`);
    }
    if (mode === 'put' && b.swapRecord !== undefined && (existing ? existing.cid : null) !== b.swapRecord) throw invalid(`Record was at ${existing ? existing.cid : 'null'}`, 'InvalidSwap');
    const w = this.writeRecord(did, collection, rkey, record, { operation: existing ? 'update' : 'create' });
    call.written = w.uri;
    return { uri: w.uri, cid: w.cid, commit: { cid: w.commit.cid, rev: w.commit.rev }, validationStatus };
  },

  assertCanMessage(sender, members) {
    for (const m of members) {
      if (m === sender) continue;
      const a = this.accounts.get(m);
      if (!a) throw invalid('Recipient not found');
      if (a.dmsDisabled) throw invalid('recipient has disabled incoming messages');
    }
  },

  convoFor(caller, members, create) {
    const all = [...new Set([caller, ...members])].sort();
    for (const m of all) if (m !== caller && !this.accounts.has(m)) throw invalid('Recipient not found');
    this.assertCanMessage(caller, all);
    const key = all.join(',');
    let c = [...this.convos.values()].find((x) => x.key === key);
    if (!c && create) {
      c = { id: this.tids.next(), rev: this.tids.next(), key, members: all, messages: [] };
      this.convos.set(c.id, c);
    }
    return c;
  },

  messageView(m) {
    const v = { id: m.id, rev: m.rev, text: m.text };
    if (m.facets) v.facets = m.facets;
    if (m.embed) v.embed = m.embed;
    v.sender = { did: m.sender.did };
    v.sentAt = m.sentAt;
    return v;
  },

  convoView(c, viewer) {
    const v = {
      id: c.id, rev: c.rev,
      members: c.members.map((d) => ({ ...this.profileBasic(d), chatDisabled: false })),
      muted: false, status: 'accepted', unreadCount: 0,
    };
    const last = c.messages[c.messages.length - 1];
    if (last) v.lastMessage = { $type: 'chat.bsky.convo.defs#messageView', ...this.messageView(last) };
    void viewer;
    return v;
  },
});

// --------------------------------------------------------------- helpers ---
function queryObject(url) {
  const out = {};
  for (const [k, v] of url.searchParams) {
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

function parseMaxSize(s) {
  if (s === null || s === '') return 0;
  if (!/^[+-]?[0-9]+$/.test(s)) return 0;
  const n = Number(s);
  return n < 0 || n > 0xffffffff ? 0 : n;
}

function truncateReason(s) {
  // RFC 6455: a close reason is at most 123 bytes.
  let b = Buffer.from(s, 'utf8');
  if (b.length <= 123) return s;
  b = b.subarray(0, 123);
  while (b.length && (b[b.length - 1] & 0xc0) === 0x80) b = b.subarray(0, b.length - 1);
  return b.subarray(0, b.length - 1).toString('utf8');
}

// Mirrors Go's json.Unmarshal into jetstream's SubscriberSourcedMessage /
// UpdatePayload structs (case-insensitive field names, type checks, null ok).
function parseSubscriberMessage(text) {
  const BAD_ENV = { close: [1007, 'bad SubscriberSourcedMessage envelope'] };
  const BAD_PAY = { close: [1007, 'bad options_update payload'] };
  let env;
  try { env = JSON.parse(text); } catch { return BAD_ENV; }
  if (env === null) return { type: '' };
  if (typeof env !== 'object' || Array.isArray(env)) return BAD_ENV;
  const field = (o, name) => {
    let v;
    for (const k of Object.keys(o)) if (k.toLowerCase() === name.toLowerCase()) { v = o[k]; if (k === name) break; }
    return v;
  };
  const type = field(env, 'type');
  if (type !== undefined && type !== null && typeof type !== 'string') return BAD_ENV;
  if (type !== 'options_update') return { type: type || '' };
  const payload = field(env, 'payload');
  if (payload === undefined) return BAD_PAY; // json.Unmarshal of empty RawMessage fails
  if (payload === null) return { type, payload: { wantedCollections: [], wantedDids: [], maxMessageSizeBytes: 0 } };
  if (typeof payload !== 'object' || Array.isArray(payload)) return BAD_PAY;
  const strList = (v) => v === undefined || v === null || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
  const wc = field(payload, 'wantedCollections');
  const wd = field(payload, 'wantedDids');
  const mx = field(payload, 'maxMessageSizeBytes');
  if (!strList(wc) || !strList(wd)) return BAD_PAY;
  if (mx !== undefined && mx !== null && !Number.isSafeInteger(mx)) return BAD_PAY;
  return { type, payload: { wantedCollections: wc || [], wantedDids: wd || [], maxMessageSizeBytes: mx > 0 ? mx : 0 } };
}

function rawHttp(socket, status, text, extra = {}) {
  const body = Buffer.from(text, 'utf8');
  const head = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] || 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    'X-Content-Type-Options: nosniff',
    `Date: ${new Date().toUTCString()}`,
    `Content-Length: ${body.length}`,
    'Connection: close',
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
    '', '',
  ].join('\r\n');
  if (socket.writable) socket.end(Buffer.concat([Buffer.from(head), body]));
  else socket.destroy();
}

function sendJson(res, status, body, headers = {}) {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': data.length, ...headers });
  res.end(data);
}
function sendText(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(text);
}

// ------------------------------------------------------------------ entry ---
async function start(options = {}) {
  const emu = new Emulator(options);
  const port = await emu.listen(options.port || 0);
  return {
    port,
    emu,
    pds: emu.pdsUrl,
    jetstream: `ws://${HOST}:${port}/subscribe`,
    brand: { did: emu.brand.did, handle: emu.brand.handle },
    close: () => emu.close(),
  };
}

function parseArgs(argv) {
  const o = {};
  const num = (v, flag) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a non-negative number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const val = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--port': o.port = num(val(), flag); break;
      case '--ping-ms': o.pingMs = num(val(), flag); break;
      case '--access-ttl-ms': o.accessTtlMs = num(val(), flag); break;
      case '--refresh-ttl-ms': o.refreshTtlMs = num(val(), flag); break;
      case '--write-points-per-hour': o.writePointsHour = num(val(), flag); break;
      case '--event-log-max': o.eventLogMax = num(val(), flag); break;
      case '--no-deflate': o.deflate = false; break;
      case '-h': case '--help':
        process.stdout.write('usage: node server.js [--port 0] [--ping-ms 30000] [--access-ttl-ms 7200000] [--refresh-ttl-ms N] [--write-points-per-hour 5000] [--event-log-max 100000] [--no-deflate]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return o;
}

if (require.main === module) {
  let opts;
  try { opts = parseArgs(process.argv.slice(2)); } catch (e) { process.stderr.write(`${e.message}\n`); process.exit(2); }
  start(opts).then((h) => {
    process.stdout.write(JSON.stringify({ ready: true, port: h.port, pds: h.pds, jetstream: h.jetstream, brand: h.brand }) + '\n');
    const stop = () => { h.close().then(() => process.exit(0)); setTimeout(() => process.exit(0), 3000).unref(); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }).catch((e) => { process.stderr.write(`${e.stack || e}\n`); process.exit(1); });
}

module.exports = { start, Emulator, parseSubscriberMessage, CHAT_PROXY };
