// bluesky.test.mjs — switchboard run against the Bluesky emulator (Jetstream + PDS + chat), end
// to end: posts that mention the brand or answer its posts are decided once and answered at most
// once (createRecord with a deterministic rkey), through 429s, lost responses, expired tokens,
// a dropped stream (cursor rewind), duplicate deliveries and bad frames.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startService, until, sleep, postJSON, getJSON, repo, sbBin } from './lib.mjs';

const require = createRequire(import.meta.url);
const { start } = require('../emulators/bluesky/server.js');

const PASSWORD = 'brand-app-password';
const ACCOUNT = 'acme-bsky';
let emu, base, svc, brand, dir;

/** `switchboard run` on a store in dir (kept across runs, so a restart resumes its cursor). */
function launch() {
  const cfg = path.join(dir, 'switchboard.lua');
  writeFileSync(cfg, `return {\n  store = ${JSON.stringify(path.join(dir, 'sb.db'))},\n` +
    `  policy = ${JSON.stringify(path.join(repo, 'policies'))},\n` +
    `  accounts = { { platform = "bluesky", name = "${ACCOUNT}", pds_url = "${emu.pds}", ` +
    `jetstream_url = "${emu.jetstream}", identifier = "acme.test", password = "${PASSWORD}" } },\n}\n`);
  const child = spawn(sbBin, ['run', '-c', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  const s = { child, lines: [], exited: null };
  let buf = '';
  child.stderr.on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) {
      try { s.lines.push(JSON.parse(buf.slice(0, i))); } catch { s.lines.push({ raw: buf.slice(0, i) }); }
    }
  });
  child.on('exit', (code, signal) => (s.exited = { code, signal }));
  s.events = (name) => s.lines.filter((l) => l.event === name);
  /** SIGTERM and the time the exit took. */
  s.term = async () => {
    const t0 = Date.now();
    child.kill('SIGTERM');
    await until(() => s.exited, 'the service to exit', 8000);
    return { ...s.exited, ms: Date.now() - t0 };
  };
  return s;
}

// ---- the service's deterministic record key (src/core/effects.c), recomputed here -----------

const M64 = (1n << 64n) - 1n;
const rotl = (x, b) => ((x << BigInt(b)) | (x >> BigInt(64 - b))) & M64;

function siphash128(key, data) {
  const k0 = key.readBigUInt64LE(0);
  const k1 = key.readBigUInt64LE(8);
  let v0 = 0x736f6d6570736575n ^ k0;
  let v1 = 0x646f72616e646f6dn ^ k1 ^ 0xeen;
  let v2 = 0x6c7967656e657261n ^ k0;
  let v3 = 0x7465646279746573n ^ k1;
  const round = () => {
    v0 = (v0 + v1) & M64; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 = (v2 + v3) & M64; v3 = rotl(v3, 16); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rotl(v3, 21); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  };
  const block = (m) => { v3 ^= m; round(); round(); v0 ^= m; };
  const full = data.length - (data.length % 8);
  for (let i = 0; i < full; i += 8) block(data.readBigUInt64LE(i));
  let last = BigInt(data.length & 0xff) << 56n;
  for (let i = full; i < data.length; i++) last |= BigInt(data[i]) << BigInt(8 * (i - full));
  block(last);
  v2 ^= 0xeen;
  for (let i = 0; i < 4; i++) round();
  const a = v0 ^ v1 ^ v2 ^ v3;
  v1 ^= 0xddn;
  for (let i = 0; i < 4; i++) round();
  const b = v0 ^ v1 ^ v2 ^ v3;
  const out = Buffer.alloc(16);
  out.writeBigUInt64LE(a, 0);
  out.writeBigUInt64LE(b, 8);
  return out;
}

const SECRET = Buffer.from('switchboard.eff1');
const fields = (...vs) => Buffer.concat(vs.map((v) => {
  const s = Buffer.from(v, 'utf8');
  const h = Buffer.alloc(5);
  h.writeUInt32LE(s.length, 1);
  return Buffer.concat([h, s]);
}));
const effectKey = (target, kind) =>
  siphash128(SECRET, fields('sb-effect-v1', 'bluesky', ACCOUNT, target, kind)).toString('hex');
function rkeyFor(target, kind = 'public_reply') {
  let v = siphash128(SECRET, fields('sb-rkey-v1', effectKey(target, kind))).readBigUInt64LE(0) &
    0x7fffffffffffffffn;
  const b32 = '234567abcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (let i = 0; i < 13; i++) { s = b32[Number(v & 31n)] + s; v >>= 5n; }
  return s;
}

