'use strict';
// The control API under /__emu/ (JSON in, JSON out, no auth). See README.md, "Mastodon emulator".

const { readBody, send, parseQuery, firstParam } = require('./http');
const { STREAM_KINDS } = require('./faults');
const { parseTime, isoMs } = require('./clock');
const { isBlank } = require('./format');
const events = require('./events');

const INJECT_VISIBILITIES = new Set(['public', 'unlisted', 'private', 'direct']);

class ControlError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function resolveAccount(state, ref) {
  if (ref && typeof ref === 'object') {
    const existing = ref.id !== undefined ? state.accounts.get(String(ref.id)) : null;
    if (existing) return existing;
    try {
      return state.addAccount(ref);
    } catch (err) {
      throw new ControlError(400, err.message);
    }
  }
  const rec = state.findAccount(ref);
  if (!rec) throw new ControlError(404, `unknown account: ${ref}`);
  return rec;
}

function routes(emu) {
  const { state, hub, faults, log, clock, rates } = emu;
  const brandId = () => state.brandId;

  return {
    'POST /__emu/inject': (b) => {
      const account = resolveAccount(state, b.account ?? 'alice');
      if (account.id === brandId()) throw new ControlError(400, 'inject posts as a customer, not as the brand');
      const visibility = b.visibility || 'public';
      if (!INJECT_VISIBILITIES.has(visibility)) throw new ControlError(400, `bad visibility: ${visibility}`);
      const deliver = b.deliver || 'stream';
      if (deliver !== 'stream' && deliver !== 'missed') throw new ControlError(400, 'deliver must be "stream" or "missed"');
      if (b.in_reply_to_id !== undefined && b.in_reply_to_id !== null && !state.liveStatus(b.in_reply_to_id)) {
        throw new ControlError(404, `unknown in_reply_to_id: ${b.in_reply_to_id}`);
      }
      if (typeof b.content !== 'string' && isBlank(b.text)) throw new ControlError(400, 'text (or content) is required');
      const createdMs = b.created_at !== undefined ? parseTime(b.created_at) : undefined;
      if (Number.isNaN(createdMs)) throw new ControlError(400, 'bad created_at');
      const rec = state.createStatus({
        account,
        text: typeof b.content === 'string' ? null : String(b.text),
        content: typeof b.content === 'string' ? b.content : undefined,
        mention_ids: [brandId()],
        mention_brand: true,
        visibility,
        in_reply_to_id: b.in_reply_to_id || null,
        spoiler_text: b.spoiler_text || '',
        sensitive: b.sensitive,
        language: b.language === undefined ? 'en' : b.language,
        origin: 'inject',
        created_ms: createdMs,
      });
      const notif = state.createNotification({ type: 'mention', from: account, status: rec, created_ms: createdMs });
      let delivered = 0;
      if (deliver === 'stream') {
        const opts = { duplicate: Math.max(0, Number(b.duplicate) || 0) };
        delivered += events.deliverNotification(emu, notif, opts);
        // A followed author's post also lands on the home timeline (platforms.md §1.3).
        delivered += events.deliverStatus(emu, rec, 'update', b.also_update ? [brandId()] : [], opts);
        delivered += events.deliverConversation(emu, rec, opts);
      }
      return { status: state.renderStatus(rec), notification: state.renderNotification(notif), delivered };
    },

    'POST /__emu/notify': (b) => {
      if (isBlank(b.type)) throw new ControlError(400, 'type is required');
      const account = resolveAccount(state, b.account ?? 'alice');
      let status = null;
      if (b.status_id !== undefined && b.status_id !== null) {
        status = state.liveStatus(b.status_id);
        if (!status) throw new ControlError(404, `unknown status_id: ${b.status_id}`);
      }
      const notif = state.createNotification({ type: String(b.type), from: account, status });
      const delivered = (b.deliver || 'stream') === 'stream' ? events.deliverNotification(emu, notif, { duplicate: Number(b.duplicate) || 0 }) : 0;
      return { notification: state.renderNotification(notif), delivered };
    },

    'POST /__emu/delete': (b) => {
      const rec = state.liveStatus(b.id);
      if (!rec) throw new ControlError(404, `unknown status: ${b.id}`);
      state.deleteStatus(rec);
      return { deleted: rec.id, delivered: events.deliverDelete(emu, rec) };
    },

    'POST /__emu/edit': (b) => {
      const rec = state.liveStatus(b.id);
      if (!rec) throw new ControlError(404, `unknown status: ${b.id}`);
      if (isBlank(b.text) && typeof b.content !== 'string') throw new ControlError(400, 'text (or content) is required');
      const fresh = state.composeContent({
        text: typeof b.content === 'string' ? null : String(b.text),
        content: typeof b.content === 'string' ? b.content : undefined,
        mention_ids: rec.mention_ids,
        mention_brand: rec.origin === 'inject',
      });
      Object.assign(rec, fresh, { edited_ms: clock.now() });
      const home = rec.mention_ids.includes(brandId()) || rec.account_id === brandId() ? [brandId()] : [];
      return { status: state.renderStatus(rec), delivered: events.deliverStatus(emu, rec, 'status.update', home) };
    },

    'POST /__emu/filters_changed': () => ({ delivered: events.deliverFiltersChanged(emu, brandId()) }),

    // Arbitrary event (e.g. a fixture payload). `frame` (string or object) is written as is to
    // every WebSocket client; otherwise {event, payload} is published on `channel` (a channel
    // id such as "timeline:public"; default: the brand's notifications channel for
    // "notification", the brand's home channel for anything else).
    'POST /__emu/emit': (b) => {
      if (b.frame !== undefined) return { delivered: hub.broadcastRaw(typeof b.frame === 'string' ? b.frame : JSON.stringify(b.frame)) };
      if (isBlank(b.event)) throw new ControlError(400, 'event (or frame) is required');
      const channel = b.channel || (b.event === 'notification' ? `timeline:${brandId()}:notifications` : `timeline:${brandId()}`);
      return { delivered: hub.publish(channel, String(b.event), b.payload, { duplicate: Number(b.duplicate) || 0 }) };
    },

    'POST /__emu/fault': (b) => {
      if (STREAM_KINDS.has(b.kind)) return { applied: b.kind, affected: applyStreamFault(emu, b) };
      try {
        return { armed: faults.arm(b) };
      } catch (err) {
        throw new ControlError(400, err.message);
      }
    },
    'GET /__emu/faults': () => ({ ...faults.list(), no_pong: hub.noPong }),
    'POST /__emu/faults/clear': () => { faults.reset(); hub.noPong = false; return { ok: true }; },

    'GET /__emu/log': (b, q) => log.query({
      kind: firstParam(q.kind), method: firstParam(q.method), path: firstParam(q.path),
      path_prefix: firstParam(q.path_prefix), since_seq: firstParam(q.since_seq), conn: firstParam(q.conn),
    }),
    'POST /__emu/log/clear': () => { log.clear(); return { ok: true }; },

    'GET /__emu/statuses': (b, q) => {
      const by = firstParam(q.created_by);
      const includeDeleted = ['1', 'true'].includes(String(firstParam(q.include_deleted)));
      let filterId = null;
      if (by && by !== 'all') {
        const acc = by === 'brand' ? state.brand() : state.findAccount(by);
        if (!acc) throw new ControlError(404, `unknown account: ${by}`);
        filterId = acc.id;
      }
      return [...state.statuses.values()]
        .filter((s) => (filterId === null || s.account_id === filterId) && (includeDeleted || s.deleted_ms === null))
        .filter((s) => by !== 'brand' || s.origin === 'api')
        .map((s) => state.renderStatus(s, s.account_id));
    },

    'GET /__emu/notifications': () => state.notifications.map((n) => state.renderNotification(n)),
    'GET /__emu/connections': () => hub.describe(),
    'GET /__emu/accounts': () => [...state.accounts.values()].map((a) => state.renderAccount(a)),
    'POST /__emu/accounts': (b) => state.renderAccount(resolveAccount(state, b.account || b)),

    'POST /__emu/tokens': (b) => {
      if (isBlank(b.token)) throw new ControlError(400, 'token is required');
      if (b.revoke) {
        const rec = state.tokens.get(b.token);
        if (!rec) throw new ControlError(404, 'unknown token');
        rec.revoked = true;
        return { revoked: true, closed_streams: hub.kill(rec) };
      }
      try {
        const rec = state.addToken(b.token, { account: b.account, scopes: b.scopes });
        if (b.application) rec.application = b.application;
        return { token: rec.token, id: rec.id, account_id: rec.account_id, scopes: rec.scopes };
      } catch (err) {
        throw new ControlError(400, err.message);
      }
    },

    'GET /__emu/clock': () => clock.describe(),
    'POST /__emu/clock': (b) => {
      if (b.now !== undefined) {
        const ms = parseTime(b.now);
        if (Number.isNaN(ms)) throw new ControlError(400, 'bad now');
        clock.set(ms, b.frozen);
      } else if (b.frozen !== undefined) {
        clock.setFrozen(b.frozen);
      }
      if (b.advance_ms !== undefined) {
        const ms = Number(b.advance_ms);
        if (!Number.isFinite(ms)) throw new ControlError(400, 'bad advance_ms');
        clock.advance(ms);
      }
      return clock.describe();
    },

    'GET /__emu/rate_limits': () => emu.config.rate_limits,
    'POST /__emu/rate_limits': (b) => {
      for (const [name, v] of Object.entries(b)) {
        if (!emu.config.rate_limits[name]) throw new ControlError(400, `unknown limit: ${name}`);
        if (v.limit !== undefined) emu.config.rate_limits[name].limit = Number(v.limit);
        if (v.period_s !== undefined) emu.config.rate_limits[name].period_s = Number(v.period_s);
      }
      rates.reset();
      return emu.config.rate_limits;
    },

    'POST /__emu/reset': () => { emu.reset(); return { ok: true, now: isoMs(clock.now()) }; },
  };
}

