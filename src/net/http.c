/* http.c — curl's multi-socket interface driven by libuv: curl tells us which sockets to
 * watch and when its timeout fires; we tell curl when a socket is ready. Each request is one
 * easy handle with bounded header and body buffers. Depends on libcurl, libuv. */
#include "net/http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/internal.h"

#define HEADER_MAX (64u << 10)

struct call;

struct sb_http_engine {
    struct sb_loop *loop;
    CURLM *multi;
    uv_timer_t timer;
    int in_flight;
    struct call *calls; /* in flight, for shutdown */
};

struct sock_ctx { /* one per socket curl asks us to watch */
    uv_poll_t poll;
    curl_socket_t fd;
    struct sb_http_engine *h;
};

struct call {
    struct call *next, *prev;
    struct sb_http_engine *h;
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    sb_http_done_fn cb;
    void *ud;
    struct sb_http_resp resp;
    char errbuf[CURL_ERROR_SIZE];
};

static void call_unlink(struct call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->h->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void call_free(struct call *c)
{
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->hdrs);
    free(c->body);
    sb_buf_free(&c->resp.headers);
    sb_buf_free(&c->resp.body);
    free(c);
}

static void check_done(struct sb_http_engine *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct call *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode rc = m->data.result;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->resp.status);
        double t = 0;
        curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &t);
        c->resp.total_ms = t * 1000.0;
        if (rc != CURLE_OK) {
            c->resp.transport = rc == CURLE_WRITE_ERROR ? SB_HTTP_T_NONE
                                : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                                        rc == CURLE_COULDNT_RESOLVE_PROXY ||
                                        rc == CURLE_SSL_CONNECT_ERROR
                                    ? SB_HTTP_T_CONNECT
                                : rc == CURLE_OPERATION_TIMEDOUT ? SB_HTTP_T_TIMEOUT
                                                                 : SB_HTTP_T_LOST;
            c->resp.err = rc == CURLE_WRITE_ERROR ? SB_ERR_TOOBIG : SB_ERR_IO;
            c->resp.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
            c->resp.error = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
            if (rc != CURLE_WRITE_ERROR)
                c->resp.status = c->resp.status > 0 && rc == CURLE_OK ? c->resp.status : 0;
        }
        curl_multi_remove_handle(h->multi, c->easy);
        h->in_flight--;
        call_unlink(c);
        c->cb(c->ud, &c->resp);
        call_free(c);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *s = p->data;
    struct sb_http_engine *h = s->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static void on_timer(uv_timer_t *t)
{
    struct sb_http_engine *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct sb_http_engine *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void free_sock(uv_handle_t *hd)
{
    free(hd->data);
}

static int socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct sb_http_engine *h = userp;
    struct sock_ctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            curl_multi_assign(h->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, free_sock);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(sb_loop_uv(h->loop), &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

enum sb_err sb_http_engine_new(struct sb_loop *l, struct sb_http_engine **out, struct sb_errbuf *eb)
{
    static int global;
    if (!global) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            return sb_errf(eb, SB_ERR_IO, "curl_global_init failed");
        global = 1;
    }
    struct sb_http_engine *h = calloc(1, sizeof *h);
    if (!h)
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    h->loop = l;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        return sb_errf(eb, SB_ERR_IO, "curl_multi_init failed");
    }
    uv_timer_init(sb_loop_uv(l), &h->timer);
    h->timer.data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    *out = h;
    return SB_OK;
}

static void free_engine(uv_handle_t *hd)
{
    free(hd->data);
}

