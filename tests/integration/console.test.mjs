// console.test.mjs — the agent console's HTTP and WebSocket API against a running service and
// the Mastodon emulator: authentication, CSRF and Origin checks, roles, claim races, replies
// that reach the platform exactly once, a customer's follow-up joining the case, live pushes,
// input validation, health and metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { until, sleep } from './lib.mjs';
import { startConsole, Client, PASSWORD } from './console.lib.mjs';

let env, alice, bob, sue, carl;

before(async () => {
  env = await startConsole([
    { name: 'alice', role: 'agent', queues: 'legal,support' },
    { name: 'bob', role: 'agent', queues: 'legal,support' },
    { name: 'carl', role: 'agent', queues: 'billing' },
    { name: 'sue', role: 'supervisor' },
  ]);
  alice = new Client(env.origin);
  bob = new Client(env.origin);
  carl = new Client(env.origin);
  sue = new Client(env.origin);
  for (const [c, n] of [[alice, 'alice'], [bob, 'bob'], [carl, 'carl'], [sue, 'sue']])
    assert.equal((await c.login(n)).status, 200, `${n} logs in`);
});

after(async () => {
  if (env) {
    const ex = await env.stop();
    assert.equal(ex.code, 0, 'clean exit on SIGTERM');
    const leaked = env.svc.lines.filter((l) => JSON.stringify(l).includes(PASSWORD));
    assert.equal(leaked.length, 0, 'no password in the logs');
  }
});

/** A legal threat: the shipped policy escalates it to `legal`, urgent, with nothing public. */
async function escalate(account, text = 'This is the third time. My lawyer will be in touch about the refund.') {
  const { status } = await env.inject({ account, text });
  const c = await until(async () => {
    const r = await alice.get('/api/cases?queue=legal&limit=200');
    return r.json.cases.find((x) => x.thread_id === status.id);
  }, `a case for ${status.id}`);
  return { status, c };
}

test('the console page, health and readiness need no session; the API does', async () => {
  const anon = new Client(env.origin);
  const page = await fetch(env.url);
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.match(await page.text(), /<script[^>]+src=/);
  assert.equal((await fetch(env.origin + '/healthz')).status, 200);
  await until(async () => (await fetch(env.origin + '/readyz')).status === 200, 'ready');
  for (const p of ['/api/me', '/api/cases', '/api/queues', '/api/cases/1'])
    assert.equal((await anon.get(p)).status, 401, p);
  const r = await anon.get('/api/me');
  assert.equal(r.json.error.code, 'unauthenticated');
  assert.equal((await anon.get('/nope.html')).status, 404);
  assert.equal((await anon.get('/../../etc/passwd')).status >= 400, true);
});

test('login: cookie flags, one answer for wrong name and wrong password, rate limited', async () => {
  assert.match(alice.setCookie, /HttpOnly/);
  assert.match(alice.setCookie, /SameSite=Strict/);
  assert.match(alice.setCookie, /Max-Age=\d+/);
  const me = await alice.get('/api/me');
  assert.equal(me.status, 200);
  assert.equal(me.json.agent.name, 'alice');
  assert.equal(me.json.agent.role, 'agent');
  assert.deepEqual(me.json.agent.queues, ['legal', 'support']);
  assert.equal(typeof me.json.csrf, 'string');
  assert.ok(me.json.queues.find((q) => q.name === 'legal' && q.first_response === 900));
  assert.equal(JSON.stringify(me.json).includes('argon2'), false, 'no hash in responses');

  const x = new Client(env.origin);
  const wrongPw = await x.login('alice', 'not the password');
  const noUser = await x.login('mallory', 'whatever password');
  assert.equal(wrongPw.status, 401);
  assert.equal(noUser.status, 401);
  assert.deepEqual(wrongPw.json, noUser.json);
  assert.equal((await x.post('/api/login', '{"name": 1}')).status, 400);
  // five failures for one name in five minutes: the sixth attempt is refused outright
  for (let i = 0; i < 4; i++) await x.login('mallory', 'wrong password ' + i);
  const limited = await x.login('mallory', 'another wrong one');
  assert.equal(limited.status, 429);
  assert.equal(limited.json.error.code, 'rate_limited');
  assert.ok(Number(limited.headers.get('retry-after')) > 0);

  const out = new Client(env.origin);
  await out.login('bob');
  const live = await out.live();
  const closed = new Promise((r) => live.ws.on('close', (code) => r(code)));
  assert.equal((await out.post('/api/logout')).status, 200);
  assert.equal(out.cookie, null, 'cookie cleared');
  assert.equal(await closed, 1008, 'the console of that session is closed');
});

