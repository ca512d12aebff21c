// console_bluesky.test.mjs — agent replies from the console on Bluesky, end to end: the service
// with its console against the Bluesky emulator (Jetstream + PDS + chat). A legal threat becomes
// a case; the agent's public reply is one app.bsky.feed.post record threaded on the customer's
// post (strong refs), the private one one chat message, both exactly once per request_id; the
// public limit is 300 graphemes; the customer's follow-up in the thread joins the case and the
// policy stays silent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { until, sleep } from './lib.mjs';
import { startConsole, Client, PASSWORD, BLUESKY_APP_PASSWORD } from './console.lib.mjs';

let env, alice;
const seg = new Intl.Segmenter('en', { granularity: 'grapheme' });
const graphemes = (s) => [...seg.segment(s)].length;
const THUMB = '👍🏽'; // thumbs up + skin tone modifier: two code points, 8 bytes, one grapheme

before(async () => {
  env = await startConsole([{ name: 'alice', role: 'agent', queues: 'legal,support' }], '',
    { platform: 'bluesky' });
  alice = new Client(env.origin);
  assert.equal((await alice.login('alice')).status, 200, 'alice logs in');
});

after(async () => {
  if (!env) return;
  const ex = await env.stop();
  assert.equal(ex.code, 0, 'clean exit on SIGTERM');
  const logged = env.svc.lines.map((l) => JSON.stringify(l)).join('\n');
  assert.ok(!logged.includes(PASSWORD), 'no agent password in the logs');
  assert.ok(!logged.includes(BLUESKY_APP_PASSWORD), 'no app password in the logs');
});

/** A legal threat from a customer (a handle of the emulator): the shipped policy escalates it to
 * `legal`, urgent. Resolves with the post ({uri, cid, event, record}) and its case. */
async function escalate(author, text = '@acme.test my lawyer will be in touch about the refund') {
  const post = await env.inject({ author, text });
  const c = await until(async () => {
    const r = await alice.get('/api/cases?queue=legal&limit=200');
    return r.json.cases.find((x) => x.thread_id === post.uri);
  }, `a case for ${post.uri}`);
  return { post, c };
}

