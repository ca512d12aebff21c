// bench_live.mjs — the live path over a real WebSocket (not a test; scripts/bench runs it).
// The Mastodon emulator (in this process) pushes mention notifications to `switchboard run` at
// RATE posts/s for SECONDS, and records when each reply request reaches it: the latency
// from the frame being written to the socket to the reply request arriving back is an upper
// bound of "frame arrived → reply request written" (it adds two loopback hops and the
// emulator's own request parsing). Then a burst of BURST pre-rendered frames measures the
// throughput ceiling: posts decided and queued per second, from the service's log. The CPU of
// the service and of the emulator are reported for both phases.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { start } = require(path.join(repo, 'tests/emulators/mastodon/server.js'));
const events = require(path.join(repo, 'tests/emulators/mastodon/lib/events.js'));
const RATE = Number(process.env.RATE || 1000);
const SECONDS = Number(process.env.SECONDS || 60);
const BURST = Number(process.env.BURST || 20000);
const bin = process.env.SB_BIN || path.join(repo, 'build-bench/switchboard');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const m = await start({ port: 0, pingMs: 30000 });
const emu = m.emu;
for (const k of Object.keys(emu.config.rate_limits)) emu.config.rate_limits[k].limit = 1e12;
const { state } = emu;
const brand = state.brandId;
const customers = [...state.accounts.values()].filter((a) => a.id !== brand && !a.bot);
const texts = [
  'my order still has not arrived and nobody answers the phone, really annoyed',
  'love the new headphones, best purchase this year',
  'I was charged twice for my order, can you check my account?',
  'just saw your ad on the subway',
  'worst customer service ever, three weeks waiting for a refund',
  'thanks for the quick fix yesterday, great support team',
];

// reply arrival times, keyed by the status replied to
const sentAt = new Map();
const latencies = [];
const origCreate = state.createStatus.bind(state);
state.createStatus = (opts) => {
  const rec = origCreate(opts);
  if (opts.account && opts.account.id === brand && opts.in_reply_to_id && sentAt.has(opts.in_reply_to_id)) {
    latencies.push(performance.now() - sentAt.get(opts.in_reply_to_id));
    sentAt.delete(opts.in_reply_to_id);
  }
  return rec;
};

let seq = 0;
function makeMention() {
  const account = customers[seq % customers.length];
  const rec = state.createStatus({ account, text: `@acme ${texts[seq % texts.length]} #${seq}`, mention_ids: [brand], mention_brand: true,
    visibility: 'public', in_reply_to_id: null, spoiler_text: '', language: 'en', origin: 'bench' });
  const notif = state.createNotification({ type: 'mention', from: account, status: rec });
  seq++;
  return { rec, notif };
}

const dir = mkdtempSync(path.join(tmpdir(), 'sb-bench-live-'));
const cfg = path.join(dir, 'sb.lua');
writeFileSync(cfg, `return { store = "${dir}/sb.db", policy = "${repo}/policies", accounts = {
  { platform = "mastodon", name = "acme", base_url = "${m.base}", token = "brand-token" } } }\n`);
const logPath = path.join(dir, 'sb.log');
const { openSync } = await import('node:fs');
const svc = spawn('taskset', ['-c', '1', bin, 'run', '-c', cfg], { stdio: ['ignore', 'ignore', openSync(logPath, 'w')] });
const logLines = () => readFileSync(logPath, 'utf8').split('\n').filter(Boolean);
const countEvent = (name) => logLines().filter((l) => l.includes(`"event":"${name}"`)).length;
for (let i = 0; i < 100 && countEvent('stream_open') === 0; i++) await sleep(50);
if (!countEvent('stream_open')) throw new Error('the service did not connect: ' + logLines().join('\n'));

const procCpu = () => { // service CPU seconds (utime + stime)
  const f = readFileSync(`/proc/${svc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

// phase 1: steady rate
const total = RATE * SECONDS;
let c0 = procCpu(), e0 = process.cpuUsage(), t0 = performance.now();
for (let i = 0; i < total; i++) {
  const due = t0 + (i * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 1) await sleep(wait);
  const { rec, notif } = makeMention();
  sentAt.set(rec.id, performance.now());
  events.deliverNotification(emu, notif);
}
for (let i = 0; i < 200 && latencies.length < total; i++) await sleep(50);
const t1 = performance.now();
const steady = {
  rate: RATE, seconds: SECONDS, replies: latencies.length, posts: total,
  service_cpu_pct: ((procCpu() - c0) / ((t1 - t0) / 1000)) * 100,
  emulator_cpu_pct: (() => { const u = process.cpuUsage(e0); return ((u.user + u.system) / 1e6 / ((t1 - t0) / 1000)) * 100; })(),
};
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))];
Object.assign(steady, { p50_ms: pct(50), p90_ms: pct(90), p99_ms: pct(99), max_ms: latencies.at(-1) });

// phase 2: the ceiling of "decided and queued": a second service instance with hold = true
// (it records decisions and outbox entries and sends nothing), fed a burst of frames rendered
// in advance so the emulator only writes.
svc.kill('SIGTERM');
await new Promise((r) => svc.on('exit', r));
writeFileSync(cfg, `return { store = "${dir}/sb2.db", policy = "${repo}/policies", hold = true, accounts = {
  { platform = "mastodon", name = "acme", base_url = "${m.base}", token = "brand-token" } } }\n`);
writeFileSync(logPath, '');
const svc2 = spawn('taskset', ['-c', '1', bin, 'run', '-c', cfg], { stdio: ['ignore', 'ignore', openSync(logPath, 'a')] });
for (let i = 0; i < 100 && countEvent('stream_open') === 0; i++) await sleep(50);
const procCpu2 = () => {
  const f = readFileSync(`/proc/${svc2.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const frames = [];
for (let i = 0; i < BURST; i++) {
  const { notif } = makeMention();
  frames.push(JSON.stringify({ stream: ['user'], event: 'notification', payload: JSON.stringify(state.renderNotification(notif)) }));
}
const decidedBefore = countEvent('decided');
c0 = procCpu2(); e0 = process.cpuUsage();
const b0 = performance.now();
for (let i = 0; i < frames.length; i += 500) {
  for (const f of frames.slice(i, i + 500)) emu.hub.broadcastRaw(f);
  await sleep(0);
}
let decided = 0;
for (let i = 0; i < 1200; i++) {
  decided = countEvent('decided') - decidedBefore;
  if (decided >= BURST) break;
  await sleep(100);
}
const b1 = performance.now();
const burst = {
  frames: BURST, decided, seconds: (b1 - b0) / 1000, decided_per_s: decided / ((b1 - b0) / 1000),
  service_cpu_pct: ((procCpu2() - c0) / ((b1 - b0) / 1000)) * 100,
  emulator_cpu_pct: (() => { const u = process.cpuUsage(e0); return ((u.user + u.system) / 1e6 / ((b1 - b0) / 1000)) * 100; })(),
};
svc2.kill('SIGTERM');
await new Promise((r) => svc2.on('exit', r));
await m.close();
rmSync(dir, { recursive: true, force: true });
const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 1000) / 1000 : v]));
console.log(JSON.stringify({ bench: 'live_mastodon', steady: round(steady), burst: round(burst) }));
