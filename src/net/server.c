/* server.c — the HTTP/1.1 + WebSocket server of server.h on the loop's libwebsockets context.
 *
 * Listening is ours, not lws's: libwebsockets 4.1.6 cannot stop a vhost's listener
 * (lws_vhost_destroy leaves the listen socket open until the context dies), so the server binds
 * its own non-blocking socket, watches it with a uv_poll and hands every accepted socket to an
 * lws vhost created with CONTEXT_PORT_NO_LISTEN_SERVER (lws_adopt_descriptor_vhost_via_info).
 * lws parses HTTP/1.1 and WebSocket framing; everything the handler sees is copied out of lws's
 * header storage into struct sb_request.
 *
 * One struct sb_conn per TCP connection (the wsi's user pointer): it carries the request being
 * received or answered, the response being written, and for an upgraded connection the
 * WebSocket state. Upgrades are decided in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, the hook where
 * lws 4.1.6 lets a server answer the upgrade request with a real HTTP status (403).
 *
 * Depends on libwebsockets and libuv (through net/loop.h). */
#include "net/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/chunked.h"
#include "net/internal.h"
#include "util/buf.h"

#define WS_MESSAGE_MAX_DEFAULT (16u * 1024)
#define WS_QUEUE_MAX_DEFAULT (4u * 1024 * 1024)
#define HEADER_TIMEOUT_DEFAULT 10
#define WRITE_CHUNK (64u * 1024)     /* response bytes handed to lws per writeable callback */
#define DRAIN_MAX (1u << 20)         /* body bytes read and dropped after a 413, at most */
#define BODY_DEADLINE_MS (60 * 1000) /* a whole request body arrives within this */
#define GONE_CHECK_MS 200            /* how often clients of unanswered requests are checked */
#define ACCEPT_BATCH 64              /* connections accepted per readiness event */
#define ACCEPT_PAUSE_MS 100          /* listener rest after EMFILE and friends */

/* ---- structures ---------------------------------------------------------------------------- */

struct kv {
    char *k, *v;
};

struct kvs {
    struct kv *a;
    size_t n, cap;
};

enum rq_state {
    RQ_BODY,    /* headers in, body arriving */
    RQ_HANDLER, /* with the handler, not answered yet */
};

struct sb_request {
    struct sb_conn *c;
    enum rq_state state;
    char method[12];
    char *path, *query;
    struct kvs args, hdrs, cookies;
    int cookies_parsed;
    struct sb_buf body;
    int chunked;
    struct sb_chunked ch;
    int head; /* HEAD: the answer has no body */
    int64_t t0;
    char peer[64];
    void *ud;
};

struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the message */
};

struct sb_conn {
    struct sb_server *s;
    struct lws *wsi;
    struct sb_conn *prev, *next;
    char peer[64];
    int pinned;   /* kept allocated by a caller across a call that may finish it */
    int finished; /* closed and reported to the owner */
    /* HTTP */
    struct sb_request *rq; /* being received, or with the handler */
    char *resp;            /* the response being written */
    size_t resp_len, resp_off;
    int close_after; /* close once the response is out */
    int discarding;  /* reading and dropping a refused body */
    size_t drain_left;
    int body_done;
    int rx_paused; /* rx flow-controlled off while the handler holds the request */
    /* WebSocket */
    int ws_accepted, ws_open, ws_closed_called;
    void *ws_ud;
    struct sb_buf msg;
    int oversized;
    struct out_msg *outq, *outq_tail;
    size_t queued;
    int closing, close_code;
    int kill_pending;    /* close (with its close frame) from the kick timer */
    int untimeout_later; /* clear lws's content timeout from the kick timer */
};

/* The uv handles outlive the server by one loop turn (uv_close is asynchronous). */
struct handles {
    uv_poll_t poll;
    uv_timer_t pause, gone, kick;
    int fd;
    int open;
    struct sb_server *s; /* NULL once the server is freed */
};

struct sb_server {
    struct sb_loop *loop;
    struct lws_vhost *vh;
    struct handles *hd;
    struct sb_server_handlers h;
    void *ud;
    char *ws_path, *origin, *extra_headers;
    size_t body_max, ws_message_max, ws_queue_max;
    int port;
    struct sb_conn *conns;
    int gone_timer_on;
    char pending_peer[64];
    unsigned char scratch[LWS_PRE + WRITE_CHUNK];
};

static int server_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len);

static const struct lws_protocols protocols[] = {
    {"sb-server", server_callback, 0, 0, 0, NULL, WRITE_CHUNK},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* WebSocket liveness: ping after 30 s without a pong, hang up 40 s later. */
static const lws_retry_bo_t ws_validity = {
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 70,
};

/* ---- small helpers ------------------------------------------------------------------------- */

static char *dupn(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

static int kvs_add(struct kvs *t, char *k, char *v)
{
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct kv *a = realloc(t->a, cap * sizeof *a);
        if (!a) {
            free(k);
            free(v);
            return -1;
        }
        t->a = a;
        t->cap = cap;
    }
    t->a[t->n].k = k;
    t->a[t->n].v = v;
    t->n++;
    return 0;
}

static void kvs_free(struct kvs *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->a[i].k);
        free(t->a[i].v);
    }
    free(t->a);
    memset(t, 0, sizeof *t);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