// ---- emulator views ---------------------------------------------------------------------

const inject = (b) => postJSON(base, '/__emu/inject', b);
const fault = (b) => postJSON(base, '/__emu/fault', b);
const brandPosts = async () =>
  (await getJSON(base, '/__emu/records?repo=acme.test&collection=app.bsky.feed.post')).records;
const repliesTo = async (uri) => (await brandPosts()).filter((r) => r.value.reply?.parent?.uri === uri);
const oneReply = (uri, what = 'the reply', ms = 10000) =>
  until(() => repliesTo(uri).then((a) => a.length && a[0]), what, ms);
const log = async (path) => (await getJSON(base, `/__emu/log?path=${encodeURIComponent(path)}`)).entries;
const creates = async (rkey) =>
  (await log('/xrpc/com.atproto.repo.createRecord')).filter((e) => JSON.parse(e.body || '{}').rkey === rkey);
const decided = (uri) => svc.events('decided').filter((e) => e.post_id === uri);
const sentFor = (uri) => svc.events('outbox').filter((e) => e.target === uri && e.outcome === 'sent');

/** A post reaches the service and is recorded: its decision line, or the stream's skip count. */
const settle = async () => {
  const m = await inject({ author: 'dave.test', text: 'hello there' });
  await until(() => decided(m.uri).length, 'a marker post');
  return m;
};

before(async () => {
  // RateLimit-Reset comes from the global limiter's window, 5 min by default: a 429 would park
  // the reply for minutes. A 2 s window keeps the reset honoured and the test short.
  emu = await start({ port: 0, globalWindowMs: 2000, pingMs: 5000 });
  base = emu.pds;
  brand = emu.brand;
  dir = mkdtempSync(path.join(tmpdir(), 'sb-bsky-'));
  svc = launch();
  await until(() => svc.events('stream_open').length, 'the stream to open');
});

beforeEach(async () => {
  await postJSON(base, '/__emu/faults/clear', {});
});

after(async () => {
  if (svc && !svc.exited) svc.child.kill('SIGKILL');
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the rkey helper matches the reference SipHash-2-4-128 vectors', () => {
  const key = Buffer.from([...Array(16).keys()]);
  assert.equal(siphash128(key, Buffer.alloc(0)).toString('hex'), 'a3817f04ba25a8e66df67214c7550293');
  assert.equal(siphash128(key, Buffer.from([...Array(15).keys()])).toString('hex'), '5493e99933b0a8117e08ec0f97cfc3d9');
});

test('identity: the session gives the brand DID and handle', () => {
  const id = svc.events('identity')[0];
  assert.equal(id.did, brand.did);
  assert.equal(id.handle, brand.handle);
  const open = svc.events('stream_open')[0].detail;
  assert.match(open, /wantedCollections=app\.bsky\.feed\.post/);
  assert.doesNotMatch(open, /cursor=/, 'a first start tails live');
});

test('a complaint mentioning the brand: one threaded reply with a mention facet, at the deterministic rkey', async () => {
  const post = await inject({ author: 'alice.test', text: 'my kettle arrived broken and nobody answers. really annoyed' });
  const r = await oneReply(post.uri);
  assert.deepEqual(r.value.reply.root, { uri: post.uri, cid: post.cid });
  assert.deepEqual(r.value.reply.parent, { uri: post.uri, cid: post.cid });
  assert.equal(r.rkey, rkeyFor(post.uri), 'the rkey comes from the idempotency key');
  const text = Buffer.from(r.value.text, 'utf8');
  assert.ok(r.value.text.startsWith('@alice.test '), r.value.text);
  assert.equal(r.value.facets.length, 1);
  const f = r.value.facets[0];
  assert.deepEqual(f.features, [{ $type: 'app.bsky.richtext.facet#mention', did: post.event.did }]);
  assert.equal(text.subarray(f.index.byteStart, f.index.byteEnd).toString('utf8'), '@alice.test');
  assert.ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(r.value.createdAt));
  await sleep(300);
  assert.equal((await repliesTo(post.uri)).length, 1);
  assert.equal(decided(post.uri).length, 1);
  assert.equal(decided(post.uri)[0].action, 'acknowledge');
  // Jetstream has only the DID: the author's profile was looked up before deciding
  assert.equal(decided(post.uri)[0].author, 'alice.test');
  assert.match(r.value.text, /Alice Example/, 'the template used the display name');
});