test('state changes need the CSRF token, JSON, and the console origin', async () => {
  const { c } = await escalate('csrf1');
  const noToken = await alice.post(`/api/cases/${c.id}/claim`, {}, { 'x-csrf-token': '' });
  assert.equal(noToken.status, 403);
  assert.equal(noToken.json.error.code, 'csrf');
  const wrong = await alice.post(`/api/cases/${c.id}/claim`, {}, { 'x-csrf-token': 'f'.repeat(64) });
  assert.equal(wrong.status, 403);
  const foreign = await alice.post(`/api/cases/${c.id}/claim`, {}, { origin: 'https://evil.example' });
  assert.equal(foreign.status, 403);
  const form = await alice.req('POST', `/api/cases/${c.id}/note`, 'text=hi', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.equal(form.status, 400);
  const after = await alice.get(`/api/cases/${c.id}`);
  assert.equal(after.json.case.assignee, null, 'nothing changed');
});

test('an escalated post appears live on the consoles that may see it, with its trace', async () => {
  const liveAlice = await alice.live();
  const liveCarl = await carl.live();
  const { status, c } = await escalate('dana', 'I will see you in court over this broken blender. My lawyer will be in touch.');
  assert.equal(c.owner, 'human');
  assert.equal(c.queue, 'legal');
  assert.equal(c.priority, 'urgent');
  assert.equal(c.assignee, null);
  assert.ok(c.first_due > c.created_at, 'the first-response clock runs');
  const push = await until(() => liveAlice.messages.find((m) => m.type === 'case' && m.case.id === c.id), 'the push');
  assert.equal(push.event, 'escalated');
  await sleep(200);
  assert.equal(liveCarl.messages.some((m) => m.type === 'case' && m.case.id === c.id), false, 'billing agent not told');
  const d = (await alice.get(`/api/cases/${c.id}`)).json;
  assert.equal(d.posts.length, 1);
  assert.equal(d.posts[0].post_id, status.id);
  assert.equal(d.posts[0].decision.action, 'escalate');
  assert.ok(d.posts[0].decision.reasons.some((r) => /legal/.test(r)));
  assert.match(d.posts[0].decision.policy_version, /^[0-9a-f]+/);
  assert.equal(d.events[0].kind, 'escalated');
  assert.equal(d.author.handle.startsWith('dana'), true);
  // 500 characters less the "@dana " the reply opens with (the sender adds it)
  assert.deepEqual(d.limit, { max: 500 - '@dana '.length, unit: 'characters' });
  assert.deepEqual(d.limit_private, { max: 500 - '@dana '.length, unit: 'characters' });
  assert.equal((await carl.get(`/api/cases/${c.id}`)).status, 403, 'not in her queue');
  liveAlice.ws.close();
  liveCarl.ws.close();
});

test('the WebSocket refuses a foreign Origin and a missing session (403)', async () => {
  await assert.rejects(alice.live('https://evil.example'), (e) => e.status === 403);
  await assert.rejects(new Client(env.origin).live(), (e) => e.status === 403);
});

test('claim race: two agents, one winner; the loser is told who has it', async () => {
  const { c } = await escalate('erin');
  const [a, b] = await Promise.all([
    alice.post(`/api/cases/${c.id}/claim`), bob.post(`/api/cases/${c.id}/claim`),
  ]);
  const statuses = [a.status, b.status].sort();
  assert.deepEqual(statuses, [200, 409]);
  const loser = a.status === 409 ? a : b;
  const winner = a.status === 200 ? 'alice' : 'bob';
  assert.equal(loser.json.error.code, 'claimed');
  assert.match(loser.json.error.message, new RegExp(`claimed by ${winner}`));
  const d = (await sue.get(`/api/cases/${c.id}`)).json;
  assert.equal(d.case.assignee.name, winner);
  assert.equal(d.events.filter((e) => e.kind === 'claimed').length, 1);
});

test('a private reply reaches the platform exactly once; its delivery shows; a follow-up joins the case', async () => {
  const live = await alice.live();
  const { status, c } = await escalate('fred');
  assert.equal((await alice.post(`/api/cases/${c.id}/claim`)).status, 200);
  // only the holder may reply
  const intruder = await bob.post(`/api/cases/${c.id}/reply`, { text: 'hi', private: true, request_id: 'b1' });
  assert.equal(intruder.status, 409);
  const body = { text: 'Sorry about this, Fred. Could you send us your order number here?', private: true, request_id: 'req-fred-1' };
  const [r1, r2] = await Promise.all([
    alice.post(`/api/cases/${c.id}/reply`, body), alice.post(`/api/cases/${c.id}/reply`, body),
  ]);
  assert.equal(r1.status, 202);
  assert.equal(r2.status, 202);
  assert.equal([r1.json.repeated, r2.json.repeated].filter(Boolean).length, 1, 'the second is a repeat');
  assert.equal(r1.json.reply.kind, 'direct_message');
  const dms = async () => (await env.brandStatuses()).filter((s) => s.visibility === 'direct' && s.in_reply_to_id === status.id);
  await until(async () => (await dms()).length === 1, 'one DM');
  const delivered = await until(() => live.messages.find((m) => m.type === 'case' && m.case.id === c.id && m.event === 'delivered'), 'the delivered push');
  assert.ok(delivered.case.first_responded_at > 0);
  const d = (await alice.get(`/api/cases/${c.id}`)).json;
  const reply = d.replies.find((x) => x.kind === 'direct_message');
  assert.equal(reply.state, 'sent');
  assert.ok(reply.remote_id);
  // same request again later: still one DM
  const r3 = await alice.post(`/api/cases/${c.id}/reply`, body);
  assert.equal(r3.json.repeated, true);
  await sleep(500);
  assert.equal((await dms()).length, 1);

  // the customer answers in the thread: it joins the case, the policy stays silent
  const before = (await env.brandStatuses()).length;
  const { status: follow } = await env.inject({ account: 'fred', text: 'my order is 5512, thanks. Is it coming?', in_reply_to_id: status.id });
  const joined = await until(() => live.messages.find((m) => m.type === 'case' && m.case.id === c.id && m.event === 'post'), 'the post push');
  assert.ok(joined.case.next_due > 0, 'the next-response clock runs');
  await sleep(500);
  assert.equal((await env.brandStatuses()).length, before, 'no automated reply on a human-owned thread');
  const d2 = (await alice.get(`/api/cases/${c.id}`)).json;
  assert.ok(d2.posts.find((p) => p.post_id === follow.id));
  live.ws.close();
});

test('an edit shows in the case; on a human-owned thread it is not decided again', async () => {
  const { status, c } = await escalate('ivan');
  const r = await fetch(env.base + '/__emu/edit', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: status.id, text: 'EDIT: my lawyer is drafting the letter today.' }),
  });
  assert.equal(r.status, 200);
  const d = await until(async () => {
    const x = (await alice.get(`/api/cases/${c.id}`)).json;
    return x.posts[0].text.includes('drafting the letter') && x;
  }, 'the edited text in the case');
  assert.equal(d.events.filter((e) => e.kind === 'escalated').length, 1);
  await until(() => env.svc.events('edited').some((e) => e.post_id === status.id && /human owns/.test(e.detail)), 'the edit logged');
});

