/* json_arena.h — jansson allocations from a per-thread bump arena while a hot loop parses one
 * document at a time (replay): one reset per document instead of dozens of malloc/free pairs.
 *
 * sb_json_arena_install() routes jansson's allocator through this module once per process.
 * Outside a begin/end scope (and on other threads) allocations are plain malloc. Inside it,
 * every json_t made on this thread lives in the arena until sb_json_arena_reset(): the caller
 * must have dropped every reference (json_decref) to the documents parsed since the last reset. */
#ifndef SB_JSON_ARENA_H
#define SB_JSON_ARENA_H

void sb_json_arena_install(void);
/* Start using an arena on this thread; returns 0, or -1 if it could not be allocated. */
int sb_json_arena_begin(void);
/* Forget everything allocated since the last reset (keeps the memory). */
void sb_json_arena_reset(void);
/* Stop using the arena on this thread and free it. */
void sb_json_arena_end(void);

#endif
