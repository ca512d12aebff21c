/* sqlite.c — the SQLite store backend: connection setup (WAL, synchronous, busy timeout,
 * foreign keys), versioned migrations (sqlite_migrations.c, tracked by PRAGMA user_version),
 * prepared statements cached on the store, group commit (writes accumulate in one open
 * transaction committed every batch_max writes or on flush; a decision and its outbox entries
 * are one unit inside it, under a savepoint), and the outbox's state changes (committed at
 * once).
 *
 * Used from one thread: the connection is opened SQLITE_OPEN_NOMUTEX and nothing is locked.
 * Depends on libsqlite3, util/buf and the core's name tables (sb_platform_name & co). */
#include "store/backend.h"
#include "store/sqlite_internal.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

#define SB_SQLITE_APPLICATION_ID 1396863588 /* 'SBrd', set by migration 1 */
#define SCRATCH_MAX (4u << 20)              /* JSON columns of one row */

enum stmt_id {
    ST_BEGIN = 0,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_POST_INSERT,
    ST_POST_LOOKUP,
    ST_POST_DELETE,
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
    ST_OUTBOX_LIST_STATE,
    ST_OUTBOX_LIST_ALL,
    ST_OUTBOX_COUNT_STATE,
    ST_OUTBOX_COUNT_ALL,
    ST_CURSOR_GET,
    ST_CURSOR_SET,
    ST_POLICY_VERSION,
    ST_COUNT_POSTS,
    ST_COUNT_DECISIONS,
    ST_COUNT_DELETED,
    ST_COUNT_CURSORS,
    ST_COUNT_POLICY_VERSIONS,
    ST__N
};

/* The columns of an outbox row in the order read_entry expects. */
#define OUTBOX_COLS                                                                                \
    "id, post_rowid, decision_id, platform, account, kind, idem_key, target_id, target_cid,"       \
    " root_id, root_cid, recipient_id, recipient_handle, text, state, attempts, next_at,"          \
    " first_attempt_at, last_attempt_at, lease_until, last_status, last_error, remote_id,"         \
    " remote_cid, created_at, updated_at"

/* Prepared once at open (after migrating), reused for the life of the store. */
static const char *const stmt_sql[ST__N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_POST_INSERT] =
        "INSERT INTO posts (platform, post_id, cid, account, kind, author_id, author_handle,"
        " author_name, author_followers, author_verified, author_bot, author_created_at, text,"
        " lang, url, created_at, created_ms, visibility, thread, thread_cid, in_reply_to,"
        " in_reply_to_cid, mentions, tags, links, raw, received_at, thread_key, author_key,"
        " post_key)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)",
    [ST_POST_LOOKUP] = "SELECT id FROM posts WHERE post_key = ?3 AND platform = ?1"
                       " AND post_id = ?2",
    [ST_POST_DELETE] = "UPDATE posts SET deleted_at = coalesce(deleted_at, ?3)"
                       " WHERE post_key = ?4 AND platform = ?1 AND post_id = ?2",
    [ST_DECISION_INSERT] =
        "INSERT INTO decisions (post_rowid, action, reply, message, queue, priority, reasons,"
        " error, policy_version, latency_ns, decided_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_SAVEPOINT] = "SAVEPOINT sb_unit",
    [ST_RELEASE] = "RELEASE sb_unit",
    [ST_ROLLBACK_TO] = "ROLLBACK TO sb_unit",
    [ST_OUTBOX_INSERT] =
        "INSERT INTO outbox (post_rowid, decision_id, platform, account, kind, idem_key,"
        " target_id, target_cid, root_id, root_cid, recipient_id, recipient_handle, text, state,"
        " attempts, next_at, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'pending', 0, ?14, ?15,"
        " ?15)",
    [ST_OUTBOX_BY_KEY] = "SELECT decision_id FROM outbox WHERE idem_key = ?1",
    /* while sending, next_at is the lease end: one index range finds abandoned claims too */
    /* One index range per state, each already in next_at order and cut at the limit: a
     * single "state IN (...) ORDER BY next_at" would read and sort every due row, which in a
     * burst is thousands per claim. */
    [ST_OUTBOX_DUE] =
        "SELECT * FROM (SELECT " OUTBOX_COLS " FROM outbox WHERE state = 'pending'"
        " AND next_at <= ?1 ORDER BY next_at LIMIT ?2)"
        " UNION ALL SELECT * FROM (SELECT " OUTBOX_COLS " FROM outbox WHERE state = 'retry'"
        " AND next_at <= ?1 ORDER BY next_at LIMIT ?2)"
        " UNION ALL SELECT * FROM (SELECT " OUTBOX_COLS " FROM outbox WHERE state = 'sending'"
        " AND next_at <= ?1 ORDER BY next_at LIMIT ?2)"
        " ORDER BY next_at, id LIMIT ?2",
    [ST_OUTBOX_CLAIM] = "UPDATE outbox SET state = 'sending', attempts = attempts + 1,"
                        " first_attempt_at = coalesce(first_attempt_at, ?2), last_attempt_at = ?2,"
                        " lease_until = ?3, next_at = ?3, updated_at = ?4 WHERE id = ?1",
    [ST_OUTBOX_SENT] = "UPDATE outbox SET state = 'sent', remote_id = ?2, remote_cid = ?3,"
                       " last_status = ?4, last_error = NULL, lease_until = NULL, updated_at = ?5"
                       " WHERE id = ?1 AND state <> 'sent'",
    [ST_OUTBOX_RETRY] = "UPDATE outbox SET state = 'retry', next_at = ?2, last_status = ?3,"
                        " last_error = ?4, lease_until = NULL, updated_at = ?5"
                        " WHERE id = ?1 AND state = 'sending'",
    [ST_OUTBOX_FAIL] = "UPDATE outbox SET state = ?2, last_status = coalesce(?3, last_status),"
                       " last_error = coalesce(?4, last_error), lease_until = NULL,"
                       " updated_at = ?5 WHERE id = ?1 AND state NOT IN ('sent', 'cancelled')",
    [ST_OUTBOX_REQUEUE] = "UPDATE outbox SET state = 'pending', next_at = ?2, attempts = 0,"
                          " first_attempt_at = NULL, lease_until = NULL, updated_at = ?3"
                          " WHERE id = ?1 AND state IN ('reconcile', 'dead')",
    [ST_OUTBOX_CANCEL] =
        "UPDATE outbox SET state = 'cancelled', updated_at = ?4,"
        " last_error = 'cancelled: the post was deleted'"
        " WHERE state IN ('pending', 'retry') AND post_rowid IN"
        " (SELECT id FROM posts WHERE post_key = ?3 AND platform = ?1 AND post_id = ?2)",
    [ST_OUTBOX_STATE] = "SELECT state FROM outbox WHERE id = ?1",
    [ST_OUTBOX_GET] = "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1",
    [ST_OUTBOX_LIST_STATE] = "SELECT " OUTBOX_COLS " FROM outbox WHERE state = ?1"
                             " ORDER BY id DESC LIMIT ?2",
    [ST_OUTBOX_LIST_ALL] = "SELECT " OUTBOX_COLS " FROM outbox ORDER BY id DESC LIMIT ?2",
    [ST_OUTBOX_COUNT_STATE] = "SELECT count(*) FROM outbox WHERE state = ?1",
    [ST_OUTBOX_COUNT_ALL] = "SELECT count(*) FROM outbox",
    [ST_CURSOR_GET] = "SELECT value FROM stream_cursors WHERE stream = ?1",
    [ST_CURSOR_SET] = "INSERT INTO stream_cursors (stream, value, updated_at) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (stream) DO UPDATE SET value = excluded.value,"
                      " updated_at = excluded.updated_at",
    [ST_POLICY_VERSION] = "INSERT INTO policy_versions (hash, first_seen_at, files)"
                          " VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING",
    [ST_COUNT_POSTS] = "SELECT count(*) FROM posts",
    [ST_COUNT_DECISIONS] = "SELECT count(*) FROM decisions",
    [ST_COUNT_DELETED] = "SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL",
    [ST_COUNT_CURSORS] = "SELECT count(*) FROM stream_cursors",
    [ST_COUNT_POLICY_VERSIONS] = "SELECT count(*) FROM policy_versions",
};

