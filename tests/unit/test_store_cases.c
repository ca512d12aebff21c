/* test_store_cases.c — the store's human side (store/cases.h, migration 3) against real SQLite
 * files: migrating a version-2 database, agents, sessions, cases with their compare-and-set on
 * version (a stale write changes nothing, its event included), case events, list order and
 * keyset pages (one queue, merged queues, every owner, many queues), filters, queue statistics,
 * the case of an outbox entry, a post with its latest decision, a post's outbox entries, and
 * that case writes commit at once (seen from a raw connection) without holding the write lock.
 * Ends with a timing of list pages over SB_CASES_BENCH_N (default 100,000) open cases in one
 * queue (printed, not asserted). */
#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/case.h"
#include "core/effects.h"
#include "store/backend.h" /* sb_store_sqlite_migrations: to write a version-2 file */
#include "store/cases.h"
#include "store/store.h"
#include "store_helpers.h"
#include "t.h"

static sqlite3 *raw_open(const char *path)
{
    return raw_open_flags(path, 1);
}

static struct sb_store *open_store(const char *path)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    if (sb_store_open(path, &s, &eb) != SB_OK)
        fprintf(stderr, "open %s: %s\n", path, eb.msg);
    return s;
}

static void make_post(struct sb_post *p, const char *id, const char *text)
{
    sb_post_init(p);
    p->platform = SB_PLATFORM_MASTODON;
    p->kind = SB_POST_MENTION;
    p->id = id;
    p->account = "brand";
    p->text = text;
    p->visibility = "public";
    p->thread = id;
    p->url = "https://social.example/@carol/1";
    p->author.id = "acct-9";
    p->author.handle = "carol";
    p->author.name = "Carol";
    p->author.followers = 42;
    p->author.verified = true;
    p->created_ms = 1700000000000;
}

/* Store a post (id, text); its row id. */
static int64_t add_post(struct sb_store *s, const char *id, const char *text)
{
    struct sb_post p;
    struct sb_errbuf eb = {{0}};
    int64_t rowid = 0;
    make_post(&p, id, text);
    if (sb_store_post_insert(s, &p, NULL, 0, &rowid, &eb) != SB_OK)
        fprintf(stderr, "post %s: %s\n", id, eb.msg);
    sb_post_free(&p);
    return rowid;
}

static int64_t add_agent(struct sb_store *s, const char *name, enum sb_role role)
{
    struct sb_agent a = {.role = role, .created_at = 5};
    struct sb_errbuf eb = {{0}};
    int64_t id = 0;
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.pw_hash, sizeof a.pw_hash, "$argon2id$v=19$fake");
    if (sb_store_agent_add(s, &a, &id, &eb) != SB_OK)
        fprintf(stderr, "agent %s: %s\n", name, eb.msg);
    return id;
}

/* A human case in queue on thread, about post_rowid. */
static void make_case(struct sb_case *c, int64_t post_rowid, const char *thread, const char *queue,
                      enum sb_priority prio, int64_t first_due, int64_t next_due)
{
    memset(c, 0, sizeof *c);
    c->platform = SB_PLATFORM_MASTODON;
    snprintf(c->account, sizeof c->account, "brand");
    snprintf(c->thread_id, sizeof c->thread_id, "%s", thread);
    snprintf(c->queue, sizeof c->queue, "%s", queue);
    c->st.owner = SB_CASE_HUMAN;
    c->st.priority = prio;
    c->st.first_due = first_due;
    c->st.next_due = next_due;
    c->first_post_rowid = c->last_post_rowid = post_rowid;
    snprintf(c->author_id, sizeof c->author_id, "acct-9");
    snprintf(c->author_handle, sizeof c->author_handle, "carol");
    c->created_at = c->updated_at = c->last_customer_at = 1000;
}

static void make_event(struct sb_case_event *ev, enum sb_case_event_kind kind, int64_t at,
                       int64_t actor, const char *detail)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->at = at;
    ev->actor_id = actor;
    snprintf(ev->detail, sizeof ev->detail, "%s", detail);
}

static int64_t n_events(struct sb_store *s, int64_t case_id)
{
    struct sb_case_event *ev = calloc(64, sizeof *ev);
    size_t n = 0;
    struct sb_errbuf eb = {{0}};
    if (sb_store_case_events(s, case_id, 64, ev, &n, &eb) != SB_OK)
        fprintf(stderr, "events: %s\n", eb.msg);
    free(ev);
    return (int64_t)n;
}

/* Whether EXPLAIN QUERY PLAN of sql mentions `want` and (if nonnull) never `never`. */
static int plan_has(sqlite3 *db, const char *sql, const char *want, const char *never)
{
    char q[4096];
    sqlite3_stmt *st = NULL;
    int found = 0, bad = 0;
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "plan: %s\n", sqlite3_errmsg(db));
        return 0;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        found |= strstr(d, want) != NULL;
        bad |= never && strstr(d, never) != NULL;
    }
    sqlite3_finalize(st);
    return found && !bad;
}

/* ---- migration ---------------------------------------------------------------------------- */

/* A database written by a switchboard that knew migrations 1 and 2 (schema from that exact SQL,
 * rows included) opens, gains the human side, keeps its rows, and takes cases about them. */