/* Status line, headers, body: one malloc'd block (*out_len bytes). */
static char *build_response(const struct sb_server *s, int status, const char *ctype,
                            const char *headers, const void *body, size_t len, int head, int close,
                            size_t *out_len)
{
    struct sb_buf b;
    sb_buf_init(&b, 0);
    if (status < 100 || status > 999)
        status = 500;
    enum sb_err e = sb_buf_printf(&b, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    if (!e && ctype && *ctype)
        e = sb_buf_printf(&b, "Content-Type: %s\r\n", ctype);
    if (!e)
        e = sb_buf_printf(&b, "Content-Length: %zu\r\n", len);
    const char *extra[2] = {headers, s->extra_headers};
    for (int i = 0; i < 2 && !e; i++) {
        size_t n = extra[i] ? strlen(extra[i]) : 0;
        if (!n)
            continue;
        e = sb_buf_append(&b, extra[i], n);
        if (!e && (n < 2 || memcmp(extra[i] + n - 2, "\r\n", 2) != 0))
            e = sb_buf_puts(&b, "\r\n");
    }
    if (!e && close)
        e = sb_buf_puts(&b, "Connection: close\r\n");
    if (!e)
        e = sb_buf_puts(&b, "\r\n");
    if (e) {
        sb_buf_free(&b);
        return NULL;
    }
    size_t blen = head ? 0 : len;
    char *out = malloc(b.len + blen + 1);
    if (out) {
        memcpy(out, b.data, b.len);
        if (blen)
            memcpy(out + b.len, body, blen);
        *out_len = b.len + blen;
    }
    sb_buf_free(&b);
    return out;
}

/* ---- requests ------------------------------------------------------------------------------ */

static void rq_free(struct sb_request *rq)
{
    if (!rq)
        return;
    free(rq->path);
    free(rq->query);
    kvs_free(&rq->args);
    kvs_free(&rq->hdrs);
    kvs_free(&rq->cookies);
    sb_buf_free(&rq->body);
    free(rq);
}

static const struct {
    enum lws_token_indexes tok;
    const char *name;
} methods[] = {
    {WSI_TOKEN_GET_URI, "GET"},         {WSI_TOKEN_POST_URI, "POST"},
    {WSI_TOKEN_OPTIONS_URI, "OPTIONS"}, {WSI_TOKEN_PUT_URI, "PUT"},
    {WSI_TOKEN_PATCH_URI, "PATCH"},     {WSI_TOKEN_DELETE_URI, "DELETE"},
    {WSI_TOKEN_HEAD_URI, "HEAD"},
};

/* Every header lws knows by token, fragments joined ("; " for cookies, ", " otherwise). Unknown
 * (custom) headers are fetched on demand by sb_request_header while lws still holds them. */
static int copy_headers(struct sb_request *rq, struct lws *wsi)
{
    for (int t = 0; t < (int)WSI_TOKEN_COUNT; t++) {
        const char *nm = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        size_t nl = nm ? strlen(nm) : 0;
        if (nl < 2 || nm[0] == ':' || nm[nl - 1] != ':')
            continue;
        int total = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (total <= 0)
            continue;
        const char *sep = t == WSI_TOKEN_HTTP_COOKIE ? "; " : ", ";
        struct sb_buf v;
        sb_buf_init(&v, 0);
        for (int f = 0; f < 64; f++) {
            int fl = lws_hdr_fragment_length(wsi, (enum lws_token_indexes)t, f);
            char *frag = malloc((size_t)fl + 1);
            if (!frag) {
                sb_buf_free(&v);
                return -1;
            }
            int n = lws_hdr_copy_fragment(wsi, frag, fl + 1, (enum lws_token_indexes)t, f);
            if (n >= 0 && ((f > 0 && sb_buf_puts(&v, sep)) || sb_buf_append(&v, frag, (size_t)n)))
                n = -2;
            free(frag);
            if (n == -2) {
                sb_buf_free(&v);
                return -1;
            }
            if (n < 0)
                break;
        }
        char *val = v.data ? v.data : strdup("");
        if (kvs_add(&rq->hdrs, dupn(nm, nl - 1), val))
            return -1;
    }
    return 0;
}

static void append_encoded(struct sb_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            sb_buf_putc(b, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            sb_buf_append(b, e, 3);
        }
    }
}

/* lws hands the query over already split at & and ; and URL-decoded, one fragment per
 * argument: keep them as args and rebuild a (normalised, re-encoded) query string. */
static int copy_args(struct sb_request *rq, struct lws *wsi)
{
    struct sb_buf q;
    sb_buf_init(&q, 0);
    sb_buf_puts(&q, "");
    for (int f = 0; f < 256; f++) {
        int fl = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, f);
        char *frag = malloc((size_t)fl + 1);
        if (!frag) {
            sb_buf_free(&q);
            return -1;
        }
        int n = lws_hdr_copy_fragment(wsi, frag, fl + 1, WSI_TOKEN_HTTP_URI_ARGS, f);
        if (n <= 0) {
            free(frag);
            if (n < 0)
                break; /* no such fragment: the end */
            continue;  /* "a=1&&b=2" */
        }
        char *eq = strchr(frag, '=');
        size_t kl = eq ? (size_t)(eq - frag) : (size_t)n;
        if (q.len)
            sb_buf_putc(&q, '&');
        append_encoded(&q, frag, kl);
        if (eq) {
            sb_buf_putc(&q, '=');
            append_encoded(&q, eq + 1, strlen(eq + 1));
        }
        int r = kvs_add(&rq->args, dupn(frag, kl), strdup(eq ? eq + 1 : ""));
        free(frag);
        if (r) {
            sb_buf_free(&q);
            return -1;
        }
    }
    rq->query = q.data ? q.data : strdup("");
    return rq->query ? 0 : -1;
}

