/* sqlite_cases.c — the SQLite backend's human side (store/cases.h, migration 3): console agents
 * and their sessions, cases with a compare-and-set on their version, the append-only case
 * events, case lists (one ordered index range per owner and queue, merged, keyset-paged; the
 * statements are built per filter shape and cached), queue statistics, and a post with its
 * latest decision as the console shows it.
 *
 * Every write commits before it returns and takes the open ingest batch with it (cases.h); a
 * case and its event are one unit under a savepoint, so a failure leaves neither and keeps the
 * batch. A write that changes nothing closes the transaction it opened (it holds SQLite's write
 * lock). A 0 id or time in the structs is NULL in the columns (real foreign keys), an empty
 * optional string too. A reference to an agent, post or outbox entry that does not exist is
 * SB_ERR_INVAL; SB_ERR_NOTFOUND is for the thing asked about.
 *
 * Used from one thread, like the rest of the backend. Depends on sqlite.c for the connection,
 * the statement cache and the transaction helpers (sqlite_internal.h), on libsqlite3 and on the
 * core's name tables (sb_platform_name, sb_case_owner_name & co). */
#include "store/sqlite_internal.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* The columns of each table in the order its reader expects. */
#define AGENT_COLS "id, name, role, queues, pw_hash, disabled, created_at"
#define SESSION_COLS "token_hash, agent_id, csrf, created_at, expires_at"
#define CASE_COLS                                                                                  \
    "id, version, platform, account, thread_id, queue, owner, assignee, priority, first_due,"      \
    " next_due, first_responded_at, first_post_rowid, last_post_rowid, author_id,"                 \
    " author_handle, summary, created_at, updated_at, last_customer_at, closed_at"
#define EVENT_COLS "id, case_id, at, actor_id, kind, post_rowid, outbox_id, detail"
/* lists also return the sort key, for the merge of several ranges */
#define LIST_COLS CASE_COLS ", due_at"
#define LIST_ORDER " ORDER BY priority, due_at, id"

/* More ranges than this (many queues, every owner) are read as one IN (…) query and sorted. */
#define LIST_MERGE_MAX 16

/* Cached statements, prepared by sqlite.c at open with the others. */
static const char *const cases_sql[ST__N] = {
    [ST_AGENT_ADD] = "INSERT INTO agents (name, role, queues, pw_hash, disabled, created_at)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_AGENT_UPDATE] = "UPDATE agents SET role = ?2, queues = ?3, pw_hash = ?4, disabled = ?5"
                        " WHERE id = ?1",
    [ST_AGENT_GET] = "SELECT " AGENT_COLS " FROM agents WHERE id = ?1",
    [ST_AGENT_BY_NAME] = "SELECT " AGENT_COLS " FROM agents WHERE name = ?1",
    [ST_AGENT_LIST] = "SELECT " AGENT_COLS " FROM agents ORDER BY name LIMIT ?1",
    [ST_SESSION_ADD] = "INSERT INTO sessions (" SESSION_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_SESSION_GET] = "SELECT " SESSION_COLS " FROM sessions WHERE token_hash = ?1"
                       " AND expires_at > ?2",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
    [ST_SESSION_DELETE_AGENT] = "DELETE FROM sessions WHERE agent_id = ?1",
    [ST_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at <= ?1",
    /* parameters as bind_case numbers them; an update writes all but the platform, the thread
     * and the first post, and only over the version the caller read */
    [ST_CASE_INSERT] =
        "INSERT INTO cases (version, platform, account, thread_id, thread_key, queue, owner,"
        " assignee, priority, first_due, next_due, first_responded_at, due_at, first_post_rowid,"
        " last_post_rowid, author_id, author_handle, summary, created_at, updated_at,"
        " last_customer_at, closed_at)"
        " VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21)",
    [ST_CASE_UPDATE] =
        "UPDATE cases SET version = version + 1, account = ?2, queue = ?5, owner = ?6,"
        " assignee = ?7, priority = ?8, first_due = ?9, next_due = ?10, first_responded_at = ?11,"
        " due_at = ?12, last_post_rowid = ?14, author_id = ?15, author_handle = ?16,"
        " summary = ?17, created_at = ?18, updated_at = ?19, last_customer_at = ?20,"
        " closed_at = ?21 WHERE id = ?22 AND version = ?23",
    [ST_CASE_VERSION] = "SELECT version FROM cases WHERE id = ?1",
    [ST_CASE_GET] = "SELECT " CASE_COLS " FROM cases WHERE id = ?1",
    /* through cases_thread (thread_key), then the text is compared; newest first */
    [ST_CASE_BY_THREAD] = "SELECT " CASE_COLS " FROM cases WHERE thread_key = ?1"
                          " AND platform = ?2 AND thread_id = ?3 ORDER BY id DESC LIMIT 1",
    /* through the partial index case_events_outbox */
    [ST_CASE_BY_OUTBOX] = "SELECT " CASE_COLS " FROM cases WHERE id = (SELECT case_id"
                          " FROM case_events WHERE outbox_id = ?1 AND kind = ?2"
                          " ORDER BY id LIMIT 1)",
    [ST_CASE_POST_TEXT] = "SELECT text FROM posts WHERE id = ?1",
    [ST_EVENT_INSERT] = "INSERT INTO case_events (case_id, at, actor_id, kind, post_rowid,"
                        " outbox_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_EVENT_LIST] = "SELECT " EVENT_COLS " FROM case_events WHERE case_id = ?1"
                      " ORDER BY id LIMIT ?2",
    /* reads the covering index cases_stats only, already grouped by queue */
    [ST_QUEUE_STATS] = "SELECT queue, count(*), sum(assignee IS NULL), min(created_at),"
                       " sum(due_at < ?1) FROM cases WHERE owner = ?2 GROUP BY queue"
                       " ORDER BY queue LIMIT ?3",
    /* The latest decision is the last one recorded by a policy (agents' replies are recorded
     * as decisions "agent:NAME" and show as replies instead). An error object too big for the view
     * loses its traceback, then all but its code: the view always holds valid JSON. */
    [ST_POST_VIEW] =
        "SELECT p.id, p.platform, p.post_id, p.author_id, p.author_handle, p.author_name,"
        " p.author_followers, p.author_verified, p.author_bot, p.text, p.url, p.created_ms,"
        " p.deleted_at, p.kind, d.id, d.action, d.queue, d.priority, d.reasons,"
        " CASE WHEN d.error IS NULL OR length(CAST(d.error AS BLOB)) < ?2 THEN d.error"
        "  WHEN NOT json_valid(d.error) THEN NULL"
        "  WHEN length(CAST(json_remove(d.error, '$.traceback') AS BLOB)) < ?2"
        "  THEN json_remove(d.error, '$.traceback')"
        "  ELSE json_object('code', json_extract(d.error, '$.code'), 'message',"
        "   '(too long to show)') END,"
        " d.reply, d.policy_version, d.decided_at,"
        " p.cid, p.account, p.thread, p.thread_cid, p.visibility"
        " FROM posts p LEFT JOIN decisions d ON d.id ="
        "  (SELECT max(id) FROM decisions WHERE post_rowid = p.id"
        "   AND (policy_version IS NULL OR policy_version NOT LIKE 'agent:%'))"
        " WHERE p.id = ?1",
};

