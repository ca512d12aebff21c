/* sqlite_outbox.c — the SQLite backend's outbox table: inserting a decision's effects as pending
 * entries (inside sqlite.c's decision unit), claiming due entries under a lease, their state
 * changes (committed at once unless the owner chose group commit: sb_store_set_outbox_sync), and
 * reading entries back for the console and tests (sb_store_outbox_for_post of store/cases.h
 * too).
 *
 * Used from one thread, like the rest of the backend. Depends on sqlite.c for the connection,
 * the statement cache and the transaction helpers (sqlite_internal.h), on libsqlite3 and on the
 * core's name tables (sb_platform_name & co). */
#include "store/sqlite_internal.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The columns of an outbox row in the order read_entry expects. */
#define OUTBOX_COLS                                                                                \
    "id, post_rowid, decision_id, platform, account, kind, idem_key, target_id, target_cid,"       \
    " root_id, root_cid, recipient_id, recipient_handle, text, state, attempts, next_at,"          \
    " first_attempt_at, last_attempt_at, lease_until, last_status, last_error, remote_id,"         \
    " remote_cid, created_at, updated_at"

/* The outbox's cached statements, prepared by sqlite.c at open with the others. */
static const char *const outbox_sql[ST__N] = {
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
    [ST_OUTBOX_BY_REMOTE] = "SELECT " OUTBOX_COLS " FROM outbox WHERE remote_id = ?2"
                            " AND platform = ?1 ORDER BY id LIMIT 1",
    [ST_OUTBOX_LIST_STATE] = "SELECT " OUTBOX_COLS " FROM outbox WHERE state = ?1"
                             " ORDER BY id DESC LIMIT ?2",
    [ST_OUTBOX_LIST_ALL] = "SELECT " OUTBOX_COLS " FROM outbox ORDER BY id DESC LIMIT ?2",
    [ST_OUTBOX_COUNT_STATE] = "SELECT count(*) FROM outbox WHERE state = ?1",
    [ST_OUTBOX_COUNT_ALL] = "SELECT count(*) FROM outbox",
    /* through outbox_post */
    [ST_OUTBOX_FOR_POST] = "SELECT " OUTBOX_COLS " FROM outbox WHERE post_rowid = ?1"
                           " ORDER BY id LIMIT ?2",
};

const char *sb_sqlite_outbox_sql(enum stmt_id id)
{
    return outbox_sql[id];
}

/* ---- helpers --------------------------------------------------------------------------- */

/* An outbox state change went into the open transaction: commit now (store.h: outbox changes
 * are durable when the call returns), taking the rest of the batch with it — unless the owner
 * chose group commit for them (sb_store_set_outbox_sync). */
static enum sb_err write_commit(struct sqlite_store *ss, struct sb_errbuf *eb)
{
    if (!ss->base.outbox_sync)
        return sb_sqlite_write_done_n(ss, 1, eb);
    ss->pending++;
    return sb_sqlite_tx_commit(ss, eb);
}

static const char *state_name(enum sb_outbox_state st)
{
    return sb_store_outbox_state_name(st);
}

static enum sb_outbox_state state_from_text(const char *t)
{
    int st = sb_store_outbox_state_from_name(t);
    return st < 0 ? SB_OUTBOX_DEAD : (enum sb_outbox_state)st; /* CHECK: cannot happen */
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
        return sb_sqlite_fail_db(ss, what, eb);
    }
    return SB_OK;
}

/* ---- operations ------------------------------------------------------------------------ */

/* Insert one effect of decision decision_id as a pending outbox row. A duplicate idem_key is
 * SB_ERR_DUP with *dup_decision (if non-NULL) set to the decision that enqueued it first. */
enum sb_err sb_sqlite_outbox_insert(struct sqlite_store *ss, int64_t post_rowid,
                                    int64_t decision_id, const struct sb_effect *ef, int64_t due_at,
                                    int64_t *dup_decision, struct sb_errbuf *eb)
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
        return sb_sqlite_fail_db(ss, "insert outbox entry: bind", eb);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return SB_OK;
    if (rc != SQLITE_CONSTRAINT_UNIQUE)
        return sb_sqlite_fail_db(ss, "insert outbox entry", eb);

    sqlite3_stmt *lk = ss->st[ST_OUTBOX_BY_KEY];
    if (bind_str(lk, 1, ef->idem_key) == SQLITE_OK && sqlite3_step(lk) == SQLITE_ROW &&
        dup_decision)
        *dup_decision = sqlite3_column_int64(lk, 0);
    sqlite3_reset(lk);
    return sb_errf(eb, SB_ERR_DUP, "outbox: %s to %s:%s already recorded (key %s)",
                   sb_effect_kind_name(ef->kind), sb_platform_name(ef->platform), ef->target_id,
                   ef->idem_key);
}

