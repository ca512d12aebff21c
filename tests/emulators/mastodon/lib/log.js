'use strict';
// Recorded traffic: every HTTP request (REST, streaming upgrade, SSE), every client→server
// WebSocket frame, and stream closes. Control requests (/__emu/...) are not recorded.

class RequestLog {
  constructor(clock, max = 10000) {
    this.clock = clock;
    this.max = max;
    this.entries = [];
    this.seq = 0;
  }

  record(entry) {
    const e = { seq: ++this.seq, time: new Date().toISOString(), clock: new Date(this.clock.now()).toISOString(), ...entry };
    this.entries.push(e);
    if (this.entries.length > this.max) this.entries.shift();
    return e;
  }

  clear() {
    this.entries = [];
  }

  /** filter: {kind, method, path, path_prefix, since_seq, conn} */
  query(filter = {}) {
    return this.entries.filter((e) => (!filter.kind || e.kind === filter.kind)
      && (!filter.method || e.method === String(filter.method).toUpperCase())
      && (!filter.path || e.path === filter.path)
      && (!filter.path_prefix || (e.path || '').startsWith(filter.path_prefix))
      && (!filter.since_seq || e.seq > Number(filter.since_seq))
      && (!filter.conn || e.conn === Number(filter.conn)));
  }
}

module.exports = { RequestLog };
