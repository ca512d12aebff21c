/* test_net_server.c — the HTTP + WebSocket server (net/server.h) against real clients: the
 * in-process WebSocket client (net/ws.h) on the same lws context, then a Node driver
 * (tests/net/server_driver.js, path in argv[1]) that runs HTTP, WebSocket and garbage scenarios
 * and ends by asking for sb_server_free with clients still connected. The C side keeps counters
 * the driver reads back through GET /stats and checks them itself at the end. */
#include <signal.h>
#include <stdlib.h>

#include "net/server.h"
#include "net/ws.h"
#include "t.h"
#include "util/buf.h"

static struct sb_loop *loop;
static struct sb_server *srv, *srv2;
static int port, port2;

/* ---- counters the driver and the checks at the end look at --------------------------------- */

struct wsc {
    struct sb_conn *c;
    struct wsc *next;
    int server; /* 1 or 2 */
    int closed; /* ws_closed calls for this connection */
    int pushes_pending;
};

static struct wsc *wscs;
static int n_requests, n_gone, n_accepted, n_closed, n_double_close, n_toobig, n_refused;
static int n_open;          /* accepted and not closed */
static int held;            /* /hold requests still unanswered */
static int freed_with_open; /* WebSockets open when sb_server_free ran */
static int gone_during_free, closed_during_free;
static int driver_exit = -1, driver_done;

/* ---- deferred answers ---------------------------------------------------------------------- */

struct deferred {
    uv_timer_t t;
    struct sb_request *rq; /* NULL once the client went away */
    int ms;
};

static void deferred_closed(uv_handle_t *h)
{
    free(h->data);
}

static void deferred_fire(uv_timer_t *t)
{
    struct deferred *d = t->data;
    if (d->rq) {
        /* request data, custom headers included, is still readable at answer time */
        char body[64], hdrs[256];
        const char *xt = sb_request_header(d->rq, "X-Test");
        int n = snprintf(body, sizeof body, "deferred:%d", d->ms);
        snprintf(hdrs, sizeof hdrs, "X-Deferred: yes\r\nX-Echo-Test: %s\r\nX-Echo-Ms: %s\r\n",
                 xt ? xt : "-", sb_request_arg(d->rq, "ms"));
        sb_server_respond(d->rq, 200, "text/plain", hdrs, body, (size_t)n);
    }
    uv_close((uv_handle_t *)t, deferred_closed);
}

static void on_request_gone(void *ud, struct sb_request *rq)
{
    n_gone++;
    if (!srv)
        gone_during_free++;
    struct deferred *d = sb_request_ud(rq);
    if (d)
        d->rq = NULL; /* the timer still fires and finds nothing to answer */
    else
        held--;
}

/* ---- server pushes and shutdown ------------------------------------------------------------ */

struct push {
    uv_timer_t t;
    struct wsc *w;
};

static void push_closed(uv_handle_t *h)
{
    free(h->data);
}

static void push_fire(uv_timer_t *t)
{
    struct push *p = t->data;
    if (!p->w->closed)
        sb_conn_send(p->w->c, "pushed", 6);
    p->w->pushes_pending--;
    uv_close((uv_handle_t *)t, push_closed);
}

static uv_timer_t free_timer;

static void free_fire(uv_timer_t *t)
{
    int before = n_closed;
    freed_with_open = n_open;
    struct sb_server *s = srv;
    srv = NULL; /* on_request_gone / ws_closed during the free see this */
    sb_server_free(s);
    closed_during_free = n_closed - before;
    uv_close((uv_handle_t *)t, NULL);
}

/* ---- handlers ------------------------------------------------------------------------------ */

static void put_field(struct sb_buf *b, const char *k, const char *v, int first)
{
    if (!first)
        sb_buf_putc(b, ',');
    sb_buf_json_str(b, k, strlen(k));
    sb_buf_putc(b, ':');
    if (v)
        sb_buf_json_str(b, v, strlen(v));
    else
        sb_buf_puts(b, "null");
}