enum sb_err sb_sqlite_outbox_due(struct sb_store *s, int64_t at_ms, int64_t lease_ms, size_t max,
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
    if ((e = sb_sqlite_tx_begin(ss, eb)) != SB_OK)
        goto fail;
    if (run_simple(ss, ST_SAVEPOINT) != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "outbox due: savepoint", eb);
        goto fail;
    }
    unit = true;
    rc = sqlite3_bind_int64(sel, 1, at_ms);
    rc |= sqlite3_bind_int64(sel, 2, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    if (rc != SQLITE_OK) {
        e = sb_sqlite_fail_db(ss, "outbox due: bind", eb);
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
            e = sb_sqlite_fail_db(ss, "outbox claim", eb);
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
        e = sb_sqlite_fail_db(ss, "outbox due: release", eb);
        goto fail;
    }
    unit = false;
    /* durable before anything is sent; an empty poll leaves the ingest batch alone */
    if (k > 0 && !ss->base.outbox_sync) {
        e = sb_sqlite_write_done_n(ss, (int)k, eb);
    } else if (k > 0) {
        ss->pending += (int)k;
        e = sb_sqlite_tx_commit(ss, eb);
    } else if (began) {
        e = sb_sqlite_tx_commit(ss, eb);
    }
    if (e)
        goto fail;
    *n = k;
    return SB_OK;
fail:
    if (unit)
        sb_sqlite_unit_abort(ss);
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
        e = sb_sqlite_fail_db(ss, "outbox state", eb);
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
        return sb_sqlite_fail_db(ss, what, eb);
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

enum sb_err sb_sqlite_outbox_sent(struct sb_store *s, int64_t id, const char *remote_id,
                                  const char *remote_cid, int status, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_SENT];
    enum sb_err e = sb_sqlite_tx_begin(ss, eb);
    if (e)
        return e;
    int rc = sqlite3_bind_int64(st, 1, id);
    rc |= bind_str(st, 2, remote_id);
    rc |= bind_str(st, 3, remote_cid);
    rc |= bind_status(st, 4, status);
    rc |= sqlite3_bind_int64(st, 5, now_ms());
    return outbox_update(ss, st, rc, id, "mark sent", SB_OUTBOX_SENT, eb);
}

enum sb_err sb_sqlite_outbox_retry(struct sb_store *s, int64_t id, int64_t next_at_ms, int status,
                                   const char *error, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_RETRY];
    enum sb_err e = sb_sqlite_tx_begin(ss, eb);
    if (e)
        return e;
    int rc = sqlite3_bind_int64(st, 1, id);
    rc |= sqlite3_bind_int64(st, 2, next_at_ms);
    rc |= bind_status(st, 3, status);
    rc |= bind_str(st, 4, error);
    rc |= sqlite3_bind_int64(st, 5, now_ms());
    return outbox_update(ss, st, rc, id, "schedule a retry", -1, eb);
}

enum sb_err sb_sqlite_outbox_fail(struct sb_store *s, int64_t id, enum sb_outbox_state state,
                                  int status, const char *error, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_FAIL];
    char what[32];
    enum sb_err e = sb_sqlite_tx_begin(ss, eb);
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

enum sb_err sb_sqlite_outbox_requeue(struct sb_store *s, int64_t id, int64_t next_at_ms,
                                     struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_REQUEUE];
    enum sb_err e = sb_sqlite_tx_begin(ss, eb);
    if (e)
        return e;
    int rc = sqlite3_bind_int64(st, 1, id);
    rc |= sqlite3_bind_int64(st, 2, next_at_ms);
    rc |= sqlite3_bind_int64(st, 3, now_ms());
    return outbox_update(ss, st, rc, id, "requeue", -1, eb);
}

enum sb_err sb_sqlite_outbox_cancel_for_post(struct sb_store *s, enum sb_platform platform,
                                             const char *post_id, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_CANCEL];
    const char *pname = sb_platform_name(platform);
    enum sb_err e = sb_sqlite_tx_begin(ss, eb);
    if (e)
        return e;
    int rc = bind_str(st, 1, pname);
    rc |= bind_str(st, 2, post_id);
    rc |= sqlite3_bind_int64(st, 3, sb_store_key(pname, post_id));
    rc |= sqlite3_bind_int64(st, 4, now_ms());
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_reset(st);
        return sb_sqlite_fail_db(ss, "cancel outbox entries", eb);
    }
    sqlite3_reset(st);
    return write_commit(ss, eb);
}