const char *sb_sqlite_cases_sql(enum stmt_id id)
{
    return cases_sql[id];
}

/* ---- helpers --------------------------------------------------------------------------- */

/* 0 (no agent, post, entry or time) is NULL in the columns. */
static int bind_opt(sqlite3_stmt *st, int i, int64_t v)
{
    return v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

/* An optional string: "" is NULL in the columns. */
static int bind_opt_str(sqlite3_stmt *st, int i, const char *s)
{
    return bind_str(st, i, s && *s ? s : NULL);
}

static int64_t limit_of(size_t max)
{
    return max > INT32_MAX ? INT32_MAX : (int64_t)max;
}

/* Open the write transaction, joining the open batch; *began: this call opened it. */
static enum sb_err begin(struct sqlite_store *ss, bool *began, struct sb_errbuf *eb)
{
    *began = !(ss->in_tx && !sqlite3_get_autocommit(ss->db));
    return sb_sqlite_tx_begin(ss, eb);
}

/* End a write. n > 0 rows written and e == SB_OK: commit now, with the batch (cases.h), or
 * count them into the batch when the owner chose group commit (sb_store_set_case_sync). With
 * nothing written, a transaction this call opened is closed again (it holds the write lock
 * another process may be waiting for) and a batch that was open is left alone. Returns e, or
 * the commit's error. */
static enum sb_err finish(struct sqlite_store *ss, bool began, int n, enum sb_err e,
                          struct sb_errbuf *eb)
{
    if (e == SB_OK && n > 0) {
        if (!ss->base.case_sync)
            return sb_sqlite_write_done_n(ss, n, eb);
        ss->pending += n;
        return sb_sqlite_tx_commit(ss, eb);
    }
    if (began && ss->in_tx && ss->pending == 0)
        sb_sqlite_tx_commit(ss, NULL);
    return e;
}

/* Step a bound statement that reads at most one row: SB_OK with the row current (the caller
 * reads it, then resets), SB_ERR_NOTFOUND (reset, eb untouched), or SB_ERR_STORE. */
static enum sb_err one_row(struct sqlite_store *ss, sqlite3_stmt *st, int rc, const char *what,
                           struct sb_errbuf *eb)
{
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return SB_OK;
    enum sb_err e = rc == SQLITE_DONE ? SB_ERR_NOTFOUND : sb_sqlite_fail_db(ss, what, eb);
    sqlite3_reset(st);
    return e;
}

typedef void (*row_reader)(sqlite3_stmt *st, void *out);

/* Step st (bound; rc is the binding's result) and read up to max rows into out (elements of
 * size bytes); st is reset. */
static enum sb_err read_rows(struct sqlite_store *ss, sqlite3_stmt *st, int rc, row_reader rd,
                             void *out, size_t size, size_t max, size_t *n, const char *what,
                             struct sb_errbuf *eb)
{
    size_t k = 0;
    while (rc == SQLITE_OK && k < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rd(st, (char *)out + k * size);
        k++;
        rc = SQLITE_OK;
    }
    enum sb_err e = SB_OK;
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, what, eb);
        k = 0;
    }
    sqlite3_reset(st);
    *n = k;
    return e;
}

/* A JSON array of strings (as sqlite.c writes reasons) into dst[size]: whole when it fits,
 * else the leading elements that fit, closed again; valid JSON either way. NULL is "". */
static void copy_json_array(sqlite3_stmt *st, int i, char *dst, size_t size)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n < size || n < 2 || t[0] != '[') {
        copy_col(st, i, dst, size);
        return;
    }
    size_t keep = 1; /* "[" */
    bool in_str = false, esc = false;
    for (size_t k = 1; k < n && k + 2 <= size - 1; k++) {
        char ch = t[k];
        if (esc)
            esc = false;
        else if (in_str && ch == '\\')
            esc = true;
        else if (ch == '"')
            in_str = !in_str;
        else if (!in_str && ch == ',')
            keep = k; /* the elements before this comma are whole */
    }
    memcpy(dst, t, keep);
    dst[keep] = ']';
    dst[keep + 1] = 0;
}

