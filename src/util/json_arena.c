/* json_arena.c — see json_arena.h. Every block carries a 16-byte header saying where it came
 * from, so a value allocated from the arena on one thread and one from malloc elsewhere are
 * both freed correctly. Depends on jansson and util/arena. */
#include "util/json_arena.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/arena.h"

#define HDR 16
enum { FROM_MALLOC = 0x4d414c4c, FROM_ARENA = 0x4152454e };

static _Thread_local struct sb_arena *arena;

static void *j_malloc(size_t n)
{
    unsigned char *p;
    if (arena && (p = sb_arena_alloc(arena, n + HDR)) != NULL) {
        *(uint32_t *)p = FROM_ARENA;
        return p + HDR;
    }
    p = malloc(n + HDR);
    if (!p)
        return NULL;
    *(uint32_t *)p = FROM_MALLOC;
    return p + HDR;
}

static void j_free(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    if (*(uint32_t *)p == FROM_MALLOC)
        free(p);
    /* arena blocks go with the next reset */
}

void sb_json_arena_install(void)
{
    json_set_alloc_funcs(j_malloc, j_free);
}

int sb_json_arena_begin(void)
{
    if (!arena)
        arena = sb_arena_new(64u << 20);
    return arena ? 0 : -1;
}

void sb_json_arena_reset(void)
{
    if (arena)
        sb_arena_reset(arena);
}

void sb_json_arena_end(void)
{
    sb_arena_free(arena);
    arena = NULL;
}
