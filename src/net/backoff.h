/* backoff.h — reconnect delays: full jitter over a static table (style.md: "retry/backoff as a
 * static table, not code"). delay = uniform(0, table[min(attempt, n-1)]). */
#ifndef SB_BACKOFF_H
#define SB_BACKOFF_H

#include <stdint.h>

struct sb_backoff {
    unsigned attempt;
    uint64_t rng; /* xorshift state; seed with anything non-zero */
};

/* Next delay in ms for this attempt, then count the attempt. */
uint32_t sb_backoff_next(struct sb_backoff *b);
/* A connection that stayed up resets the count. */
void sb_backoff_reset(struct sb_backoff *b);

#endif
