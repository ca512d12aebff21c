// Fidelity of the Mastodon emulator, judged by the platform's own client library (masto v7)
// and by the real payloads in shared/fixtures/mastodon/ (node --test).
//
// masto is written against real Mastodon servers: if it cannot authenticate, page, post with
// an Idempotency-Key or decode a streaming envelope from the emulator, the emulator is wrong.

import { test, describe, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRestAPIClient, createStreamingAPIClient, MastoHttpError, MastoUnexpectedError } from 'masto';
import { startEmu, sleep, waitFor, FIXTURES, TOKEN, BRAND_ID, WebSocket, openStream } from './helpers.mjs';

const fixture = (name) => JSON.parse(fs.readFileSync(path.join(FIXTURES, 'mastodon', name), 'utf8'));

/** Deep camelCase of keys, as masto's serializer does. */
function camel(v) {
  if (Array.isArray(v)) return v.map(camel);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase()), camel(x)]));
  }
  return v;
}

/** Wait until the emulator lists a subscription to `channel`. */
async function subscribed(emu, channel) {
  // masto waits 1 s (its back-off base) before its first connection attempt.
  for (let i = 0; i < 400; i++) {
    const conns = await emu.ctl('/__emu/connections');
    if (conns.some((c) => c.subscriptions.some((s) => s.channel === channel))) return;
    await sleep(10);
  }
  throw new Error(`masto never subscribed to ${channel}`);
}