struct sqlite_store {
    struct sb_store base; /* first: the public handle points here */
    sqlite3 *db;
    sqlite3_stmt *st[ST__N];
    bool in_tx;         /* we opened a transaction that is not committed yet */
    int pending;        /* writes in that transaction */
    int64_t lost;       /* writes rolled back since the last flush; flush reports them */
    struct sb_buf json; /* scratch for the JSON columns of one row */
    struct sb_sqlite_checkpointer *ckpt; /* background checkpoints, or NULL */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- errors and transactions ------------------------------------------------------------- */

/* A statement failed: describe it, and if SQLite rolled our open transaction back (it does on
 * I/O errors, SQLITE_FULL, SQLITE_NOMEM…) account the batch as lost so flush reports it. */
static enum sb_err fail_db(struct sqlite_store *ss, const char *what, struct sb_errbuf *eb)
{
    enum sb_err e = sb_errf(eb, SB_ERR_STORE, "sqlite: %s: %s", what, sqlite3_errmsg(ss->db));
    if (ss->in_tx && sqlite3_get_autocommit(ss->db)) {
        ss->lost += ss->pending;
        ss->in_tx = false;
        ss->pending = 0;
    }
    return e;
}

/* Run a parameterless cached statement (BEGIN/COMMIT/ROLLBACK) once. */
static int run_simple(struct sqlite_store *ss, enum stmt_id id)
{
    int rc = sqlite3_step(ss->st[id]);
    sqlite3_reset(ss->st[id]);
    return rc;
}

/* Make sure a write transaction is open. */
static enum sb_err tx_begin(struct sqlite_store *ss, struct sb_errbuf *eb)
{
    if (ss->in_tx && sqlite3_get_autocommit(ss->db)) {
        /* Rolled back behind our back (should have been seen by fail_db; be safe). */
        ss->lost += ss->pending;
        ss->in_tx = false;
        ss->pending = 0;
    }
    if (ss->in_tx)
        return SB_OK;
    if (run_simple(ss, ST_BEGIN) != SQLITE_DONE)
        return fail_db(ss, "begin", eb);
    ss->in_tx = true;
    ss->pending = 0;
    return SB_OK;
}

/* Commit the open transaction. On failure the batch is rolled back and counted as lost. */
static enum sb_err tx_commit(struct sqlite_store *ss, struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    if (!ss->in_tx)
        return SB_OK;
    if (run_simple(ss, ST_COMMIT) != SQLITE_DONE) {
        e = sb_errf(eb, SB_ERR_STORE, "sqlite: commit of %d writes failed: %s", ss->pending,
                    sqlite3_errmsg(ss->db));
        if (!sqlite3_get_autocommit(ss->db))
            run_simple(ss, ST_ROLLBACK);
        ss->lost += ss->pending;
    }
    ss->in_tx = false;
    ss->pending = 0;
    return e;
}

/* n writes (one unit: never split) went into the open transaction; commit when the batch is
 * full. */
static enum sb_err write_done_n(struct sqlite_store *ss, int n, struct sb_errbuf *eb)
{
    ss->pending += n;
    if (ss->pending >= ss->base.batch_max)
        return tx_commit(ss, eb);
    return SB_OK;
}

static enum sb_err write_done(struct sqlite_store *ss, struct sb_errbuf *eb)
{
    return write_done_n(ss, 1, eb);
}

/* An outbox state change went into the open transaction: commit now (store.h: outbox changes
 * are durable when the call returns), taking the rest of the batch with it — unless the owner
 * chose group commit for them (sb_store_set_outbox_sync). */
static enum sb_err write_commit(struct sqlite_store *ss, struct sb_errbuf *eb)
{
    if (!ss->base.outbox_sync)
        return write_done(ss, eb);
    ss->pending++;
    return tx_commit(ss, eb);
}

/* Undo a unit opened with ST_SAVEPOINT, keeping the rest of the batch; nothing to do when
 * SQLite already rolled the whole transaction back (fail_db counted that as lost). */
static void unit_abort(struct sqlite_store *ss)
{
    if (ss->in_tx && !sqlite3_get_autocommit(ss->db)) {
        run_simple(ss, ST_ROLLBACK_TO);
        run_simple(ss, ST_RELEASE);
    }
}

/* ---- binding helpers ------------------------------------------------------------------- */

/* Strings are bound SQLITE_STATIC: they are the caller's and outlive the step. */
static int bind_str(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static enum sb_err json_str_or_null(struct sb_buf *b, const char *s)
{
    return s ? sb_buf_json_str(b, s, strlen(s)) : sb_buf_puts(b, "null");
}

static enum sb_err json_str_array(struct sb_buf *b, const char *const *v, size_t n)
{
    enum sb_err e = sb_buf_putc(b, '[');
    for (size_t i = 0; !e && i < n; i++) {
        if (i)
            e = sb_buf_putc(b, ',');
        if (!e)
            e = json_str_or_null(b, v[i]);
    }
    return e ? e : sb_buf_putc(b, ']');
}

static enum sb_err json_mentions(struct sb_buf *b, const struct sb_mention *m, size_t n)
{
    enum sb_err e = sb_buf_putc(b, '[');
    for (size_t i = 0; !e && i < n; i++) {
        e = sb_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        if (!e)
            e = json_str_or_null(b, m[i].id);
        if (!e)
            e = sb_buf_puts(b, ",\"handle\":");
        if (!e)
            e = json_str_or_null(b, m[i].handle);
        if (!e)
            e = sb_buf_putc(b, '}');
    }
    return e ? e : sb_buf_putc(b, ']');
}

static enum sb_err json_error(struct sb_buf *b, const struct sb_policy_error *pe)
{
    enum sb_err e = sb_buf_puts(b, "{\"code\":");
    if (!e)
        e = json_str_or_null(b, sb_strerror(pe->code));
    if (!e)
        e = sb_buf_puts(b, ",\"message\":");
    if (!e)
        e = json_str_or_null(b, pe->message);
    if (!e)
        e = sb_buf_puts(b, ",\"file\":");
    if (!e)
        e = json_str_or_null(b, pe->file);
    if (!e)
        e = sb_buf_printf(b, ",\"line\":%d,\"traceback\":", pe->line);
    if (!e)
        e = json_str_or_null(b, pe->traceback);
    return e ? e : sb_buf_putc(b, '}');
}

/* ---- operations ------------------------------------------------------------------------ */

static enum sb_err sq_post_insert(struct sb_store *s, const struct sb_post *p, const char *raw,
                                  size_t raw_len, int64_t *post_rowid, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_POST_INSERT];
    const char *platform = sb_platform_name(p->platform);
    struct sb_buf *j = &ss->json;
    size_t tags_at, links_at;
    enum sb_err e;
    int rc;

    /* mentions, tags and links side by side in one scratch buffer, bound by offset */
    sb_buf_reset(j);
    e = json_mentions(j, p->mentions, p->n_mentions);
    tags_at = j->len;
    if (!e)
        e = json_str_array(j, p->tags, p->n_tags);
    links_at = j->len;
    if (!e)
        e = json_str_array(j, p->links, p->n_links);
    if (e) {
        e = sb_errf(eb, e, "store post insert: %s: mentions/tags/links too large", p->id);
        goto fail;
    }
    if ((e = tx_begin(ss, eb)) != SB_OK)
        goto fail;

    /* Dedupe inside the write transaction (it holds SQLite's write lock): look the key up,
     * compare the text, insert only when absent. */
    int64_t key = sb_store_key(platform, p->id);
    sqlite3_stmt *lk = ss->st[ST_POST_LOOKUP];
    rc = bind_str(lk, 1, platform);
    rc |= bind_str(lk, 2, p->id);
    rc |= sqlite3_bind_int64(lk, 3, key);
    int found = rc == SQLITE_OK ? sqlite3_step(lk) : SQLITE_ERROR;
    if (found == SQLITE_ROW) {
        if (post_rowid)
            *post_rowid = sqlite3_column_int64(lk, 0);
        sqlite3_reset(lk);
        e = sb_errf(eb, SB_ERR_DUP, "post %s:%s already recorded", platform, p->id);
        goto fail;
    }
    sqlite3_reset(lk);
    if (found != SQLITE_DONE) {
        e = fail_db(ss, "insert post: lookup", eb);
        goto fail;
    }

    rc = bind_str(st, 1, platform);
    rc |= bind_str(st, 2, p->id);
    rc |= bind_str(st, 3, p->cid);
    rc |= bind_str(st, 4, p->account);
    rc |= bind_str(st, 5, sb_post_kind_name(p->kind));
    rc |= bind_str(st, 6, p->author.id);
    rc |= bind_str(st, 7, p->author.handle);
    rc |= bind_str(st, 8, p->author.name);
    rc |= sqlite3_bind_int64(st, 9, p->author.followers);
    rc |= sqlite3_bind_int(st, 10, p->author.verified);
    rc |= sqlite3_bind_int(st, 11, p->author.bot);
    rc |= bind_str(st, 12, p->author.created_at);
    rc |= bind_str(st, 13, p->text);
    rc |= bind_str(st, 14, p->lang);
    rc |= bind_str(st, 15, p->url);
    rc |= bind_str(st, 16, p->created_at);
    rc |= sqlite3_bind_int64(st, 17, p->created_ms);
    rc |= bind_str(st, 18, p->visibility);
    rc |= bind_str(st, 19, p->thread);
    rc |= bind_str(st, 20, p->thread_cid);
    rc |= bind_str(st, 21, p->in_reply_to);
    rc |= bind_str(st, 22, p->in_reply_to_cid);
    rc |= sqlite3_bind_text(st, 23, j->data, (int)tags_at, SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, 24, j->data + tags_at, (int)(links_at - tags_at), SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, 25, j->data + links_at, (int)(j->len - links_at), SQLITE_STATIC);
    rc |= raw ? sqlite3_bind_text(st, 26, raw, (int)raw_len, SQLITE_STATIC)
              : sqlite3_bind_null(st, 26);
    rc |= sqlite3_bind_int64(st, 27, now_ms());
    rc |= sqlite3_bind_int64(st, 28, sb_store_key(platform, p->thread ? p->thread : p->id));
    rc |= sqlite3_bind_int64(st, 29, sb_store_key(platform, p->author.id));
    rc |= sqlite3_bind_int64(st, 30, key);
    if (rc != SQLITE_OK) {
        e = fail_db(ss, "insert post: bind", eb);
        goto fail;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        e = fail_db(ss, "insert post", eb);
        goto fail;
    }
    if (post_rowid)
        *post_rowid = sqlite3_last_insert_rowid(ss->db);
    sqlite3_reset(st);
    e = write_done(ss, eb);
fail:
    sqlite3_reset(st);
    return e;
}

static enum sb_err sq_post_mark_deleted(struct sb_store *s, enum sb_platform platform,
                                        const char *id, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_POST_DELETE];
    const char *pname = sb_platform_name(platform);
    enum sb_err e;
    int rc;