static void respond_echo(struct sb_request *rq)
{
    struct sb_buf b;
    sb_buf_init(&b, 0);
    size_t blen = 0;
    const char *body = sb_request_body(rq, &blen);
    sb_buf_putc(&b, '{');
    put_field(&b, "method", sb_request_method(rq), 1);
    put_field(&b, "path", sb_request_path(rq), 0);
    put_field(&b, "query", sb_request_query(rq), 0);
    put_field(&b, "a", sb_request_arg(rq, "a"), 0);
    put_field(&b, "b", sb_request_arg(rq, "b"), 0);
    put_field(&b, "c", sb_request_arg(rq, "c"), 0);
    put_field(&b, "xtest", sb_request_header(rq, "X-Test"), 0);
    put_field(&b, "xtest_again", sb_request_header(rq, "x-test"), 0);
    put_field(&b, "missing", sb_request_header(rq, "X-Not-There"), 0);
    put_field(&b, "ua", sb_request_header(rq, "User-Agent"), 0);
    put_field(&b, "ctype", sb_request_header(rq, "content-type"), 0);
    put_field(&b, "sid", sb_request_cookie(rq, "sid"), 0);
    put_field(&b, "other", sb_request_cookie(rq, "other"), 0);
    put_field(&b, "peer", sb_request_peer(rq), 0);
    sb_buf_puts(&b, ",\"body\":");
    sb_buf_json_str(&b, body, blen);
    sb_buf_printf(&b, ",\"bodylen\":%zu}", blen);
    sb_server_respond(rq, 200, "application/json", "X-Handler: echo\r\n", b.data, b.len);
    sb_buf_free(&b);
}

static void respond_stats(struct sb_request *rq)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"requests\":%d,\"gone\":%d,\"accepted\":%d,\"closed\":%d,\"open\":%d,"
                     "\"double_close\":%d,\"toobig\":%d,\"refused\":%d,\"held\":%d}",
                     n_requests, n_gone, n_accepted, n_closed, n_open, n_double_close, n_toobig,
                     n_refused, held);
    sb_server_respond(rq, 200, "application/json", NULL, body, (size_t)n);
}

static void on_request(void *ud, struct sb_request *rq)
{
    n_requests++;
    const char *p = sb_request_path(rq);
    if (!strcmp(p, "/echo")) {
        respond_echo(rq);
    } else if (!strcmp(p, "/defer")) {
        struct deferred *d = calloc(1, sizeof *d);
        const char *ms = sb_request_arg(rq, "ms");
        d->ms = ms ? atoi(ms) : 100;
        d->rq = rq;
        d->t.data = d;
        sb_request_set_ud(rq, d);
        uv_timer_init(sb_loop_uv(loop), &d->t);
        uv_timer_start(&d->t, deferred_fire, (uint64_t)d->ms, 0);
    } else if (!strcmp(p, "/hold")) {
        held++; /* never answered: the client leaves, or the server is freed */
    } else if (!strcmp(p, "/big")) {
        struct sb_buf b;
        sb_buf_init(&b, 0);
        sb_buf_putc(&b, '[');
        for (int i = 0; b.len < (2u << 20); i++)
            sb_buf_printf(&b, "%s{\"i\":%d,\"pad\":\"%08d\"}", i ? "," : "", i, i);
        sb_buf_putc(&b, ']');
        sb_server_respond(rq, 200, "application/json", NULL, b.data, b.len);
        sb_buf_free(&b);
    } else if (!strcmp(p, "/stats")) {
        respond_stats(rq);
    } else if (!strcmp(p, "/broadcast")) {
        int sent = 0;
        char msg[64];
        const char *tag = sb_request_arg(rq, "tag");
        int n = snprintf(msg, sizeof msg, "bcast:%s", tag ? tag : "");
        for (struct wsc *w = wscs; w; w = w->next)
            if (!w->closed && w->server == 1 && sb_conn_send(w->c, msg, (size_t)n) == SB_OK)
                sent++;
        char body[32];
        int bl = snprintf(body, sizeof body, "%d", sent);
        sb_server_respond(rq, 200, "text/plain", NULL, body, (size_t)bl);
    } else if (!strcmp(p, "/shutdown")) {
        sb_server_respond(rq, 200, "text/plain", NULL, "bye", 3);
        uv_timer_init(sb_loop_uv(loop), &free_timer);
        uv_timer_start(&free_timer, free_fire, 100, 0);
    } else {
        sb_server_respond(rq, 404, "text/plain", NULL, "not found\n", 10);
    }
}

