'use strict';
// HTTP plumbing shared by the REST, streaming and control handlers: bounded body reading,
// Rails-style parameter parsing (query, form-urlencoded, multipart, JSON) and replies.

const crypto = require('node:crypto');

const MAX_BODY = 1024 * 1024;
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function readBody(req, max = MAX_BODY) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > max) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** [[key, value], ...] with Rails bracket keys (`types[]`, `poll[options][]`) → nested object. */
function railsParams(pairs) {
  const out = {};
  for (const [rawKey, value] of pairs) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    const parts = m ? [m[1], ...[...m[2].matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1])] : [rawKey];
    if (parts.some((p) => UNSAFE_KEYS.has(p))) continue;
    let cur = out;
    for (let i = 0; i < parts.length; i++) {
      const k = parts[i];
      const last = i === parts.length - 1;
      if (Array.isArray(cur)) {
        if (last) { cur.push(value); break; }
        const obj = {};
        cur.push(obj);
        cur = obj;
        continue;
      }
      if (last) { cur[k] = value; break; }
      const wantArray = parts[i + 1] === '';
      if (cur[k] === undefined || typeof cur[k] !== 'object' || Array.isArray(cur[k]) !== wantArray) cur[k] = wantArray ? [] : {};
      cur = cur[k];
    }
  }
  return out;
}

function parseQuery(search) {
  return railsParams([...new URLSearchParams(search || '').entries()]);
}

function parseMultipart(buf, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) throw Object.assign(new Error('multipart without boundary'), { status: 400 });
  const boundary = `--${m[1] || m[2]}`;
  const text = buf.toString('utf8');
  const pairs = [];
  for (const part of text.split(boundary).slice(1)) {
    if (part.startsWith('--')) break;
    const sep = part.indexOf('\r\n\r\n');
    if (sep < 0) continue;
    const head = part.slice(0, sep);
    const body = part.slice(sep + 4).replace(/\r\n$/, '');
    const name = /name="([^"]*)"/i.exec(head);
    if (!name || /filename=/i.test(head)) continue;
    pairs.push([name[1], body]);
  }
  return railsParams(pairs);
}

/** Parse a request body the way Rails does for the given Content-Type. */
function parseBody(buf, contentType) {
  const type = String(contentType || '').split(';')[0].trim().toLowerCase();
  if (buf.length === 0) return {};
  if (type === 'application/json' || type.endsWith('+json')) {
    let value;
    try {
      value = JSON.parse(buf.toString('utf8'));
    } catch {
      throw Object.assign(new Error('Error occurred while parsing request parameters'), { status: 400 });
    }
    return value && typeof value === 'object' && !Array.isArray(value) ? value : { _json: value };
  }
  if (type === 'multipart/form-data') return parseMultipart(buf, contentType);
  // application/x-www-form-urlencoded, and Rails' default for anything else.
  return parseQuery(buf.toString('utf8'));
}

function requestId() {
  return crypto.randomUUID();
}

/** Write a reply. body: object → JSON; string/Buffer → as is. */
function send(res, status, headers, body) {
  let payload = body;
  const h = { ...headers };
  if (body !== undefined && body !== null && typeof body === 'object' && !Buffer.isBuffer(body)) {
    payload = JSON.stringify(body);
    if (!h['Content-Type']) h['Content-Type'] = 'application/json; charset=utf-8';
  }
  if (payload === undefined || payload === null) payload = '';
  h['Content-Length'] = Buffer.byteLength(payload);
  res.writeHead(status, h);
  res.end(payload);
}

function firstParam(v) {
  return Array.isArray(v) ? v[0] : v;
}

function asArray(v) {
  if (v === undefined || v === null || v === '') return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

module.exports = { readBody, railsParams, parseQuery, parseBody, send, requestId, firstParam, asArray, MAX_BODY };
