/* http.h — asynchronous HTTP requests on the loop (libcurl multi-socket over libuv).
 * A request is fire-and-callback: the callback runs on the loop thread exactly once, with
 * the status, headers and a bounded body, or with a transport error. */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "net/loop.h"
#include "util/buf.h"
#include "util/err.h"

#define SB_HTTP_HEADERS_MAX 16
#define SB_HTTP_BODY_MAX (4u << 20)

struct sb_http_req {
    const char *method; /* "GET", "POST", ... */
    const char *url;
    const char *headers[SB_HTTP_HEADERS_MAX]; /* "Name: value" lines, NULL-terminated */
    const char *body;                         /* may be NULL */
    size_t body_len;
    long timeout_ms; /* whole request; 0 = 30 s */
};

/* How a request failed before any response (for retry decisions: was it on the wire?). */
enum sb_http_transport {
    SB_HTTP_T_NONE = 0, /* a response arrived (or the body was too big) */
    SB_HTTP_T_CONNECT,  /* never sent: DNS, refused, TLS handshake */
    SB_HTTP_T_TIMEOUT,  /* sent, no complete answer in time */
    SB_HTTP_T_LOST,     /* sent, connection lost or answer unreadable */
};

struct sb_http_resp {
    long status; /* 0 when the request failed before a response */
    enum sb_http_transport transport;
    enum sb_err err;       /* SB_OK, SB_ERR_IO (transport), SB_ERR_TOOBIG (body over max) */
    const char *error;     /* transport error text, or NULL */
    int timed_out;         /* the request hit its timeout */
    struct sb_buf headers; /* raw header block of the final response, lines "Name: value\r\n" */
    struct sb_buf body;
    double total_ms;
};

/* Value of header `name` (case-insensitive) in r, copied into out (NUL-terminated, truncated to
 * cap); returns 1 if present. */
int sb_http_header(const struct sb_http_resp *r, const char *name, char *out, size_t cap);

/* Call fn(ud, name, value) for each header of the final response (name and value are
 * NUL-terminated copies, borrowed for the call). */
void sb_http_headers_each(const struct sb_http_resp *r,
                          void (*fn)(void *ud, const char *name, const char *value), void *ud);

/* Called once per request on the loop thread; r is borrowed for the call. */
typedef void (*sb_http_done_fn)(void *ud, const struct sb_http_resp *r);

/* Start a request; everything in req is copied. SB_ERR_NOMEM/SB_ERR_INVAL on failure (then cb
 * is never called). */
enum sb_err sb_http_request(struct sb_loop *l, const struct sb_http_req *req, sb_http_done_fn cb,
                            void *ud);
/* Requests in flight (for graceful shutdown). */
int sb_http_in_flight(struct sb_loop *l);

/* Percent-encode s for application/x-www-form-urlencoded into out. */
enum sb_err sb_http_form_escape(struct sb_buf *out, const char *s);

#endif
