/* sqlite.c — the SQLite store backend: connection setup (WAL, synchronous, busy timeout,
 * foreign keys), versioned migrations (sqlite_migrations.c, tracked by PRAGMA user_version),
 * prepared statements cached on the store, group commit (writes accumulate in one open
 * transaction committed every batch_max writes or on flush; a decision and its outbox entries
 * are one unit inside it, under a savepoint), and the posts, decisions, stream cursors and
 * policy versions tables. The outbox table's operations live in sqlite_outbox.c, those of
 * agents, sessions and cases in sqlite_cases.c, on top of the transaction helpers here;
 * sqlite_internal.h is what they share.
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

#include "util/buf.h"

#define SB_SQLITE_APPLICATION_ID 1396863588 /* 'SBrd', set by migration 1 */
#define SCRATCH_MAX (4u << 20)              /* JSON columns of one row */

/* Prepared once at open (after migrating), reused for the life of the store; the outbox's
 * (ST_OUTBOX_*) are in sqlite_outbox.c, the cases' in sqlite_cases.c. */
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
    [ST_POST_EDIT] = "UPDATE posts SET text = ?3, lang = ?5, raw = coalesce(?6, raw)"
                     " WHERE post_key = ?4 AND platform = ?1 AND post_id = ?2",
    [ST_DECISION_INSERT] =
        "INSERT INTO decisions (post_rowid, action, reply, message, queue, priority, reasons,"
        " error, policy_version, latency_ns, decided_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_SAVEPOINT] = "SAVEPOINT sb_unit",
    [ST_RELEASE] = "RELEASE sb_unit",
    [ST_ROLLBACK_TO] = "ROLLBACK TO sb_unit",
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
    /* through posts_author (author_key), then the text is compared */
    /* capped at SB_STORE_HISTORY_CAP posts so a prolific author costs the same as anyone */
    [ST_AUTHOR_HISTORY] =
        "SELECT count(*),"
        " coalesce(sum(EXISTS (SELECT 1 FROM decisions d WHERE d.post_rowid = r.id"
        "  AND d.action IN ('acknowledge', 'move_to_private'))), 0),"
        " coalesce(sum(EXISTS (SELECT 1 FROM decisions d WHERE d.post_rowid = r.id"
        "  AND d.action = 'escalate')), 0)"
        " FROM (SELECT p.id AS id FROM posts p WHERE p.author_key = ?1 AND p.platform = ?2"
        "  AND p.author_id = ?3 AND p.created_ms >= ?4 AND p.id <> ?5"
        "  ORDER BY p.id DESC LIMIT ?6) AS r",
};

/* ---- errors and transactions ----------------------------------------------------------- */

/* A statement failed: describe it, and if SQLite rolled our open transaction back (it does on
 * I/O errors, SQLITE_FULL, SQLITE_NOMEM…) account the batch as lost so flush reports it. */
enum sb_err sb_sqlite_fail_db(struct sqlite_store *ss, const char *what, struct sb_errbuf *eb)
{
    enum sb_err e = sb_errf(eb, SB_ERR_STORE, "sqlite: %s: %s", what, sqlite3_errmsg(ss->db));
    if (ss->in_tx && sqlite3_get_autocommit(ss->db)) {
        ss->lost += ss->pending;
        ss->in_tx = false;
        ss->pending = 0;
    }
    return e;
}

/* Make sure a write transaction is open. */
enum sb_err sb_sqlite_tx_begin(struct sqlite_store *ss, struct sb_errbuf *eb)
{
    if (ss->in_tx && sqlite3_get_autocommit(ss->db)) {
        /* Rolled back behind our back (should have been seen by sb_sqlite_fail_db; be safe). */
        ss->lost += ss->pending;
        ss->in_tx = false;
        ss->pending = 0;
    }
    if (ss->in_tx)
        return SB_OK;
    if (run_simple(ss, ST_BEGIN) != SQLITE_DONE)
        return sb_sqlite_fail_db(ss, "begin", eb);
    ss->in_tx = true;
    ss->pending = 0;
    return SB_OK;
}

/* Commit the open transaction. On failure the batch is rolled back and counted as lost. */
enum sb_err sb_sqlite_tx_commit(struct sqlite_store *ss, struct sb_errbuf *eb)
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
enum sb_err sb_sqlite_write_done_n(struct sqlite_store *ss, int n, struct sb_errbuf *eb)
{
    ss->pending += n;
    if (ss->pending >= ss->base.batch_max)
        return sb_sqlite_tx_commit(ss, eb);
    return SB_OK;
}

