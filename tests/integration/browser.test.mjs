// browser.test.mjs — the agent console in a real browser (playwright-core driving Debian's
// Chromium) against the service and the Mastodon emulator: sign in through the form, an escalated
// post arriving live, claim, a private reply that reaches the platform exactly once and shows as
// delivered, resolve, and a second agent refused a case another holds. Both pages must run without
// console errors or CSP violations. Screenshots of the key moments go to $SB_ARTIFACTS (default
// <repo>/build/artifacts/console).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { until, sleep, repo } from './lib.mjs';
import { startConsole, Client, PASSWORD } from './console.lib.mjs';

const require = createRequire(import.meta.url);
const { chromium } = require('../emulators/node_modules/playwright-core');

const CHROMIUM = process.env.SB_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.SB_ARTIFACTS || path.join(repo, 'build/artifacts/console');
const WAIT = 10000; // every browser wait
const T = { timeout: 30000 }; // every test

let env, browser, api;
const pages = {}; // name → {ctx, page, problems: [string], navigations: n}
const shared = {}; // state handed from one step to the next

/**
 * HTTP errors the scenario provokes on purpose, per page; Chromium logs each as a console error
 * ("Failed to load resource: … status of 401"). Anything else logged as an error fails the test.
 */
const BOOT_PROBE = { status: 401, path: /^\/api\/me$/ }; // the console asks before signing in
const REFUSED_CLAIM = { status: 409, path: /^\/api\/cases\/\d+\/claim$/ };

function expectedHttpError(msg, allowed) {
  const m = /Failed to load resource: the server responded with a status of (\d+)/.exec(msg.text());
  if (!m) return false;
  let p;
  try { p = new URL(msg.location().url).pathname; } catch { return false; }
  return allowed.some((e) => e.status === Number(m[1]) && e.path.test(p));
}

async function openPage(name, allowed) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // CSP violations are reported as console errors by Chromium; this makes sure of it (an init
  // script runs through the debugger protocol, so the page's CSP does not apply to it).
  await ctx.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
    });
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(WAIT);
  const p = { ctx, page, problems: [], navigations: 0 };
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !expectedHttpError(msg, allowed)) {
      p.problems.push(`console.error: ${msg.text()} (${msg.location().url || '?'})`);
    }
  });
  page.on('pageerror', (err) => p.problems.push(`pageerror: ${err.message}`));
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) p.navigations++; });
  pages[name] = p;
  return p;
}

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

/** Open the console in a fresh context, check its CSP header, fill in the login form. */
async function signIn(name, allowed = [BOOT_PROBE]) {
  const { page } = await openPage(name, allowed);
  const res = await page.goto(env.url, { waitUntil: 'domcontentloaded' });
  assert.equal(res.status(), 200);
  const csp = res.headers()['content-security-policy'];
  assert.ok(csp, 'the page is served with a Content-Security-Policy');
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  await page.locator('#login-name').waitFor({ state: 'visible' });
  await page.fill('#login-name', name);
  await page.fill('#login-password', PASSWORD);
  return page;
}

/** Submit the form, wait for the live console, show every open case. */
async function submitLogin(page, name) {
  await page.click('#login-submit');
  await page.locator('#app').waitFor({ state: 'visible' });
  await assertText(page, '#me-name', name);
  await page.locator('#conn-status', { hasText: /^live$/ }).waitFor();
  // "All open": new escalations and claimed cases both stay in the list
  await page.click('#filters [data-filter="open"]');
  await page.locator('#filters [data-filter="open"][aria-pressed="true"]').waitFor();
}

async function assertText(page, sel, text) {
  await until(async () => (await page.textContent(sel)) === text, `${sel} to read ${text}`, WAIT);
}

async function rowFor(page, text) {
  const row = page.locator('#case-list [data-case-id]', { hasText: text });
  await row.waitFor({ state: 'visible' });
  return row;
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  env = await startConsole([
    { name: 'alice', role: 'agent', queues: 'legal,support' },
    { name: 'bob', role: 'agent', queues: 'legal,support' },
  ]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox'], timeout: 20000 });
  api = new Client(env.origin); // API cross-checks, as alice in a session of its own
  assert.equal((await api.login('alice')).status, 200);
});

after(async () => {
  for (const p of Object.values(pages)) await p.ctx.close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (env) {
    const ex = await env.stop();
    assert.equal(ex.code, 0, 'clean exit on SIGTERM');
  }
});

test('alice signs in through the login form and goes live', T, async () => {
  const page = await signIn('alice');
  await shot(page, '1-login');
  await submitLogin(page, 'alice');
  assert.equal(await page.isVisible('#login-view'), false);
});

test('an escalated post appears live in the case list, without a reload', T, async () => {
  const { page } = pages.alice;
  const navBefore = pages.alice.navigations;
  await page.evaluate(() => { window.__sbNoReload = true; });
  const text = 'This is the third time. My lawyer will be in touch about the refund.';
  const { status } = await env.inject({ account: 'dana', text });
  const row = await rowFor(page, text);
  const id = Number(await row.getAttribute('data-case-id'));
  assert.ok(id > 0);
  assert.equal(await row.getAttribute('data-priority'), 'urgent');
  assert.equal(await page.evaluate(() => window.__sbNoReload), true, 'the page was not reloaded');
  assert.equal(pages.alice.navigations, navBefore, 'no navigation');
  // the API agrees: the legal queue, urgent, nobody holds it, nothing said publicly
  const d = (await api.get(`/api/cases/${id}`)).json;
  assert.equal(d.case.thread_id, status.id);
  assert.equal(d.case.queue, 'legal');
  assert.equal(d.case.priority, 'urgent');
  assert.equal(d.case.owner, 'human');
  assert.equal(d.case.assignee, null);
  assert.equal(d.posts[0].decision.reply ?? null, null, 'nothing public');
  shared.first = { id, status };
  await shot(page, '2-live-case-arrived');
});

