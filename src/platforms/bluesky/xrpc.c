/* xrpc.c — the Bluesky connector's XRPC session and calls: createSession (its rate limits
 * respected: a refused password is retried every 5-10 min), a single-flight refreshSession on
 * ExpiredToken (calls wait while it is out, then are re-sent once with the fresh token; a new
 * session when the refresh fails), and the call helper every request goes through
 * (Authorization, the chat service's atproto-proxy, timeouts, "error" name parsing).
 * Tokens are secrets: never logged, wiped when replaced or released.
 * Depends on net/ (http, loop, backoff), core/retry (RateLimit-Reset) and conn.c through
 * internal.h (the connector struct, logging, release after free); opens the stream
 * (sb_bsky_stream_connect) when the first session is made. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/retry.h"
#include "net/backoff.h"
#include "net/http.h"
#include "platforms/bluesky/internal.h"
#include "util/log.h"

#define CHAT_PROXY "atproto-proxy: did:web:api.bsky.chat#bsky_chat"
#define QUERY_TIMEOUT_MS 15000
#define WRITE_TIMEOUT_MS 20000
/* createSession is limited to 30 per 5 min and 300 per day: a refused password is retried
 * every 5-10 min (at most 288 a day), never at the reconnect pace */
#define AUTH_REFUSED_MIN_MS (5 * 60 * 1000)
#define AUTH_REFUSED_JITTER_MS (5 * 60 * 1000)

struct xcall {
    struct bsky *b;
    struct xcall *next; /* waiting for a session */
    const char *method; /* static */
    char *url, *body;
    size_t body_len;
    unsigned flags, gen; /* gen: the session whose token was sent */
    int refreshed;       /* already re-sent after an ExpiredToken */
    sb_bsky_xcall_done_fn done;
    void *ud;
};

/* ---- helpers ----------------------------------------------------------------------------- */

json_t *sb_bsky_resp_json(const struct sb_http_resp *r)
{
    return r && r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
}

const char *sb_bsky_jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The XRPC "error" name of a failed response, into out ("" when none). */
static void xrpc_error(const struct sb_http_resp *r, char *out, size_t cap)
{
    json_t *j = r->status >= 400 ? sb_bsky_resp_json(r) : NULL;
    const char *e = sb_bsky_jstr(j, "error");
    snprintf(out, cap, "%s", e ? e : "");
    json_decref(j);
}

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
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

void sb_bsky_session_wipe(struct bsky *b)
{
    wipe_free(b->access);
    wipe_free(b->refresh);
    b->access = b->refresh = NULL;
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
enum sb_err sb_bsky_xcall(struct bsky *b, const char *method, const char *url, const char *body,
                          size_t body_len, unsigned flags, sb_bsky_xcall_done_fn done, void *ud)
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
        sb_bsky_maybe_release(b);
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
        sb_bsky_session_create(b);
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
    sb_bsky_log_account(b, refused ? SB_LOG_ERROR : SB_LOG_WARN, "session_failed", d);
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
        sb_bsky_maybe_release(b);
        return;
    }
    json_t *j = r->status == 200 ? sb_bsky_resp_json(r) : NULL;
    const char *access = sb_bsky_jstr(j, "accessJwt"), *refresh = sb_bsky_jstr(j, "refreshJwt");
    const char *did = sb_bsky_jstr(j, "did"), *handle = sb_bsky_jstr(j, "handle");
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
            sb_bsky_stream_connect(b);
    } else {
        if (strcmp(did, b->base.self_id) != 0)
            sb_bsky_log_account(b, SB_LOG_ERROR, "identity_changed",
                                "the new session belongs to another DID; restart to follow it");
        sb_bsky_log_account(b, SB_LOG_INFO, "session_created", "new session");
    }
    json_decref(j);
    waiters_resume(b);
}

void sb_bsky_session_create(struct bsky *b)
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
        sb_bsky_maybe_release(b);
        return;
    }
    json_t *j = r->status == 200 ? sb_bsky_resp_json(r) : NULL;
    const char *access = sb_bsky_jstr(j, "accessJwt"), *refresh = sb_bsky_jstr(j, "refreshJwt");
    if (access && refresh) {
        session_set(b, access, refresh);
        json_decref(j);
        if (b->sess == SESS_OK) {
            sb_bsky_log_account(b, SB_LOG_INFO, "session_refreshed", "access token renewed");
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
    sb_bsky_log_account(b, SB_LOG_WARN, "session_refresh_failed", d);
    sb_bsky_session_create(b); /* the waiting calls wait for it */
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
        sb_bsky_session_create(b);
        return;
    }
    b->sess = SESS_REFRESHING;
    b->in_flight++;
}
