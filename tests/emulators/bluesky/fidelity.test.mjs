// Fidelity: drive the emulator with Bluesky's own client (@atproto/api AtpAgent),
// which validates every response against the real lexicons, and replay the real
// Jetstream corpus through it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { withEmu, api, jet, sleep, FIXTURES } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { AtpAgent, RichText } = require('@atproto/api');
const { XRPCError } = require('@atproto/xrpc');

const CORPUS = path.join(FIXTURES, 'bluesky', 'jetstream_corpus_v1.jsonl');

async function loggedInAgent(h, identifier = 'acme.test', password = 'brand-app-password') {
  const agent = new AtpAgent({ service: h.pds });
  await agent.login({ identifier, password });
  return agent;
}

describe('@atproto/api AtpAgent against the emulator', () => {
  test('login, reply with RichText-detected facets, getPost/getRecord, listNotifications, profile', async () => withEmu({}, async (h) => {
    const a = api(h);
    const stream = jet(h, 'wantedCollections=app.bsky.feed.post');
    await stream.opened;
    const agent = await loggedInAgent(h);
    assert.equal(agent.session.did, h.brand.did);
    assert.equal(agent.session.handle, 'acme.test');
    assert.equal(agent.pdsUrl.origin, new URL(h.pds).origin, 'didDoc service endpoint points at the emulator');

    const inbound = await a.post('/__emu/inject', { author: 'alice.test', text: '🙏 hi @acme.test my parcel never arrived' });
    await stream.count(1);
    const ev = stream.events[0];
    const parentRef = { uri: `at://${ev.did}/${ev.commit.collection}/${ev.commit.rkey}`, cid: ev.commit.cid };
    assert.equal(parentRef.uri, inbound.uri);

    const rt = new RichText({ text: '✨ Sorry @alice.test! Track it at https://acme.test/track/42 #support' });
    await rt.detectFacets(agent); // resolves @alice.test via com.atproto.identity.resolveHandle
    const mention = rt.facets.find((f) => f.features[0].$type === 'app.bsky.richtext.facet#mention');
    assert.equal(mention.features[0].did, ev.did);
    const res = await agent.post({ text: rt.text, facets: rt.facets, reply: { root: parentRef, parent: parentRef }, langs: ['en'] });
    assert.match(res.uri, new RegExp(`^at://${h.brand.did}/app.bsky.feed.post/[a-z2-7]{13}$`));
    await stream.count(2);
    const mine = stream.events[1];
    assert.equal(mine.did, h.brand.did);
    assert.equal(mine.commit.cid, res.cid);
    assert.deepEqual(mine.commit.record.reply.parent, { cid: parentRef.cid, uri: parentRef.uri });
    const buf = Buffer.from(mine.commit.record.text, 'utf8');
    const m2 = mine.commit.record.facets.find((f) => f.features[0].$type === 'app.bsky.richtext.facet#mention');
    assert.equal(buf.subarray(m2.index.byteStart, m2.index.byteEnd).toString(), '@alice.test');

    const rkey = res.uri.split('/').pop();
    const got = await agent.getPost({ repo: h.brand.did, rkey });
    assert.equal(got.cid, res.cid);
    assert.equal(got.value.text, rt.text);
    const rec = await agent.com.atproto.repo.getRecord({ repo: 'acme.test', collection: 'app.bsky.feed.post', rkey });
    assert.equal(rec.data.uri, res.uri);
    await assert.rejects(agent.com.atproto.repo.getRecord({ repo: 'acme.test', collection: 'app.bsky.feed.post', rkey: '3aaaaaaaaaaaa' }), (e) => e instanceof XRPCError && e.error === 'RecordNotFound' && e.status === 400);

    const notes = await agent.listNotifications({ reasons: ['mention', 'reply'], limit: 10 });
    assert.equal(notes.data.notifications.length, 1);
    assert.equal(notes.data.notifications[0].uri, inbound.uri);
    assert.equal(notes.data.notifications[0].reason, 'mention');
    assert.equal(notes.data.notifications[0].author.handle, 'alice.test');
    const prof = await agent.getProfile({ actor: 'acme.test' });
    assert.equal(prof.data.did, h.brand.did);
    assert.equal(typeof prof.data.followersCount, 'number');
    const posts = await agent.getPosts({ uris: [res.uri, inbound.uri] });
    assert.equal(posts.data.posts.length, 2);
    stream.close();
  }));

  test('expired access token → the agent refreshes on its own (400 ExpiredToken) and retries', async () => withEmu({ accessTtlMs: 60000 }, async (h) => {
    const a = api(h);
    const agent = await loggedInAgent(h);
    const firstAccess = agent.session.accessJwt;
    await a.post('/__emu/log/clear');
    await a.post('/__emu/clock', { advance_ms: 61000 });
    const notes = await agent.listNotifications();
    assert.ok(Array.isArray(notes.data.notifications));
    assert.notEqual(agent.session.accessJwt, firstAccess, 'session was refreshed');
    const log = (await a.get('/__emu/log')).entries.map((e) => [e.path.replace('/xrpc/', ''), e.status, e.response && e.response.error]);
    assert.deepEqual(log.slice(0, 3), [
      ['app.bsky.notification.listNotifications', 400, 'ExpiredToken'],
      ['com.atproto.server.refreshSession', 200, undefined],
      ['app.bsky.notification.listNotifications', 200, undefined],
    ]);
    // Same via the expire_tokens fault, on a write.
    await a.post('/__emu/fault', { kind: 'expire_tokens' });
    const res = await agent.post({ text: 'still here after a forced expiry' });
    assert.ok(res.uri);
  }));

  test('chat via agent.withProxy(bsky_chat): getConvoForMembers + sendMessage; header required; DMs disabled', async () => withEmu({}, async (h) => {
    const a = api(h);
    const agent = await loggedInAgent(h);
    const alice = (await a.get('/__emu/accounts')).accounts.find((x) => x.handle === 'alice.test');
    const chat = agent.withProxy('bsky_chat', 'did:web:api.bsky.chat');
    const { data: { convo } } = await chat.chat.bsky.convo.getConvoForMembers({ members: [alice.did] });
    assert.ok(convo.members.some((m) => m.did === alice.did));
    const sent = await chat.chat.bsky.convo.sendMessage({ convoId: convo.id, message: { text: 'Hi Alice — here is your return label 📦' } });
    assert.equal(sent.data.sender.did, h.brand.did);
    const msgs = (await a.get('/__emu/messages')).messages;
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].text, 'Hi Alice — here is your return label 📦');
    const upgrade = (await a.get('/__emu/log?path=/xrpc/chat.bsky.convo.sendMessage')).entries[0];
    assert.equal(upgrade.headers['atproto-proxy'], 'did:web:api.bsky.chat#bsky_chat');

    await assert.rejects(agent.chat.bsky.convo.getConvoForMembers({ members: [alice.did] }), (e) => e instanceof XRPCError && e.status === 404 && e.error === 'XRPCNotSupported');
    await a.post('/__emu/fault', { kind: 'dms_disabled', did: alice.did });
    await assert.rejects(chat.chat.bsky.convo.sendMessage({ convoId: convo.id, message: { text: 'hello?' } }), (e) => e instanceof XRPCError && e.status === 400 && e.error === 'InvalidRequest');
  }));

  test('errors surface through the client as XRPCError with the platform names', async () => withEmu({ writePointsHour: 9 }, async (h) => {
    const agent = new AtpAgent({ service: h.pds });
    await assert.rejects(agent.login({ identifier: 'acme.test', password: 'nope' }), (e) => e instanceof XRPCError && e.status === 401 && e.error === 'AuthenticationRequired' && e.message === 'Invalid identifier or password');
    await agent.login({ identifier: 'acme.test', password: 'brand-app-password' });
    // A rejected write still costs its 3 points (limits are consumed before the handler runs).
    await assert.rejects(agent.post({ text: 'x'.repeat(301) }), (e) => e instanceof XRPCError && e.status === 400 && e.error === 'InvalidRequest' && /300 graphemes/.test(e.message));
    await agent.post({ text: 'one' });
    await agent.post({ text: 'two' });
    await assert.rejects(agent.post({ text: 'three' }), (e) => e instanceof XRPCError && e.status === 429 && e.error === 'RateLimitExceeded' && e.headers['ratelimit-remaining'] === '0');
  }));
});