/* ---- readers (the column lists above) ---------------------------------------------------- */

static void read_agent(sqlite3_stmt *st, void *out)
{
    struct sb_agent *a = out;
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(st, 0);
    copy_col(st, 1, a->name, sizeof a->name);
    int role = sb_role_from_name((const char *)sqlite3_column_text(st, 2));
    a->role = role < 0 ? SB_ROLE_AGENT : (enum sb_role)role; /* unknown: the weakest */
    copy_col(st, 3, a->queues, sizeof a->queues);
    copy_col(st, 4, a->pw_hash, sizeof a->pw_hash);
    a->disabled = sqlite3_column_int(st, 5) != 0;
    a->created_at = sqlite3_column_int64(st, 6);
}

static void read_session(sqlite3_stmt *st, void *out)
{
    struct sb_session *se = out;
    memset(se, 0, sizeof *se);
    copy_col(st, 0, se->token_hash, sizeof se->token_hash);
    se->agent_id = sqlite3_column_int64(st, 1);
    copy_col(st, 2, se->csrf, sizeof se->csrf);
    se->created_at = sqlite3_column_int64(st, 3);
    se->expires_at = sqlite3_column_int64(st, 4);
}

static void read_case(sqlite3_stmt *st, void *out)
{
    struct sb_case *c = out;
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    c->version = sqlite3_column_int64(st, 1);
    c->platform = sb_platform_from_name((const char *)sqlite3_column_text(st, 2));
    copy_col(st, 3, c->account, sizeof c->account);
    copy_col(st, 4, c->thread_id, sizeof c->thread_id);
    copy_col(st, 5, c->queue, sizeof c->queue);
    int owner = sb_case_owner_from_name((const char *)sqlite3_column_text(st, 6));
    c->st.owner = owner < 0 ? SB_CASE_CLOSED : (enum sb_case_owner)owner; /* CHECK: cannot be */
    c->st.assignee = sqlite3_column_int64(st, 7);
    int prio = sqlite3_column_int(st, 8);
    c->st.priority =
        prio < 0 || prio >= SB_PRIORITY__COUNT ? SB_PRIORITY_NORMAL : (enum sb_priority)prio;
    c->st.first_due = sqlite3_column_int64(st, 9);
    c->st.next_due = sqlite3_column_int64(st, 10);
    c->st.first_responded_at = sqlite3_column_int64(st, 11);
    c->first_post_rowid = sqlite3_column_int64(st, 12);
    c->last_post_rowid = sqlite3_column_int64(st, 13);
    copy_col(st, 14, c->author_id, sizeof c->author_id);
    copy_col(st, 15, c->author_handle, sizeof c->author_handle);
    copy_col(st, 16, c->summary, sizeof c->summary);
    c->created_at = sqlite3_column_int64(st, 17);
    c->updated_at = sqlite3_column_int64(st, 18);
    c->last_customer_at = sqlite3_column_int64(st, 19);
    c->closed_at = sqlite3_column_int64(st, 20);
}

static void read_event(sqlite3_stmt *st, void *out)
{
    struct sb_case_event *ev = out;
    memset(ev, 0, sizeof *ev);
    ev->id = sqlite3_column_int64(st, 0);
    ev->case_id = sqlite3_column_int64(st, 1);
    ev->at = sqlite3_column_int64(st, 2);
    ev->actor_id = sqlite3_column_int64(st, 3);
    int kind = sb_case_event_from_name((const char *)sqlite3_column_text(st, 4));
    /* a kind this binary does not know (written by a newer one): shown as a note */
    ev->kind = kind < 0 ? SB_CASE_EV_NOTE : (enum sb_case_event_kind)kind;
    ev->post_rowid = sqlite3_column_int64(st, 5);
    ev->outbox_id = sqlite3_column_int64(st, 6);
    copy_col(st, 7, ev->detail, sizeof ev->detail);
}

static void read_stats(sqlite3_stmt *st, void *out)
{
    struct sb_queue_stats *q = out;
    memset(q, 0, sizeof *q);
    copy_col(st, 0, q->queue, sizeof q->queue);
    q->open = sqlite3_column_int64(st, 1);
    q->unclaimed = sqlite3_column_int64(st, 2);
    q->oldest_at = sqlite3_column_int64(st, 3);
    q->breached = sqlite3_column_int64(st, 4);
}

/* ---- agents ---------------------------------------------------------------------------- */

static enum sb_err sq_agent_add(struct sb_store *s, const struct sb_agent *a, int64_t *id,
                                struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_AGENT_ADD];
    bool began;
    int64_t new_id = 0;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    int rc = bind_str(st, 1, a->name);
    rc |= bind_str(st, 2, sb_role_name(a->role));
    rc |= bind_str(st, 3, a->queues);
    rc |= bind_str(st, 4, a->pw_hash);
    rc |= sqlite3_bind_int(st, 5, a->disabled);
    rc |= sqlite3_bind_int64(st, 6, a->created_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        new_id = sqlite3_last_insert_rowid(ss->db);
    else if (rc == SQLITE_CONSTRAINT_UNIQUE)
        e = sb_errf(eb, SB_ERR_DUP, "agent %s already exists", a->name);
    else
        e = sb_sqlite_fail_db(ss, "add agent", eb);
    sqlite3_reset(st);
    e = finish(ss, began, e ? 0 : 1, e, eb);
    if (!e && id)
        *id = new_id;
    return e;
}