test('alice opens the case and claims it', T, async () => {
  const { page } = pages.alice;
  const { id } = shared.first;
  await page.click(`#case-list [data-case-id="${id}"]`);
  await page.locator('#case-view').waitFor({ state: 'visible' });
  await page.locator(`#case-state[data-owner="human"][data-assignee=""]`).waitFor();
  await page.locator('#claim:enabled').click();
  await page.locator('#case-state[data-assignee="alice"]').waitFor();
  assert.match(await page.textContent('#case-state'), /Claimed by alice \(you\)/);
  const d = (await api.get(`/api/cases/${id}`)).json;
  assert.equal(d.case.assignee.name, 'alice');
});

test('a private reply reaches the customer as exactly one direct message and shows as sent', T, async () => {
  const { page } = pages.alice;
  const { id, status } = shared.first;
  const reply = 'Sorry about this, Dana. Could you send us your order number here?';
  await page.check('#reply-private');
  await page.fill('#reply-text', reply);
  await assertText(page, '#reply-send', 'Send message');
  await page.locator('#reply-send:enabled').click();

  const toThread = async () => (await env.brandStatuses()).filter((s) => s.in_reply_to_id === status.id);
  const got = await until(async () => { const l = await toThread(); return l.length ? l : null; }, 'the direct message', WAIT);
  const row = page.locator('#conversation [data-outbox-id]');
  await page.locator('#conversation [data-outbox-id][data-state="sent"]').waitFor();
  await sleep(1000); // a duplicate would have been sent by now
  const after = await toThread();
  assert.equal(after.length, 1, `exactly one message to the thread: ${JSON.stringify(after)}`);
  assert.equal(got[0].id, after[0].id);
  assert.equal((await env.brandStatuses()).length, 1, 'the brand posted nothing else (nothing public)');
  assert.equal(after[0].visibility, 'direct');
  assert.ok(after[0].content.includes('Could you send us your order number here?'), after[0].content);
  assert.equal(await row.count(), 1, 'one reply row');
  assert.equal(await row.first().getAttribute('data-state'), 'sent');
  assert.match(await row.first().textContent(), /Direct message/);
  const d = (await api.get(`/api/cases/${id}`)).json;
  assert.equal(d.replies.length, 1);
  assert.equal(d.replies[0].kind, 'direct_message');
  assert.equal(d.replies[0].state, 'sent');
  assert.equal(d.replies[0].remote_id, after[0].id);
  assert.ok(d.case.first_responded_at > 0);
  await shot(page, '3-reply-delivered');
});

test('alice resolves the case', T, async () => {
  const { page } = pages.alice;
  const { id } = shared.first;
  await page.locator('#resolve:enabled').click();
  await page.locator('#case-state[data-owner="closed"]').waitFor();
  await page.locator('#reopen').waitFor({ state: 'visible' });
  const d = (await api.get(`/api/cases/${id}`)).json;
  assert.equal(d.case.owner, 'closed');
  assert.ok(d.case.closed_at > 0);
  assert.deepEqual(d.events.map((e) => e.kind), ['escalated', 'claimed', 'reply', 'delivered', 'resolved']);
});

test('bob cannot claim a case alice holds: he is told, and it stays hers', T, async () => {
  const bobPage = await signIn('bob', [BOOT_PROBE, REFUSED_CLAIM]);
  await submitLogin(bobPage, 'bob');
  const { page: alicePage } = pages.alice;
  const text = 'Second time this month. My lawyer will be in touch about the refund.';
  const { status } = await env.inject({ account: 'erin', text });
  const aliceRow = await rowFor(alicePage, text);
  await rowFor(bobPage, text);
  const id = Number(await aliceRow.getAttribute('data-case-id'));
  assert.equal((await api.get(`/api/cases/${id}`)).json.case.thread_id, status.id);

  await aliceRow.click();
  await alicePage.locator(`#case-state[data-assignee=""]`).waitFor();
  await alicePage.locator('#claim:enabled').click();
  await alicePage.locator('#case-state[data-assignee="alice"]').waitFor();

  await bobPage.click(`#case-list [data-case-id="${id}"]`);
  await bobPage.locator('#case-state[data-assignee="alice"]').waitFor(); // he sees who holds it
  await bobPage.locator('#claim:enabled').click();
  const err = bobPage.locator('#error');
  await err.waitFor({ state: 'visible' });
  assert.match(await err.textContent(), /claimed by alice/);
  assert.equal(await err.getAttribute('data-code'), 'claimed');
  await bobPage.locator('#toast .toast-error', { hasText: /claimed by alice/ }).waitFor();
  await bobPage.locator('#case-state[data-assignee="alice"]').waitFor();
  assert.equal(await bobPage.isDisabled('#reply-send'), true, 'bob cannot reply');
  await shot(bobPage, '4-bob-refused');

  const d = (await api.get(`/api/cases/${id}`)).json;
  assert.equal(d.case.assignee.name, 'alice');
  assert.deepEqual(d.events.map((e) => e.kind), ['escalated', 'claimed']);
  assert.equal(d.events[1].actor.name, 'alice');
  assert.equal(await alicePage.getAttribute('#case-state', 'data-assignee'), 'alice');
});

test('neither page logged an error or a CSP violation', T, async () => {
  await sleep(300); // let late console messages arrive
  for (const [name, p] of Object.entries(pages)) assert.deepEqual(p.problems, [], `${name}'s page`);
  assert.ok(pages.alice && pages.bob, 'both pages ran');
});
