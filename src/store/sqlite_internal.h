/* sqlite_internal.h — what the files of the SQLite backend share (not a public header). */
#ifndef SB_SQLITE_INTERNAL_H
#define SB_SQLITE_INTERNAL_H

struct sb_sqlite_checkpointer;

/* Start PASSIVE checkpoints of the database at path every interval_ms on a thread with its own
 * connection; NULL on failure (then automatic checkpoints should stay on). */
struct sb_sqlite_checkpointer *sb_sqlite_checkpointer_start(const char *path, int interval_ms);
void sb_sqlite_checkpointer_stop(struct sb_sqlite_checkpointer *c);

#endif