static void *ws_accept(void *ud, struct sb_request *rq, struct sb_conn *c)
{
    if (sb_request_header(rq, "X-Deny") || sb_request_cookie(rq, "deny")) {
        n_refused++;
        return NULL;
    }
    struct wsc *w = calloc(1, sizeof *w);
    w->c = c;
    w->server = ud == &srv2 ? 2 : 1;
    w->next = wscs;
    wscs = w;
    n_accepted++;
    n_open++;
    /* a message queued before the handshake completes goes out first */
    char hello[128];
    const char *sid = sb_request_cookie(rq, "sid");
    int n =
        snprintf(hello, sizeof hello, "hello sid=%s path=%s", sid ? sid : "-", sb_request_path(rq));
    T_INTEQ(sb_conn_send(c, hello, (size_t)n), SB_OK);
    return w;
}

static void ws_text(void *ud, void *conn_ud, struct sb_conn *c, const char *data, size_t len)
{
    struct wsc *w = conn_ud;
    if (len == 4 && !memcmp(data, "push", 4)) {
        struct push *p = calloc(1, sizeof *p);
        p->w = w;
        p->t.data = p;
        w->pushes_pending++;
        uv_timer_init(sb_loop_uv(loop), &p->t);
        uv_timer_start(&p->t, push_fire, 30, 0);
    } else if (len == 5 && !memcmp(data, "close", 5)) {
        sb_conn_close(c, 1000);
    } else if (len == 5 && !memcmp(data, "flood", 5)) {
        static char chunk[8192];
        memset(chunk, 'f', sizeof chunk);
        enum sb_err e = SB_OK;
        for (int i = 0; i < 1000 && e == SB_OK; i++)
            e = sb_conn_send(c, chunk, sizeof chunk);
        if (e == SB_ERR_TOOBIG)
            n_toobig++;
        T_INTEQ(e, SB_ERR_TOOBIG);
        T_INTEQ(sb_conn_send(c, "x", 1), SB_ERR_INVAL); /* closing: refused */
    } else {
        struct sb_buf b;
        sb_buf_init(&b, 0);
        sb_buf_puts(&b, "echo:");
        sb_buf_append(&b, data, len);
        sb_conn_send(c, b.data, b.len);
        sb_buf_free(&b);
    }
}

static void ws_closed(void *ud, void *conn_ud, struct sb_conn *c)
{
    struct wsc *w = conn_ud;
    if (w->closed++)
        n_double_close++;
    n_closed++;
    n_open--;
    /* the connection is going: sending or closing now is refused, never a crash */
    T_INTEQ(sb_conn_send(c, "late", 4), SB_ERR_INVAL);
    sb_conn_close(c, 1000);
}

static const struct sb_server_handlers handlers = {on_request, on_request_gone, ws_accept, ws_text,
                                                   ws_closed};

/* ---- the in-process client (net/ws.c) against the server, same lws context ---------------- */

struct cli {
    struct sb_ws *ws;
    char got[4][128];
    int ngot, opened, close_code, done;
};

static void c_open(void *ud)
{
    struct cli *r = ud;
    r->opened = 1;
    T_INTEQ(sb_ws_send_text(r->ws, "from-c", 6), SB_OK);
}

static void c_text(void *ud, const char *d, size_t n)
{
    struct cli *r = ud;
    if (r->ngot < 4)
        snprintf(r->got[r->ngot++], 128, "%.*s", (int)n, d);
    if (r->ngot == 2)
        sb_ws_close(r->ws);
}

static void c_close(void *ud, int code, const char *reason)
{
    struct cli *r = ud;
    r->close_code = code;
    r->done = 1;
}

static void test_in_process_client(void)
{
    static const struct sb_ws_handlers ch = {c_open, c_text, c_close};
    struct cli r = {0};
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", port);
    struct sb_ws_opts o = {.url = url};
    o.headers[0][0] = "Cookie";
    o.headers[0][1] = "sid=inproc";
    struct sb_errbuf eb;
    T_INTEQ(sb_ws_connect(loop, &o, &ch, &r, &r.ws, &eb), SB_OK);
    for (int i = 0; i < 100000 && !r.done; i++)
        uv_run(sb_loop_uv(loop), UV_RUN_ONCE);
    T_CHECK(r.opened);
    T_INTEQ(r.ngot, 2);
    T_STREQ(r.got[0], "hello sid=inproc path=/ws");
    T_STREQ(r.got[1], "echo:from-c");
    T_INTEQ(r.close_code, 1000);
    /* the server side reported the close exactly once */
    for (int i = 0; i < 1000 && n_closed < 1; i++)
        uv_run(sb_loop_uv(loop), UV_RUN_NOWAIT);
    T_INTEQ(n_accepted, 1);
    T_INTEQ(n_closed, 1);
}