test('the author\'s profile feeds the policy: followers decide the VIP branch', async () => {
  // carol.test has 9001 followers in the emulator: under the VIP threshold (100k), and the
  // display name with an emoji reaches the reply
  const post = await inject({ author: 'carol.test', text: 'thanks for the quick delivery, love it!' });
  const r = await oneReply(post.uri);
  assert.match(r.value.text, /Carol 🌸/);
  assert.notEqual(decided(post.uri)[0].queue, 'vip');
  const profiles = await log('/xrpc/app.bsky.actor.getProfile');
  assert.ok(profiles.some((e) => (e.query?.actor || e.url || '').includes(post.event.did) || JSON.stringify(e).includes(post.event.did)),
    'one getProfile for the author');
});

test('a reply to the brand\'s reply (no mention) is answered in the same thread', async () => {
  const root = await inject({ author: 'carol.test', text: 'my order arrived broken, again' });
  const first = await oneReply(root.uri);
  const follow = await inject({ author: 'carol.test', text: 'still broken, this is so disappointing', reply_to: first.uri, mention_brand: false });
  const r = await oneReply(follow.uri, 'the answer to the follow-up');
  assert.deepEqual(r.value.reply.root, { uri: root.uri, cid: root.cid }, 'root = the thread root');
  assert.deepEqual(r.value.reply.parent, { uri: follow.uri, cid: follow.cid });
  const f = r.value.facets[0];
  assert.equal(Buffer.from(r.value.text).subarray(f.index.byteStart, f.index.byteEnd).toString(), '@carol.test');
});

test('an order question: a public reply and a chat message to the customer', async () => {
  const post = await inject({ author: 'bob.test', text: 'where is my order? order number 5512' });
  await oneReply(post.uri);
  const msg = await until(async () => (await getJSON(base, '/__emu/messages')).messages
    .find((m) => m.recipients.includes(post.event.did)), 'the chat message');
  assert.equal(msg.sender.did, brand.did);
  assert.ok(msg.text.length > 20);
  const chat = [...await log('/xrpc/chat.bsky.convo.getConvoForMembers'), ...await log('/xrpc/chat.bsky.convo.sendMessage')];
  assert.ok(chat.length >= 2);
  for (const e of chat) assert.equal(e.headers['atproto-proxy'], 'did:web:api.bsky.chat#bsky_chat');
  assert.equal(decided(post.uri)[0].action, 'move_to_private');
  await until(() => sentFor(post.uri).length === 2, 'both effects recorded as sent');
});

test('a recipient with DMs disabled: the reply goes out, the chat message is given up', async () => {
  await fault({ kind: 'dms_disabled', handle: 'dave.test', disabled: true });
  try {
    const post = await inject({ author: 'dave.test', text: 'what is my order status? tracking number please' });
    await oneReply(post.uri);
    const dead = await until(() => svc.events('outbox').find((e) => e.target === post.uri && e.outcome === 'dead'), 'the DM to be given up');
    assert.equal(dead.kind, 'direct_message');
    assert.match(dead.detail, /400 InvalidRequest: recipient has disabled incoming messages/);
    const msgs = (await getJSON(base, '/__emu/messages')).messages;
    assert.deepEqual(msgs.filter((m) => m.recipients.includes(post.event.did)), []);
    assert.equal(dead.attempt, 1, 'a refusal is not retried');
  } finally {
    await fault({ kind: 'dms_disabled', handle: 'dave.test', disabled: false });
  }
});

test('a legal threat: escalated, nothing said in public', async () => {
  const post = await inject({ author: 'alice.test', text: 'this is unacceptable, my lawyer will be in touch' });
  await until(() => decided(post.uri).length, 'the decision');
  assert.equal(decided(post.uri)[0].action, 'escalate');
  assert.equal(decided(post.uri)[0].queue, 'legal');
  await sleep(400);
  assert.equal((await repliesTo(post.uri)).length, 0);
});

test('posts that neither mention the brand nor answer it are skipped', async () => {
  const other = await inject({ author: 'bob.test', text: 'my kettle is broken, what a day', mention_brand: false });
  const cousin = await inject({ author: 'bob.test', text: 'hey @alice.test look', mention_brand: false, mentions: ['alice.test'] });
  await postJSON(base, '/__emu/noise', { likes: 5, posts: 5, follows: 2 });
  await settle(); // the stream is in order: everything above has been seen
  assert.equal(decided(other.uri).length, 0);
  assert.equal(decided(cousin.uri).length, 0);
  assert.equal((await repliesTo(other.uri)).length, 0);
});