static enum sb_err sq_agent_update(struct sb_store *s, const struct sb_agent *a,
                                   struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_AGENT_UPDATE];
    bool began;
    int changed = 0;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    int rc = sqlite3_bind_int64(st, 1, a->id);
    rc |= bind_str(st, 2, sb_role_name(a->role));
    rc |= bind_str(st, 3, a->queues);
    rc |= bind_str(st, 4, a->pw_hash);
    rc |= sqlite3_bind_int(st, 5, a->disabled);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        e = sb_sqlite_fail_db(ss, "update agent", eb);
    else if ((changed = sqlite3_changes(ss->db)) == 0)
        e = sb_errf(eb, SB_ERR_NOTFOUND, "agent %lld does not exist", (long long)a->id);
    sqlite3_reset(st);
    return finish(ss, began, changed, e, eb);
}

static enum sb_err sq_agent_get(struct sb_store *s, int64_t id, struct sb_agent *out,
                                struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_AGENT_GET];
    enum sb_err e = one_row(ss, st, sqlite3_bind_int64(st, 1, id), "get agent", eb);
    if (e == SB_ERR_NOTFOUND)
        return sb_errf(eb, e, "agent %lld does not exist", (long long)id);
    if (!e) {
        read_agent(st, out);
        sqlite3_reset(st);
    }
    return e;
}

static enum sb_err sq_agent_by_name(struct sb_store *s, const char *name, struct sb_agent *out,
                                    struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_AGENT_BY_NAME];
    enum sb_err e = one_row(ss, st, bind_str(st, 1, name), "agent by name", eb);
    if (e == SB_ERR_NOTFOUND)
        return sb_errf(eb, e, "agent %s does not exist", name);
    if (!e) {
        read_agent(st, out);
        sqlite3_reset(st);
    }
    return e;
}

static enum sb_err sq_agent_list(struct sb_store *s, size_t max, struct sb_agent *out, size_t *n,
                                 struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_AGENT_LIST];
    return read_rows(ss, st, sqlite3_bind_int64(st, 1, limit_of(max)), read_agent, out, sizeof *out,
                     max, n, "list agents", eb);
}

/* ---- sessions --------------------------------------------------------------------------- */

static enum sb_err sq_session_add(struct sb_store *s, const struct sb_session *se,
                                  struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_SESSION_ADD];
    bool began;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    int rc = bind_str(st, 1, se->token_hash);
    rc |= sqlite3_bind_int64(st, 2, se->agent_id);
    rc |= bind_str(st, 3, se->csrf);
    rc |= sqlite3_bind_int64(st, 4, se->created_at);
    rc |= sqlite3_bind_int64(st, 5, se->expires_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        e = sb_errf(eb, SB_ERR_DUP, "session already exists");
    else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        e = sb_errf(eb, SB_ERR_INVAL, "session for agent %lld: no such agent",
                    (long long)se->agent_id);
    else if (rc != SQLITE_DONE)
        e = sb_sqlite_fail_db(ss, "add session", eb);
    sqlite3_reset(st);
    return finish(ss, began, e ? 0 : 1, e, eb);
}

static enum sb_err sq_session_get(struct sb_store *s, const char *token_hash, int64_t now,
                                  struct sb_session *out, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_SESSION_GET];
    int rc = bind_str(st, 1, token_hash);
    rc |= sqlite3_bind_int64(st, 2, now);
    enum sb_err e = one_row(ss, st, rc, "get session", eb);
    if (e == SB_ERR_NOTFOUND)
        return sb_errf(eb, e, "no such session, or it expired");
    if (!e) {
        read_session(st, out);
        sqlite3_reset(st);
    }
    return e;
}

/* Run a bound DELETE; *n receives the rows deleted, which commit at once. */
static enum sb_err delete_rows(struct sqlite_store *ss, sqlite3_stmt *st, int rc, bool began,
                               int64_t *n, const char *what, struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    int changed = 0;
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        e = sb_sqlite_fail_db(ss, what, eb);
    else
        changed = sqlite3_changes(ss->db);
    sqlite3_reset(st);
    e = finish(ss, began, changed, e, eb);
    if (n)
        *n = e ? 0 : changed;
    return e;
}

static enum sb_err sq_session_delete(struct sb_store *s, const char *token_hash,
                                     struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_SESSION_DELETE];
    bool began;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    return delete_rows(ss, st, bind_str(st, 1, token_hash), began, NULL, "delete session", eb);
}

static enum sb_err sq_session_delete_agent(struct sb_store *s, int64_t agent_id,
                                           struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_SESSION_DELETE_AGENT];
    bool began;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    return delete_rows(ss, st, sqlite3_bind_int64(st, 1, agent_id), began, NULL,
                       "delete the agent's sessions", eb);
}

static enum sb_err sq_session_purge(struct sb_store *s, int64_t now, int64_t *n,
                                    struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_SESSION_PURGE];
    bool began;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    return delete_rows(ss, st, sqlite3_bind_int64(st, 1, now), began, n, "purge expired sessions",
                       eb);
}

/* ---- cases ------------------------------------------------------------------------------ */