    if ((e = tx_begin(ss, eb)) != SB_OK)
        goto fail;
    rc = bind_str(st, 1, pname);
    rc |= bind_str(st, 2, id);
    rc |= sqlite3_bind_int64(st, 3, now_ms());
    rc |= sqlite3_bind_int64(st, 4, sb_store_key(pname, id));
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        e = fail_db(ss, "mark post deleted", eb);
        goto fail;
    }
    if (sqlite3_changes(ss->db) == 0) {
        e = sb_errf(eb, SB_ERR_NOTFOUND, "post %s:%s is not recorded", pname, id);
        goto fail;
    }
    sqlite3_reset(st);
    e = write_done(ss, eb);
fail:
    sqlite3_reset(st);
    return e;
}

/* Insert one effect of decision decision_id as a pending outbox row. A duplicate idem_key is
 * SB_ERR_DUP with *dup_decision (if non-NULL) set to the decision that enqueued it first. */
static enum sb_err outbox_insert(struct sqlite_store *ss, int64_t post_rowid, int64_t decision_id,
                                 const struct sb_effect *ef, int64_t due_at, int64_t *dup_decision,
                                 struct sb_errbuf *eb)
{
    sqlite3_stmt *st = ss->st[ST_OUTBOX_INSERT];
    int64_t now = now_ms();
    int rc = sqlite3_bind_int64(st, 1, post_rowid);
    rc |= sqlite3_bind_int64(st, 2, decision_id);
    rc |= bind_str(st, 3, sb_platform_name(ef->platform));
    rc |= bind_str(st, 4, ef->account);
    rc |= bind_str(st, 5, sb_effect_kind_name(ef->kind));
    rc |= bind_str(st, 6, ef->idem_key);
    rc |= bind_str(st, 7, ef->target_id);
    rc |= bind_str(st, 8, ef->target_cid);
    rc |= bind_str(st, 9, ef->root_id);
    rc |= bind_str(st, 10, ef->root_cid);
    rc |= bind_str(st, 11, ef->recipient_id);
    rc |= bind_str(st, 12, ef->recipient_handle);
    rc |= bind_str(st, 13, ef->text);
    rc |= sqlite3_bind_int64(st, 14, due_at);
    rc |= sqlite3_bind_int64(st, 15, now);
    if (rc != SQLITE_OK)
        return fail_db(ss, "insert outbox entry: bind", eb);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return SB_OK;
    if (rc != SQLITE_CONSTRAINT_UNIQUE)
        return fail_db(ss, "insert outbox entry", eb);