test('a duplicate delivery gets one decision and one reply', async () => {
  const post = await inject({ author: 'dave.test', text: 'love the new kettle, thanks!', duplicate: 1 });
  await oneReply(post.uri);
  await settle();
  assert.equal((await repliesTo(post.uri)).length, 1);
  assert.equal(decided(post.uri).length, 1);
  assert.equal((await creates(rkeyFor(post.uri))).length, 1);
});

test('two 429s on createRecord: the reply waits and arrives exactly once', async () => {
  await fault({ kind: 'http_status', status: 429, count: 2, path: '/xrpc/com.atproto.repo.createRecord' });
  const post = await inject({ author: 'alice.test', text: 'the lid of my kettle does not work' });
  await oneReply(post.uri, 'the reply after the 429s', 20000);
  const tries = await creates(rkeyFor(post.uri));
  assert.deepEqual(tries.map((e) => e.status), [429, 429, 200]);
  assert.ok(svc.events('outbox').filter((e) => e.target === post.uri && e.outcome === 'retry').length >= 2);
  await sleep(300);
  assert.equal((await repliesTo(post.uri)).length, 1);
});

test('a lost createRecord response: the retry finds the record, no second post', async () => {
  await fault({ kind: 'lost_response', count: 1, path: '/xrpc/com.atproto.repo.createRecord' });
  const post = await inject({ author: 'bob.test', text: 'my toaster stopped working' });
  await until(() => sentFor(post.uri).length, 'sent after the retry', 20000);
  const tries = await creates(rkeyFor(post.uri));
  assert.ok(tries.length >= 2, 'the request was repeated');
  assert.equal(tries[0].fault, 'lost_response');
  assert.equal(tries[1].status, 400);
  assert.match(tries[1].response.message, /already exists/);
  assert.equal((await repliesTo(post.uri)).length, 1);
  const gets = (await log('/xrpc/com.atproto.repo.getRecord')).filter((e) => e.query.rkey === rkeyFor(post.uri));
  assert.ok(gets.some((e) => e.status === 200), 'confirmed with getRecord');
  const [r] = await repliesTo(post.uri);
  assert.equal(sentFor(post.uri)[0].detail, r.uri, 'the outbox records the existing post');
});

test('expired access tokens: the session is refreshed and the reply goes out', async () => {
  await fault({ kind: 'expire_tokens' });
  const post = await inject({ author: 'carol.test', text: 'my kettle is broken' });
  await oneReply(post.uri);
  const tries = await creates(rkeyFor(post.uri));
  assert.deepEqual(tries.map((e) => [e.status, e.response?.error]), [[400, 'ExpiredToken'], [200, undefined]]);
  assert.notEqual(tries[0].headers.authorization, tries[1].headers.authorization, 'sent again with the new token');
  const refreshes = await log('/xrpc/com.atproto.server.refreshSession');
  assert.ok(refreshes.some((e) => e.status === 200), 'refreshSession succeeded');
  assert.ok(svc.events('session_refreshed').length >= 1);
});

test('expired access and refresh tokens: a new session is created and the reply goes out', async () => {
  const sessions = (await log('/xrpc/com.atproto.server.createSession')).length;
  await fault({ kind: 'expire_tokens', refresh: true });
  const post = await inject({ author: 'dave.test', text: 'the charger does not work' });
  await oneReply(post.uri);
  assert.equal((await log('/xrpc/com.atproto.server.createSession')).length, sessions + 1);
});

test('a dropped stream: a post made while disconnected is answered once after the reconnect', async () => {
  const opens = svc.events('stream_open').length;
  // keep the stream down for two reconnect attempts, so the post lands while disconnected
  await fault({ kind: 'http_status', status: 503, count: 2, path: '/subscribe' });
  await fault({ kind: 'drop_stream' });
  const post = await inject({ author: 'alice.test', text: 'my parcel never arrived and the kettle is broken' });
  const injectedAt = Math.max(...(await getJSON(base, '/__emu/log')).entries.map((e) => e.seq));
  await until(() => svc.events('stream_open').length > opens, 'the reconnect', 15000);
  const up = (await getJSON(base, '/__emu/log?type=ws-upgrade')).entries.filter((e) => e.status === 101).at(-1);
  assert.ok(up.seq > injectedAt, 'the stream came back after the post was made');
  assert.ok(Number(up.query.cursor) > 0 && Number(up.query.cursor) <= post.event.time_us, 'resumed from a rewound cursor');
  await oneReply(post.uri, 'the reply after the reconnect');
  await settle();
  assert.equal((await repliesTo(post.uri)).length, 1);
  assert.equal(decided(post.uri).length, 1);
  assert.ok(svc.events('stream_closed').length >= 1);
});

