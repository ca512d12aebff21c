'use strict';
// Mastodon streaming server emulation (mastodon/streaming/index.js): WebSocket upgrade with
// auth before the upgrade, subscribe/unsubscribe frames, channel → stream naming, the JSON
// envelope with a double-encoded payload, server pings with terminate-on-missed-pong, close
// 1003 on binary frames, the "kill" close, and the SSE variant (/api/v1/streaming/user ...).
//
// Events travel like Redis pub/sub: they are published on channel ids
// (`timeline:<account>`, `timeline:<account>:notifications`, `timeline:public`, ...) and every
// subscription listening on that channel writes one envelope with its own `stream` name.

const http = require('node:http');
const { WebSocketServer } = require('ws');
const { parseQuery, firstParam, requestId } = require('./http');
const { faultResponse } = require('./faults');

const BINARY_REASON = 'The mastodon streaming server does not support binary messages';
const PUBLIC_CHANNELS = new Set(['public', 'public:media', 'public:local', 'public:local:media', 'public:remote', 'public:remote:media']);

class StreamError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function sseChannelFromPath(pathname, query) {
  const onlyMedia = ['1', 'true', 'True', 'on'].includes(String(firstParam(query.only_media)));
  switch (pathname) {
    case '/api/v1/streaming/user': return 'user';
    case '/api/v1/streaming/user/notification': return 'user:notification';
    case '/api/v1/streaming/public': return onlyMedia ? 'public:media' : 'public';
    case '/api/v1/streaming/public/local': return onlyMedia ? 'public:local:media' : 'public:local';
    case '/api/v1/streaming/public/remote': return onlyMedia ? 'public:remote:media' : 'public:remote';
    case '/api/v1/streaming/hashtag': return 'hashtag';
    case '/api/v1/streaming/hashtag/local': return 'hashtag:local';
    case '/api/v1/streaming/direct': return 'direct';
    case '/api/v1/streaming/list': return 'list';
    default: return undefined;
  }
}

