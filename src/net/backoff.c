/* backoff.c — full-jitter reconnect delays from a table (see backoff.h). */
#include "net/backoff.h"

static const uint32_t ceiling_ms[] = {250, 500, 1000, 2000, 4000, 8000, 15000, 30000};
#define N (sizeof ceiling_ms / sizeof *ceiling_ms)

uint32_t sb_backoff_next(struct sb_backoff *b)
{
    uint64_t x = b->rng ? b->rng : 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    uint32_t cap = ceiling_ms[b->attempt < N ? b->attempt : N - 1];
    b->attempt++;
    return (uint32_t)(x % ((uint64_t)cap + 1));
}

void sb_backoff_reset(struct sb_backoff *b)
{
    b->attempt = 0;
}
