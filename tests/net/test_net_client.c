/* test_net_client.c — the loop, the HTTP client and the WebSocket client against a real peer
 * (tests/net/peer.js on 127.0.0.1, port given as argv[1]). */
#include <stdlib.h>

#include "net/http.h"
#include "net/ws.h"
#include "t.h"

static struct sb_loop *loop;
static int pending;

struct wsrun {
    struct sb_ws *ws;
    const char *script[4]; /* messages to send once open */
    char got[8][256];
    int ngot;
    int opened, close_code;
    char reason[128];
    int done;
};

static void w_open(void *ud)
{
    struct wsrun *r = ud;
    r->opened = 1;
    for (int i = 0; i < 4 && r->script[i]; i++)
        T_INTEQ(sb_ws_send_text(r->ws, r->script[i], strlen(r->script[i])), SB_OK);
}

static void w_text(void *ud, const char *d, size_t n)
{
    struct wsrun *r = ud;
    if (r->ngot < 8)
        snprintf(r->got[r->ngot++], 256, "%.*s", (int)(n > 200 ? 200 : n), d);
}

static void w_close(void *ud, int code, const char *reason)
{
    struct wsrun *r = ud;
    r->close_code = code;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    r->done = 1;
    pending--;
}

static const struct sb_ws_handlers handlers = {w_open, w_text, w_close};

static void start_ws(struct wsrun *r, int port, int auth, size_t max)
{
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/api/v1/streaming?stream=user", port);
    struct sb_ws_opts o = {.url = url, .max_message = max};
    if (auth) {
        o.headers[0][0] = "Authorization";
        o.headers[0][1] = "Bearer t";
    }
    struct sb_errbuf eb;
    T_INTEQ(sb_ws_connect(loop, &o, &handlers, r, &r->ws, &eb), SB_OK);
    pending++;
}

struct hrun {
    long status;
    enum sb_err err;
    int timed_out;
    char rl[32];
    char body[512];
    int done;
};

static void h_done(void *ud, const struct sb_http_resp *r)
{
    struct hrun *h = ud;
    h->status = r->status;
    h->err = r->err;
    h->timed_out = r->timed_out;
    sb_http_header(r, "x-ratelimit-remaining", h->rl, sizeof h->rl);
    snprintf(h->body, sizeof h->body, "%.*s", (int)(r->body.len > 500 ? 500 : r->body.len),
             r->body.data ? r->body.data : "");
    h->done = 1;
    pending--;
}

static void start_http(struct hrun *h, const char *method, const char *url, const char *body,
                       long timeout)
{
    struct sb_http_req rq = {.method = method, .url = url, .timeout_ms = timeout};
    rq.headers[0] = "Authorization: Bearer t";
    rq.headers[1] = "Content-Type: application/x-www-form-urlencoded";
    if (body) {
        rq.body = body;
        rq.body_len = strlen(body);
    }
    T_INTEQ(sb_http_request(loop, &rq, h_done, h), SB_OK);
    pending++;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_net_client PORT\n");
        return 2;
    }
    int port = atoi(argv[1]);
    struct sb_errbuf eb;
    T_INTEQ(sb_loop_new(&loop, &eb), SB_OK);

    struct wsrun ok = {.script = {"hi", "bye"}}, noauth = {0}, big = {.script = {"big"}},
                 drop = {.script = {"drop"}};
    start_ws(&ok, port, 1, 0);
    start_ws(&noauth, port, 0, 0);
    start_ws(&big, port, 1, 1 << 20);
    start_ws(&drop, port, 1, 0);

    char u1[128], u2[128], u3[128], u4[128];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/api/v1/statuses", port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/slow", port);
    snprintf(u3, sizeof u3, "http://127.0.0.1:%d/big", port);
    snprintf(u4, sizeof u4, "http://127.0.0.1:1/refused");
    struct hrun post = {0}, slow = {0}, bigbody = {0}, refused = {0};
    start_http(&post, "POST", u1, "status=hi%20there", 0);
    start_http(&slow, "GET", u2, NULL, 500);
    start_http(&bigbody, "GET", u3, NULL, 0);
    start_http(&refused, "GET", u4, NULL, 0);

    for (int spins = 0; pending > 0 && spins < 100000; spins++)
        uv_run(sb_loop_uv(loop), UV_RUN_ONCE);
    T_INTEQ(pending, 0);

    /* WebSocket: messages in order, the peer's close code and reason */
    T_CHECK(ok.opened);
    T_INTEQ(ok.ngot, 3);
    T_STREQ(ok.got[0], "{\"hello\":\"world\",\"path\":\"/api/v1/streaming?stream=user\"}");
    T_STREQ(ok.got[1], "echo:hi");
    T_STREQ(ok.got[2], "echo:bye");
    T_INTEQ(ok.close_code, 4000);
    T_STREQ(ok.reason, "bye now");
    /* a refused handshake never opens */
    T_CHECK(!noauth.opened);
    T_INTEQ(noauth.close_code, -1);
    T_CHECK(strstr(noauth.reason, "unauthorized") != NULL);
    /* an oversized message closes with 1009, nothing delivered after the greeting */
    T_INTEQ(big.ngot, 1);
    T_INTEQ(big.close_code, 1009);
    /* an abrupt TCP drop is 1006 */
    T_INTEQ(drop.close_code, 1006);

    /* HTTP */
    T_INTEQ(post.status, 201);
    T_INTEQ(post.err, SB_OK);
    T_STREQ(post.rl, "7");
    T_STREQ(post.body,
            "{\"method\":\"POST\",\"url\":\"/api/v1/statuses\",\"body\":\"status=hi%20there\","
            "\"auth\":\"Bearer t\"}");
    T_INTEQ(slow.err, SB_ERR_IO);
    T_CHECK(slow.timed_out);
    T_INTEQ(bigbody.err, SB_ERR_TOOBIG);
    T_INTEQ(refused.err, SB_ERR_IO);
    T_INTEQ(refused.status, 0);

    struct sb_buf esc;
    sb_buf_init(&esc, 0);
    sb_http_form_escape(&esc, "@ana thanks! ünï");
    T_STREQ(esc.data, "%40ana%20thanks%21%20%C3%BCn%C3%AF");
    sb_buf_free(&esc);

    sb_loop_free(loop);
    T_DONE();
}