void sb_http_engine_free(struct sb_http_engine *h)
{
    if (!h)
        return;
    /* Requests still in flight are abandoned: their callbacks report a transport error, so
     * an owner (the outbox) keeps them for the next start. */
    while (h->calls) {
        struct call *c = h->calls;
        curl_multi_remove_handle(h->multi, c->easy);
        h->in_flight--;
        call_unlink(c);
        c->resp.status = 0;
        c->resp.transport = SB_HTTP_T_LOST;
        c->resp.err = SB_ERR_IO;
        c->resp.error = "shutting down";
        c->cb(c->ud, &c->resp);
        call_free(c);
    }
    curl_multi_cleanup(h->multi);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, free_engine);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    size_t len = size * n;
    return sb_buf_append(&c->resp.body, ptr, len) == SB_OK ? len : 0;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    size_t len = size * n;
    /* A new status line starts the final response's headers again (after 100/3xx). */
    if (len > 5 && strncmp(ptr, "HTTP/", 5) == 0)
        sb_buf_reset(&c->resp.headers);
    return sb_buf_append(&c->resp.headers, ptr, len) == SB_OK ? len : 0;
}

enum sb_err sb_http_request(struct sb_loop *l, const struct sb_http_req *req, sb_http_done_fn cb,
                            void *ud)
{
    struct sb_http_engine *h = sb_loop_http(l);
    if (!req->url || !req->method || !cb)
        return SB_ERR_INVAL;
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return SB_ERR_NOMEM;
    c->h = h;
    c->cb = cb;
    c->ud = ud;
    sb_buf_init(&c->resp.headers, HEADER_MAX);
    sb_buf_init(&c->resp.body, SB_HTTP_BODY_MAX);
    c->easy = curl_easy_init();
    if (!c->easy)
        goto nomem;
    for (int i = 0; i < SB_HTTP_HEADERS_MAX && req->headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(c->hdrs, req->headers[i]);
        if (!n)
            goto nomem;
        c->hdrs = n;
    }
    /* no "Expect: 100-continue" round trip on POST bodies */
    struct curl_slist *n = curl_slist_append(c->hdrs, "Expect:");
    if (!n)
        goto nomem;
    c->hdrs = n;
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "switchboard/0.1");
    if (req->body) {
        c->body = malloc(req->body_len + 1);
        if (!c->body)
            goto nomem;
        memcpy(c->body, req->body, req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
        goto nomem;
    h->in_flight++;
    c->next = h->calls;
    if (h->calls)
        h->calls->prev = c;
    h->calls = c;
    return SB_OK;
nomem:
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->hdrs);
    free(c->body);
    sb_buf_free(&c->resp.headers);
    sb_buf_free(&c->resp.body);
    free(c);
    return SB_ERR_NOMEM;
}

int sb_http_in_flight(struct sb_loop *l)
{
    return sb_loop_http(l)->in_flight;
}

int sb_http_header(const struct sb_http_resp *r, const char *name, char *out, size_t cap)
{
    const char *p = r->headers.data, *end = p ? p + r->headers.len : NULL;
    size_t nl = strlen(name);
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if ((size_t)(le - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = le;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            size_t len = (size_t)(ve - v);
            if (cap) {
                if (len >= cap)
                    len = cap - 1;
                memcpy(out, v, len);
                out[len] = 0;
            }
            return 1;
        }
        p = eol ? eol + 1 : end;
    }
    return 0;
}

void sb_http_headers_each(const struct sb_http_resp *r,
                          void (*fn)(void *ud, const char *name, const char *value), void *ud)
{
    const char *p = r->headers.data, *end = p ? p + r->headers.len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && colon > p) {
            char name[128], value[1024];
            size_t nl =
                (size_t)(colon - p) < sizeof name - 1 ? (size_t)(colon - p) : sizeof name - 1;
            memcpy(name, p, nl);
            name[nl] = 0;
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            size_t vl = (size_t)(ve - v) < sizeof value - 1 ? (size_t)(ve - v) : sizeof value - 1;
            memcpy(value, v, vl);
            value[vl] = 0;
            fn(ud, name, value);
        }
        p = eol ? eol + 1 : end;
    }
}

enum sb_err sb_http_form_escape(struct sb_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    enum sb_err e = SB_OK;
    for (const unsigned char *p = (const unsigned char *)s; *p && !e; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            e = sb_buf_putc(out, (char)c);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            e = sb_buf_append(out, enc, 3);
        }
    }
    return e;
}
