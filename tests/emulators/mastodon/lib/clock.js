'use strict';
// Injectable clock for the Mastodon emulator.
//
// Everything time-dependent (created_at, snowflake ids, the Idempotency-Key TTL, rate-limit
// windows) reads `clock.now()`. By default the clock follows wall time; the control API can
// jump it (`set`), move it (`advance`) or freeze it so tests are deterministic.
// Timers that pace the network (pings, SSE heartbeats, slow faults) deliberately use real
// time: they are about sockets, not about the emulated server's notion of "now".

class Clock {
  constructor() {
    this.offsetMs = 0;
    this.frozenAt = null;
  }

  now() {
    return this.frozenAt !== null ? this.frozenAt : Date.now() + this.offsetMs;
  }

  /** Jump to `ms`. `frozen` true/false changes the mode; undefined keeps it. */
  set(ms, frozen) {
    const freeze = frozen === undefined ? this.frozenAt !== null : Boolean(frozen);
    if (freeze) {
      this.frozenAt = ms;
    } else {
      this.frozenAt = null;
      this.offsetMs = ms - Date.now();
    }
  }

  advance(ms) {
    if (this.frozenAt !== null) this.frozenAt += ms;
    else this.offsetMs += ms;
  }

  setFrozen(frozen) {
    this.set(this.now(), frozen);
  }

  reset() {
    this.offsetMs = 0;
    this.frozenAt = null;
  }

  describe() {
    return { now: isoMs(this.now()), frozen: this.frozenAt !== null, offset_ms: this.offsetMs };
  }
}

/** `2026-11-25T12:05:00.123Z`: Mastodon's created_at (ISO 8601, milliseconds, Z). */
function isoMs(ms) {
  return new Date(ms).toISOString();
}

/** Ruby's `Time#iso8601(6)` for a UTC time: six fractional digits and Z. */
function iso6(ms) {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** `YYYY-MM-DD` (Account.last_status_at is a date). */
function isoDate(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Midnight of the day (Account.created_at is truncated to the day). */
function isoMidnight(ms) {
  return `${isoDate(ms)}T00:00:00.000Z`;
}

function parseTime(value) {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value !== 'string') return NaN;
  return Date.parse(value);
}

module.exports = { Clock, isoMs, iso6, isoDate, isoMidnight, parseTime };
