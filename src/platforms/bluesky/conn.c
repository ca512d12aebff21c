/* conn.c — the Bluesky connector: a cached XRPC session (createSession, refreshSession on
 * ExpiredToken, a new session when the refresh fails), the Jetstream v1 stream of
 * app.bsky.feed.post commits with a persisted time_us cursor (rewound on reconnect; dedupe
 * absorbs the overlap), filtered to posts that mention the brand or answer its posts, and
 * replies through com.atproto.repo.createRecord with a record key derived from the effect's
 * idempotency key (a retry cannot make a second post), direct messages through the chat
 * service (atproto-proxy). Reference: shared/reference/platforms.md §2.
 * Depends on net/ (loop, http, ws, backoff), the Jetstream mapper, core/effects (rkey),
 * core/utf8 (grapheme limits), the store (cursor). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/retry.h"
#include "core/utf8.h"
#include "net/backoff.h"
#include "net/http.h"
#include "net/ws.h"
#include "platforms/bluesky/map.h"
#include "platforms/connector.h"
#include "store/store.h"
#include "util/log.h"

#define POST_NSID "app.bsky.feed.post"
#define CHAT_PROXY "atproto-proxy: did:web:api.bsky.chat#bsky_chat"
#define STREAM_MSG_MAX (1u << 20) /* also asked of Jetstream (maxMessageSizeBytes) */
#define REWIND_US (5 * 1000000LL) /* on reconnect: at-least-once, dedupe absorbs it */
#define CURSOR_SAVE_MS 5000       /* skipped events: persist the position this often */
#define POST_GRAPHEMES 300        /* app.bsky.feed.post text limits */
#define POST_BYTES 3000
#define DM_GRAPHEMES 1000 /* chat.bsky.convo message text limits */
#define DM_BYTES 10000
#define TEXT_BUF_MAX (256u * 1024u) /* the outbox's text, before it is cut to fit */
#define HANDLE_MAX 253
#define HANDLE_CACHE 64
#define HANDLE_TTL_MS (60 * 60 * 1000)
#define QUERY_TIMEOUT_MS 15000
#define WRITE_TIMEOUT_MS 20000
/* createSession is limited to 30 per 5 min and 300 per day: a refused password is retried
 * every 5-10 min (at most 288 a day), never at the reconnect pace */
#define AUTH_REFUSED_MIN_MS (5 * 60 * 1000)
#define AUTH_REFUSED_JITTER_MS (5 * 60 * 1000)

enum sess_state {
    SESS_NONE = 0,   /* never created, or the last attempt failed: calls fail fast */
    SESS_CREATING,   /* createSession in flight: calls wait */
    SESS_REFRESHING, /* refreshSession in flight: calls wait */
    SESS_OK,
};

/* An XRPC call, re-sent once with fresh tokens when it meets ExpiredToken. */
enum { CALL_AUTH = 1, CALL_CHAT = 2 };
/* r NULL: the connector was freed while the call was out; release ud, call no one. */
typedef void (*xcall_done_fn)(void *ud, const struct sb_http_resp *r);

struct bsky;

struct xcall {
    struct bsky *b;
    struct xcall *next; /* waiting for a session */
    const char *method; /* static */
    char *url, *body;
    size_t body_len;
    unsigned flags, gen; /* gen: the session whose token was sent */
    int refreshed;       /* already re-sent after an ExpiredToken */
    xcall_done_fn done;
    void *ud;
};

struct handle_entry {
    char did[128];
    char handle[HANDLE_MAX + 1];
    int64_t expires; /* loop monotonic ms */
};

struct bsky {
    struct sb_connector base;
    char cursor_key[200];
    char self_prefix[200]; /* "at://<self did>/": replies to the brand's posts */
    /* session (tokens are secrets: never logged, wiped when replaced) */
    enum sess_state sess;
    char *access, *refresh;
    unsigned gen;
    struct xcall *waiting, **waiting_tail;
    struct sb_backoff sess_backoff;
    uv_timer_t sess_timer;
    /* stream */
    struct sb_ws *ws;
    uv_timer_t stream_timer;
    struct sb_backoff backoff;
    char *stream_url;
    int64_t cursor_us, saved_us, saved_at, stored_cursor;
    struct sb_event ev;
    long frames, forwarded, skipped, unrelated, own, malformed;
    /* recipients' handles (Jetstream carries none) */
    struct handle_entry handles[HANDLE_CACHE];
    unsigned handle_next;
    int in_flight, stopping, freed, handles_closed;
};

static void connect_stream(struct bsky *b);
static void session_create(struct bsky *b);

static void log_account(struct bsky *b, enum sb_log_level lvl, const char *event,
                        const char *detail)
{
    sb_log(lvl, event, "\"platform\":\"bluesky\",\"account\":%s,\"detail\":%s",
           sb_log_q(b->base.conf->name), sb_log_q(detail));
}

/* ---- small helpers ----------------------------------------------------------------------- */

