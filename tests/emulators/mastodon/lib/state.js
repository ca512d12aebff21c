'use strict';
// The emulated instance's data: accounts, tokens, statuses, notifications, idempotency keys,
// and the renderers that turn internal records into Mastodon REST entities
// (Account, CredentialAccount, Status, Notification, Conversation).
//
// Internal records are plain objects; entities are rendered on demand so that an edit or a
// delete is reflected everywhere, as on a real server.

const { isoMs, isoMidnight } = require('./clock');
const { formatText, isBlank } = require('./format');

class State {
  constructor(config, clock) {
    this.config = config;
    this.clock = clock;
    this.reset();
  }

  reset() {
    const cfg = this.config;
    this.accounts = new Map(); // id → account record
    this.tokens = new Map(); // token string → token record
    this.statuses = new Map(); // id → status record (insertion order = creation order)
    this.notifications = []; // ascending id
    this.idempotency = new Map(); // `${account_id}\0${key}` → {status_id, expires_ms}
    this.lastSnowflake = 0n;
    this.nextNotificationId = 68739300;
    this.nextTokenId = 1;
    this.conversations = new Map(); // thread root status id → conversation id
    this.brandId = this.addAccount({ ...cfg.brand, domain: null }).id;
    for (const c of cfg.customers) this.addAccount(c);
    for (const [token, spec] of Object.entries(cfg.tokens)) this.addToken(token, spec);
  }

  // ---- ids ---------------------------------------------------------------------------------

  /** Mastodon-style snowflake: ms timestamp << 16 | sequence; strictly increasing. */
  snowflake() {
    let id = BigInt(Math.max(0, Math.floor(this.clock.now()))) << 16n;
    if (id <= this.lastSnowflake) id = this.lastSnowflake + 1n;
    this.lastSnowflake = id;
    return id.toString();
  }

  /** Snowflake for a given time (remote posts get ids from their publication time). */
  snowflakeAt(ms) {
    if (ms === undefined || ms === null) return this.snowflake();
    let id = (BigInt(Math.max(0, Math.floor(ms))) << 16n) | BigInt(this.statuses.size & 0xffff);
    while (this.statuses.has(id.toString())) id += 1n;
    if (id > this.lastSnowflake) this.lastSnowflake = id;
    return id.toString();
  }

  // ---- accounts ----------------------------------------------------------------------------

  /** spec: {id?, username, domain?, display_name, ...} or a full Account entity (has `acct`). */
  addAccount(spec) {
    let rec;
    if (spec && typeof spec.acct === 'string' && spec.url) {
      // A full Account entity (e.g. fixtures/mastodon/account.json): served as given.
      const [username, domain] = spec.acct.split('@');
      rec = { id: String(spec.id || this.snowflake()), username: spec.username || username, domain: domain || null, raw: { ...spec } };
      rec.raw.id = rec.id;
    } else {
      if (!spec || typeof spec.username !== 'string' || !/^[a-z0-9_]+$/i.test(spec.username)) {
        throw new Error('account needs a username of [a-z0-9_]');
      }
      rec = {
        id: String(spec.id || this.snowflake()),
        username: spec.username,
        domain: spec.domain || null,
        display_name: spec.display_name ?? spec.username,
        note: spec.note ?? '',
        bot: Boolean(spec.bot),
        locked: Boolean(spec.locked),
        group: Boolean(spec.group),
        discoverable: spec.discoverable ?? true,
        created_at: spec.created_at || isoMidnight(this.clock.now()),
        followers_count: spec.followers_count ?? 0,
        following_count: spec.following_count ?? 0,
        statuses_count: spec.statuses_count ?? 0,
        last_status_at: spec.last_status_at ?? null,
        fields: spec.fields || [],
        emojis: spec.emojis || [],
      };
    }
    if (!/^\d+$/.test(rec.id)) throw new Error(`account id must be a numeric string, got ${rec.id}`);
    this.accounts.set(rec.id, rec);
    return rec;
  }

