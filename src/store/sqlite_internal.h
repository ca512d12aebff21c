/* sqlite_internal.h — what the files of the SQLite backend share (not a public header).
 *
 * sqlite.c owns the connection, the statement cache and group commit; sqlite_outbox.c holds the
 * outbox table's operations on top of them, sqlite_cases.c those of agents, sessions, cases and
 * case events (store/cases.h); sqlite_checkpoint.c runs WAL checkpoints. */
#ifndef SB_SQLITE_INTERNAL_H
#define SB_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "store/backend.h"
#include "util/buf.h"

struct sb_sqlite_checkpointer;

/* Start PASSIVE checkpoints of the database at path every interval_ms on a thread with its own
 * connection; NULL on failure (then automatic checkpoints should stay on). */
struct sb_sqlite_checkpointer *sb_sqlite_checkpointer_start(const char *path, int interval_ms);
void sb_sqlite_checkpointer_stop(struct sb_sqlite_checkpointer *c);

/* ---- the store ------------------------------------------------------------------------- */

/* The cached statements, prepared in this order at open. The SQL of the ST_OUTBOX_* ones lives
 * in sqlite_outbox.c (sb_sqlite_outbox_sql), that of ST_AGENT_* to ST_POST_VIEW in
 * sqlite_cases.c (sb_sqlite_cases_sql), the rest in sqlite.c. The ST_COUNT_* ids follow
 * enum sb_store_count_kind. */
enum stmt_id {
    ST_BEGIN = 0,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_POST_INSERT,
    ST_POST_LOOKUP,
    ST_POST_DELETE,
    ST_POST_EDIT,
    ST_DECISION_INSERT,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_OUTBOX_INSERT,
    ST_OUTBOX_BY_KEY,
    ST_OUTBOX_DUE,
    ST_OUTBOX_CLAIM,
    ST_OUTBOX_SENT,
    ST_OUTBOX_RETRY,
    ST_OUTBOX_FAIL,
    ST_OUTBOX_REQUEUE,
    ST_OUTBOX_CANCEL,
    ST_OUTBOX_STATE,
    ST_OUTBOX_GET,
    ST_OUTBOX_BY_REMOTE,
    ST_OUTBOX_LIST_STATE,
    ST_OUTBOX_LIST_ALL,
    ST_OUTBOX_COUNT_STATE,
    ST_OUTBOX_COUNT_ALL,
    ST_OUTBOX_FOR_POST,
    ST_CURSOR_GET,
    ST_CURSOR_SET,
    ST_POLICY_VERSION,
    ST_COUNT_POSTS,
    ST_COUNT_DECISIONS,
    ST_COUNT_DELETED,
    ST_COUNT_CURSORS,
    ST_COUNT_POLICY_VERSIONS,
    ST_AUTHOR_HISTORY,
    ST_AGENT_ADD,
    ST_AGENT_UPDATE,
    ST_AGENT_GET,
    ST_AGENT_BY_NAME,
    ST_AGENT_LIST,
    ST_SESSION_ADD,
    ST_SESSION_GET,
    ST_SESSION_DELETE,
    ST_SESSION_DELETE_AGENT,
    ST_SESSION_PURGE,
    ST_CASE_INSERT,
    ST_CASE_UPDATE,
    ST_CASE_VERSION,
    ST_CASE_GET,
    ST_CASE_BY_THREAD,
    ST_CASE_BY_OUTBOX,
    ST_CASE_POST_TEXT,
    ST_EVENT_INSERT,
    ST_EVENT_LIST,
    ST_QUEUE_STATS,
    ST_POST_VIEW,
    ST__N
};

/* Case lists are built per filter shape (owners, queues, assignee, page) and kept here, most
 * recent shapes first out: an agent paging through its queues re-uses one statement. */
#define SB_SQLITE_LIST_CACHE 8
struct sb_sqlite_list_stmt {
    char *sql; /* malloc'd; NULL = free slot */
    sqlite3_stmt *st;
};

struct sqlite_store {
    struct sb_store base; /* first: the public handle points here */
    sqlite3 *db;
    sqlite3_stmt *st[ST__N];
    bool in_tx;         /* we opened a transaction that is not committed yet */
    int pending;        /* writes in that transaction */
    int64_t lost;       /* writes rolled back since the last flush; flush reports them */
    struct sb_buf json; /* scratch for the JSON columns of one row */
    struct sb_sqlite_checkpointer *ckpt;                    /* background checkpoints, or NULL */
    struct sb_sqlite_list_stmt lists[SB_SQLITE_LIST_CACHE]; /* sqlite_cases.c */
    unsigned lists_next;                                    /* the slot to replace next */
};

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run a parameterless cached statement (BEGIN/COMMIT/ROLLBACK) once. */
static inline int run_simple(struct sqlite_store *ss, enum stmt_id id)
{
    int rc = sqlite3_step(ss->st[id]);
    sqlite3_reset(ss->st[id]);
    return rc;
}