static json_t *resp_json(const struct sb_http_resp *r)
{
    return r && r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The XRPC "error" name of a failed response, into out ("" when none). */
static void xrpc_error(const struct sb_http_resp *r, char *out, size_t cap)
{
    json_t *j = r->status >= 400 ? resp_json(r) : NULL;
    const char *e = jstr(j, "error");
    snprintf(out, cap, "%s", e ? e : "");
    json_decref(j);
}

/* Serialize with our own allocator (jansson's may be the project's arena). *out is new. */
static enum sb_err dump_json(const json_t *j, char **out, size_t *len)
{
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    char *s = n ? malloc(n + 1) : NULL;
    if (!s)
        return SB_ERR_NOMEM;
    json_dumpb(j, s, n, JSON_COMPACT);
    s[n] = 0;
    *out = s;
    *len = n;
    return SB_OK;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

/* Handles are DNS names: ASCII letters, digits, '.', '-'. "handle.invalid" is the AppView's
 * "unverified" marker, not a handle. */
static int handle_ok(const char *h)
{
    size_t n = h ? strlen(h) : 0;
    if (n < 3 || n > HANDLE_MAX || !strchr(h, '.') || strcmp(h, "handle.invalid") == 0)
        return 0;
    for (const char *c = h; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-'))
            return 0;
    return 1;
}

/* "2026-07-04T14:40:00.000Z" (atproto datetime, ms, UTC). */
static void iso_now(char out[32])
{
    int64_t ms = sb_loop_now_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* ---- session ----------------------------------------------------------------------------- */

static void session_set(struct bsky *b, const char *access, const char *refresh)
{
    wipe_free(b->access);
    wipe_free(b->refresh);
    b->access = strdup(access);
    b->refresh = strdup(refresh);
    b->gen++;
    b->sess = b->access && b->refresh ? SESS_OK : SESS_NONE;
}

/* "Authorization: Bearer <tok>" (new; wipe_free it). */
static char *bearer(const char *tok)
{
    size_t n = strlen(tok) + 32;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "Authorization: Bearer %s", tok);
    return h;
}

static int maybe_release(struct bsky *b);
static void xcall_fail(struct xcall *x, const char *why);

static void xcall_free(struct xcall *x)
{
    free(x->url);
    free(x->body);
    free(x);
}

static void on_xcall(void *ud, const struct sb_http_resp *r);

/* Send (or re-send) x with the current session. Waits while a session is being made; SB_ERR_IO
 * when there is none (x untouched: the caller fails it). */
static enum sb_err xcall_send(struct xcall *x)
{
    struct bsky *b = x->b;
    if (x->flags & CALL_AUTH) {
        if (b->sess == SESS_CREATING || b->sess == SESS_REFRESHING) {
            x->next = NULL;
            *b->waiting_tail = x;
            b->waiting_tail = &x->next;
            return SB_OK;
        }
        if (b->sess != SESS_OK)
            return SB_ERR_IO;
    }
    struct sb_http_req rq = {.method = x->method,
                             .url = x->url,
                             .body = x->body,
                             .body_len = x->body_len,
                             .timeout_ms = x->body ? WRITE_TIMEOUT_MS : QUERY_TIMEOUT_MS};
    int h = 0;
    char *auth = NULL;
    if (x->flags & CALL_AUTH) {
        if (!(auth = bearer(b->access)))
            return SB_ERR_NOMEM;
        rq.headers[h++] = auth;
        x->gen = b->gen;
    }
    if (x->body)
        rq.headers[h++] = "Content-Type: application/json";
    if (x->flags & CALL_CHAT)
        rq.headers[h++] = CHAT_PROXY;
    enum sb_err e = sb_http_request(b->base.loop, &rq, on_xcall, x);
    wipe_free(auth);
    if (e == SB_OK)
        b->in_flight++;
    return e;
}

static void xcall_finish(struct xcall *x, const struct sb_http_resp *r)
{
    x->done(x->ud, r);
    xcall_free(x);
}

/* Never sent (no session, no memory): reported as a connect failure, which the retry policy
 * knows cannot have been applied. */
static void xcall_fail(struct xcall *x, const char *why)
{
    struct sb_http_resp r;
    memset(&r, 0, sizeof r);
    r.transport = SB_HTTP_T_CONNECT;
    r.err = SB_ERR_IO;
    r.error = why;
    xcall_finish(x, &r);
}

/* Start an XRPC call; done runs exactly once unless this returns an error. url and body are
 * copied. */
static enum sb_err xcall(struct bsky *b, const char *method, const char *url, const char *body,
                         size_t body_len, unsigned flags, xcall_done_fn done, void *ud)
{
    struct xcall *x = calloc(1, sizeof *x);
    if (!x)
        return SB_ERR_NOMEM;
    x->b = b;
    x->method = method;
    x->flags = flags;
    x->done = done;
    x->ud = ud;
    x->url = strdup(url);
    x->body = body ? malloc(body_len + 1) : NULL;
    if (!x->url || (body && !x->body)) {
        xcall_free(x);
        return SB_ERR_NOMEM;
    }
    if (body) {
        memcpy(x->body, body, body_len);
        x->body[body_len] = 0;
        x->body_len = body_len;
    }
    enum sb_err e = xcall_send(x);
    if (e)
        xcall_free(x);
    return e;
}

static struct xcall *waiters_take(struct bsky *b)
{
    struct xcall *list = b->waiting;
    b->waiting = NULL;
    b->waiting_tail = &b->waiting;
    return list;
}

/* A session is there again: send every waiting call with it. */
static void waiters_resume(struct bsky *b)
{
    for (struct xcall *x = waiters_take(b), *n; x; x = n) {
        n = x->next;
        if (xcall_send(x) != SB_OK)
            xcall_fail(x, "no Bluesky session");
    }
}

static void waiters_fail(struct bsky *b, const char *why)
{
    for (struct xcall *x = waiters_take(b), *n; x; x = n) {
        n = x->next;
        xcall_fail(x, why);
    }
}

static void waiters_abandon(struct bsky *b)
{
    for (struct xcall *x = waiters_take(b), *n; x; x = n) {
        n = x->next;
        x->done(x->ud, NULL);
        xcall_free(x);
    }
}

static void session_refresh(struct bsky *b);

static void on_xcall(void *ud, const struct sb_http_resp *r)
{
    struct xcall *x = ud;
    struct bsky *b = x->b;
    b->in_flight--;
    if (b->freed) {
        x->done(x->ud, NULL);
        xcall_free(x);
        maybe_release(b);
        return;
    }
    char err[64];
    xrpc_error(r, err, sizeof err);
    if ((x->flags & CALL_AUTH) && !x->refreshed && r->status == 400 &&
        strcmp(err, "ExpiredToken") == 0) {
        /* once: refresh (or use the session another call already refreshed), send again */
        x->refreshed = 1;
        if (b->sess == SESS_OK && x->gen == b->gen)
            session_refresh(b); /* now REFRESHING (or CREATING): xcall_send queues x */
        if (xcall_send(x) != SB_OK)
            xcall_fail(x, "no Bluesky session");
        return;
    }
    xcall_finish(x, r);
}

static void on_sess_timer(uv_timer_t *t)
{
    struct bsky *b = t->data;
    if (!b->stopping && b->sess == SESS_NONE)
        session_create(b);
}

static void session_failed(struct bsky *b, const struct sb_http_resp *r, const char *what)
{
    char err[64], d[400];
    xrpc_error(r, err, sizeof err);
    b->sess = SESS_NONE;
    uint32_t delay = sb_backoff_next(&b->sess_backoff);
    int refused = r->status == 401;
    if (refused)
        delay = AUTH_REFUSED_MIN_MS + (uint32_t)(b->sess_backoff.rng % AUTH_REFUSED_JITTER_MS);
    if (r->status == 429) { /* createSession's own limit: wait for its window */
        struct sb_retry_response rr;
        sb_retry_response_init(&rr);
        int64_t now = sb_loop_now_ms();
        char reset[64];
        if (sb_http_header(r, "RateLimit-Reset", reset, sizeof reset) &&
            sb_retry_header_parse(&rr, "RateLimit-Reset", reset, now) == SB_OK &&
            rr.reset_at > now + delay)
            delay = (uint32_t)(rr.reset_at - now < 86400000 ? rr.reset_at - now : 86400000);
    }
    snprintf(d, sizeof d, "%s: %s %ld%s%s%s; retrying in %u ms", what, r->error ? r->error : "HTTP",
             r->status, *err ? " " : "", err,
             refused ? " (identifier or app password refused)" : "", delay);
    log_account(b, refused ? SB_LOG_ERROR : SB_LOG_WARN, "session_failed", d);
    waiters_fail(b, "no Bluesky session (createSession failed)");
    if (!b->stopping) {
        uv_timer_stop(&b->sess_timer);
        uv_timer_start(&b->sess_timer, on_sess_timer, delay, 0);
    }
}

static void on_session(void *ud, const struct sb_http_resp *r)
{
    struct bsky *b = ud;
    b->in_flight--;
    if (b->freed) {
        waiters_abandon(b);
        maybe_release(b);
        return;
    }
    json_t *j = r->status == 200 ? resp_json(r) : NULL;
    const char *access = jstr(j, "accessJwt"), *refresh = jstr(j, "refreshJwt");
    const char *did = jstr(j, "did"), *handle = jstr(j, "handle");
    if (!access || !refresh || !did || strncmp(did, "did:", 4) != 0 ||
        strlen(did) >= sizeof b->base.self_id) {
        json_decref(j);
        session_failed(b, r, "createSession");
        return;
    }
    session_set(b, access, refresh);
    if (b->sess != SESS_OK) {
        json_decref(j);
        session_failed(b, r, "createSession (out of memory)");
        return;
    }
    sb_backoff_reset(&b->sess_backoff);
    if (!b->base.ready) {
        snprintf(b->base.self_id, sizeof b->base.self_id, "%s", did);
        snprintf(b->base.self_handle, sizeof b->base.self_handle, "%s", handle ? handle : "");
        snprintf(b->self_prefix, sizeof b->self_prefix, "at://%s/", did);
        b->base.ready = 1;
        sb_log(SB_LOG_INFO, "identity",
               "\"platform\":\"bluesky\",\"account\":%s,\"did\":%s,\"handle\":%s",
               sb_log_q(b->base.conf->name), sb_log_q(b->base.self_id),
               sb_log_q(b->base.self_handle));
        if (!b->stopping)
            connect_stream(b);
    } else {
        if (strcmp(did, b->base.self_id) != 0)
            log_account(b, SB_LOG_ERROR, "identity_changed",
                        "the new session belongs to another DID; restart to follow it");
        log_account(b, SB_LOG_INFO, "session_created", "new session");
    }
    json_decref(j);
    waiters_resume(b);
}

static void session_create(struct bsky *b)
{
    const struct sb_account_conf *a = b->base.conf;
    char url[1024];
    snprintf(url, sizeof url, "%s/xrpc/com.atproto.server.createSession", a->pds_url);
    struct sb_buf body;
    sb_buf_init(&body, 8192);
    enum sb_err e = sb_buf_puts(&body, "{\"identifier\":");
    if (!e)
        e = sb_buf_json_str(&body, a->identifier, strlen(a->identifier));
    if (!e)
        e = sb_buf_puts(&body, ",\"password\":");
    if (!e)
        e = sb_buf_json_str(&body, a->password, strlen(a->password));
    if (!e)
        e = sb_buf_putc(&body, '}');
    struct sb_http_req rq = {.method = "POST",
                             .url = url,
                             .body = body.data,
                             .body_len = body.len,
                             .timeout_ms = QUERY_TIMEOUT_MS};
    rq.headers[0] = "Content-Type: application/json";
    if (!e)
        e = sb_http_request(b->base.loop, &rq, on_session, b);
    if (body.data)
        memset(body.data, 0, body.cap); /* it holds the password */
    sb_buf_free(&body);
    if (e) {
        struct sb_http_resp r;
        memset(&r, 0, sizeof r);
        r.error = sb_strerror(e);
        session_failed(b, &r, "createSession");
        return;
    }
    b->sess = SESS_CREATING;
    b->in_flight++;
}

static void on_refreshed(void *ud, const struct sb_http_resp *r)
{
    struct bsky *b = ud;
    b->in_flight--;
    if (b->freed) {
        waiters_abandon(b);
        maybe_release(b);
        return;
    }
    json_t *j = r->status == 200 ? resp_json(r) : NULL;
    const char *access = jstr(j, "accessJwt"), *refresh = jstr(j, "refreshJwt");
    if (access && refresh) {
        session_set(b, access, refresh);
        json_decref(j);
        if (b->sess == SESS_OK) {
            log_account(b, SB_LOG_INFO, "session_refreshed", "access token renewed");
            waiters_resume(b);
            return;
        }
    } else {
        json_decref(j);
    }
    char err[64], d[300];
    xrpc_error(r, err, sizeof err);
    snprintf(d, sizeof d, "refreshSession: %s %ld %s; creating a new session",
             r->error ? r->error : "HTTP", r->status, err);
    log_account(b, SB_LOG_WARN, "session_refresh_failed", d);
    session_create(b); /* the waiting calls wait for it */
}

static void session_refresh(struct bsky *b)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/xrpc/com.atproto.server.refreshSession", b->base.conf->pds_url);
    struct sb_http_req rq = {.method = "POST", .url = url, .timeout_ms = QUERY_TIMEOUT_MS};
    char *auth = bearer(b->refresh);
    rq.headers[0] = auth;
    enum sb_err e = auth ? sb_http_request(b->base.loop, &rq, on_refreshed, b) : SB_ERR_NOMEM;
    wipe_free(auth);
    if (e) {
        session_create(b);
        return;
    }
    b->sess = SESS_REFRESHING;
    b->in_flight++;
}

/* ---- stream ------------------------------------------------------------------------------ */

static void save_cursor(struct bsky *b)
{
    if (b->cursor_us <= b->saved_us || !b->base.store)
        return;
    struct sb_errbuf eb;
    /* no flush here: the cursor is committed with the posts it covers, in ingest's group
     * commit at the end of this loop iteration, so it never moves past a post that is lost */
    if (sb_store_cursor_set(b->base.store, b->cursor_key, b->cursor_us, &eb)) {
        log_account(b, SB_LOG_ERROR, "cursor_save_failed", eb.msg);
        return;
    }
    b->saved_us = b->cursor_us;
    b->saved_at = sb_loop_mono_ms(b->base.loop);
}

/* An event at time_us t has been dealt with. After an event handed to ingest the cursor is
 * written at once; after the (many) skipped ones only every CURSOR_SAVE_MS: replaying those
 * after a crash is harmless. */
static void advance(struct bsky *b, int64_t t, int now)
{
    if (t > b->cursor_us)
        b->cursor_us = t;
    if (now || sb_loop_mono_ms(b->base.loop) - b->saved_at >= CURSOR_SAVE_MS)
        save_cursor(b);
}

/* Mentions the brand (a #mention facet with its DID) or answers one of its posts. */
static int for_brand(const struct bsky *b, const struct sb_post *p)
{
    for (size_t i = 0; i < p->n_mentions; i++)
        if (p->mentions[i].id && strcmp(p->mentions[i].id, b->base.self_id) == 0)
            return 1;
    size_t n = strlen(b->self_prefix);
    return (p->in_reply_to && strncmp(p->in_reply_to, b->self_prefix, n) == 0) ||
           (p->kind == SB_POST_REPLY && p->thread && strncmp(p->thread, b->self_prefix, n) == 0);
}

static void handle_frame(struct bsky *b, const char *s, size_t n)
{
    json_error_t je;
    json_t *root = json_loadb(s, n, 0, &je);
    if (!root) {
        b->malformed++;
        char d[300];
        snprintf(d, sizeof d, "malformed JSON at column %d: %s", je.column, je.text);
        log_account(b, SB_LOG_WARN, "stream_frame_invalid", d);
        return;
    }
    struct sb_errbuf eb = {{0}};
    enum sb_err e = sb_bluesky_map_event(root, &b->ev, &eb);
    json_decref(root);
    if (e) {
        b->malformed++;
        log_account(b, SB_LOG_WARN, "stream_frame_invalid", eb.msg);
        return;
    }
    struct sb_post *p = &b->ev.post;
    int64_t t = b->ev.cursor;
    switch (b->ev.type) {
    case SB_EVENT_SKIP:
        b->skipped++;
        advance(b, t, 0);
        return;
    case SB_EVENT_DELETE: /* always: ingest ignores deletes of posts it never saw */
        break;
    case SB_EVENT_POST:
    case SB_EVENT_UPDATE:
        /* the brand's own posts (its replies come back on the stream) are never answered */
        if (p->author.id && strcmp(p->author.id, b->base.self_id) == 0) {
            b->own++;
            advance(b, t, 0);
            return;
        }
        if (!for_brand(b, p)) {
            b->unrelated++;
            advance(b, t, 0);
            return;
        }
        if (!p->account)
            p->account = b->base.conf->name;
        break;
    }
    b->forwarded++;
    b->base.ingest(b->base.ingest_ud, &b->base, &b->ev, s, n);
    advance(b, t, 1);
}

static void on_open(void *ud)
{
    struct bsky *b = ud;
    sb_backoff_reset(&b->backoff);
    log_account(b, SB_LOG_INFO, "stream_open", b->stream_url);
}

static void on_text(void *ud, const char *data, size_t len)
{
    struct bsky *b = ud;
    b->frames++;
    handle_frame(b, data, len);
}

static void on_stream_timer(uv_timer_t *t)
{
    struct bsky *b = t->data;
    if (!b->stopping)
        connect_stream(b);
}

static void on_close(void *ud, int code, const char *reason)
{
    struct bsky *b = ud;
    b->ws = NULL;
    if (b->freed) {
        maybe_release(b);
        return;
    }
    if (b->stopping) {
        save_cursor(b);
        return;
    }
    uint32_t delay = sb_backoff_next(&b->backoff);
    char d[300];
    snprintf(d, sizeof d, "code %d%s%s; reconnecting in %u ms", code, *reason ? ": " : "", reason,
             delay);
    log_account(b, SB_LOG_WARN, "stream_closed", d);
    uv_timer_start(&b->stream_timer, on_stream_timer, delay, 0);
}

static void connect_stream(struct bsky *b)
{
    static const struct sb_ws_handlers h = {on_open, on_text, on_close};
    const char *base = b->base.conf->jetstream_url;
    int64_t cursor = 0;
    if (b->cursor_us > 0)
        cursor = b->cursor_us - REWIND_US;
    else if (b->base.conf->backfill_secs > 0) /* first start: this far back */
        cursor = (sb_loop_now_ms() - (int64_t)b->base.conf->backfill_secs * 1000) * 1000;
    size_t n = strlen(base) + 160;
    char *url = malloc(n);
    if (!url) {
        on_close(b, -1, "out of memory");
        return;
    }
    int at = snprintf(url, n, "%s%swantedCollections=" POST_NSID "&maxMessageSizeBytes=%u", base,
                      strchr(base, '?') ? "&" : "?", STREAM_MSG_MAX);
    if (cursor > 0)
        snprintf(url + at, n - (size_t)at, "&cursor=%lld", (long long)cursor);
    free(b->stream_url);
    b->stream_url = url;
    struct sb_ws_opts o = {.url = url, .max_message = STREAM_MSG_MAX};
    struct sb_errbuf eb;
    if (sb_ws_connect(b->base.loop, &o, &h, b, &b->ws, &eb) != SB_OK)
        on_close(b, -1, eb.msg);
}

/* ---- sending ----------------------------------------------------------------------------- */

struct send_ctx {
    struct bsky *b;
    sb_send_done_fn cb;
    void *ud;
    char rkey[SB_EFFECT_RKEY_LEN + 1];
    char *target, *target_cid, *root, *root_cid, *recipient, *handle, *text;
    struct sb_send_result res; /* a createRecord failure, kept while getRecord checks it */
};

static void send_free(struct send_ctx *sc)
{
    free(sc->target);
    free(sc->target_cid);
    free(sc->root);
    free(sc->root_cid);
    free(sc->recipient);
    free(sc->handle);
    free(sc->text);
    free(sc);
}

static void send_finish(struct send_ctx *sc)
{
    sc->cb(sc->ud, &sc->res);
    send_free(sc);
}

static void feed_header(void *ud, const char *name, const char *value)
{
    sb_retry_header_parse(ud, name, value, sb_loop_now_ms());
}

/* Fill res from a failed XRPC call: status or transport, the XRPC error name, and every
 * header (RateLimit-Reset is an absolute epoch second; sb_retry_header_parse knows). */
static void result_from_http(struct sb_send_result *res, const struct sb_http_resp *r,
                             const char *what)
{
    memset(res, 0, sizeof *res);
    sb_retry_response_init(&res->resp);
    res->resp.http_status = (int)r->status;
    res->resp.transport = r->transport == SB_HTTP_T_CONNECT   ? SB_RETRY_TRANSPORT_CONNECT
                          : r->transport == SB_HTTP_T_TIMEOUT ? SB_RETRY_TRANSPORT_TIMEOUT
                          : r->transport == SB_HTTP_T_LOST    ? SB_RETRY_TRANSPORT_LOST
                                                              : SB_RETRY_TRANSPORT_NONE;
    json_t *j = r->status >= 400 ? resp_json(r) : NULL;
    const char *name = jstr(j, "error"), *message = jstr(j, "message");
    if (name) {
        snprintf(res->error_name, sizeof res->error_name, "%s", name);
        res->resp.error_name = res->error_name;
    }
    sb_http_headers_each(r, feed_header, &res->resp);
    if (r->status == 200) { /* a 200 we cannot read: as good as a lost answer */
        res->resp.http_status = 0;
        res->resp.transport = SB_RETRY_TRANSPORT_LOST;
        snprintf(res->error, sizeof res->error, "%s: unreadable 200 answer", what);
    } else if (r->status) {
        snprintf(res->error, sizeof res->error, "%s: %ld %s%s%s", what, r->status,
                 name ? name : "refused", message ? ": " : "", message ? message : "");
    } else {
        snprintf(res->error, sizeof res->error, "%s: %s", what,
                 r->error ? r->error : "transport error");
    }
    json_decref(j);
}

static void result_ok(struct sb_send_result *res, const char *id, const char *cid)
{
    memset(res, 0, sizeof *res);
    res->ok = 1;
    snprintf(res->remote_id, sizeof res->remote_id, "%s", id);
    if (cid)
        snprintf(res->remote_cid, sizeof res->remote_cid, "%s", cid);
}

/* The request could not be started from a callback: nothing was sent. */
static void send_fail_unsent(struct send_ctx *sc, const char *what, enum sb_err e)
{
    struct sb_http_resp r;
    memset(&r, 0, sizeof r);
    r.transport = SB_HTTP_T_CONNECT;
    r.error = e == SB_ERR_IO ? "no Bluesky session" : sb_strerror(e);
    result_from_http(&sc->res, &r, what);
    send_finish(sc);
}

/* Append prefix + body to out, within max_g graphemes and max_b bytes: the body is cut on a
 * grapheme boundary and ends with "…" when it does not fit. */
static enum sb_err fit_text(struct sb_buf *out, const char *prefix, const char *body, size_t max_g,
                            size_t max_b)
{
    static const char ellipsis[] = "\xE2\x80\xA6";
    size_t pl = strlen(prefix), bl = strlen(body);
    enum sb_err e = sb_buf_puts(out, prefix);
    if (!e)
        e = sb_buf_puts(out, body);
    if (e || (out->len <= max_b && sb_utf8_graphemes(out->data, out->len) <= max_g))
        return e;
    size_t pg = sb_utf8_graphemes(prefix, pl);
    size_t budget = pg + 1 < max_g ? max_g - pg - 1 : 0;
    size_t cut = sb_utf8_grapheme_prefix(body, bl, budget);
    while (cut && pl + cut + 3 > max_b)
        cut = sb_utf8_grapheme_prefix(body, bl, --budget);
    while (cut && (body[cut - 1] == ' ' || body[cut - 1] == '\n'))
        cut--;
    sb_buf_reset(out);
    if ((e = sb_buf_puts(out, prefix)) || (e = sb_buf_append(out, body, cut)))
        return e;
    return sb_buf_puts(out, ellipsis);
}

static json_t *strong_ref(const char *uri, const char *cid)
{
    json_t *o = json_object();
    json_object_set_new(o, "uri", json_string(uri));
    json_object_set_new(o, "cid", json_string(cid));
    return o;
}

static void on_record_created(void *ud, const struct sb_http_resp *r);

/* createRecord of the reply at our rkey (repo = the brand's DID). */
static enum sb_err create_record(struct send_ctx *sc)
{
    struct bsky *b = sc->b;
    char mention[HANDLE_MAX + 2] = "", prefix[HANDLE_MAX + 3] = "";
    int mentions = sc->handle && sc->recipient;
    if (mentions) {
        snprintf(mention, sizeof mention, "@%s", sc->handle);
        size_t ml = strlen(mention);
        /* the body may already open with the mention: then it is only annotated */
        if (!(strncmp(sc->text, mention, ml) == 0 && (!sc->text[ml] || sc->text[ml] == ' ')))
            snprintf(prefix, sizeof prefix, "%s ", mention);
    }
    struct sb_buf text;
    sb_buf_init(&text, TEXT_BUF_MAX);
    enum sb_err e = fit_text(&text, prefix, sc->text, POST_GRAPHEMES, POST_BYTES);
    char created[32];
    iso_now(created);
    json_t *rec = json_object(), *reply = json_object(), *req = json_object();
    json_object_set_new(rec, "$type", json_string(POST_NSID));
    json_object_set_new(rec, "text", json_stringn(text.data ? text.data : "", text.len));
    json_object_set_new(rec, "createdAt", json_string(created));
    json_object_set_new(reply, "root",
                        sc->root ? strong_ref(sc->root, sc->root_cid)
                                 : strong_ref(sc->target, sc->target_cid));
    json_object_set_new(reply, "parent", strong_ref(sc->target, sc->target_cid));
    json_object_set_new(rec, "reply", reply);
    if (mentions) /* UTF-8 byte offsets over "@handle" at the start of the text */
        json_object_set_new(rec, "facets",
                            json_pack("[{s:{s:i,s:i},s:[{s:s,s:s}]}]", "index", "byteStart", 0,
                                      "byteEnd", (int)strlen(mention), "features", "$type",
                                      "app.bsky.richtext.facet#mention", "did", sc->recipient));
    json_object_set_new(req, "repo", json_string(b->base.self_id));
    json_object_set_new(req, "collection", json_string(POST_NSID));
    json_object_set_new(req, "rkey", json_string(sc->rkey));
    json_object_set_new(req, "record", rec);
    sb_buf_free(&text);
    char *body = NULL;
    size_t len = 0;
    if (!e)
        e = dump_json(req, &body, &len);
    json_decref(req);
    char url[1024];
    snprintf(url, sizeof url, "%s/xrpc/com.atproto.repo.createRecord", b->base.conf->pds_url);
    if (!e)
        e = xcall(b, "POST", url, body, len, CALL_AUTH, on_record_created, sc);
    free(body);
    return e;
}

static void on_record_found(void *ud, const struct sb_http_resp *r)
{
    struct send_ctx *sc = ud;
    if (!r) {
        send_free(sc);
        return;
    }
    json_t *j = r->status == 200 ? resp_json(r) : NULL;
    const char *uri = jstr(j, "uri"), *cid = jstr(j, "cid");
    if (uri && cid) { /* an earlier attempt of ours made it: that is the reply */
        char d[300];
        snprintf(d, sizeof d, "%s was already posted (an earlier attempt landed)", uri);
        log_account(sc->b, SB_LOG_INFO, "reply_exists", d);
        result_ok(&sc->res, uri, cid);
    } /* otherwise the createRecord failure kept in sc->res stands */
    json_decref(j);
    send_finish(sc);
}

static void on_record_created(void *ud, const struct sb_http_resp *r)
{
    struct send_ctx *sc = ud;
    if (!r) {
        send_free(sc);
        return;
    }
    json_t *j = r->status == 200 ? resp_json(r) : NULL;
    const char *uri = jstr(j, "uri"), *cid = jstr(j, "cid");
    if (uri && cid) {
        result_ok(&sc->res, uri, cid);
        json_decref(j);
        send_finish(sc);
        return;
    }
    json_decref(j);
    result_from_http(&sc->res, r, "createRecord");
    /* "Record already exists" (or the 500 some PDSes give for it, or any 5xx that may have
     * come after the write): look at our rkey before calling it a failure */
    if ((r->status == 400 && strstr(sc->res.error, "already exists")) || r->status >= 500) {
        struct bsky *b = sc->b;
        char url[1024];
        snprintf(url, sizeof url,
                 "%s/xrpc/com.atproto.repo.getRecord?repo=%s&collection=" POST_NSID "&rkey=%s",
                 b->base.conf->pds_url, b->base.self_id, sc->rkey);
        if (xcall(b, "GET", url, NULL, 0, 0, on_record_found, sc) == SB_OK)
            return;
    }
    send_finish(sc);
}

static void remember_handle(struct bsky *b, const char *did, const char *handle)
{
    struct handle_entry *h = &b->handles[b->handle_next++ % HANDLE_CACHE];
    if (strlen(did) >= sizeof h->did)
        return;
    snprintf(h->did, sizeof h->did, "%s", did);
    snprintf(h->handle, sizeof h->handle, "%s", handle);
    h->expires = sb_loop_mono_ms(b->base.loop) + HANDLE_TTL_MS;
}

static const char *known_handle(struct bsky *b, const char *did)
{
    int64_t now = sb_loop_mono_ms(b->base.loop);
    for (int i = 0; i < HANDLE_CACHE; i++)
        if (b->handles[i].expires > now && strcmp(b->handles[i].did, did) == 0)
            return b->handles[i].handle;
    return NULL;
}

/* The recipient's handle, for the "@handle" mention; without it the reply goes out plain. */
static void on_profile(void *ud, const struct sb_http_resp *r)
{
    struct send_ctx *sc = ud;
    if (!r) {
        send_free(sc);
        return;
    }
    json_t *j = r->status == 200 ? resp_json(r) : NULL;
    const char *did = jstr(j, "did"), *handle = jstr(j, "handle");
    if (did && strcmp(did, sc->recipient) == 0 && handle_ok(handle)) {
        remember_handle(sc->b, did, handle);
        sc->handle = strdup(handle);
    }
    json_decref(j);
    enum sb_err e = create_record(sc);
    if (e)
        send_fail_unsent(sc, "createRecord", e);
}

static void on_message_sent(void *ud, const struct sb_http_resp *r)
{
    struct send_ctx *sc = ud;
    if (!r) {
        send_free(sc);
        return;
    }
    json_t *j = r->status == 200 ? resp_json(r) : NULL;
    const char *id = jstr(j, "id");
    if (id)
        result_ok(&sc->res, id, NULL);
    else
        result_from_http(&sc->res, r, "sendMessage");
    json_decref(j);
    send_finish(sc);
}

static void on_convo(void *ud, const struct sb_http_resp *r)
{
    struct send_ctx *sc = ud;
    if (!r) {
        send_free(sc);
        return;
    }
    struct bsky *b = sc->b;
    json_t *j = r->status == 200 ? resp_json(r) : NULL;
    const char *convo = jstr(json_object_get(j, "convo"), "id");
    if (!convo) {
        result_from_http(&sc->res, r, "getConvoForMembers");
        json_decref(j);
        /* chat messages have no idempotency, so the retry policy re-sends only what surely
         * was not sent: a failed lookup proves the message itself never went out */
        if (sc->res.resp.http_status >= 500 || sc->res.resp.transport != SB_RETRY_TRANSPORT_NONE) {
            sc->res.resp.http_status = 0;
            sc->res.resp.transport = SB_RETRY_TRANSPORT_CONNECT;
        }
        send_finish(sc);
        return;
    }
    struct sb_buf text;
    sb_buf_init(&text, TEXT_BUF_MAX);
    enum sb_err e = fit_text(&text, "", sc->text, DM_GRAPHEMES, DM_BYTES);
    json_t *req = json_pack("{s:s,s:{s:s%}}", "convoId", convo, "message", "text",
                            text.data ? text.data : "", text.len);
    json_decref(j);
    sb_buf_free(&text);
    char *body = NULL, url[1024];
    size_t len = 0;
    if (!e)
        e = req ? dump_json(req, &body, &len) : SB_ERR_NOMEM;
    json_decref(req);
    snprintf(url, sizeof url, "%s/xrpc/chat.bsky.convo.sendMessage", b->base.conf->pds_url);
    if (!e)
        e = xcall(b, "POST", url, body, len, CALL_AUTH | CALL_CHAT, on_message_sent, sc);
    free(body);
    if (e)
        send_fail_unsent(sc, "sendMessage", e);
}

static enum sb_err b_send(struct sb_connector *c, const struct sb_send_req *req, sb_send_done_fn cb,
                          void *ud)
{
    struct bsky *b = (struct bsky *)c;
    int reply = req->kind == SB_EFFECT_PUBLIC_REPLY;
    if (!req->text || !req->idem_key ||
        (reply ? !req->target_id || !req->target_cid
               : req->kind != SB_EFFECT_DIRECT_MESSAGE || !req->recipient_id ||
                     strncmp(req->recipient_id, "did:", 4) != 0))
        return SB_ERR_INVAL;
    struct send_ctx *sc = calloc(1, sizeof *sc);
    if (!sc)
        return SB_ERR_NOMEM;
    sc->b = b;
    sc->cb = cb;
    sc->ud = ud;
    sb_effects_bluesky_rkey(req->idem_key, sc->rkey);
    sc->text = strdup(req->text);
    sc->target = dup_or_null(req->target_id);
    sc->target_cid = dup_or_null(req->target_cid);
    if (req->root_id && req->root_cid) { /* a root needs both halves of its strong ref */
        sc->root = strdup(req->root_id);
        sc->root_cid = strdup(req->root_cid);
    }
    sc->recipient = dup_or_null(req->recipient_id);
    const char *handle = req->recipient_handle;
    if (!handle_ok(handle))
        handle = sc->recipient ? known_handle(b, sc->recipient) : NULL;
    sc->handle = dup_or_null(handle);
    if (!sc->text || (req->target_id && !sc->target) || (req->target_cid && !sc->target_cid) ||
        (req->root_id && req->root_cid && (!sc->root || !sc->root_cid)) ||
        (req->recipient_id && !sc->recipient) || (handle && !sc->handle)) {
        send_free(sc);
        return SB_ERR_NOMEM;
    }
    struct sb_buf url;
    sb_buf_init(&url, 4096);
    enum sb_err e;
    if (!reply) {
        e = sb_buf_printf(
            &url, "%s/xrpc/chat.bsky.convo.getConvoForMembers?members=", b->base.conf->pds_url);
        if (!e)
            e = sb_http_form_escape(&url, sc->recipient);
        if (!e)
            e = xcall(b, "GET", url.data, NULL, 0, CALL_AUTH | CALL_CHAT, on_convo, sc);
    } else if (!sc->handle && sc->recipient && strncmp(sc->recipient, "did:", 4) == 0) {
        /* Jetstream gives no handle: ask the AppView (through the PDS) once per recipient */
        e = sb_buf_printf(&url, "%s/xrpc/app.bsky.actor.getProfile?actor=", b->base.conf->pds_url);
        if (!e)
            e = sb_http_form_escape(&url, sc->recipient);
        if (!e)
            e = xcall(b, "GET", url.data, NULL, 0, CALL_AUTH, on_profile, sc);
    } else {
        e = create_record(sc);
    }
    sb_buf_free(&url);
    if (e)
        send_free(sc);
    return e;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static enum sb_err b_start(struct sb_connector *c)
{
    struct bsky *b = (struct bsky *)c;
    if (b->base.store) {
        int64_t v;
        struct sb_errbuf eb;
        if (sb_store_cursor_get(b->base.store, b->cursor_key, &v, &eb) == SB_OK && v > 0)
            b->cursor_us = b->saved_us = v;
    }
    session_create(b);
    return SB_OK;
}

static void b_stop(struct sb_connector *c)
{
    struct bsky *b = (struct bsky *)c;
    if (b->stopping)
        return;
    b->stopping = 1;
    uv_timer_stop(&b->stream_timer);
    uv_timer_stop(&b->sess_timer);
    save_cursor(b);
    sb_log(SB_LOG_INFO, "stream_stats",
           "\"platform\":\"bluesky\",\"account\":%s,\"frames\":%ld,\"forwarded\":%ld,"
           "\"skipped\":%ld,\"unrelated\":%ld,\"own\":%ld,\"malformed\":%ld",
           sb_log_q(b->base.conf->name), b->frames, b->forwarded, b->skipped, b->unrelated, b->own,
           b->malformed);
    if (b->ws)
        sb_ws_close(b->ws);
}

static int b_idle(struct sb_connector *c)
{
    struct bsky *b = (struct bsky *)c;
    return b->in_flight == 0 && b->ws == NULL;
}

/* The memory goes once both timers are closed and nothing can call back into it (a drain that
 * timed out may leave requests or the stream open). Returns 1 when released. */
static int maybe_release(struct bsky *b)
{
    if (!b->freed || b->handles_closed < 2 || b->in_flight > 0 || b->ws)
        return 0;
    sb_event_free(&b->ev);
    free(b->stream_url);
    wipe_free(b->access);
    wipe_free(b->refresh);
    free(b);
    return 1;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct bsky *b = h->data;
    b->handles_closed++;
    maybe_release(b);
}

static void b_free(struct sb_connector *c)
{
    struct bsky *b = (struct bsky *)c;
    b_stop(c);
    b->freed = 1; /* from here on, callbacks release and report to no one */
    uv_close((uv_handle_t *)&b->stream_timer, on_handle_closed);
    uv_close((uv_handle_t *)&b->sess_timer, on_handle_closed);
}

static const struct sb_connector_ops ops = {b_start, b_stop, b_send, b_idle, b_free};

enum sb_err sb_bluesky_connector_new(struct sb_loop *l, const struct sb_account_conf *conf,
                                     struct sb_store *store, sb_ingest_fn ingest, void *ud,
                                     struct sb_connector **out, struct sb_errbuf *eb)
{
    *out = NULL;
    if (!conf->pds_url || !conf->jetstream_url || !conf->identifier || !conf->password)
        return sb_errf(eb, SB_ERR_INVAL,
                       "account %s: bluesky needs pds_url, jetstream_url, identifier and "
                       "password",
                       conf->name);
    if (strncmp(conf->pds_url, "http://", 7) != 0 && strncmp(conf->pds_url, "https://", 8) != 0)
        return sb_errf(eb, SB_ERR_INVAL, "account %s: pds_url must be http(s)://…", conf->name);
    if (strncmp(conf->jetstream_url, "ws://", 5) != 0 &&
        strncmp(conf->jetstream_url, "wss://", 6) != 0)
        return sb_errf(eb, SB_ERR_INVAL, "account %s: jetstream_url must be ws(s)://…", conf->name);
    struct bsky *b = calloc(1, sizeof *b);
    if (!b || sb_event_init(&b->ev)) {
        free(b);
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    }
    b->base.ops = &ops;
    b->base.conf = conf;
    b->base.loop = l;
    b->base.store = store;
    b->base.ingest = ingest;
    b->base.ingest_ud = ud;
    b->waiting_tail = &b->waiting;
    b->backoff.rng = (uint64_t)sb_loop_now_ms() ^ (uintptr_t)b;
    b->sess_backoff.rng = b->backoff.rng * 0x9E3779B97F4A7C15ull + 1;
    snprintf(b->cursor_key, sizeof b->cursor_key, "bluesky:%s:jetstream", conf->name);
    uv_timer_init(sb_loop_uv(l), &b->stream_timer);
    uv_timer_init(sb_loop_uv(l), &b->sess_timer);
    b->stream_timer.data = b->sess_timer.data = b;
    *out = &b->base;
    return SB_OK;
}
