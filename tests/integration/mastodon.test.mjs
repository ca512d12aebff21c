// mastodon.test.mjs — switchboard run against the Mastodon emulator, end to end: every post
// that reaches the brand is decided once and answered at most once, through disconnects,
// 429/5xx storms, duplicate deliveries, lost responses and bad frames.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startService, until, sleep, postJSON, getJSON, sbBin } from './lib.mjs';

const require = createRequire(import.meta.url);
const { start } = require('../emulators/mastodon/server.js');

let emu, base, svc;

const brandReplies = () => getJSON(base, '/__emu/statuses?created_by=brand');
const repliesTo = async (id) => (await brandReplies()).filter((s) => s.in_reply_to_id === id);
const inject = (b) => postJSON(base, '/__emu/inject', { deliver: 'stream', ...b });
const decided = (id) => svc.events('decided').filter((e) => e.post_id === id);

before(async () => {
  emu = await start({ port: 0, pingMs: 1000 });
  base = `http://127.0.0.1:${emu.port}`;
  svc = startService(`{ platform = "mastodon", name = "acme", base_url = "${base}", token = "brand-token" }`);
  await until(() => svc.events('stream_open').length, 'the stream to open');
});

beforeEach(async () => {
  await postJSON(base, '/__emu/faults/clear', {});
});

// Mastodon's X-RateLimit-Reset: ISO 8601 with 6 fractional digits.
const iso6 = (ms) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

after(async () => {
  if (svc) {
    const ex = await svc.stop('SIGTERM');
    assert.equal(ex.code, 0, 'clean exit on SIGTERM');
  }
  await emu?.close();
});

test('a complaint is acknowledged publicly, once, mentioning the author', async () => {
  const { status } = await inject({ account: 'alice', text: 'my order is late and nobody answers. really annoyed' });
  const [r] = await until(() => repliesTo(status.id).then((a) => a.length && a), 'the reply');
  assert.equal(r.visibility, 'public');
  assert.match(r.content, /alice/);
  await sleep(300);
  assert.equal((await repliesTo(status.id)).length, 1);
  const log = (await getJSON(base, '/__emu/log')).filter((l) => l.method === 'POST' && l.path === '/api/v1/statuses');
  const mine = log.filter((l) => (l.body || '').includes(`in_reply_to_id=${status.id}`));
  assert.equal(mine.length, 1);
  assert.match(mine[0].headers['idempotency-key'], /^[0-9a-f]{32}$/);
});

test('an order problem moves to private: a public reply and one direct message', async () => {
  const { status } = await inject({ account: 'bob', text: 'I was charged twice for order 5512, can you check my account?' });
  const rs = await until(() => repliesTo(status.id).then((a) => a.length === 2 && a), 'reply + DM');
  const dm = rs.find((s) => s.visibility === 'direct');
  assert.ok(dm, 'a direct message');
  assert.ok(dm.mentions.some((m) => m.acct.startsWith('bob')), 'the DM mentions its recipient');
  assert.ok(rs.find((s) => s.visibility === 'public'));
});

test('a legal threat is escalated and nothing is said in public', async () => {
  const { status } = await inject({ account: 'zoe', text: 'this is unacceptable, my lawyer will be in touch' });
  await until(() => decided(status.id).length, 'the decision');
  assert.equal(decided(status.id)[0].action, 'escalate');
  assert.equal(decided(status.id)[0].queue, 'legal');
  await sleep(300);
  assert.equal((await repliesTo(status.id)).length, 0);
});

test('a bot is ignored', async () => {
  const { status } = await inject({ account: 'rivalbot', text: 'Beep! 20% off today' });
  await until(() => decided(status.id).length, 'the decision');
  assert.equal(decided(status.id)[0].action, 'ignore');
  await sleep(200);
  assert.equal((await repliesTo(status.id)).length, 0);
});

test('a duplicate delivery gets one reply', async () => {
  const { status } = await inject({ account: 'alice', text: 'love the new kettle, thanks!', duplicate: 2 });
  await until(() => repliesTo(status.id).then((a) => a.length), 'the reply');
  await sleep(400);
  assert.equal((await repliesTo(status.id)).length, 1);
  assert.equal(decided(status.id).length, 1);
});

