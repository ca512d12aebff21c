'use strict';
// Small, dependency-free AT Protocol helpers for the Bluesky emulator:
// TIDs, DAG-CBOR + CIDv1 (real content hashes), DID generation, Go-style
// JSON encoding (what Jetstream's encoder emits), grapheme/byte counting and
// syntax checks (NSID, DID, handle, record key, datetime).
//
// Everything here is built on node built-ins only.

const crypto = require('node:crypto');

// ---------------------------------------------------------------- base32 ---
const B32_RFC = 'abcdefghijklmnopqrstuvwxyz234567'; // multibase 'b' (lower, no pad)
const B32_SORT = '234567abcdefghijklmnopqrstuvwxyz'; // TID alphabet

function base32Encode(buf) {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32_RFC[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32_RFC[(value << (5 - bits)) & 31];
  return out;
}

function base32Decode(str) {
  const out = [];
  let bits = 0;
  let value = 0;
  for (const ch of str) {
    const idx = B32_RFC.indexOf(ch);
    if (idx < 0) throw new Error(`invalid base32 character ${JSON.stringify(ch)}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}

// ------------------------------------------------------------------- TID ---
// 64-bit: top bit 0, 53 bits of microseconds since the epoch, 10-bit clock id,
// encoded as 13 chars of base32-sortable. Lexicographic order == time order.
function tidFromMicros(us, clockId) {
  let v = (BigInt(us) << 10n) | BigInt(clockId & 1023);
  let s = '';
  for (let i = 0; i < 13; i++) {
    s = B32_SORT[Number(v & 31n)] + s;
    v >>= 5n;
  }
  return s;
}

function tidToMicros(tid) {
  let v = 0n;
  for (const ch of tid) v = (v << 5n) | BigInt(B32_SORT.indexOf(ch));
  return Number(v >> 10n);
}

const TID_RE = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;
const isTid = (s) => typeof s === 'string' && TID_RE.test(s);

// Monotonic TID generator driven by an injectable microsecond clock.
class TidGenerator {
  constructor(nowUs, clockId = crypto.randomInt(0, 1024)) {
    this.nowUs = nowUs;
    this.clockId = clockId;
    this.last = 0;
  }
  next() {
    let us = Math.floor(this.nowUs());
    if (us <= this.last) us = this.last + 1;
    this.last = us;
    return tidFromMicros(us, this.clockId);
  }
}

// -------------------------------------------------------------- DAG-CBOR ---
// Enough of DAG-CBOR to hash lexicon records exactly like a PDS does:
// ints, strings, bytes ({"$bytes":b64}), CID links ({"$link":cid} → tag 42),
// arrays, maps (keys sorted length-first then bytewise), bool, null.
function cborHead(major, n, parts) {
  if (n < 24) parts.push(Buffer.from([(major << 5) | n]));
  else if (n < 0x100) parts.push(Buffer.from([(major << 5) | 24, n]));
  else if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    parts.push(b);
  } else if (n < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    parts.push(b);
  } else {
    const b = Buffer.alloc(9);
    b[0] = (major << 5) | 27;
    b.writeBigUInt64BE(BigInt(n), 1);
    parts.push(b);
  }
}

function cidStringToBytes(s) {
  if (typeof s !== 'string' || s[0] !== 'b') throw new Error(`unsupported CID string ${s}`);
  return base32Decode(s.slice(1));
}

function dagCborKeyCompare(a, b) {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ba.length !== bb.length) return ba.length - bb.length;
  return Buffer.compare(ba, bb);
}

function encodeDagCbor(value, parts = []) {
  if (value === null || value === undefined) parts.push(Buffer.from([0xf6]));
  else if (value === true) parts.push(Buffer.from([0xf5]));
  else if (value === false) parts.push(Buffer.from([0xf4]));
  else if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      if (value >= 0) cborHead(0, value, parts);
      else cborHead(1, -1 - value, parts);
    } else {
      const b = Buffer.alloc(9);
      b[0] = 0xfb;
      b.writeDoubleBE(value, 1);
      parts.push(b);
    }
  } else if (typeof value === 'string') {
    const b = Buffer.from(value, 'utf8');
    cborHead(3, b.length, parts);
    parts.push(b);
  } else if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    cborHead(2, value.length, parts);
    parts.push(Buffer.from(value));
  } else if (Array.isArray(value)) {
    cborHead(4, value.length, parts);
    for (const v of value) encodeDagCbor(v, parts);
  } else if (typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined);
    if (keys.length === 1 && keys[0] === '$link' && typeof value.$link === 'string') {
      const cid = cidStringToBytes(value.$link);
      parts.push(Buffer.from([0xd8, 42])); // tag(42)
      cborHead(2, cid.length + 1, parts);
      parts.push(Buffer.from([0x00]), cid);
      return parts;
    }
    if (keys.length === 1 && keys[0] === '$bytes' && typeof value.$bytes === 'string') {
      const b = Buffer.from(value.$bytes, 'base64');
      cborHead(2, b.length, parts);
      parts.push(b);
      return parts;
    }
    keys.sort(dagCborKeyCompare);
    cborHead(5, keys.length, parts);
    for (const k of keys) {
      encodeDagCbor(k, parts);
      encodeDagCbor(value[k], parts);
    }
  } else {
    throw new Error(`cannot DAG-CBOR encode ${typeof value}`);
  }
  return parts;
}

const dagCborBytes = (value) => Buffer.concat(encodeDagCbor(value));

// CIDv1, dag-cbor (0x71), sha2-256 → "bafyrei" + 52 base32 chars.
function cidForBytes(bytes, codec = 0x71) {
  const digest = crypto.createHash('sha256').update(bytes).digest();
  return 'b' + base32Encode(Buffer.concat([Buffer.from([0x01, codec, 0x12, 0x20]), digest]));
}
const cidForRecord = (record) => cidForBytes(dagCborBytes(record));

// Order an object's keys as a PDS would return them after a CBOR round trip
// (DAG-CBOR canonical order: shorter keys first, then bytewise).
function dagCborOrder(value) {
  if (Array.isArray(value)) return value.map(dagCborOrder);
  if (value && typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value).sort(dagCborKeyCompare)) out[k] = dagCborOrder(value[k]);
    return out;
  }
  return value;
}

// Order keys like Jetstream's encoder: record maps come out of Go's
// encoding/json map marshalling (keys sorted bytewise), except blob refs, which
// are a Go struct ($type, ref, mimeType, size). Verified against the corpus.
const BLOB_ORDER = ['$type', 'ref', 'mimeType', 'size'];
function goMapOrder(value) {
  if (Array.isArray(value)) return value.map(goMapOrder);
  if (value && typeof value === 'object') {
    const out = {};
    let keys;
    if (value.$type === 'blob') {
      keys = BLOB_ORDER.filter((k) => k in value).concat(Object.keys(value).filter((k) => !BLOB_ORDER.includes(k)).sort(byteCompare));
    } else {
      keys = Object.keys(value).sort(byteCompare);
    }
    for (const k of keys) out[k] = goMapOrder(value[k]);
    return out;
  }
  return value;
}
function byteCompare(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// JSON exactly as Go's encoding/json writes it: like JSON.stringify, but with
// HTML-safe escapes for <, >, & and escapes for U+2028/U+2029. (Go ≥1.22 also
// writes \b and \f, as JSON.stringify does.) The corpus contains "\u0026".
function goJson(value) {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

// ------------------------------------------------------------------ text ---
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const graphemeLength = (s) => {
  let n = 0;
  // eslint-disable-next-line no-unused-vars
  for (const _ of segmenter.segment(s)) n++;
  return n;
};
const utf8Length = (s) => Buffer.byteLength(s, 'utf8');

// Byte offsets (UTF-8) of every occurrence of `needle` in `text`.
function utf8Occurrences(text, needle) {
  const out = [];
  const hay = Buffer.from(text, 'utf8');
  const nb = Buffer.from(needle, 'utf8');
  let from = 0;
  for (;;) {
    const i = hay.indexOf(nb, from);
    if (i < 0) break;
    out.push({ byteStart: i, byteEnd: i + nb.length });
    from = i + nb.length;
  }
  return out;
}

// ---------------------------------------------------------------- syntax ---
const NSID_RE = /^[a-zA-Z](?:[a-zA-Z0-9-]{0,62})?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+\.[a-zA-Z](?:[a-zA-Z0-9]{0,62})?$/;
const isNsid = (s) => typeof s === 'string' && s.length <= 317 && NSID_RE.test(s) && s.split('.').length >= 3;
const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/;
const isDid = (s) => typeof s === 'string' && s.length <= 2048 && DID_RE.test(s);
const HANDLE_RE = /^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const isHandle = (s) => typeof s === 'string' && s.length <= 253 && HANDLE_RE.test(s);
const RKEY_RE = /^[a-zA-Z0-9._:~-]{1,512}$/;
const isRecordKey = (s) => typeof s === 'string' && RKEY_RE.test(s) && s !== '.' && s !== '..';
// atproto "datetime": RFC 3339 with a mandatory timezone, uppercase T/Z.
const DATETIME_RE = /^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?(Z|[+-][0-2][0-9]:[0-5][0-9])$/;
const isDatetime = (s) => typeof s === 'string' && s.length <= 64 && DATETIME_RE.test(s) && !Number.isNaN(Date.parse(s)) && !/^-00:00$/.test(s.slice(-6));
const CID_RE = /^b[a-z2-7]{8,}$/;
const isCidString = (s) => typeof s === 'string' && CID_RE.test(s);

function parseAtUri(uri) {
  const m = /^at:\/\/([^/?#]+)(?:\/([^/?#]+)(?:\/([^/?#]+))?)?\/?$/.exec(typeof uri === 'string' ? uri : '');
  if (!m) return null;
  return { repo: m[1], collection: m[2] || null, rkey: m[3] || null };
}

// did:plc: + 24 chars of base32, derived from a seed (stable across runs).
function plcDid(seed) {
  return 'did:plc:' + base32Encode(crypto.createHash('sha256').update('plc:' + seed).digest()).slice(0, 24);
}

module.exports = {
  base32Encode,
  base32Decode,
  tidFromMicros,
  tidToMicros,
  isTid,
  TidGenerator,
  dagCborBytes,
  cidForBytes,
  cidForRecord,
  dagCborOrder,
  goMapOrder,
  goJson,
  graphemeLength,
  utf8Length,
  utf8Occurrences,
  isNsid,
  isDid,
  isHandle,
  isRecordKey,
  isDatetime,
  isCidString,
  parseAtUri,
  plcDid,
};
