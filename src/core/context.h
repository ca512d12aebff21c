/* context.h — the context snapshot handed to the policy with each post (design §1 step 3).
 * Plain data filled by ingest (or by tests/replay); the policy sees it read-only as `ctx`. */
#ifndef SB_CONTEXT_H
#define SB_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_queue_stat {
    const char *name;
    int64_t depth;
    int64_t agents_online;
    int64_t oldest_wait; /* seconds */
};

struct sb_ctx_history {
    int64_t posts, acknowledged, cases; /* this author, last 24 h */
};

/* Filled on demand: only a policy that reads ctx.history pays for the store query. Returns 0
 * on success (h filled). */
typedef int (*sb_ctx_history_fn)(void *ud, struct sb_ctx_history *h);

struct sb_ctx {
    int64_t now;                   /* Unix seconds at receipt: the policy's only clock */
    struct sb_ctx_history history; /* used when history_fn is NULL */
    sb_ctx_history_fn history_fn;
    void *history_ud;
    bool business_hours;
    int64_t surge;       /* 0 = normal */
    const char *case_id; /* open case on this thread, or NULL */
    const char *case_queue;
    const struct sb_queue_stat *queues;
    size_t n_queues;
};

#endif
