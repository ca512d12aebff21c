/* backend.h — what a store backend implements (internal to src/store/).
 *
 * Each backend defines its own struct that begins with `struct sb_store base;` and fills one
 * static struct sb_store_ops, and one struct sb_store_case_ops for the human side (agents,
 * sessions, cases). store.c parses the URL, picks the backend, and forwards every public call
 * through s->ops; store_cases.c forwards those of store/cases.h through s->case_ops. The
 * arguments have been validated there (non-NULL store and pointers, known enums, strings that
 * fit the structs that will hold their copies). Contracts are those of store.h and cases.h. */
#ifndef SB_STORE_BACKEND_H
#define SB_STORE_BACKEND_H

#include <stdbool.h>

#include "store/cases.h"
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
    enum sb_err (*post_edit)(struct sb_store *s, const struct sb_post *p, const char *raw,
                             size_t raw_len, struct sb_errbuf *eb);
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
    enum sb_err (*outbox_by_remote)(struct sb_store *s, enum sb_platform platform,
                                    const char *remote_id, struct sb_outbox_entry *out,
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

/* ---- the human side (store/cases.h) ----------------------------------------------------- */

#define SB_STORE_CASE_QUEUES_MAX (SB_AGENT_QUEUES_MAX / 2) /* names in one list filter */

/* A struct sb_case_filter as store_cases.c hands it on: checked, the queue list split into
 * distinct names (borrowed for the call). */
struct sb_store_case_query {
    int owner;       /* enum sb_case_owner, or -1 for every owner */
    size_t n_queues; /* 0 = every queue */
    const char *queues[SB_STORE_CASE_QUEUES_MAX];
    int64_t assignee; /* > 0: this agent's; 0: any; -1: only unclaimed */
    bool after_set;
    int after_priority;
    int64_t after_due, after_id;
};

/* Every write here commits before it returns (cases.h). Output counts (*n) are set by the
 * backend; max is > 0 and out non-NULL whenever a list is asked for. */
struct sb_store_case_ops {
    enum sb_err (*agent_add)(struct sb_store *s, const struct sb_agent *a, int64_t *id,
                             struct sb_errbuf *eb);
    enum sb_err (*agent_update)(struct sb_store *s, const struct sb_agent *a, struct sb_errbuf *eb);
    enum sb_err (*agent_get)(struct sb_store *s, int64_t id, struct sb_agent *out,
                             struct sb_errbuf *eb);
    enum sb_err (*agent_by_name)(struct sb_store *s, const char *name, struct sb_agent *out,
                                 struct sb_errbuf *eb);
    enum sb_err (*agent_list)(struct sb_store *s, size_t max, struct sb_agent *out, size_t *n,
                              struct sb_errbuf *eb);
    enum sb_err (*session_add)(struct sb_store *s, const struct sb_session *se,
                               struct sb_errbuf *eb);
    enum sb_err (*session_get)(struct sb_store *s, const char *token_hash, int64_t now_ms,
                               struct sb_session *out, struct sb_errbuf *eb);
    enum sb_err (*session_delete)(struct sb_store *s, const char *token_hash, struct sb_errbuf *eb);
    enum sb_err (*session_delete_agent)(struct sb_store *s, int64_t agent_id, struct sb_errbuf *eb);
    enum sb_err (*session_purge)(struct sb_store *s, int64_t now_ms, int64_t *n,
                                 struct sb_errbuf *eb);
    /* ev may be NULL (no event) */
    enum sb_err (*case_create)(struct sb_store *s, struct sb_case *c, struct sb_case_event *ev,
                               struct sb_errbuf *eb);
    enum sb_err (*case_update)(struct sb_store *s, struct sb_case *c, struct sb_case_event *ev,
                               struct sb_errbuf *eb);
    enum sb_err (*case_event_add)(struct sb_store *s, struct sb_case_event *ev,
                                  struct sb_errbuf *eb);
    enum sb_err (*case_get)(struct sb_store *s, int64_t id, struct sb_case *out,
                            struct sb_errbuf *eb);
    enum sb_err (*case_by_thread)(struct sb_store *s, enum sb_platform platform,
                                  const char *thread_id, struct sb_case *out, struct sb_errbuf *eb);
    enum sb_err (*case_by_outbox)(struct sb_store *s, int64_t outbox_id, struct sb_case *out,
                                  struct sb_errbuf *eb);
    enum sb_err (*case_list)(struct sb_store *s, const struct sb_store_case_query *q, size_t max,
                             struct sb_case *out, size_t *n, struct sb_errbuf *eb);
    enum sb_err (*case_events)(struct sb_store *s, int64_t case_id, size_t max,
                               struct sb_case_event *out, size_t *n, struct sb_errbuf *eb);
    enum sb_err (*queue_stats)(struct sb_store *s, int64_t now_ms, size_t max,
                               struct sb_queue_stats *out, size_t *n, struct sb_errbuf *eb);
    enum sb_err (*post_view)(struct sb_store *s, int64_t rowid, struct sb_post_view *out,
                             struct sb_errbuf *eb);
    enum sb_err (*outbox_for_post)(struct sb_store *s, int64_t post_rowid, size_t max,
                                   struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);
};

/* A case's summary: text (len bytes; may be NULL) cut to fit dst[size], on a grapheme boundary
 * (so never inside a UTF-8 sequence). store_cases.c. */
void sb_store_case_summary(char *dst, size_t size, const char *text, size_t len);

/* ---- the shared head -------------------------------------------------------------------- */

/* The part every backend shares; backends read batch_max at each write. */
struct sb_store {
    const struct sb_store_ops *ops;
    const struct sb_store_case_ops *case_ops; /* NULL: the backend keeps no cases */
    int batch_max;                            /* >= 1 */
    bool outbox_sync;                         /* outbox state changes commit at once (default) */
    bool case_sync;                           /* case writes commit at once (default) */
    int schema_version;                       /* set by the backend after migrating */
};

/* SQLite backend (sqlite.c). path is a file path or ":memory:"; *out is new. */
enum sb_err sb_store_sqlite_open(const char *path, const struct sb_store_config *cfg,
                                 struct sb_store **out, struct sb_errbuf *eb);

/* SQLite schema migrations (sqlite_migrations.c): element i brings user_version i to i + 1.
 * Append only; never edit a migration that has shipped. */
extern const char *const sb_store_sqlite_migrations[];
extern const int sb_store_sqlite_migrations_count;

#endif