describe('real Jetstream corpus replay', () => {
  test('all 152 corpus lines sent through inject_raw reach a client byte-identical and JSON-equal', async () => withEmu({}, async (h) => {
    const a = api(h);
    const lines = fs.readFileSync(CORPUS, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 152);
    const c = jet(h);
    await c.opened;
    for (const line of lines) await a.post('/__emu/inject_raw', { line });
    await c.count(lines.length, 10000);
    for (let i = 0; i < lines.length; i++) {
      assert.equal(c.frames[i], lines[i], `line ${i} byte-identical`);
      assert.deepEqual(c.events[i], JSON.parse(lines[i]), `line ${i} JSON-equal`);
    }
    // Parsed objects ({"event":…}) are re-encoded like Jetstream's Go encoder: still byte-identical.
    const c2 = jet(h, 'wantedCollections=app.bsky.feed.post');
    await c2.opened;
    for (const line of lines) await a.post('/__emu/inject_raw', { event: JSON.parse(line) });
    const postsAndDidEvents = lines.filter((l) => { const e = JSON.parse(l); return e.kind !== 'commit' || e.commit.collection === 'app.bsky.feed.post'; });
    await c2.count(postsAndDidEvents.length, 10000);
    await sleep(50);
    assert.deepEqual(c2.frames, postsAndDidEvents);
    // A corpus replay is resumable by cursor like any other traffic.
    const first = JSON.parse(lines[0]);
    const c3 = jet(h, `cursor=${first.time_us}`);
    await c3.count(lines.length * 2, 10000);
    assert.equal(c3.frames[0], lines[0]);
    c.close(); c2.close(); c3.close();
  }));
});
