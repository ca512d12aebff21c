// Bluesky emulator behaviour tests, over real sockets. Run: node --test tests/emulators/bluesky/
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { withEmu, api, jet, rawUpgrade, sleep, U, FIXTURES, HERE } from './helpers.mjs';

const fixture = (name) => fs.readFileSync(path.join(FIXTURES, 'bluesky', name), 'utf8');
const fixtureJson = (name) => JSON.parse(fixture(name));
const CID_RE = /^bafyrei[a-z2-7]{52}$/;
const PLC_RE = /^did:plc:[a-z2-7]{24}$/;
const post = (text, extra = {}) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString(), ...extra });

// Deep key order (including nested objects), to compare with the fixtures.
function keyPaths(o, prefix = '') {
  if (Array.isArray(o)) return o.flatMap((x, i) => keyPaths(x, `${prefix}[${i}]`));
  if (o && typeof o === 'object') return Object.keys(o).flatMap((k) => [`${prefix}.${k}`, ...keyPaths(o[k], `${prefix}.${k}`)]);
  return [];
}

describe('process entry point', () => {
  test('prints exactly one ready line, pings, and closes 1001 on SIGTERM', async () => {
    const child = spawn(process.execPath, [path.join(HERE, 'server.js'), '--port', '0', '--ping-ms', '100', '--access-ttl-ms', '5000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const t0 = Date.now();
    while (!out.includes('\n')) {
      if (Date.now() - t0 > 5000) throw new Error('no ready line');
      await sleep(10);
    }
    const ready = JSON.parse(out.trim());
    assert.deepEqual(Object.keys(ready), ['ready', 'port', 'pds', 'jetstream', 'brand']);
    assert.equal(ready.ready, true);
    assert.equal(ready.pds, `http://127.0.0.1:${ready.port}`);
    assert.equal(ready.jetstream, `ws://127.0.0.1:${ready.port}/subscribe`);
    assert.equal(ready.brand.handle, 'acme.test');
    assert.match(ready.brand.did, PLC_RE);
    const h = { pds: ready.pds, jetstream: ready.jetstream };
    const c = jet(h);
    await c.opened;
    await c.waitFor(() => c.pings >= 2, 2000, 'pings');
    const exited = new Promise((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.deepEqual(await c.waitClose(), { code: 1001, reason: 'server shutting down' });
    assert.equal(await exited, 0);
    assert.equal(out.trim().split('\n').length, 1, 'exactly one stdout line');
  });
});

describe('Jetstream filters', () => {
  test('wantedCollections (NSID and prefix.*) and wantedDids', async () => withEmu({}, async (h) => {
    const a = api(h);
    const { accounts } = await a.get('/__emu/accounts');
    const alice = accounts.find((x) => x.handle === 'alice.test');
    const posts = jet(h, 'wantedCollections=app.bsky.feed.post');
    const graph = jet(h, 'wantedCollections=app.bsky.graph.*');
    const feedAny = jet(h, 'wantedCollections=app.bsky.feed.*&wantedCollections=app.bsky.feed.*');
    const aliceOnly = jet(h, `wantedDids=${alice.did}`);
    const all = jet(h);
    await Promise.all([posts, graph, feedAny, aliceOnly, all].map((c) => c.opened));
    await a.post('/__emu/inject', { author: 'alice.test', text: 'hello' });
    await a.post('/__emu/inject', { author: 'bob.test', text: 'hi' });
    await a.post('/__emu/noise', { likes: 3, follows: 2 });
    await all.count(7);
    await sleep(50);
    assert.deepEqual(posts.events.map((e) => e.commit.collection), ['app.bsky.feed.post', 'app.bsky.feed.post']);
    assert.deepEqual(graph.events.map((e) => e.commit.collection), ['app.bsky.graph.follow', 'app.bsky.graph.follow']);
    assert.equal(feedAny.events.length, 5);
    assert.ok(feedAny.events.every((e) => e.commit.collection.startsWith('app.bsky.feed.')));
    assert.equal(aliceOnly.events.length, 1);
    assert.equal(aliceOnly.events[0].did, alice.did);
    for (const c of [posts, graph, feedAny, aliceOnly, all]) c.close();
  }));

  test('pre-upgrade errors are plain-text 400s (too many collections/DIDs, invalid values, compress)', async () => withEmu({}, async (h) => {
    const many = Array.from({ length: 101 }, (_, i) => `wantedCollections=com.example.c${i}.rec`).join('&');
    let r = await rawUpgrade(h, many);
    assert.equal(r.status, 400);
    assert.match(r.headers['content-type'], /^text\/plain/);
    assert.equal(r.body, 'subscribe: invalid options: too many wanted collections: > 100\n');
    // 100 distinct + duplicates is fine (dedupe before the cap).
    const hundred = Array.from({ length: 100 }, (_, i) => `wantedCollections=com.example.c${i}.rec`).join('&') + '&wantedCollections=com.example.c0.rec';
    assert.equal((await rawUpgrade(h, hundred)).status, 101);
    const dids = Array.from({ length: 10001 }, (_, i) => `wantedDids=${U.plcDid(`d${i}`)}`).join('&');
    r = await rawUpgrade(h, dids);
    assert.equal(r.status, 400);
    assert.equal(r.body, 'subscribe: invalid options: too many wanted DIDs: 10001 > 10000\n');
    const okDids = Array.from({ length: 10000 }, (_, i) => `wantedDids=${U.plcDid(`d${i}`)}`).join('&');
    assert.equal((await rawUpgrade(h, okDids)).status, 101);
    r = await rawUpgrade(h, 'wantedCollections=not-an-nsid');
    assert.equal(r.status, 400);
    assert.equal(r.body, 'subscribe: invalid options: invalid collection: not-an-nsid\n');
    r = await rawUpgrade(h, 'wantedDids=alice');
    assert.equal(r.body, 'subscribe: invalid options: invalid DID: alice\n');
    r = await rawUpgrade(h, 'cursor=abc');
    assert.equal(r.status, 400);
    assert.equal(r.body, 'subscribe: invalid cursor: "abc"\n');
    r = await rawUpgrade(h, 'compress=true');
    assert.equal(r.status, 400);
    assert.match(r.body, /not supported/);
  }));
});

describe('Jetstream cursor', () => {
  test('replays from the in-memory log (inclusive), clamps old cursors, treats future cursors as live, re-sends on resume', async () => withEmu({}, async (h) => {
    const a = api(h);
    const e1 = (await a.post('/__emu/inject', { author: 'alice.test', text: 'one' })).event;
    const e2 = (await a.post('/__emu/inject', { author: 'bob.test', text: 'two' })).event;
    const e3 = (await a.post('/__emu/inject', { author: 'carol.test', text: 'three' })).event;
    assert.ok(e1.time_us < e2.time_us && e2.time_us < e3.time_us);

    const mid = jet(h, `cursor=${e2.time_us}`);
    await mid.count(2);
    assert.deepEqual(mid.events.map((e) => e.time_us), [e2.time_us, e3.time_us]);

    const old = jet(h, 'cursor=1');
    await old.count(3);
    assert.deepEqual(old.events.map((e) => e.time_us), [e1.time_us, e2.time_us, e3.time_us]);

    const future = jet(h, `cursor=${e3.time_us + 3600e6}`);
    await future.opened;
    await sleep(100);
    assert.equal(future.frames.length, 0);
    const e4 = (await a.post('/__emu/inject', { author: 'dave.test', text: 'four' })).event;
    await future.count(1);
    assert.equal(future.events[0].time_us, e4.time_us);

    // At-least-once: resuming from the last seen time_us re-sends that event.
    const resumed = jet(h, `cursor=${e4.time_us}`);
    await resumed.count(1);
    assert.equal(resumed.frames[0], future.frames[0]);
    for (const c of [mid, old, future, resumed]) c.close();
  }));

  test('a cursor older than the retained log is clamped to the oldest retained event', async () => withEmu({ eventLogMax: 5 }, async (h) => {
    const a = api(h);
    const evs = [];
    for (let i = 0; i < 8; i++) evs.push((await a.post('/__emu/inject', { author: 'alice.test', text: `n${i}` })).event);
    const c = jet(h, `cursor=${evs[0].time_us}`);
    await c.count(5);
    await sleep(50);
    assert.deepEqual(c.events.map((e) => e.time_us), evs.slice(3).map((e) => e.time_us));
    c.close();
  }));
});

describe('Jetstream subscriber messages', () => {
  test('requireHello holds delivery until the first options_update, whose filter applies', async () => withEmu({}, async (h) => {
    const a = api(h);
    const c = jet(h, 'requireHello=true');
    await c.opened;
    await a.post('/__emu/inject', { author: 'alice.test', text: 'before hello' });
    await sleep(150);
    assert.equal(c.frames.length, 0, 'nothing before hello');
    c.send({ type: 'options_update', payload: { wantedCollections: ['app.bsky.feed.post'], wantedDids: [], maxMessageSizeBytes: 0 } });
    await sleep(50);
    await a.post('/__emu/noise', { likes: 2 });
    const after = await a.post('/__emu/inject', { author: 'bob.test', text: 'after hello' });
    await c.count(1);
    await sleep(50);
    assert.equal(c.events.length, 1, 'live hello starts at the tip; likes filtered');
    assert.equal(c.events[0].time_us, after.event.time_us);

    // With a cursor, replay starts once hello arrives.
    const r = jet(h, 'requireHello=true&cursor=1');
    await r.opened;
    await sleep(100);
    assert.equal(r.frames.length, 0);
    r.send({ type: 'options_update', payload: {} });
    await r.count(4);
    c.close(); r.close();
  }));

  test('options_update swaps filters atomically mid-stream; unknown types are ignored; maxMessageSizeBytes drops big events', async () => withEmu({}, async (h) => {
    const a = api(h);
    const c = jet(h, 'wantedCollections=app.bsky.feed.like');
    await c.opened;
    await a.post('/__emu/noise', { likes: 1 });
    await a.post('/__emu/inject', { author: 'alice.test', text: 'filtered out' });
    await c.count(1);
    c.send({ type: 'something_else', payload: 42 });
    c.send({ type: 'options_update', payload: { wantedCollections: ['app.bsky.feed.post'] } });
    await sleep(50);
    await a.post('/__emu/noise', { likes: 1 });
    const p = await a.post('/__emu/inject', { author: 'alice.test', text: 'now wanted' });
    await c.count(2);
    await sleep(50);
    assert.equal(c.events.length, 2);
    assert.equal(c.events[1].time_us, p.event.time_us);
    c.send({ type: 'options_update', payload: { wantedCollections: ['app.bsky.feed.post'], maxMessageSizeBytes: 700 } });
    await sleep(50);
    await a.post('/__emu/inject', { author: 'alice.test', text: 'x'.repeat(280) });
    const small = await a.post('/__emu/inject', { author: 'alice.test', text: 'small' });
    await c.count(3);
    assert.equal(c.events[2].time_us, small.event.time_us);
    assert.equal(c.closed, null);
    const conns = await a.get('/__emu/connections');
    assert.deepEqual(conns.connections[0].wanted_collections, ['app.bsky.feed.post']);
    assert.equal(conns.connections[0].options_updates, 2);
    c.close();
  }));

  for (const [name, frame, code, reason] of [
    ['bad envelope (not JSON)', 'not json', 1007, 'bad SubscriberSourcedMessage envelope'],
    ['bad envelope (array)', '[1,2]', 1007, 'bad SubscriberSourcedMessage envelope'],
    ['bad envelope (type not a string)', '{"type":5}', 1007, 'bad SubscriberSourcedMessage envelope'],
    ['bad payload (string)', '{"type":"options_update","payload":"x"}', 1007, 'bad options_update payload'],
    ['bad payload (missing)', '{"type":"options_update"}', 1007, 'bad options_update payload'],
    ['bad payload (wantedDids not strings)', '{"type":"options_update","payload":{"wantedDids":[1]}}', 1007, 'bad options_update payload'],
    ['too many collections', JSON.stringify({ type: 'options_update', payload: { wantedCollections: Array.from({ length: 101 }, (_, i) => `com.example.c${i}.rec`) } }), 1008, 'subscribe: invalid options: too many wanted collections: > 100'],
    ['invalid DID', '{"type":"options_update","payload":{"wantedDids":["nope"]}}', 1008, 'subscribe: invalid options: invalid DID: nope'],
  ]) {
    test(`close codes: ${name} → ${code}`, async () => withEmu({}, async (h) => {
      const c = jet(h);
      await c.opened;
      c.send(frame);
      assert.deepEqual(await c.waitClose(), { code, reason });
    }));
  }

  test('identity and account events bypass wantedCollections but respect wantedDids', async () => withEmu({}, async (h) => {
    const a = api(h);
    const { accounts } = await a.get('/__emu/accounts');
    const alice = accounts.find((x) => x.handle === 'alice.test');
    const bob = accounts.find((x) => x.handle === 'bob.test');
    const posts = jet(h, 'wantedCollections=app.bsky.feed.post');
    const bobOnly = jet(h, `wantedCollections=app.bsky.feed.post&wantedDids=${bob.did}`);
    await Promise.all([posts.opened, bobOnly.opened]);
    await a.post('/__emu/identity', { did: alice.did });
    await a.post('/__emu/account', { did: alice.did, active: false, status: 'deactivated' });
    await a.post('/__emu/noise', { likes: 2 });
    await a.post('/__emu/identity', { did: bob.did });
    await posts.count(3);
    await bobOnly.count(1);
    await sleep(50);
    assert.deepEqual(posts.events.map((e) => e.kind), ['identity', 'account', 'identity']);
    assert.deepEqual(bobOnly.events.map((e) => [e.kind, e.did]), [['identity', bob.did]]);
    assert.deepEqual(posts.events[1].account, { active: false, did: alice.did, seq: posts.events[1].account.seq, status: 'deactivated', time: posts.events[1].account.time });
    posts.close(); bobOnly.close();
  }));
});

describe('Jetstream event shapes', () => {
  test('field order and shapes match the real fixtures; TIDs, CIDs and strictly increasing time_us', async () => withEmu({}, async (h) => {
    const a = api(h);
    const c = jet(h);
    await c.opened;
    const { accounts } = await a.get('/__emu/accounts');
    const alice = accounts.find((x) => x.handle === 'alice.test');
    const inj = await a.post('/__emu/inject', { author: 'alice.test', text: 'shape check', links: ['https://example.com/x'] });
    await a.post('/__emu/delete', { uri: inj.uri });
    await a.post('/__emu/identity', { did: alice.did });
    await a.post('/__emu/account', { did: alice.did });
    await a.post('/__emu/noise', { likes: 1 });
    await c.count(5);
    const [create, del, ident, acct, like] = c.events;

    const fxPost = fixtureJson('jetstream_commit_create_post.json');
    assert.deepEqual(Object.keys(create), Object.keys(fxPost));
    assert.deepEqual(Object.keys(create.commit), Object.keys(fxPost.commit));
    assert.deepEqual(Object.keys(create.commit), ['rev', 'operation', 'collection', 'rkey', 'record', 'cid']);
    // Records come out like Go map marshalling: keys sorted at every level (as in the link-facet fixture).
    const fxLink = fixtureJson('jetstream_commit_create_post_link_facet.json');
    assert.deepEqual(Object.keys(create.commit.record.facets[0]), Object.keys(fxLink.commit.record.facets[0]));
    assert.deepEqual(Object.keys(create.commit.record.facets[0].index), ['byteEnd', 'byteStart']);
    const recKeys = Object.keys(create.commit.record);
    assert.deepEqual(recKeys, [...recKeys].sort());
    assert.deepEqual(keyPaths(del), keyPaths(fixtureJson('jetstream_commit_delete_post.json')));
    const fxIdent = fixtureJson('jetstream_identity.json');
    assert.deepEqual(Object.keys(ident), Object.keys(fxIdent));
    assert.deepEqual(Object.keys(ident.identity).filter((k) => k !== 'handle'), Object.keys(fxIdent.identity));
    assert.deepEqual(Object.keys(ident.identity), ['did', 'handle', 'seq', 'time']);
    assert.deepEqual(keyPaths(acct), keyPaths(fixtureJson('jetstream_account.json')));
    const fxLike = fixtureJson('jetstream_commit_create_like.json');
    assert.deepEqual(keyPaths(like), keyPaths(fxLike));

    assert.ok(U.isTid(create.commit.rkey) && U.isTid(create.commit.rev) && U.isTid(del.commit.rev));
    assert.ok(del.commit.rev > create.commit.rev, 'revs increase');
    assert.equal(del.commit.rkey, create.commit.rkey);
    assert.match(create.commit.cid, CID_RE);
    assert.equal(create.commit.cid, inj.cid);
    assert.equal(create.commit.cid, U.cidForRecord(create.commit.record));
    assert.equal(create.did, alice.did);
    assert.equal(inj.uri, `at://${alice.did}/app.bsky.feed.post/${create.commit.rkey}`);
    assert.match(ident.identity.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (let i = 1; i < c.events.length; i++) assert.ok(c.events[i].time_us > c.events[i - 1].time_us, 'time_us strictly increasing');
    c.close();
  }));

  test('time_us stays strictly increasing when the injectable clock moves backwards, and follows it forwards', async () => withEmu({}, async (h) => {
    const a = api(h);
    const { now_us: now } = await a.get('/__emu/clock');
    const e1 = (await a.post('/__emu/inject', { author: 'alice.test', text: 'a' })).event;
    await a.post('/__emu/clock', { now_us: now - 3600e6 });
    const e2 = (await a.post('/__emu/inject', { author: 'alice.test', text: 'b' })).event;
    assert.ok(e2.time_us > e1.time_us);
    await a.post('/__emu/clock', { now_us: now + 86400e6, freeze: true });
    const e3 = (await a.post('/__emu/inject', { author: 'alice.test', text: 'c' })).event;
    const e4 = (await a.post('/__emu/inject', { author: 'alice.test', text: 'd' })).event;
    assert.equal(e3.time_us, now + 86400e6);
    assert.equal(e4.time_us, e3.time_us + 1);
    assert.equal(e3.commit.record.createdAt, new Date((now + 86400e6) / 1000).toISOString());
  }));

  test('the DAG-CBOR CID implementation reproduces the real CIDs of every record in the Jetstream corpus', () => {
    const lines = fixture('jetstream_corpus_v1.jsonl').trim().split('\n');
    let n = 0;
    for (const line of lines) {
      const e = JSON.parse(line);
      if (!e.commit || !e.commit.record) continue;
      assert.equal(U.cidForRecord(e.commit.record), e.commit.cid, line.slice(0, 120));
      assert.equal(U.goJson(e), line, 'Go-style JSON re-encoding is byte-identical');
      n++;
    }
    assert.ok(n >= 140);
  });
});

describe('inject', () => {
  test('UTF-8 byte facets with emoji before the mention; links and tags; reply roots; duplicates; notification', async () => withEmu({}, async (h) => {
    const a = api(h);
    const c = jet(h, 'wantedCollections=app.bsky.feed.post');
    await c.opened;
    const brand = (await a.get('/__emu/accounts')).brand;
    const text = '👨‍❤️‍👨 café ✨ @acme.test où est ma commande?';
    const r1 = await a.post('/__emu/inject', { author: 'carol.test', text, links: ['https://example.com/commande/42'], tags: ['SAV'] });
    const rec = r1.record;
    const buf = Buffer.from(rec.text, 'utf8');
    const slice = (f) => buf.subarray(f.index.byteStart, f.index.byteEnd).toString('utf8');
    const mention = rec.facets.find((f) => f.features[0].$type === 'app.bsky.richtext.facet#mention');
    assert.equal(slice(mention), '@acme.test');
    assert.equal(mention.features[0].did, brand.did);
    assert.ok(mention.index.byteStart > text.indexOf('@acme.test'), 'byte offset, not UTF-16 index');
    assert.equal(mention.index.byteStart, Buffer.byteLength(text.slice(0, text.indexOf('@acme.test'))));
    const link = rec.facets.find((f) => f.features[0].$type === 'app.bsky.richtext.facet#link');
    assert.equal(slice(link), 'https://example.com/commande/42');
    const tag = rec.facets.find((f) => f.features[0].$type === 'app.bsky.richtext.facet#tag');
    assert.equal(slice(tag), '#SAV');
    assert.equal(tag.features[0].tag, 'SAV');

    const r2 = await a.post('/__emu/inject', { author: 'alice.test', text: 'me too', reply_to: r1.uri });
    assert.deepEqual(r2.record.reply, { root: { uri: r1.uri, cid: r1.cid }, parent: { uri: r1.uri, cid: r1.cid } });
    const r3 = await a.post('/__emu/inject', { author: 'bob.test', text: 'and me', reply_to: r2.uri, duplicate: 2 });
    assert.deepEqual(r3.record.reply, { root: { uri: r1.uri, cid: r1.cid }, parent: { uri: r2.uri, cid: r2.cid } });
    await c.count(5);
    assert.equal(c.frames[2], c.frames[3]);
    assert.equal(c.frames[3], c.frames[4]);
    const received = c.events[0].commit.record;
    assert.deepEqual(received.facets.map((f) => f.index), rec.facets.map((f) => ({ byteEnd: f.index.byteEnd, byteStart: f.index.byteStart })));

    const mentionOnly = await a.post('/__emu/inject', { author: 'dave.test', text: 'plain text @acme.test without a facet', mention_brand: false });
    assert.equal(mentionOnly.record.facets, undefined);
    const notes = (await a.get('/__emu/notifications')).notifications;
    assert.deepEqual(notes.map((n) => n.reason), ['mention', 'mention', 'mention']);
    c.close();
  }));

  test('inject_raw sends events verbatim; delete and noise', async () => withEmu({}, async (h) => {
    const a = api(h);
    const c = jet(h);
    await c.opened;
    const line = fixture('jetstream_commit_create_post_tag_facets.json').trim();
    await a.post('/__emu/inject_raw', { line });
    await a.post('/__emu/inject_raw', { event: fixtureJson('jetstream_identity.json') });
    await c.count(2);
    assert.equal(c.frames[0], line);
    assert.deepEqual(c.events[1], fixtureJson('jetstream_identity.json'));
    // The raw post is now a record that can be replied to (strongRef from the event).
    const ev = JSON.parse(line);
    const uri = `at://${ev.did}/${ev.commit.collection}/${ev.commit.rkey}`;
    const got = await a.xrpc('GET', 'com.atproto.repo.getRecord', { params: { repo: ev.did, collection: ev.commit.collection, rkey: ev.commit.rkey } });
    assert.equal(got.json.cid, ev.commit.cid);
    await a.post('/__emu/delete', { uri });
    await a.post('/__emu/noise', { likes: 4 });
    await c.count(7);
    assert.deepEqual(c.events[2].commit, { rev: c.events[2].commit.rev, operation: 'delete', collection: 'app.bsky.feed.post', rkey: ev.commit.rkey });
    assert.ok(c.events.slice(3).every((e) => e.commit.collection === 'app.bsky.feed.like' && e.commit.operation === 'create'));
    c.close();
  }));
});

describe('PDS auth', () => {
  test('createSession, bad password, AuthMissing, expiry after --access-ttl-ms, refresh rotation', async () => withEmu({ accessTtlMs: 60000 }, async (h) => {
    const a = api(h);
    let r = await a.xrpc('POST', 'com.atproto.server.createSession', { body: { identifier: 'acme.test', password: 'wrong' } });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { error: 'AuthenticationRequired', message: 'Invalid identifier or password' });
    const s = await a.login();
    assert.equal(s.handle, 'acme.test');
    assert.match(s.did, PLC_RE);
    assert.equal(s.accessJwt.split('.').length, 3);
    assert.equal(s.didDoc.service[0].serviceEndpoint, h.pds);
    r = await a.xrpc('GET', 'com.atproto.server.getSession', {});
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { error: 'AuthMissing', message: 'Authentication Required' });
    r = await a.xrpc('GET', 'com.atproto.server.getSession', { token: s.accessJwt });
    assert.equal(r.status, 200);
    assert.equal(r.json.did, s.did);

    await a.post('/__emu/clock', { advance_ms: 60001 });
    r = await a.xrpc('GET', 'com.atproto.server.getSession', { token: s.accessJwt });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { error: 'ExpiredToken', message: 'Token has expired' });
    r = await a.xrpc('POST', 'com.atproto.server.refreshSession', { token: s.accessJwt });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'InvalidToken');
    r = await a.xrpc('POST', 'com.atproto.server.refreshSession', { token: s.refreshJwt });
    assert.equal(r.status, 200);
    assert.notEqual(r.json.accessJwt, s.accessJwt);
    assert.equal((await a.xrpc('GET', 'com.atproto.server.getSession', { token: r.json.accessJwt })).status, 200);
    const again = await a.xrpc('POST', 'com.atproto.server.refreshSession', { token: s.refreshJwt });
    assert.equal(again.status, 400);
    assert.deepEqual(again.json, { error: 'ExpiredToken', message: 'Token has been revoked' });
    r = await a.xrpc('GET', 'com.atproto.server.getSession', { token: 'garbage' });
    assert.deepEqual([r.status, r.json.error], [400, 'InvalidToken']);
  }));

  test('access tokens expire in real time per accessTtlMs', async () => withEmu({ accessTtlMs: 150 }, async (h) => {
    const a = api(h);
    const s = await a.login();
    assert.equal((await a.xrpc('GET', 'com.atproto.server.getSession', { token: s.accessJwt })).status, 200);
    await sleep(200);
    const r = await a.xrpc('GET', 'com.atproto.server.getSession', { token: s.accessJwt });
    assert.deepEqual([r.status, r.json.error], [400, 'ExpiredToken']);
  }));

  test('createSession is limited to 30 per 5 minutes per account → 429 RateLimitExceeded', async () => withEmu({}, async (h) => {
    const a = api(h);
    for (let i = 0; i < 30; i++) {
      const r = await a.xrpc('POST', 'com.atproto.server.createSession', { body: { identifier: 'acme.test', password: i % 2 ? 'wrong' : 'brand-app-password' } });
      assert.ok([200, 401].includes(r.status));
      assert.equal(r.headers.get('ratelimit-remaining'), String(29 - i));
    }
    const r = await a.xrpc('POST', 'com.atproto.server.createSession', { body: { identifier: 'acme.test', password: 'brand-app-password' } });
    assert.equal(r.status, 429);
    assert.deepEqual(r.json, { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' });
    assert.equal(r.headers.get('ratelimit-limit'), '30');
    assert.equal(r.headers.get('ratelimit-remaining'), '0');
    assert.equal(r.headers.get('ratelimit-policy'), '30;w=300');
    // Another account is unaffected.
    assert.equal((await a.xrpc('POST', 'com.atproto.server.createSession', { body: { identifier: 'alice.test', password: 'alice-app-password' } })).status, 200);
  }));
});

describe('PDS createRecord', () => {

  test('success shape, matching Jetstream event, getRecord, deleteRecord', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    const c = jet(h, `wantedDids=${s.did}`);
    await c.opened;
    const cust = await a.post('/__emu/inject', { author: 'alice.test', text: 'help pls' });
    const record = post('@alice.test on it!', {
      reply: { root: { uri: cust.uri, cid: cust.cid }, parent: { uri: cust.uri, cid: cust.cid } },
      facets: [{ index: { byteStart: 0, byteEnd: 11 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: cust.event.did }] }],
    });
    const r = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', record } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json), ['uri', 'cid', 'commit', 'validationStatus']);
    assert.equal(r.json.validationStatus, 'valid');
    assert.match(r.json.cid, CID_RE);
    assert.ok(U.isTid(r.json.commit.rev));
    const rkey = r.json.uri.split('/').pop();
    assert.ok(U.isTid(rkey));
    await c.count(1);
    assert.deepEqual(c.events[0].commit, { rev: r.json.commit.rev, operation: 'create', collection: 'app.bsky.feed.post', rkey, record: U.goMapOrder(record), cid: r.json.cid });
    const g = await a.xrpc('GET', 'com.atproto.repo.getRecord', { params: { repo: 'acme.test', collection: 'app.bsky.feed.post', rkey } });
    assert.equal(g.status, 200);
    assert.deepEqual(g.json.value, record);
    assert.equal(g.json.cid, r.json.cid);
    // Alice gets a notification for the reply.
    const alice = await a.login('alice.test', 'alice-app-password');
    const n = await a.xrpc('GET', 'app.bsky.notification.listNotifications', { token: alice.accessJwt });
    assert.deepEqual(n.json.notifications.map((x) => x.reason), ['mention']);
    const d = await a.xrpc('POST', 'com.atproto.repo.deleteRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', rkey } });
    assert.equal(d.status, 200);
    await c.count(2);
    assert.equal(c.events[1].commit.operation, 'delete');
    const g2 = await a.xrpc('GET', 'com.atproto.repo.getRecord', { params: { repo: s.did, collection: 'app.bsky.feed.post', rkey } });
    assert.equal(g2.status, 400);
    assert.equal(g2.json.error, 'RecordNotFound');
    c.close();
  }));

  test('validation: graphemes vs bytes, createdAt, $type, facets, wrong repo', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    const create = (record, extra = {}) => a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', record, ...extra } });
    const expect400 = async (p, re) => {
      const r = await p;
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error, 'InvalidRequest');
      assert.match(r.json.message, re);
    };
    assert.equal((await create(post('👍🏽'.repeat(300)))).status, 200, '300 graphemes / 600 code points / 2400 bytes is fine');
    assert.equal((await create(post('é'.repeat(300)))).status, 200);
    await expect400(create(post('é'.repeat(301))), /longer than 300 graphemes/);
    await expect400(create(post('👨‍👩‍👧‍👦'.repeat(150))), /longer than 3000/);
    const noDate = post('x');
    delete noDate.createdAt;
    await expect400(create(noDate), /createdAt/);
    await expect400(create(post('x', { createdAt: 'yesterday' })), /createdAt must be an valid atproto datetime/);
    await expect400(create({ ...post('x'), $type: 'app.bsky.feed.like' }), /Invalid \$type/);
    const mention = (byteStart, byteEnd) => [{ index: { byteStart, byteEnd }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: s.did }] }];
    await expect400(create(post('✨ @acme.test', { facets: mention(2, 13) })), /UTF-8 character boundaries/);
    await expect400(create(post('✨ @acme.test', { facets: mention(4, 15) })), /beyond the UTF-8 byte length/);
    await expect400(create(post('✨ @acme.test', { facets: mention(9, 9) })), /byteStart \(9\) must be less than byteEnd/);
    assert.equal((await create(post('✨ @acme.test', { facets: mention(4, 14) }))).status, 200);
    const alice = (await a.get('/__emu/accounts')).accounts.find((x) => x.handle === 'alice.test');
    const wrong = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: alice.did, collection: 'app.bsky.feed.post', record: post('impersonation') } });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, { error: 'AuthenticationRequired', message: 'Authentication Required' });
    const unknownRepo = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: 'nobody.test', collection: 'app.bsky.feed.post', record: post('x') } });
    assert.deepEqual([unknownRepo.status, unknownRepo.json.error], [400, 'InvalidRequest']);
  }));

  test('reply strongRefs must exist with matching cid and the right root', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    const p1 = await a.post('/__emu/inject', { author: 'alice.test', text: 'root post' });
    const p2 = await a.post('/__emu/inject', { author: 'bob.test', text: 'child', reply_to: p1.uri });
    const create = (reply) => a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', record: post('reply', { reply }) } });
    const ref = (p) => ({ uri: p.uri, cid: p.cid });
    let r = await create({ root: ref(p1), parent: { uri: p1.uri.replace(/[^/]+$/, '3aaaaaaaaaaaa'), cid: p1.cid } });
    assert.deepEqual([r.status, r.json.error], [400, 'InvalidRequest']);
    assert.match(r.json.message, /parent record not found/);
    r = await create({ root: ref(p1), parent: { uri: p2.uri, cid: p1.cid } });
    assert.deepEqual([r.status, r.json.error], [400, 'InvalidRequest']);
    assert.match(r.json.message, /cid mismatch/);
    r = await create({ root: ref(p2), parent: ref(p2) });
    assert.deepEqual([r.status, r.json.error], [400, 'InvalidRequest']);
    assert.match(r.json.message, /root must be/);
    r = await create({ root: ref(p1) });
    assert.equal(r.status, 400);
    r = await create({ root: ref(p1), parent: ref(p2) });
    assert.equal(r.status, 200, r.text);
  }));

  test('client-chosen rkey: a repeat is rejected (idempotency), rkey must be a TID', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    const rkey = U.tidFromMicros(Date.now() * 1000, 7);
    const body = { repo: s.did, collection: 'app.bsky.feed.post', rkey, record: post('exactly once') };
    const c = jet(h, 'wantedCollections=app.bsky.feed.post');
    await c.opened;
    const r1 = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body });
    assert.equal(r1.status, 200);
    assert.equal(r1.json.uri, `at://${s.did}/app.bsky.feed.post/${rkey}`);
    const r2 = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body });
    assert.equal(r2.status, 400);
    assert.deepEqual(r2.json, { error: 'InvalidRequest', message: `Record already exists: at://${s.did}/app.bsky.feed.post/${rkey}` });
    await c.count(1);
    await sleep(50);
    assert.equal(c.events.length, 1, 'no second event');
    assert.equal(c.events[0].commit.rkey, rkey);
    await a.post('/__emu/config', { duplicate_rkey: 'internal_error' });
    const r3 = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body });
    assert.deepEqual([r3.status, r3.json.error], [500, 'InternalServerError']);
    const bad = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { ...body, rkey: 'my-key' } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /TID/);
    c.close();
  }));
});