test('notes, transfer, resolve and reopen, with roles', async () => {
  const { c } = await escalate('gina');
  assert.equal((await alice.post(`/api/cases/${c.id}/claim`)).status, 200);
  const note = await alice.post(`/api/cases/${c.id}/note`, { text: 'Customer is a journalist; careful.' });
  assert.equal(note.status, 200);
  assert.equal(note.json.event.kind, 'note');
  // bob may not resolve alice's case; the supervisor may
  assert.equal((await bob.post(`/api/cases/${c.id}/resolve`)).status, 409);
  // transfer to billing: alice (not in billing) loses sight of it — her console is told, so
  // her list drops it — and carl sees it
  const live = await alice.live();
  const t = await alice.post(`/api/cases/${c.id}/transfer`, { queue: 'billing' });
  const gone = await until(() => live.messages.find((m) => m.type === 'case' && m.case.id === c.id && m.event === 'transferred'), 'the transfer push');
  assert.equal(gone.case.queue, 'billing');
  live.ws.close();
  assert.equal(t.status, 200);
  assert.equal(t.json.case.queue, 'billing');
  assert.equal((await carl.get(`/api/cases/${c.id}`)).status, 200);
  assert.equal((await alice.post(`/api/cases/${c.id}/transfer`, { queue: 'nope' })).status, 403);
  assert.equal((await sue.post(`/api/cases/${c.id}/transfer`, { queue: 'nope' })).status, 400);
  assert.equal((await sue.post(`/api/cases/${c.id}/transfer`, { agent: 'alice' })).status, 400, 'alice is not in billing');
  const r = await sue.post(`/api/cases/${c.id}/transfer`, { agent: 'carl' });
  assert.equal(r.status, 200);
  assert.equal(r.json.case.assignee.name, 'carl');
  const res = await carl.post(`/api/cases/${c.id}/resolve`);
  assert.equal(res.status, 200);
  assert.equal(res.json.case.owner, 'closed');
  assert.equal((await carl.post(`/api/cases/${c.id}/reply`, { text: 'x', request_id: 'z' })).status, 409);
  assert.equal((await carl.post(`/api/cases/${c.id}/resolve`)).status, 409);
  const ro = await carl.post(`/api/cases/${c.id}/reopen`);
  assert.equal(ro.status, 200);
  assert.equal(ro.json.case.owner, 'human');
  const kinds = (await sue.get(`/api/cases/${c.id}`)).json.events.map((e) => e.kind);
  assert.deepEqual(kinds, ['escalated', 'claimed', 'note', 'transferred', 'transferred', 'resolved', 'reopened']);
});