    sqlite3_stmt *lk = ss->st[ST_OUTBOX_BY_KEY];
    if (bind_str(lk, 1, ef->idem_key) == SQLITE_OK && sqlite3_step(lk) == SQLITE_ROW &&
        dup_decision)
        *dup_decision = sqlite3_column_int64(lk, 0);
    sqlite3_reset(lk);
    return sb_errf(eb, SB_ERR_DUP, "outbox: %s to %s:%s already recorded (key %s)",
                   sb_effect_kind_name(ef->kind), sb_platform_name(ef->platform), ef->target_id,
                   ef->idem_key);
}

static enum sb_err sq_decision_record(struct sb_store *s, int64_t post_rowid,
                                      const struct sb_decision *d, const struct sb_effect *effects,
                                      size_t n_effects, int64_t decided_at_ms, int64_t *decision_id,
                                      struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_DECISION_INSERT];
    struct sb_buf *j = &ss->json;
    bool escalate = d->action == SB_ACTION_ESCALATE;
    bool unit = false; /* a savepoint is open */
    size_t error_at;
    enum sb_err e;
    int rc;

    sb_buf_reset(j);
    e = json_str_array(j, d->reasons, (size_t)d->n_reasons);
    error_at = j->len;
    if (!e && d->error)
        e = json_error(j, d->error);
    if (e) {
        e = sb_errf(eb, e, "store decision insert: reasons/error too large");
        goto fail;
    }
    if ((e = tx_begin(ss, eb)) != SB_OK)
        goto fail;
    /* A lone decision is one statement, atomic by itself; with effects, a savepoint makes the
     * decision and its entries all-or-nothing without giving up the rest of the batch. */
    if (n_effects) {
        if (run_simple(ss, ST_SAVEPOINT) != SQLITE_DONE) {
            e = fail_db(ss, "decision record: savepoint", eb);
            goto fail;
        }
        unit = true;
    }

    rc = sqlite3_bind_int64(st, 1, post_rowid);
    rc |= bind_str(st, 2, sb_action_name(d->action));
    rc |= bind_str(st, 3, d->reply);
    rc |= bind_str(st, 4, d->message);
    /* queue and priority mean something only for escalate (as in sb_decision_to_json) */
    rc |= bind_str(st, 5, escalate ? d->queue : NULL);
    rc |= bind_str(st, 6, escalate ? sb_priority_name(d->priority) : NULL);
    rc |= sqlite3_bind_text(st, 7, j->data, (int)error_at, SQLITE_STATIC);
    rc |= d->error ? sqlite3_bind_text(st, 8, j->data + error_at, (int)(j->len - error_at),
                                       SQLITE_STATIC)
                   : sqlite3_bind_null(st, 8);
    rc |= bind_str(st, 9, d->policy_version);
    rc |= sqlite3_bind_int64(st, 10, d->latency_ns);
    rc |= sqlite3_bind_int64(st, 11, decided_at_ms);
    if (rc != SQLITE_OK) {
        e = fail_db(ss, "insert decision: bind", eb);
        goto fail;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        e = sb_errf(eb, SB_ERR_NOTFOUND, "decision for post row %lld: no such post",
                    (long long)post_rowid);
        goto fail;
    }
    if (rc != SQLITE_DONE) {
        e = fail_db(ss, "insert decision", eb);
        goto fail;
    }
    int64_t did = sqlite3_last_insert_rowid(ss->db);
    sqlite3_reset(st);

    for (size_t i = 0; i < n_effects; i++)
        if ((e = outbox_insert(ss, post_rowid, did, &effects[i], decided_at_ms, decision_id, eb)) !=
            SB_OK)
            goto fail;
    if (unit) {
        if (run_simple(ss, ST_RELEASE) != SQLITE_DONE) {
            e = fail_db(ss, "decision record: release", eb);
            goto fail;
        }
        unit = false;
    }
    if (decision_id)
        *decision_id = did;
    /* the unit counts whole, and the batch is checked only after it: a commit boundary never
     * falls between a decision and its outbox entries */
    e = write_done_n(ss, 1 + (int)n_effects, eb);