describe('PDS reads', () => {
  test('listNotifications: reasons filter, limit and cursor paging; missed events still listed', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    const mine = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', record: post('We are live!') } });
    const uris = [];
    for (let i = 0; i < 5; i++) uris.push((await a.post('/__emu/inject', { author: 'alice.test', text: `mention ${i}` })).uri);
    const rep = await a.post('/__emu/inject', { author: 'bob.test', text: 'nice', reply_to: mine.json.uri, mention_brand: false });
    const missed = await a.post('/__emu/inject', { author: 'carol.test', text: 'never on the stream', emit: false });
    await a.post('/__emu/noise', { likes: 3 });
    const list = (params) => a.xrpc('GET', 'app.bsky.notification.listNotifications', { token: s.accessJwt, params });
    let r = await list({});
    assert.equal(r.status, 200);
    assert.equal(r.json.notifications.length, 7);
    assert.equal(r.json.notifications[0].uri, missed.uri, 'newest first');
    const replyN = r.json.notifications.find((n) => n.reason === 'reply');
    assert.equal(replyN.uri, rep.uri);
    assert.equal(replyN.reasonSubject, mine.json.uri);
    assert.equal(replyN.author.handle, 'bob.test');
    r = await list({ reasons: 'reply' });
    assert.deepEqual(r.json.notifications.map((n) => n.uri), [rep.uri]);
    const seen = [];
    let cursor;
    do {
      r = await list({ reasons: ['mention', 'reply'], limit: 2, ...(cursor ? { cursor } : {}) });
      assert.ok(r.json.notifications.length <= 2);
      seen.push(...r.json.notifications.map((n) => n.uri));
      cursor = r.json.cursor;
    } while (cursor);
    assert.equal(seen.length, 7);
    assert.equal(new Set(seen).size, 7);
    r = await list({ limit: 101 });
    assert.equal(r.status, 400);
    const ev = await a.get('/__emu/events');
    assert.ok(!ev.events.some((e) => e.event.commit && e.event.commit.rkey === missed.uri.split('/').pop()));
  }));

  test('getProfile and resolveHandle', async () => withEmu({}, async (h) => {
    const a = api(h);
    const r = await a.xrpc('GET', 'app.bsky.actor.getProfile', { params: { actor: 'acme.test' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.handle, 'acme.test');
    assert.equal(typeof r.json.followersCount, 'number');
    assert.equal(typeof r.json.displayName, 'string');
    const byDid = await a.xrpc('GET', 'app.bsky.actor.getProfile', { params: { actor: r.json.did } });
    assert.equal(byDid.json.handle, 'acme.test');
    const res = await a.xrpc('GET', 'com.atproto.identity.resolveHandle', { params: { handle: 'carol.test' } });
    assert.match(res.json.did, PLC_RE);
    const missing = await a.xrpc('GET', 'app.bsky.actor.getProfile', { params: { actor: 'ghost.test' } });
    assert.deepEqual([missing.status, missing.json.error], [400, 'InvalidRequest']);
    const unknown = await a.xrpc('GET', 'app.bsky.feed.getTimeline', {});
    assert.deepEqual([unknown.status, unknown.json.error], [501, 'MethodNotImplemented']);
  }));
});

