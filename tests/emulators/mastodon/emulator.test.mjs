// Behaviour of the Mastodon emulator over real sockets (node --test).
// What is asserted is the wire contract of platforms.md §1 / §6.1, so a regression in the
// emulator's fidelity fails here before it can mislead the C connector's tests.

import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import fs from 'node:fs';
import {
  HERE, startEmu, api, rawHttp, upgradeRequest, openStream, subscribe, sleep, waitFor,
  TOKEN, BRAND_ID, ISO_MS, ISO_6, WebSocket,
} from './helpers.mjs';

const MENTION_HTML = (text) => `<p><span class="h-card"><a href="https://mastodon.example/@acme" class="u-url mention">@<span>acme</span></a></span> ${text}</p>`;

describe('command line', () => {
  test('prints exactly one ready line and honours --token', async () => {
    const child = spawn(process.execPath, [path.join(HERE, 'server.js'), '--port', '0', '--token', 'cli-token', '--ping-ms', '1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      await new Promise((resolve, reject) => {
        child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(); });
        child.on('exit', (code) => reject(new Error(`exited ${code}`)));
        setTimeout(() => reject(new Error('no ready line')), 5000);
      });
      assert.match(out, /^\{"ready":true,"port":\d+,"base":"http:\/\/127\.0\.0\.1:\d+","streaming":"ws:\/\/127\.0\.0\.1:\d+\/api\/v1\/streaming"\}\n$/);
      const ready = JSON.parse(out);
      assert.equal(ready.base, `http://127.0.0.1:${ready.port}`);
      const ok = await api(ready.base, '/api/v1/accounts/verify_credentials', { token: 'cli-token' });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.id, BRAND_ID);
      const old = await api(ready.base, '/api/v1/accounts/verify_credentials', { token: TOKEN });
      assert.equal(old.status, 401, '--token replaces the default brand token');
      await sleep(50);
      assert.equal(out.split('\n').length, 2, 'nothing else on stdout');
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('configuration', () => {
  test('--config FILE: host, limits and counting mode; start() embeds the same server', async () => {
    const file = path.join(os.tmpdir(), `mastodon-emu-${process.pid}.json`);
    fs.writeFileSync(file, JSON.stringify({ host: 'social.example', max_characters: 10, char_count: 'codepoints', rate_limits: { per_token: { limit: 3 } } }));
    const emu = await startEmu({ configFile: file, token: 'cfg-token' });
    try {
      fs.unlinkSync(file);
      const ok = await emu.api('/api/v1/statuses', { token: 'cfg-token', form: { status: 'e\u0301'.repeat(5) } });
      assert.equal(ok.status, 200, '10 code points');
      assert.equal(ok.body.url, `https://social.example/@acme/${ok.body.id}`);
      const long = await emu.api('/api/v1/statuses', { token: 'cfg-token', form: { status: 'e\u0301'.repeat(6) } });
      assert.deepEqual(long.body, { error: 'Validation failed: Text character limit of 10 exceeded' });
      assert.equal(long.headers.get('x-ratelimit-limit'), '3');
      assert.equal((await emu.api('/api/v2/instance', { token: null })).body.configuration.statuses.max_characters, 10);
    } finally {
      await emu.close();
    }
  });
});

describe('emulator', () => {
  let emu;
  before(async () => { emu = await startEmu(); });
  after(async () => { await emu.close(); });
  beforeEach(async () => { await emu.ctl('/__emu/reset', {}); });

  const inject = (body) => emu.ctl('/__emu/inject', body);
  const post = (form, headers = {}, token) => emu.api('/api/v1/statuses', { form, headers, token });

  // ---- streaming: auth ------------------------------------------------------------------------

  describe('streaming upgrade auth', () => {
    test('bad token: raw 401 with X-Error-Message, Connection: close, empty body, no upgrade', async () => {
      const raw = await rawHttp(emu.port, upgradeRequest('/api/v1/streaming?stream=user', { Authorization: 'Bearer wrong' }));
      const [head, body] = raw.split('\r\n\r\n');
      const lines = head.split('\r\n');
      assert.equal(lines[0], 'HTTP/1.1 401 Unauthorized');
      assert.ok(lines.includes('Connection: close'));
      assert.ok(lines.includes('Content-Type: text/plain'));
      assert.ok(lines.includes('Content-Length: 0'));
      assert.ok(lines.includes('X-Error-Message: Invalid access token'));
      assert.ok(lines.some((l) => /^X-Request-Id: \S+$/.test(l)));
      assert.ok(!lines.some((l) => /^(Upgrade|Sec-WebSocket-Accept):/i.test(l)));
      assert.equal(body, '');
      assert.equal((await emu.ctl('/__emu/connections')).length, 0);
    });

    test('missing token: X-Error-Message: Missing access token', async () => {
      const raw = await rawHttp(emu.port, upgradeRequest('/api/v1/streaming'));
      assert.match(raw, /^HTTP\/1\.1 401 Unauthorized\r\n/);
      assert.match(raw, /\r\nX-Error-Message: Missing access token\r\n/);
    });

    test('a ws client sees the 401 as an unexpected response', async () => {
      await assert.rejects(openStream(emu, '', { headers: { Authorization: 'Bearer wrong' } }), (err) => {
        assert.equal(err.statusCode, 401);
        assert.equal(err.headers['x-error-message'], 'Invalid access token');
        return true;
      });
    });

    test('token accepted from Authorization, ?access_token and Sec-WebSocket-Protocol (echoed)', async () => {
      const a = await openStream(emu, '?stream=user');
      const b = await openStream(emu, `?stream=user&access_token=${TOKEN}`, { headers: {} });
      const c = await openStream(emu, '?stream=user', { headers: {}, protocols: [TOKEN] });
      assert.equal(c.protocol, TOKEN, 'the first offered protocol is echoed back');
      assert.equal((await emu.ctl('/__emu/connections')).length, 3);
      for (const ws of [a, b, c]) ws.close();
    });

    test('a revoked token: REST 401 "was revoked", open streams are closed without a code', async () => {
      await emu.ctl('/__emu/tokens', { token: 'temp', account: 'acme', scopes: 'read write' });
      const ws = await openStream(emu, '?stream=user', { headers: { Authorization: 'Bearer temp' } });
      const r = await emu.ctl('/__emu/tokens', { token: 'temp', revoke: true });
      assert.equal(r.closed_streams, 1);
      assert.equal((await ws.closed).code, 1005);
      const rest = await emu.api('/api/v1/accounts/verify_credentials', { token: 'temp' });
      assert.equal(rest.status, 401);
      assert.deepEqual(rest.body, { error: 'The access token was revoked' });
    });
  });

  // ---- streaming: subscriptions and envelopes -------------------------------------------------

  describe('streaming subscriptions and envelopes', () => {
    test('?stream=user + inject → notification envelope with a JSON-string payload', async () => {
      const ws = await openStream(emu, '?stream=user');
      const injected = await inject({ account: 'alice', text: 'my parcel is late <again> & again' });
      const raw = await ws.next();
      const frame = JSON.parse(raw);
      assert.deepEqual(Object.keys(frame), ['stream', 'event', 'payload']);
      assert.deepEqual(frame.stream, ['user']);
      assert.equal(frame.event, 'notification');
      assert.equal(typeof frame.payload, 'string');
      const n = JSON.parse(frame.payload);
      assert.equal(n.type, 'mention');
      assert.equal(n.id, injected.notification.id);
      assert.match(n.id, /^\d+$/);
      assert.equal(n.group_key, `ungrouped-${n.id}`);
      assert.match(n.created_at, ISO_MS);
      assert.equal(n.account.acct, 'alice');
      assert.equal(typeof n.account.followers_count, 'number');
      assert.equal(typeof n.account.bot, 'boolean');
      assert.equal(n.status.id, injected.status.id);
      assert.match(n.status.id, /^\d+$/);
      assert.equal(n.status.content, MENTION_HTML('my parcel is late &lt;again&gt; &amp; again'));
      assert.deepEqual(n.status.mentions, [{ id: BRAND_ID, username: 'acme', url: 'https://mastodon.example/@acme', acct: 'acme' }]);
      assert.equal(n.status.visibility, 'public');
      assert.equal(await ws.none(100), true, 'one frame only');
      ws.close();
    });

    test('subscribe frames: user and user:notification each get their own envelope; duplicate subscribe is a no-op', async () => {
      const ws = await openStream(emu);
      await subscribe(emu, ws, 'user');
      await subscribe(emu, ws, 'user:notification');
      ws.send(JSON.stringify({ type: 'subscribe', stream: 'user' }));
      await subscribe(emu, ws, 'hashtag', { tag: 'Parcels' }); // frames are handled in order
      const conns = await emu.ctl('/__emu/connections');
      assert.deepEqual(conns[0].subscriptions, [
        { channel: 'user', stream: ['user'] },
        { channel: 'user:notification', stream: ['user:notification'] },
        { channel: 'hashtag', stream: ['hashtag', 'Parcels'] },
      ]);
      await inject({ account: 'bob', text: 'hello' });
      const streams = [(await ws.json()).stream[0], (await ws.json()).stream[0]].sort();
      assert.deepEqual(streams, ['user', 'user:notification']);
      assert.equal(await ws.none(100), true);
      ws.send(JSON.stringify({ type: 'unsubscribe', stream: 'user' }));
      await waitFor(async () => (await emu.ctl('/__emu/connections'))[0].subscriptions.length === 2, 'unsubscribe');
      await inject({ account: 'bob', text: 'again' });
      assert.deepEqual((await ws.json()).stream, ['user:notification']);
      assert.equal(await ws.none(100), true);
      ws.close();
    });

    test('unknown stream → {"error":"Unknown stream type","status":400}; hashtag without tag; list', async () => {
      const ws = await openStream(emu);
      ws.send(JSON.stringify({ type: 'subscribe', stream: 'nope' }));
      assert.equal(await ws.next(), '{"error":"Unknown stream type","status":400}');
      ws.send(JSON.stringify({ type: 'subscribe', stream: 'hashtag' }));
      assert.deepEqual(await ws.json(), { error: 'Missing tag name parameter', status: 400 });
      ws.send(JSON.stringify({ type: 'subscribe', stream: 'list', list: '1' }));
      assert.deepEqual(await ws.json(), { error: 'Not authorized to stream this list', status: 401 });
      ws.send(JSON.stringify({ type: 'unsubscribe', stream: 'nope' }));
      assert.deepEqual(await ws.json(), { error: 'Error unsubscribing from channel' });
      ws.send('not json');
      ws.send(JSON.stringify({ type: 'hello' }));
      assert.equal(await ws.none(100), true, 'invalid JSON and unknown types are ignored');
      const bad = await openStream(emu, '?stream=bogus');
      assert.deepEqual(await bad.json(), { error: 'Unknown stream type', status: 400 });
      ws.close();
      bad.close();
    });

    test('delete carries the bare id; filters_changed has no payload; edits arrive as status.update', async () => {
      const ws = await openStream(emu, '?stream=user');
      const { status } = await inject({ account: 'alice', text: 'first version', deliver: 'missed' });
      await emu.ctl('/__emu/edit', { id: status.id, text: 'second version' });
      const upd = await ws.json();
      assert.equal(upd.event, 'status.update');
      const edited = JSON.parse(upd.payload);
      assert.equal(edited.id, status.id);
      assert.match(edited.edited_at, ISO_MS);
      assert.equal(edited.content, MENTION_HTML('second version'));

      await emu.ctl('/__emu/delete', { id: status.id });
      const del = await ws.next();
      assert.equal(del, JSON.stringify({ stream: ['user'], event: 'delete', payload: status.id }));

      await emu.ctl('/__emu/filters_changed', {});
      const fc = await ws.next();
      assert.equal(fc, '{"stream":["user"],"event":"filters_changed"}');
      assert.equal((await emu.api(`/api/v1/statuses/${status.id}`)).status, 404);
      ws.close();
    });

    test('duplicate: n sends the same frame n more times', async () => {
      const ws = await openStream(emu, '?stream=user:notification');
      const r = await inject({ account: 'alice', text: 'dup', duplicate: 2 });
      assert.equal(r.delivered, 3);
      const frames = [await ws.next(), await ws.next(), await ws.next()];
      assert.equal(new Set(frames).size, 1);
      assert.equal(await ws.none(100), true);
      ws.close();
    });

    test('also_update adds the home-timeline update; direct mentions add a conversation', async () => {
      const ws = await openStream(emu, '?stream=user');
      await subscribe(emu, ws, 'direct');
      await inject({ account: 'alice', text: 'dm me', visibility: 'direct', also_update: true });
      const got = [await ws.json(), await ws.json(), await ws.json()].map((f) => `${f.stream[0]}/${f.event}`).sort();
      assert.deepEqual(got, ['direct/conversation', 'user/notification', 'user/update']);
      ws.close();
    });

    test('the service\'s own posts come back as update on user', async () => {
      const ws = await openStream(emu, '?stream=user');
      const r = await post({ status: 'hello world' });
      const f = await ws.json();
      assert.equal(f.event, 'update');
      assert.equal(JSON.parse(f.payload).id, r.body.id);
      ws.close();
    });

    test('binary frame → close 1003 with the streaming server\'s reason', async () => {
      const ws = await openStream(emu, '?stream=user');
      ws.send(Buffer.from([1, 2, 3]));
      const { code, reason } = await ws.closed;
      assert.equal(code, 1003);
      assert.equal(reason, 'The mastodon streaming server does not support binary messages');
    });

    test('scopes: user:notification needs read or read:notifications', async () => {
      await emu.ctl('/__emu/tokens', { token: 'writeonly', account: 'acme', scopes: 'write' });
      const ws = await openStream(emu, '?stream=user:notification', { headers: { Authorization: 'Bearer writeonly' } });
      assert.deepEqual(await ws.json(), { error: 'Access token does not have the required scopes', status: 401 });
      ws.close();
    });

    test('SSE variant: :) then event/data lines', async () => {
      const ctrl = new AbortController();
      const res = await fetch(`${emu.base}/api/v1/streaming/user`, { headers: { Authorization: `Bearer ${TOKEN}` }, signal: ctrl.signal });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      const reader = res.body.getReader();
      let text = new TextDecoder().decode((await reader.read()).value);
      assert.equal(text, ':)\n');
      await inject({ account: 'alice', text: 'sse' });
      while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
      assert.match(text, /^:\)\nevent: notification\ndata: \{"id":"\d+","type":"mention"/);
      assert.equal((await emu.ctl('/__emu/connections'))[0].kind, 'eventsource');
      ctrl.abort();
      await waitFor(async () => (await emu.ctl('/__emu/connections')).length === 0, 'a closed EventSource to be forgotten');
      const plain = await emu.api('/api/v1/streaming');
      assert.equal(plain.status, 400);
      assert.deepEqual(plain.body, { error: 'Unknown channel requested' });
      const health = await fetch(`${emu.base}/api/v1/streaming/health`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'OK');
    });
  });

  // ---- notifications --------------------------------------------------------------------------

  describe('GET /api/v1/notifications', () => {
    test('missed mentions are listed newest first; types[] / exclude_types[] filter', async () => {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await inject({ account: 'alice', text: `missed ${i}`, deliver: 'missed' })).notification.id);
      await emu.ctl('/__emu/notify', { type: 'favourite', account: 'bob', deliver: 'missed' });
      const all = await emu.api('/api/v1/notifications');
      assert.equal(all.status, 200);
      assert.deepEqual(all.body.map((n) => n.type), ['favourite', 'mention', 'mention', 'mention', 'mention', 'mention']);
      const mentions = await emu.api('/api/v1/notifications?types[]=mention');
      assert.deepEqual(mentions.body.map((n) => n.id), [...ids].reverse());
      const excl = await emu.api('/api/v1/notifications?exclude_types[]=mention');
      assert.deepEqual(excl.body.map((n) => n.type), ['favourite']);
    });

    test('min_id pages forward without gaps (newest first inside a page); Link has next and prev', async () => {
      const ids = [];
      for (let i = 0; i < 7; i++) ids.push((await inject({ account: 'bob', text: `m${i}`, deliver: 'missed' })).notification.id);
      const first = await emu.api(`/api/v1/notifications?types[]=mention&limit=3&min_id=${BigInt(ids[0]) - 1n}`);
      assert.deepEqual(first.body.map((n) => n.id), [ids[2], ids[1], ids[0]]);
      const link = first.headers.get('link');
      const base = `http://127.0.0.1:${emu.port}/api/v1/notifications`;
      assert.equal(link, `<${base}?limit=3&max_id=${ids[0]}&types%5B%5D=mention>; rel="next", <${base}?limit=3&min_id=${ids[2]}&types%5B%5D=mention>; rel="prev"`);

      // Catch-up loop of a reconnecting client: follow min_id until the page is empty.
      const seen = [];
      let cursor = BigInt(ids[0]) - 1n;
      for (;;) {
        const page = await emu.api(`/api/v1/notifications?types[]=mention&limit=3&min_id=${cursor}`);
        if (page.body.length === 0) {
          assert.equal(page.headers.get('link'), null, 'no Link on an empty page');
          break;
        }
        seen.push(...page.body.map((n) => n.id).reverse());
        cursor = BigInt(page.body[0].id);
      }
      assert.deepEqual(seen, ids);

      const since = await emu.api(`/api/v1/notifications?limit=2&since_id=${ids[0]}`);
      assert.deepEqual(since.body.map((n) => n.id), [ids[6], ids[5]], 'since_id gives the newest page');
      const max = await emu.api(`/api/v1/notifications?limit=2&max_id=${ids[3]}`);
      assert.deepEqual(max.body.map((n) => n.id), [ids[2], ids[1]]);
    });

    test('limit defaults to 40 and is capped at 80', async () => {
      for (let i = 0; i < 85; i++) await inject({ account: 'alice', text: `n${i}`, deliver: 'missed' });
      assert.equal((await emu.api('/api/v1/notifications')).body.length, 40);
      assert.equal((await emu.api('/api/v1/notifications?limit=500')).body.length, 80);
    });

    test('deleted statuses take their notifications with them', async () => {
      const { status } = await inject({ account: 'alice', text: 'oops', deliver: 'missed' });
      await emu.ctl('/__emu/delete', { id: status.id });
      assert.deepEqual((await emu.api('/api/v1/notifications')).body, []);
    });
  });

  // ---- statuses -------------------------------------------------------------------------------

  describe('POST /api/v1/statuses', () => {
    test('validation: blank, 501 characters, bad in_reply_to_id, bad visibility', async () => {
      const blank = await post({ status: '   ' });
      assert.equal(blank.status, 422);
      assert.deepEqual(blank.body, { error: "Validation failed: Text can't be blank" });
      const missing = await emu.api('/api/v1/statuses', { json: {} });
      assert.equal(missing.status, 422);
      const long = await post({ status: 'a'.repeat(501) });
      assert.equal(long.status, 422);
      assert.deepEqual(long.body, { error: 'Validation failed: Text character limit of 500 exceeded' });
      assert.equal((await post({ status: 'a'.repeat(500) })).status, 200);
      const reply = await post({ status: 'hi', in_reply_to_id: '999999' });
      assert.equal(reply.status, 404);
      assert.deepEqual(reply.body, { error: 'The post you are trying to reply to does not appear to exist.' });
      const vis = await post({ status: 'hi', visibility: 'everyone' });
      assert.equal(vis.status, 422);
      assert.match(vis.body.error, /^Validation failed: /);
      assert.equal((await emu.ctl('/__emu/statuses?created_by=brand')).length, 1);
    });

    test('characters are counted like Mastodon: graphemes, URLs as 23', async () => {
      const combining = 'e\u0301'.repeat(500); // 1000 code points, 500 graphemes
      assert.equal((await post({ status: combining })).status, 200);
      const url = `https://example.com/${'p'.repeat(600)}`; // one URL counts 23
      assert.equal((await post({ status: `see ${url}` })).status, 200);
      assert.equal((await post({ status: `${'😀'.repeat(501)}` })).status, 422);
    });

    test('a reply: form and JSON bodies, HTML content, resolved mentions, ids and timestamps', async () => {
      const { status: parent } = await inject({ account: 'bob', text: 'where is my order?', deliver: 'missed' });
      const r = await post({ status: '@bob@fosstodon.example sorry <3 — we\'re on it & will DM', in_reply_to_id: parent.id, visibility: 'unlisted', language: 'en' });
      assert.equal(r.status, 200);
      const s = r.body;
      assert.match(s.id, /^\d+$/);
      assert.ok(BigInt(s.id) > BigInt(parent.id));
      assert.match(s.created_at, ISO_MS);
      assert.equal(s.in_reply_to_id, parent.id);
      assert.equal(s.in_reply_to_account_id, '109000000000000102');
      assert.equal(s.visibility, 'unlisted');
      assert.equal(s.account.id, BRAND_ID);
      assert.equal(s.content, '<p><span class="h-card"><a href="https://fosstodon.example/@bob" class="u-url mention">@<span>bob</span></a></span> sorry &lt;3 — we&#39;re on it &amp; will DM</p>');
      assert.deepEqual(s.mentions, [{ id: '109000000000000102', username: 'bob', url: 'https://fosstodon.example/@bob', acct: 'bob@fosstodon.example' }]);
      const j = await emu.api('/api/v1/statuses', { json: { status: '@alice thanks!', in_reply_to_id: parent.id, visibility: 'direct' } });
      assert.equal(j.status, 200);
      assert.equal(j.body.visibility, 'direct');
      assert.deepEqual(j.body.mentions.map((m) => m.acct), ['alice']);
      assert.ok(BigInt(j.body.id) > BigInt(s.id));
      const fetched = (await emu.api(`/api/v1/statuses/${s.id}`)).body;
      assert.equal(fetched.account.statuses_count, s.account.statuses_count + 1, 'the brand has posted once more since');
      assert.deepEqual({ ...fetched, account: null }, { ...s, account: null });
      assert.equal((await emu.api(`/api/v1/statuses/${parent.id}`)).body.replies_count, 2);
    });

    test('Idempotency-Key: a repeat returns the original with 200 and creates nothing; scoped per account; 1 h TTL', async () => {
      await emu.ctl('/__emu/clock', { now: '2026-11-25T12:00:00.000Z', frozen: true });
      const a = await post({ status: 'once' }, { 'Idempotency-Key': 'k-1' });
      const b = await post({ status: 'once, retried with different text' }, { 'Idempotency-Key': 'k-1' });
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.equal(b.body.id, a.body.id);
      assert.equal(b.body.content, '<p>once</p>');
      assert.equal((await emu.ctl('/__emu/statuses?created_by=brand')).length, 1);

      await emu.ctl('/__emu/tokens', { token: 'alice-token', account: 'alice' });
      const other = await post({ status: 'alice posts' }, { 'Idempotency-Key': 'k-1' }, 'alice-token');
      assert.notEqual(other.body.id, a.body.id, 'keys are scoped per account');

      await emu.ctl('/__emu/clock', { advance_ms: 3599 * 1000 });
      assert.equal((await post({ status: 'x' }, { 'Idempotency-Key': 'k-1' })).body.id, a.body.id);
      await emu.ctl('/__emu/clock', { advance_ms: 2 * 1000 });
      const late = await post({ status: 'after an hour' }, { 'Idempotency-Key': 'k-1' });
      assert.notEqual(late.body.id, a.body.id);
      assert.equal(late.body.created_at, '2026-11-25T13:00:01.000Z');
      assert.equal((await emu.ctl('/__emu/statuses?created_by=brand')).length, 2);
    });

    test('scope write:statuses is required (403)', async () => {
      await emu.ctl('/__emu/tokens', { token: 'ro', account: 'acme', scopes: 'read' });
      const r = await post({ status: 'nope' }, {}, 'ro');
      assert.equal(r.status, 403);
      assert.deepEqual(r.body, { error: 'This action is outside the authorized scopes' });
    });

    test('DELETE returns the status with its source text and emits delete', async () => {
      const ws = await openStream(emu, '?stream=user');
      const { body } = await post({ status: 'to be deleted' });
      await ws.json(); // own update
      const del = await emu.api(`/api/v1/statuses/${body.id}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
      assert.equal(del.body.text, 'to be deleted');
      assert.deepEqual(await ws.json(), { stream: ['user'], event: 'delete', payload: body.id });
      ws.close();
    });
  });

  // ---- REST auth and instance -----------------------------------------------------------------

  test('401 {"error":"The access token is invalid"} on every REST endpoint', async () => {
    for (const [method, p] of [['GET', '/api/v1/accounts/verify_credentials'], ['GET', '/api/v1/notifications'], ['POST', '/api/v1/statuses']]) {
      for (const token of ['bad', null]) {
        const r = await emu.api(p, { method, token, form: method === 'POST' ? { status: 'x' } : undefined });
        assert.equal(r.status, 401, `${method} ${p}`);
        assert.deepEqual(r.body, { error: 'The access token is invalid' });
        assert.ok(r.headers.get('x-ratelimit-limit'));
      }
    }
    const cred = await emu.api('/api/v1/accounts/verify_credentials');
    assert.equal(cred.body.id, BRAND_ID);
    assert.equal(cred.body.acct, 'acme');
    assert.equal(cred.body.source.privacy, 'public');
  });

  test('instance: v1 urls.streaming_api, v2 configuration.urls.streaming, max_characters 500', async () => {
    const v1 = (await emu.api('/api/v1/instance', { token: null })).body;
    assert.equal(v1.urls.streaming_api, `ws://127.0.0.1:${emu.port}`);
    assert.equal(v1.configuration.statuses.max_characters, 500);
    const v2 = (await emu.api('/api/v2/instance', { token: null })).body;
    assert.equal(v2.configuration.urls.streaming, `ws://127.0.0.1:${emu.port}`);
    assert.equal(v2.configuration.statuses.max_characters, 500);
  });

  // ---- rate limits ----------------------------------------------------------------------------

  describe('rate limits', () => {
    test('headers on every API response; Reset is ISO 8601 with 6 fractional digits on the window edge', async () => {
      await emu.ctl('/__emu/clock', { now: '2026-11-25T12:03:17.250Z', frozen: true });
      const r1 = await emu.api('/api/v1/accounts/verify_credentials');
      assert.equal(r1.headers.get('x-ratelimit-limit'), '300');
      assert.equal(r1.headers.get('x-ratelimit-remaining'), '299');
      assert.match(r1.headers.get('x-ratelimit-reset'), ISO_6);
      // (now + period - now_s % period).iso8601(6): the window edge plus now's fraction.
      assert.equal(r1.headers.get('x-ratelimit-reset'), '2026-11-25T12:05:00.250000Z');
      const r2 = await emu.api('/api/v1/notifications');
      assert.equal(r2.headers.get('x-ratelimit-remaining'), '298');
      for (const p of ['/api/v1/instance', '/api/v1/nope', '/api/v1/statuses/1']) {
        assert.match((await emu.api(p)).headers.get('x-ratelimit-reset'), ISO_6, p);
      }
    });

    test('429 {"error":"Too many requests"} after the per-token budget, Remaining 0, no Retry-After; next window is fresh', async () => {
      await emu.ctl('/__emu/clock', { now: '2026-11-25T12:00:10.000Z', frozen: true });
      await emu.ctl('/__emu/rate_limits', { per_token: { limit: 5 } });
      for (let i = 1; i <= 5; i++) {
        const r = await emu.api('/api/v1/accounts/verify_credentials');
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('x-ratelimit-remaining'), String(5 - i));
      }
      const r = await emu.api('/api/v1/accounts/verify_credentials');
      assert.equal(r.status, 429);
      assert.deepEqual(r.body, { error: 'Too many requests' });
      assert.equal(r.headers.get('x-ratelimit-limit'), '5');
      assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
      assert.equal(r.headers.get('x-ratelimit-reset'), '2026-11-25T12:05:00.000000Z');
      assert.equal(r.headers.get('retry-after'), null);
      assert.match(r.headers.get('content-type'), /^application\/json/);
      await emu.ctl('/__emu/clock', { now: '2026-11-25T12:05:00.000Z' });
      assert.equal((await emu.api('/api/v1/accounts/verify_credentials')).status, 200);
    });

    test('300 requests per 5 min by default: the 301st is refused', async () => {
      await emu.ctl('/__emu/clock', { now: '2026-11-25T12:00:00.000Z', frozen: true });
      let last;
      for (let i = 0; i < 301; i++) last = await emu.api('/api/v1/instance', { token: TOKEN });
      assert.equal(last.status, 429);
    });

    test('statuses budget per account; the tighter limit shows in the headers; replays are free', async () => {
      await emu.ctl('/__emu/clock', { now: '2026-11-25T12:00:00.000Z', frozen: true });
      await emu.ctl('/__emu/rate_limits', { statuses: { limit: 2 } });
      const a = await post({ status: 'one' }, { 'Idempotency-Key': 'a' });
      assert.equal(a.headers.get('x-ratelimit-limit'), '2');
      assert.equal(a.headers.get('x-ratelimit-remaining'), '1');
      assert.equal(a.headers.get('x-ratelimit-reset'), '2026-11-25T15:00:00.000000Z');
      assert.equal((await post({ status: 'two' })).status, 200);
      const third = await post({ status: 'three' });
      assert.equal(third.status, 429);
      assert.deepEqual(third.body, { error: 'Too many requests' });
      assert.equal(third.headers.get('x-ratelimit-remaining'), '0');
      assert.equal(third.headers.get('retry-after'), null);
      const replay = await post({ status: 'one' }, { 'Idempotency-Key': 'a' });
      assert.equal(replay.status, 200);
      assert.equal(replay.body.id, a.body.id);
      assert.equal((await emu.ctl('/__emu/statuses?created_by=brand')).length, 2);
    });
  });

  // ---- faults ---------------------------------------------------------------------------------

  describe('faults', () => {
    test('http_status: N answers with the status, no effect, then normal service', async () => {
      await emu.ctl('/__emu/fault', { kind: 'http_status', status: 503, count: 2, path: '/api/v1/statuses' });
      const f1 = await post({ status: 'x' });
      const f2 = await post({ status: 'x' });
      assert.equal(f1.status, 503);
      assert.equal(f2.status, 503);
      assert.match(f1.headers.get('content-type'), /^text\/html/);
      assert.equal((await emu.api('/api/v1/notifications')).status, 200, 'other paths unaffected');
      assert.equal((await post({ status: 'x' })).status, 200);
      assert.equal((await emu.ctl('/__emu/statuses?created_by=brand')).length, 1);
      await emu.ctl('/__emu/fault', { kind: 'http_status', status: 429 });
      const t = await emu.api('/api/v1/notifications');
      assert.equal(t.status, 429);
      assert.deepEqual(t.body, { error: 'Too many requests' });
      assert.equal(t.headers.get('x-ratelimit-remaining'), '0');
      for (const status of [500, 502]) {
        await emu.ctl('/__emu/fault', { kind: 'http_status', status });
        assert.equal((await emu.api('/api/v1/notifications')).status, status);
      }
    });

    test('slow delays the answer', async () => {
      await emu.ctl('/__emu/fault', { kind: 'slow', ms: 300, path: '/api/v1/notifications' });
      const t0 = Date.now();
      assert.equal((await emu.api('/api/v1/notifications')).status, 200);
      assert.ok(Date.now() - t0 >= 290);
      const faults = await emu.ctl('/__emu/faults');
      assert.deepEqual(faults.armed, [], 'one-shot');
      assert.deepEqual(faults.fired.map((f) => f.kind), ['slow']);
    });

    test('lost_response: the status is created and the key stored, the socket dies; a retry gets the original', async () => {
      await emu.ctl('/__emu/fault', { kind: 'lost_response', path: '/api/v1/statuses' });
      await assert.rejects(post({ status: 'lost' }, { 'Idempotency-Key': 'lost-1' }));
      const created = await emu.ctl('/__emu/statuses?created_by=brand');
      assert.equal(created.length, 1);
      const retry = await post({ status: 'lost' }, { 'Idempotency-Key': 'lost-1' });
      assert.equal(retry.status, 200);
      assert.equal(retry.body.id, created[0].id);
      assert.equal((await emu.ctl('/__emu/statuses?created_by=brand')).length, 1);
    });

    test('unauthorized: N requests (REST or upgrade) see an invalid token', async () => {
      await emu.ctl('/__emu/fault', { kind: 'unauthorized', count: 2 });
      assert.equal((await emu.api('/api/v1/notifications')).status, 401);
      const raw = await rawHttp(emu.port, upgradeRequest('/api/v1/streaming?stream=user', { Authorization: `Bearer ${TOKEN}` }));
      assert.match(raw, /^HTTP\/1\.1 401 Unauthorized\r\n[\s\S]*X-Error-Message: Invalid access token\r\n/);
      assert.equal((await emu.api('/api/v1/notifications')).status, 200);
    });

    test('http_status on the upgrade path refuses the WebSocket', async () => {
      await emu.ctl('/__emu/fault', { kind: 'http_status', status: 502, path: '/api/v1/streaming' });
      await assert.rejects(openStream(emu, '?stream=user'), (err) => err.statusCode === 502);
      (await openStream(emu, '?stream=user')).close();
    });

    test('drop_stream: abrupt TCP close (1006)', async () => {
      const ws = await openStream(emu, '?stream=user');
      const r = await emu.ctl('/__emu/fault', { kind: 'drop_stream' });
      assert.equal(r.affected, 1);
      assert.equal((await ws.closed).code, 1006);
    });

    test('close_stream: with a code, and without (kill → 1005)', async () => {
      const a = await openStream(emu, '?stream=user');
      await emu.ctl('/__emu/fault', { kind: 'close_stream', code: 1011, reason: 'server error' });
      assert.deepEqual(await a.closed, { code: 1011, reason: 'server error' });
      const b = await openStream(emu, '?stream=user');
      await emu.ctl('/__emu/fault', { kind: 'close_stream' });
      assert.equal((await b.closed).code, 1005);
    });

    test('malformed_frame and oversized_frame', async () => {
      const ws = await openStream(emu, '?stream=user');
      await emu.ctl('/__emu/fault', { kind: 'malformed_frame' });
      const bad = await ws.next();
      assert.throws(() => JSON.parse(bad), SyntaxError);
      await emu.ctl('/__emu/fault', { kind: 'oversized_frame', bytes: 200000 });
      const big = await ws.next();
      assert.equal(Buffer.byteLength(big), 200000);
      const env = JSON.parse(big);
      assert.equal(env.event, 'update');
      assert.equal(typeof JSON.parse(env.payload).content, 'string');
      ws.close();
    });
  });

  // ---- log ------------------------------------------------------------------------------------

  test('log records requests (headers, raw body), upgrades and client frames; clear empties it', async () => {
    const ws = await openStream(emu, '?stream=user');
    await subscribe(emu, ws, 'user:notification');
    await post({ status: 'logged ünïcode', in_reply_to_id: '' }, { 'Idempotency-Key': 'log-1' });
    const log = await emu.ctl('/__emu/log');
    const up = log.find((e) => e.kind === 'upgrade');
    assert.equal(up.path, '/api/v1/streaming');
    assert.deepEqual(up.query, { stream: 'user' });
    assert.equal(up.headers.authorization, `Bearer ${TOKEN}`);
    const frame = log.find((e) => e.kind === 'ws_frame');
    assert.equal(frame.data, '{"type":"subscribe","stream":"user:notification"}');
    const req = log.find((e) => e.kind === 'http' && e.path === '/api/v1/statuses');
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['idempotency-key'], 'log-1');
    assert.equal(req.body, 'status=logged+%C3%BCn%C3%AFcode&in_reply_to_id=');
    assert.equal(req.response_status, 200);
    assert.match(req.time, ISO_MS);
    assert.ok(!log.some((e) => (e.path || '').startsWith('/__emu')), 'control calls are not logged');
    const filtered = await emu.ctl('/__emu/log?kind=http&path=/api/v1/statuses');
    assert.equal(filtered.length, 1);
    await emu.ctl('/__emu/log/clear', {});
    assert.deepEqual(await emu.ctl('/__emu/log'), []);
    ws.close();
  });

  test('clock drives created_at and ids', async () => {
    await emu.ctl('/__emu/clock', { now: '2030-01-02T03:04:05.678Z', frozen: true });
    const { status, notification } = await inject({ account: 'carla', text: 'time travel', deliver: 'missed' });
    assert.equal(status.created_at, '2030-01-02T03:04:05.678Z');
    assert.equal(notification.created_at, '2030-01-02T03:04:05.678Z');
    assert.equal(BigInt(status.id) >> 16n, BigInt(Date.parse('2030-01-02T03:04:05.678Z')));
    const old = await inject({ account: 'carla', text: 'from the past', created_at: '2029-12-31T00:00:00.000Z', deliver: 'missed' });
    assert.equal(old.status.created_at, '2029-12-31T00:00:00.000Z');
  });

  test('a full Account object can be injected as the author', async () => {
    const account = { id: '23634', username: 'noiob', acct: 'noiob@awoo.space', display_name: 'x', url: 'https://awoo.space/@noiob', bot: false, followers_count: 547, created_at: '2017-02-08T02:00:53.274Z', fields: [] };
    const r = await inject({ account, text: 'hi from a custom account', deliver: 'missed' });
    assert.deepEqual(r.notification.account, account);
    const again = await inject({ account: 'noiob@awoo.space', text: 'by acct', deliver: 'missed' });
    assert.equal(again.status.account.id, '23634');
  });
});

