/* arena.h — bump allocator for records whose fields die together (a post and its strings).
 * Reset keeps the first block so a hot loop (replay) allocates nothing in steady state. */
#ifndef SB_ARENA_H
#define SB_ARENA_H

#include <stddef.h>

struct sb_arena;

/* New arena; NULL on allocation failure. `max` bounds total bytes (0 = 16 MiB default). */
struct sb_arena *sb_arena_new(size_t max);
void sb_arena_free(struct sb_arena *a);
/* Forget every allocation; keeps the first block for reuse. */
void sb_arena_reset(struct sb_arena *a);
/* Aligned allocation; NULL when out of memory or over max. Lives until reset/free. */
void *sb_arena_alloc(struct sb_arena *a, size_t n);
/* Copy of s[0..n) with a NUL terminator; NULL on failure. */
char *sb_arena_strndup(struct sb_arena *a, const char *s, size_t n);
char *sb_arena_strdup(struct sb_arena *a, const char *s);
size_t sb_arena_used(const struct sb_arena *a);

#endif