test('429 then 5xx: the reply is delayed, never duplicated, never lost', async () => {
  // the reset header says when to come back: 1.5 s from now (the real window is 5 min)
  await postJSON(base, '/__emu/fault', { kind: 'http_status', status: 429, count: 1, path: '/api/v1/statuses',
    headers: { 'X-RateLimit-Reset': iso6(Date.now() + 1500) } });
  await postJSON(base, '/__emu/fault', { kind: 'http_status', status: 503, count: 1, path: '/api/v1/statuses' });
  const { status } = await inject({ account: 'carla', text: 'thanks for the quick help yesterday' });
  await until(() => repliesTo(status.id).then((a) => a.length), 'the reply after the storm', 30000);
  await sleep(300);
  assert.equal((await repliesTo(status.id)).length, 1);
  assert.ok(svc.events('outbox').some((e) => e.outcome === 'retry'), 'retries were logged');
});

test('a lost response after the platform applied the effect: no second post', async () => {
  await postJSON(base, '/__emu/fault', { kind: 'lost_response', count: 1, path: '/api/v1/statuses' });
  const { status } = await inject({ account: 'alice', text: 'is the X200 charger compatible with the X100?' });
  await until(() => svc.events('outbox').some((e) => e.target === status.id && e.outcome === 'sent'), 'sent after the retry', 30000);
  assert.equal((await repliesTo(status.id)).length, 1);
  const posts = (await getJSON(base, '/__emu/log')).filter((l) => l.method === 'POST' && l.path === '/api/v1/statuses' && (l.body || '').includes(status.id));
  assert.ok(posts.length >= 2, 'the request was repeated');
  assert.equal(new Set(posts.map((p) => p.headers['idempotency-key'])).size, 1, 'with the same key');
});

test('a dropped stream: posts made while disconnected are answered once after catch-up', async () => {
  const opens = svc.events('stream_open').length;
  // "missed": the stream never delivers it, only the catch-up after the reconnect can
  const { status } = await inject({ account: 'bob', text: 'my parcel never arrived, so frustrating', deliver: 'missed' });
  await postJSON(base, '/__emu/fault', { kind: 'drop_stream' });
  await until(() => svc.events('stream_open').length > opens, 'the reconnect', 15000);
  await until(() => repliesTo(status.id).then((a) => a.length), 'the caught-up reply', 15000);
  await sleep(300);
  assert.equal((await repliesTo(status.id)).length, 1);
});

test('malformed and oversized frames: one log line each, the service keeps going', async () => {
  const bad = svc.events('stream_frame_invalid').length;
  await postJSON(base, '/__emu/fault', { kind: 'malformed_frame' });
  await until(() => svc.events('stream_frame_invalid').length > bad, 'the malformed frame to be reported');
  const closes = svc.events('stream_closed').length;
  const opens = svc.events('stream_open').length;
  const { status } = await inject({ account: 'zoe', text: 'great service today, thank you', deliver: 'missed' });
  await postJSON(base, '/__emu/fault', { kind: 'oversized_frame', bytes: 2 * 1024 * 1024 });
  await until(() => svc.events('stream_closed').length > closes, 'the oversized frame to close the stream', 15000);
  assert.match(svc.events('stream_closed').at(-1).detail, /1009/);
  await until(() => svc.events('stream_open').length > opens, 'the reconnect', 15000);
  await until(() => repliesTo(status.id).then((a) => a.length), 'a reply after the reconnect', 15000);
});

test('an edit before the reply goes out: the pending reply is cancelled and the post re-decided', async () => {
  // the platform rate-limits for 3 s, so the praise reply waits in the outbox
  await postJSON(base, '/__emu/fault', { kind: 'http_status', status: 429, count: 1, path: '/api/v1/statuses',
    headers: { 'X-RateLimit-Reset': iso6(Date.now() + 3000) } });
  const { status } = await inject({ account: 'zoe', text: 'love the new kettle, thank you!' });
  await until(() => svc.events('outbox').some((e) => e.target === status.id && e.outcome === 'retry'), 'the reply to wait');
  await postJSON(base, '/__emu/edit', { id: status.id, text: 'the kettle stopped working after a day, my lawyer will hear about this' });
  await until(() => decided(status.id).length === 2, 'the second decision');
  const second = decided(status.id)[1];
  assert.equal(second.action, 'escalate');
  assert.equal(second.queue, 'legal');
  assert.match(second.reasons, /re-decided: the post was edited/);
  await until(() => svc.events('case').some((e) => e.thread === status.id && e.kind === 'escalated' && e.queue === 'legal'), 'a case for the edit');
  await sleep(3500); // past the rate limit: the cancelled praise must not go out
  assert.equal((await repliesTo(status.id)).length, 0);
});

