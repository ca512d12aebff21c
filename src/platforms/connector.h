/* connector.h — what every platform connector offers the service: a stream of events in, and
 * sending effects out. One connector serves one configured brand account. All calls and
 * callbacks happen on the loop thread. */
#ifndef SB_CONNECTOR_H
#define SB_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/effects.h"
#include "core/post.h"
#include "core/retry.h"
#include "net/loop.h"
#include "run/config.h"
#include "util/err.h"

struct sb_connector;

/* Events a connector delivers: ev and raw are borrowed for the call. The connector advances its
 * own cursor only after this returns (the service records the post durably before returning). */
typedef void (*sb_ingest_fn)(void *ud, struct sb_connector *c, struct sb_event *ev, const char *raw,
                             size_t raw_len);

/* One effect to carry out (all strings borrowed for the call). */
struct sb_send_req {
    enum sb_effect_kind kind;
    const char *idem_key;
    const char *target_id, *target_cid; /* the post answered */
    const char *root_id, *root_cid;     /* its thread root */
    const char *recipient_id, *recipient_handle;
    const char *text;
};

/* How one send ended. On failure, resp says what the platform (or the network) answered, with
 * the rate-limit headers already parsed, for sb_retry_next. */
struct sb_send_result {
    int ok;                        /* the platform has it (remote_id set) */
    struct sb_retry_response resp; /* failures: status, transport, error name, rate limits */
    char error_name[64];           /* storage for resp.error_name */
    char error[256];               /* human-readable, for the outbox's last_error */
    char remote_id[160];
    char remote_cid[96];
};

/* The retry-relevant part of an HTTP outcome, for every connector: status, how the transport
 * failed, the platform's error name (may be NULL; copied into res->error_name) and every
 * rate-limit header, parsed. res->resp is initialised first; res->error is left alone. */
struct sb_http_resp;
void sb_send_result_from_http(struct sb_send_result *res, const struct sb_http_resp *r,
                              const char *error_name);

typedef void (*sb_send_done_fn)(void *ud, const struct sb_send_result *r);

struct sb_connector_ops {
    /* Begin: resolve the account's identity, connect the stream, catch up. */
    enum sb_err (*start)(struct sb_connector *c);
    /* Stop taking events (close the stream); sends in flight still complete. */
    void (*stop)(struct sb_connector *c);
    /* Carry out one effect; cb is called exactly once (possibly after stop). */
    enum sb_err (*send)(struct sb_connector *c, const struct sb_send_req *req, sb_send_done_fn cb,
                        void *ud);
    /* True once nothing is in flight (for graceful shutdown). */
    int (*idle)(struct sb_connector *c);
    void (*free)(struct sb_connector *c);
};

struct sb_connector {
    const struct sb_connector_ops *ops;
    const struct sb_account_conf *conf; /* borrowed from the configuration */
    struct sb_loop *loop;
    struct sb_store *store; /* stream cursors */
    sb_ingest_fn ingest;
    void *ingest_ud;
    char self_id[160];     /* the brand's own account id / DID, once known */
    char self_handle[160]; /* acct / handle */
    int ready;             /* identity known */
};

/* Constructors (platforms/<name>/conn.c). *out is new. */
enum sb_err sb_mastodon_connector_new(struct sb_loop *l, const struct sb_account_conf *conf,
                                      struct sb_store *store, sb_ingest_fn ingest, void *ud,
                                      struct sb_connector **out, struct sb_errbuf *eb);
/* Bluesky: conf needs pds_url, jetstream_url, identifier and password (SB_ERR_INVAL). */
enum sb_err sb_bluesky_connector_new(struct sb_loop *l, const struct sb_account_conf *conf,
                                     struct sb_store *store, sb_ingest_fn ingest, void *ud,
                                     struct sb_connector **out, struct sb_errbuf *eb);

#endif