  acctOf(rec) {
    return rec.domain ? `${rec.username}@${rec.domain}` : rec.username;
  }

  /**
   * Find by id, acct (`user@domain`), `@acct`, or bare username: a bare username means the
   * local account of that name, else the only account of that name on any domain.
   */
  findAccount(ref, { strict = false } = {}) {
    if (ref === undefined || ref === null) return null;
    const s = String(ref).replace(/^@/, '');
    if (!strict && this.accounts.has(s)) return this.accounts.get(s);
    const [user, domain] = s.split('@');
    const local = !domain || domain.toLowerCase() === this.config.host.toLowerCase();
    const sameName = [...this.accounts.values()].filter((r) => r.username.toLowerCase() === user.toLowerCase());
    const exact = sameName.find((r) => (local ? r.domain === null : (r.domain || '').toLowerCase() === domain.toLowerCase()));
    if (exact) return exact;
    if (!strict && !domain && sameName.length === 1) return sameName[0];
    return null;
  }

  brand() {
    return this.accounts.get(this.brandId);
  }

  accountUrl(rec) {
    return `https://${rec.domain || this.config.host}/@${rec.username}`;
  }

  renderAccount(rec) {
    if (rec.raw) return JSON.parse(JSON.stringify(rec.raw));
    const host = this.config.host;
    const base = rec.domain ? `https://${rec.domain}` : `https://${host}`;
    return {
      id: rec.id,
      username: rec.username,
      acct: this.acctOf(rec),
      display_name: rec.display_name,
      locked: rec.locked,
      bot: rec.bot,
      discoverable: rec.discoverable,
      indexable: true,
      group: rec.group,
      created_at: rec.created_at,
      note: rec.note,
      url: `${base}/@${rec.username}`,
      uri: `${base}/users/${rec.username}`,
      avatar: `https://${host}/avatars/original/missing.png`,
      avatar_static: `https://${host}/avatars/original/missing.png`,
      header: `https://${host}/headers/original/missing.png`,
      header_static: `https://${host}/headers/original/missing.png`,
      followers_count: rec.followers_count,
      following_count: rec.following_count,
      statuses_count: rec.statuses_count,
      last_status_at: rec.last_status_at,
      hide_collections: false,
      noindex: false,
      emojis: rec.emojis,
      roles: [],
      fields: rec.fields,
    };
  }

  /** GET /api/v1/accounts/verify_credentials: Account + source + role. */
  renderCredentialAccount(rec) {
    const account = this.renderAccount(rec);
    account.source = {
      privacy: 'public',
      sensitive: false,
      language: 'en',
      note: String(account.note || '').replace(/<[^>]*>/g, ''),
      fields: (account.fields || []).map((f) => ({ name: f.name, value: String(f.value).replace(/<[^>]*>/g, ''), verified_at: f.verified_at ?? null })),
      follow_requests_count: 0,
      hide_collections: false,
      discoverable: true,
      indexable: true,
      attribution_domains: [],
    };
    account.role = { id: '-99', name: '', permissions: '65536', color: '', highlighted: false };
    return account;
  }

  // ---- tokens ------------------------------------------------------------------------------

  addToken(token, spec = {}) {
    const account = this.findAccount(spec.account || this.brandId);
    if (!account) throw new Error(`unknown account for token: ${spec.account}`);
    const scopes = Array.isArray(spec.scopes) ? spec.scopes : String(spec.scopes || 'read write follow push').split(/\s+/).filter(Boolean);
    const rec = { token, id: String(this.nextTokenId++), account_id: account.id, scopes, revoked: false };
    this.tokens.set(token, rec);
    return rec;
  }

  /** Valid (known, not revoked) token record or null. */
  tokenRecord(token) {
    if (typeof token !== 'string' || token === '') return null;
    const rec = this.tokens.get(token);
    return rec && !rec.revoked ? rec : null;
  }

  // ---- statuses ----------------------------------------------------------------------------

