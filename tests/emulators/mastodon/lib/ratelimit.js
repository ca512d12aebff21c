'use strict';
// Rate limits as a Mastodon instance applies them.
//
// Request throttles (config/initializers/rack_attack.rb): fixed windows aligned on the epoch
// (bucket = floor(now_s / period)); every API request counts, the request that makes the count
// exceed the limit is refused. Headers on every API response describe the throttle closest to
// being exceeded (RateLimitHeaders#api_throttle_data):
//   X-RateLimit-Limit, X-RateLimit-Remaining (= limit - count),
//   X-RateLimit-Reset = (now + period - now_s % period).iso8601(6)
// Note the Reset keeps the sub-second part of "now", exactly like the Ruby expression.
//
// Status creation (RateLimiter family :statuses): 300 per 3 h per account, recorded after a
// status is created; POST /api/v1/statuses shows these headers when they are the tighter ones
// (RateLimitHeaders.override_rate_limit_headers).

const { iso6 } = require('./clock');

class RateLimits {
  constructor(config, clock) {
    this.config = config; // object with per_token, per_user, per_ip, paging, statuses
    this.clock = clock;
    this.counters = new Map();
  }

  reset() {
    this.counters.clear();
  }

  bucketKey(name, discriminator, periodS, nowMs) {
    return `${name}:${discriminator}:${Math.floor(nowMs / 1000 / periodS)}`;
  }

  resetMs(periodS, nowMs) {
    const nowS = Math.floor(nowMs / 1000);
    return nowMs + (periodS - (nowS % periodS)) * 1000;
  }

  /**
   * Count one API request. ctx: {tokenRec, ip, paging}.
   * Returns {throttled: data|null, headers: {...}} where data = {name, limit, count, period_s}.
   */
  hitRequest(ctx) {
    const now = this.clock.now();
    const rl = this.config;
    const apply = [];
    if (ctx.tokenRec) {
      apply.push(['per_token', ctx.tokenRec.id]);
      apply.push(['per_user', ctx.tokenRec.account_id]);
      if (ctx.paging) apply.push(['paging', ctx.tokenRec.account_id]);
    } else {
      apply.push(['per_ip', ctx.ip]);
      if (ctx.paging) apply.push(['paging', ctx.ip]);
    }
    const data = [];
    let throttled = null;
    for (const [name, discriminator] of apply) {
      const { limit, period_s: periodS } = rl[name];
      const key = this.bucketKey(name, discriminator, periodS, now);
      const count = (this.counters.get(key) || 0) + 1;
      this.counters.set(key, count);
      const d = { name, limit, count, period_s: periodS };
      data.push(d);
      if (!throttled && count > limit) throttled = d;
    }
    if (throttled) {
      return {
        throttled,
        headers: {
          'X-RateLimit-Limit': String(throttled.limit),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': iso6(this.resetMs(throttled.period_s, now)),
        },
      };
    }
    const tightest = data.reduce((a, b) => (b.limit - b.count < a.limit - a.count ? b : a));
    return {
      throttled: null,
      headers: {
        'X-RateLimit-Limit': String(tightest.limit),
        'X-RateLimit-Remaining': String(tightest.limit - tightest.count),
        'X-RateLimit-Reset': iso6(this.resetMs(tightest.period_s, now)),
      },
    };
  }

  statusesKey(accountId, now) {
    return this.bucketKey('statuses', accountId, this.config.statuses.period_s, now);
  }

  /** RateLimiter#record!: false when the account already used its budget (→ 429). */
  recordStatus(accountId) {
    const key = this.statusesKey(accountId, this.clock.now());
    const count = this.counters.get(key) || 0;
    if (count >= this.config.statuses.limit) return false;
    this.counters.set(key, count + 1);
    return true;
  }

  /** RateLimiter#to_headers for the statuses family. */
  statusHeaders(accountId) {
    const now = this.clock.now();
    const { limit, period_s: periodS } = this.config.statuses;
    const count = this.counters.get(this.statusesKey(accountId, now)) || 0;
    return {
      'X-RateLimit-Limit': String(limit),
      'X-RateLimit-Remaining': String(limit - count),
      'X-RateLimit-Reset': iso6(this.resetMs(periodS, now)),
    };
  }

  /** Merge `statusHeaders` into `headers` unless the existing ones are tighter. */
  overrideWithStatusHeaders(headers, accountId) {
    const sh = this.statusHeaders(accountId);
    const current = headers['X-RateLimit-Remaining'];
    if (current !== undefined && Number(sh['X-RateLimit-Remaining']) > Number(current)) return headers;
    return { ...headers, ...sh };
  }
}

module.exports = { RateLimits };