describe('chat', () => {
  test('atproto-proxy header required; DMs-disabled switch; text limits; DM-less app password', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    const alice = (await a.get('/__emu/accounts')).accounts.find((x) => x.handle === 'alice.test');
    const proxy = { 'atproto-proxy': 'did:web:api.bsky.chat#bsky_chat' };
    let r = await a.xrpc('GET', 'chat.bsky.convo.getConvoForMembers', { token: s.accessJwt, params: { members: alice.did } });
    assert.equal(r.status, 404);
    assert.equal(r.json.error, 'XRPCNotSupported');
    r = await a.xrpc('GET', 'chat.bsky.convo.getConvoForMembers', { token: s.accessJwt, params: { members: alice.did }, headers: { 'atproto-proxy': 'did:web:api.bsky.app#bsky_appview' } });
    assert.equal(r.status, 404);
    r = await a.xrpc('GET', 'chat.bsky.convo.getConvoForMembers', { token: s.accessJwt, params: { members: alice.did }, headers: proxy });
    assert.equal(r.status, 200, r.text);
    const convo = r.json.convo;
    assert.deepEqual(convo.members.map((m) => m.did).sort(), [s.did, alice.did].sort());
    const again = await a.xrpc('GET', 'chat.bsky.convo.getConvoForMembers', { token: s.accessJwt, params: { members: alice.did }, headers: proxy });
    assert.equal(again.json.convo.id, convo.id, 'stable convo per member set');
    r = await a.xrpc('POST', 'chat.bsky.convo.sendMessage', { token: s.accessJwt, body: { convoId: convo.id, message: { text: 'Hi Alice 👋 — DM follow-up' } } });
    assert.equal(r.status, 404, 'sendMessage also needs the proxy header');
    r = await a.xrpc('POST', 'chat.bsky.convo.sendMessage', { token: s.accessJwt, headers: proxy, body: { convoId: convo.id, message: { text: 'Hi Alice 👋 — DM follow-up' } } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json), ['id', 'rev', 'text', 'sender', 'sentAt']);
    assert.equal(r.json.sender.did, s.did);
    const msgs = (await a.get('/__emu/messages')).messages;
    assert.equal(msgs.length, 1);
    assert.deepEqual(msgs[0].recipients, [alice.did]);
    assert.equal(msgs[0].text, 'Hi Alice 👋 — DM follow-up');
    r = await a.xrpc('POST', 'chat.bsky.convo.sendMessage', { token: s.accessJwt, headers: proxy, body: { convoId: convo.id, message: { text: 'é'.repeat(1001) } } });
    assert.deepEqual([r.status, r.json.error], [400, 'InvalidRequest']);
    assert.match(r.json.message, /1000 graphemes/);
    r = await a.xrpc('POST', 'chat.bsky.convo.sendMessage', { token: s.accessJwt, headers: proxy, body: { convoId: convo.id, message: { text: '👨‍👩‍👧‍👦'.repeat(401) } } });
    assert.match(r.json.message, /10000/);

    await a.post('/__emu/fault', { kind: 'dms_disabled', did: alice.did });
    r = await a.xrpc('POST', 'chat.bsky.convo.sendMessage', { token: s.accessJwt, headers: proxy, body: { convoId: convo.id, message: { text: 'still there?' } } });
    assert.deepEqual([r.status, r.json.error], [400, 'InvalidRequest']);
    r = await a.xrpc('GET', 'chat.bsky.convo.getConvoForMembers', { token: s.accessJwt, params: { members: alice.did }, headers: proxy });
    assert.deepEqual([r.status, r.json.error], [400, 'InvalidRequest']);
    assert.equal((await a.get('/__emu/messages')).messages.length, 1);
    await a.post('/__emu/fault', { kind: 'dms_disabled', did: alice.did, disabled: false });
    r = await a.xrpc('POST', 'chat.bsky.convo.sendMessage', { token: s.accessJwt, headers: proxy, body: { convoId: convo.id, message: { text: 'back' } } });
    assert.equal(r.status, 200);

    const nodm = await a.login('acme.test', 'brand-app-password-nodm');
    r = await a.xrpc('GET', 'chat.bsky.convo.getConvoForMembers', { token: nodm.accessJwt, params: { members: alice.did }, headers: proxy });
    assert.deepEqual([r.status, r.json.error, r.json.message], [400, 'InvalidToken', 'Bad token scope']);
  }));
});