enum sb_err sb_sqlite_outbox_list(struct sb_store *s, enum sb_outbox_state state, size_t max,
                                  struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    bool all = state == SB_OUTBOX_ANY;
    sqlite3_stmt *st = ss->st[all ? ST_OUTBOX_LIST_ALL : ST_OUTBOX_LIST_STATE];
    int rc = all ? SQLITE_OK : bind_str(st, 1, state_name(state));
    rc |= sqlite3_bind_int64(st, 2, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    if (rc != SQLITE_OK) {
        sqlite3_reset(st);
        return sb_sqlite_fail_db(ss, "outbox list: bind", eb);
    }
    return read_entries(ss, st, max, out, n, "outbox list", eb);
}

enum sb_err sb_sqlite_outbox_get(struct sb_store *s, int64_t id, struct sb_outbox_entry *out,
                                 struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_GET];
    size_t n = 0;
    enum sb_err e;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
        sqlite3_reset(st);
        return sb_sqlite_fail_db(ss, "outbox get: bind", eb);
    }
    if ((e = read_entries(ss, st, 1, out, &n, "outbox get", eb)) != SB_OK)
        return e;
    return n ? SB_OK
             : sb_errf(eb, SB_ERR_NOTFOUND, "outbox entry %lld does not exist", (long long)id);
}

enum sb_err sb_sqlite_outbox_by_remote(struct sb_store *s, enum sb_platform platform,
                                       const char *remote_id, struct sb_outbox_entry *out,
                                       struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_BY_REMOTE];
    size_t n = 0;
    enum sb_err e;
    if (sqlite3_bind_text(st, 1, sb_platform_name(platform), -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, remote_id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        sqlite3_reset(st);
        return sb_sqlite_fail_db(ss, "outbox by remote: bind", eb);
    }
    if ((e = read_entries(ss, st, 1, out, &n, "outbox by remote", eb)) != SB_OK)
        return e;
    return n ? SB_OK : sb_errf(eb, SB_ERR_NOTFOUND, "no outbox entry created %s", remote_id);
}

enum sb_err sb_sqlite_outbox_count(struct sb_store *s, enum sb_outbox_state state, int64_t *n,
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
        e = sb_sqlite_fail_db(ss, "outbox count", eb);
    sqlite3_reset(st);
    return e;
}

enum sb_err sb_sqlite_outbox_post_counts(struct sb_store *s, enum sb_platform platform,
                                         const char *post_id, int64_t counts[SB_OUTBOX__COUNT],
                                         struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    const char *pname = sb_platform_name(platform);
    sqlite3_stmt *st = NULL;
    /* rare (edits): prepared on demand */
    if (sqlite3_prepare_v2(ss->db,
                           "SELECT state, count(*) FROM outbox WHERE post_rowid IN"
                           " (SELECT id FROM posts WHERE post_key = ?3 AND platform = ?1"
                           " AND post_id = ?2) GROUP BY state",
                           -1, &st, NULL) != SQLITE_OK)
        return sb_sqlite_fail_db(ss, "outbox post counts", eb);
    int rc = bind_str(st, 1, pname);
    rc |= bind_str(st, 2, post_id);
    rc |= sqlite3_bind_int64(st, 3, sb_store_key(pname, post_id));
    enum sb_err e = SB_OK;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int state = sb_store_outbox_state_from_name((const char *)sqlite3_column_text(st, 0));
        if (state >= 0 && state < SB_OUTBOX__COUNT)
            counts[state] = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        e = sb_sqlite_fail_db(ss, "outbox post counts", eb);
    sqlite3_finalize(st);
    return e;
}

enum sb_err sb_sqlite_outbox_for_post(struct sb_store *s, int64_t post_rowid, size_t max,
                                      struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_OUTBOX_FOR_POST];
    int rc = sqlite3_bind_int64(st, 1, post_rowid);
    rc |= sqlite3_bind_int64(st, 2, max > INT32_MAX ? INT32_MAX : (int64_t)max);
    if (rc != SQLITE_OK) {
        sqlite3_reset(st);
        *n = 0;
        return sb_sqlite_fail_db(ss, "outbox for post: bind", eb);
    }
    return read_entries(ss, st, max, out, n, "outbox for post", eb);
}