test('a malformed frame: one log line, the service keeps going', async () => {
  const bad = svc.events('stream_frame_invalid').length;
  await fault({ kind: 'malformed_frame' });
  await until(() => svc.events('stream_frame_invalid').length > bad, 'the malformed frame to be reported');
  const post = await inject({ author: 'bob.test', text: 'thanks, the new kettle is amazing' });
  await oneReply(post.uri);
  assert.equal(svc.exited, null);
});

test('a deleted post is forwarded to ingest', async () => {
  const post = await inject({ author: 'carol.test', text: 'I will talk to my attorney about this' });
  await until(() => decided(post.uri).length, 'the decision');
  await postJSON(base, '/__emu/delete', { uri: post.uri });
  await until(() => svc.events('deleted').some((e) => e.post_id === post.uri), 'the delete');
});

test('the brand\'s own posts are never answered, and no secret is logged', async () => {
  const mine = await brandPosts();
  assert.ok(mine.length >= 8, 'the earlier tests made replies');
  const uris = new Set(mine.map((r) => r.uri));
  assert.deepEqual(svc.lines.filter((l) => l.event === 'decided' && uris.has(l.post_id)), []);
  assert.deepEqual(mine.filter((r) => uris.has(r.value.reply?.parent?.uri)), [], 'no reply to a reply of ours');
  const all = svc.lines.map((l) => JSON.stringify(l)).join('\n');
  assert.ok(!all.includes(PASSWORD), 'the app password never appears in the log');
  assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(all), 'no JWT appears in the log');
});

test('a refused app password: one error line per attempt, retried slowly', async () => {
  const bad = startService(`{ platform = "bluesky", name = "wrong", pds_url = "${emu.pds}", ` +
    `jetstream_url = "${emu.jetstream}", identifier = "acme.test", password = "not-the-password" }`);
  try {
    const [line] = await until(() => bad.events('session_failed').length && bad.events('session_failed'), 'the refusal');
    assert.equal(line.level, 'error');
    assert.match(line.detail, /401 AuthenticationRequired/);
    const ms = Number(/retrying in (\d+) ms/.exec(line.detail)[1]);
    assert.ok(ms >= 300000, `retried slowly (${ms} ms)`);
    assert.ok(!bad.lines.some((l) => JSON.stringify(l).includes('not-the-password')));
  } finally {
    await bad.stop('SIGTERM');
  }
});

test('SIGTERM: the service exits 0 within 5 s', async () => {
  const ex = await svc.term();
  assert.equal(ex.code, 0);
  assert.ok(ex.ms < 5000, `exit took ${ex.ms} ms`);
  assert.equal(svc.events('stream_stats').length, 1);
  assert.ok(svc.events('stream_stats')[0].unrelated > 0, 'unrelated posts were counted');
});

test('a restart resumes from the stored cursor: the post made while down is answered once', async () => {
  const before = await brandPosts();
  const post = await inject({ author: 'bob.test', text: 'my kettle broke while you were away' });
  svc = launch();
  await until(() => svc.events('stream_open').length, 'the stream to open');
  const cursor = Number(/cursor=(\d+)/.exec(svc.events('stream_open')[0].detail)?.[1]);
  assert.ok(cursor > 0 && cursor <= post.event.time_us, 'resumed from the stored cursor, rewound');
  await oneReply(post.uri, 'the reply after the restart');
  const marker = await settle();
  await oneReply(marker.uri, 'the marker\'s reply');
  await sleep(200);
  // the rewind replayed events the first run had handled: none is answered twice
  const parents = (await brandPosts()).map((r) => r.value.reply?.parent?.uri);
  assert.equal(new Set(parents).size, parents.length, 'one reply per post');
  const old = new Set(before.map((r) => r.value.reply?.parent?.uri));
  assert.deepEqual(parents.filter((u) => !old.has(u)).sort(), [post.uri, marker.uri].sort(),
    'only the new post and the marker were answered');
  const ex = await svc.term();
  assert.equal(ex.code, 0);
  assert.ok(ex.ms < 5000, `exit took ${ex.ms} ms`);
});