static void test_migrate_v2_file(void)
{
    char path[300];
    struct sb_errbuf eb = {{0}};

    new_db(path, sizeof path);
    sqlite3 *db = raw_open(path);
    T_CHECK(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, sb_store_sqlite_migrations[0], NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, sb_store_sqlite_migrations[1], NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db,
                         "INSERT INTO posts (id, platform, post_id, post_key, kind, text,"
                         " received_at) VALUES (7, 'mastodon', 'old-1', 0, 'mention',"
                         " 'my order never came', 1);"
                         "INSERT INTO decisions (post_rowid, action, queue, priority, decided_at)"
                         " VALUES (7, 'escalate', 'support', 'high', 2);",
                         NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'cases'"), 0);
    sqlite3_close(db);

    struct sb_store *s = open_store(path);
    T_CHECK(s != NULL);
    T_INTEQ(sb_store_schema_version(s), 3);
    T_INTEQ(sb_store_schema_version(s), sb_store_sqlite_migrations_count);
    struct sb_case c;
    struct sb_case_event ev;
    make_case(&c, 7, "old-1", "support", SB_PRIORITY_HIGH, 5000, 0);
    make_event(&ev, SB_CASE_EV_ESCALATED, 1000, 0, "{\"reasons\":[\"order\"]}");
    ev.post_rowid = 7;
    T_INTEQ(sb_store_case_create(s, &c, &ev, &eb), SB_OK);
    T_STREQ(c.summary, "my order never came"); /* from the post */
    sb_store_close(s);

    db = raw_open(path);
    T_INTEQ(raw_int(db, "PRAGMA user_version"), 3);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
                        " ('agents', 'sessions', 'cases', 'case_events')"),
            4);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN"
                        " ('cases_thread', 'cases_queue', 'cases_owner', 'cases_assignee',"
                        " 'cases_stats', 'case_events_case', 'case_events_outbox',"
                        " 'sessions_agent', 'sessions_expires')"),
            9);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM decisions"), 1);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM cases WHERE first_post_rowid = 7"), 1);
    /* append-only history */
    T_CHECK(sqlite3_exec(db, "UPDATE case_events SET at = 0", NULL, NULL, NULL) != SQLITE_OK);
    T_CHECK(sqlite3_exec(db, "DELETE FROM case_events", NULL, NULL, NULL) != SQLITE_OK);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM case_events"), 1);

    /* the plans the store's statements rely on (same shapes as sqlite_cases.c builds) */
    T_CHECK(plan_has(db,
                     "SELECT id, summary FROM cases WHERE owner = 'human' AND queue = 'support'"
                     " ORDER BY priority, due_at, id LIMIT 50",
                     "USING INDEX cases_queue (owner=? AND queue=?)", "TEMP B-TREE"));
    T_CHECK(plan_has(db,
                     "SELECT id, summary FROM cases WHERE owner = 'human' AND queue = 'support'"
                     " AND +assignee IS NULL AND (priority, due_at, id) > (1, 2, 3)"
                     " ORDER BY priority, due_at, id LIMIT 50",
                     "USING INDEX cases_queue (owner=? AND queue=? AND (priority,due_at)>(?,?))",
                     "TEMP B-TREE"));
    T_CHECK(plan_has(db,
                     "SELECT id, summary FROM cases WHERE owner = 'human' AND +queue = 'support'"
                     " AND assignee = 4 ORDER BY priority, due_at, id LIMIT 50",
                     "USING INDEX cases_assignee (assignee=? AND owner=?)", "TEMP B-TREE"));
    T_CHECK(
        plan_has(db,
                 "SELECT id, summary FROM cases WHERE owner = 'human' ORDER BY priority, due_at, id"
                 " LIMIT 50",
                 "USING INDEX cases_owner (owner=?)", "TEMP B-TREE"));
    T_CHECK(plan_has(db,
                     "SELECT id, summary FROM cases WHERE thread_key = 1 AND platform = 'mastodon'"
                     " AND thread_id = 'x' ORDER BY id DESC LIMIT 1",
                     "USING INDEX cases_thread (thread_key=?)", "TEMP B-TREE"));
    T_CHECK(plan_has(db,
                     "SELECT case_id FROM case_events WHERE outbox_id = 3 AND kind = 'reply'"
                     " ORDER BY id LIMIT 1",
                     "USING INDEX case_events_outbox (outbox_id=?)", NULL));
    T_CHECK(plan_has(db,
                     "SELECT queue, count(*), sum(assignee IS NULL), min(created_at),"
                     " sum(due_at < 5) FROM cases WHERE owner = 'human' GROUP BY queue"
                     " ORDER BY queue",
                     "USING COVERING INDEX cases_stats (owner=?)", "TEMP B-TREE"));
    sqlite3_close(db);

    /* opening again applies nothing twice */
    s = open_store(path);
    T_CHECK(s != NULL);
    T_INTEQ(sb_store_schema_version(s), 3);
    struct sb_case got;
    T_INTEQ(sb_store_case_by_thread(s, SB_PLATFORM_MASTODON, "old-1", &got, &eb), SB_OK);
    T_INTEQ(got.id, c.id);
    sb_store_close(s);
}

/* ---- agents and sessions -------------------------------------------------------------------- */

