/* conn.c — the Mastodon connector: identity (verify_credentials), the `user` stream over
 * WebSocket with reconnects (full-jitter backoff), catch-up through GET /api/v1/notifications
 * (min_id paging, mentions only) so posts made while disconnected are answered once, and
 * replies / direct messages through POST /api/v1/statuses with an Idempotency-Key.
 * Depends on net/ (loop, http, ws, backoff), the Mastodon mapper, the store (cursor). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "net/backoff.h"
#include "net/http.h"
#include "net/ws.h"
#include "core/retry.h"
#include "platforms/connector.h"
#include "platforms/mastodon/envelope.h"
#include "platforms/mastodon/map.h"
#include "store/store.h"
#include "util/log.h"

#define PAGE 40
#define STREAM_MSG_MAX (1u << 20)

struct masto {
    struct sb_connector base;
    char *stream_url;
    char auth[600]; /* "Authorization: Bearer …" — never logged */
    char cursor_key[200];
    struct sb_ws *ws;
    uv_timer_t timer; /* reconnect / identity retry */
    struct sb_backoff backoff;
    int64_t last_id; /* newest mention notification recorded */
    int stopping, catching_up, in_flight;
    long frames, skipped, malformed;
    struct sb_event ev;
    struct sb_buf payload; /* an envelope's unescaped payload */
};

static void connect_stream(struct masto *m);
static void catch_up(struct masto *m, int64_t min_id);

static void log_account(struct masto *m, enum sb_log_level lvl, const char *event,
                        const char *detail)
{
    sb_log(lvl, event, "\"platform\":\"mastodon\",\"account\":%s,\"detail\":%s",
           sb_log_q(m->base.conf->name), sb_log_q(detail));
}

static void save_cursor(struct masto *m, int64_t id)
{
    if (id <= m->last_id)
        return;
    m->last_id = id;
    if (m->base.store) {
        struct sb_errbuf eb;
        /* committed with the posts it covers (ingest's group commit) */
        if (sb_store_cursor_set(m->base.store, m->cursor_key, id, &eb))
            log_account(m, SB_LOG_ERROR, "cursor_save_failed", eb.msg);
    }
}

/* One Mastodon JSON document (a stream frame, an envelope's payload, or a Notification from
 * catch-up) → ingest; raw is what gets stored with the post. */
static void handle_doc(struct masto *m, const char *s, size_t n, const char *raw, size_t raw_len,
                       int from_stream)
{
    json_error_t je;
    json_t *root = json_loadb(s, n, 0, &je);
    if (!root) {
        m->malformed++;
        char d[300];
        snprintf(d, sizeof d, "malformed JSON at column %d: %s", je.column, je.text);
        log_account(m, SB_LOG_WARN, from_stream ? "stream_frame_invalid" : "catchup_invalid", d);
        return;
    }
    const char *event = json_string_value(json_object_get(root, "event"));
    /* The user stream also carries the home timeline ("update"): not posts to the brand.
     * Mentions arrive as notifications, which is all this connector answers. */
    if (event && (!strcmp(event, "update") || !strcmp(event, "conversation"))) {
        m->skipped++;
        json_decref(root);
        return;
    }
    if (!event && json_object_get(root, "error")) { /* e.g. {"error":"Unknown stream type"} */
        log_account(m, SB_LOG_ERROR, "stream_error",
                    json_string_value(json_object_get(root, "error")));
        json_decref(root);
        return;
    }
    struct sb_errbuf eb = {{0}};
    enum sb_err e = sb_mastodon_map_event(root, &m->ev, &eb);
    json_decref(root);
    if (e) {
        m->malformed++;
        log_account(m, SB_LOG_WARN, from_stream ? "stream_frame_invalid" : "catchup_invalid",
                    eb.msg);
        return;
    }
    if (m->ev.type == SB_EVENT_SKIP) {
        m->skipped++;
        return;
    }
    if (m->ev.type != SB_EVENT_DELETE && !m->ev.post.account)
        m->ev.post.account = m->base.conf->name;
    int64_t cursor = m->ev.cursor;
    m->base.ingest(m->base.ingest_ud, &m->base, &m->ev, raw, raw_len);
    if (cursor > 0)
        save_cursor(m, cursor);
}