static enum sb_err write_done(struct sqlite_store *ss, struct sb_errbuf *eb)
{
    return sb_sqlite_write_done_n(ss, 1, eb);
}

/* Undo a unit opened with ST_SAVEPOINT, keeping the rest of the batch; nothing to do when
 * SQLite already rolled the whole transaction back (sb_sqlite_fail_db counted that as lost). */
void sb_sqlite_unit_abort(struct sqlite_store *ss)
{
    if (ss->in_tx && !sqlite3_get_autocommit(ss->db)) {
        run_simple(ss, ST_ROLLBACK_TO);
        run_simple(ss, ST_RELEASE);
    }
}

/* ---- JSON columns ---------------------------------------------------------------------- */

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
    if ((e = sb_sqlite_tx_begin(ss, eb)) != SB_OK)
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
        e = sb_sqlite_fail_db(ss, "insert post: lookup", eb);
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
        e = sb_sqlite_fail_db(ss, "insert post: bind", eb);
        goto fail;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "insert post", eb);
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

/* Run a bound UPDATE of one post (rc: the binding's result): SB_ERR_NOTFOUND when no row
 * matched, else the write counts towards the batch. st is reset. */
static enum sb_err post_update(struct sqlite_store *ss, sqlite3_stmt *st, int rc, const char *what,
                               const char *pname, const char *id, struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        e = sb_sqlite_fail_db(ss, what, eb);
    else if (sqlite3_changes(ss->db) == 0)
        e = sb_errf(eb, SB_ERR_NOTFOUND, "post %s:%s is not recorded", pname, id);
    sqlite3_reset(st);
    return e ? e : write_done(ss, eb);
}

static enum sb_err sq_post_edit(struct sb_store *s, const struct sb_post *p, const char *raw,
                                size_t raw_len, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_POST_EDIT];
    const char *pname = sb_platform_name(p->platform);
    enum sb_err e;
    int rc;

    if ((e = sb_sqlite_tx_begin(ss, eb)) != SB_OK)
        goto fail;
    rc = bind_str(st, 1, pname);
    rc |= bind_str(st, 2, p->id);
    rc |= bind_str(st, 3, p->text);
    rc |= sqlite3_bind_int64(st, 4, sb_store_key(pname, p->id));
    rc |= bind_str(st, 5, p->lang);
    rc |=
        raw ? sqlite3_bind_text(st, 6, raw, (int)raw_len, SQLITE_STATIC) : sqlite3_bind_null(st, 6);
    return post_update(ss, st, rc, "edit post", pname, p->id, eb);
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

    if ((e = sb_sqlite_tx_begin(ss, eb)) != SB_OK)
        goto fail;
    rc = bind_str(st, 1, pname);
    rc |= bind_str(st, 2, id);
    rc |= sqlite3_bind_int64(st, 3, now_ms());
    rc |= sqlite3_bind_int64(st, 4, sb_store_key(pname, id));
    return post_update(ss, st, rc, "mark post deleted", pname, id, eb);
fail:
    sqlite3_reset(st);
    return e;
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
    if ((e = sb_sqlite_tx_begin(ss, eb)) != SB_OK)
        goto fail;
    /* A lone decision is one statement, atomic by itself; with effects, a savepoint makes the
     * decision and its entries all-or-nothing without giving up the rest of the batch. */
    if (n_effects) {
        if (run_simple(ss, ST_SAVEPOINT) != SQLITE_DONE) {
            e = sb_sqlite_fail_db(ss, "decision record: savepoint", eb);
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
        e = sb_sqlite_fail_db(ss, "insert decision: bind", eb);
        goto fail;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        e = sb_errf(eb, SB_ERR_NOTFOUND, "decision for post row %lld: no such post",
                    (long long)post_rowid);
        goto fail;
    }
    if (rc != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "insert decision", eb);
        goto fail;
    }
    int64_t did = sqlite3_last_insert_rowid(ss->db);
    sqlite3_reset(st);

    for (size_t i = 0; i < n_effects; i++)
        if ((e = sb_sqlite_outbox_insert(ss, post_rowid, did, &effects[i], decided_at_ms,
                                         decision_id, eb)) != SB_OK)
            goto fail;
    if (unit) {
        if (run_simple(ss, ST_RELEASE) != SQLITE_DONE) {
            e = sb_sqlite_fail_db(ss, "decision record: release", eb);
            goto fail;
        }
        unit = false;
    }
    if (decision_id)
        *decision_id = did;
    /* the unit counts whole, and the batch is checked only after it: a commit boundary never
     * falls between a decision and its outbox entries */
    e = sb_sqlite_write_done_n(ss, 1 + (int)n_effects, eb);