  resolveMention(username, domain) {
    // ProcessMentionsService: a mention without a domain names a local account.
    const rec = this.findAccount(domain ? `${username}@${domain}` : username, { strict: true });
    if (!rec) return null;
    return { id: rec.id, username: rec.username, acct: this.acctOf(rec), url: this.accountUrl(rec) };
  }

  /**
   * Create a status record. opts: {account, text?, content?, visibility, in_reply_to_id,
   * spoiler_text, sensitive, language, application, origin, created_ms, mention_brand}.
   */
  /**
   * Text → {text, content, mention_ids, tags}. `content` (raw HTML) is taken as given with
   * `mention_ids`; otherwise the text is formatted, prefixed with @brand when `mention_brand`
   * is set and the text does not mention the brand already.
   */
  composeContent(opts) {
    const resolve = (u, d) => this.resolveMention(u, d);
    if (typeof opts.content === 'string') {
      const ids = (opts.mention_ids || []).filter((id) => this.accounts.has(id));
      return { text: null, content: opts.content, mention_ids: [...new Set(ids)], tags: [] };
    }
    let body = String(opts.text ?? '');
    if (opts.mention_brand) {
      const probe = formatText(body, { host: this.config.host, resolve });
      if (!probe.mentions.some((m) => m.id === this.brandId)) body = `@${this.brand().username} ${body}`;
    }
    const formatted = formatText(body, { host: this.config.host, resolve });
    return { text: body, content: formatted.html, mention_ids: formatted.mentions.map((m) => m.id), tags: formatted.tags };
  }

  /**
   * Create a status record. opts: {account, text?, content?, mention_ids?, mention_brand?,
   * visibility, in_reply_to_id, spoiler_text, sensitive, language, application, origin, created_ms}.
   */
  createStatus(opts) {
    const account = opts.account;
    const now = opts.created_ms ?? this.clock.now();
    const id = this.snowflakeAt(opts.created_ms);
    const { text, content, mention_ids: mentionIds, tags } = this.composeContent(opts);
    const parent = opts.in_reply_to_id ? this.statuses.get(String(opts.in_reply_to_id)) : null;
    const rec = {
      id,
      account_id: account.id,
      created_ms: now,
      text,
      content,
      visibility: opts.visibility || 'public',
      in_reply_to_id: parent ? parent.id : null,
      in_reply_to_account_id: parent ? parent.account_id : null,
      mention_ids: mentionIds,
      tags,
      language: opts.language === undefined ? 'en' : opts.language,
      spoiler_text: opts.spoiler_text || '',
      sensitive: Boolean(opts.sensitive) || !isBlank(opts.spoiler_text),
      edited_ms: null,
      deleted_ms: null,
      replies_count: 0,
      reblogs_count: 0,
      favourites_count: 0,
      application: opts.application || null,
      origin: opts.origin || 'inject',
    };
    this.statuses.set(id, rec);
    if (parent) parent.replies_count += 1;
    if (!account.raw) {
      account.statuses_count += 1;
      account.last_status_at = new Date(now).toISOString().slice(0, 10);
    }
    return rec;
  }

  liveStatus(id) {
    const rec = this.statuses.get(String(id));
    return rec && rec.deleted_ms === null ? rec : null;
  }