/* 0 ok, 400 for a path the handler must never see, -1 out of memory. */
static int rq_fill(struct sb_request *rq, struct sb_conn *c, struct lws *wsi, const char *uri,
                   size_t urilen)
{
    rq->c = c;
    rq->t0 = sb_loop_mono_ms(c->s->loop);
    snprintf(rq->peer, sizeof rq->peer, "%s", c->peer);
    sb_buf_init(&rq->body, c->s->body_max);
    snprintf(rq->method, sizeof rq->method, "GET");
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0) {
            snprintf(rq->method, sizeof rq->method, "%s", methods[i].name);
            break;
        }
    rq->head = strcmp(rq->method, "HEAD") == 0;
    rq->path = dupn(uri ? uri : "/", uri ? urilen : 1);
    if (!rq->path || copy_headers(rq, wsi) || copy_args(rq, wsi))
        return -1;
    /* lws has decoded %xx and folded "." and ".." segments already; refuse anything that
     * still looks like a traversal or carries a NUL */
    if (memchr(rq->path, 0, urilen) || rq->path[0] != '/')
        return 400;
    for (const char *p = rq->path; (p = strstr(p, "..")) != NULL; p += 2)
        if (p[-1] == '/' && (p[2] == '/' || p[2] == 0))
            return 400;
    return 0;
}

/* ---- connections --------------------------------------------------------------------------- */

