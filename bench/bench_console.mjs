// bench_console.mjs — escalation to a live console, end to end (not a test; scripts/bench runs it).
// The Mastodon emulator (in this process) and `switchboard run` with its console: CONSOLES
// WebSocket consoles (spread over AGENTS agents made with `switchboard agent add`, all in queue
// legal) stay connected while escalating posts (a legal threat: the shipped policy sends it to
// queue legal) are injected through the emulator's POST /__emu/inject at RATE/s for SECONDS
// (after WARMUP posts that are not counted). For every (post, console) pair the latency runs
// from the post to the console receiving the `case` push with event `escalated` whose
// case.thread_id is the status id. Two starting points:
//   - call: just before the inject HTTP call (includes the emulator's request handling);
//   - emit: when the emulator has written the notification frame to the service's stream
//     socket (a hook on its deliverNotification, same clock).
// The consoles run on a worker thread with their own event loop, so their receive times are not
// queued behind the injector; all times are CLOCK_MONOTONIC (process.hrtime). Queue-statistics
// pushes (throttled to the console's 1 s tick) are counted, not measured. Also reported: the
// service's CPU (/proc/PID/stat, pinned to core SB_CPU), this process's CPU (emulator, injector
// and consoles; process.cpuUsage), each thread's event-loop utilisation and the consoles'
// event-loop delay, to show the load generator is not the bottleneck. Meanwhile one agent reads
// the first page of queue legal (GET /api/cases?queue=legal&limit=50) every LIST_MS (default 50)
// from the consoles' thread: the list's latency under escalation load. SEED_DB (a store file, e.g.
// the one bench_cases leaves behind) starts the service on a copy of it: the same run over a
// backlog. Prints one JSON line.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const WebSocket = require(path.join(repo, 'tests/emulators/node_modules/ws'));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6; // CLOCK_MONOTONIC, every thread
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!isMainThread) {
  // ---- the consoles (worker thread) ----------------------------------------------------------
  const { wsUrl, origin, cookies, listMs } = workerData;
  const got = []; // [thread_id, console index, time]
  // an agent reading the queue meanwhile: the first page of legal every listMs
  let listing = false, listTimes = [], listErrors = 0;
  const lister = async () => {
    while (listing) {
      const t = nowMs();
      try {
        const r = await fetch(origin + '/api/cases?queue=legal&limit=50', { headers: { cookie: cookies[0] } });
        await r.text();
        if (r.status === 200) listTimes.push(nowMs() - t); else listErrors++;
      } catch {
        listErrors++;
      }
      await sleep(listMs);
    }
  };
  let queuesPushes = 0, otherCase = 0;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const sockets = [];
  await Promise.all(cookies.map((cookie, idx) => new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { origin, cookie }, perMessageDeflate: false });
    sockets.push(ws);
    ws.on('message', (d) => {
      const t = nowMs();
      const m = JSON.parse(String(d));
      if (m.type === 'hello') resolve();
      else if (m.type === 'queues') queuesPushes++;
      else if (m.type === 'case' && m.event === 'escalated') got.push([m.case.thread_id, idx, t]);
      else if (m.type === 'case') otherCase++;
    });
    ws.on('unexpected-response', (_q, res) => reject(new Error(`console ${idx}: HTTP ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('close', () => { if (!ws.benchClosing) parentPort.postMessage({ closed: idx }); });
  })));
  let elu0 = null;
  parentPort.on('message', (msg) => {
    if (msg === 'start') {
      got.length = 0;
      queuesPushes = otherCase = 0;
      listTimes = [];
      listErrors = 0;
      if (listMs > 0 && !listing) {
        listing = true;
        lister();
      }
      delay.enable();
      elu0 = performance.eventLoopUtilization();
    } else if (msg === 'stop') {
      listing = false;
      delay.disable();
      const elu = performance.eventLoopUtilization(elu0).utilization;
      for (const ws of sockets) { ws.benchClosing = true; ws.close(); }
      parentPort.postMessage({
        got, queuesPushes, otherCase, elu, listTimes, listErrors,
        delay_p99_ms: delay.percentile(99) / 1e6, delay_max_ms: delay.max / 1e6,
      });
    }
  });
  parentPort.postMessage({ ready: sockets.length });
} else {
  // ---- the driver: emulator, service, agents, injector ---------------------------------------
  const { start } = require(path.join(repo, 'tests/emulators/mastodon/server.js'));
  const events = require(path.join(repo, 'tests/emulators/mastodon/lib/events.js'));
  const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : process.env[k]);
  const RATE = Number(env('RATE', 100));
  const SECONDS = Number(env('SECONDS', 30));
  const WARMUP = Number(env('WARMUP', 100));
  const CONSOLES = Number(env('CONSOLES', 50));
  const AGENTS = Math.min(CONSOLES, Number(env('AGENTS', 50)));
  const CUSTOMERS = Number(env('CUSTOMERS', 500));
  const CPU = env('SB_CPU', '1'); // core for the service ('none': not pinned)
  const SEED_DB = env('SEED_DB', ''); // a store to copy and start from ('' : empty)
  const LIST_MS = Number(env('LIST_MS', 50)); // a list request every LIST_MS on the consoles' thread (0: none)
  const bin = env('SB_BIN', path.join(repo, 'build/switchboard'));
  const PASSWORD = 'correct horse battery staple';
  const total = Math.min(Math.round(RATE * SECONDS), 100000); // bounded

  const freePort = () => new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });

  const m = await start({ port: 0, pingMs: 30000 });
  const emu = m.emu;
  for (const k of Object.keys(emu.config.rate_limits)) emu.config.rate_limits[k].limit = 1e12;
  // the emulator's own send time: after the notification frame went to the stream socket(s)
  const emitAt = new Map();
  const deliver = events.deliverNotification;
  events.deliverNotification = (e, notif, opts) => {
    const n = deliver(e, notif, opts);
    if (notif.status_id) emitAt.set(notif.status_id, nowMs());
    return n;
  };

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-bench-console-'));
  const db = path.join(dir, 'sb.db');
  if (SEED_DB) { // start from a backlog (e.g. the 100k open cases bench_cases leaves behind)
    copyFileSync(SEED_DB, db);
    if (existsSync(SEED_DB + '-wal')) copyFileSync(SEED_DB + '-wal', db + '-wal');
  }
  const cfg = path.join(dir, 'sb.lua');
  writeFileSync(cfg, `return {\n  store = ${JSON.stringify(db)},\n  policy = ${JSON.stringify(path.join(repo, 'policies'))},\n` +
    `  console = { listen = "127.0.0.1:${port}", origin = "${origin}", web = ${JSON.stringify(path.join(repo, 'web'))} },\n` +
    `  queues = { support = { first_response = "30m", next_response = "1h" },\n` +
    `             legal = { first_response = "15m", next_response = "1h" } },\n` +
    `  accounts = { { platform = "mastodon", name = "acme", base_url = "${m.base}", token = "brand-token" } },\n}\n`);
  const logPath = path.join(dir, 'sb.log');
  const cmd = CPU === 'none' ? [bin, ['run', '-c', cfg]] : ['taskset', ['-c', CPU, bin, 'run', '-c', cfg]];
  const svc = spawn(cmd[0], cmd[1], { stdio: ['ignore', 'ignore', openSync(logPath, 'w')] });
  let exited = null;
  svc.on('exit', (code, signal) => (exited = { code, signal }));
  const logText = () => readFileSync(logPath, 'utf8');
  const cleanup = async () => {
    if (!exited) { svc.kill('SIGTERM'); for (let i = 0; i < 100 && !exited; i++) await sleep(50); }
    if (!exited) svc.kill('SIGKILL');
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const fail = async (why) => {
    const log = logText().split('\n').slice(-20).join('\n');
    await cleanup();
    throw new Error(`${why}\n--- service log (tail) ---\n${log}`);
  };
  for (let i = 0; i < 200 && !logText().includes('"event":"stream_open"'); i++) await sleep(50);
  if (!logText().includes('"event":"stream_open"')) await fail('the service did not connect');

  // agents (argon2id: a fraction of a second each), then one session per console
  const t_agents = performance.now();
  const names = Array.from({ length: AGENTS }, (_, i) => `agent${String(i).padStart(2, '0')}`);
  for (const name of names)
    execFileSync(bin, ['agent', 'add', name, '--role', 'agent', '--queues', 'legal,support', '--db', db],
      { input: PASSWORD + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
  const cookies = [];
  for (let i = 0; i < CONSOLES; i++) {
    const r = await fetch(origin + '/api/login', {
      method: 'POST', headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({ name: names[i % AGENTS], password: PASSWORD }),
    });
    const sc = r.headers.get('set-cookie') || '';
    const c = /sb_session=([^;]*)/.exec(sc);
    if (r.status !== 200 || !c) await fail(`login ${names[i % AGENTS]}: ${r.status} ${await r.text()}`);
    cookies.push(`sb_session=${c[1]}`);
  }
  const setup_s = (performance.now() - t_agents) / 1000;

  // customers, made up front (inject then names them by id)
  const customers = [];
  for (let i = 0; i < CUSTOMERS; i++) {
    const r = await fetch(m.base + '/__emu/accounts', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: `cust${i}`, display_name: `Customer ${i}` }),
    });
    customers.push((await r.json()).id);
  }

  const worker = new Worker(fileURLToPath(import.meta.url), {
    workerData: { wsUrl: origin.replace('http', 'ws') + '/ws', origin, cookies, listMs: LIST_MS },
  });
  const fromWorker = [];
  let closedConsoles = 0;
  worker.on('message', (msg) => (msg.closed !== undefined ? closedConsoles++ : fromWorker.push(msg)));
  worker.on('error', (e) => fromWorker.push({ error: String(e && e.stack || e) }));
  const nextMsg = async (what, ms = 60000) => {
    const end = Date.now() + ms;
    while (!fromWorker.length && Date.now() < end) await sleep(10);
    const msg = fromWorker.shift();
    if (!msg || msg.error) await fail(`consoles: ${what}: ${msg ? msg.error : 'timed out'}`);
    return msg;
  };
  const ready = await nextMsg('connect');
  if (ready.ready !== CONSOLES) await fail(`only ${ready.ready} consoles connected`);

  const texts = [
    'This is the third time. My lawyer will be in touch about the refund.',
    'I will see you in court over this broken blender. My lawyer will be in touch.',
    'My lawyer will be in touch about the charges on my card, order',
    'Expect to hear from my attorney. My lawyer will be in touch, ticket',
  ];
  const callAt = new Map(); // status id → time before the inject call
  let injectErrors = 0, inflight = 0, maxInflight = 0;
  const inject = async (i) => {
    const body = JSON.stringify({
      deliver: 'stream', account: { id: customers[i % customers.length] },
      text: `${texts[i % texts.length]} #${i}`,
    });
    const t = nowMs();
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    try {
      const r = await fetch(m.base + '/__emu/inject', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const j = await r.json();
      if (!r.ok) throw new Error(JSON.stringify(j));
      callAt.set(j.status.id, t);
    } catch {
      injectErrors++;
    } finally {
      inflight--;
    }
  };
  const run = async (n, offset) => {
    const pending = [];
    const t0 = nowMs();
    for (let i = 0; i < n; i++) {
      const wait = t0 + (i * 1000) / RATE - nowMs();
      if (wait > 1) await sleep(wait);
      pending.push(inject(offset + i));
    }
    await Promise.all(pending);
    return nowMs() - t0;
  };
  // warm-up (not counted): caches, prepared statements, the first checkpoint
  worker.postMessage('start');
  await run(WARMUP, 0);
  await sleep(1000);
  callAt.clear();
  emitAt.clear();
  worker.postMessage('start');
  const procCpu = () => {
    const f = readFileSync(`/proc/${svc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  const c0 = procCpu(), e0 = process.cpuUsage(), elu0 = performance.eventLoopUtilization(), w0 = nowMs();
  const sendMs = await run(total, WARMUP);
  // the last pushes: until every pair arrived or 5 s passed
  await sleep(500);
  const wall_s = (nowMs() - w0) / 1000;
  const service_cpu_pct = ((procCpu() - c0) / wall_s) * 100;
  const u = process.cpuUsage(e0);
  const driver_cpu_pct = ((u.user + u.system) / 1e6 / wall_s) * 100;
  const driver_elu = performance.eventLoopUtilization(elu0).utilization;
  await sleep(4500);
  worker.postMessage('stop');
  const res = await nextMsg('results');
  await worker.terminate();
  const rssKiB = Number((readFileSync(`/proc/${svc.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/) || [])[1]);
  await cleanup();

  // ---- the numbers ------------------------------------------------------------------------
  const fromCall = [], fromEmit = [], worstCall = new Map(), worstEmit = new Map(), perPost = new Map();
  let unknown = 0;
  for (const [tid, , t] of res.got) {
    const c = callAt.get(tid), e = emitAt.get(tid);
    if (c === undefined || e === undefined) { unknown++; continue; }
    fromCall.push(t - c);
    fromEmit.push(t - e);
    worstCall.set(tid, Math.max(worstCall.get(tid) ?? 0, t - c));
    worstEmit.set(tid, Math.max(worstEmit.get(tid) ?? 0, t - e));
    perPost.set(tid, (perPost.get(tid) || 0) + 1);
  }
  const pct = (arr) => {
    const a = Float64Array.from(arr).sort();
    const p = (q) => (a.length ? a[Math.min(a.length - 1, Math.floor((a.length * q) / 100))] : null);
    return { p50_ms: p(50), p90_ms: p(90), p99_ms: p(99), max_ms: a.length ? a[a.length - 1] : null };
  };
  const callToEmit = [...callAt].filter(([id]) => emitAt.has(id)).map(([id, t]) => emitAt.get(id) - t);
  const round = (o) => JSON.parse(JSON.stringify(o, (k, v) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v)));
  const out = {
    bench: 'console_escalation',
    seed_db: SEED_DB ? path.basename(SEED_DB) : null, rate: RATE, seconds: SECONDS, posts: total, warmup: WARMUP, consoles: CONSOLES, agents: AGENTS,
    send_rate: (total * 1000) / sendMs,
    injected: callAt.size, inject_errors: injectErrors, max_inflight_injects: maxInflight,
    pairs_expected: callAt.size * CONSOLES, pairs: fromCall.length, unmatched_pushes: unknown,
    posts_seen_by_every_console: [...perPost.values()].filter((n) => n === CONSOLES).length,
    consoles_dropped: closedConsoles,
    from_emit: pct(fromEmit), from_call: pct(fromCall),
    worst_console_from_emit: pct([...worstEmit.values()]), worst_console_from_call: pct([...worstCall.values()]),
    inject_call_to_emit: pct(callToEmit),
    list_first_page: { requests: res.listTimes.length, errors: res.listErrors, every_ms: LIST_MS, ...pct(res.listTimes) },
    queues_pushes: res.queuesPushes, other_case_pushes: res.otherCase,
    service_cpu_pct, service_peak_rss_mib: rssKiB / 1024,
    driver_cpu_pct, driver_main_elu_pct: driver_elu * 100, consoles_elu_pct: res.elu * 100,
    consoles_loop_delay_p99_ms: res.delay_p99_ms, consoles_loop_delay_max_ms: res.delay_max_ms,
    setup_s,
  };
  console.log(JSON.stringify(round(out)));
}