/* Parameters 1 .. 21 of ST_CASE_INSERT / ST_CASE_UPDATE from c, with summary. */
static int bind_case(sqlite3_stmt *st, const struct sb_case *c, const char *summary)
{
    const char *pname = sb_platform_name(c->platform);
    int rc = bind_str(st, 1, pname);
    rc |= bind_opt_str(st, 2, c->account);
    rc |= bind_str(st, 3, c->thread_id);
    rc |= sqlite3_bind_int64(st, 4, sb_store_key(pname, c->thread_id));
    rc |= bind_str(st, 5, c->queue);
    rc |= bind_str(st, 6, sb_case_owner_name(c->st.owner));
    rc |= bind_opt(st, 7, c->st.assignee);
    rc |= sqlite3_bind_int(st, 8, (int)c->st.priority);
    rc |= bind_opt(st, 9, c->st.first_due);
    rc |= bind_opt(st, 10, c->st.next_due);
    rc |= bind_opt(st, 11, c->st.first_responded_at);
    rc |= sqlite3_bind_int64(st, 12, sb_case_list_due(c));
    rc |= sqlite3_bind_int64(st, 13, c->first_post_rowid);
    rc |= bind_opt(st, 14, c->last_post_rowid);
    rc |= bind_opt_str(st, 15, c->author_id);
    rc |= bind_opt_str(st, 16, c->author_handle);
    rc |= bind_str(st, 17, summary);
    rc |= sqlite3_bind_int64(st, 18, c->created_at);
    rc |= sqlite3_bind_int64(st, 19, c->updated_at);
    rc |= bind_opt(st, 20, c->last_customer_at);
    rc |= bind_opt(st, 21, c->closed_at);
    return rc;
}

/* Append ev to case case_id inside the open transaction; *id receives the event's id. */
static enum sb_err insert_event(struct sqlite_store *ss, int64_t case_id,
                                const struct sb_case_event *ev, int64_t *id, struct sb_errbuf *eb)
{
    sqlite3_stmt *st = ss->st[ST_EVENT_INSERT];
    enum sb_err e = SB_OK;
    int rc = sqlite3_bind_int64(st, 1, case_id);
    rc |= sqlite3_bind_int64(st, 2, ev->at);
    rc |= bind_opt(st, 3, ev->actor_id);
    rc |= bind_str(st, 4, sb_case_event_name(ev->kind));
    rc |= bind_opt(st, 5, ev->post_rowid);
    rc |= bind_opt(st, 6, ev->outbox_id);
    rc |= bind_str(st, 7, ev->detail[0] ? ev->detail : "{}");
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        *id = sqlite3_last_insert_rowid(ss->db);
    else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        e = sb_errf(eb, SB_ERR_INVAL,
                    "event of case %lld: its agent %lld, post %lld or outbox entry %lld does not"
                    " exist",
                    (long long)case_id, (long long)ev->actor_id, (long long)ev->post_rowid,
                    (long long)ev->outbox_id);
    else
        e = sb_sqlite_fail_db(ss, "append case event", eb);
    sqlite3_reset(st);
    return e;
}

/* Step a bound case insert/update; a foreign key that does not hold is the caller's error. */
static enum sb_err step_case(struct sqlite_store *ss, sqlite3_stmt *st, int rc,
                             const struct sb_case *c, const char *what, struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        e = sb_errf(eb, SB_ERR_INVAL, "%s: its assignee %lld or post %lld / %lld does not exist",
                    what, (long long)c->st.assignee, (long long)c->first_post_rowid,
                    (long long)c->last_post_rowid);
    else if (rc != SQLITE_DONE)
        e = sb_sqlite_fail_db(ss, what, eb);
    sqlite3_reset(st);
    return e;
}

/* The summary to store for a new case: the caller's, else the first post's text, cut. */
static enum sb_err new_summary(struct sqlite_store *ss, const struct sb_case *c, char *dst,
                               size_t size, struct sb_errbuf *eb)
{
    if (c->summary[0]) {
        memcpy(dst, c->summary, strlen(c->summary) + 1);
        return SB_OK;
    }
    sqlite3_stmt *st = ss->st[ST_CASE_POST_TEXT];
    enum sb_err e =
        one_row(ss, st, sqlite3_bind_int64(st, 1, c->first_post_rowid), "case summary", eb);
    if (e == SB_ERR_NOTFOUND)
        return sb_errf(eb, SB_ERR_INVAL, "create case: post %lld is not stored",
                       (long long)c->first_post_rowid);
    if (e)
        return e;
    sb_store_case_summary(dst, size, (const char *)sqlite3_column_text(st, 0),
                          (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_reset(st);
    return SB_OK;
}

static enum sb_err sq_case_create(struct sb_store *s, struct sb_case *c, struct sb_case_event *ev,
                                  struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_CASE_INSERT];
    char summary[sizeof c->summary];
    int64_t id = 0, ev_id = 0;
    bool began, unit = false;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    if ((e = new_summary(ss, c, summary, sizeof summary, eb)) != SB_OK)
        goto fail;
    if (run_simple(ss, ST_SAVEPOINT) != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "create case: savepoint", eb);
        goto fail;
    }
    unit = true;
    if ((e = step_case(ss, st, bind_case(st, c, summary), c, "create case", eb)) != SB_OK)
        goto fail;
    id = sqlite3_last_insert_rowid(ss->db);
    if (ev && (e = insert_event(ss, id, ev, &ev_id, eb)) != SB_OK)
        goto fail;
    if (run_simple(ss, ST_RELEASE) != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "create case: release", eb);
        goto fail;
    }
    unit = false;
    /* the ids are handed out only once they are durable */
    if ((e = finish(ss, began, ev ? 2 : 1, SB_OK, eb)) != SB_OK)
        return e;
    c->id = id;
    c->version = 1;
    memcpy(c->summary, summary, sizeof summary);
    if (ev) {
        ev->case_id = id;
        ev->id = ev_id;
    }
    return SB_OK;