/* ---- the Node driver ----------------------------------------------------------------------- */

static void driver_exited(uv_process_t *p, int64_t status, int sig)
{
    driver_exit = sig ? 128 + sig : (int)status;
    driver_done = 1;
    uv_close((uv_handle_t *)p, NULL);
}

static void test_bad_listen(void)
{
    struct sb_server *s = NULL;
    struct sb_errbuf eb = {{0}};
    char spec[64];
    snprintf(spec, sizeof spec, "127.0.0.1:%d", port); /* taken by srv */
    struct sb_server_opts o = {.listen = spec};
    T_INTEQ(sb_server_new(loop, &o, &handlers, NULL, &s, &eb), SB_ERR_IO);
    T_CHECK(s == NULL);
    T_CHECK(strstr(eb.msg, "in use") != NULL);
    o.listen = "no-port";
    T_INTEQ(sb_server_new(loop, &o, &handlers, NULL, &s, &eb), SB_ERR_INVAL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_net_server DRIVER.js\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sb_errbuf eb;
    T_INTEQ(sb_loop_new(&loop, &eb), SB_OK);

    struct sb_server_opts o = {
        .listen = "127.0.0.1:0",
        .ws_path = "/ws",
        .ws_message_max = 32 * 1024,
        .ws_queue_max = 256 * 1024,
        .extra_headers = "Content-Security-Policy: default-src 'self'\r\nX-Frame-Options: DENY",
        .header_timeout_secs = 2,
    };
    T_INTEQ(sb_server_new(loop, &o, &handlers, &srv, &srv, &eb), SB_OK);
    port = sb_server_port(srv);
    T_CHECK(port > 0);
    /* a second server on the same context: explicit Origin, every interface */
    struct sb_server_opts o2 = {
        .listen = ":0", .ws_path = "/live", .origin = "http://console.test"};
    T_INTEQ(sb_server_new(loop, &o2, &handlers, &srv2, &srv2, &eb), SB_OK);
    port2 = sb_server_port(srv2);
    T_CHECK(port2 > 0 && port2 != port);

    test_bad_listen();
    test_in_process_client();

    char p1[16], p2[16];
    snprintf(p1, sizeof p1, "%d", port);
    snprintf(p2, sizeof p2, "%d", port2);
    char *args[] = {"node", argv[1], p1, p2, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_INHERIT_FD, .data.fd = 0},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t po = {
        .file = "node", .args = args, .exit_cb = driver_exited, .stdio_count = 3, .stdio = stdio};
    uv_process_t proc;
    int r = uv_spawn(sb_loop_uv(loop), &proc, &po);
    T_INTEQ(r, 0);
    if (r == 0)
        while (!driver_done)
            uv_run(sb_loop_uv(loop), UV_RUN_ONCE);
    T_INTEQ(driver_exit, 0);

    /* sb_server_free ran (the driver's last request) with clients connected */
    T_CHECK(srv == NULL);
    T_CHECK(freed_with_open >= 3);
    T_INTEQ(closed_during_free, freed_with_open);
    T_CHECK(gone_during_free >= 1);
    T_INTEQ(held, 0);
    T_INTEQ(n_double_close, 0);
    T_CHECK(n_toobig >= 1);
    T_CHECK(n_refused >= 1);
    /* every accepted connection of both servers was reported closed exactly once */
    sb_server_free(srv2);
    srv2 = NULL;
    T_INTEQ(n_closed, n_accepted);
    T_INTEQ(n_open, 0);
    for (struct wsc *w = wscs, *n; w; w = n) {
        n = w->next;
        T_INTEQ(w->closed, 1);
        T_INTEQ(w->pushes_pending, 0);
        free(w);
    }
    /* let timers and lws finish their closes, then tear down (sb_loop_free runs the loop
     * until every handle is closed: nothing of the servers may be left) */
    for (int i = 0; i < 50; i++)
        uv_run(sb_loop_uv(loop), UV_RUN_NOWAIT);
    sb_loop_free(loop);
    T_DONE();
}