  renderStatus(rec, viewerId = this.brandId) {
    const account = this.accounts.get(rec.account_id);
    const host = rec.account_id && account.domain ? account.domain : this.config.host;
    const own = viewerId === rec.account_id;
    const status = {
      id: rec.id,
      created_at: isoMs(rec.created_ms),
      in_reply_to_id: rec.in_reply_to_id,
      in_reply_to_account_id: rec.in_reply_to_account_id,
      sensitive: rec.sensitive,
      spoiler_text: rec.spoiler_text,
      visibility: rec.visibility,
      language: rec.language,
      uri: `https://${host}/users/${account.username}/statuses/${rec.id}`,
      url: `https://${host}/@${account.username}/${rec.id}`,
      replies_count: rec.replies_count,
      reblogs_count: rec.reblogs_count,
      favourites_count: rec.favourites_count,
      quotes_count: 0,
      edited_at: rec.edited_ms === null ? null : isoMs(rec.edited_ms),
      favourited: false,
      reblogged: false,
      muted: false,
      bookmarked: false,
    };
    if (own) status.pinned = false;
    status.content = rec.content;
    status.filtered = [];
    status.reblog = null;
    if (rec.application) status.application = rec.application;
    status.account = this.renderAccount(account);
    status.media_attachments = [];
    status.mentions = rec.mention_ids.map((mid) => this.accounts.get(mid)).filter(Boolean)
      .map((r) => ({ id: r.id, username: r.username, url: this.accountUrl(r), acct: this.acctOf(r) }));
    status.tags = rec.tags;
    status.emojis = [];
    status.quote = null;
    status.card = null;
    status.poll = null;
    status.quote_approval = {
      automatic: rec.visibility === 'public' || rec.visibility === 'unlisted' ? ['public'] : [],
      manual: [],
      current_user: rec.visibility === 'public' || rec.visibility === 'unlisted' ? 'automatic' : 'denied',
    };
    return status;
  }

  // ---- notifications -----------------------------------------------------------------------

  createNotification({ type, from, status, recipient_id, created_ms }) {
    const rec = {
      id: String(this.nextNotificationId++),
      type,
      created_ms: created_ms ?? this.clock.now(),
      account_id: from.id,
      status_id: status ? status.id : null,
      recipient_id: recipient_id || this.brandId,
    };
    this.notifications.push(rec);
    return rec;
  }

  renderNotification(rec) {
    const n = {
      id: rec.id,
      type: rec.type,
      created_at: isoMs(rec.created_ms),
      group_key: `ungrouped-${rec.id}`,
      account: this.renderAccount(this.accounts.get(rec.account_id)),
    };
    if (rec.status_id) {
      const status = this.statuses.get(rec.status_id);
      if (status) n.status = this.renderStatus(status);
    }
    return n;
  }

  /** Delete a status; its notifications go with it (Mastodon: dependent destroy). */
  deleteStatus(rec) {
    rec.deleted_ms = this.clock.now();
    this.notifications = this.notifications.filter((n) => n.status_id !== rec.id);
    const parent = rec.in_reply_to_id ? this.statuses.get(rec.in_reply_to_id) : null;
    if (parent && parent.replies_count > 0) parent.replies_count -= 1;
  }

  conversationId(rec) {
    let root = rec;
    while (root.in_reply_to_id && this.statuses.has(root.in_reply_to_id)) root = this.statuses.get(root.in_reply_to_id);
    if (!this.conversations.has(root.id)) this.conversations.set(root.id, String(2000 + this.conversations.size));
    return this.conversations.get(root.id);
  }

  /** Conversation entity for a direct status, as seen by `viewerId`. */
  renderConversation(rec, viewerId = this.brandId) {
    const participants = new Set([rec.account_id, ...rec.mention_ids]);
    participants.delete(viewerId);
    return {
      id: this.conversationId(rec),
      unread: rec.account_id !== viewerId,
      accounts: [...participants].map((id) => this.accounts.get(id)).filter(Boolean).map((a) => this.renderAccount(a)),
      last_status: this.renderStatus(rec, viewerId),
    };
  }

  // ---- idempotency -------------------------------------------------------------------------

  idempotencyGet(accountId, key) {
    const k = `${accountId}\0${key}`;
    const entry = this.idempotency.get(k);
    if (!entry) return null;
    if (entry.expires_ms <= this.clock.now()) {
      this.idempotency.delete(k);
      return null;
    }
    return entry;
  }

  idempotencySet(accountId, key, statusId) {
    this.idempotency.set(`${accountId}\0${key}`, { status_id: statusId, expires_ms: this.clock.now() + 3600 * 1000 });
  }
}

module.exports = { State };
