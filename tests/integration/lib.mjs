// lib.mjs — shared helpers for the integration tests: run `switchboard run` against an
// emulator, read its JSON log lines, poll for conditions with a deadline.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sbBin = process.env.SB_BIN || path.join(repo, 'build/switchboard');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn until it returns a truthy value or the deadline passes (then throw with what). */
export async function until(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Start the service with a config built from `accounts` (Lua source of the list). */
export function startService(accountsLua, extra = '') {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-it-'));
  const cfg = path.join(dir, 'switchboard.lua');
  writeFileSync(cfg, `return {\n  store = ${JSON.stringify(path.join(dir, 'sb.db'))},\n` +
    `  policy = ${JSON.stringify(path.join(repo, 'policies'))},\n${extra}` +
    `  accounts = { ${accountsLua} },\n}\n`);
  const child = spawn(sbBin, ['run', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const svc = { child, dir, lines: [], stdout: '', exited: null };
  let buf = '';
  child.stderr.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { svc.lines.push(JSON.parse(line)); } catch { svc.lines.push({ raw: line }); }
    }
  });
  child.stdout.on('data', (d) => (svc.stdout += d));
  child.on('exit', (code, signal) => (svc.exited = { code, signal }));
  svc.events = (name) => svc.lines.filter((l) => l.event === name);
  svc.stop = async (signal = 'SIGTERM') => {
    if (!svc.exited) child.kill(signal);
    await until(() => svc.exited, 'the service to exit', 8000);
    rmSync(dir, { recursive: true, force: true });
    return svc.exited;
  };
  return svc;
}

export async function postJSON(base, p, body) {
  const r = await fetch(base + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const t = await r.text();
  if (!r.ok) throw new Error(`${p}: ${r.status} ${t}`);
  return t ? JSON.parse(t) : null;
}

export async function getJSON(base, p) {
  const r = await fetch(base + p);
  if (!r.ok) throw new Error(`${p}: ${r.status}`);
  return r.json();
}