static void conn_unlink(struct sb_conn *c)
{
    if (!c->s)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else if (c->s->conns == c)
        c->s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void conn_free(struct sb_conn *c)
{
    for (struct out_msg *m = c->outq, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    c->outq = c->outq_tail = NULL;
    sb_buf_free(&c->msg);
    free(c->resp);
    rq_free(c->rq);
    free(c);
}

/* The connection is over: report what its owner is owed, detach it from the wsi, free it. */
static void conn_finish(struct sb_conn *c)
{
    if (c->finished)
        return;
    c->finished = 1;
    struct sb_server *s = c->s;
    if (c->wsi)
        lws_set_wsi_user(c->wsi, NULL);
    c->wsi = NULL;
    if (c->rq && c->rq->state == RQ_HANDLER) {
        struct sb_request *rq = c->rq;
        c->rq = NULL;
        rq->c = NULL;
        if (s->h.on_request_gone)
            s->h.on_request_gone(s->ud, rq);
        rq_free(rq);
    }
    if (c->ws_accepted && !c->ws_closed_called) {
        c->ws_closed_called = 1;
        c->closing = 1;
        if (s->h.ws_closed)
            s->h.ws_closed(s->ud, c->ws_ud, c);
    }
    conn_unlink(c);
    if (!c->pinned)
        conn_free(c);
}

static void gone_check(uv_timer_t *t);

static void gone_timer_update(struct sb_server *s)
{
    if (!s->hd)
        return; /* being freed */
    int want = 0;
    for (struct sb_conn *c = s->conns; c && !want; c = c->next)
        want = c->rq && c->rq->state == RQ_HANDLER && c->wsi;
    if (want && !s->gone_timer_on)
        uv_timer_start(&s->hd->gone, gone_check, GONE_CHECK_MS, GONE_CHECK_MS);
    else if (!want && s->gone_timer_on)
        uv_timer_stop(&s->hd->gone);
    s->gone_timer_on = want;
}

/* lws does not read a connection whose request is being answered (and would spin on its
 * readable socket), so rx is switched off meanwhile and the socket is peeked at from a timer:
 * end of stream or an error means the client is gone. */
static void gone_check(uv_timer_t *t)
{
    struct handles *hd = t->data;
    struct sb_server *s = hd->s;
    if (!s)
        return;
    for (struct sb_conn *c = s->conns, *n; c; c = n) {
        n = c->next;
        if (!c->rq || c->rq->state != RQ_HANDLER || !c->wsi)
            continue;
        int fd = (int)lws_get_socket_fd(c->wsi);
        char b;
        ssize_t r = fd >= 0 ? recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) : 0;
        if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
            continue;
        c->pinned = 1; /* keep it allocated across the kill */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        conn_finish(c); /* if lws took a slower path, report it now anyway */
        conn_free(c);
    }
    gone_timer_update(s);
}

/* Queue a response on c (the request, if any, is finished with). */
static int conn_respond(struct sb_conn *c, int status, const char *ctype, const char *headers,
                        const void *body, size_t len, int head)
{
    size_t n = 0;
    char *r = build_response(c->s, status, ctype, headers, body, len, head, c->close_after, &n);
    if (!r)
        return -1;
    free(c->resp);
    c->resp = r;
    c->resp_len = n;
    c->resp_off = 0;
    if (c->wsi && c->rx_paused) {
        /* lws 4.1.6 services neither rx nor tx of a flow-controlled h1 connection */
        c->rx_paused = 0;
        lws_rx_flow_control(c->wsi, 1);
    }
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
    return 0;
}

static void kick_fire(uv_timer_t *t);

/* Close a WebSocket politely (close frame with its code) from outside lws's service. Returning
 * -1 from a callback instead ends in lws 4.1.6's close_and_handled, which in Debian's debug
 * build closes the wsi a second time ("uv repeat test") and kills the socket before the close
 * frame goes out: the peer would see 1006 whatever the code. */
static void conn_kill_later(struct sb_conn *c)
{
    if (c->kill_pending || !c->wsi || !c->s->hd || (c->ws_accepted && !c->ws_open))
        return; /* an upgrade still under way is closed from LWS_CALLBACK_ESTABLISHED */
    c->kill_pending = 1;
    uv_timer_start(&c->s->hd->kick, kick_fire, 0, 0);
}

/* lws re-arms its content timeout after a body callback returns; a request dispatched from
 * one (chunked bodies) has it cleared on the next loop turn instead. */
static void conn_untimeout_later(struct sb_conn *c)
{
    if (!c->wsi || !c->s->hd)
        return;
    c->untimeout_later = 1;
    uv_timer_start(&c->s->hd->kick, kick_fire, 0, 0);
}

static void kick_fire(uv_timer_t *t)
{
    struct handles *hd = t->data;
    struct sb_server *s = hd->s;
    if (!s)
        return;
    for (struct sb_conn *c = s->conns, *n; c; c = n) {
        n = c->next;
        if (c->untimeout_later && c->wsi && !c->kill_pending) {
            c->untimeout_later = 0;
            if (c->rq && c->rq->state == RQ_HANDLER)
                lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
        }
        if (!c->kill_pending || !c->wsi)
            continue;
        c->kill_pending = 0;
        if (c->ws_open) {
            int code = c->close_code ? c->close_code : LWS_CLOSE_STATUS_NORMAL;
            const char *r = code == LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE  ? "message too large"
                            : code == LWS_CLOSE_STATUS_POLICY_VIOLATION ? "too slow"
                                                                        : "";
            lws_close_reason(c->wsi, (enum lws_close_status)code, (unsigned char *)r, strlen(r));
        }
        c->pinned = 1; /* keep it allocated across the kill */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        c->pinned = 0;
        if (c->finished)
            conn_free(c);
    }
}

/* An error of ours (400, 413, 500): answer it and close the connection afterwards. */
static void conn_fail(struct sb_conn *c, int status, const char *msg)
{
    if (c->rq) {
        rq_free(c->rq);
        c->rq = NULL;
    }
    c->close_after = 1;
    conn_respond(c, status, "text/plain; charset=utf-8", NULL, msg, strlen(msg), 0);
}

static void dispatch(struct sb_conn *c)
{
    struct sb_server *s = c->s;
    struct sb_request *rq = c->rq;
    rq->state = RQ_HANDLER;
    /* lws keeps a content timeout running on a transaction; the answer may take longer */
    lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    if (!s->h.on_request) {
        sb_server_respond(rq, 404, "text/plain", NULL, "not found\n", 10);
        return;
    }
    s->h.on_request(s->ud, rq);
    if (c->rq == rq && c->wsi && !c->rx_paused) {
        lws_rx_flow_control(c->wsi, 0);
        c->rx_paused = 1;
        gone_timer_update(s);
    }
}

static void refuse_body(struct sb_conn *c, size_t remaining, int expect_continue)
{
    conn_fail(c, 413, "request body too large\n");
    c->discarding = 1;
    c->drain_left = expect_continue ? 0 : (remaining < DRAIN_MAX ? remaining : DRAIN_MAX);
}

static int parse_content_length(const char *v, uint64_t *out)
{
    uint64_t n = 0;
    if (!v || !*v)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (UINT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    *out = n;
    return 0;
}

static const char *hdr_get(const struct sb_request *rq, const char *name)
{
    for (size_t i = 0; i < rq->hdrs.n; i++)
        if (!strcasecmp(rq->hdrs.a[i].k, name))
            return rq->hdrs.a[i].v;
    return NULL;
}

/* LWS_CALLBACK_HTTP: the headers of a plain HTTP request are in. */
static int on_http(struct sb_conn *c, struct lws *wsi, const char *uri, size_t urilen)
{
    struct sb_server *s = c->s;
    if (c->rq) { /* lws started a new transaction: the old one cannot be pending */
        rq_free(c->rq);
        c->rq = NULL;
    }
    c->close_after = c->discarding = c->body_done = 0;
    c->drain_left = 0;
    struct sb_request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return -1;
    c->rq = rq;
    int r = rq_fill(rq, c, wsi, uri, urilen);
    if (r < 0) {
        conn_fail(c, 500, "out of memory\n");
        return 0;
    }
    if (r == 400) {
        conn_fail(c, 400, "bad request path\n");
        return 0;
    }
    int lws_body =
        !strcmp(rq->method, "POST") || !strcmp(rq->method, "PUT") || !strcmp(rq->method, "PATCH");
    const char *cl = hdr_get(rq, "content-length");
    const char *te = hdr_get(rq, "transfer-encoding");
    const char *expect = hdr_get(rq, "expect");
    int cont = expect && !strcasecmp(expect, "100-continue");
    uint64_t len = 0;
    if (cl && parse_content_length(cl, &len)) {
        conn_fail(c, 400, "bad content-length\n");
        return 0;
    }
    if (te) {
        /* lws 4.1.6 does not decode chunked requests: they are decoded here, and since lws
         * then believes the body never ends, the connection closes after the answer */
        if (strcasecmp(te, "chunked") || cl || !lws_body) {
            conn_fail(c, te && strcasecmp(te, "chunked") ? 501 : 400,
                      "unsupported transfer-encoding\n");
            return 0;
        }
        rq->chunked = 1;
        c->close_after = 1;
    }
    if (cl && len > s->body_max) {
        refuse_body(c, len > SIZE_MAX ? SIZE_MAX : (size_t)len, cont);
        return 0;
    }
    if (cont && (rq->chunked || len)) {
        static const char go[] = "HTTP/1.1 100 Continue\r\n\r\n";
        memcpy(s->scratch + LWS_PRE, go, sizeof go - 1);
        if (lws_write(wsi, s->scratch + LWS_PRE, sizeof go - 1, LWS_WRITE_HTTP) < 0)
            return -1;
    }
    if (rq->chunked || len) {
        rq->state = RQ_BODY;
        return 0;
    }
    /* no body; lws expects one for POST/PUT/PATCH without a length, so close afterwards */
    if (lws_body && !cl)
        c->close_after = 1;
    dispatch(c);
    return 0;
}

static int on_http_body(struct sb_conn *c, const unsigned char *in, size_t len)
{
    struct sb_server *s = c->s;
    if (c->discarding) {
        size_t d = len < c->drain_left ? len : c->drain_left;
        c->drain_left -= d;
        return !c->drain_left && !c->resp ? -1 : 0;
    }
    struct sb_request *rq = c->rq;
    if (!rq || rq->state != RQ_BODY)
        return 0; /* after a chunked body ended: the connection closes after the answer */
    if (sb_loop_mono_ms(s->loop) - rq->t0 > BODY_DEADLINE_MS)
        return -1;
    if (rq->chunked) {
        int r = sb_chunked_feed(&rq->ch, &rq->body, in, len);
        if (r == 1) {
            dispatch(c);
            if (c->rq == rq)
                conn_untimeout_later(c);
        } else if (r == 413) {
            refuse_body(c, DRAIN_MAX, 0);
        } else if (r) {
            conn_fail(c, r, "bad chunked body\n");
            c->discarding = 1;
        }
        return 0;
    }
    if (sb_buf_append(&rq->body, in, len) != SB_OK) {
        refuse_body(c, DRAIN_MAX, 0);
        return 0;
    }
    return 0;
}

static int on_http_body_done(struct sb_conn *c)
{
    if (c->discarding) {
        c->body_done = 1;
        return c->resp ? 0 : -1;
    }
    struct sb_request *rq = c->rq;
    if (!rq || rq->state != RQ_BODY || rq->chunked)
        return 0;
    sb_buf_append(&rq->body, "", 0); /* NUL-terminated even when empty */
    dispatch(c);
    return 0;
}

static int on_http_writeable(struct sb_conn *c, struct lws *wsi)
{
    struct sb_server *s = c->s;
    if (!c->resp)
        return 0;
    size_t n = c->resp_len - c->resp_off;
    if (n > WRITE_CHUNK)
        n = WRITE_CHUNK;
    int final = c->resp_off + n == c->resp_len;
    memcpy(s->scratch + LWS_PRE, c->resp + c->resp_off, n);
    if (lws_write(wsi, s->scratch + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
        return -1;
    c->resp_off += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    free(c->resp);
    c->resp = NULL;
    if (c->close_after) {
        /* a refused body still arriving is drained (bounded) before the close */
        if (c->discarding && !c->body_done && c->drain_left)
            return 0;
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- WebSocket ----------------------------------------------------------------------------- */

/* Write a small answer synchronously (upgrade refusals happen before any body). */
static void write_now(struct sb_conn *c, struct lws *wsi, int status, const char *msg)
{
    size_t n = 0;
    char *r =
        build_response(c->s, status, "text/plain; charset=utf-8", NULL, msg, strlen(msg), 0, 0, &n);
    if (!r)
        return;
    unsigned char *b = malloc(LWS_PRE + n);
    if (b) {
        memcpy(b + LWS_PRE, r, n);
        lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
        free(b);
    }
    free(r);
}

static int origin_ok(const struct sb_server *s, const struct sb_request *rq)
{
    const char *o = hdr_get(rq, "origin");
    if (!o || !*o)
        return 0;
    if (s->origin)
        return strcmp(o, s->origin) == 0;
    const char *host = hdr_get(rq, "host");
    const char *sep = strstr(o, "://");
    if (!host || !*host || !sep)
        return 0;
    size_t sl = (size_t)(sep - o);
    if (!((sl == 4 && !strncasecmp(o, "http", 4)) || (sl == 5 && !strncasecmp(o, "https", 5))))
        return 0;
    return strcasecmp(sep + 3, host) == 0;
}

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 lets lws upgrade, 1 means we answered (lws finishes the
 * transaction and keeps the connection), -1 hangs up. */
static int on_confirm_upgrade(struct sb_conn *c, struct lws *wsi, char *up)
{
    struct sb_server *s = c->s;
    char *uri = NULL;
    int urilen = 0;
    int meth = lws_http_get_uri_and_method(wsi, &uri, &urilen);
    int websocket = up && !strcasecmp(up, "websocket");
    int on_path = s->ws_path && uri && urilen >= 0 && (size_t)urilen == strlen(s->ws_path) &&
                  !memcmp(uri, s->ws_path, (size_t)urilen);
    if (!websocket || !on_path || meth != LWSHUMETH_GET) {
        /* not ours to upgrade (h2c, or another path): blank the Upgrade value lws is about to
         * test again, so lws carries on with the request as plain HTTP */
        if (up)
            up[0] = 0;
        return 0;
    }
    struct sb_request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return -1;
    int r = rq_fill(rq, c, wsi, uri, (size_t)urilen);
    if (r) {
        rq_free(rq);
        if (r < 0)
            return -1;
        write_now(c, wsi, 400, "bad request path\n");
        return 1;
    }
    int ok = origin_ok(s, rq);
    if (!ok) {
        rq_free(rq);
        write_now(c, wsi, 403, "origin not allowed\n");
        return 1;
    }
    const char *key = hdr_get(rq, "sec-websocket-key");
    const char *ver = hdr_get(rq, "sec-websocket-version");
    if (!key || !ver || strcmp(ver, "13") || hdr_get(rq, "sec-websocket-protocol")) {
        rq_free(rq);
        write_now(c, wsi, 400, "bad websocket handshake\n");
        return 1;
    }
    rq->state = RQ_HANDLER;
    c->ws_accepted = 1; /* sb_conn_send works from inside ws_accept */
    sb_buf_init(&c->msg, s->ws_message_max);
    void *ud = s->h.ws_accept ? s->h.ws_accept(s->ud, rq, c) : NULL;
    rq_free(rq);
    if (!ud) {
        c->ws_accepted = 0;
        for (struct out_msg *m = c->outq, *n; m; m = n) { /* sends from a refusing accept */
            n = m->next;
            free(m);
        }
        c->outq = c->outq_tail = NULL;
        c->queued = 0;
        c->closing = 0;
        write_now(c, wsi, 403, "websocket refused\n");
        return 1;
    }
    c->ws_ud = ud;
    return 0;
}

static void ws_receive(struct sb_conn *c, struct lws *wsi, const void *in, size_t len)
{
    struct sb_server *s = c->s;
    if (c->closing)
        return;
    if (lws_is_first_fragment(wsi)) {
        sb_buf_reset(&c->msg);
        c->oversized = 0;
    }
    if (!c->oversized && sb_buf_append(&c->msg, in, len) != SB_OK)
        c->oversized = 1;
    if (!lws_is_final_fragment(wsi))
        return;
    if (c->oversized) {
        c->closing = 1;
        c->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
        conn_kill_later(c);
        return;
    }
    if (lws_frame_is_binary(wsi))
        return; /* a text protocol: binary frames are ignored */
    if (s->h.ws_text)
        s->h.ws_text(s->ud, c->ws_ud, c, c->msg.data ? c->msg.data : "", c->msg.len);
}

static int ws_writeable(struct sb_conn *c, struct lws *wsi)
{
    if (c->kill_pending)
        return 0;
    if (c->closing && (!c->outq || c->close_code)) {
        conn_kill_later(c);
        return 0;
    }
    struct out_msg *m = c->outq;
    if (!m)
        return 0;
    c->outq = m->next;
    if (!c->outq)
        c->outq_tail = NULL;
    c->queued -= m->len;
    int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    free(m);
    if (n < 0)
        return -1;
    if (c->outq || c->closing)
        lws_callback_on_writable(wsi);
    return 0;
}

/* ---- the lws callback ---------------------------------------------------------------------- */

static int server_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct sb_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        c = lws_get_opaque_user_data(wsi);
        if (!c)
            return -1;
        c->wsi = wsi;
        lws_set_wsi_user(wsi, c);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return c ? on_confirm_upgrade(c, wsi, in) : -1;
    case LWS_CALLBACK_HTTP:
        return c ? on_http(c, wsi, in, in ? strnlen(in, len) : 0) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return c ? on_http_body(c, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return c ? on_http_body_done(c) : -1;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return c ? on_http_writeable(c, wsi) : -1;
    case LWS_CALLBACK_ESTABLISHED:
        if (!c || !c->ws_accepted)
            return -1;
        c->ws_open = 1;
        if (c->closing && (!c->outq || c->close_code))
            conn_kill_later(c);
        else if (c->outq || c->closing)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!c)
            return -1;
        ws_receive(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c ? ws_writeable(c, wsi) : -1;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
        if (c)
            conn_finish(c);
        return 0;
    default:
        return 0;
    }
}

/* ---- listening ----------------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    struct handles *hd = h->data;
    if (--hd->open == 0) {
        if (hd->fd >= 0)
            close(hd->fd);
        free(hd);
    }
}

static void on_listen(uv_poll_t *p, int status, int events);

static void accept_resume(uv_timer_t *t)
{
    struct handles *hd = t->data;
    if (hd->s)
        uv_poll_start(&hd->poll, UV_READABLE, on_listen);
}

static void adopt(struct sb_server *s, int fd)
{
    struct sb_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->s = s;
    snprintf(c->peer, sizeof c->peer, "%s", s->pending_peer);
    sb_buf_init(&c->msg, s->ws_message_max);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    lws_adopt_desc_t ai;
    memset(&ai, 0, sizeof ai);
    ai.vh = s->vh;
    ai.type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP;
    ai.fd.sockfd = fd;
    ai.opaque = c;
    c->pinned = 1;
    struct lws *wsi = lws_adopt_descriptor_vhost_via_info(&ai); /* closes fd on failure */
    c->pinned = 0;
    if (!wsi || c->finished) {
        /* lws never attached a failed adoption to us (it fails before the instantiation
         * callback), so nothing of lws points at c any more */
        if (!c->finished)
            conn_unlink(c);
        conn_free(c);
    }
}

static void on_listen(uv_poll_t *p, int status, int events)
{
    struct handles *hd = p->data;
    struct sb_server *s = hd->s;
    if (!s || status < 0)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(hd->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: rest instead of spinning on the readable listener */
                uv_poll_stop(&hd->poll);
                uv_timer_start(&hd->pause, accept_resume, ACCEPT_PAUSE_MS, 0);
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        s->pending_peer[0] = 0;
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, s->pending_peer,
                      sizeof s->pending_peer);
        } else if (ss.ss_family == AF_INET6) {
            struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
            if (IN6_IS_ADDR_V4MAPPED(a))
                inet_ntop(AF_INET, &a->s6_addr[12], s->pending_peer, sizeof s->pending_peer);
            else
                inet_ntop(AF_INET6, a, s->pending_peer, sizeof s->pending_peer);
        }
        adopt(s, fd);
    }
}

/* "host:port", ":port", "[v6]:port" → a bound, listening, non-blocking socket. */
static int listen_on(const char *spec, int *port, struct sb_errbuf *eb, enum sb_err *err)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1]) {
        *err = sb_errf(eb, SB_ERR_INVAL, "listen address '%s' needs host:port or :port", spec);
        return -1;
    }
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof host) {
        *err = sb_errf(eb, SB_ERR_INVAL, "listen address '%s' is too long", spec);
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    char *end = NULL;
    long pn = strtol(colon + 1, &end, 10);
    if (!end || *end || pn < 0 || pn > 65535) {
        *err = sb_errf(eb, SB_ERR_INVAL, "bad port in listen address '%s'", spec);
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int any = host[0] == 0;
    if (any)
        hints.ai_family = AF_INET6; /* dual-stack "::" first, 0.0.0.0 if there is no IPv6 */
    int gr = getaddrinfo(any ? NULL : host, colon + 1, &hints, &res);
    if (gr && any) {
        hints.ai_family = AF_INET;
        gr = getaddrinfo(NULL, colon + 1, &hints, &res);
    }
    if (gr) {
        *err = sb_errf(eb, SB_ERR_IO, "cannot listen on %s: %s", spec, gai_strerror(gr));
        return -1;
    }
    int fd = -1, saved = 0;
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
            if (fd < 0) {
                saved = errno;
                continue;
            }
            int one = 1, zero = 0;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (ai->ai_family == AF_INET6 && any)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 512)) {
                saved = errno;
                close(fd);
                fd = -1;
            }
        }
        if (fd < 0 && any && pass == 0) { /* IPv6 unusable here: every IPv4 interface */
            freeaddrinfo(res);
            res = NULL;
            hints.ai_family = AF_INET;
            if (getaddrinfo(NULL, colon + 1, &hints, &res))
                break;
        } else {
            break;
        }
    }
    if (res)
        freeaddrinfo(res);
    if (fd < 0) {
        *err = sb_errf(eb, SB_ERR_IO, "cannot listen on %s: %s", spec, strerror(saved));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* ---- the server ---------------------------------------------------------------------------- */

static char *dup_opt(const char *s, int *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = 1;
    return d;
}

static void server_release(struct sb_server *s)
{
    free(s->ws_path);
    free(s->origin);
    free(s->extra_headers);
    free(s);
}

enum sb_err sb_server_new(struct sb_loop *l, const struct sb_server_opts *o,
                          const struct sb_server_handlers *h, void *ud, struct sb_server **out,
                          struct sb_errbuf *eb)
{
    *out = NULL;
    if (!o || !o->listen || !h)
        return sb_errf(eb, SB_ERR_INVAL, "sb_server_new: listen address and handlers needed");
    if (o->ws_path && o->ws_path[0] != '/')
        return sb_errf(eb, SB_ERR_INVAL, "ws_path '%s' must start with /", o->ws_path);
    struct sb_server *s = calloc(1, sizeof *s);
    if (!s)
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    s->loop = l;
    s->h = *h;
    s->ud = ud;
    s->body_max = o->body_max ? o->body_max : SB_SERVER_BODY_MAX_DEFAULT;
    s->ws_message_max = o->ws_message_max ? o->ws_message_max : WS_MESSAGE_MAX_DEFAULT;
    s->ws_queue_max = o->ws_queue_max ? o->ws_queue_max : WS_QUEUE_MAX_DEFAULT;
    int fail = 0;
    s->ws_path = dup_opt(o->ws_path, &fail);
    s->origin = dup_opt(o->origin, &fail);
    s->extra_headers = dup_opt(o->extra_headers, &fail);
    if (fail) {
        server_release(s);
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    }
    enum sb_err err = SB_OK;
    int fd = listen_on(o->listen, &s->port, eb, &err);
    if (fd < 0) {
        server_release(s);
        return err;
    }

    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof vi);
    vi.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* sockets come from our listener */
    vi.protocols = protocols;
    vi.vhost_name = "sb-server"; /* lws keeps the pointer: a literal outlives the vhost */
    vi.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    vi.timeout_secs_ah_idle =
        (unsigned)(o->header_timeout_secs > 0 ? o->header_timeout_secs : HEADER_TIMEOUT_DEFAULT);
    vi.retry_and_idle_policy = &ws_validity;
    s->vh = lws_create_vhost(sb_loop_lws(l), &vi);
    if (!s->vh) {
        close(fd);
        server_release(s);
        return sb_errf(eb, SB_ERR_IO, "libwebsockets: cannot create the server vhost");
    }

    struct handles *hd = calloc(1, sizeof *hd);
    if (!hd || uv_poll_init(sb_loop_uv(l), &hd->poll, fd) != 0) {
        free(hd);
        close(fd);
        lws_vhost_destroy(s->vh);
        server_release(s);
        return sb_errf(eb, SB_ERR_IO, "cannot watch the listening socket");
    }
    hd->fd = fd;
    hd->s = s;
    hd->poll.data = hd->pause.data = hd->gone.data = hd->kick.data = hd;
    uv_timer_init(sb_loop_uv(l), &hd->pause);
    uv_timer_init(sb_loop_uv(l), &hd->gone);
    uv_timer_init(sb_loop_uv(l), &hd->kick);
    hd->open = 4;
    s->hd = hd;
    uv_poll_start(&hd->poll, UV_READABLE, on_listen);
    *out = s;
    return SB_OK;
}