describe('keepalive', () => {
  let emu;
  before(async () => { emu = await startEmu({ pingMs: 100 }); });
  after(async () => { await emu.close(); });

  test('a client that answers pings stays; one that does not is terminated without a close frame', async () => {
    const good = await openStream(emu, '?stream=user');
    let pings = 0;
    good.on('ping', () => { pings += 1; });
    const deaf = await openStream(emu, '?stream=user', { autoPong: false });
    const { code } = await deaf.closed;
    assert.equal(code, 1006);
    await waitFor(() => pings >= 2, 'two pings to the live client');
    assert.equal(good.readyState, WebSocket.OPEN);
    const log = await emu.ctl('/__emu/log?kind=ws_terminate');
    assert.equal(log.length, 1);
    good.close();
  });

  test('no_pong: the server neither pings nor answers pings; the connection stays open', async () => {
    const ws = await openStream(emu, '?stream=user');
    await emu.ctl('/__emu/fault', { kind: 'no_pong' });
    let serverPings = 0;
    let pongs = 0;
    ws.on('ping', () => { serverPings += 1; });
    ws.on('pong', () => { pongs += 1; });
    ws.ping();
    await sleep(350);
    assert.equal(pongs, 0);
    assert.equal(serverPings, 0);
    assert.equal(ws.readyState, WebSocket.OPEN);
    await emu.ctl('/__emu/fault', { kind: 'no_pong', enabled: false });
    ws.ping();
    await waitFor(() => pongs >= 1, 'a pong once no_pong is off');
    ws.close();
  });
});
