// util.js — DOM building and formatting helpers for the console.
//
// Everything that comes from the API (customer posts, handles, names, reasons…) is hostile
// input: it only ever reaches the page through textContent / text nodes / setAttribute on
// non-executable attributes. Nothing here uses innerHTML.

/** Build an element. attrs: class, text, dataset, on{event:fn}, hidden/disabled/checked/value
 *  (as properties), anything else via setAttribute. Children: nodes, strings, arrays, null. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'hidden' || k === 'disabled' || k === 'checked' || k === 'value' || k === 'selected') el[k] = v;
      else if (k === 'style' || k.startsWith('on')) throw new Error(`h(): refusing attribute ${k}`);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

/** Append children (nodes, strings, arrays; null/undefined/false skipped) to el; returns el. */
export function add(el, ...children) {
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// ---- time -------------------------------------------------------------------------------------

let skewMs = 0; // server clock − local clock, from the HTTP Date header (only when clearly off)

export function noteServerDate(dateHeader) {
  if (!dateHeader) return;
  const t = Date.parse(dateHeader);
  if (Number.isNaN(t)) return;
  const off = t + 500 - Date.now(); // Date has 1 s resolution
  skewMs = Math.abs(off) > 2500 ? off : 0;
}

/** "Now" on the server's clock (SLA timers count against server-set due times). */
export function now() {
  return Date.now() + skewMs;
}

/** A compact duration: 45s, 12m 05s, 3h 04m, 2d 5h. */
export function fmtDuration(ms) {
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const p2 = (n) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${hr}h`;
  if (hr > 0) return `${hr}h ${p2(m)}m`;
  if (m > 0) return `${m}m ${p2(s)}s`;
  return `${s}s`;
}

/** SLA display for a due time. Returns {text, cls}. */
export function slaState(due, breachedFlag, t = now()) {
  if (!due) return { text: 'no clock', cls: 'sla-none' };
  const left = due - t;
  if (left < 0 || (breachedFlag && left < 1000)) {
    return { text: `overdue by ${fmtDuration(Math.max(0, -left))}`, cls: 'sla-breached' };
  }
  return { text: `${fmtDuration(left)} left`, cls: left < 5 * 60 * 1000 ? 'sla-warn' : 'sla-ok' };
}

const dtToday = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dtYear = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
const dtFull = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const dtOld = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  const n = new Date();
  if (d.toDateString() === n.toDateString()) return dtToday.format(d);
  if (d.getFullYear() === n.getFullYear()) return dtYear.format(d);
  return dtOld.format(d);
}

export function fmtFull(ms) {
  return ms ? dtFull.format(new Date(ms)) : '';
}

/** A <time> element with a short label and the full date as tooltip. */
export function timeEl(ms, cls) {
  return h('time', { class: cls, datetime: ms ? new Date(ms).toISOString() : null, title: fmtFull(ms), text: fmtTime(ms) });
}

const numCompact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
export function fmtCount(n) {
  return typeof n === 'number' ? numCompact.format(n) : '—';
}

// ---- text -------------------------------------------------------------------------------------

export function codePoints(s) {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
}

let segmenter = null;
export function graphemes(s) {
  if (typeof Intl.Segmenter !== 'function') return codePoints(s);
  if (!segmenter) segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  let n = 0;
  for (const _ of segmenter.segment(s)) n++; // eslint-disable-line no-unused-vars
  return n;
}

const encoder = new TextEncoder();
export function utf8Bytes(s) {
  return encoder.encode(s).length;
}

/** Only http(s) links from hostile data become hrefs. */
export function safeUrl(u) {
  if (typeof u !== 'string' || !u) return null;
  try {
    const x = new URL(u);
    return x.protocol === 'https:' || x.protocol === 'http:' ? x.href : null;
  } catch {
    return null;
  }
}

export function atHandle(handle) {
  if (!handle) return '(unknown)';
  return handle.startsWith('@') ? handle : `@${handle}`;
}

/** request_id for idempotent replies: [A-Za-z0-9_-], ≤ 64. randomUUID needs a secure context
 *  (https or localhost); plain http on another host falls back to getRandomValues. */
export function requestId() {
  if (typeof crypto.randomUUID === 'function') {
    try { return crypto.randomUUID(); } catch { /* insecure context */ }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function cap(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : '';
}

export function storageGet(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : v;
  } catch {
    return fallback;
  }
}

export function storageSet(key, value) {
  try { localStorage.setItem(key, value); } catch { /* private mode */ }
}