function normalizeHashtag(tag) {
  return String(tag).replace(/^#/, '').normalize('NFKC').toLowerCase();
}

class StreamHub {
  /** emu: {state, config, log, faults, clock} */
  constructor(emu) {
    this.emu = emu;
    this.conns = new Map();
    this.nextConnId = 1;
    this.noPong = false;
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, autoPong: false, maxPayload: 1024 * 1024 });
    this.wss.on('headers', (headers, req) => headers.push(`X-Request-Id: ${req.emuRequestId}`));
    this.pingTimer = setInterval(() => this.tick(), emu.config.ping_ms);
  }

  close() {
    clearInterval(this.pingTimer);
    for (const conn of this.conns.values()) this.destroy(conn);
    this.conns.clear();
  }

  reset() {
    this.noPong = false;
    for (const conn of this.conns.values()) this.destroy(conn);
    this.conns.clear();
  }

  // ---- auth (accountFromRequest) -------------------------------------------------------------

  /** Returns the token record; throws StreamError(401) like accountFromRequest/accountFromToken. */
  authenticate(req, query, forceInvalid) {
    const authorization = req.headers.authorization;
    const accessToken = firstParam(query.access_token) || req.headers['sec-websocket-protocol'];
    if (!authorization && !accessToken) throw new StreamError(401, 'Missing access token');
    const token = authorization ? authorization.replace(/^Bearer /, '') : accessToken;
    const rec = forceInvalid ? null : this.emu.state.tokenRecord(token);
    if (!rec) throw new StreamError(401, 'Invalid access token');
    return rec;
  }

  // ---- WebSocket upgrade ---------------------------------------------------------------------

  writeRawResponse(socket, status, headers, body = '') {
    const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.once('finish', () => socket.destroy());
    socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  }

  /** `fault`: the outcome fault taken for this request (unauthorized|http_status|lost_response) or null. */
  handleUpgrade(req, socket, head, url, fault) {
    socket.on('error', () => {});
    req.emuRequestId = requestId();
    if (fault && fault.kind === 'lost_response') {
      socket.destroy();
      return;
    }
    if (fault && fault.kind === 'http_status') {
      const r = faultResponse(fault, this.emu);
      this.writeRawResponse(socket, fault.status, { Connection: 'close', ...r.headers, 'Content-Length': Buffer.byteLength(r.body) }, r.body);
      return;
    }
    const query = parseQuery(url.search);
    let tokenRec;
    try {
      tokenRec = this.authenticate(req, query, fault && fault.kind === 'unauthorized');
    } catch (err) {
      const status = err instanceof StreamError ? err.status : 500;
      const message = err instanceof StreamError ? err.message : 'An unexpected error occurred';
      this.writeRawResponse(socket, status, {
        Connection: 'close',
        'Content-Type': 'text/plain',
        'Content-Length': 0,
        'X-Request-Id': req.emuRequestId,
        'X-Error-Message': message,
      });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req, url, query, tokenRec));
  }

  onConnection(ws, req, url, query, tokenRec) {
    const conn = {
      id: this.nextConnId++,
      kind: 'websocket',
      ws,
      tokenRec,
      accountId: tokenRec.account_id,
      subs: new Map(),
      isAlive: true,
      connectedAt: new Date().toISOString(),
      remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      path: url.pathname + url.search,
    };
    this.conns.set(conn.id, conn);
    ws.on('pong', () => { conn.isAlive = true; });
    ws.on('ping', (data) => { if (!this.noPong) ws.pong(data); });
    ws.on('error', () => {});
    ws.on('close', (code, reason) => {
      this.conns.delete(conn.id);
      this.emu.log.record({ kind: 'ws_close', conn: conn.id, code, reason: reason.toString('utf8') });
    });
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    if (query.stream) this.subscribe(conn, firstParam(query.stream), query);
  }

  onMessage(conn, data, isBinary) {
    this.emu.log.record({
      kind: 'ws_frame',
      conn: conn.id,
      binary: isBinary,
      data: isBinary ? Buffer.from(data).toString('base64') : data.toString('utf8'),
    });
    if (isBinary) {
      conn.ws.close(1003, BINARY_REASON);
      return;
    }
    let json;
    try {
      json = JSON.parse(data.toString('utf8'));
    } catch {
      return; // logged and ignored upstream
    }
    if (!json || typeof json !== 'object') return;
    const { type, stream, ...params } = json;
    if (type === 'subscribe') this.subscribe(conn, firstParam(stream), params);
    else if (type === 'unsubscribe') this.unsubscribe(conn, firstParam(stream), params);
    // unknown type: ignored
  }

  // ---- channels ------------------------------------------------------------------------------

  checkScopes(tokenRec, channelName) {
    const required = ['read', channelName === 'user:notification' ? 'read:notifications' : 'read:statuses'];
    if (!required.some((s) => tokenRec.scopes.includes(s))) {
      throw new StreamError(401, 'Access token does not have the required scopes');
    }
  }

  channelNameToIds(tokenRec, name, params) {
    const acct = tokenRec.account_id;
    switch (name) {
      case 'user': {
        const ids = [`timeline:${acct}`];
        if (['read', 'read:notifications'].some((s) => tokenRec.scopes.includes(s))) ids.push(`timeline:${acct}:notifications`);
        return ids;
      }
      case 'user:notification': return [`timeline:${acct}:notifications`];
      case 'public': case 'public:local': case 'public:remote':
      case 'public:media': case 'public:local:media': case 'public:remote:media':
        return [`timeline:${name}`];
      case 'direct': return [`timeline:direct:${acct}`];
      case 'hashtag':
      case 'hashtag:local':
        if (!params.tag) throw new StreamError(400, 'Missing tag name parameter');
        return [`timeline:hashtag:${normalizeHashtag(firstParam(params.tag))}${name === 'hashtag:local' ? ':local' : ''}`];
      case 'list':
        if (!params.list) throw new StreamError(400, 'Missing list name parameter');
        throw new StreamError(401, 'Not authorized to stream this list'); // the emulator has no lists
      default:
        throw new StreamError(400, 'Unknown stream type');
    }
  }

  streamName(channelName, params) {
    if (channelName === 'list' && params.list) return [channelName, String(firstParam(params.list))];
    if ((channelName === 'hashtag' || channelName === 'hashtag:local') && params.tag) return [channelName, String(firstParam(params.tag))];
    return [channelName];
  }

  subscribe(conn, channelName, params) {
    try {
      this.checkScopes(conn.tokenRec, channelName);
      const channelIds = this.channelNameToIds(conn.tokenRec, channelName, params);
      const key = channelIds.join(';');
      if (conn.subs.has(key)) return; // duplicate subscribe: no-op
      conn.subs.set(key, { channelName, stream: this.streamName(channelName, params), channelIds });
    } catch (err) {
      const status = err instanceof StreamError ? err.status : 500;
      const message = err instanceof StreamError ? err.message : 'An unexpected error occurred';
      if (conn.isAlive && conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify({ error: message, status }));
    }
  }

  unsubscribe(conn, channelName, params) {
    try {
      const channelIds = this.channelNameToIds(conn.tokenRec, channelName, params);
      conn.subs.delete(channelIds.join(';'));
    } catch {
      if (conn.isAlive && conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify({ error: 'Error unsubscribing from channel' }));
    }
  }

  // ---- SSE (EventSource) ---------------------------------------------------------------------

  handleHttp(req, res, url) {
    const query = parseQuery(url.search);
    const sendJson = (status, obj) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    const channelName = sseChannelFromPath(url.pathname, query);
    if (!channelName) return sendJson(400, { error: 'Unknown channel requested' });
    let tokenRec;
    let channelIds;
    try {
      tokenRec = this.authenticate(req, query, false);
      this.checkScopes(tokenRec, channelName);
      channelIds = this.channelNameToIds(tokenRec, channelName, query);
    } catch (err) {
      return sendJson(err.status || 500, { error: err.status ? err.message : 'An unexpected error occurred' });
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'private, no-store', 'Transfer-Encoding': 'chunked' });
    res.write(':)\n');
    const conn = {
      id: this.nextConnId++,
      kind: 'eventsource',
      res,
      tokenRec,
      accountId: tokenRec.account_id,
      subs: new Map([[channelIds.join(';'), { channelName, stream: this.streamName(channelName, query), channelIds }]]),
      isAlive: true,
      connectedAt: new Date().toISOString(),
      remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      path: url.pathname + url.search,
    };
    const heartbeat = setInterval(() => res.write(':thump\n\n'), this.emu.config.sse_heartbeat_ms);
    this.conns.set(conn.id, conn);
    // res, not req: the request stream has already ended (its body was read) by now.
    res.on('close', () => {
      clearInterval(heartbeat);
      this.conns.delete(conn.id);
    });
    return undefined;
  }

  // ---- delivery ------------------------------------------------------------------------------

  /** Publish on a channel id; returns the number of frames written. */
  publish(channelId, event, payload, { duplicate = 0 } = {}) {
    const encoded = payload !== null && typeof payload === 'object' ? JSON.stringify(payload) : payload;
    let frames = 0;
    for (const conn of this.conns.values()) {
      for (const sub of conn.subs.values()) {
        if (!sub.channelIds.includes(channelId)) continue;
        for (let i = 0; i <= duplicate; i++) {
          if (this.output(conn, sub.stream, event, encoded)) frames += 1;
        }
      }
    }
    return frames;
  }

  output(conn, stream, event, encodedPayload) {
    if (conn.kind === 'eventsource') {
      conn.res.write(`event: ${event}\n`);
      conn.res.write(`data: ${encodedPayload}\n\n`);
      return true;
    }
    if (conn.ws.readyState !== conn.ws.OPEN) return false;
    conn.ws.send(JSON.stringify({ stream, event, payload: encodedPayload }));
    return true;
  }

  /** Send raw text to every WebSocket client (faults). */
  broadcastRaw(text) {
    let n = 0;
    for (const conn of this.conns.values()) {
      if (conn.kind !== 'websocket' || conn.ws.readyState !== conn.ws.OPEN) continue;
      conn.ws.send(text);
      n += 1;
    }
    return n;
  }

  /** Token revoked: the streaming server receives a "kill" and calls websocket.close(). */
  kill(tokenRec) {
    let n = 0;
    for (const conn of this.conns.values()) {
      if (conn.tokenRec.token !== tokenRec.token) continue;
      if (conn.kind === 'websocket') conn.ws.close();
      else conn.res.end();
      n += 1;
    }
    return n;
  }

  destroy(conn) {
    if (conn.kind === 'websocket') conn.ws.terminate();
    else conn.res.socket?.destroy();
  }

  // ---- keepalive -----------------------------------------------------------------------------

  tick() {
    if (this.noPong) return;
    for (const conn of this.conns.values()) {
      if (conn.kind !== 'websocket') continue;
      if (conn.isAlive === false) {
        this.emu.log.record({ kind: 'ws_terminate', conn: conn.id, reason: 'missed pong' });
        conn.ws.terminate();
        continue;
      }
      conn.isAlive = false;
      try { conn.ws.ping(''); } catch { /* socket closing */ }
    }
  }

  describe() {
    return [...this.conns.values()].map((c) => ({
      id: c.id,
      kind: c.kind,
      account_id: c.accountId,
      token_id: c.tokenRec.id,
      remote: c.remote,
      path: c.path,
      connected_at: c.connectedAt,
      alive: c.isAlive,
      subscriptions: [...c.subs.values()].map((s) => ({ channel: s.channelName, stream: s.stream })),
    }));
  }
}

module.exports = { StreamHub, StreamError, BINARY_REASON, PUBLIC_CHANNELS, normalizeHashtag };