/* Strings are bound SQLITE_STATIC: they are the caller's and outlive the step. */
static inline int bind_str(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Column i as text into dst[size], "" for NULL, cut on a UTF-8 boundary if too long. */
static inline void copy_col(sqlite3_stmt *st, int i, char *dst, size_t size)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
            n--;
    }
    if (n)
        memcpy(dst, t, n);
    dst[n] = 0;
}

/* ---- errors and transactions (sqlite.c) ------------------------------------------------ */

/* A statement failed: describe it, and if SQLite rolled our open transaction back (it does on
 * I/O errors, SQLITE_FULL, SQLITE_NOMEM…) account the batch as lost so flush reports it.
 * Returns SB_ERR_STORE. */
enum sb_err sb_sqlite_fail_db(struct sqlite_store *ss, const char *what, struct sb_errbuf *eb);

/* Make sure a write transaction is open. */
enum sb_err sb_sqlite_tx_begin(struct sqlite_store *ss, struct sb_errbuf *eb);

/* Commit the open transaction. On failure the batch is rolled back and counted as lost. */
enum sb_err sb_sqlite_tx_commit(struct sqlite_store *ss, struct sb_errbuf *eb);

/* n writes (one unit: never split) went into the open transaction; commit when the batch is
 * full. */
enum sb_err sb_sqlite_write_done_n(struct sqlite_store *ss, int n, struct sb_errbuf *eb);

/* Undo a unit opened with ST_SAVEPOINT, keeping the rest of the batch; nothing to do when
 * SQLite already rolled the whole transaction back (sb_sqlite_fail_db counted that as lost). */
void sb_sqlite_unit_abort(struct sqlite_store *ss);

/* ---- the outbox table (sqlite_outbox.c) ------------------------------------------------ */

/* The SQL of cached statement id if it is one of the outbox's, else NULL. */
const char *sb_sqlite_outbox_sql(enum stmt_id id);

/* Insert one effect of decision decision_id as a pending outbox row, inside the caller's open
 * transaction (sq_decision_record's unit). A duplicate idem_key is SB_ERR_DUP with
 * *dup_decision (if non-NULL) set to the decision that enqueued it first. */
enum sb_err sb_sqlite_outbox_insert(struct sqlite_store *ss, int64_t post_rowid,
                                    int64_t decision_id, const struct sb_effect *ef, int64_t due_at,
                                    int64_t *dup_decision, struct sb_errbuf *eb);

/* The outbox entries of struct sb_store_ops; contracts are those of store.h. */
enum sb_err sb_sqlite_outbox_due(struct sb_store *s, int64_t at_ms, int64_t lease_ms, size_t max,
                                 struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_sent(struct sb_store *s, int64_t id, const char *remote_id,
                                  const char *remote_cid, int status, struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_retry(struct sb_store *s, int64_t id, int64_t next_at_ms, int status,
                                   const char *error, struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_fail(struct sb_store *s, int64_t id, enum sb_outbox_state state,
                                  int status, const char *error, struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_requeue(struct sb_store *s, int64_t id, int64_t next_at_ms,
                                     struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_cancel_for_post(struct sb_store *s, enum sb_platform platform,
                                             const char *post_id, struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_list(struct sb_store *s, enum sb_outbox_state state, size_t max,
                                  struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_by_remote(struct sb_store *s, enum sb_platform platform,
                                       const char *remote_id, struct sb_outbox_entry *out,
                                       struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_get(struct sb_store *s, int64_t id, struct sb_outbox_entry *out,
                                 struct sb_errbuf *eb);
enum sb_err sb_sqlite_outbox_count(struct sb_store *s, enum sb_outbox_state state, int64_t *n,
                                   struct sb_errbuf *eb);

enum sb_err sb_sqlite_outbox_post_counts(struct sb_store *s, enum sb_platform platform,
                                         const char *post_id, int64_t counts[SB_OUTBOX__COUNT],
                                         struct sb_errbuf *eb);

/* sb_store_outbox_for_post (store/cases.h): the entries of post_rowid, oldest first. */
enum sb_err sb_sqlite_outbox_for_post(struct sb_store *s, int64_t post_rowid, size_t max,
                                      struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);

/* ---- agents, sessions, cases (sqlite_cases.c) ------------------------------------------- */

/* The SQL of cached statement id if it is one of sqlite_cases.c's, else NULL. */
const char *sb_sqlite_cases_sql(enum stmt_id id);

/* The backend's case table (struct sb_store_case_ops), set on every store at open. */
extern const struct sb_store_case_ops sb_sqlite_case_ops;

/* Finalize the cached list statements (ss->lists); sqlite.c calls it before closing. */
void sb_sqlite_cases_close(struct sqlite_store *ss);

#endif