int sb_server_port(const struct sb_server *s)
{
    return s ? s->port : 0;
}

void sb_server_free(struct sb_server *s)
{
    if (!s)
        return;
    struct handles *hd = s->hd;
    hd->s = NULL;
    shutdown(hd->fd, SHUT_RDWR);                       /* no more connections from now on */
    uv_close((uv_handle_t *)&hd->poll, handle_closed); /* the socket closes with it */
    uv_close((uv_handle_t *)&hd->pause, handle_closed);
    uv_close((uv_handle_t *)&hd->gone, handle_closed);
    uv_close((uv_handle_t *)&hd->kick, handle_closed);
    s->hd = NULL;
    /* Owners hear about what they hold (unanswered requests, open WebSockets) now; then every
     * wsi is detached from us and killed. Callbacks lws makes for them later find no user. */
    while (s->conns) {
        struct sb_conn *c = s->conns;
        struct lws *wsi = c->wsi;
        c->pinned = 1; /* keep it allocated until the wsi is dealt with */
        conn_finish(c);
        if (wsi) {
            if (c->ws_open)
                lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)"bye", 3);
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        }
        conn_free(c);
    }
    lws_vhost_destroy(s->vh);
    server_release(s);
}

/* ---- the request accessors ----------------------------------------------------------------- */