/* ---- stream ------------------------------------------------------------------------------ */

static void on_open(void *ud)
{
    struct masto *m = ud;
    sb_backoff_reset(&m->backoff);
    log_account(m, SB_LOG_INFO, "stream_open", m->stream_url);
    /* Anything posted while we were away: page forward from the last recorded mention. The
     * stream is already open, so nothing falls between the two; dedupe absorbs overlap. */
    catch_up(m, m->last_id);
}

/* The event name comes first in the envelope Mastodon writes; home-timeline "update" frames
 * (the brand's own replies echoed back, followed accounts) are skipped without parsing. */
static int is_update_frame(const char *data, size_t len)
{
    size_t head = len < 160 ? len : 160;
    return memmem(data, head, "\"event\":\"update\"", 16) != NULL;
}

static void on_text(void *ud, const char *data, size_t len)
{
    struct masto *m = ud;
    m->frames++;
    if (is_update_frame(data, len)) {
        m->skipped++;
        return;
    }
    /* a notification's payload is parsed once (envelope.c), the frame is what is stored */
    char event[32];
    sb_buf_reset(&m->payload);
    if (sb_mastodon_envelope_split(data, len, event, sizeof event, &m->payload) &&
        strcmp(event, "notification") == 0) {
        handle_doc(m, m->payload.data, m->payload.len, data, len, 1);
        return;
    }
    handle_doc(m, data, len, data, len, 1);
}

static void on_timer(uv_timer_t *t)
{
    struct masto *m = t->data;
    if (!m->stopping)
        connect_stream(m);
}

static void on_close(void *ud, int code, const char *reason)
{
    struct masto *m = ud;
    m->ws = NULL;
    if (m->stopping)
        return;
    uint32_t delay = sb_backoff_next(&m->backoff);
    char d[300];
    snprintf(d, sizeof d, "code %d%s%s; reconnecting in %u ms", code, *reason ? ": " : "", reason,
             delay);
    log_account(m, SB_LOG_WARN, "stream_closed", d);
    uv_timer_start(&m->timer, on_timer, delay, 0);
}

static void connect_stream(struct masto *m)
{
    static const struct sb_ws_handlers h = {on_open, on_text, on_close};
    struct sb_ws_opts o = {.url = m->stream_url, .max_message = STREAM_MSG_MAX};
    o.headers[0][0] = "Authorization";
    o.headers[0][1] = m->auth + strlen("Authorization: ");
    struct sb_errbuf eb;
    if (sb_ws_connect(m->base.loop, &o, &h, m, &m->ws, &eb) != SB_OK)
        on_close(m, -1, eb.msg);
}

/* ---- catch-up ---------------------------------------------------------------------------- */

struct page {
    struct masto *m;
    int64_t min_id;
};

static void on_page(void *ud, const struct sb_http_resp *r)
{
    struct page *pg = ud;
    struct masto *m = pg->m;
    m->in_flight--;
    if (r->status != 200) {
        char d[300];
        snprintf(d, sizeof d, "GET notifications: %s %ld", r->error ? r->error : "HTTP", r->status);
        log_account(m, SB_LOG_WARN, "catchup_failed", d);
        m->catching_up = 0;
        free(pg);
        return; /* the next reconnect catches up again */
    }
    json_error_t je;
    json_t *arr = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
    if (!json_is_array(arr)) {
        log_account(m, SB_LOG_WARN, "catchup_invalid", "notifications: not a JSON array");
        json_decref(arr);
        m->catching_up = 0;
        free(pg);
        return;
    }
    size_t n = json_array_size(arr);
    int initial = pg->min_id == 0 && m->last_id == 0;
    int first_start = initial && m->base.conf->backfill_secs == 0;
    /* first start with backfill: answer what the last page holds from that far back */
    int64_t cutoff = initial ? sb_loop_now_ms() - (int64_t)m->base.conf->backfill_secs * 1000 : 0;
    /* newest first: record oldest first */
    for (size_t i = n; i-- > 0;) {
        json_t *item = json_array_get(arr, i);
        int64_t at;
        if (initial && !first_start &&
            sb_time_parse_iso8601(json_string_value(json_object_get(item, "created_at")), &at) &&
            at < cutoff) {
            const char *id = json_string_value(json_object_get(item, "id"));
            if (id)
                save_cursor(m, strtoll(id, NULL, 10)); /* older than the backfill: skip it */
            continue;
        }
        if (first_start) {
            /* first start without backfill: remember where "now" is, answer nothing old */
            const char *id = json_string_value(json_object_get(item, "id"));
            if (id)
                save_cursor(m, strtoll(id, NULL, 10));
            continue;
        }
        /* the raw JSON of each notification is what gets stored with the post */
        char *text = json_dumps(item, JSON_COMPACT);
        if (text) {
            handle_doc(m, text, strlen(text), text, strlen(text), 0);
            json_free_t jfree;
            json_get_alloc_funcs(NULL, &jfree); /* jansson's allocator made it */
            jfree(text);
        }
    }
    json_decref(arr);
    int64_t next = m->last_id;
    free(pg);
    if (n == PAGE && !first_start && next > 0 && !m->stopping)
        catch_up(m, next);
    else
        m->catching_up = 0;
}