fail:
    if (unit)
        sb_sqlite_unit_abort(ss);
    return finish(ss, began, 0, e, eb);
}

/* The compare-and-set on c changed nothing: the case is gone or moved on. */
static enum sb_err not_updated(struct sqlite_store *ss, const struct sb_case *c,
                               struct sb_errbuf *eb)
{
    sqlite3_stmt *st = ss->st[ST_CASE_VERSION];
    enum sb_err e = one_row(ss, st, sqlite3_bind_int64(st, 1, c->id), "case version", eb);
    if (e == SB_ERR_NOTFOUND)
        return sb_errf(eb, e, "case %lld does not exist", (long long)c->id);
    if (e)
        return e;
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return sb_errf(eb, SB_ERR_CONFLICT,
                   "case %lld changed meanwhile (version %lld, not %lld): read it again",
                   (long long)c->id, (long long)v, (long long)c->version);
}

static enum sb_err sq_case_update(struct sb_store *s, struct sb_case *c, struct sb_case_event *ev,
                                  struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_CASE_UPDATE];
    int64_t ev_id = 0;
    bool began, unit = false;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    if (run_simple(ss, ST_SAVEPOINT) != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "update case: savepoint", eb);
        goto fail;
    }
    unit = true;
    /* under the write lock: no other connection can move the version between the compare and
     * the set */
    int rc = bind_case(st, c, c->summary);
    rc |= sqlite3_bind_int64(st, 22, c->id);
    rc |= sqlite3_bind_int64(st, 23, c->version);
    if ((e = step_case(ss, st, rc, c, "update case", eb)) != SB_OK)
        goto fail;
    if (sqlite3_changes(ss->db) == 0) {
        e = not_updated(ss, c, eb);
        goto fail;
    }
    if (ev && (e = insert_event(ss, c->id, ev, &ev_id, eb)) != SB_OK)
        goto fail;
    if (run_simple(ss, ST_RELEASE) != SQLITE_DONE) {
        e = sb_sqlite_fail_db(ss, "update case: release", eb);
        goto fail;
    }
    unit = false;
    if ((e = finish(ss, began, ev ? 2 : 1, SB_OK, eb)) != SB_OK)
        return e;
    c->version++;
    if (ev) {
        ev->case_id = c->id;
        ev->id = ev_id;
    }
    return SB_OK;
fail:
    if (unit)
        sb_sqlite_unit_abort(ss);
    return finish(ss, began, 0, e, eb);
}

static enum sb_err sq_case_event_add(struct sb_store *s, struct sb_case_event *ev,
                                     struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_CASE_VERSION];
    int64_t ev_id = 0;
    bool began;
    enum sb_err e = begin(ss, &began, eb);
    if (e)
        return e;
    /* the case is the thing asked about: NOTFOUND for it, INVAL for what the event names */
    e = one_row(ss, st, sqlite3_bind_int64(st, 1, ev->case_id), "case event: case", eb);
    if (e == SB_ERR_NOTFOUND)
        e = sb_errf(eb, e, "case %lld does not exist", (long long)ev->case_id);
    else if (!e)
        sqlite3_reset(st);
    if (!e)
        e = insert_event(ss, ev->case_id, ev, &ev_id, eb);
    if ((e = finish(ss, began, e ? 0 : 1, e, eb)) == SB_OK)
        ev->id = ev_id;
    return e;
}

/* Read the one case of bound st into *out; what names it in a NOTFOUND. */
static enum sb_err case_row(struct sqlite_store *ss, sqlite3_stmt *st, int rc, struct sb_case *out,
                            const char *what, struct sb_errbuf *eb)
{
    enum sb_err e = one_row(ss, st, rc, "read case", eb);
    if (e == SB_ERR_NOTFOUND)
        return sb_errf(eb, e, "no case %s", what);
    if (!e) {
        read_case(st, out);
        sqlite3_reset(st);
    }
    return e;
}

static enum sb_err sq_case_get(struct sb_store *s, int64_t id, struct sb_case *out,
                               struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_CASE_GET];
    char what[40];
    snprintf(what, sizeof what, "%lld", (long long)id);
    return case_row(ss, st, sqlite3_bind_int64(st, 1, id), out, what, eb);
}

static enum sb_err sq_case_by_thread(struct sb_store *s, enum sb_platform platform,
                                     const char *thread_id, struct sb_case *out,
                                     struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_CASE_BY_THREAD];
    const char *pname = sb_platform_name(platform);
    int rc = sqlite3_bind_int64(st, 1, sb_store_key(pname, thread_id));
    rc |= bind_str(st, 2, pname);
    rc |= bind_str(st, 3, thread_id);
    return case_row(ss, st, rc, out, "on this thread", eb);
}

static enum sb_err sq_case_by_outbox(struct sb_store *s, int64_t outbox_id, struct sb_case *out,
                                     struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_CASE_BY_OUTBOX];
    int rc = sqlite3_bind_int64(st, 1, outbox_id);
    rc |= bind_str(st, 2, sb_case_event_name(SB_CASE_EV_REPLY));
    return case_row(ss, st, rc, out, "replied through this outbox entry", eb);
}

/* ---- case lists ------------------------------------------------------------------------- */