const char *sb_request_method(const struct sb_request *rq)
{
    return rq->method;
}

const char *sb_request_path(const struct sb_request *rq)
{
    return rq->path;
}

const char *sb_request_query(const struct sb_request *rq)
{
    return rq->query ? rq->query : "";
}

const char *sb_request_arg(struct sb_request *rq, const char *name)
{
    for (size_t i = 0; i < rq->args.n; i++)
        if (!strcmp(rq->args.a[i].k, name))
            return rq->args.a[i].v;
    return NULL;
}

const char *sb_request_header(struct sb_request *rq, const char *name)
{
    if (!name || !*name)
        return NULL;
    const char *v = hdr_get(rq, name);
    if (v)
        return v;
    /* Not a header lws has a token for (lws 4.1.6 cannot list the others): ask lws, which
     * holds the request's headers until it is answered, and keep the value for the rest of
     * the request's life. */
    size_t nl = strlen(name);
    if (!rq->c || !rq->c->wsi || nl > 200)
        return NULL;
    char lname[204];
    for (size_t i = 0; i < nl; i++)
        lname[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    lname[nl] = ':';
    lname[nl + 1] = 0;
    int vl = lws_hdr_custom_length(rq->c->wsi, lname, (int)nl + 1);
    char *val = NULL;
    if (vl >= 0) {
        val = malloc((size_t)vl + 1);
        if (val && lws_hdr_custom_copy(rq->c->wsi, val, vl + 1, lname, (int)nl + 1) < 0) {
            free(val);
            val = NULL;
        }
    }
    if (val) {
        /* values come with the separating space; trim both ends */
        size_t a = 0, b = strlen(val);
        while (a < b && (val[a] == ' ' || val[a] == '\t'))
            a++;
        while (b > a && (val[b - 1] == ' ' || val[b - 1] == '\t'))
            b--;
        memmove(val, val + a, b - a);
        val[b - a] = 0;
    }
    lname[nl] = 0;
    if (!val || kvs_add(&rq->hdrs, strdup(lname), val))
        return NULL;
    return rq->hdrs.a[rq->hdrs.n - 1].v;
}

const char *sb_request_cookie(struct sb_request *rq, const char *name)
{
    if (!rq->cookies_parsed) {
        rq->cookies_parsed = 1;
        const char *h = hdr_get(rq, "cookie");
        while (h && *h) {
            while (*h == ' ' || *h == '\t' || *h == ';')
                h++;
            const char *end = strchr(h, ';');
            if (!end)
                end = h + strlen(h);
            const char *eq = memchr(h, '=', (size_t)(end - h));
            if (eq && eq > h) {
                const char *ke = eq;
                while (ke > h && (ke[-1] == ' ' || ke[-1] == '\t'))
                    ke--;
                const char *v = eq + 1, *ve = end;
                while (v < ve && (*v == ' ' || *v == '\t'))
                    v++;
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                    v++;
                    ve--;
                }
                if (kvs_add(&rq->cookies, dupn(h, (size_t)(ke - h)), dupn(v, (size_t)(ve - v))))
                    break;
            }
            h = end;
        }
    }
    for (size_t i = 0; i < rq->cookies.n; i++)
        if (!strcmp(rq->cookies.a[i].k, name))
            return rq->cookies.a[i].v;
    return NULL;
}