/** Stream faults act at once on the connected clients; returns how many were affected. */
function applyStreamFault(emu, b) {
  const { hub, state } = emu;
  const wsConns = [...hub.conns.values()].filter((c) => c.kind === 'websocket');
  switch (b.kind) {
    case 'drop_stream':
      for (const c of hub.conns.values()) hub.destroy(c);
      return hub.conns.size;
    case 'close_stream': {
      for (const c of wsConns) {
        if (b.code === undefined || b.code === null) c.ws.close();
        else {
          try {
            c.ws.close(Number(b.code), b.reason || '');
          } catch (err) {
            throw new ControlError(400, err.message);
          }
        }
      }
      return wsConns.length;
    }
    case 'malformed_frame':
      return hub.broadcastRaw(typeof b.text === 'string' ? b.text : '{"stream":["user"],"event":"notification","payload":"{\\"id\\":\\"6873');
    case 'oversized_frame': {
      const bytes = Number(b.bytes) || 2 * 1024 * 1024;
      const author = state.findAccount('alice') || [...state.accounts.values()].find((a) => a.id !== state.brandId);
      const rec = {
        id: state.snowflake(), account_id: author.id, created_ms: emu.clock.now(), text: null, content: '<p></p>',
        visibility: 'public', in_reply_to_id: null, in_reply_to_account_id: null, mention_ids: [], tags: [], language: 'en',
        spoiler_text: '', sensitive: false, edited_ms: null, deleted_ms: null, replies_count: 0, reblogs_count: 0, favourites_count: 0,
        application: null, origin: 'fault',
      };
      const frameOf = (pad) => {
        rec.content = `<p>${'x'.repeat(pad)}</p>`;
        return JSON.stringify({ stream: ['user'], event: 'update', payload: JSON.stringify(state.renderStatus(rec)) });
      };
      const base = Buffer.byteLength(frameOf(0));
      return hub.broadcastRaw(frameOf(Math.max(0, bytes - base)));
    }
    case 'no_pong':
      hub.noPong = b.enabled !== false;
      return wsConns.length;
    default:
      throw new ControlError(400, `unknown stream fault: ${b.kind}`);
  }
}

async function handle(emu, req, res, url) {
  const table = routes(emu);
  const fn = table[`${req.method} ${url.pathname.replace(/\/+$/, '')}`];
  if (!fn) return send(res, 404, {}, { error: `no control endpoint ${req.method} ${url.pathname}` });
  try {
    const raw = await readBody(req);
    let body = {};
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new ControlError(400, 'control API bodies are JSON');
      }
    }
    const result = await fn(body || {}, parseQuery(url.search));
    return send(res, 200, {}, result);
  } catch (err) {
    return send(res, err.status || 500, {}, { error: err.message });
  }
}

module.exports = { handle };
