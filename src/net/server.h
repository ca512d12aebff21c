/* server.h — an HTTP/1.1 + WebSocket server on the loop (libwebsockets vhost on the loop's
 * context). It knows nothing of the console: it parses requests (method, path, query, headers,
 * a bounded body), hands each complete request to one handler, writes the handler's response,
 * and upgrades GET requests on one path to WebSocket after an Origin check.
 *
 * Everything runs on the loop thread. A handler answers at once (sb_server_respond before it
 * returns) or later (keep the request pointer, answer from another callback, e.g. after a
 * uv_queue_work); a request whose client went away before the answer is reported through
 * on_gone, and responding to it afterwards is not allowed. */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "net/loop.h"
#include "util/err.h"

struct sb_server;
struct sb_request;
struct sb_conn; /* one WebSocket client */

#define SB_SERVER_BODY_MAX_DEFAULT (64 * 1024)

struct sb_server_handlers {
    /* A complete request (body included). Respond now or later with sb_server_respond. */
    void (*on_request)(void *ud, struct sb_request *rq);
    /* A request not yet answered lost its client; rq is invalid after this returns. May be
     * NULL when the handler always answers at once. */
    void (*on_request_gone)(void *ud, struct sb_request *rq);
    /* WebSocket: a GET on ws_path with an allowed Origin asks to upgrade. Return a non-NULL
     * user pointer to accept (it is passed to the other ws callbacks), NULL to refuse (403).
     * The request's headers (cookies) are readable during the call. */
    void *(*ws_accept)(void *ud, struct sb_request *rq, struct sb_conn *c);
    void (*ws_text)(void *ud, void *conn_ud, struct sb_conn *c, const char *data, size_t len);
    /* The connection is gone; c is invalid after this returns. */
    void (*ws_closed)(void *ud, void *conn_ud, struct sb_conn *c);
};

struct sb_server_opts {
    const char *listen;    /* "127.0.0.1:8080" or ":8080" (every interface) */
    const char *ws_path;   /* e.g. "/ws"; NULL = no WebSocket */
    const char *origin;    /* allowed Origin for WebSocket upgrades, e.g.
                              "http://127.0.0.1:8080"; NULL = the server's own host only */
    size_t body_max;       /* request body limit; 0 = SB_SERVER_BODY_MAX_DEFAULT. Bigger → 413 */
    size_t ws_message_max; /* inbound WebSocket message limit; 0 = 16 KiB. Bigger → close 1009 */
    size_t ws_queue_max;   /* bytes queued for one slow WebSocket client before it is dropped
                              (1008); 0 = 4 MiB */
    const char *extra_headers; /* added to every HTTP response, "Name: value\r\n" lines (CSP…) */
    int header_timeout_secs;   /* a request's headers must be in within this (slow clients are
                                  dropped); 0 = 10 */
};

/* Listen; *out is new. SB_ERR_IO when the address cannot be bound (message says why). The
 * actual port (for ":0") is sb_server_port. */
enum sb_err sb_server_new(struct sb_loop *l, const struct sb_server_opts *o,
                          const struct sb_server_handlers *h, void *ud, struct sb_server **out,
                          struct sb_errbuf *eb);
int sb_server_port(const struct sb_server *s);
/* Stop listening and close every connection; handlers are not called after this returns.
 * During the call, on_request_gone runs for every unanswered request and ws_closed for every
 * open WebSocket (so owners can free what they hold). Call it from the loop (a timer, a signal
 * handler, after sb_loop_run returned), not from inside one of this server's handlers. */
void sb_server_free(struct sb_server *s);

/* ---- a request ----------------------------------------------------------------------------- */

const char *sb_request_method(const struct sb_request *rq); /* "GET", "POST", … */
/* Decoded path, no query. libwebsockets has already folded "//", "/./" and "/../" segments
 * (it cannot climb above "/"); a path still holding a ".." segment is refused with 400. */
const char *sb_request_path(const struct sb_request *rq);
/* The query string, "" if none. libwebsockets splits and decodes the query itself, so this is
 * rebuilt from the decoded arguments, re-encoded ("a=1&b=x%20y"): equivalent, not byte-exact. */
const char *sb_request_query(const struct sb_request *rq);
/* A query argument, URL-decoded, or NULL. Valid for the request's life. */
const char *sb_request_arg(struct sb_request *rq, const char *name);
/* A header value (case-insensitive name) or NULL. Valid for the request's life. */
const char *sb_request_header(struct sb_request *rq, const char *name);
/* A cookie's value or NULL. */
const char *sb_request_cookie(struct sb_request *rq, const char *name);
const char *sb_request_body(const struct sb_request *rq, size_t *len); /* NUL-terminated */
/* The peer's IP address as text. */
const char *sb_request_peer(const struct sb_request *rq);
/* Private per-request slot for the handler (e.g. a pending job). */
void sb_request_set_ud(struct sb_request *rq, void *ud);
void *sb_request_ud(const struct sb_request *rq);

/* Answer: status, content type, extra headers ("Name: value\r\n" lines, may be NULL), body
 * (copied). Once per request; the request is invalid afterwards. */
void sb_server_respond(struct sb_request *rq, int status, const char *content_type,
                       const char *headers, const void *body, size_t len);

/* ---- WebSocket connections ---------------------------------------------------------------- */

/* Queue a text message (copied) to one client. SB_ERR_TOOBIG when the client's queue is over
 * ws_queue_max (it is then closed: a console that cannot keep up resyncs on reconnect). */
enum sb_err sb_conn_send(struct sb_conn *c, const char *data, size_t len);
/* Close with code (1000 normal, 1008 policy); ws_closed follows. */
void sb_conn_close(struct sb_conn *c, int code);

#endif