fail:
    sqlite3_reset(st);
    if (unit)
        unit_abort(ss);
    return e;
}

/* ---- outbox ---------------------------------------------------------------------------- */

static const char *state_name(enum sb_outbox_state st)
{
    return sb_store_outbox_state_name(st);
}

static enum sb_outbox_state state_from_text(const char *t)
{
    int st = sb_store_outbox_state_from_name(t);
    return st < 0 ? SB_OUTBOX_DEAD : (enum sb_outbox_state)st; /* CHECK: cannot happen */
}

/* Column i as text into dst[size], "" for NULL, cut on a UTF-8 boundary if too long. */
static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t size)
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

/* The current row (OUTBOX_COLS) into *e. */
static void read_entry(sqlite3_stmt *st, struct sb_outbox_entry *e)
{
    e->id = sqlite3_column_int64(st, 0);
    e->post_rowid = sqlite3_column_int64(st, 1);
    e->decision_id = sqlite3_column_int64(st, 2);
    e->platform = sb_platform_from_name((const char *)sqlite3_column_text(st, 3));
    copy_col(st, 4, e->account, sizeof e->account);
    int kind = sb_effect_kind_from_name((const char *)sqlite3_column_text(st, 5));
    e->kind = kind < 0 ? SB_EFFECT_PUBLIC_REPLY : (enum sb_effect_kind)kind;
    copy_col(st, 6, e->idem_key, sizeof e->idem_key);
    copy_col(st, 7, e->target_id, sizeof e->target_id);
    copy_col(st, 8, e->target_cid, sizeof e->target_cid);
    copy_col(st, 9, e->root_id, sizeof e->root_id);
    copy_col(st, 10, e->root_cid, sizeof e->root_cid);
    copy_col(st, 11, e->recipient_id, sizeof e->recipient_id);
    copy_col(st, 12, e->recipient_handle, sizeof e->recipient_handle);
    copy_col(st, 13, e->text, sizeof e->text);
    e->state = state_from_text((const char *)sqlite3_column_text(st, 14));
    e->attempts = sqlite3_column_int(st, 15);
    e->next_at = sqlite3_column_int64(st, 16);
    e->first_attempt_at = sqlite3_column_int64(st, 17);
    e->last_attempt_at = sqlite3_column_int64(st, 18);
    e->lease_until = sqlite3_column_int64(st, 19);
    e->last_status = sqlite3_column_int(st, 20);
    copy_col(st, 21, e->last_error, sizeof e->last_error);
    copy_col(st, 22, e->remote_id, sizeof e->remote_id);
    copy_col(st, 23, e->remote_cid, sizeof e->remote_cid);
    e->created_at = sqlite3_column_int64(st, 24);
    e->updated_at = sqlite3_column_int64(st, 25);
    e->reclaimed = false;
}

/* Step st (bound) and copy up to max rows into out. */
static enum sb_err read_entries(struct sqlite_store *ss, sqlite3_stmt *st, size_t max,
                                struct sb_outbox_entry *out, size_t *n, const char *what,
                                struct sb_errbuf *eb)
{
    int rc = SQLITE_DONE;
    size_t k = 0;
    while (k < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        read_entry(st, &out[k++]);
    sqlite3_reset(st);
    *n = k;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        *n = 0;
        return fail_db(ss, what, eb);
    }
    return SB_OK;
}

static enum sb_err sq_outbox_due(struct sb_store *s, int64_t at_ms, int64_t lease_ms, size_t max,
                                 struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *sel = ss->st[ST_OUTBOX_DUE], *claim = ss->st[ST_OUTBOX_CLAIM];
    bool began = !ss->in_tx, unit = false;
    int64_t lease_end = at_ms + lease_ms, wall = now_ms();
    size_t k = 0;
    enum sb_err e;
    int rc;

    /* select and claim under the write lock, so no other process claims the same rows; under a
     * savepoint, so a failure half-way leaves no claim behind in the open batch */
    if ((e = tx_begin(ss, eb)) != SB_OK)
        goto fail;
    if (run_simple(ss, ST_SAVEPOINT) != SQLITE_DONE) {
        e = fail_db(ss, "outbox due: savepoint", eb);
        goto fail;
    }
    unit = true;
    rc = sqlite3_bind_int64(sel, 1, at_ms);
    rc |= sqlite3_bind_int64(sel, 2, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    if (rc != SQLITE_OK) {
        e = fail_db(ss, "outbox due: bind", eb);
        goto fail;
    }
    /* read first, update after: the claim moves rows inside the index being scanned */
    if ((e = read_entries(ss, sel, max, out, &k, "outbox due", eb)) != SB_OK)
        goto fail;
    for (size_t i = 0; i < k; i++) {
        struct sb_outbox_entry *en = &out[i];
        rc = sqlite3_bind_int64(claim, 1, en->id);
        rc |= sqlite3_bind_int64(claim, 2, at_ms);
        rc |= sqlite3_bind_int64(claim, 3, lease_end);
        rc |= sqlite3_bind_int64(claim, 4, wall);
        if (rc != SQLITE_OK || sqlite3_step(claim) != SQLITE_DONE) {
            sqlite3_reset(claim);
            e = fail_db(ss, "outbox claim", eb);
            goto fail;
        }
        sqlite3_reset(claim);
        en->reclaimed = en->state == SB_OUTBOX_SENDING;
        en->state = SB_OUTBOX_SENDING;
        en->attempts++;
        if (!en->first_attempt_at)
            en->first_attempt_at = at_ms;
        en->last_attempt_at = at_ms;
        en->lease_until = en->next_at = lease_end;
        en->updated_at = wall;
    }
    if (run_simple(ss, ST_RELEASE) != SQLITE_DONE) {
        e = fail_db(ss, "outbox due: release", eb);
        goto fail;
    }
    unit = false;
    /* durable before anything is sent; an empty poll leaves the ingest batch alone */
    if (k > 0 && !ss->base.outbox_sync) {
        e = write_done_n(ss, (int)k, eb);
    } else if (k > 0) {
        ss->pending += (int)k;
        e = tx_commit(ss, eb);
    } else if (began) {
        e = tx_commit(ss, eb);
    }
    if (e)
        goto fail;
    *n = k;
    return SB_OK;
fail:
    if (unit)
        unit_abort(ss);
    /* a claim that is not durable did not happen: the caller must not send these */
    *n = 0;
    return e;
}

/* The update for entry id changed nothing: say why. SB_OK when the entry is already in
 * ok_state (an idempotent repeat), SB_ERR_NOTFOUND when there is no such entry, SB_ERR_INVAL
 * when its state does not allow the change. */
static enum sb_err unchanged(struct sqlite_store *ss, int64_t id, const char *what, int ok_state,
                             struct sb_errbuf *eb)
{
    sqlite3_stmt *st = ss->st[ST_OUTBOX_STATE];
    enum sb_err e;
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        enum sb_outbox_state cur = state_from_text((const char *)sqlite3_column_text(st, 0));
        e = (int)cur == ok_state ? SB_OK
                                 : sb_errf(eb, SB_ERR_INVAL, "outbox entry %lld is %s: cannot %s",
                                           (long long)id, state_name(cur), what);
    } else if (rc == SQLITE_DONE) {
        e = sb_errf(eb, SB_ERR_NOTFOUND, "outbox entry %lld does not exist", (long long)id);
    } else {
        e = fail_db(ss, "outbox state", eb);
    }
    sqlite3_reset(st);
    return e;
}

