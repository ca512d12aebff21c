/* arena.c — bump allocator (see arena.h). Depends on libc only. */
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

struct block {
    struct block *next;
    size_t cap, used;
    max_align_t data[];
};

struct sb_arena {
    struct block *head; /* current block; first block is at the tail */
    size_t max, total;
};

#define FIRST_BLOCK 8192

static struct block *block_new(size_t cap)
{
    struct block *b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

struct sb_arena *sb_arena_new(size_t max)
{
    struct sb_arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->max = max ? max : 16u << 20;
    a->head = block_new(FIRST_BLOCK);
    if (!a->head) {
        free(a);
        return NULL;
    }
    return a;
}

void sb_arena_free(struct sb_arena *a)
{
    if (!a)
        return;
    for (struct block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

void sb_arena_reset(struct sb_arena *a)
{
    struct block *b = a->head;
    while (b->next) {
        struct block *n = b->next;
        free(b);
        b = n;
    }
    a->head = b;
    b->used = 0;
    a->total = 0;
}

void *sb_arena_alloc(struct sb_arena *a, size_t n)
{
    size_t align = sizeof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n > a->max || a->total + n > a->max)
        return NULL;
    struct block *b = a->head;
    if (b->cap - b->used < n) {
        size_t cap = b->cap * 2;
        while (cap < n)
            cap *= 2;
        struct block *nb = block_new(cap);
        if (!nb)
            return NULL;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    a->total += n;
    return p;
}

char *sb_arena_strndup(struct sb_arena *a, const char *s, size_t n)
{
    char *p = sb_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *sb_arena_strdup(struct sb_arena *a, const char *s)
{
    return s ? sb_arena_strndup(a, s, strlen(s)) : NULL;
}

size_t sb_arena_used(const struct sb_arena *a)
{
    return a->total;
}