describe('rate limits', () => {
  test('RateLimit-* headers on every PDS response; write budget in points → 429', async () => withEmu({ writePointsHour: 10 }, async (h) => {
    const a = api(h);
    const s = await a.login();
    const checkHeaders = (r) => {
      for (const k of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy']) assert.ok(r.headers.get(k), `${k} present on ${r.status}`);
      const reset = Number(r.headers.get('ratelimit-reset'));
      assert.ok(reset > Date.now() / 1000 && reset < Date.now() / 1000 + 86400 * 2, 'absolute epoch seconds');
      assert.match(r.headers.get('ratelimit-policy'), /^\d+;w=\d+$/);
    };
    checkHeaders(await a.xrpc('GET', 'app.bsky.actor.getProfile', { params: { actor: 'acme.test' } }));
    checkHeaders(await a.xrpc('GET', 'com.atproto.repo.getRecord', { params: { repo: 'acme.test', collection: 'app.bsky.feed.post', rkey: '3aaaaaaaaaaaa' } }));
    checkHeaders(await a.xrpc('GET', 'com.atproto.server.getSession', {}));
    const g = await a.xrpc('GET', 'app.bsky.actor.getProfile', { params: { actor: 'acme.test' } });
    assert.equal(g.headers.get('ratelimit-policy'), '3000;w=300');
    const mk = () => a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', record: post('burst') } });
    const r1 = await mk();
    assert.equal(r1.status, 200);
    assert.equal(r1.headers.get('ratelimit-remaining'), '7');
    assert.equal(r1.headers.get('ratelimit-policy'), '10;w=3600');
    const del = await a.xrpc('POST', 'com.atproto.repo.deleteRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', rkey: r1.json.uri.split('/').pop() } });
    assert.equal(del.headers.get('ratelimit-remaining'), '6', 'delete costs 1 point');
    assert.equal((await mk()).headers.get('ratelimit-remaining'), '3');
    assert.equal((await mk()).headers.get('ratelimit-remaining'), '0');
    const over = await mk();
    assert.equal(over.status, 429);
    assert.deepEqual(over.json, { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' });
    checkHeaders(over);
    assert.equal(over.headers.get('ratelimit-remaining'), '0');
    await a.post('/__emu/clock', { advance_ms: 3600e3 + 1000 });
    const s2 = await a.login();
    const after = await a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s2.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', record: post('new window') } });
    assert.equal(after.status, 200, 'window resets with the injectable clock');
  }));
});

describe('faults', () => {
  test('http_status 429/500/502/503 for N calls on one path only', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    const path = '/xrpc/com.atproto.repo.createRecord';
    const mk = () => a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', record: post('retry me') } });
    for (const [status, name] of [[429, 'RateLimitExceeded'], [500, 'InternalServerError'], [502, 'UpstreamFailure'], [503, 'NotEnoughResources']]) {
      await a.post('/__emu/fault', { kind: 'http_status', status, count: 2, path });
      assert.equal((await a.xrpc('GET', 'com.atproto.server.getSession', { token: s.accessJwt })).status, 200, 'other paths unaffected');
      for (let i = 0; i < 2; i++) {
        const r = await mk();
        assert.equal(r.status, status);
        assert.equal(r.json.error, name);
        assert.ok(r.headers.get('ratelimit-limit'));
        if (status === 429) assert.equal(r.headers.get('ratelimit-remaining'), '0');
      }
      assert.equal((await mk()).status, 200);
    }
    assert.equal((await a.get('/__emu/records?repo=acme.test')).records.length, 4, 'faulted calls had no effect');
  }));

  test('slow and lost_response (effect applied, no answer)', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    const path = '/xrpc/com.atproto.repo.createRecord';
    await a.post('/__emu/fault', { kind: 'slow', ms: 300, count: 1, path });
    const t0 = Date.now();
    const mk = () => a.xrpc('POST', 'com.atproto.repo.createRecord', { token: s.accessJwt, body: { repo: s.did, collection: 'app.bsky.feed.post', record: post('slowpoke') } });
    assert.equal((await mk()).status, 200);
    assert.ok(Date.now() - t0 >= 290);
    const c = jet(h, `wantedDids=${s.did}`);
    await c.opened;
    await a.post('/__emu/fault', { kind: 'lost_response', count: 1, path });
    await assert.rejects(mk());
    await c.count(1);
    assert.equal((await a.get('/__emu/records?repo=acme.test')).records.length, 2, 'the lost call still created its record');
    const log = (await a.get(`/__emu/log?path=${path}`)).entries;
    assert.equal(log[log.length - 1].fault, 'lost_response');
    assert.equal((await mk()).status, 200);
    c.close();
  }));

  test('expire_tokens', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    await a.post('/__emu/fault', { kind: 'expire_tokens' });
    const r = await a.xrpc('GET', 'app.bsky.notification.listNotifications', { token: s.accessJwt });
    assert.deepEqual([r.status, r.json], [400, { error: 'ExpiredToken', message: 'Token has expired' }]);
    assert.equal((await a.xrpc('POST', 'com.atproto.server.refreshSession', { token: s.refreshJwt })).status, 200);
  }));

  test('stream faults: drop_stream, close_stream, malformed_frame, oversized_frame, http_status on /subscribe', async () => withEmu({}, async (h) => {
    const a = api(h);
    let c = jet(h);
    await c.opened;
    await a.post('/__emu/fault', { kind: 'drop_stream' });
    assert.equal((await c.waitClose()).code, 1006, 'abrupt TCP close, no close frame');

    c = jet(h);
    await c.opened;
    await a.post('/__emu/fault', { kind: 'close_stream', code: 1001 });
    assert.deepEqual(await c.waitClose(), { code: 1001, reason: 'server shutting down' });
    c = jet(h);
    await c.opened;
    await a.post('/__emu/fault', { kind: 'close_stream', code: 1011, reason: 'internal' });
    assert.deepEqual(await c.waitClose(), { code: 1011, reason: 'internal' });

    c = jet(h);
    await c.opened;
    await a.post('/__emu/fault', { kind: 'malformed_frame' });
    await c.count(1);
    assert.throws(() => JSON.parse(c.frames[0]));
    await a.post('/__emu/fault', { kind: 'oversized_frame', bytes: 2 * 1024 * 1024 });
    await c.count(2, 5000);
    assert.equal(Buffer.byteLength(c.frames[1]), 2 * 1024 * 1024);
    assert.equal(c.events[1].kind, 'commit');
    assert.equal(c.closed, null);
    c.close();

    await a.post('/__emu/fault', { kind: 'http_status', status: 503, path: '/subscribe' });
    const r = await rawUpgrade(h, '');
    assert.equal(r.status, 503);
    assert.equal(r.body, 'service not ready: bootstrap in progress\n');
    assert.equal((await rawUpgrade(h, '')).status, 101);
  }));
});

