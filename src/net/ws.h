/* ws.h — a WebSocket client connection on the loop (libwebsockets). One struct sb_ws is one
 * connection attempt: it opens, delivers complete text messages (bounded), and closes once;
 * reconnecting is the owner's policy (net/backoff.h). Writes are queued and written from the
 * writeable callback, as libwebsockets requires. */
#ifndef SB_WS_H
#define SB_WS_H

#include <stddef.h>

#include "net/loop.h"
#include "util/err.h"

struct sb_ws;

struct sb_ws_handlers {
    void (*on_open)(void *ud);
    /* A complete text message (fragments joined). data is borrowed for the call. */
    void (*on_text)(void *ud, const char *data, size_t len);
    /* Called exactly once, after open or after a failed attempt: code is the peer's close code,
     * 1006 for an abrupt loss, -1 when the connection never opened; reason is borrowed. The
     * struct sb_ws is gone when this returns. */
    void (*on_close)(void *ud, int code, const char *reason);
};

struct sb_ws_opts {
    const char *url;           /* ws:// or wss:// */
    const char *headers[8][2]; /* extra handshake headers, {name, value}, NULL-terminated */
    size_t max_message;        /* bytes; 0 = 1 MiB. A bigger message closes with 1009 */
    int ping_secs;             /* send a ping after this idle time (0 = 30) */
    int hangup_secs;           /* give up after this silence (0 = 90) */
};

/* Start connecting; *out is new, owned by the loop until on_close. */
enum sb_err sb_ws_connect(struct sb_loop *l, const struct sb_ws_opts *o,
                          const struct sb_ws_handlers *h, void *ud, struct sb_ws **out,
                          struct sb_errbuf *eb);
/* Queue a text message (copied). SB_ERR_INVAL when not open. */
enum sb_err sb_ws_send_text(struct sb_ws *ws, const char *data, size_t len);
/* Close with a normal close; on_close follows. Safe to call once; the handle stays valid
 * until on_close. */
void sb_ws_close(struct sb_ws *ws);

#endif