test('invalid input gets a clear 4xx and changes nothing', async () => {
  const { c } = await escalate('hank');
  await alice.post(`/api/cases/${c.id}/claim`);
  const bad = [
    [`/api/cases/${c.id}/note`, '{"text": '],
    [`/api/cases/${c.id}/note`, '[1,2]'],
    [`/api/cases/${c.id}/note`, { text: 42 }],
    [`/api/cases/${c.id}/note`, { text: '' }],
    [`/api/cases/${c.id}/reply`, { text: 'x'.repeat(501), private: false, request_id: 'long1' }],
    [`/api/cases/${c.id}/reply`, { text: 'ok', private: 'yes', request_id: 'r' }],
    [`/api/cases/${c.id}/reply`, { text: 'ok', request_id: 'bad id!' }],
    [`/api/cases/${c.id}/reply`, { text: 'ok' }],
  ];
  for (const [p, b] of bad) {
    const r = await alice.post(p, b);
    assert.equal(r.status, 400, `${p} ${JSON.stringify(b)}: ${r.text}`);
    assert.equal(r.json.error.code, 'invalid');
  }
  assert.equal((await alice.post('/api/cases/999999/claim')).status, 404);
  assert.equal((await alice.post(`/api/cases/${c.id}/fly`)).status, 404);
  assert.equal((await alice.get(`/api/cases/${c.id}/claim`)).status, 405);
  assert.equal((await alice.get('/api/cases?limit=0')).status, 400);
  assert.equal((await alice.get('/api/cases?owner=robot')).status, 400);
  assert.equal((await alice.get('/api/cases?after=xyz')).status, 400);
  assert.equal((await alice.get('/api/cases?queue=billing')).status, 403);
  const huge = await alice.post(`/api/cases/${c.id}/note`, { text: 'x'.repeat(70000) });
  assert.equal(huge.status, 413);
  const d = (await alice.get(`/api/cases/${c.id}`)).json;
  assert.deepEqual(d.events.map((e) => e.kind), ['escalated', 'claimed']);
  assert.equal(d.replies.length, 0);
});

test('roles: agents cannot list agents; supervisors see every queue and who is online', async () => {
  assert.equal((await alice.get('/api/agents')).status, 403);
  const live = await alice.live();
  const ag = await sue.get('/api/agents');
  assert.equal(ag.status, 200);
  assert.ok(ag.json.agents.find((a) => a.name === 'alice' && a.online >= 1));
  assert.equal(JSON.stringify(ag.json).includes('argon2'), false);
  const q = await sue.get('/api/queues');
  assert.ok(q.json.queues.find((x) => x.name === 'billing'));
  assert.ok(q.json.queues.find((x) => x.name === 'legal' && x.open >= 1));
  assert.ok(q.json.agents.find((a) => a.name === 'alice'));
  const qa = await alice.get('/api/queues');
  assert.equal(qa.json.queues.some((x) => x.name === 'billing'), false);
  live.ws.close();
});

test('pagination: pages follow the order, with no duplicates', async () => {
  for (const a of ['p1', 'p2', 'p3']) await escalate(a);
  const all = (await sue.get('/api/cases?queue=legal&limit=200')).json.cases;
  const seen = [];
  let next = null;
  do {
    const r = await sue.get(`/api/cases?queue=legal&limit=2${next ? `&after=${next}` : ''}`);
    assert.equal(r.status, 200);
    seen.push(...r.json.cases.map((x) => x.id));
    next = r.json.next;
  } while (next);
  assert.deepEqual(seen, all.map((x) => x.id));
  const prio = ['urgent', 'high', 'normal', 'low'];
  for (let i = 1; i < all.length; i++)
    assert.ok(prio.indexOf(all[i - 1].priority) <= prio.indexOf(all[i].priority), 'priority order');
});

test('/metrics speaks Prometheus text with the service counters', async () => {
  const r = await fetch(env.origin + '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/plain; version=0\.0\.4/);
  const t = await r.text();
  assert.match(t, /^switchboard_posts_in_total\{platform="mastodon"\} [1-9]/m);
  assert.match(t, /^switchboard_decisions_total\{action="escalate"\} [1-9]/m);
  assert.match(t, /^switchboard_first_response_seconds_count\{by="agent"\} [1-9]/m);
  assert.match(t, /^switchboard_queue_depth\{queue="legal"\} [1-9]/m);
  assert.match(t, /^switchboard_policy_latency_seconds_bucket\{le="\+Inf"\} [1-9]/m);
  assert.match(t, /^switchboard_outbox_sent_total [1-9]/m);
  assert.match(t, /^# TYPE switchboard_sla_breaches gauge/m);
});