/* Run a bound outbox update on entry id; commit it when it changed the row, else explain. */
static enum sb_err outbox_update(struct sqlite_store *ss, sqlite3_stmt *st, int rc, int64_t id,
                                 const char *what, int ok_state, struct sb_errbuf *eb)
{
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_reset(st);
        return fail_db(ss, what, eb);
    }
    sqlite3_reset(st);
    if (sqlite3_changes(ss->db) == 0)
        return unchanged(ss, id, what, ok_state, eb);
    return write_commit(ss, eb);
}

static int bind_status(sqlite3_stmt *st, int i, int status)
{
    return status ? sqlite3_bind_int(st, i, status) : sqlite3_bind_null(st, i);
}

static enum sb_err sq_outbox_sent(struct sb_store *s, int64_t id, const char *remote_id,
                                  const char *remote_cid, int status, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_SENT];
    enum sb_err e = tx_begin(ss, eb);
    if (e)
        return e;
    int rc = sqlite3_bind_int64(st, 1, id);
    rc |= bind_str(st, 2, remote_id);
    rc |= bind_str(st, 3, remote_cid);
    rc |= bind_status(st, 4, status);
    rc |= sqlite3_bind_int64(st, 5, now_ms());
    return outbox_update(ss, st, rc, id, "mark sent", SB_OUTBOX_SENT, eb);
}

static enum sb_err sq_outbox_retry(struct sb_store *s, int64_t id, int64_t next_at_ms, int status,
                                   const char *error, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_RETRY];
    enum sb_err e = tx_begin(ss, eb);
    if (e)
        return e;
    int rc = sqlite3_bind_int64(st, 1, id);
    rc |= sqlite3_bind_int64(st, 2, next_at_ms);
    rc |= bind_status(st, 3, status);
    rc |= bind_str(st, 4, error);
    rc |= sqlite3_bind_int64(st, 5, now_ms());
    return outbox_update(ss, st, rc, id, "schedule a retry", -1, eb);
}

static enum sb_err sq_outbox_fail(struct sb_store *s, int64_t id, enum sb_outbox_state state,
                                  int status, const char *error, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_FAIL];
    char what[32];
    enum sb_err e = tx_begin(ss, eb);
    if (e)
        return e;
    snprintf(what, sizeof what, "become %s", state_name(state));
    int rc = sqlite3_bind_int64(st, 1, id);
    rc |= bind_str(st, 2, state_name(state));
    rc |= bind_status(st, 3, status);
    rc |= bind_str(st, 4, error);
    rc |= sqlite3_bind_int64(st, 5, now_ms());
    return outbox_update(ss, st, rc, id, what, -1, eb);
}

static enum sb_err sq_outbox_requeue(struct sb_store *s, int64_t id, int64_t next_at_ms,
                                     struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_REQUEUE];
    enum sb_err e = tx_begin(ss, eb);
    if (e)
        return e;
    int rc = sqlite3_bind_int64(st, 1, id);
    rc |= sqlite3_bind_int64(st, 2, next_at_ms);
    rc |= sqlite3_bind_int64(st, 3, now_ms());
    return outbox_update(ss, st, rc, id, "requeue", -1, eb);
}

static enum sb_err sq_outbox_cancel_for_post(struct sb_store *s, enum sb_platform platform,
                                             const char *post_id, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_CANCEL];
    const char *pname = sb_platform_name(platform);
    enum sb_err e = tx_begin(ss, eb);
    if (e)
        return e;
    int rc = bind_str(st, 1, pname);
    rc |= bind_str(st, 2, post_id);
    rc |= sqlite3_bind_int64(st, 3, sb_store_key(pname, post_id));
    rc |= sqlite3_bind_int64(st, 4, now_ms());
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_reset(st);
        return fail_db(ss, "cancel outbox entries", eb);
    }
    sqlite3_reset(st);
    return write_commit(ss, eb);
}

static enum sb_err sq_outbox_list(struct sb_store *s, enum sb_outbox_state state, size_t max,
                                  struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    bool all = state == SB_OUTBOX_ANY;
    sqlite3_stmt *st = ss->st[all ? ST_OUTBOX_LIST_ALL : ST_OUTBOX_LIST_STATE];
    int rc = all ? SQLITE_OK : bind_str(st, 1, state_name(state));
    rc |= sqlite3_bind_int64(st, 2, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    if (rc != SQLITE_OK) {
        sqlite3_reset(st);
        return fail_db(ss, "outbox list: bind", eb);
    }
    return read_entries(ss, st, max, out, n, "outbox list", eb);
}

static enum sb_err sq_outbox_get(struct sb_store *s, int64_t id, struct sb_outbox_entry *out,
                                 struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_GET];
    size_t n = 0;
    enum sb_err e;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
        sqlite3_reset(st);
        return fail_db(ss, "outbox get: bind", eb);
    }
    if ((e = read_entries(ss, st, 1, out, &n, "outbox get", eb)) != SB_OK)
        return e;
    return n ? SB_OK
             : sb_errf(eb, SB_ERR_NOTFOUND, "outbox entry %lld does not exist", (long long)id);
}

