// bench_cases_http.mjs — the case list over HTTP, end to end (not a test; scripts/bench runs it
// after bench_cases, on the database bench_cases left behind: 100,000 open cases in queue legal).
//
//   node bench/bench_cases_http.mjs DB_PATH
//
// Adds an agent (queues legal and support) with `switchboard agent add`, starts `switchboard run`
// on that database with its console and no platform account (the service then only serves the
// console), logs in, and times RUNS (default 200) sequential requests each of
//   GET /api/cases?queue=legal&limit=50   (the first page of the 100k queue: the target)
//   GET /api/cases                        (the agent's default list: legal and support merged)
//   GET /api/cases?queue=legal&limit=50&after=<next of page 1>   (the second page)
// and, as baselines, GET /healthz (the HTTP round trip alone) and GET /api/me (with the session
// check), from just before fetch to the last byte of the body (Node's fetch, keep-alive connection),
// GAP_MS (default 20) apart so the console's 1 s tick (queue statistics over the whole backlog)
// is sampled as a real user would meet it. The service is pinned to core SB_CPU. Prints one
// JSON line.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : process.env[k]);
const db = process.argv[2];
if (!db) throw new Error('usage: node bench/bench_cases_http.mjs DB_PATH (made by bench_cases)');
const RUNS = Number(env('RUNS', 200));
const GAP_MS = Number(env('GAP_MS', 20));
const CPU = env('SB_CPU', '1');
const bin = env('SB_BIN', path.join(repo, 'build/switchboard'));
const PASSWORD = 'correct horse battery staple';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

const port = await new Promise((resolve, reject) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port: p } = s.address(); s.close(() => resolve(p)); });
  s.on('error', reject);
});
const origin = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(path.join(tmpdir(), 'sb-bench-cases-'));
const cfg = path.join(dir, 'sb.lua');
writeFileSync(cfg, `return {\n  store = ${JSON.stringify(db)},\n  policy = ${JSON.stringify(path.join(repo, 'policies'))},\n` +
  `  console = { listen = "127.0.0.1:${port}", origin = "${origin}", web = ${JSON.stringify(path.join(repo, 'web'))} },\n` +
  `  queues = { support = { first_response = "30m", next_response = "1h" },\n` +
  `             legal = { first_response = "15m", next_response = "1h" },\n` +
  `             billing = { first_response = "1h" } },\n  accounts = {},\n}\n`);
const agentName = `bench${process.pid}`; // a new one each run: the database may be reused
try {
  execFileSync(bin, ['agent', 'add', agentName, '--role', 'agent', '--queues', 'legal,support', '--db', db],
    { input: PASSWORD + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
} catch (e) {
  rmSync(dir, { recursive: true, force: true });
  throw e;
}
const logPath = path.join(dir, 'sb.log');
const cmd = CPU === 'none' ? [bin, ['run', '-c', cfg]] : ['taskset', ['-c', CPU, bin, 'run', '-c', cfg]];
const svc = spawn(cmd[0], cmd[1], { stdio: ['ignore', 'ignore', openSync(logPath, 'w')] });
let exited = null;
svc.on('exit', (code, signal) => (exited = { code, signal }));
const stop = async () => {
  if (!exited) svc.kill('SIGTERM');
  for (let i = 0; i < 100 && !exited; i++) await sleep(50);
  if (!exited) svc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
try {
  let up = false;
  for (let i = 0; i < 200 && !up && !exited; i++) {
    await sleep(50);
    up = await fetch(origin + '/healthz').then((r) => r.ok, () => false);
  }
  if (!up) throw new Error('the service did not start:\n' + readFileSync(logPath, 'utf8'));
  const login = await fetch(origin + '/api/login', {
    method: 'POST', headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ name: agentName, password: PASSWORD }),
  });
  const m = /sb_session=([^;]*)/.exec(login.headers.get('set-cookie') || '');
  if (login.status !== 200 || !m) throw new Error(`login: ${login.status} ${await login.text()}`);
  const headers = { cookie: `sb_session=${m[1]}` };
  const get = async (p) => {
    const t = nowMs();
    const r = await fetch(origin + p, { headers });
    const body = await r.text();
    const ms = nowMs() - t;
    if (r.status !== 200) throw new Error(`${p}: ${r.status} ${body}`);
    return { ms, body };
  };
  const page1 = JSON.parse((await get('/api/cases?queue=legal&limit=50')).body);
  if (page1.cases.length !== 50 || page1.cases.some((c) => c.queue !== 'legal' || c.owner !== 'human') || !page1.next)
    throw new Error('unexpected first page: ' + JSON.stringify(page1).slice(0, 400));
  const pct = (v) => {
    const a = Float64Array.from(v).sort();
    const p = (q) => a[Math.min(a.length - 1, Math.floor((a.length * q) / 100))];
    return { median_ms: p(50), p90_ms: p(90), p99_ms: p(99), max_ms: a[a.length - 1] };
  };
  const series = async (p) => {
    for (let i = 0; i < 5; i++) await get(p); // warm: connection, statement, pages
    const v = [];
    let bytes = 0;
    for (let i = 0; i < RUNS; i++) {
      const r = await get(p);
      v.push(r.ms);
      bytes = r.body.length;
      if (GAP_MS) await sleep(GAP_MS);
    }
    return { ...pct(v), bytes };
  };
  const cpu0 = readFileSync(`/proc/${svc.pid}/stat`, 'utf8');
  const first = await series('/api/cases?queue=legal&limit=50');
  const agentDefault = await series('/api/cases');
  const second = await series(`/api/cases?queue=legal&limit=50&after=${encodeURIComponent(page1.next)}`);
  // baselines: the HTTP round trip alone, and with the session check
  const healthz = await series('/healthz');
  const me = await series('/api/me');
  const cpu = (s) => { const f = s.split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
  const service_cpu_s = cpu(readFileSync(`/proc/${svc.pid}/stat`, 'utf8')) - cpu(cpu0);
  const round = (o) => JSON.parse(JSON.stringify(o, (k, v) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v)));
  console.log(JSON.stringify(round({
    bench: 'case_list_http', runs: RUNS, gap_ms: GAP_MS,
    first_page: first, agent_default: agentDefault, second_page: second,
    baseline_healthz: healthz, baseline_me: me,
    service_cpu_ms_per_request: (service_cpu_s * 1000) / (5 * (RUNS + 5)),
  })));
} finally {
  await stop();
}