describe('control API', () => {
  test('log records HTTP requests (headers, query, body), WS upgrades and client frames; clear', async () => withEmu({}, async (h) => {
    const a = api(h);
    const s = await a.login();
    await a.xrpc('GET', 'chat.bsky.convo.getConvoForMembers', { token: s.accessJwt, params: { members: [s.did] }, headers: { 'atproto-proxy': 'did:web:api.bsky.chat#bsky_chat' } });
    const c = jet(h, 'wantedCollections=app.bsky.feed.post&requireHello=true');
    await c.opened;
    c.send({ type: 'options_update', payload: { wantedCollections: ['app.bsky.feed.post'] } });
    await sleep(50);
    const { entries } = await a.get('/__emu/log');
    const login = entries.find((e) => e.path === '/xrpc/com.atproto.server.createSession');
    assert.equal(login.method, 'POST');
    assert.deepEqual(JSON.parse(login.body), { identifier: 'acme.test', password: 'brand-app-password' });
    assert.equal(login.status, 200);
    const chat = entries.find((e) => e.path === '/xrpc/chat.bsky.convo.getConvoForMembers');
    assert.equal(chat.headers['atproto-proxy'], 'did:web:api.bsky.chat#bsky_chat');
    assert.equal(chat.headers.authorization, `Bearer ${s.accessJwt}`);
    assert.equal(chat.query.members, s.did);
    const up = entries.find((e) => e.type === 'ws-upgrade');
    assert.deepEqual(up.query, { wantedCollections: 'app.bsky.feed.post', requireHello: 'true' });
    assert.equal(up.status, 101);
    const fr = entries.find((e) => e.type === 'ws-frame');
    assert.deepEqual(JSON.parse(fr.body), { type: 'options_update', payload: { wantedCollections: ['app.bsky.feed.post'] } });
    assert.ok(!entries.some((e) => e.path.startsWith('/__emu/')), 'control calls are not logged');
    await a.post('/__emu/log/clear');
    assert.deepEqual((await a.get('/__emu/log')).entries, []);
    c.close();
  }));

  test('records, connections, reset', async () => withEmu({}, async (h) => {
    const a = api(h);
    await a.post('/__emu/inject', { author: 'alice.test', text: 'x' });
    assert.equal((await a.get('/__emu/records?repo=alice.test&collection=app.bsky.feed.post')).records.length, 1);
    assert.equal((await a.get('/__emu/records?repo=bob.test')).records.length, 0);
    const c = jet(h, 'wantedDids=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa');
    await c.opened;
    const conns = (await a.get('/__emu/connections')).connections;
    assert.equal(conns.length, 1);
    assert.deepEqual(conns[0].wanted_dids, ['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa']);
    await a.post('/__emu/reset');
    assert.equal((await a.get('/__emu/records')).records.length, 0);
    assert.equal((await a.get('/__emu/events')).events.length, 0);
    assert.equal((await a.get('/__emu/connections')).connections.length, 1, 'streams survive a reset');
    await a.post('/__emu/reset', { connections: true });
    assert.equal((await c.waitClose()).code, 1001);
  }));
});