static void catch_up(struct masto *m, int64_t min_id)
{
    struct page *pg = calloc(1, sizeof *pg);
    if (!pg)
        return;
    pg->m = m;
    pg->min_id = min_id;
    char url[1024];
    if (min_id > 0)
        snprintf(url, sizeof url, "%s/api/v1/notifications?types[]=mention&min_id=%lld&limit=%d",
                 m->base.conf->base_url, (long long)min_id, PAGE);
    else
        snprintf(url, sizeof url, "%s/api/v1/notifications?types[]=mention&limit=%d",
                 m->base.conf->base_url, m->base.conf->backfill_secs ? PAGE : 1);
    struct sb_http_req rq = {.method = "GET", .url = url, .timeout_ms = 15000};
    rq.headers[0] = m->auth;
    m->catching_up = 1;
    if (sb_http_request(m->base.loop, &rq, on_page, pg) != SB_OK) {
        free(pg);
        m->catching_up = 0;
        return;
    }
    m->in_flight++;
}

/* ---- identity ---------------------------------------------------------------------------- */

static void verify(struct masto *m);

static void on_verify_timer(uv_timer_t *t)
{
    struct masto *m = t->data;
    if (!m->stopping)
        verify(m);
}

static void on_verified(void *ud, const struct sb_http_resp *r)
{
    struct masto *m = ud;
    m->in_flight--;
    json_t *acc = r->status == 200 ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(acc, "id"));
    const char *acct = json_string_value(json_object_get(acc, "acct"));
    if (!id || !acct) {
        uint32_t delay = sb_backoff_next(&m->backoff);
        char d[300];
        snprintf(d, sizeof d, "verify_credentials: %s %ld%s; retrying in %u ms",
                 r->error ? r->error : "HTTP", r->status,
                 r->status == 401 ? " (the token was refused)" : "", delay);
        log_account(m, r->status == 401 ? SB_LOG_ERROR : SB_LOG_WARN, "identity_failed", d);
        json_decref(acc);
        if (!m->stopping) {
            uv_timer_stop(&m->timer);
            uv_timer_start(&m->timer, on_verify_timer, delay, 0);
        }
        return;
    }
    snprintf(m->base.self_id, sizeof m->base.self_id, "%s", id);
    snprintf(m->base.self_handle, sizeof m->base.self_handle, "%s", acct);
    m->base.ready = 1;
    json_decref(acc);
    sb_log(SB_LOG_INFO, "identity",
           "\"platform\":\"mastodon\",\"account\":%s,\"id\":%s,"
           "\"acct\":%s",
           sb_log_q(m->base.conf->name), sb_log_q(m->base.self_id), sb_log_q(m->base.self_handle));
    sb_backoff_reset(&m->backoff);
    connect_stream(m);
}

