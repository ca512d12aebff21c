// scripts/demo.mjs — the live demo: starts the local Mastodon (and Bluesky) emulators, runs
// `switchboard run` against them on SQLite with the shipped policy, and plays a crowd: a
// complaint, praise, a question, an order problem, a legal threat, an influencer, another
// brand's bot, a duplicate delivery, a post deleted before the reply. Each post and what was
// done about it is printed live. Ctrl-C stops everything cleanly (DEMO_SECONDS=N: after N s).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const mastodon = require(path.join(repo, 'tests/emulators/mastodon/server.js'));
const bluesky = require(path.join(repo, 'tests/emulators/bluesky/server.js'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const post = async (base, p, body) => {
  const r = await fetch(base + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return r.ok ? r.json() : Promise.reject(new Error(`${p}: ${r.status} ${await r.text()}`));
};
const iso6 = (ms) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

const m = await mastodon.start({ port: 0 });
const mbase = `http://127.0.0.1:${m.port}`;
const withBluesky = existsSync(path.join(repo, 'src/platforms/bluesky/conn.c'));
const b = withBluesky ? await bluesky.start({ port: 0 }) : null;

const dir = process.env.DEMO_DIR || mkdtempSync(path.join(tmpdir(), 'switchboard-demo-'));
// the agent console: 127.0.0.1:8080 unless DEMO_CONSOLE_PORT says otherwise (0: any free port)
let consolePort = Number(process.env.DEMO_CONSOLE_PORT ?? 8080);
if (consolePort === 0) {
  const { createServer } = await import('node:net');
  consolePort = await new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
}
const consoleOrigin = `http://127.0.0.1:${consolePort}`;
const demoPassword = 'switchboard-demo';
const db = path.join(dir, 'demo.db');
const cfg = path.join(dir, 'switchboard.lua');
writeFileSync(cfg, `-- written by scripts/demo.mjs
return {
  store = ${JSON.stringify(db)},
  policy = ${JSON.stringify(path.join(repo, 'policies'))},
  pretty = true,
  console = { listen = "127.0.0.1:${consolePort}", origin = "${consoleOrigin}", web = ${JSON.stringify(path.join(repo, 'web'))} },
  accounts = {
    { platform = "mastodon", name = "acme", base_url = "${mbase}", token = "brand-token" },
${b ? `    { platform = "bluesky", name = "acme-bsky", pds_url = "${b.pds}", jetstream_url = "${b.jetstream}",
      identifier = "acme.test", password = "brand-app-password" },\n` : ''}  },
}
`);
console.log(`== Mastodon emulator at ${mbase}${b ? `, Bluesky emulator at ${b.pds}` : ''}`);
console.log(`== switchboard run -c ${cfg}   (SQLite: ${db}; JSON logs: ${path.join(dir, 'switchboard.log')})`);
console.log('== Ctrl-C stops the service and the emulators\n');

// demo agents, made the way an admin would (the password on stdin, never on the command line)
const { execFileSync } = await import('node:child_process');
for (const [name, role, queues] of [['alice', 'agent', 'support,legal,safety,vip,billing'], ['sam', 'supervisor', null]]) {
  const args = ['agent', 'add', name, '--role', role, '-c', cfg];
  if (queues) args.push('--queues', queues);
  execFileSync(path.join(repo, 'build/switchboard'), args, { input: demoPassword + '\n', stdio: ['pipe', 'ignore', 'inherit'] });
}
console.log(`== agent console at ${consoleOrigin}/ — sign in as alice (agent) or sam (supervisor), password "${demoPassword}"\n`);

const { openSync } = await import('node:fs');
const logfd = openSync(path.join(dir, 'switchboard.log'), 'a');
const sb = spawn(path.join(repo, 'build/switchboard'), ['run', '-c', cfg], { stdio: ['ignore', 'inherit', logfd] });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log('\n== stopping: switchboard finishes its sends, then the emulators close');
  sb.kill('SIGINT');
  await new Promise((r) => (sb.exitCode !== null ? r() : sb.on('exit', r)));
  await m.close();
  if (b) await b.close();
  console.log(`== done (the record is in ${db})`);
  process.exit(sb.exitCode ?? 0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
sb.on('exit', (code) => { if (!stopping) { console.error(`switchboard exited (${code}); see ${dir}/switchboard.log`); process.exit(1); } });
if (process.env.DEMO_SECONDS) setTimeout(stop, Number(process.env.DEMO_SECONDS) * 1000);

// wait for the service to connect
await sleep(1500);
const say = async (account, text, extra = {}) => post(mbase, '/__emu/inject', { account, text, deliver: 'stream', ...extra });
const crowd = [
  () => say('alice', "my order #4411 still hasn't arrived and nobody answers the phone. Really annoyed."),
  () => say('bob', 'love the new X200 headphones, best purchase this year! 🎧'),
  () => say('zoe', 'does the X200 charger work with the older X100 model?'),
  () => say('alice', 'I was charged twice for order 88121, can someone check my account?'),
  () => say('bob', "third time asking. If this isn't refunded by Friday my lawyer will be in touch."),
  () => say('carla', 'Trying the new Acme kettle for my illustration stream. First impressions soon.'),
  () => say('rivalbot', 'Beep! Rival Corp has 20% off today, follow us for deals.'),
  () => say('zoe', 'thanks for sorting out my return so quickly!', { duplicate: 1 }),
  async () => {
    // a post deleted before the reply goes out: the platform is rate limiting for 3 s, the
    // author deletes the post after 1 s, the pending reply is cancelled
    await post(mbase, '/__emu/fault', { kind: 'http_status', status: 429, count: 1, path: '/api/v1/statuses',
      headers: { 'X-RateLimit-Reset': iso6(Date.now() + 3000) } });
    const { status } = await say('alice', 'ugh this kettle is broken already, so disappointed');
    await sleep(1000);
    await post(mbase, '/__emu/delete', { id: status.id });
  },
];
if (b) {
  crowd.unshift(() => post(b.pds, '/__emu/inject', { author: 'carol.test', text: '✨ @acme.test el pedido llegó roto y nadie responde 😡', mention_brand: true }));
  crowd.splice(3, 0, () => post(b.pds, '/__emu/inject', { author: 'dave.test', text: '@acme.test I was charged twice for my order, can you check my account?', mention_brand: true }));
  crowd.splice(6, 0, () => post(b.pds, '/__emu/inject', { author: 'bob.test', text: '@acme.test the replacement arrived today and works great, thanks!', mention_brand: true }));
}
for (const step of crowd) {
  if (stopping) break;
  await step().catch((e) => console.error(`demo: ${e.message}`));
  await sleep(1000);
}
if (!process.env.DEMO_SECONDS) console.log('\n== the crowd is done; Ctrl-C to stop');
