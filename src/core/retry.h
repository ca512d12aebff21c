/* retry.h — when to send an outbox entry again, and when to stop (design §1 step 6, §4).
 *
 * Pure: the clock and the random source are arguments, so every answer is reproducible in
 * tests. Three static tables drive it (retry.c): the backoff/idempotency policy per (platform,
 * effect kind), the HTTP status classes, and the platform error names. The sender's loop is:
 *
 *   claim due entries (sb_store_outbox_due)
 *   for each: if (!sb_retry_may_send(state, now, e.reclaimed)) → fail(reconcile)
 *             send with e.idem_key (Mastodon Idempotency-Key) / sb_effects_bluesky_rkey
 *             success → sb_store_outbox_sent
 *             failure → parse the response headers (sb_retry_header_parse) and ask
 *                       sb_retry_next: AGAIN → sb_store_outbox_retry(next_at),
 *                       RECONCILE / DEAD → sb_store_outbox_fail
 *
 * Nothing here ever re-sends blindly: an automatic retry happens only while the platform's
 * idempotency protection still covers it (Mastodon: the Idempotency-Key lives 1 h; Bluesky
 * createRecord: the rkey is permanent; Bluesky chat: no protection at all, so only failures that
 * prove the message was not taken are retried). Past that, the entry becomes `reconcile`: a
 * human or a reconciliation step checks whether it was applied. */
#ifndef SB_RETRY_H
#define SB_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/effects.h"
#include "core/post.h"
#include "util/err.h"

/* One row of the policy table. Times in milliseconds. */
struct sb_retry_policy {
    int64_t base_ms;    /* full jitter: delay = uniform(0, min(cap, base * 2^retry)) */
    int64_t cap_ms;     /* upper bound of one delay */
    int max_attempts;   /* attempts in all, the first included; then reconcile */
    int64_t window_ms;  /* the platform's idempotency window from the first attempt:
                           > 0 that long, SB_RETRY_WINDOW_FOREVER, or 0 = no protection
                           (retry only failures that prove nothing was applied) */
    int64_t margin_ms;  /* stop this long before the window ends (request time, skew, lease) */
    int64_t max_age_ms; /* never retry later than this after the first attempt */
};
#define SB_RETRY_WINDOW_FOREVER (-1)

/* The row for (platform, kind); an unknown platform or kind gets the most careful row (no
 * idempotency protection, one attempt). Never NULL; points into a static table. */
const struct sb_retry_policy *sb_retry_policy_get(enum sb_platform platform,
                                                  enum sb_effect_kind kind);

/* How a failed request ended before any HTTP status came back. */
enum sb_retry_transport {
    SB_RETRY_TRANSPORT_NONE = 0, /* a response arrived: look at http_status */
    SB_RETRY_TRANSPORT_CONNECT,  /* DNS, refused, TLS handshake: the request was never sent */
    SB_RETRY_TRANSPORT_TIMEOUT,  /* sent (maybe partly), no answer in time: outcome unknown */
    SB_RETRY_TRANSPORT_LOST,     /* connection dropped or response unreadable after sending:
                                    outcome unknown ("lost response") */
    SB_RETRY_TRANSPORT__COUNT
};

enum sb_retry_class {
    SB_RETRY_CLASS_OK = 0,    /* 2xx: not a failure */
    SB_RETRY_CLASS_RETRY,     /* 5xx, 408, 425, 429, transport errors */
    SB_RETRY_CLASS_PERMANENT, /* other 4xx (and 3xx, 501, 505): the request itself is wrong */
    SB_RETRY_CLASS_AUTH,      /* 401, Bluesky ExpiredToken/InvalidToken: refresh, then retry */
    SB_RETRY_CLASS_CONFLICT,  /* 409: the platform already has it, most likely from an earlier
                                 attempt of ours: verify, do not re-send */
    SB_RETRY_CLASS__COUNT
};

/* Classify one outcome. transport != NONE wins over the status. error_name is the XRPC
 * "error" field (Bluesky) or NULL; known names override the status class (ExpiredToken and
 * InvalidToken → AUTH, RateLimitExceeded → RETRY). A status outside 100..599 is PERMANENT. */
enum sb_retry_class sb_retry_classify(int http_status, enum sb_retry_transport transport,
                                      const char *error_name);

/* True when this outcome proves the platform did not apply the request (never sent, rate
 * limited, auth refused, 408): re-sending it cannot duplicate anything. */
bool sb_retry_not_applied(int http_status, enum sb_retry_transport transport,
                          const char *error_name);

/* "ok", "retry", "permanent", "auth", "conflict". */
const char *sb_retry_class_name(enum sb_retry_class c);

/* What one failed response said. Fill with sb_retry_response_init, set the outcome fields,
 * then feed every response header to sb_retry_header_parse. */
struct sb_retry_response {
    int http_status;                   /* 0 when there was no response */
    enum sb_retry_transport transport; /* NONE when a response arrived */
    const char *error_name;            /* borrowed; XRPC "error" or NULL */
    int64_t retry_after_at;            /* Unix ms from Retry-After; 0 = none */
    int64_t reset_at;                  /* Unix ms when the rate-limit window resets; 0 = none */
    int64_t remaining;                 /* requests/points left in the window; -1 = unknown */
    int64_t limit;                     /* size of the window's quota; -1 = unknown */
    int64_t window_s;                  /* RateLimit-Policy w=…; 0 = unknown */
};