const detail = async (id) => {
  const r = await alice.get(`/api/cases/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
};
/** The brand's post records answering `uri`. */
const repliesTo = async (uri) => (await env.brandPosts()).filter((r) => r.value.reply?.parent?.uri === uri);
const messagesTo = async (did) => (await env.messages()).filter((m) => m.recipients.includes(did));
const ref = (p) => ({ uri: p.uri, cid: p.cid });

test('a legal threat on Bluesky becomes an urgent legal case, with the Bluesky limit', async () => {
  const { post, c } = await escalate('dave.test');
  assert.equal(c.platform, 'bluesky');
  assert.equal(c.queue, 'legal');
  assert.equal(c.priority, 'urgent');
  assert.equal(c.owner, 'human');
  assert.equal(c.assignee, null);
  const d = await detail(c.id);
  assert.equal(d.case.platform, 'bluesky');
  // 300 graphemes, less the "@dave.test " mention the reply opens with; chat: 1,000
  assert.deepEqual(d.limit, { max: 300 - '@dave.test '.length, unit: 'graphemes' });
  assert.deepEqual(d.limit_private, { max: 1000, unit: 'graphemes' });
  assert.equal(d.posts.length, 1);
  assert.equal(d.posts[0].post_id, post.uri);
  assert.equal(d.posts[0].decision.action, 'escalate');
  assert.equal(d.author.id, post.event.did);
  assert.equal(d.author.handle, 'dave.test');
  assert.deepEqual(d.replies, [], 'nothing queued');
  await sleep(300);
  assert.deepEqual(await repliesTo(post.uri), [], 'nothing said in public');
});

test('a public reply: one post record threaded on the customer\'s post, once per request_id; a follow-up joins the case', async () => {
  const live = await alice.live();
  try {
    const { post, c } = await escalate('alice.test');
    assert.equal((await alice.post(`/api/cases/${c.id}/claim`)).status, 200);

    // over the limit: refused before anything is queued (301 graphemes, 2408 bytes)
    const long = await alice.post(`/api/cases/${c.id}/reply`, { text: THUMB.repeat(301), private: false, request_id: 'too-long' });
    assert.equal(long.status, 400, long.text);
    assert.equal(long.json.error.code, 'invalid');
    assert.match(long.json.error.message, /300 graphemes/);
    let d = await detail(c.id);
    assert.deepEqual(d.replies, []);
    assert.deepEqual(d.events.map((e) => e.kind), ['escalated', 'claimed']);

    const body = { text: 'We are sorry to hear this. Our legal team will contact you by DM today.', private: false, request_id: 'req-alice-1' };
    const [r1, r2] = await Promise.all([
      alice.post(`/api/cases/${c.id}/reply`, body), alice.post(`/api/cases/${c.id}/reply`, body),
    ]);
    assert.equal(r1.status, 202, r1.text);
    assert.equal(r2.status, 202, r2.text);
    assert.equal([r1.json.repeated, r2.json.repeated].filter(Boolean).length, 1, 'the second is a repeat');
    const reply = r1.json.reply || r2.json.reply;
    assert.equal(reply.kind, 'public_reply');

    const [rec] = await until(async () => {
      const a = await repliesTo(post.uri);
      return a.length && a;
    }, 'the reply record');
    assert.equal(rec.repo, env.emu.brand.did, 'written to the brand\'s repo');
    assert.deepEqual(rec.value.reply.root, ref(post), 'root: the customer\'s (root) post');
    assert.deepEqual(rec.value.reply.parent, ref(post), 'parent: the customer\'s post');
    assert.equal(rec.value.text, `@alice.test ${body.text}`, 'the agent\'s text, after a mention');
    assert.deepEqual(rec.value.facets?.[0]?.features, [{ $type: 'app.bsky.richtext.facet#mention', did: post.event.did }]);

    const delivered = await until(() => live.messages.find((m) => m.type === 'case' && m.case.id === c.id && m.event === 'delivered'), 'the delivered push');
    assert.ok(delivered.case.first_responded_at > 0, 'the first response is recorded');
    d = await detail(c.id);
    assert.equal(d.replies.length, 1);
    assert.equal(d.replies[0].kind, 'public_reply');
    assert.equal(d.replies[0].state, 'sent');
    assert.equal(d.replies[0].remote_id, rec.uri);

    // the same request again later: repeated, still one record
    const r3 = await alice.post(`/api/cases/${c.id}/reply`, body);
    assert.equal(r3.status, 202);
    assert.equal(r3.json.repeated, true);
    await sleep(500);
    assert.equal((await repliesTo(post.uri)).length, 1, 'one record');
    const creates = (await env.requests('/xrpc/com.atproto.repo.createRecord')).filter((e) => e.status === 200);
    assert.equal(creates.filter((e) => JSON.parse(e.body || '{}').record?.reply?.parent?.uri === post.uri).length, 1, 'one createRecord');

    // the customer answers the brand's reply (no mention): it joins the case; the policy, which
    // would answer such a reply on a thread of its own, stays silent
    const before = (await env.brandPosts()).length;
    const follow = await env.inject({ author: 'alice.test', text: 'a DM is fine, but I want the refund this week', reply_to: rec.uri, mention_brand: false });
    assert.deepEqual(follow.record.reply.root, ref(post));
    const joined = await until(() => live.messages.find((m) => m.type === 'case' && m.case.id === c.id && m.event === 'post'), 'the post push');
    assert.ok(joined.case.next_due > 0, 'the next-response clock runs');
    // and one more in the thread, answering her own post with a mention
    const again = await env.inject({ author: 'alice.test', text: '@acme.test also, the box was damaged', reply_to: follow.uri });
    await until(async () => (await detail(c.id)).posts.some((p) => p.post_id === again.uri), 'the second follow-up in the case');
    await sleep(500);
    assert.equal((await env.brandPosts()).length, before, 'no automated reply on a human-owned thread');
    d = await detail(c.id);
    assert.deepEqual(d.posts.map((p) => p.post_id), [post.uri, follow.uri, again.uri]);
    assert.equal(d.events.filter((e) => e.kind === 'post').length, 2);
    for (const p of d.posts.slice(1)) assert.match(p.decision.reasons.join(' '), /a human owns this thread/);
    assert.equal(d.replies.length, 1, 'no outbox entry for the follow-ups');

    // the agent answers the latest post: root stays the thread's root, parent is that post
    const r4 = await alice.post(`/api/cases/${c.id}/reply`, { text: 'Noted, thank you.', private: false, request_id: 'req-alice-2' });
    assert.equal(r4.status, 202, r4.text);
    const [rec2] = await until(async () => {
      const a = await repliesTo(again.uri);
      return a.length && a;
    }, 'the reply to the follow-up');
    assert.deepEqual(rec2.value.reply.root, ref(post));
    assert.deepEqual(rec2.value.reply.parent, ref(again));
    await until(async () => (await detail(c.id)).replies.filter((x) => x.state === 'sent').length === 2, 'both replies sent');
  } finally {
    live.ws.close();
  }
});

test('a private reply: one chat message to the customer, once per request_id', async () => {
  const { post, c } = await escalate('bob.test');
  const did = post.event.did;
  assert.equal((await alice.post(`/api/cases/${c.id}/claim`)).status, 200);
  const body = { text: 'Hi Bob, could you send us your order number here? We will sort the refund out.', private: true, request_id: 'req-bob-1' };
  const [r1, r2] = await Promise.all([
    alice.post(`/api/cases/${c.id}/reply`, body), alice.post(`/api/cases/${c.id}/reply`, body),
  ]);
  assert.equal(r1.status, 202, r1.text);
  assert.equal(r2.status, 202, r2.text);
  assert.equal([r1.json.repeated, r2.json.repeated].filter(Boolean).length, 1, 'the second is a repeat');
  assert.equal((r1.json.reply || r2.json.reply).kind, 'direct_message');
  const [msg] = await until(async () => {
    const m = await messagesTo(did);
    return m.length && m;
  }, 'the chat message');
  assert.equal(msg.sender.did, env.emu.brand.did);
  assert.equal(msg.text, body.text);
  const sends = await env.requests('/xrpc/chat.bsky.convo.sendMessage');
  assert.ok(sends.length >= 1);
  for (const e of sends) assert.equal(e.headers['atproto-proxy'], 'did:web:api.bsky.chat#bsky_chat');
  const d = await until(async () => {
    const x = await detail(c.id);
    return x.replies.length === 1 && x.replies[0].state === 'sent' && x;
  }, 'the DM recorded as sent');
  assert.equal(d.replies[0].kind, 'direct_message');
  assert.equal(d.replies[0].remote_id, msg.id);

  const r3 = await alice.post(`/api/cases/${c.id}/reply`, body);
  assert.equal(r3.json.repeated, true);
  await sleep(500);
  assert.equal((await messagesTo(did)).length, 1, 'one chat message');
  assert.deepEqual(await repliesTo(post.uri), [], 'nothing in public');
});

test('the public limit is 300 graphemes with the mention: one more refused, the rest posted within it', async () => {
  const { post, c } = await escalate('carol.test');
  assert.equal((await alice.post(`/api/cases/${c.id}/claim`)).status, 200);
  const room = 300 - '@carol.test '.length;
  const over = await alice.post(`/api/cases/${c.id}/reply`, { text: THUMB.repeat(room + 1), request_id: 'carol-301' });
  assert.equal(over.status, 400, over.text);
  assert.equal(over.json.error.code, 'invalid');
  assert.match(over.json.error.message, /counting the mention @carol\.test/);
  // a text that opens with the mention itself has the whole 300
  const own = await alice.post(`/api/cases/${c.id}/reply`, { text: '@carol.test ' + THUMB.repeat(room + 1), request_id: 'carol-own' });
  assert.equal(own.status, 400, 'still over: the mention counts either way');
  assert.equal(graphemes(THUMB.repeat(room)), room);
  const ok = await alice.post(`/api/cases/${c.id}/reply`, { text: THUMB.repeat(room), private: false, request_id: 'carol-300' });
  assert.equal(ok.status, 202, ok.text);
  assert.equal(ok.json.reply.kind, 'public_reply');
  const [rec] = await until(async () => {
    const a = await repliesTo(post.uri);
    return a.length && a;
  }, 'the 300-grapheme reply');
  assert.ok(graphemes(rec.value.text) <= 300, `the record is within Bluesky's limit (${graphemes(rec.value.text)})`);
  const d = await until(async () => {
    const x = await detail(c.id);
    return x.replies[0]?.state === 'sent' && x;
  }, 'the reply recorded as sent');
  assert.equal(d.replies[0].remote_id, rec.uri);
  assert.equal(d.replies.length, 1, 'the refused one left nothing');
});

// The Bluesky sender opens a public reply with "@handle " (a mention facet) and cuts the whole
// to 300 graphemes: the limit the console advertises leaves room for it, so a reply of exactly
// that length reaches the customer whole.
test('a public reply of exactly the advertised limit reaches the customer whole', async () => {
  const { post, c } = await escalate('dave.test', '@acme.test my lawyer will be in touch about the refund, again');
  assert.equal((await alice.post(`/api/cases/${c.id}/claim`)).status, 200);
  const { limit } = await detail(c.id);
  const text = THUMB.repeat(limit.max);
  const r = await alice.post(`/api/cases/${c.id}/reply`, { text, request_id: 'dave-limit' });
  assert.equal(r.status, 202, r.text);
  const [rec] = await until(async () => {
    const a = await repliesTo(post.uri);
    return a.length && a;
  }, 'the reply record');
  assert.ok(rec.value.text.includes(text), `the whole text was posted (got ${graphemes(rec.value.text)} graphemes, ending ${JSON.stringify(rec.value.text.slice(-3))})`);
});