static void test_agents(void)
{
    char path[300];
    struct sb_errbuf eb = {{0}};
    struct sb_store *s = open_store(new_db(path, sizeof path));
    struct sb_agent a = {.role = SB_ROLE_SUPERVISOR, .created_at = 77}, got, list[4];
    int64_t id = 0, id2 = 0;
    size_t n = 9;

    snprintf(a.name, sizeof a.name, "zoe");
    snprintf(a.queues, sizeof a.queues, "support,billing");
    snprintf(a.pw_hash, sizeof a.pw_hash, "$argon2id$v=19$m=65536,t=2,p=1$abc$def");
    T_INTEQ(sb_store_agent_add(s, &a, &id, &eb), SB_OK);
    T_CHECK(id > 0);
    T_INTEQ(sb_store_agent_add(s, &a, &id2, &eb), SB_ERR_DUP);
    T_CHECK(strstr(eb.msg, "zoe") != NULL);
    id2 = add_agent(s, "alice", SB_ROLE_AGENT);
    T_CHECK(id2 > id);

    T_INTEQ(sb_store_agent_get(s, id, &got, &eb), SB_OK);
    T_STREQ(got.name, "zoe");
    T_INTEQ(got.role, SB_ROLE_SUPERVISOR);
    T_STREQ(got.queues, "support,billing");
    T_STREQ(got.pw_hash, a.pw_hash);
    T_CHECK(!got.disabled);
    T_INTEQ(got.created_at, 77);
    T_INTEQ(sb_store_agent_by_name(s, "alice", &got, &eb), SB_OK);
    T_INTEQ(got.id, id2);
    T_INTEQ(got.role, SB_ROLE_AGENT);
    T_STREQ(got.queues, "");
    T_INTEQ(sb_store_agent_by_name(s, "Alice", &got, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_agent_get(s, 999, &got, &eb), SB_ERR_NOTFOUND);

    /* ordered by name */
    T_INTEQ(sb_store_agent_list(s, 4, list, &n, &eb), SB_OK);
    T_INTEQ(n, 2);
    T_STREQ(list[0].name, "alice");
    T_STREQ(list[1].name, "zoe");
    T_INTEQ(sb_store_agent_list(s, 1, list, &n, &eb), SB_OK);
    T_INTEQ(n, 1);

    /* update: role, queues, hash, disabled; the name stays */
    a.id = id;
    a.role = SB_ROLE_ADMIN;
    a.disabled = true;
    snprintf(a.name, sizeof a.name, "ignored");
    snprintf(a.queues, sizeof a.queues, "vip");
    snprintf(a.pw_hash, sizeof a.pw_hash, "$argon2id$new");
    T_INTEQ(sb_store_agent_update(s, &a, &eb), SB_OK);
    T_INTEQ(sb_store_agent_get(s, id, &got, &eb), SB_OK);
    T_STREQ(got.name, "zoe");
    T_INTEQ(got.role, SB_ROLE_ADMIN);
    T_STREQ(got.queues, "vip");
    T_STREQ(got.pw_hash, "$argon2id$new");
    T_CHECK(got.disabled);
    a.id = 999;
    T_INTEQ(sb_store_agent_update(s, &a, &eb), SB_ERR_NOTFOUND);

    /* checks before the backend */
    struct sb_agent bad = {.role = SB_ROLE_AGENT};
    T_INTEQ(sb_store_agent_add(s, &bad, NULL, &eb), SB_ERR_INVAL); /* empty name */
    memset(bad.name, 'x', sizeof bad.name);                        /* not terminated */
    T_INTEQ(sb_store_agent_add(s, &bad, NULL, &eb), SB_ERR_TOOBIG);
    snprintf(bad.name, sizeof bad.name, "bob");
    bad.role = SB_ROLE__COUNT;
    T_INTEQ(sb_store_agent_add(s, &bad, NULL, &eb), SB_ERR_INVAL);
    char longname[100];
    memset(longname, 'y', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    T_INTEQ(sb_store_agent_by_name(s, longname, &got, &eb), SB_ERR_TOOBIG);
    T_INTEQ(sb_store_agent_get(NULL, id, &got, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_agent_list(s, 2, NULL, &n, &eb), SB_ERR_INVAL);
    sb_store_close(s);

    /* durable: another connection sees both agents */
    sqlite3 *db = raw_open(path);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM agents"), 2);
    sqlite3_close(db);
}

static void make_session(struct sb_session *se, char c, int64_t agent, int64_t expires)
{
    memset(se, 0, sizeof *se);
    memset(se->token_hash, c, SB_SESSION_HASH_LEN);
    memset(se->csrf, 'f', SB_CSRF_LEN);
    se->agent_id = agent;
    se->created_at = 100;
    se->expires_at = expires;
}

static void test_sessions(void)
{
    char path[300];
    struct sb_errbuf eb = {{0}};
    struct sb_store *s = open_store(new_db(path, sizeof path));
    int64_t ana = add_agent(s, "ana", SB_ROLE_AGENT), ben = add_agent(s, "ben", SB_ROLE_AGENT);
    struct sb_session se, got;
    int64_t n = -1;

    make_session(&se, 'a', ana, 1000);
    T_INTEQ(sb_store_session_add(s, &se, &eb), SB_OK);
    T_INTEQ(sb_store_session_add(s, &se, &eb), SB_ERR_DUP);
    make_session(&se, 'b', ana, 2000);
    T_INTEQ(sb_store_session_add(s, &se, &eb), SB_OK);
    make_session(&se, 'c', ben, 3000);
    T_INTEQ(sb_store_session_add(s, &se, &eb), SB_OK);
    make_session(&se, 'd', 999, 3000);
    T_INTEQ(sb_store_session_add(s, &se, &eb), SB_ERR_INVAL); /* no such agent */

    make_session(&se, 'a', ana, 0);
    T_INTEQ(sb_store_session_get(s, se.token_hash, 999, &got, &eb), SB_OK);
    T_INTEQ(got.agent_id, ana);
    T_INTEQ(got.expires_at, 1000);
    T_INTEQ(got.created_at, 100);
    T_STREQ(got.token_hash, se.token_hash);
    T_STREQ(got.csrf, se.csrf);
    T_INTEQ(sb_store_session_get(s, se.token_hash, 1000, &got, &eb), SB_ERR_NOTFOUND); /* expired */
    T_INTEQ(sb_store_session_get(s, "unknown", 0, &got, &eb), SB_ERR_NOTFOUND);
    char long_token[SB_SESSION_HASH_LEN + 2];
    memset(long_token, 'a', sizeof long_token - 1);
    long_token[sizeof long_token - 1] = 0;
    T_INTEQ(sb_store_session_get(s, long_token, 0, &got, &eb), SB_ERR_TOOBIG);

    /* purge: only what expired at now */
    T_INTEQ(sb_store_session_purge(s, 1500, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(sb_store_session_purge(s, 1500, &n, &eb), SB_OK);
    T_INTEQ(n, 0);
    make_session(&se, 'b', ana, 0);
    T_INTEQ(sb_store_session_get(s, se.token_hash, 1500, &got, &eb), SB_OK);
    /* delete one; unknown is fine */
    T_INTEQ(sb_store_session_delete(s, se.token_hash, &eb), SB_OK);
    T_INTEQ(sb_store_session_get(s, se.token_hash, 1500, &got, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_session_delete(s, se.token_hash, &eb), SB_OK);
    /* every session of an agent */
    make_session(&se, 'e', ben, 5000);
    T_INTEQ(sb_store_session_add(s, &se, &eb), SB_OK);
    T_INTEQ(sb_store_session_delete_agent(s, ben, &eb), SB_OK);
    T_INTEQ(sb_store_session_get(s, se.token_hash, 0, &got, &eb), SB_ERR_NOTFOUND);
    make_session(&se, 'c', ben, 0);
    T_INTEQ(sb_store_session_get(s, se.token_hash, 0, &got, &eb), SB_ERR_NOTFOUND);
    sb_store_close(s);

    sqlite3 *db = raw_open(path);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM sessions"), 0);
    sqlite3_close(db);
}

/* ---- cases ---------------------------------------------------------------------------------- */

static void test_case_cas(void)
{
    char path[300];
    struct sb_errbuf eb = {{0}};
    struct sb_store *s = open_store(new_db(path, sizeof path));
    int64_t alice = add_agent(s, "alice", SB_ROLE_AGENT);
    int64_t post = add_post(s, "500", "Where is my refund?");
    struct sb_case c, got, stale;
    struct sb_case_event ev, evs[8];
    size_t n = 0;

    make_case(&c, post, "500", "billing", SB_PRIORITY_HIGH, 9000, 0);
    c.id = 1234; /* ignored */
    c.version = 99;
    make_event(&ev, SB_CASE_EV_ESCALATED, 1000, 0, "");
    ev.post_rowid = post;
    T_INTEQ(sb_store_case_create(s, &c, &ev, &eb), SB_OK);
    T_CHECK(c.id > 0 && c.id != 1234);
    T_INTEQ(c.version, 1);
    T_INTEQ(ev.case_id, c.id);
    T_CHECK(ev.id > 0);
    T_STREQ(c.summary, "Where is my refund?");

    /* committed at once: a second connection sees the case and its event */
    sqlite3 *db = raw_open(path);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM cases"), 1);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM case_events"), 1);
    T_INTEQ(raw_int(db, "SELECT due_at FROM cases"), 9000);
    T_INTEQ(raw_int(db, "SELECT assignee IS NULL FROM cases"), 1); /* 0 is NULL */

    T_INTEQ(sb_store_case_by_thread(s, SB_PLATFORM_MASTODON, "500", &got, &eb), SB_OK);
    T_INTEQ(got.id, c.id);
    T_INTEQ(got.version, 1);
    T_INTEQ(got.platform, SB_PLATFORM_MASTODON);
    T_STREQ(got.account, "brand");
    T_STREQ(got.thread_id, "500");
    T_STREQ(got.queue, "billing");
    T_INTEQ(got.st.owner, SB_CASE_HUMAN);
    T_INTEQ(got.st.assignee, 0);
    T_INTEQ(got.st.priority, SB_PRIORITY_HIGH);
    T_INTEQ(got.st.first_due, 9000);
    T_INTEQ(got.st.next_due, 0);
    T_INTEQ(got.first_post_rowid, post);
    T_INTEQ(got.last_post_rowid, post);
    T_STREQ(got.author_handle, "carol");
    T_STREQ(got.summary, "Where is my refund?");
    T_INTEQ(got.created_at, 1000);
    T_INTEQ(got.closed_at, 0);
    T_INTEQ(sb_store_case_by_thread(s, SB_PLATFORM_BLUESKY, "500", &got, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_case_by_thread(s, SB_PLATFORM_MASTODON, "501", &got, &eb), SB_ERR_NOTFOUND);

    /* alice claims with the version she read */
    stale = c;
    c.st.assignee = alice;
    c.updated_at = 2000;
    make_event(&ev, SB_CASE_EV_CLAIMED, 2000, alice, "");
    T_INTEQ(sb_store_case_update(s, &c, &ev, &eb), SB_OK);
    T_INTEQ(c.version, 2);
    T_INTEQ(ev.case_id, c.id);
    T_INTEQ(raw_int(db, "SELECT version FROM cases"), 2);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM case_events"), 2);

    /* someone who read version 1 loses: nothing written, no event */
    stale.st.assignee = 0;
    stale.st.owner = SB_CASE_CLOSED;
    snprintf(stale.queue, sizeof stale.queue, "elsewhere");
    make_event(&ev, SB_CASE_EV_RESOLVED, 2500, 0, "{\"x\":1}");
    eb.msg[0] = 0;
    T_INTEQ(sb_store_case_update(s, &stale, &ev, &eb), SB_ERR_CONFLICT);
    T_CHECK(strstr(eb.msg, "version 2") != NULL);
    T_INTEQ(stale.version, 1);
    T_INTEQ(sb_store_case_get(s, c.id, &got, &eb), SB_OK);
    T_INTEQ(got.version, 2);
    T_INTEQ(got.st.assignee, alice);
    T_INTEQ(got.st.owner, SB_CASE_HUMAN);
    T_STREQ(got.queue, "billing");
    T_INTEQ(n_events(s, c.id), 2);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM case_events"), 2);
    /* and the conflict did not keep the write lock */
    T_CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE; COMMIT", NULL, NULL, NULL) == SQLITE_OK);

    /* unknown case; a reference that does not exist */
    stale.id = 999;
    T_INTEQ(sb_store_case_update(s, &stale, NULL, &eb), SB_ERR_NOTFOUND);
    got.st.assignee = 4242;
    T_INTEQ(sb_store_case_update(s, &got, NULL, &eb), SB_ERR_INVAL);
    T_INTEQ(got.version, 2);

    /* a second agent's notes, and the event log in order */
    make_event(&ev, SB_CASE_EV_NOTE, 3000, alice, "{\"text\":\"called her\"}");
    ev.case_id = c.id;
    T_INTEQ(sb_store_case_event_add(s, &ev, &eb), SB_OK);
    T_CHECK(ev.id > 0);
    T_INTEQ(sb_store_case_get(s, c.id, &got, &eb), SB_OK);
    T_INTEQ(got.version, 2); /* an event alone does not change the case */
    ev.case_id = 999;
    T_INTEQ(sb_store_case_event_add(s, &ev, &eb), SB_ERR_NOTFOUND);
    ev.case_id = c.id;
    ev.outbox_id = 777;
    T_INTEQ(sb_store_case_event_add(s, &ev, &eb), SB_ERR_INVAL);
    ev.outbox_id = 0;
    ev.kind = SB_CASE_EV__COUNT;
    T_INTEQ(sb_store_case_event_add(s, &ev, &eb), SB_ERR_INVAL);

    c.updated_at = 4000;
    c.st.owner = SB_CASE_CLOSED;
    c.closed_at = 4000;
    T_INTEQ(sb_store_case_update(s, &c, NULL, &eb), SB_OK); /* no event */
    T_INTEQ(c.version, 3);
    T_INTEQ(raw_int(db, "SELECT due_at FROM cases"), INT64_MAX); /* closed: no clock runs */

    T_INTEQ(sb_store_case_events(s, c.id, 8, evs, &n, &eb), SB_OK);
    T_INTEQ(n, 3);
    T_INTEQ(evs[0].kind, SB_CASE_EV_ESCALATED);
    T_INTEQ(evs[0].post_rowid, post);
    T_STREQ(evs[0].detail, "{}");
    T_INTEQ(evs[0].actor_id, 0);
    T_INTEQ(evs[1].kind, SB_CASE_EV_CLAIMED);
    T_INTEQ(evs[1].actor_id, alice);
    T_INTEQ(evs[2].kind, SB_CASE_EV_NOTE);
    T_STREQ(evs[2].detail, "{\"text\":\"called her\"}");
    T_INTEQ(evs[2].at, 3000);
    T_CHECK(evs[0].id < evs[1].id && evs[1].id < evs[2].id);
    T_INTEQ(sb_store_case_events(s, c.id, 2, evs, &n, &eb), SB_OK);
    T_INTEQ(n, 2);

    /* a newer case on the same thread is the one by_thread finds */
    struct sb_case c2;
    make_case(&c2, post, "500", "support", SB_PRIORITY_LOW, 0, 0);
    snprintf(c2.summary, sizeof c2.summary, "the caller's summary");
    T_INTEQ(sb_store_case_create(s, &c2, NULL, &eb), SB_OK);
    T_STREQ(c2.summary, "the caller's summary");
    T_INTEQ(sb_store_case_by_thread(s, SB_PLATFORM_MASTODON, "500", &got, &eb), SB_OK);
    T_INTEQ(got.id, c2.id);
    T_INTEQ(n_events(s, c2.id), 0);

    /* a case about a post that is not stored; bad fields */
    make_case(&c2, 9999, "x", "support", SB_PRIORITY_LOW, 0, 0);
    T_INTEQ(sb_store_case_create(s, &c2, NULL, &eb), SB_ERR_INVAL);
    make_case(&c2, post, "", "support", SB_PRIORITY_LOW, 0, 0);
    T_INTEQ(sb_store_case_create(s, &c2, NULL, &eb), SB_ERR_INVAL);
    make_case(&c2, post, "x", "support", SB_PRIORITY__COUNT, 0, 0);
    T_INTEQ(sb_store_case_create(s, &c2, NULL, &eb), SB_ERR_INVAL);
    make_case(&c2, post, "x", "support", SB_PRIORITY_LOW, 0, 0);
    memset(c2.queue, 'q', sizeof c2.queue);
    T_INTEQ(sb_store_case_create(s, &c2, NULL, &eb), SB_ERR_TOOBIG);
    make_case(&c2, post, "x", "support", SB_PRIORITY_LOW, 0, 0);
    make_event(&ev, SB_CASE_EV_ESCALATED, 1, 0, "");
    memset(ev.detail, '{', sizeof ev.detail);
    T_INTEQ(sb_store_case_create(s, &c2, &ev, &eb), SB_ERR_TOOBIG);
    /* a failed unit leaves nothing: the case is not written without its event */
    make_event(&ev, SB_CASE_EV_ESCALATED, 1, 4242 /* no such agent */, "");
    T_INTEQ(sb_store_case_create(s, &c2, &ev, &eb), SB_ERR_INVAL);
    T_INTEQ(c2.id, 0);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM cases"), 2);
    T_INTEQ(sb_store_case_get(s, 999, &got, &eb), SB_ERR_NOTFOUND);
    sqlite3_close(db);
    sb_store_close(s);
}

/* Two processes (two stores on one file) claim the same case: one wins. */
static void test_case_two_writers(void)
{
    char path[300];
    struct sb_errbuf eb = {{0}};
    struct sb_store *a = open_store(new_db(path, sizeof path)), *b = open_store(path);
    int64_t post = add_post(a, "600", "help");
    int64_t ana = add_agent(a, "ana", SB_ROLE_AGENT), ben = add_agent(a, "ben", SB_ROLE_AGENT);
    struct sb_case c, ca, cb;
    struct sb_case_event ev;

    make_case(&c, post, "600", "support", SB_PRIORITY_NORMAL, 5000, 0);
    T_INTEQ(sb_store_case_create(a, &c, NULL, &eb), SB_OK);
    T_INTEQ(sb_store_case_get(a, c.id, &ca, &eb), SB_OK);
    T_INTEQ(sb_store_case_get(b, c.id, &cb, &eb), SB_OK);
    ca.st.assignee = ana;
    cb.st.assignee = ben;
    make_event(&ev, SB_CASE_EV_CLAIMED, 10, ana, "");
    T_INTEQ(sb_store_case_update(a, &ca, &ev, &eb), SB_OK);
    make_event(&ev, SB_CASE_EV_CLAIMED, 11, ben, "");
    T_INTEQ(sb_store_case_update(b, &cb, &ev, &eb), SB_ERR_CONFLICT);
    T_INTEQ(sb_store_case_get(b, c.id, &cb, &eb), SB_OK);
    T_INTEQ(cb.st.assignee, ana);
    T_INTEQ(cb.version, 2);
    T_INTEQ(n_events(b, c.id), 1);
    sb_store_close(a);
    sb_store_close(b);
}

/* A case write commits the ingest batch that is open with it. */
static void test_commits_batch(void)
{
    char path[300];
    struct sb_errbuf eb = {{0}};
    struct sb_store *s = open_store(new_db(path, sizeof path));
    sb_store_set_batch(s, 1000);
    add_post(s, "700", "batched");
    sqlite3 *db = raw_open(path);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM posts"), 0); /* still in the open batch */
    /* a read, or a write that changes nothing, leaves the batch alone */
    struct sb_agent got;
    T_INTEQ(sb_store_agent_get(s, 1, &got, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_session_delete(s, "nothing", &eb), SB_OK);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM posts"), 0);
    add_agent(s, "ana", SB_ROLE_AGENT);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM posts"), 1);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM agents"), 1);
    T_INTEQ(sb_store_flush(s, &eb), SB_OK);
    sqlite3_close(db);
    sb_store_close(s);
}

static void test_summary_cut(void)
{
    char dst[16];
    /* "ab" then é (2 bytes) ×6 then a family emoji (ZWJ sequence): cut on a cluster boundary */
    const char *t = "ab\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9";
    sb_store_case_summary(dst, sizeof dst, t, strlen(t));
    T_STREQ(dst, "ab\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"); /* 14 bytes */
    /* a ZWJ sequence cut after its first emoji: the whole sequence goes */
    const char *z = "abcdefghij\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9";
    sb_store_case_summary(dst, sizeof dst, z, strlen(z));
    T_STREQ(dst, "abcdefghij");
    /* e + combining acute cut between them: the letter goes too */
    const char *m = "0123456789abcde\xcc\x81";
    sb_store_case_summary(dst, sizeof dst, m, strlen(m));
    T_STREQ(dst, "0123456789abcd");
    sb_store_case_summary(dst, sizeof dst, "short", 5);
    T_STREQ(dst, "short");
    sb_store_case_summary(dst, sizeof dst, NULL, 0);
    T_STREQ(dst, "");

    /* through the store: the first post's long text becomes a summary that fits */
    char path[300], text[2000];
    struct sb_errbuf eb = {{0}};
    struct sb_store *s = open_store(new_db(path, sizeof path));
    size_t k = 0;
    while (k + 4 < sizeof text) {
        memcpy(text + k, "\xe2\x82\xac", 3); /* € */
        k += 3;
    }
    text[k] = 0;
    int64_t post = add_post(s, "800", text);
    struct sb_case c;
    make_case(&c, post, "800", "support", SB_PRIORITY_LOW, 0, 0);
    T_INTEQ(sb_store_case_create(s, &c, NULL, &eb), SB_OK);
    T_INTEQ(strlen(c.summary), 510); /* 170 whole € */
    T_CHECK(strncmp(c.summary, text, 510) == 0);
    sb_store_close(s);
}

/* ---- lists ---------------------------------------------------------------------------------- */

static int cmp_list(const void *a, const void *b)
{
    const struct sb_case *x = a, *y = b;
    if (x->st.priority != y->st.priority)
        return x->st.priority < y->st.priority ? -1 : 1;
    int64_t dx = sb_case_list_due(x), dy = sb_case_list_due(y);
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Whether c passes f as the store should apply it (queues: a comma list without spaces). */
static bool matches(const struct sb_case *c, const struct sb_case_filter *f)
{
    if (f->owner >= 0 && (int)c->st.owner != f->owner)
        return false;
    if (f->assignee > 0 && c->st.assignee != f->assignee)
        return false;
    if (f->assignee < 0 && c->st.assignee != 0)
        return false;
    if (!f->queues || !*f->queues)
        return true;
    char list[SB_AGENT_QUEUES_MAX], *save = NULL;
    snprintf(list, sizeof list, "%s", f->queues);
    for (char *q = strtok_r(list, ",", &save); q; q = strtok_r(NULL, ",", &save))
        if (strcmp(q, c->queue) == 0)
            return true;
    return false;
}

/* Page through f with pages of `page` and compare with the expected order of all[0 .. n). */
static void check_paging(struct sb_store *s, const struct sb_case *all, size_t n_all,
                         struct sb_case_filter f, size_t page, const char *label)
{
    struct sb_errbuf eb = {{0}};
    struct sb_case *want = calloc(n_all, sizeof *want), *got = calloc(page, sizeof *got);
    size_t n_want = 0, seen = 0, n = 0;
    int bad = 0;
    for (size_t i = 0; i < n_all; i++)
        if (matches(&all[i], &f))
            want[n_want++] = all[i];
    qsort(want, n_want, sizeof *want, cmp_list);
    f.after_set = false;
    for (int pages = 0; pages < 1000; pages++) {
        if (sb_store_case_list(s, &f, page, got, &n, &eb) != SB_OK) {
            fprintf(stderr, "%s: %s\n", label, eb.msg);
            bad++;
            break;
        }
        for (size_t i = 0; i < n; i++, seen++)
            if (seen >= n_want || got[i].id != want[seen].id)
                bad++;
        if (n < page)
            break;
        f.after_set = true;
        f.after_priority = (int)got[n - 1].st.priority;
        f.after_due = sb_case_list_due(&got[n - 1]);
        f.after_id = got[n - 1].id;
    }
    if (bad || seen != n_want)
        fprintf(stderr, "%s: %d rows out of place, %zu seen of %zu\n", label, bad, seen, n_want);
    T_CHECK(bad == 0);
    T_INTEQ(seen, n_want);
    free(want);
    free(got);
}

static void test_list(void)
{
    char path[300];
    struct sb_errbuf eb = {{0}};
    struct sb_store *s = open_store(new_db(path, sizeof path));
    int64_t post = add_post(s, "900", "list me");
    int64_t ana = add_agent(s, "ana", SB_ROLE_AGENT), ben = add_agent(s, "ben", SB_ROLE_AGENT);
    enum { N = 300 };
    struct sb_case *all = calloc(N + 40, sizeof *all), c;
    size_t n_all = 0;
    static const char *const queues[] = {"support", "billing", "vip"};
    char thread[32];

    /* few distinct (priority, due) values: many ties, broken by id across page ends */
    for (int i = 0; i < N; i++) {
        snprintf(thread, sizeof thread, "t%d", i);
        int64_t first = i % 5 == 0 ? 0 : 10000 + (i % 3) * 1000;
        int64_t next = i % 7 == 0 ? 10500 : 0;
        make_case(&c, post, thread, queues[i % 3], (enum sb_priority)(i % 4), first, next);
        c.st.owner = i % 11 == 0 ? SB_CASE_CLOSED : i % 13 == 0 ? SB_CASE_POLICY : SB_CASE_HUMAN;
        c.st.assignee = c.st.owner == SB_CASE_HUMAN && i % 4 == 1 ? (i % 8 == 1 ? ana : ben) : 0;
        if (i % 17 == 0)
            c.st.first_responded_at = 1; /* first clock stopped */
        T_INTEQ(sb_store_case_create(s, &c, NULL, &eb), SB_OK);
        all[n_all++] = c;
    }
    /* 20 one-case queues, for a filter with more ranges than are merged */
    char many[SB_AGENT_QUEUES_MAX] = "";
    for (int i = 0; i < 20; i++) {
        char q[16];
        snprintf(thread, sizeof thread, "m%d", i);
        snprintf(q, sizeof q, "q%d", i);
        make_case(&c, post, thread, q, (enum sb_priority)(i % 2), 20000 - i, 0);
        T_INTEQ(sb_store_case_create(s, &c, NULL, &eb), SB_OK);
        all[n_all++] = c;
        snprintf(many + strlen(many), sizeof many - strlen(many), i ? ",%s" : "%s", q);
    }
    snprintf(many + strlen(many), sizeof many - strlen(many), ",support");

    /* the first page of a queue, by hand */
    struct sb_case page[8];
    size_t n = 0;
    struct sb_case_filter f = {.owner = SB_CASE_HUMAN, .queues = "support"};
    T_INTEQ(sb_store_case_list(s, &f, 8, page, &n, &eb), SB_OK);
    T_INTEQ(n, 8);
    for (size_t i = 1; i < n; i++)
        T_CHECK(cmp_list(&page[i - 1], &page[i]) < 0);
    T_INTEQ(page[0].st.priority, SB_PRIORITY_URGENT);
    for (size_t i = 0; i < n; i++)
        T_STREQ(page[i].queue, "support");

    struct sb_case_filter shapes[] = {
        {.owner = SB_CASE_HUMAN, .queues = "support"},
        {.owner = SB_CASE_HUMAN, .queues = "support,billing"},
        {.owner = SB_CASE_HUMAN, .queues = NULL},
        {.owner = -1, .queues = NULL},
        {.owner = -1, .queues = "vip"},
        {.owner = -1, .queues = "billing,vip"},
        {.owner = SB_CASE_CLOSED, .queues = ""},
        {.owner = SB_CASE_HUMAN, .queues = "support", .assignee = -1},
        {.owner = SB_CASE_HUMAN, .queues = NULL, .assignee = -1},
        {.owner = SB_CASE_HUMAN, .queues = "support,vip", .assignee = -1},
        {.owner = SB_CASE_HUMAN, .queues = "support", .assignee = 0},
        {.owner = SB_CASE_HUMAN, .queues = "billing", .assignee = 1},
        {.owner = -1, .queues = "support,vip", .assignee = 2},
        {.owner = SB_CASE_HUMAN, .queues = NULL, .assignee = 2},
        {.owner = SB_CASE_HUMAN, .queues = many},
        {.owner = -1, .queues = many, .assignee = -1},
        {.owner = SB_CASE_HUMAN, .queues = "nosuch"},
    };
    shapes[11].assignee = ana;
    shapes[12].assignee = ben;
    shapes[13].assignee = ana;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char label[48];
        snprintf(label, sizeof label, "list shape %zu", i);
        check_paging(s, all, n_all, shapes[i], 7, label);
        check_paging(s, all, n_all, shapes[i], 1, label);
        check_paging(s, all, n_all, shapes[i], 500, label);
    }

    /* queue names: spaces and repeats do not change the answer */
    struct sb_case_filter sp = {.owner = SB_CASE_HUMAN, .queues = " billing , support,billing,,"};
    struct sb_case *a1 = calloc(400, sizeof *a1), *a2 = calloc(400, sizeof *a2);
    size_t n1 = 0, n2 = 0;
    T_INTEQ(sb_store_case_list(s, &sp, 400, a1, &n1, &eb), SB_OK);
    T_INTEQ(sb_store_case_list(s, &shapes[1], 400, a2, &n2, &eb), SB_OK);
    T_INTEQ(n1, n2);
    for (size_t i = 0; i < n1 && i < n2; i++)
        T_INTEQ(a1[i].id, a2[i].id);
    /* bad filters */
    struct sb_case_filter bad = {.owner = 7};
    T_INTEQ(sb_store_case_list(s, &bad, 4, page, &n, &eb), SB_ERR_INVAL);
    bad.owner = -1;
    bad.assignee = -2;
    T_INTEQ(sb_store_case_list(s, &bad, 4, page, &n, &eb), SB_ERR_INVAL);
    char longq[SB_AGENT_QUEUES_MAX + 10];
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = 0;
    bad.assignee = 0;
    bad.queues = longq;
    T_INTEQ(sb_store_case_list(s, &bad, 4, page, &n, &eb), SB_ERR_TOOBIG);
    longq[SB_QUEUE_NAME_MAX + 5] = 0;
    T_INTEQ(sb_store_case_list(s, &bad, 4, page, &n, &eb), SB_ERR_TOOBIG);
    /* NULL filter: everything */
    T_INTEQ(sb_store_case_list(s, NULL, 400, a1, &n1, &eb), SB_OK);
    T_INTEQ(n1, n_all);

    /* queue statistics at now = 10600: human cases only */
    struct sb_queue_stats qs[32];
    size_t nq = 0;
    const int64_t now = 10600;
    T_INTEQ(sb_store_queue_stats(s, now, 32, qs, &nq, &eb), SB_OK);
    T_INTEQ(nq, 23); /* billing, q0 .. q19, support, vip */
    int checked = 0;
    for (size_t k = 0; k < nq; k++) {
        int64_t open = 0, unclaimed = 0, breached = 0, oldest = 0;
        for (size_t i = 0; i < n_all; i++) {
            const struct sb_case *x = &all[i];
            if (x->st.owner != SB_CASE_HUMAN || strcmp(x->queue, qs[k].queue) != 0)
                continue;
            open++;
            unclaimed += x->st.assignee == 0;
            breached += sb_case_breached(&x->st, now);
            if (!oldest || x->created_at < oldest)
                oldest = x->created_at;
        }
        T_INTEQ(qs[k].open, open);
        T_INTEQ(qs[k].unclaimed, unclaimed);
        T_INTEQ(qs[k].breached, breached);
        T_INTEQ(qs[k].oldest_at, oldest);
        checked += open > 0;
        if (k)
            T_CHECK(strcmp(qs[k - 1].queue, qs[k].queue) < 0);
    }
    T_INTEQ(checked, 23);
    T_STREQ(qs[0].queue, "billing");
    T_CHECK(qs[nq - 2].breached > 0 && qs[nq - 2].unclaimed < qs[nq - 2].open);
    T_INTEQ(sb_store_queue_stats(s, now, 2, qs, &nq, &eb), SB_OK);
    T_INTEQ(nq, 2);

    free(a1);
    free(a2);
    free(all);
    sb_store_close(s);
}

/* ---- the console's view of posts and replies --------------------------------------------------
 */

static void test_outbox_and_post_view(void)
{
    char path[300];
    struct sb_errbuf eb = {{0}};
    struct sb_store *s = open_store(new_db(path, sizeof path));
    int64_t ana = add_agent(s, "ana", SB_ROLE_AGENT);
    struct sb_post p;
    struct sb_decision d;
    struct sb_effect fx[SB_EFFECTS_MAX];
    size_t n_fx = 0;
    int64_t rowid = 0, did = 0;

    make_post(&p, "1000", "My parcel is lost");
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, &rowid, &eb), SB_OK);
    /* first an escalation that failed in the policy (long traceback), then an answer */
    sb_decision_init(&d);
    char tb[3000];
    memset(tb, 't', sizeof tb - 1);
    tb[sizeof tb - 1] = 0;
    T_INTEQ(sb_decision_set_error(&d, "support", SB_ERR_POLICY, "boom", "policy.lua", 3, tb),
            SB_OK);
    T_INTEQ(sb_store_decision_record(s, rowid, &d, NULL, 0, 100, NULL, &eb), SB_OK);
    struct sb_post_view *v = calloc(1, sizeof *v);
    T_INTEQ(sb_store_post_view(s, rowid, v, &eb), SB_OK);
    T_STREQ(v->action, "escalate");
    T_STREQ(v->queue, "support");
    T_STREQ(v->priority, "high");
    json_error_t je;
    json_t *err = json_loads(v->error, 0, &je); /* valid JSON without the traceback */
    T_CHECK(err != NULL);
    T_STREQ(json_string_value(json_object_get(err, "message")), "boom");
    T_CHECK(json_object_get(err, "traceback") == NULL);
    json_decref(err);
    sb_decision_free(&d);

    sb_decision_init(&d);
    d.action = SB_ACTION_MOVE_TO_PRIVATE;
    d.reply = "We've sent you a DM";
    d.message = "Hi Carol, could you send us the tracking number?";
    d.policy_version = "v2";
    char reason[200];
    for (int i = 0; i < SB_DECISION_REASONS_MAX; i++) { /* more than the view holds */
        memset(reason, 'a' + i, sizeof reason - 1);
        reason[sizeof reason - 1] = 0;
        sb_decision_add_reason(&d, reason);
    }
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n_fx), SB_OK);
    T_INTEQ(n_fx, 2);
    T_INTEQ(sb_store_decision_record(s, rowid, &d, fx, n_fx, 200, &did, &eb), SB_OK);

    T_INTEQ(sb_store_post_view(s, rowid, v, &eb), SB_OK);
    T_INTEQ(v->rowid, rowid);
    T_INTEQ(v->platform, SB_PLATFORM_MASTODON);
    T_STREQ(v->post_id, "1000");
    T_STREQ(v->author_id, "acct-9");
    T_STREQ(v->author_handle, "carol");
    T_STREQ(v->author_name, "Carol");
    T_INTEQ(v->author_followers, 42);
    T_CHECK(v->author_verified && !v->author_bot);
    T_STREQ(v->text, "My parcel is lost");
    T_STREQ(v->url, "https://social.example/@carol/1");
    T_INTEQ(v->created_ms, 1700000000000);
    T_INTEQ(v->deleted_at, 0);
    T_STREQ(v->kind, "mention");
    T_INTEQ(v->decision_id, did); /* the latest */
    T_STREQ(v->action, "move_to_private");
    T_STREQ(v->queue, "");
    T_STREQ(v->reply, "We've sent you a DM");
    T_STREQ(v->policy_version, "v2");
    T_STREQ(v->error, "");
    T_INTEQ(v->decided_at, 200);
    json_t *rs = json_loads(v->reasons, 0, &je); /* cut to whole reasons, still JSON */
    T_CHECK(rs != NULL && json_is_array(rs));
    T_CHECK(json_array_size(rs) > 5 && json_array_size(rs) < SB_DECISION_REASONS_MAX);
    T_INTEQ(strlen(json_string_value(json_array_get(rs, 0))), 199);
    json_decref(rs);
    T_INTEQ(sb_store_post_mark_deleted(s, SB_PLATFORM_MASTODON, "1000", &eb), SB_OK);
    T_INTEQ(sb_store_post_view(s, rowid, v, &eb), SB_OK);
    T_CHECK(v->deleted_at > 0);
    T_INTEQ(sb_store_post_view(s, 9999, v, &eb), SB_ERR_NOTFOUND);
    int64_t bare = add_post(s, "1001", "no decision yet");
    T_INTEQ(sb_store_post_view(s, bare, v, &eb), SB_OK);
    T_INTEQ(v->decision_id, 0);
    T_STREQ(v->action, "");
    T_STREQ(v->reasons, "");

    /* the post's outbox entries, oldest first */
    struct sb_outbox_entry *out = calloc(4, sizeof *out);
    size_t n = 0;
    T_INTEQ(sb_store_outbox_for_post(s, rowid, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 2);
    T_CHECK(out[0].id < out[1].id);
    T_INTEQ(out[0].kind, SB_EFFECT_PUBLIC_REPLY);
    T_STREQ(out[0].text, "We've sent you a DM");
    T_INTEQ(out[1].kind, SB_EFFECT_DIRECT_MESSAGE);
    T_INTEQ(out[0].decision_id, did);
    T_INTEQ(sb_store_outbox_for_post(s, rowid, 1, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(sb_store_outbox_for_post(s, bare, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 0);

    /* the case an agent reply went out for */
    struct sb_case c, got;
    struct sb_case_event ev;
    make_case(&c, rowid, "1000", "support", SB_PRIORITY_NORMAL, 0, 0);
    T_INTEQ(sb_store_case_create(s, &c, NULL, &eb), SB_OK);
    make_event(&ev, SB_CASE_EV_NOTE, 5, ana, "");
    ev.case_id = c.id;
    ev.outbox_id = out[0].id; /* names the entry but is not the reply */
    T_INTEQ(sb_store_case_event_add(s, &ev, &eb), SB_OK);
    T_INTEQ(sb_store_case_by_outbox(s, out[0].id, &got, &eb), SB_ERR_NOTFOUND);
    make_event(&ev, SB_CASE_EV_REPLY, 6, ana, "{\"private\":false}");
    ev.outbox_id = out[0].id;
    T_INTEQ(sb_store_case_update(s, &c, &ev, &eb), SB_OK);
    T_INTEQ(sb_store_case_by_outbox(s, out[0].id, &got, &eb), SB_OK);
    T_INTEQ(got.id, c.id);
    T_INTEQ(got.version, 2);
    T_INTEQ(sb_store_case_by_outbox(s, 12345, &got, &eb), SB_ERR_NOTFOUND);

    free(out);
    free(v);
    sb_decision_free(&d);
    sb_post_free(&p);
    sb_store_close(s);
}

/* ---- timing -----------------------------------------------------------------------------------
 */

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Median of 9 runs of sb_store_case_list(f, 50), in ms; *n receives the rows of the last. */
static double time_list(struct sb_store *s, const struct sb_case_filter *f, struct sb_case *out,
                        size_t *n)
{
    double t[9];
    struct sb_errbuf eb = {{0}};
    for (int i = 0; i < 9; i++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (sb_store_case_list(s, f, 50, out, n, &eb) != SB_OK)
            fprintf(stderr, "bench list: %s\n", eb.msg);
        t[i] = ms_since(&t0);
    }
    for (int i = 1; i < 9; i++)
        for (int k = i; k > 0 && t[k] < t[k - 1]; k--) {
            double x = t[k];
            t[k] = t[k - 1];
            t[k - 1] = x;
        }
    return t[4];
}

static void test_bench_list(void)
{
    const char *env = getenv("SB_CASES_BENCH_N");
    long total = env ? strtol(env, NULL, 10) : 100000;
    char path[300], url[340];
    struct sb_errbuf eb = {{0}};
    struct timespec t0;
    if (total <= 0)
        return;
    new_db(path, sizeof path);
    snprintf(url, sizeof url, "sqlite:%s?synchronous=normal", path);
    struct sb_store *s = NULL;
    T_INTEQ(sb_store_open(url, &s, &eb), SB_OK);
    if (!s)
        return;
    int64_t post = add_post(s, "b1", "benchmark post");
    int64_t ana = add_agent(s, "ana", SB_ROLE_AGENT);
    struct sb_case c;
    char thread[32];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long extra = total / 10; /* another queue's and closed cases around them */
    for (long i = 0; i < total + 2 * extra; i++) {
        snprintf(thread, sizeof thread, "bench-%ld", i);
        make_case(&c, post, thread, i < total + extra ? "support" : "billing",
                  (enum sb_priority)(i % 4), i % 5 ? 1700000000000 + (i * 7919) % 86400000 : 0, 0);
        if (i >= total && i < total + extra)
            c.st.owner = SB_CASE_CLOSED;
        if (i % 100 == 3)
            c.st.assignee = ana;
        c.created_at = 1700000000000 + i;
        if (sb_store_case_create(s, &c, NULL, &eb) != SB_OK) {
            fprintf(stderr, "bench create: %s\n", eb.msg);
            break;
        }
    }
    double create_ms = ms_since(&t0);

    struct sb_case *out = calloc(50, sizeof *out);
    size_t n = 0;
    struct sb_case_filter f = {.owner = SB_CASE_HUMAN, .queues = "support"};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T_INTEQ(sb_store_case_list(s, &f, 50, out, &n, &eb), SB_OK);
    double cold = ms_since(&t0);
    T_INTEQ(n, 50);
    double first = time_list(s, &f, out, &n);
    /* a page from the middle */
    f.after_set = true;
    f.after_priority = SB_PRIORITY_HIGH;
    f.after_due = 1700000000000 + 43200000;
    f.after_id = 0;
    double middle = time_list(s, &f, out, &n);
    T_INTEQ(n, 50);
    struct sb_case_filter fu = {.owner = SB_CASE_HUMAN, .queues = "support", .assignee = -1};
    double unclaimed = time_list(s, &fu, out, &n);
    struct sb_case_filter fm = {.owner = SB_CASE_HUMAN, .queues = "support,billing"};
    double merged = time_list(s, &fm, out, &n);
    struct sb_case_filter fa = {.owner = SB_CASE_HUMAN, .queues = "support", .assignee = ana};
    double mine = time_list(s, &fa, out, &n);
    struct sb_case_filter fall = {.owner = SB_CASE_HUMAN};
    double every = time_list(s, &fall, out, &n);
    struct sb_queue_stats qs[4];
    size_t nq = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T_INTEQ(sb_store_queue_stats(s, 1700000000000 + 43200000, 4, qs, &nq, &eb), SB_OK);
    double stats = ms_since(&t0);
    T_INTEQ(nq, 2);
    struct sb_case got;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 1000; i++) {
        snprintf(thread, sizeof thread, "bench-%d", i * 97);
        sb_store_case_by_thread(s, SB_PLATFORM_MASTODON, thread, &got, &eb);
    }
    double by_thread = ms_since(&t0) / 1000;

    fprintf(stderr,
            "bench: %ld open cases in one queue (+%ld closed, +%ld in another queue);"
            " created one by one (a commit each, synchronous=normal) in %.0f ms (%.0f/s)\n"
            "bench: list 50, median of 9: first page %.3f ms (first call, with prepare: %.3f ms),"
            " a middle page %.3f ms, unclaimed %.3f ms, two queues merged %.3f ms,"
            " one agent's %.3f ms, every queue %.3f ms\n"
            "bench: queue stats %.1f ms; case by thread %.4f ms\n",
            total, extra, extra, create_ms, (double)(total + 2 * extra) * 1e3 / create_ms, first,
            cold, middle, unclaimed, merged, mine, every, stats, by_thread);
    free(out);
    sb_store_close(s);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sb-cases-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_migrate_v2_file);
    T_RUN(test_agents);
    T_RUN(test_sessions);
    T_RUN(test_case_cas);
    T_RUN(test_case_two_writers);
    T_RUN(test_commits_batch);
    T_RUN(test_summary_cut);
    T_RUN(test_list);
    T_RUN(test_outbox_and_post_view);
    T_RUN(test_bench_list);
    remove_dbs();
    T_DONE();
}