/* The conditions of one index range: owner :o<oi>, queue :q<qi> (qi < 0: every queue). */
static enum sb_err list_where(struct sb_buf *b, const struct sb_store_case_query *q, int oi,
                              long qi)
{
    enum sb_err e = sb_buf_printf(b, " WHERE owner = :o%d", oi);
    /* One agent's cases are few: read them through cases_assignee whatever the queue (the
     * queue's own range may hold 100k others). The unclaimed ones of a queue are most of it:
     * read its range (cases_queue) and skip the claimed. */
    if (!e && qi >= 0)
        e = sb_buf_printf(b, q->assignee > 0 ? " AND +queue = :q%ld" : " AND queue = :q%ld", qi);
    if (!e && q->assignee > 0)
        e = sb_buf_puts(b, " AND assignee = :asg");
    else if (!e && q->assignee < 0)
        e = sb_buf_puts(b, qi >= 0 ? " AND +assignee IS NULL" : " AND assignee IS NULL");
    if (!e && q->after_set)
        e = sb_buf_puts(b, " AND (priority, due_at, id) > (:ap, :ad, :ai)");
    return e;
}

/* The SQL for q into b: one ordered range per (owner, queue), cut at the page and merged; when
 * there are more than LIST_MERGE_MAX, one query over IN lists, sorted. */
static enum sb_err list_sql(struct sb_buf *b, const struct sb_store_case_query *q, int n_owners)
{
    long nq = (long)q->n_queues;
    long ranges = n_owners * (nq ? nq : 1);
    enum sb_err e = SB_OK;

    sb_buf_reset(b);
    if (ranges == 1) {
        e = sb_buf_puts(b, "SELECT " LIST_COLS " FROM cases");
        if (!e)
            e = list_where(b, q, 0, nq ? 0 : -1);
    } else if (ranges <= LIST_MERGE_MAX) {
        for (int o = 0; !e && o < n_owners; o++)
            for (long k = 0; !e && k < (nq ? nq : 1); k++) {
                e = sb_buf_puts(b, o || k ? " UNION ALL SELECT * FROM (SELECT " LIST_COLS
                                            " FROM cases"
                                          : "SELECT * FROM (SELECT " LIST_COLS " FROM cases");
                if (!e)
                    e = list_where(b, q, o, nq ? k : -1);
                if (!e)
                    e = sb_buf_puts(b, LIST_ORDER " LIMIT :lim)");
            }
    } else {
        e = sb_buf_puts(b, "SELECT " LIST_COLS " FROM cases WHERE owner IN (");
        for (int o = 0; !e && o < n_owners; o++)
            e = sb_buf_printf(b, o ? ", :o%d" : ":o%d", o);
        if (!e && nq)
            e = sb_buf_puts(b, ") AND queue IN (");
        for (long k = 0; !e && k < nq; k++)
            e = sb_buf_printf(b, k ? ", :q%ld" : ":q%ld", k);
        if (!e)
            e = sb_buf_putc(b, ')');
        if (!e && q->assignee > 0)
            e = sb_buf_puts(b, " AND assignee = :asg");
        else if (!e && q->assignee < 0)
            e = sb_buf_puts(b, " AND assignee IS NULL");
        if (!e && q->after_set)
            e = sb_buf_puts(b, " AND (priority, due_at, id) > (:ap, :ad, :ai)");
    }
    if (!e)
        e = sb_buf_puts(b, LIST_ORDER " LIMIT :lim");
    return e;
}

/* The prepared statement for sql, from the cache or prepared (and cached) now. */
static enum sb_err list_stmt(struct sqlite_store *ss, const char *sql, sqlite3_stmt **out,
                             struct sb_errbuf *eb)
{
    for (int i = 0; i < SB_SQLITE_LIST_CACHE; i++)
        if (ss->lists[i].sql && strcmp(ss->lists[i].sql, sql) == 0) {
            *out = ss->lists[i].st;
            return SB_OK;
        }
    sqlite3_stmt *st = NULL;
    char *copy = strdup(sql);
    if (!copy)
        return sb_errf(eb, SB_ERR_NOMEM, "case list: out of memory");
    if (sqlite3_prepare_v3(ss->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        free(copy);
        return sb_sqlite_fail_db(ss, "case list: prepare", eb);
    }
    struct sb_sqlite_list_stmt *slot = &ss->lists[ss->lists_next++ % SB_SQLITE_LIST_CACHE];
    sqlite3_finalize(slot->st);
    free(slot->sql);
    slot->sql = copy;
    slot->st = st;
    *out = st;
    return SB_OK;
}

static int bind_named_int(sqlite3_stmt *st, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i ? sqlite3_bind_int64(st, i, v) : SQLITE_OK;
}

static int bind_named_str(sqlite3_stmt *st, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i ? bind_str(st, i, v) : SQLITE_OK;
}

static enum sb_err sq_case_list(struct sb_store *s, const struct sb_store_case_query *q, size_t max,
                                struct sb_case *out, size_t *n, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    int owners[SB_CASE_OWNER__COUNT], n_owners = 0;
    sqlite3_stmt *st = NULL;
    char name[32];
    enum sb_err e;

    if (q->owner >= 0)
        owners[n_owners++] = q->owner;
    else
        for (int o = 0; o < SB_CASE_OWNER__COUNT; o++)
            owners[n_owners++] = o;
    if ((e = list_sql(&ss->json, q, n_owners)) != SB_OK)
        return sb_errf(eb, e, "case list: query too large");
    if ((e = list_stmt(ss, ss->json.data, &st, eb)) != SB_OK)
        return e;

    int rc = bind_named_int(st, ":lim", limit_of(max));
    for (int o = 0; o < n_owners; o++) {
        snprintf(name, sizeof name, ":o%d", o);
        rc |= bind_named_str(st, name, sb_case_owner_name((enum sb_case_owner)owners[o]));
    }
    for (size_t k = 0; k < q->n_queues; k++) {
        snprintf(name, sizeof name, ":q%zu", k);
        rc |= bind_named_str(st, name, q->queues[k]);
    }
    rc |= bind_named_int(st, ":asg", q->assignee);
    rc |= bind_named_int(st, ":ap", q->after_priority);
    rc |= bind_named_int(st, ":ad", q->after_due);
    rc |= bind_named_int(st, ":ai", q->after_id);
    e = read_rows(ss, st, rc, read_case, out, sizeof *out, max, n, "case list", eb);
    sqlite3_clear_bindings(st); /* the queue names are the caller's */
    return e;
}

void sb_sqlite_cases_close(struct sqlite_store *ss)
{
    for (int i = 0; i < SB_SQLITE_LIST_CACHE; i++) {
        sqlite3_finalize(ss->lists[i].st);
        free(ss->lists[i].sql);
        ss->lists[i].st = NULL;
        ss->lists[i].sql = NULL;
    }
}

/* ---- events, statistics, posts ------------------------------------------------------------ */

static enum sb_err sq_case_events(struct sb_store *s, int64_t case_id, size_t max,
                                  struct sb_case_event *out, size_t *n, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_EVENT_LIST];
    int rc = sqlite3_bind_int64(st, 1, case_id);
    rc |= sqlite3_bind_int64(st, 2, limit_of(max));
    return read_rows(ss, st, rc, read_event, out, sizeof *out, max, n, "case events", eb);
}