void sb_retry_response_init(struct sb_retry_response *r);

/* Record one response header into r. Names are case-insensitive:
 *   Retry-After                          delta seconds or an HTTP-date (RFC 9110, all 3 forms)
 *   X-RateLimit-Reset, RateLimit-Reset   ISO 8601 (Mastodon: "2024-05-01T12:05:00.000000Z") or
 *                                        absolute epoch seconds (Bluesky, X; fraction allowed);
 *                                        a number below 10^9 is read as delta seconds (the IETF
 *                                        RateLimit draft's meaning), anchored at now_ms
 *   X-RateLimit-Remaining, RateLimit-Remaining, X-RateLimit-Limit, RateLimit-Limit
 *   RateLimit-Policy                     "3000;w=300" (the first policy of a list)
 * now_ms anchors delta values. Returns SB_OK when used, SB_ERR_NOTFOUND for a header this
 * module does not read, SB_ERR_SCHEMA for a malformed value (r unchanged). */
enum sb_err sb_retry_header_parse(struct sb_retry_response *r, const char *name, const char *value,
                                  int64_t now_ms);

/* The value parsers behind it. false when malformed (out untouched). */
bool sb_retry_reset_parse(const char *value, int64_t now_ms, int64_t *at_ms);
bool sb_retry_after_parse(const char *value, int64_t now_ms, int64_t *at_ms);
bool sb_retry_http_date_parse(const char *value, int64_t *at_ms);
bool sb_retry_ratelimit_policy_parse(const char *value, int64_t *limit, int64_t *window_s);

/* Uniform 64-bit random numbers from ctx. */
typedef uint64_t (*sb_retry_rand_fn)(void *ctx);

/* splitmix64: ctx is a uint64_t * state, advanced on each call. Seed it once (time, pid) in the
 * service; tests seed a constant. */
uint64_t sb_retry_rand_splitmix(void *ctx);

/* Full jitter: uniform in [0, min(cap, base * 2^retry)], retry = 0 for the first retry.
 * rand NULL gives the upper bound (deterministic, for callers that want no jitter). */
int64_t sb_retry_backoff(const struct sb_retry_policy *pol, int retry, sb_retry_rand_fn rand,
                         void *rand_ctx);

/* An outbox entry as the retry logic sees it. */
struct sb_retry_state {
    enum sb_platform platform;
    enum sb_effect_kind kind;
    int attempts;             /* attempts made, the one that just failed included (>= 1) */
    int64_t first_attempt_ms; /* Unix ms of the first attempt; 0 = never attempted */
    sb_retry_rand_fn rand;    /* random source for the jitter; borrowed */
    void *rand_ctx;
};

enum sb_retry_verdict {
    SB_RETRY_AGAIN = 0, /* retry at *next_at_ms (state `retry`) */
    SB_RETRY_RECONCILE, /* stop: it may have been applied; a human/reconciler checks */
    SB_RETRY_DEAD,      /* stop: the platform refused it for good (state `dead`) */
};

/* Decide what follows a failed attempt, at now_ms, given the response r:
 *   PERMANENT → DEAD after a first attempt; after several attempts RECONCILE instead (an earlier
 *     attempt whose answer was lost may have landed, and the 4xx may be the platform refusing
 *     the duplicate);
 *   CONFLICT → RECONCILE;  OK (not a failure) → RECONCILE (a caller bug must not re-send);
 *   RETRY / AUTH → AGAIN at next = now + full jitter (AUTH: now, after the caller refreshed the
 *     session), pushed back to Retry-After and, when the response is a 429 or says no quota
 *     remains, to the rate-limit reset;
 *   but RECONCILE when attempts reached max_attempts, when next is at or past the deadline
 *     (first attempt + window − margin, and first attempt + max_age), or when the row has no
 *     idempotency protection (window 0) and this outcome does not prove nothing was applied.
 * *next_at_ms is set for AGAIN only. Never fails; a NULL argument gives RECONCILE. */
enum sb_retry_verdict sb_retry_next(const struct sb_retry_state *st, int64_t now_ms,
                                    const struct sb_retry_response *r, int64_t *next_at_ms);

/* May an entry that was just claimed be sent at now_ms? st->attempts counts the attempt about
 * to be made (the claim counted it). Always for a first attempt. Otherwise only within
 * max_attempts and before the deadline above; and for a row without idempotency protection only
 * when the
 * previous outcome is known not to have been applied: pass previous_unknown = true when the
 * claim took over an expired lease (struct sb_outbox_entry.reclaimed), since the crashed
 * sender's request may have landed. */
bool sb_retry_may_send(const struct sb_retry_state *st, int64_t now_ms, bool previous_unknown);

/* "again", "reconcile", "dead". */
const char *sb_retry_verdict_name(enum sb_retry_verdict v);

#endif
