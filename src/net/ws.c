/* ws.c — libwebsockets client connections: connect with extra headers, join fragments into
 * bounded messages, queue writes for the writeable callback, report exactly one close.
 * Depends on libwebsockets (on the libuv loop, see loop.c). */
#include "net/ws.h"

#include <stdlib.h>
#include <string.h>

#include "net/internal.h"
#include "util/buf.h"

struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the message */
};

struct sb_ws {
    struct lws *wsi;
    struct sb_ws_handlers h;
    void *ud;
    struct sb_buf msg; /* fragments of the message being received */
    int oversized;     /* the current message went over the limit */
    struct out_msg *outq, *outq_tail;
    int opened, closing, closed;
    int in_connect; /* inside lws_client_connect_via_info: failures are returned, not called */
    int close_code;
    char close_reason[128];
    char *headers[8][2];
    lws_retry_bo_t retry; /* only its ping/hangup fields: reconnecting is the owner's */
    char *url_copy;
};

static void ws_free(struct sb_ws *ws)
{
    for (struct out_msg *m = ws->outq, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    for (int i = 0; i < 8; i++) {
        free(ws->headers[i][0]);
        free(ws->headers[i][1]);
    }
    sb_buf_free(&ws->msg);
    free(ws->url_copy);
    free(ws);
}

/* Report the close once, detach from the wsi, free. */
static void finish(struct sb_ws *ws, struct lws *wsi, int code, const char *reason)
{
    if (ws->closed)
        return;
    ws->closed = 1;
    if (wsi)
        lws_set_wsi_user(wsi, NULL);
    ws->wsi = NULL;
    if (ws->in_connect)
        return; /* sb_ws_connect reports it and frees */
    if (ws->h.on_close)
        ws->h.on_close(ws->ud, code, reason ? reason : "");
    ws_free(ws);
}

int sb_ws_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct sb_ws *ws = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!ws)
            break;
        unsigned char **p = (unsigned char **)in, *end = (*p) + len;
        for (int i = 0; i < 8 && ws->headers[i][0]; i++) {
            char name[128];
            snprintf(name, sizeof name, "%s:", ws->headers[i][0]);
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                            (const unsigned char *)ws->headers[i][1],
                                            (int)strlen(ws->headers[i][1]), p, end))
                return -1;
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!ws)
            break;
        ws->opened = 1;
        if (ws->h.on_open)
            ws->h.on_open(ws->ud);
        if (ws->outq && ws->wsi)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!ws)
            break;
        if (ws->closing)
            break; /* closing: nothing more is delivered */
        if (lws_is_first_fragment(wsi)) {
            sb_buf_reset(&ws->msg);
            ws->oversized = 0;
        }
        if (!ws->oversized && sb_buf_append(&ws->msg, in, len) != SB_OK)
            ws->oversized = 1;
        if (!lws_is_final_fragment(wsi))
            break;
        if (ws->oversized) {
            /* The owner reconnects (and catches up). Closing from inside the receive callback
             * corrupts lws 4.1.6's rx buffer, so the close happens from the writeable one. */
            snprintf(ws->close_reason, sizeof ws->close_reason, "message over %zu bytes",
                     ws->msg.max);
            ws->close_code = 1009;
            ws->closing = 1;
            lws_callback_on_writable(wsi);
            break;
        }
        if (lws_frame_is_binary(wsi))
            break; /* text-only protocols: binary frames are not ours */
        if (ws->h.on_text)
            ws->h.on_text(ws->ud, ws->msg.data ? ws->msg.data : "", ws->msg.len);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (!ws)
            break;
        if (ws->closing && (!ws->outq || ws->close_code)) {
            if (ws->close_code == 1009)
                lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                                 (unsigned char *)"too large", 9);
            else
                lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        if (!ws->outq)
            break;
        struct out_msg *m = ws->outq;
        ws->outq = m->next;
        if (!ws->outq)
            ws->outq_tail = NULL;
        int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
        if (ws->outq || ws->closing)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (ws && len >= 2) {
            const unsigned char *b = in;
            ws->close_code = (b[0] << 8) | b[1];
            size_t rl =
                len - 2 < sizeof ws->close_reason - 1 ? len - 2 : sizeof ws->close_reason - 1;
            memcpy(ws->close_reason, b + 2, rl);
            ws->close_reason[rl] = 0;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (ws)
            finish(ws, wsi, -1, in ? (const char *)in : "connection failed");
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (ws)
            finish(ws, wsi,
                   ws->close_code ? ws->close_code
                   : ws->closing  ? 1000
                                  : 1006,
                   ws->close_reason);
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (ws && !ws->closed)
            finish(ws, wsi, ws->opened ? 1006 : -1,
                   ws->close_reason[0] ? ws->close_reason : "connection lost");
        break;
    default:
        break;
    }
    return 0;
}