static enum sb_err sq_queue_stats(struct sb_store *s, int64_t now, size_t max,
                                  struct sb_queue_stats *out, size_t *n, struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_QUEUE_STATS];
    int rc = sqlite3_bind_int64(st, 1, now);
    rc |= bind_str(st, 2, sb_case_owner_name(SB_CASE_HUMAN));
    rc |= sqlite3_bind_int64(st, 3, limit_of(max));
    return read_rows(ss, st, rc, read_stats, out, sizeof *out, max, n, "queue stats", eb);
}

static enum sb_err sq_post_view(struct sb_store *s, int64_t rowid, struct sb_post_view *out,
                                struct sb_errbuf *eb)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    sqlite3_stmt *st = ss->st[ST_POST_VIEW];
    int rc = sqlite3_bind_int64(st, 1, rowid);
    rc |= sqlite3_bind_int64(st, 2, (int64_t)sizeof out->error);
    enum sb_err e = one_row(ss, st, rc, "post view", eb);
    if (e == SB_ERR_NOTFOUND)
        return sb_errf(eb, e, "post row %lld is not stored", (long long)rowid);
    if (e)
        return e;
    memset(out, 0, sizeof *out);
    out->rowid = sqlite3_column_int64(st, 0);
    out->platform = sb_platform_from_name((const char *)sqlite3_column_text(st, 1));
    copy_col(st, 2, out->post_id, sizeof out->post_id);
    copy_col(st, 3, out->author_id, sizeof out->author_id);
    copy_col(st, 4, out->author_handle, sizeof out->author_handle);
    copy_col(st, 5, out->author_name, sizeof out->author_name);
    out->author_followers = sqlite3_column_int64(st, 6);
    out->author_verified = sqlite3_column_int(st, 7) != 0;
    out->author_bot = sqlite3_column_int(st, 8) != 0;
    copy_col(st, 9, out->text, sizeof out->text);
    copy_col(st, 10, out->url, sizeof out->url);
    out->created_ms = sqlite3_column_int64(st, 11);
    out->deleted_at = sqlite3_column_int64(st, 12);
    copy_col(st, 13, out->kind, sizeof out->kind);
    out->decision_id = sqlite3_column_int64(st, 14);
    copy_col(st, 15, out->action, sizeof out->action);
    copy_col(st, 16, out->queue, sizeof out->queue);
    copy_col(st, 17, out->priority, sizeof out->priority);
    copy_json_array(st, 18, out->reasons, sizeof out->reasons);
    copy_col(st, 19, out->error, sizeof out->error); /* fits: the query saw to it */
    copy_col(st, 20, out->reply, sizeof out->reply);
    copy_col(st, 21, out->policy_version, sizeof out->policy_version);
    out->decided_at = sqlite3_column_int64(st, 22);
    copy_col(st, 23, out->cid, sizeof out->cid);
    copy_col(st, 24, out->account, sizeof out->account);
    copy_col(st, 25, out->thread, sizeof out->thread);
    copy_col(st, 26, out->thread_cid, sizeof out->thread_cid);
    copy_col(st, 27, out->visibility, sizeof out->visibility);
    sqlite3_reset(st);
    return SB_OK;
}

const struct sb_store_case_ops sb_sqlite_case_ops = {
    .agent_add = sq_agent_add,
    .agent_update = sq_agent_update,
    .agent_get = sq_agent_get,
    .agent_by_name = sq_agent_by_name,
    .agent_list = sq_agent_list,
    .session_add = sq_session_add,
    .session_get = sq_session_get,
    .session_delete = sq_session_delete,
    .session_delete_agent = sq_session_delete_agent,
    .session_purge = sq_session_purge,
    .case_create = sq_case_create,
    .case_update = sq_case_update,
    .case_event_add = sq_case_event_add,
    .case_get = sq_case_get,
    .case_by_thread = sq_case_by_thread,
    .case_by_outbox = sq_case_by_outbox,
    .case_list = sq_case_list,
    .case_events = sq_case_events,
    .queue_stats = sq_queue_stats,
    .post_view = sq_post_view,
    .outbox_for_post = sb_sqlite_outbox_for_post,
};
