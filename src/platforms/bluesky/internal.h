/* bluesky/internal.h — what the Bluesky connector's files share, and nothing else includes:
 * the connector struct, the XRPC call helper (xrpc.c), the sending entry point (send.c) and
 * the connector's own hooks (conn.c). The public face is sb_bluesky_connector_new in
 * platforms/connector.h. Everything here runs on the loop thread. */
#ifndef SB_BLUESKY_INTERNAL_H
#define SB_BLUESKY_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "net/backoff.h"
#include "net/http.h"
#include "net/ws.h"
#include "platforms/connector.h"
#include "util/log.h"

#define POST_NSID "app.bsky.feed.post"
#define HANDLE_MAX 253
#define HANDLE_CACHE 64

enum sess_state {
    SESS_NONE = 0,   /* never created, or the last attempt failed: calls fail fast */
    SESS_CREATING,   /* createSession in flight: calls wait */
    SESS_REFRESHING, /* refreshSession in flight: calls wait */
    SESS_OK,
};

/* An XRPC call, re-sent once with fresh tokens when it meets ExpiredToken. */
enum { CALL_AUTH = 1, CALL_CHAT = 2 };
/* r NULL: the connector was freed while the call was out; release ud, call no one. */
typedef void (*sb_bsky_xcall_done_fn)(void *ud, const struct sb_http_resp *r);

struct xcall; /* xrpc.c */

struct handle_entry {
    char did[128];
    char handle[HANDLE_MAX + 1];
    char name[128];    /* display name, "" when none */
    int64_t followers; /* -1 when unknown */
    int negative;      /* the lookup failed: do not ask again before expires */
    int64_t expires;   /* loop monotonic ms */
};

struct bsky {
    struct sb_connector base;
    char cursor_key[200];
    char self_prefix[200]; /* "at://<self did>/": replies to the brand's posts */
    /* session (tokens are secrets: never logged, wiped when replaced) */
    enum sess_state sess;
    char *access, *refresh;
    unsigned gen;
    struct xcall *waiting, **waiting_tail;
    struct sb_backoff sess_backoff;
    uv_timer_t sess_timer;
    /* stream */
    struct sb_ws *ws;
    uv_timer_t stream_timer;
    struct sb_backoff backoff;
    char *stream_url;
    int64_t cursor_us, saved_us, saved_at, stored_cursor;
    struct sb_event ev;
    long frames, forwarded, skipped, unrelated, own, malformed;
    /* recipients' handles (Jetstream carries none) */
    struct handle_entry handles[HANDLE_CACHE];
    unsigned handle_next;
    int in_flight, stopping, freed, handles_closed;
};

/* ---- conn.c ------------------------------------------------------------------------------ */

/* Log event for this account with detail (borrowed) as a JSON string. */
void sb_bsky_log_account(struct bsky *b, enum sb_log_level lvl, const char *event,
                         const char *detail);

/* Open the Jetstream stream from the saved cursor (rewound) or the backfill point; a failure
 * to start is handled like a close (reconnect with backoff). Called once the first session
 * has set base.self_id, which the filter needs. */
void sb_bsky_stream_connect(struct bsky *b);

/* Release b once it is freed, both timers are closed and no request or stream can call back
 * into it. Call it from every callback that runs after b->freed. Returns 1 when released (b is
 * gone). */
int sb_bsky_maybe_release(struct bsky *b);

/* ---- xrpc.c ------------------------------------------------------------------------------ */

/* The body of r as JSON (new; NULL when empty, unreadable or r is NULL). */
json_t *sb_bsky_resp_json(const struct sb_http_resp *r);

/* The string member k of o (borrowed; NULL when o is NULL or k is absent or not a string). */
const char *sb_bsky_jstr(const json_t *o, const char *k);

/* Start createSession with the account's identifier and password; on success the first session
 * makes the connector ready and opens the stream, on failure a retry is scheduled (the waiting
 * calls fail). */
void sb_bsky_session_create(struct bsky *b);

/* Wipe and free the session's tokens (for the final release). */
void sb_bsky_session_wipe(struct bsky *b);

/* Start an XRPC call (flags: CALL_AUTH with the session's access token, waiting while a session
 * is being made; CALL_CHAT through the chat service). url and body are copied. done runs exactly
 * once unless this returns an error: SB_ERR_IO when there is no session, SB_ERR_NOMEM, or the
 * HTTP client's error. */
enum sb_err sb_bsky_xcall(struct bsky *b, const char *method, const char *url, const char *body,
                          size_t body_len, unsigned flags, sb_bsky_xcall_done_fn done, void *ud);

/* ---- send.c ------------------------------------------------------------------------------ */

/* The connector's send op (struct sb_connector_ops.send): a public reply or a direct message.
 * req is borrowed (copied); cb runs exactly once unless this returns an error (SB_ERR_INVAL for
 * an incomplete request, SB_ERR_NOMEM, or the XRPC helper's error). */
/* Profiles (handle, display name, followers) by DID, cached for an hour; a failed lookup is
 * remembered briefly (negative) so a busy author does not cost a request per post. find
 * returns NULL when unknown or expired. Both in send.c. */
void sb_bsky_profile_remember(struct bsky *b, const char *did, const char *handle, const char *name,
                              int64_t followers, int negative);
const struct handle_entry *sb_bsky_profile_find(struct bsky *b, const char *did);

enum sb_err sb_bsky_send(struct sb_connector *c, const struct sb_send_req *req, sb_send_done_fn cb,
                         void *ud);

#endif