static enum sb_err sq_outbox_count(struct sb_store *s, enum sb_outbox_state state, int64_t *n,
                                   struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    bool all = state == SB_OUTBOX_ANY;
    sqlite3_stmt *st = ss->st[all ? ST_OUTBOX_COUNT_ALL : ST_OUTBOX_COUNT_STATE];
    enum sb_err e = SB_OK;
    int rc = all ? SQLITE_OK : bind_str(st, 1, state_name(state));
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        e = fail_db(ss, "outbox count", eb);
    sqlite3_reset(st);
    return e;
}

static enum sb_err sq_cursor_get(struct sb_store *s, const char *stream, int64_t *value,
                                 struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_CURSOR_GET];
    enum sb_err e = SB_OK;
    int rc = bind_str(st, 1, stream);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        e = sb_errf(eb, SB_ERR_NOTFOUND, "cursor %s is not set", stream);
    else
        e = fail_db(ss, "get cursor", eb);
    sqlite3_reset(st);
    return e;
}

static enum sb_err sq_cursor_set(struct sb_store *s, const char *stream, int64_t value,
                                 struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_CURSOR_SET];
    enum sb_err e;
    int rc;

    if ((e = tx_begin(ss, eb)) != SB_OK)
        goto fail;
    rc = bind_str(st, 1, stream);
    rc |= sqlite3_bind_int64(st, 2, value);
    rc |= sqlite3_bind_int64(st, 3, now_ms());
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        e = fail_db(ss, "set cursor", eb);
        goto fail;
    }
    sqlite3_reset(st);
    e = write_done(ss, eb);
fail:
    sqlite3_reset(st);
    return e;
}

static enum sb_err sq_policy_version_record(struct sb_store *s, const char *hash,
                                            const char *files_json, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_POLICY_VERSION];
    enum sb_err e;
    int rc;

    if ((e = tx_begin(ss, eb)) != SB_OK)
        goto fail;
    rc = bind_str(st, 1, hash);
    rc |= sqlite3_bind_int64(st, 2, now_ms());
    rc |= bind_str(st, 3, files_json);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        e = fail_db(ss, "record policy version", eb);
        goto fail;
    }
    bool inserted = sqlite3_changes(ss->db) > 0;
    sqlite3_reset(st);
    if (inserted)
        e = write_done(ss, eb);
fail:
    sqlite3_reset(st);
    return e;
}

static enum sb_err sq_count(struct sb_store *s, enum sb_store_count_kind what, int64_t *n,
                            struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_COUNT_POSTS + (int)what];
    enum sb_err e = SB_OK;

    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        e = fail_db(ss, "count", eb);
    sqlite3_reset(st);
    return e;
}

static enum sb_err sq_flush(struct sb_store *s, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    enum sb_err e = tx_commit(ss, eb);

    if (ss->lost) {
        if (e == SB_OK)
            e = sb_errf(eb, SB_ERR_STORE,
                        "sqlite: %lld earlier writes were rolled back; re-fetch from the last"
                        " acknowledged position",
                        (long long)ss->lost);
        ss->lost = 0;
    }
    return e;
}

/* Release everything; tolerates a half-opened store. */
static void destroy(struct sqlite_store *ss)
{
    sb_sqlite_checkpointer_stop(ss->ckpt);
    for (int i = 0; i < ST__N; i++)
        sqlite3_finalize(ss->st[i]);
    if (ss->db)
        sqlite3_close(ss->db);
    sb_buf_free(&ss->json);
    free(ss);
}

static void sq_close(struct sb_store *s)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    if (ss->in_tx)
        tx_commit(ss, NULL);
    /* Cheap, and keeps the planner's statistics fresh for long-lived files. */
    sqlite3_exec(ss->db, "PRAGMA optimize", NULL, NULL, NULL);
    destroy(ss);
}

static enum sb_err exec_sql(sqlite3 *db, const char *sql, const char *what, struct sb_errbuf *eb);

static enum sb_err sq_background_checkpoints(struct sb_store *s, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    const char *file = sqlite3_db_filename(ss->db, "main");
    if (ss->ckpt || !file || !*file)
        return SB_OK; /* already on, or an in-memory database */
    ss->ckpt = sb_sqlite_checkpointer_start(file, 200);
    if (!ss->ckpt)
        return sb_errf(eb, SB_ERR_STORE, "sqlite: cannot start the checkpoint thread");
    return exec_sql(ss->db, "PRAGMA wal_autocheckpoint = 0", "wal_autocheckpoint", eb);
}

static const struct sb_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .background_checkpoints = sq_background_checkpoints,
    .flush = sq_flush,
    .post_insert = sq_post_insert,
    .post_mark_deleted = sq_post_mark_deleted,
    .decision_record = sq_decision_record,
    .outbox_due = sq_outbox_due,
    .outbox_sent = sq_outbox_sent,
    .outbox_retry = sq_outbox_retry,
    .outbox_fail = sq_outbox_fail,
    .outbox_requeue = sq_outbox_requeue,
    .outbox_cancel_for_post = sq_outbox_cancel_for_post,
    .outbox_list = sq_outbox_list,
    .outbox_get = sq_outbox_get,
    .outbox_count = sq_outbox_count,
    .cursor_get = sq_cursor_get,
    .cursor_set = sq_cursor_set,
    .policy_version_record = sq_policy_version_record,
    .count = sq_count,
};

/* ---- open and migrate ------------------------------------------------------------------ */

static enum sb_err exec_sql(sqlite3 *db, const char *sql, const char *what, struct sb_errbuf *eb)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return SB_OK;
    enum sb_err e =
        sb_errf(eb, SB_ERR_STORE, "sqlite: %s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return e;
}

/* First column of the first row of sql, as an integer (PRAGMA user_version & co). */
static enum sb_err query_int(sqlite3 *db, const char *sql, int64_t *out, struct sb_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    enum sb_err e = SB_OK;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        e = sb_errf(eb, SB_ERR_STORE, "sqlite: %s: %s", sql, sqlite3_errmsg(db));
        goto fail;
    }
    *out = sqlite3_column_int64(st, 0);
fail:
    sqlite3_finalize(st);
    return e;
}

/* Refuse a file that another program (or a newer switchboard) wrote. Runs inside the
 * migration transaction so the answer cannot change under us. */
