/* backend.h — what a store backend implements (internal to src/store/).
 *
 * Each backend defines its own struct that begins with `struct sb_store base;` and fills one
 * static struct sb_store_ops. store.c parses the URL, picks the backend, and forwards every
 * public call through s->ops; the arguments have been validated there (non-NULL store, known
 * count kind). Contracts are those of store.h. */
#ifndef SB_STORE_BACKEND_H
#define SB_STORE_BACKEND_H

#include <stdbool.h>

#include "store/store.h"

enum sb_store_count_kind {
    SB_STORE_COUNT_POSTS = 0,
    SB_STORE_COUNT_DECISIONS,
    SB_STORE_COUNT_DELETED,
    SB_STORE_COUNT_CURSORS,
    SB_STORE_COUNT_POLICY_VERSIONS,
    SB_STORE_COUNT__N
};

enum sb_store_sync { SB_STORE_SYNC_NORMAL = 0, SB_STORE_SYNC_FULL, SB_STORE_SYNC_EXTRA };

/* Options decoded from the URL's query string. */
struct sb_store_config {
    enum sb_store_sync sync;
    int busy_timeout_ms;
    int batch_max;
    int page_size; /* for a new database file only */
};

struct sb_store_ops {
    const char *name;
    void (*close)(struct sb_store *s);
    enum sb_err (*author_history)(struct sb_store *s, enum sb_platform platform,
                                  const char *author_id, int64_t since_ms, int64_t exclude_rowid,
                                  struct sb_author_history *h, struct sb_errbuf *eb);
    enum sb_err (*outbox_post_counts)(struct sb_store *s, enum sb_platform platform,
                                      const char *post_id, int64_t counts[SB_OUTBOX__COUNT],
                                      struct sb_errbuf *eb);
    enum sb_err (*background_checkpoints)(struct sb_store *s, struct sb_errbuf *eb);
    enum sb_err (*flush)(struct sb_store *s, struct sb_errbuf *eb);
    enum sb_err (*post_insert)(struct sb_store *s, const struct sb_post *p, const char *raw,
                               size_t raw_len, int64_t *post_rowid, struct sb_errbuf *eb);
    enum sb_err (*post_mark_deleted)(struct sb_store *s, enum sb_platform platform, const char *id,
                                     struct sb_errbuf *eb);
    /* sb_store_decision_insert is decision_record with no effects */
    enum sb_err (*decision_record)(struct sb_store *s, int64_t post_rowid,
                                   const struct sb_decision *d, const struct sb_effect *effects,
                                   size_t n_effects, int64_t decided_at_ms, int64_t *decision_id,
                                   struct sb_errbuf *eb);
    enum sb_err (*outbox_due)(struct sb_store *s, int64_t now_ms, int64_t lease_ms, size_t max,
                              struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);
    enum sb_err (*outbox_sent)(struct sb_store *s, int64_t id, const char *remote_id,
                               const char *remote_cid, int status, struct sb_errbuf *eb);
    /* error has been cut to SB_OUTBOX_ERROR_MAX by store.c */
    enum sb_err (*outbox_retry)(struct sb_store *s, int64_t id, int64_t next_at_ms, int status,
                                const char *error, struct sb_errbuf *eb);
    enum sb_err (*outbox_fail)(struct sb_store *s, int64_t id, enum sb_outbox_state state,
                               int status, const char *error, struct sb_errbuf *eb);
    enum sb_err (*outbox_requeue)(struct sb_store *s, int64_t id, int64_t next_at_ms,
                                  struct sb_errbuf *eb);
    enum sb_err (*outbox_cancel_for_post)(struct sb_store *s, enum sb_platform platform,
                                          const char *post_id, struct sb_errbuf *eb);
    /* state may be SB_OUTBOX_ANY */
    enum sb_err (*outbox_list)(struct sb_store *s, enum sb_outbox_state state, size_t max,
                               struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);
    enum sb_err (*outbox_get)(struct sb_store *s, int64_t id, struct sb_outbox_entry *out,
                              struct sb_errbuf *eb);
    enum sb_err (*outbox_count)(struct sb_store *s, enum sb_outbox_state state, int64_t *n,
                                struct sb_errbuf *eb);
    enum sb_err (*cursor_get)(struct sb_store *s, const char *stream, int64_t *value,
                              struct sb_errbuf *eb);
    enum sb_err (*cursor_set)(struct sb_store *s, const char *stream, int64_t value,
                              struct sb_errbuf *eb);
    enum sb_err (*policy_version_record)(struct sb_store *s, const char *hash,
                                         const char *files_json, struct sb_errbuf *eb);
    enum sb_err (*count)(struct sb_store *s, enum sb_store_count_kind what, int64_t *n,
                         struct sb_errbuf *eb);
};

/* The part every backend shares; backends read batch_max at each write. */
struct sb_store {
    const struct sb_store_ops *ops;
    int batch_max;      /* >= 1 */
    bool outbox_sync;   /* outbox state changes commit at once (default) */
    int schema_version; /* set by the backend after migrating */
};

/* SQLite backend (sqlite.c). path is a file path or ":memory:"; *out is new. */
enum sb_err sb_store_sqlite_open(const char *path, const struct sb_store_config *cfg,
                                 struct sb_store **out, struct sb_errbuf *eb);

/* SQLite schema migrations (sqlite_migrations.c): element i brings user_version i to i + 1.
 * Append only; never edit a migration that has shipped. */
extern const char *const sb_store_sqlite_migrations[];
extern const int sb_store_sqlite_migrations_count;

#endif
