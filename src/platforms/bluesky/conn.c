/* conn.c — the Bluesky connector: its lifecycle (start, stop, drain, free), the Jetstream v1
 * stream of app.bsky.feed.post commits with a persisted time_us cursor (rewound on reconnect;
 * dedupe absorbs the overlap), filtered to posts that mention the brand or answer its posts,
 * and handed to ingest. The session and XRPC calls live in xrpc.c, replies and direct
 * messages in send.c; they share the connector struct through internal.h.
 * Reference: shared/reference/platforms.md §2.
 * Depends on net/ (loop, ws, backoff), the Jetstream mapper (map.h), the store (cursor). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "net/backoff.h"
#include "net/ws.h"
#include "platforms/bluesky/internal.h"
#include "platforms/bluesky/map.h"
#include "platforms/connector.h"
#include "store/store.h"
#include "util/log.h"

#define STREAM_MSG_MAX (1u << 20) /* also asked of Jetstream (maxMessageSizeBytes) */
#define REWIND_US (5 * 1000000LL) /* on reconnect: at-least-once, dedupe absorbs it */
#define CURSOR_SAVE_MS 5000       /* skipped events: persist the position this often */

void sb_bsky_log_account(struct bsky *b, enum sb_log_level lvl, const char *event,
                         const char *detail)
{
    sb_log(lvl, event, "\"platform\":\"bluesky\",\"account\":%s,\"detail\":%s",
           sb_log_q(b->base.conf->name), sb_log_q(detail));
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
        sb_bsky_log_account(b, SB_LOG_ERROR, "cursor_save_failed", eb.msg);
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

/* Jetstream carries only the author's DID. The policy needs a name for its templates and the
 * follower count for its influencer rule, so the profile is looked up once per author (and
 * cached, see send.c) before the post is handed over; a post waits for that one request. */
struct pending {
    struct bsky *b;
    int64_t t;
    size_t n;
    char frame[]; /* the raw event, mapped again when the profile is known */
};

static void handle_frame(struct bsky *b, const char *s, size_t n, int profiled);

static void on_author_profile(void *ud, const struct sb_http_resp *r)
{
    struct pending *pd = ud;
    if (!r) { /* the connector is gone */
        free(pd);
        return;
    }
    struct bsky *b = pd->b;
    json_t *j = r->status == 200 ? sb_bsky_resp_json(r) : NULL;
    const char *did = sb_bsky_jstr(j, "did");
    json_t *fc = json_object_get(j, "followersCount");
    /* remember even a failure (briefly): the post goes on without a profile */
    if (did)
        sb_bsky_profile_remember(b, did, sb_bsky_jstr(j, "handle"), sb_bsky_jstr(j, "displayName"),
                                 json_is_integer(fc) ? json_integer_value(fc) : -1, 0);
    json_decref(j);
    if (!b->stopping)
        handle_frame(b, pd->frame, pd->n, 1);
    free(pd);
}

/* Fill the author from the profile cache; 0 when the profile must be fetched first. */
static int with_profile(struct bsky *b, struct sb_post *p)
{
    const struct handle_entry *h = p->author.id ? sb_bsky_profile_find(b, p->author.id) : NULL;
    if (!h)
        return 0;
    if (!h->negative) {
        if (h->handle[0])
            p->author.handle = sb_arena_strdup(p->arena, h->handle);
        if (h->name[0])
            p->author.name = sb_arena_strdup(p->arena, h->name);
        else if (p->author.handle)
            p->author.name = p->author.handle;
        p->author.followers = h->followers;
    }
    return 1;
}

static void fetch_profile(struct bsky *b, const char *s, size_t n, int64_t t, const char *did)
{
    struct pending *pd = malloc(sizeof *pd + n + 1);
    char url[1024];
    snprintf(url, sizeof url, "%s/xrpc/app.bsky.actor.getProfile?actor=%s", b->base.conf->pds_url,
             did);
    if (pd) {
        pd->b = b;
        pd->t = t;
        pd->n = n;
        memcpy(pd->frame, s, n);
        pd->frame[n] = 0;
        /* remember the attempt first: frames of the same author arriving meanwhile go on
         * without waiting (they are rare; a second request would not be faster) */
        sb_bsky_profile_remember(b, did, NULL, NULL, -1, 1);
        if (sb_bsky_xcall(b, "GET", url, NULL, 0, CALL_AUTH, on_author_profile, pd) == SB_OK)
            return;
        free(pd);
    }
    handle_frame(b, s, n, 1); /* no lookup possible: go on without a profile */
}

static void handle_frame(struct bsky *b, const char *s, size_t n, int profiled)
{
    json_error_t je;
    json_t *root = json_loadb(s, n, 0, &je);
    if (!root) {
        b->malformed++;
        char d[300];
        snprintf(d, sizeof d, "malformed JSON at column %d: %s", je.column, je.text);
        sb_bsky_log_account(b, SB_LOG_WARN, "stream_frame_invalid", d);
        return;
    }
    struct sb_errbuf eb = {{0}};
    enum sb_err e = sb_bluesky_map_event(root, &b->ev, &eb);
    json_decref(root);
    if (e) {
        b->malformed++;
        sb_bsky_log_account(b, SB_LOG_WARN, "stream_frame_invalid", eb.msg);
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
        if (!with_profile(b, p) && !profiled && p->author.id) {
            fetch_profile(b, s, n, t, p->author.id);
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
    sb_bsky_log_account(b, SB_LOG_INFO, "stream_open", b->stream_url);
}

static void on_text(void *ud, const char *data, size_t len)
{
    struct bsky *b = ud;
    b->frames++;
    handle_frame(b, data, len, 0);
}

static void on_stream_timer(uv_timer_t *t)
{
    struct bsky *b = t->data;
    if (!b->stopping)
        sb_bsky_stream_connect(b);
}

static void on_close(void *ud, int code, const char *reason)
{
    struct bsky *b = ud;
    b->ws = NULL;
    if (b->freed) {
        sb_bsky_maybe_release(b);
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
    sb_bsky_log_account(b, SB_LOG_WARN, "stream_closed", d);
    uv_timer_start(&b->stream_timer, on_stream_timer, delay, 0);
}

void sb_bsky_stream_connect(struct bsky *b)
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
    sb_bsky_session_create(b);
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
int sb_bsky_maybe_release(struct bsky *b)
{
    if (!b->freed || b->handles_closed < 2 || b->in_flight > 0 || b->ws)
        return 0;
    sb_event_free(&b->ev);
    free(b->stream_url);
    sb_bsky_session_wipe(b);
    free(b);
    return 1;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct bsky *b = h->data;
    b->handles_closed++;
    sb_bsky_maybe_release(b);
}

static void b_free(struct sb_connector *c)
{
    struct bsky *b = (struct bsky *)c;
    b_stop(c);
    b->freed = 1; /* from here on, callbacks release and report to no one */
    uv_close((uv_handle_t *)&b->stream_timer, on_handle_closed);
    uv_close((uv_handle_t *)&b->sess_timer, on_handle_closed);
}

static const struct sb_connector_ops ops = {b_start, b_stop, sb_bsky_send, b_idle, b_free};

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