enum sb_err sb_ws_connect(struct sb_loop *l, const struct sb_ws_opts *o,
                          const struct sb_ws_handlers *h, void *ud, struct sb_ws **out,
                          struct sb_errbuf *eb)
{
    *out = NULL;
    struct sb_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    ws->h = *h;
    ws->ud = ud;
    sb_buf_init(&ws->msg, o->max_message ? o->max_message : (1u << 20));
    for (int i = 0; i < 8 && o->headers[i][0]; i++) {
        ws->headers[i][0] = strdup(o->headers[i][0]);
        ws->headers[i][1] = strdup(o->headers[i][1] ? o->headers[i][1] : "");
    }
    ws->url_copy = strdup(o->url);
    if (!ws->url_copy) {
        ws_free(ws);
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    }
    const char *prot = NULL, *address = NULL, *path = NULL;
    int port = 0;
    char *parse = strdup(o->url);
    if (!parse || lws_parse_uri(parse, &prot, &address, &port, &path)) {
        free(parse);
        ws_free(ws);
        return sb_errf(eb, SB_ERR_INVAL, "bad WebSocket URL '%s'", o->url);
    }
    int tls = strcmp(prot, "wss") == 0 || strcmp(prot, "https") == 0;
    if (!tls && strcmp(prot, "ws") != 0 && strcmp(prot, "http") != 0) {
        free(parse);
        ws_free(ws);
        return sb_errf(eb, SB_ERR_INVAL, "bad WebSocket URL scheme '%s'", prot);
    }
    char fullpath[2048];
    snprintf(fullpath, sizeof fullpath, "/%s", path);
    ws->retry.secs_since_valid_ping = (uint16_t)(o->ping_secs ? o->ping_secs : 30);
    ws->retry.secs_since_valid_hangup = (uint16_t)(o->hangup_secs ? o->hangup_secs : 90);
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = sb_loop_lws(l);
    i.address = address;
    i.port = port;
    i.path = fullpath;
    i.host = address;
    i.origin = address;
    i.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
    i.local_protocol_name = "sb-ws-client";
    i.userdata = ws;
    i.pwsi = &ws->wsi;
    i.retry_and_idle_policy = &ws->retry;
    ws->in_connect = 1;
    struct lws *wsi = lws_client_connect_via_info(&i);
    ws->in_connect = 0;
    free(parse);
    if (!wsi || ws->closed) {
        if (wsi)
            lws_set_wsi_user(wsi, NULL);
        ws_free(ws);
        return sb_errf(eb, SB_ERR_IO, "cannot start a WebSocket connection to %s", o->url);
    }
    *out = ws;
    return SB_OK;
}

enum sb_err sb_ws_send_text(struct sb_ws *ws, const char *data, size_t len)
{
    if (!ws || ws->closed || ws->closing || !ws->wsi)
        return SB_ERR_INVAL;
    struct out_msg *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m)
        return SB_ERR_NOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, data, len);
    if (ws->outq_tail)
        ws->outq_tail->next = m;
    else
        ws->outq = m;
    ws->outq_tail = m;
    if (ws->opened)
        lws_callback_on_writable(ws->wsi);
    return SB_OK;
}

void sb_ws_close(struct sb_ws *ws)
{
    if (!ws || ws->closed || ws->closing)
        return;
    ws->closing = 1;
    if (ws->wsi)
        lws_callback_on_writable(ws->wsi);
}