static enum sb_err check_ownership(sqlite3 *db, const char *path, int64_t version,
                                   struct sb_errbuf *eb)
{
    int64_t app_id = 0, objects = 0;
    enum sb_err e = query_int(db, "PRAGMA application_id", &app_id, eb);
    if (!e && version == 0)
        e = query_int(db, "SELECT count(*) FROM sqlite_schema", &objects, eb);
    if (e)
        return e;
    if (version > sb_store_sqlite_migrations_count)
        return sb_errf(eb, SB_ERR_SCHEMA,
                       "store %s has schema version %lld but this switchboard knows only up to"
                       " %d: upgrade switchboard (or restore a backup)",
                       path, (long long)version, sb_store_sqlite_migrations_count);
    if ((version > 0 || objects > 0) && app_id != SB_SQLITE_APPLICATION_ID)
        return sb_errf(eb, SB_ERR_SCHEMA, "store %s is not a switchboard database", path);
    return SB_OK;
}

/* Apply every migration the file lacks, each in its own IMMEDIATE transaction with its
 * user_version bump; re-reading the version under the write lock makes two processes opening
 * the same file at once safe. */
static enum sb_err migrate(sqlite3 *db, const char *path, int *version_out, struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    bool in_tx = false;
    int64_t v = 0;
    char what[64], bump[48];

    for (;;) {
        if ((e = exec_sql(db, "BEGIN IMMEDIATE", "migrate: begin", eb)) != SB_OK)
            goto fail;
        in_tx = true;
        if ((e = query_int(db, "PRAGMA user_version", &v, eb)) != SB_OK ||
            (e = check_ownership(db, path, v, eb)) != SB_OK)
            goto fail;
        if (v == sb_store_sqlite_migrations_count)
            break;
        snprintf(what, sizeof what, "migration %lld", (long long)v + 1);
        snprintf(bump, sizeof bump, "PRAGMA user_version = %lld", (long long)v + 1);
        if ((e = exec_sql(db, sb_store_sqlite_migrations[v], what, eb)) != SB_OK ||
            (e = exec_sql(db, bump, what, eb)) != SB_OK ||
            (e = exec_sql(db, "COMMIT", what, eb)) != SB_OK)
            goto fail;
        in_tx = false;
    }
    e = exec_sql(db, "COMMIT", "migrate: commit", eb);
    in_tx = false;
    *version_out = (int)v;
fail:
    if (in_tx && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

static const char *sync_pragma(enum sb_store_sync s)
{
    switch (s) {
    case SB_STORE_SYNC_NORMAL:
        return "PRAGMA synchronous = NORMAL";
    case SB_STORE_SYNC_EXTRA:
        return "PRAGMA synchronous = EXTRA";
    case SB_STORE_SYNC_FULL:
        break;
    }
    return "PRAGMA synchronous = FULL";
}

enum sb_err sb_store_sqlite_open(const char *path, const struct sb_store_config *cfg,
                                 struct sb_store **out, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = calloc(1, sizeof *ss);
    sqlite3_stmt *jm = NULL;
    enum sb_err e = SB_OK;

    if (!ss) {
        e = sb_errf(eb, SB_ERR_NOMEM, "store open: out of memory");
        goto fail;
    }
    ss->base.ops = &sqlite_ops;
    ss->base.batch_max = cfg->batch_max < 1 ? 1 : cfg->batch_max;
    ss->base.outbox_sync = true;
    sb_buf_init(&ss->json, SCRATCH_MAX);

    if (sqlite3_open_v2(path, &ss->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        e = sb_errf(eb, SB_ERR_STORE, "sqlite: open %s: %s", path,
                    ss->db ? sqlite3_errmsg(ss->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(ss->db, 1);
    sqlite3_busy_timeout(ss->db, cfg->busy_timeout_ms);

    /* WAL: readers never block the writer, and a commit is one sequential append (+ fsync
     * under synchronous=FULL). A ":memory:" database has no file and reports "memory". */
    const char *file = sqlite3_db_filename(ss->db, "main");
    /* Page size of a new, empty database (it must come before WAL is switched on). 4 KiB by
     * default: the live service commits small transactions often, and every page it touches
     * is written whole. Bulk stores (replay) gain from 16 KiB: ?page_size=16384. */
    char pgs[48];
    snprintf(pgs, sizeof pgs, "PRAGMA page_size = %d", cfg->page_size ? cfg->page_size : 4096);
    if ((e = exec_sql(ss->db, pgs, "page_size", eb)) != SB_OK)
        goto fail;
    if (file && *file) {
        if (sqlite3_prepare_v2(ss->db, "PRAGMA journal_mode = WAL", -1, &jm, NULL) != SQLITE_OK ||
            sqlite3_step(jm) != SQLITE_ROW) {
            e = sb_errf(eb, SB_ERR_STORE, "sqlite: %s: %s", path, sqlite3_errmsg(ss->db));
            goto fail;
        }
        const char *mode = (const char *)sqlite3_column_text(jm, 0);
        if (!mode || strcmp(mode, "wal") != 0) {
            e = sb_errf(eb, SB_ERR_STORE, "sqlite: %s: cannot use WAL (journal mode is %s)", path,
                        mode ? mode : "unknown");
            goto fail;
        }
        sqlite3_finalize(jm); /* an unfinished statement would block the migrations' COMMIT */
        jm = NULL;
    }
    if ((e = exec_sql(ss->db, "PRAGMA foreign_keys = ON", "foreign_keys", eb)) != SB_OK ||
        (e = exec_sql(ss->db, sync_pragma(cfg->sync), "synchronous", eb)) != SB_OK ||
        /* 16 MiB of page cache keeps the dedupe index hot while a large batch lands; the
         * default 2 MiB made every insert re-read index pages from the OS. */
        (e = exec_sql(ss->db, "PRAGMA cache_size = -16384", "cache_size", eb)) != SB_OK ||
        (e = migrate(ss->db, path, &ss->base.schema_version, eb)) != SB_OK)
        goto fail;

    for (int i = 0; i < ST__N; i++) {
        if (sqlite3_prepare_v3(ss->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &ss->st[i],
                               NULL) != SQLITE_OK) {
            e = sb_errf(eb, SB_ERR_STORE, "sqlite: prepare '%s': %s", stmt_sql[i],
                        sqlite3_errmsg(ss->db));
            goto fail;
        }
    }
    *out = &ss->base;
    ss = NULL;
fail:
    sqlite3_finalize(jm);
    if (ss)
        destroy(ss);
    return e;
}
