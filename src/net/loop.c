/* loop.c — the libuv loop with libwebsockets attached as a foreign loop and the curl engine
 * (net/http.c). Depends on libuv, libwebsockets (with its libuv event-lib plugin), curl. */
#include "net/loop.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/internal.h"

struct sb_loop {
    uv_loop_t uv;
    struct lws_context *lws;
    struct sb_http_engine *http;
    int stopping;
};

/* The single client protocol every connection uses; net/ws.c implements the callback. */
static const struct lws_protocols protocols[] = {
    {"sb-ws-client", sb_ws_lws_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

enum sb_err sb_loop_new(struct sb_loop **out, struct sb_errbuf *eb)
{
    *out = NULL;
    struct sb_loop *l = calloc(1, sizeof *l);
    if (!l)
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    if (uv_loop_init(&l->uv) != 0) {
        free(l);
        return sb_errf(eb, SB_ERR_IO, "uv_loop_init failed");
    }
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign[1] = {&l->uv};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.foreign_loops = foreign;
    info.user = l;
    info.pcontext = &l->lws; /* lws clears it when the context is finally gone */
    l->lws = lws_create_context(&info);
    if (!l->lws) {
        uv_loop_close(&l->uv);
        free(l);
        return sb_errf(eb, SB_ERR_IO, "libwebsockets: cannot create a context on the libuv loop");
    }
    enum sb_err e = sb_http_engine_new(l, &l->http, eb);
    if (e) {
        lws_context_destroy(l->lws);
        uv_run(&l->uv, UV_RUN_DEFAULT);
        uv_loop_close(&l->uv);
        free(l);
        return e;
    }
    *out = l;
    return SB_OK;
}

void sb_loop_run(struct sb_loop *l)
{
    uv_run(&l->uv, UV_RUN_DEFAULT);
}

void sb_loop_stop(struct sb_loop *l)
{
    /* lws and curl keep handles open until sb_loop_free tears them down: leave the loop now */
    l->stopping = 1;
    uv_stop(&l->uv);
}

void sb_loop_free(struct sb_loop *l)
{
    if (!l)
        return;
    sb_http_engine_free(l->http);
    /* lws closes its handles on our loop asynchronously: let them finish closing, and give
     * lws the second destroy call that completes its teardown if it is still waiting. */
    for (int i = 0; i < 3 && l->lws; i++) {
        lws_context_destroy(l->lws);
        uv_run(&l->uv, UV_RUN_DEFAULT);
    }
    uv_loop_close(&l->uv);
    free(l);
}

uv_loop_t *sb_loop_uv(struct sb_loop *l)
{
    return &l->uv;
}

struct lws_context *sb_loop_lws(struct sb_loop *l)
{
    return l->lws;
}

struct sb_http_engine *sb_loop_http(struct sb_loop *l)
{
    return l->http;
}

int64_t sb_loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sb_loop_mono_ms(struct sb_loop *l)
{
    return (int64_t)uv_now(&l->uv);
}