/** Next event from a masto subscription iterator, with a timeout. */
async function nextEvent(it, ms = 2000) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no event within ${ms} ms`)), ms); });
  try {
    const r = await Promise.race([it.next(), timeout]);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

describe('masto against the emulator', () => {
  let emu;
  let masto;
  before(async () => {
    emu = await startEmu();
    masto = createRestAPIClient({ url: emu.base, accessToken: TOKEN, timeout: 5000 });
  });
  after(async () => { await emu.close(); });
  beforeEach(async () => { await emu.ctl('/__emu/reset', {}); });

  test('verifyCredentials', async () => {
    const me = await masto.v1.accounts.verifyCredentials();
    assert.equal(me.id, BRAND_ID);
    assert.equal(me.username, 'acme');
    assert.equal(me.acct, 'acme');
    assert.equal(typeof me.followersCount, 'number');
    assert.equal(me.source.privacy, 'public');
    const bad = createRestAPIClient({ url: emu.base, accessToken: 'nope' });
    await assert.rejects(bad.v1.accounts.verifyCredentials(), (err) => {
      assert.ok(err instanceof MastoHttpError);
      assert.equal(err.statusCode, 401);
      assert.equal(err.message, 'The access token is invalid');
      return true;
    });
  });

  test('notifications.list: types filter, next pages via Link max_id, prev pages via Link min_id', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await emu.ctl('/__emu/inject', { account: 'alice', text: `n${i}`, deliver: 'missed' })).notification.id);
    await emu.ctl('/__emu/notify', { type: 'follow', account: 'bob', deliver: 'missed' });

    const first = await masto.v1.notifications.list({ types: ['mention'], limit: 2 });
    assert.deepEqual(first.map((n) => n.id), [ids[4], ids[3]]);
    assert.ok(first.every((n) => n.type === 'mention' && n.status.mentions[0].acct === 'acme'));

    const older = [];
    for await (const page of masto.v1.notifications.list({ types: ['mention'], limit: 2 })) older.push(...page.map((n) => n.id));
    assert.deepEqual(older, [...ids].reverse(), 'masto followed rel="next" to the end');

    const forward = [];
    const prev = masto.v1.notifications.list({ types: ['mention'], limit: 2, minId: ids[0] }).setDirection('prev');
    for await (const page of prev) forward.push(...page.map((n) => n.id));
    assert.deepEqual(forward.sort(), ids.slice(1).sort(), 'masto followed rel="prev" (min_id) forward');

    const log = await emu.ctl('/__emu/log?path=/api/v1/notifications');
    assert.ok(log.some((e) => e.raw_query.includes('types%5B%5D=mention') || e.raw_query.includes('types[]=mention')), 'masto sends types[]');
  });

  test('statuses.create: reply with in_reply_to_id and an Idempotency-Key', async () => {
    const { status: parent } = await emu.ctl('/__emu/inject', { account: 'bob', text: 'my order never arrived', deliver: 'missed' });
    const meta = { requestInit: { headers: { 'Idempotency-Key': 'masto-key-1' } } };
    const params = { status: '@bob@fosstodon.example sorry! We DMed you.', inReplyToId: parent.id, visibility: 'direct' };
    const a = await masto.v1.statuses.create(params, meta);
    const b = await masto.v1.statuses.create(params, meta);
    assert.equal(a.id, b.id);
    assert.equal(a.inReplyToId, parent.id);
    assert.equal(a.inReplyToAccountId, '109000000000000102');
    assert.equal(a.visibility, 'direct');
    assert.deepEqual(a.mentions.map((m) => m.acct), ['bob@fosstodon.example']);
    assert.equal((await emu.ctl('/__emu/statuses?created_by=brand')).length, 1);

    const sent = (await emu.ctl('/__emu/log?path=/api/v1/statuses&method=POST'));
    assert.equal(sent.length, 2);
    assert.equal(sent[0].headers['idempotency-key'], 'masto-key-1');
    assert.deepEqual(JSON.parse(sent[0].body), { status: params.status, in_reply_to_id: parent.id, visibility: 'direct' });

    await assert.rejects(masto.v1.statuses.create({ status: ' ' }), (err) => err instanceof MastoHttpError && err.statusCode === 422
      && err.message === "Validation failed: Text can't be blank");
    await assert.rejects(masto.v1.statuses.create({ status: 'x', inReplyToId: '42' }), (err) => err instanceof MastoHttpError && err.statusCode === 404);
  });

  test('statuses.$select(id).fetch and rate-limit headers through $raw', async () => {
    const created = await masto.v1.statuses.create({ status: 'fetch me' });
    const fetched = await masto.v1.statuses.$select(created.id).fetch();
    assert.equal(fetched.content, '<p>fetch me</p>');
    const raw = await masto.v1.accounts.verifyCredentials.$raw();
    assert.match(raw.headers.get('x-ratelimit-reset'), /\.\d{6}Z$/);
  });

  describe('streaming', () => {
    let streaming;
    beforeEach(async () => {
      const instance = await masto.v2.instance.fetch();
      assert.equal(instance.configuration.urls.streaming, `ws://127.0.0.1:${emu.port}`);
      streaming = createStreamingAPIClient({
        streamingApiUrl: instance.configuration.urls.streaming,
        accessToken: TOKEN,
        implementation: WebSocket,
        retry: false,
      });
    });
    afterEach(() => streaming.close());

    test('user: notification (parsed), update, status.update, delete, filters_changed', async () => {
      const it = streaming.user.subscribe()[Symbol.asyncIterator]();
      const first = nextEvent(it);
      await subscribed(emu, 'user');
      const injected = await emu.ctl('/__emu/inject', { account: 'alice', text: 'hello @acme, my parcel?' });
      const n = await first;
      assert.deepEqual(n.stream, ['user']);
      assert.equal(n.event, 'notification');
      assert.equal(n.payload.type, 'mention');
      assert.equal(n.payload.id, injected.notification.id);
      assert.equal(n.payload.account.acct, 'alice');
      assert.equal(n.payload.status.inReplyToId, null);
      assert.equal(n.payload.status.content, '<p>hello <span class="h-card"><a href="https://mastodon.example/@acme" class="u-url mention">@<span>acme</span></a></span>, my parcel?</p>');

      await emu.ctl('/__emu/edit', { id: injected.status.id, text: 'hello @acme, parcel found!' });
      const edit = await nextEvent(it);
      assert.equal(edit.event, 'status.update');
      assert.ok(edit.payload.editedAt);

      await emu.ctl('/__emu/delete', { id: injected.status.id });
      const del = await nextEvent(it);
      assert.equal(del.event, 'delete');
      assert.equal(del.payload, injected.status.id);

      await emu.ctl('/__emu/filters_changed', {});
      const fc = await nextEvent(it);
      assert.equal(fc.event, 'filters_changed');
      assert.equal(fc.payload, undefined);

      const own = await masto.v1.statuses.create({ status: 'on my own timeline' });
      const upd = await nextEvent(it);
      assert.equal(upd.event, 'update');
      assert.equal(upd.payload.id, own.id);

      const conns = await emu.ctl('/__emu/connections');
      assert.equal(conns.length, 1, 'masto authenticated with the token as Sec-WebSocket-Protocol');
      assert.equal((await emu.ctl('/__emu/log?kind=upgrade'))[0].headers['sec-websocket-protocol'], TOKEN);
    });

    test('user:notification and an error frame surface the way masto expects', async () => {
      const it = streaming.user.notification.subscribe()[Symbol.asyncIterator]();
      const first = nextEvent(it);
      await subscribed(emu, 'user:notification');
      await emu.ctl('/__emu/inject', { account: 'bob', text: 'ping', visibility: 'direct' });
      const n = await first;
      assert.deepEqual(n.stream, ['user:notification']);
      assert.equal(n.payload.status.visibility, 'direct');

      const bad = streaming.hashtag.subscribe({})[Symbol.asyncIterator]();
      await assert.rejects(nextEvent(bad), (err) => err instanceof MastoUnexpectedError && err.message === 'Missing tag name parameter');
    });
  });
});