static void verify(struct masto *m)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/api/v1/accounts/verify_credentials", m->base.conf->base_url);
    struct sb_http_req rq = {.method = "GET", .url = url, .timeout_ms = 15000};
    rq.headers[0] = m->auth;
    if (sb_http_request(m->base.loop, &rq, on_verified, m) == SB_OK)
        m->in_flight++;
}

/* ---- sending ----------------------------------------------------------------------------- */

struct send_ctx {
    struct masto *m;
    sb_send_done_fn cb;
    void *ud;
};

/* Fill res from a failed HTTP outcome: Mastodon's errors are {"error": "human text"}, with
 * no machine name. */
static void result_from_http(struct sb_send_result *res, const struct sb_http_resp *r,
                             const char *message)
{
    sb_send_result_from_http(res, r, NULL);
    if (r->status)
        snprintf(res->error, sizeof res->error, "%ld: %s", r->status,
                 message ? message : "refused");
    else
        snprintf(res->error, sizeof res->error, "%s", r->error ? r->error : "transport error");
}

static void on_sent(void *ud, const struct sb_http_resp *r)
{
    struct send_ctx *sc = ud;
    struct masto *m = sc->m;
    m->in_flight--;
    struct sb_send_result res;
    memset(&res, 0, sizeof res);
    /* A created Status begins {"id":"…": read the id without parsing 3 KB of JSON; anything
     * else (errors, other shapes) is parsed properly. */
    if (r->status == 200 && r->body.len > 8 && strncmp(r->body.data, "{\"id\":\"", 7) == 0) {
        const char *idp = r->body.data + 7, *end = memchr(idp, '"', r->body.len - 7);
        size_t n = end ? (size_t)(end - idp) : 0;
        if (n > 0 && n < sizeof res.remote_id && strspn(idp, "0123456789") == n) {
            res.ok = 1;
            memcpy(res.remote_id, idp, n);
            sc->cb(sc->ud, &res);
            free(sc);
            return;
        }
    }
    json_t *body = r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(body, "id"));
    if (r->status == 200 && id) {
        res.ok = 1;
        snprintf(res.remote_id, sizeof res.remote_id, "%s", id);
    } else {
        /* Mastodon's errors are {"error": "human text"}: no machine name */
        result_from_http(&res, r, json_string_value(json_object_get(body, "error")));
        if (r->status == 200) { /* a 200 we cannot read: treat it as a lost answer */
            res.resp.http_status = 0;
            res.resp.transport = SB_RETRY_TRANSPORT_LOST;
        }
    }
    json_decref(body);
    sc->cb(sc->ud, &res);
    free(sc);
}