fail:
    sqlite3_reset(st);
    if (unit)
        sb_sqlite_unit_abort(ss);
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
        e = sb_sqlite_fail_db(ss, "get cursor", eb);
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

    if ((e = sb_sqlite_tx_begin(ss, eb)) != SB_OK)
        goto fail;
    rc = bind_str(st, 1, stream);
    rc |= sqlite3_bind_int64(st, 2, value);
    rc |= sqlite3_bind_int64(st, 3, now_ms());
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "set cursor", eb);
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

    if ((e = sb_sqlite_tx_begin(ss, eb)) != SB_OK)
        goto fail;
    rc = bind_str(st, 1, hash);
    rc |= sqlite3_bind_int64(st, 2, now_ms());
    rc |= bind_str(st, 3, files_json);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "record policy version", eb);
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
        e = sb_sqlite_fail_db(ss, "count", eb);
    sqlite3_reset(st);
    return e;
}

static enum sb_err sq_flush(struct sb_store *s, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    enum sb_err e = sb_sqlite_tx_commit(ss, eb);

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
    sb_sqlite_cases_close(ss);
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
        sb_sqlite_tx_commit(ss, NULL);
    /* Cheap, and keeps the planner's statistics fresh for long-lived files. */
    sqlite3_exec(ss->db, "PRAGMA optimize", NULL, NULL, NULL);
    destroy(ss);
}

static enum sb_err exec_sql(sqlite3 *db, const char *sql, const char *what, struct sb_errbuf *eb);

static enum sb_err sq_author_history(struct sb_store *s, enum sb_platform platform,
                                     const char *author_id, int64_t since_ms, int64_t exclude_rowid,
                                     struct sb_author_history *h, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_AUTHOR_HISTORY];
    const char *pname = sb_platform_name(platform);
    int rc = sqlite3_bind_int64(st, 1, sb_store_key(pname, author_id));
    rc |= bind_str(st, 2, pname);
    rc |= bind_str(st, 3, author_id);
    rc |= sqlite3_bind_int64(st, 4, since_ms);
    rc |= sqlite3_bind_int64(st, 5, exclude_rowid);
    rc |= sqlite3_bind_int64(st, 6, SB_STORE_HISTORY_CAP);
    enum sb_err e = SB_OK;
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        e = sb_sqlite_fail_db(ss, "author history", eb);
    } else {
        h->posts = sqlite3_column_int64(st, 0);
        h->answered = sqlite3_column_int64(st, 1);
        h->escalated = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    return e;
}

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
    .author_history = sq_author_history,
    .outbox_post_counts = sb_sqlite_outbox_post_counts,
    .flush = sq_flush,
    .post_insert = sq_post_insert,
    .post_mark_deleted = sq_post_mark_deleted,
    .post_edit = sq_post_edit,
    .decision_record = sq_decision_record,
    .outbox_due = sb_sqlite_outbox_due,
    .outbox_sent = sb_sqlite_outbox_sent,
    .outbox_retry = sb_sqlite_outbox_retry,
    .outbox_fail = sb_sqlite_outbox_fail,
    .outbox_requeue = sb_sqlite_outbox_requeue,
    .outbox_cancel_for_post = sb_sqlite_outbox_cancel_for_post,
    .outbox_list = sb_sqlite_outbox_list,
    .outbox_get = sb_sqlite_outbox_get,
    .outbox_by_remote = sb_sqlite_outbox_by_remote,
    .outbox_count = sb_sqlite_outbox_count,
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
    ss->base.case_ops = &sb_sqlite_case_ops;
    ss->base.batch_max = cfg->batch_max < 1 ? 1 : cfg->batch_max;
    ss->base.outbox_sync = true;
    ss->base.case_sync = true;
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
        const char *sql = stmt_sql[i] ? stmt_sql[i] : sb_sqlite_outbox_sql((enum stmt_id)i);
        if (!sql)
            sql = sb_sqlite_cases_sql((enum stmt_id)i);
        if (sqlite3_prepare_v3(ss->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &ss->st[i], NULL) !=
            SQLITE_OK) {
            e = sb_errf(eb, SB_ERR_STORE, "sqlite: prepare '%s': %s", sql, sqlite3_errmsg(ss->db));
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