describe('fixtures served through the emulator', () => {
  let emu;
  let masto;
  let streaming = null;
  const openStreaming = () => {
    streaming = createStreamingAPIClient({ streamingApiUrl: `ws://127.0.0.1:${emu.port}`, accessToken: TOKEN, implementation: WebSocket, retry: false });
    return streaming;
  };
  before(async () => {
    emu = await startEmu();
    masto = createRestAPIClient({ url: emu.base, accessToken: TOKEN });
  });
  after(async () => { await emu.close(); });
  beforeEach(async () => { await emu.ctl('/__emu/reset', {}); });
  afterEach(() => {
    if (streaming) streaming.close();
    streaming = null;
  });

  test('account.json as a mention author: served byte-for-byte, parsed by masto', async () => {
    const account = fixture('account.json');
    await emu.ctl('/__emu/inject', { account, text: 'sharks', deliver: 'missed' });
    const rest = await emu.api('/api/v1/notifications');
    assert.deepEqual(rest.body[0].account, account);
    const [n] = await masto.v1.notifications.list();
    assert.deepEqual(n.account, camel(account));
    assert.equal(n.account.fields[3].verifiedAt, '2019-11-10T10:31:10.744+00:00');
  });

  test('notification_mention.json: its author and HTML content injected, listed and parsed', async () => {
    const fx = fixture('notification_mention.json');
    await emu.ctl('/__emu/inject', { account: fx.account, content: fx.status.content, visibility: fx.status.visibility, deliver: 'missed' });
    const [n] = await masto.v1.notifications.list({ types: ['mention'] });
    assert.equal(n.type, 'mention');
    assert.equal(n.account.acct, 'a@pl.nulled.red');
    assert.equal(n.status.content, fx.status.content);
    assert.equal(n.status.visibility, 'unlisted');
  });

  test('WebSocket fixture frames reach masto unchanged (update, delete, filters_changed, notification)', async () => {
    openStreaming();
    const pub = streaming.public.subscribe()[Symbol.asyncIterator]();
    const user = streaming.user.subscribe()[Symbol.asyncIterator]();
    const notes = streaming.user.notification.subscribe()[Symbol.asyncIterator]();
    const firstPub = nextEvent(pub);
    const firstUser = nextEvent(user);
    const firstNote = nextEvent(notes);
    await subscribed(emu, 'public');
    await subscribed(emu, 'user');
    await subscribed(emu, 'user:notification');

    const update = fixture('streaming_ws_update_event.json');
    await emu.ctl('/__emu/emit', { frame: update });
    const u = await firstPub;
    assert.equal(u.event, 'update');
    assert.deepEqual(u.payload, camel(JSON.parse(update.payload)));
    assert.equal(u.payload.inReplyToId, '108913981098896721');

    await emu.ctl('/__emu/emit', { frame: fixture('streaming_ws_delete_event.json') });
    const d = await nextEvent(pub);
    assert.equal(d.event, 'delete');
    assert.equal(d.payload, '106692867363994015');

    await emu.ctl('/__emu/emit', { frame: fixture('streaming_ws_filters_changed_event.json') });
    const f = await firstUser;
    assert.equal(f.event, 'filters_changed');
    assert.equal(f.payload, undefined);

    const derived = fs.readFileSync(path.join(FIXTURES, 'mastodon', 'derived_streaming_ws_notification_mention_event.json'), 'utf8');
    await emu.ctl('/__emu/emit', { frame: derived });
    const n = await firstNote;
    assert.equal(n.event, 'notification');
    assert.deepEqual(n.payload, camel(fixture('streaming_notification_mention_payload.json')));
  });

  test('fixture payloads published by the emulator as notification / status.update / update', async () => {
    openStreaming();
    const user = streaming.user.subscribe()[Symbol.asyncIterator]();
    const first = nextEvent(user);
    await subscribed(emu, 'user');
    const cases = [
      ['notification', fixture('streaming_notification_mention_payload.json')],
      ['status.update', fixture('streaming_status_update_payload.json')],
      ['update', fixture('status.json')],
    ];
    const got = [];
    for (const [event, payload] of cases) {
      await emu.ctl('/__emu/emit', { event, payload, channel: `timeline:${BRAND_ID}` });
      got.push(got.length === 0 ? await first : await nextEvent(user));
    }
    for (let i = 0; i < cases.length; i++) {
      assert.equal(got[i].event, cases[i][0]);
      assert.deepEqual(got[i].payload, camel(cases[i][1]));
    }
  });

  test('masto\'s own subscribe/unsubscribe frames match the documented requests', async () => {
    openStreaming();
    const sub = streaming.hashtag.local.subscribe({ tag: 'foo' });
    const it = sub[Symbol.asyncIterator]();
    const pending = it.next();
    await subscribed(emu, 'hashtag:local');
    const frames = (await emu.ctl('/__emu/log?kind=ws_frame')).map((e) => JSON.parse(e.data));
    assert.deepEqual(frames[0], fixture('streaming_ws_subscribe_request.json'));
    const u = streaming.user.subscribe();
    const uit = u[Symbol.asyncIterator]();
    const upending = uit.next();
    await subscribed(emu, 'user');
    u.unsubscribe();
    const latest = await waitFor(async () => {
      const frames = (await emu.ctl('/__emu/log?kind=ws_frame')).map((e) => JSON.parse(e.data));
      return frames[frames.length - 1].type === 'unsubscribe' && frames;
    }, 'masto\'s unsubscribe frame');
    assert.deepEqual(latest[latest.length - 1], fixture('streaming_ws_unsubscribe_request.json'));
    streaming.close();
    await Promise.allSettled([pending, upending]);
  });

  test('error bodies equal the fixtures', async () => {
    assert.deepEqual((await emu.api('/api/v1/statuses', { token: 'invalid', form: { status: 'x' } })).body, fixture('error_401_invalid_token.json'));
    assert.deepEqual((await emu.api('/api/v1/statuses', { form: { status: '' } })).body, fixture('error_422_validation.json'));
    assert.deepEqual((await emu.api('/api/v1/streaming')).body, fixture('streaming_http_error_unknown_channel.json'));
    const ws = await openStream(emu, '?stream=unknown');
    assert.deepEqual(await ws.json(), fixture('streaming_ws_error_unknown_stream.json'));
    ws.close();
  });
});
