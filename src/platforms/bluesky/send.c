/* send.c — the Bluesky connector's effects: a public reply through
 * com.atproto.repo.createRecord at a record key derived from the effect's idempotency key (a
 * retry cannot make a second post; "already exists" and 5xx answers are checked with
 * getRecord), opening with an "@handle" mention facet (the handle looked up once per
 * recipient through getProfile and cached), and a direct message through the chat service
 * (getConvoForMembers, sendMessage). Text is cut on a grapheme boundary to the record limits;
 * failures are mapped to the retry policy's view of them (struct sb_send_result).
 * Depends on the XRPC call helper (xrpc.c, through internal.h), core/effects (rkey),
 * core/utf8 (grapheme limits), core/retry and net/http. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/effects.h"
#include "core/retry.h"
#include "core/utf8.h"
#include "net/http.h"
#include "platforms/bluesky/internal.h"
#include "util/log.h"

#define POST_GRAPHEMES 300 /* app.bsky.feed.post text limits */
#define POST_BYTES 3000
#define DM_GRAPHEMES 1000 /* chat.bsky.convo message text limits */
#define DM_BYTES 10000
#define TEXT_BUF_MAX (256u * 1024u) /* the outbox's text, before it is cut to fit */
#define HANDLE_TTL_MS (60 * 60 * 1000)

/* ---- helpers ----------------------------------------------------------------------------- */

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

/* ---- results ----------------------------------------------------------------------------- */

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

static void result_from_http(struct sb_send_result *res, const struct sb_http_resp *r,
                             const char *what)
{
    memset(res, 0, sizeof *res);
    json_t *j = r->status >= 400 ? sb_bsky_resp_json(r) : NULL;
    const char *name = sb_bsky_jstr(j, "error"), *message = sb_bsky_jstr(j, "message");
    sb_send_result_from_http(res, r, name);
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

/* ---- recipients' handles ----------------------------------------------------------------- */

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

#define NEGATIVE_TTL_MS 60000

void sb_bsky_profile_remember(struct bsky *b, const char *did, const char *handle, const char *name,
                              int64_t followers, int negative)
{
    if (!did || strlen(did) >= sizeof b->handles[0].did)
        return;
    struct handle_entry *h = NULL;
    for (int i = 0; i < HANDLE_CACHE && !h; i++)
        if (strcmp(b->handles[i].did, did) == 0)
            h = &b->handles[i]; /* refresh in place */
    if (!h)
        h = &b->handles[b->handle_next++ % HANDLE_CACHE];
    snprintf(h->did, sizeof h->did, "%s", did);
    snprintf(h->handle, sizeof h->handle, "%s", negative || !handle ? "" : handle);
    snprintf(h->name, sizeof h->name, "%s", negative || !name ? "" : name);
    h->followers = negative ? -1 : followers;
    h->negative = negative;
    h->expires = sb_loop_mono_ms(b->base.loop) + (negative ? NEGATIVE_TTL_MS : HANDLE_TTL_MS);
}

const struct handle_entry *sb_bsky_profile_find(struct bsky *b, const char *did)
{
    int64_t now = sb_loop_mono_ms(b->base.loop);
    for (int i = 0; i < HANDLE_CACHE; i++)
        if (b->handles[i].expires > now && strcmp(b->handles[i].did, did) == 0)
            return &b->handles[i];
    return NULL;
}

static void remember_handle(struct bsky *b, const char *did, const char *handle)
{
    const struct handle_entry *old = sb_bsky_profile_find(b, did);
    sb_bsky_profile_remember(b, did, handle, old && !old->negative ? old->name : NULL,
                             old && !old->negative ? old->followers : -1, 0);
}

static const char *known_handle(struct bsky *b, const char *did)
{
    const struct handle_entry *h = sb_bsky_profile_find(b, did);
    return h && !h->negative && h->handle[0] ? h->handle : NULL;
}

/* ---- replies ----------------------------------------------------------------------------- */

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
        e = sb_bsky_xcall(b, "POST", url, body, len, CALL_AUTH, on_record_created, sc);
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
    json_t *j = r->status == 200 ? sb_bsky_resp_json(r) : NULL;
    const char *uri = sb_bsky_jstr(j, "uri"), *cid = sb_bsky_jstr(j, "cid");
    if (uri && cid) { /* an earlier attempt of ours made it: that is the reply */
        char d[300];
        snprintf(d, sizeof d, "%s was already posted (an earlier attempt landed)", uri);
        sb_bsky_log_account(sc->b, SB_LOG_INFO, "reply_exists", d);
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
    json_t *j = r->status == 200 ? sb_bsky_resp_json(r) : NULL;
    const char *uri = sb_bsky_jstr(j, "uri"), *cid = sb_bsky_jstr(j, "cid");
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
        if (sb_bsky_xcall(b, "GET", url, NULL, 0, 0, on_record_found, sc) == SB_OK)
            return;
    }
    send_finish(sc);
}

/* The recipient's handle, for the "@handle" mention; without it the reply goes out plain. */
static void on_profile(void *ud, const struct sb_http_resp *r)
{
    struct send_ctx *sc = ud;
    if (!r) {
        send_free(sc);
        return;
    }
    json_t *j = r->status == 200 ? sb_bsky_resp_json(r) : NULL;
    const char *did = sb_bsky_jstr(j, "did"), *handle = sb_bsky_jstr(j, "handle");
    if (did && strcmp(did, sc->recipient) == 0 && handle_ok(handle)) {
        remember_handle(sc->b, did, handle);
        sc->handle = strdup(handle);
    }
    json_decref(j);
    enum sb_err e = create_record(sc);
    if (e)
        send_fail_unsent(sc, "createRecord", e);
}

/* ---- direct messages --------------------------------------------------------------------- */

static void on_message_sent(void *ud, const struct sb_http_resp *r)
{
    struct send_ctx *sc = ud;
    if (!r) {
        send_free(sc);
        return;
    }
    json_t *j = r->status == 200 ? sb_bsky_resp_json(r) : NULL;
    const char *id = sb_bsky_jstr(j, "id");
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
    json_t *j = r->status == 200 ? sb_bsky_resp_json(r) : NULL;
    const char *convo = sb_bsky_jstr(json_object_get(j, "convo"), "id");
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
        e = sb_bsky_xcall(b, "POST", url, body, len, CALL_AUTH | CALL_CHAT, on_message_sent, sc);
    free(body);
    if (e)
        send_fail_unsent(sc, "sendMessage", e);
}

/* ---- the send op ------------------------------------------------------------------------- */

enum sb_err sb_bsky_send(struct sb_connector *c, const struct sb_send_req *req, sb_send_done_fn cb,
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
            e = sb_bsky_xcall(b, "GET", url.data, NULL, 0, CALL_AUTH | CALL_CHAT, on_convo, sc);
    } else if (!sc->handle && sc->recipient && strncmp(sc->recipient, "did:", 4) == 0) {
        /* Jetstream gives no handle: ask the AppView (through the PDS) once per recipient */
        e = sb_buf_printf(&url, "%s/xrpc/app.bsky.actor.getProfile?actor=", b->base.conf->pds_url);
        if (!e)
            e = sb_http_form_escape(&url, sc->recipient);
        if (!e)
            e = sb_bsky_xcall(b, "GET", url.data, NULL, 0, CALL_AUTH, on_profile, sc);
    } else {
        e = create_record(sc);
    }
    sb_buf_free(&url);
    if (e)
        send_free(sc);
    return e;
}
