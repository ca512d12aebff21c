// live.js — the console's WebSocket (GET /ws): status, ping, reconnect with backoff + jitter.
//
// Status: 'connecting' (first attempt), 'live', 'reconnecting' (waiting or retrying after a
// drop), 'offline' (the browser has no network, or the connection is stopped).
// Pushes are not replayed by the server, so every open calls onOpen, which resyncs.

const PING_EVERY_MS = 25_000;
const PONG_WITHIN_MS = 10_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const STABLE_AFTER_MS = 5_000; // a connection that lived this long resets the backoff

export function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

/** Delay before reconnect attempt n (0-based): 1 s, 2 s, 4 s … capped at 30 s, ±20 % jitter. */
export function backoffDelay(n) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(n, 10));
  return Math.round(Math.min(BACKOFF_MAX_MS, base * (0.8 + Math.random() * 0.4)));
}

export class Live {
  /**
   * onMessage(msg)     a parsed server message
   * onStatus(status, info) status changes; info.retryAt for 'reconnecting'
   * onOpen()           after every (re)connect: resync
   * beforeReconnect()  async, → false to give up (e.g. the session is gone)
   */
  constructor({ onMessage, onStatus, onOpen, beforeReconnect }) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onOpen = onOpen;
    this.beforeReconnect = beforeReconnect;
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.status = 'offline';
    this.timers = { retry: null, ping: null, pong: null, stable: null };
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => {
      if (this.status !== 'live') this.setStatus('offline');
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.clearTimers();
    this.drop();
    this.setStatus('offline');
  }

  /** Skip the wait (the network came back, or the user asked). */
  reconnectNow() {
    if (this.stopped || this.status === 'live') return;
    this.attempt = 0;
    this.clearTimers();
    this.drop();
    this.connect();
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  setStatus(s, info = {}) {
    this.status = s;
    this.onStatus(s, info);
  }

  clearTimers() {
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.pong);
    clearTimeout(this.timers.stable);
    this.timers = { retry: null, ping: null, pong: null, stable: null };
  }

  /** Forget the current socket without waiting for its close handshake. */
  drop() {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(); } catch { /* already closed */ }
  }

  connect() {
    if (this.stopped) return;
    this.setStatus(this.attempt === 0 && this.status !== 'reconnecting' ? 'connecting' : 'reconnecting');
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.setStatus('live');
      this.timers.stable = setTimeout(() => { this.attempt = 0; }, STABLE_AFTER_MS);
      this.timers.ping = setInterval(() => this.ping(), PING_EVERY_MS);
      try { this.onOpen(); } catch (e) { console.error(e); }
    };
    ws.onmessage = (ev) => {
      clearTimeout(this.timers.pong); // any message shows the connection is alive
      this.timers.pong = null;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg === 'object') {
        try { this.onMessage(msg); } catch (e) { console.error(e); }
      }
    };
    ws.onerror = () => { /* onclose follows */ };
    ws.onclose = () => this.lost();
  }

  ping() {
    if (!this.send({ type: 'ping' })) return;
    if (!this.timers.pong) this.timers.pong = setTimeout(() => this.lost(), PONG_WITHIN_MS);
  }

  lost() {
    this.clearTimers();
    this.drop();
    if (!this.stopped) this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    if (navigator.onLine === false) {
      this.setStatus('offline'); // the 'online' event reconnects
      return;
    }
    const delay = backoffDelay(this.attempt);
    this.attempt++;
    this.setStatus('reconnecting', { retryAt: Date.now() + delay });
    this.timers.retry = setTimeout(async () => {
      this.timers.retry = null;
      if (this.stopped) return;
      if (this.beforeReconnect) {
        let ok = true;
        try { ok = await this.beforeReconnect(); } catch { ok = true; }
        if (!ok || this.stopped) return;
      }
      this.connect();
    }, delay);
  }
}