test('an edit after the reply went out is recorded, not answered again', async () => {
  const { status } = await inject({ account: 'alice', text: 'my order is late again, so annoying' });
  await until(() => repliesTo(status.id).then((a) => a.length), 'the reply');
  await postJSON(base, '/__emu/edit', { id: status.id, text: 'my order is late again, so annoying!!' });
  await until(() => svc.events('edited').some((e) => e.post_id === status.id), 'the edit to be noted');
  await sleep(300);
  assert.equal((await repliesTo(status.id)).length, 1);
  assert.equal(decided(status.id).length, 1);
});

test('ctx.history: an author\'s fourth post in a day reaches a human (the policy\'s repeat rule)', async () => {
  await postJSON(base, '/__emu/accounts', { username: 'repeater', display_name: 'Rae Peater', followers_count: 40 });
  for (const text of ['hello there', 'anyone around?', 'still waiting for an answer']) {
    const { status } = await inject({ account: 'repeater', text });
    await until(() => decided(status.id).length, 'a decision');
  }
  const { status } = await inject({ account: 'repeater', text: 'this is so disappointing, my order is late' });
  await until(() => decided(status.id).length, 'the decision');
  const d = decided(status.id)[0];
  assert.equal(d.action, 'escalate');
  assert.equal(d.queue, 'support');
  assert.match(d.reasons, /repeat author: 3 posts in 24h/);
});

test('a refused reply goes to the dead letters, visible with `switchboard outbox`', async () => {
  await postJSON(base, '/__emu/fault', { kind: 'http_status', status: 422, count: 1, path: '/api/v1/statuses',
    body: JSON.stringify({ error: 'Validation failed: Text character limit of 500 exceeded' }),
    content_type: 'application/json' });
  const { status } = await inject({ account: 'carla', text: 'my kettle is broken, so disappointing' });
  await until(() => svc.events('outbox').some((e) => e.target === status.id && e.outcome === 'dead'), 'the dead letter');
  assert.equal((await repliesTo(status.id)).length, 0, 'nothing was posted');
  const out = execFileSync(sbBin, ['outbox', '--db', path.join(svc.dir, 'sb.db'), '--state', 'dead']).toString();
  assert.match(out, new RegExp(`dead .*${status.id}`));
  assert.match(out, /422: Validation failed: Text character limit of 500 exceeded/);
});

test('the brand\'s own posts are never answered (no reply loops)', async () => {
  // every reply the brand made so far was echoed on its user stream as an "update"
  const mine = await brandReplies();
  assert.ok(mine.length >= 5, 'the earlier tests made replies');
  const ids = new Set(mine.map((s) => s.id));
  assert.deepEqual(svc.lines.filter((l) => l.event === 'decided' && ids.has(l.post_id)), []);
  assert.deepEqual(mine.filter((s) => ids.has(s.in_reply_to_id)), [], 'no reply to a reply of ours');
});

test('reply budgets: past its budget an author gets a human, not another automated reply', async () => {
  const emu2 = await start({ port: 0, pingMs: 1000 });
  const b2 = `http://127.0.0.1:${emu2.port}`;
  const svc2 = startService(`{ platform = "mastodon", name = "acme", base_url = "${b2}", token = "brand-token" }`,
    '  reply_budget_per_author = 1,\n  reply_budget_per_bot = 0,\n');
  try {
    await until(() => svc2.events('stream_open').length, 'the second service');
    const inj = (b) => postJSON(b2, '/__emu/inject', { deliver: 'stream', ...b });
    const dec = (id) => svc2.events('decided').filter((e) => e.post_id === id);
    const { status: first } = await inj({ account: 'zoe', text: 'thanks, love the kettle!' });
    await until(() => dec(first.id).length, 'the first decision');
    assert.equal(dec(first.id)[0].action, 'acknowledge');
    const { status: second } = await inj({ account: 'zoe', text: 'and the toaster is great too, thanks!' });
    await until(() => dec(second.id).length, 'the second decision');
    assert.equal(dec(second.id)[0].action, 'escalate');
    assert.match(dec(second.id)[0].reasons, /guardrail: reply budget reached \(1 automated answers to this author/);
    await sleep(300);
    const replies = (await getJSON(b2, '/__emu/statuses?created_by=brand')).filter((s) => s.in_reply_to_id === second.id);
    assert.equal(replies.length, 0, 'nothing said in public past the budget');
  } finally {
    const ex = await svc2.stop('SIGTERM');
    assert.equal(ex.code, 0);
    await emu2.close();
  }
});