const char *sb_request_body(const struct sb_request *rq, size_t *len)
{
    if (len)
        *len = rq->body.len;
    return rq->body.data ? rq->body.data : "";
}

const char *sb_request_peer(const struct sb_request *rq)
{
    return rq->peer;
}

void sb_request_set_ud(struct sb_request *rq, void *ud)
{
    rq->ud = ud;
}

void *sb_request_ud(const struct sb_request *rq)
{
    return rq->ud;
}

void sb_server_respond(struct sb_request *rq, int status, const char *content_type,
                       const char *headers, const void *body, size_t len)
{
    if (!rq)
        return;
    struct sb_conn *c = rq->c;
    if (!c || c->rq != rq || rq->state != RQ_HANDLER) {
        /* the ws_accept request, or a misuse: nothing to answer on */
        return;
    }
    int head = rq->head;
    c->rq = NULL;
    rq_free(rq);
    if (conn_respond(c, status, content_type, headers, body, len, head)) {
        c->close_after = 1;
        conn_respond(c, 500, NULL, NULL, "", 0, 0);
    }
    gone_timer_update(c->s);
}

/* ---- WebSocket connections ----------------------------------------------------------------- */

enum sb_err sb_conn_send(struct sb_conn *c, const char *data, size_t len)
{
    if (!c || !c->ws_accepted || c->closing || c->finished)
        return SB_ERR_INVAL;
    if (len > c->s->ws_queue_max || c->queued + len > c->s->ws_queue_max) {
        /* a client that cannot keep up is dropped; it resyncs when it reconnects */
        for (struct out_msg *m = c->outq, *n; m; m = n) {
            n = m->next;
            free(m);
        }
        c->outq = c->outq_tail = NULL;
        c->queued = 0;
        c->closing = 1;
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        conn_kill_later(c);
        return SB_ERR_TOOBIG;
    }
    struct out_msg *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m)
        return SB_ERR_NOMEM;
    m->next = NULL;
    m->len = len;
    if (len)
        memcpy(m->data + LWS_PRE, data, len);
    if (c->outq_tail)
        c->outq_tail->next = m;
    else
        c->outq = m;
    c->outq_tail = m;
    c->queued += len;
    if (c->ws_open && c->wsi)
        lws_callback_on_writable(c->wsi);
    return SB_OK;
}

void sb_conn_close(struct sb_conn *c, int code)
{
    if (!c || !c->ws_accepted || c->closing || c->finished)
        return;
    c->closing = 1;
    c->close_code = code == 1000 ? 0 : code; /* a normal close flushes the queue first */
    if (c->close_code || !c->outq)
        conn_kill_later(c);
    else if (c->ws_open && c->wsi)
        lws_callback_on_writable(c->wsi);
}