static enum sb_err m_send(struct sb_connector *c, const struct sb_send_req *req, sb_send_done_fn cb,
                          void *ud)
{
    struct masto *m = (struct masto *)c;
    if (!req->text || !req->recipient_handle)
        return SB_ERR_INVAL;
    struct sb_buf text, body;
    sb_buf_init(&text, 16384);
    sb_buf_init(&body, 65536);
    /* Replies and DMs must mention the person: that is who Mastodon notifies (and, for
     * visibility=direct, who can read it). */
    char mention[200];
    snprintf(mention, sizeof mention, "@%s", req->recipient_handle);
    if (!strstr(req->text, mention)) {
        sb_buf_puts(&text, mention);
        sb_buf_putc(&text, ' ');
    }
    sb_buf_puts(&text, req->text);
    enum sb_err e = sb_buf_puts(&body, "status=");
    if (!e)
        e = sb_http_form_escape(&body, text.data);
    if (!e && req->target_id) {
        sb_buf_puts(&body, "&in_reply_to_id=");
        e = sb_http_form_escape(&body, req->target_id);
    }
    if (!e)
        e = sb_buf_puts(&body, req->kind == SB_EFFECT_DIRECT_MESSAGE ? "&visibility=direct"
                                                                     : "&visibility=public");
    struct send_ctx *sc = e ? NULL : calloc(1, sizeof *sc);
    if (!sc) {
        sb_buf_free(&text);
        sb_buf_free(&body);
        return e ? e : SB_ERR_NOMEM;
    }
    sc->m = m;
    sc->cb = cb;
    sc->ud = ud;
    char url[1024], idem[160];
    snprintf(url, sizeof url, "%s/api/v1/statuses", m->base.conf->base_url);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", req->idem_key);
    struct sb_http_req rq = {
        .method = "POST", .url = url, .body = body.data, .body_len = body.len, .timeout_ms = 20000};
    rq.headers[0] = m->auth;
    rq.headers[1] = idem;
    rq.headers[2] = "Content-Type: application/x-www-form-urlencoded";
    e = sb_http_request(m->base.loop, &rq, on_sent, sc);
    sb_buf_free(&text);
    sb_buf_free(&body);
    if (e) {
        free(sc);
        return e;
    }
    m->in_flight++;
    return SB_OK;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static enum sb_err m_start(struct sb_connector *c)
{
    struct masto *m = (struct masto *)c;
    if (m->base.store) {
        int64_t v;
        struct sb_errbuf eb;
        if (sb_store_cursor_get(m->base.store, m->cursor_key, &v, &eb) == SB_OK)
            m->last_id = v;
    }
    verify(m);
    return SB_OK;
}

static void m_stop(struct sb_connector *c)
{
    struct masto *m = (struct masto *)c;
    m->stopping = 1;
    uv_timer_stop(&m->timer);
    if (m->ws)
        sb_ws_close(m->ws);
}

static int m_idle(struct sb_connector *c)
{
    struct masto *m = (struct masto *)c;
    return m->in_flight == 0 && m->ws == NULL;
}

static void free_after_close(uv_handle_t *h)
{
    struct masto *m = h->data;
    sb_event_free(&m->ev);
    sb_buf_free(&m->payload);
    free(m->stream_url);
    memset(m->auth, 0, sizeof m->auth);
    free(m);
}

static void m_free(struct sb_connector *c)
{
    struct masto *m = (struct masto *)c;
    uv_close((uv_handle_t *)&m->timer, free_after_close);
}

static const struct sb_connector_ops ops = {m_start, m_stop, m_send, m_idle, m_free};

enum sb_err sb_mastodon_connector_new(struct sb_loop *l, const struct sb_account_conf *conf,
                                      struct sb_store *store, sb_ingest_fn ingest, void *ud,
                                      struct sb_connector **out, struct sb_errbuf *eb)
{
    *out = NULL;
    struct masto *m = calloc(1, sizeof *m);
    if (!m || sb_event_init(&m->ev)) {
        free(m);
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    }
    m->base.ops = &ops;
    sb_buf_init(&m->payload, STREAM_MSG_MAX);
    m->base.conf = conf;
    m->base.loop = l;
    m->base.store = store;
    m->base.ingest = ingest;
    m->base.ingest_ud = ud;
    m->backoff.rng = (uint64_t)sb_loop_now_ms() ^ (uintptr_t)m;
    snprintf(m->auth, sizeof m->auth, "Authorization: Bearer %s", conf->token);
    snprintf(m->cursor_key, sizeof m->cursor_key, "mastodon:%s:notifications", conf->name);
    if (conf->streaming_url) {
        m->stream_url = strdup(conf->streaming_url);
    } else {
        /* http(s)://host → ws(s)://host/api/v1/streaming */
        const char *rest = strncmp(conf->base_url, "https://", 8) == 0  ? conf->base_url + 8
                           : strncmp(conf->base_url, "http://", 7) == 0 ? conf->base_url + 7
                                                                        : NULL;
        if (!rest) {
            sb_event_free(&m->ev);
            free(m);
            return sb_errf(eb, SB_ERR_INVAL, "account %s: base_url must be http(s)://…",
                           conf->name);
        }
        size_t n = strlen(rest) + 64;
        m->stream_url = malloc(n);
        if (m->stream_url)
            snprintf(m->stream_url, n, "%s://%s/api/v1/streaming?stream=user",
                     conf->base_url[4] == 's' ? "wss" : "ws", rest);
    }
    if (!m->stream_url) {
        sb_event_free(&m->ev);
        free(m);
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    }
    uv_timer_init(sb_loop_uv(l), &m->timer);
    m->timer.data = m;
    *out = &m->base;
    return SB_OK;
}
