/* test_store.c — the store (src/store) against real SQLite files in a fresh temp directory:
 * migrations, dedupe, deletes, cursors, group commit and durability across connections,
 * string fidelity, size limits, URL options; ends with an insert-rate measurement (printed,
 * not asserted). A second, raw sqlite3 connection is used to see what is really on disk.
 * SB_STORE_BENCH_N (env) sets the number of post+decision pairs for the measurement. */
#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "store/backend.h" /* sb_store_sqlite_migrations_count: the newest schema version */
#include "store/store.h"
#include "store_helpers.h"
#include "t.h"

static sqlite3 *raw_open(const char *path)
{
    return raw_open_flags(path, 0);
}

/* Copy of the text of the first column of the first row (malloc'd) or NULL. */
static char *raw_text(sqlite3 *db, const char *sql, int *len)
{
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        int n = sqlite3_column_bytes(st, 0);
        const unsigned char *t = sqlite3_column_text(st, 0);
        out = malloc((size_t)n + 1);
        memcpy(out, t, (size_t)n);
        out[n] = 0;
        if (len)
            *len = n;
    }
    sqlite3_finalize(st);
    return out;
}

static int64_t count(struct sb_store *s, const char *what)
{
    int64_t n = -1;
    struct sb_errbuf eb = {{0}};
    if (sb_store_count(s, what, &n, &eb) != SB_OK)
        fprintf(stderr, "count %s: %s\n", what, eb.msg);
    return n;
}

/* A post filled by hand (the strings are literals; the arena is only for init/free). */
static void make_post(struct sb_post *p, enum sb_platform pl, const char *id, const char *text)
{
    sb_post_init(p);
    p->platform = pl;
    p->kind = SB_POST_MENTION;
    p->id = id;
    p->account = "brand";
    p->text = text;
    p->lang = "en";
    p->created_at = "2024-05-01T10:00:00.000Z";
    p->created_ms = 1714557600000;
    p->visibility = "public";
    p->thread = id;
    p->author.id = "acct-1";
    p->author.handle = "ana";
    p->author.name = "Ana";
    p->author.followers = 42;
}

static void make_decision(struct sb_decision *d, enum sb_action a)
{
    sb_decision_init(d);
    d->action = a;
    d->reply = "Thanks!";
    d->queue = "support";
    d->priority = SB_PRIORITY_HIGH;
    d->policy_version = "abc123";
    d->latency_ns = 12345;
    sb_decision_add_reason(d, "default");
}

static void test_migrate_fresh_and_reopen(void)
{
    char path[300];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    int64_t rowid = 0;

    new_db(path, sizeof path);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(sb_store_schema_version(s), sb_store_sqlite_migrations_count);
    make_post(&p, SB_PLATFORM_MASTODON, "100", "hello");
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, &rowid, &eb), SB_OK);
    sb_store_close(s);

    sqlite3 *db = raw_open(path);
    T_INTEQ(raw_int(db, "PRAGMA user_version"), sb_store_sqlite_migrations_count);
    T_INTEQ(raw_int(db, "PRAGMA application_id"), 1396863588);
    char *mode = raw_text(db, "PRAGMA journal_mode", NULL);
    T_STREQ(mode, "wal");
    free(mode);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
                        " ('posts','decisions','stream_cursors','policy_versions')"),
            4);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN"
                        " ('posts_thread','posts_author','decisions_post')"),
            3);
    sqlite3_close(db);

    /* Reopen: migrations have no IF NOT EXISTS, so re-running one would fail the open. */
    s = NULL;
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(sb_store_schema_version(s), sb_store_sqlite_migrations_count);
    T_INTEQ(count(s, "posts"), 1);
    sb_store_close(s);
    sb_post_free(&p);
}

static void test_refuse_future_and_foreign(void)
{
    char path[300];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};

    new_db(path, sizeof path);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    sb_store_close(s);
    sqlite3 *db = raw_open(path);
    T_CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    s = (struct sb_store *)&eb; /* must be reset to NULL on failure */
    eb.msg[0] = 0;
    T_INTEQ(sb_store_open(path, &s, &eb), SB_ERR_SCHEMA);
    T_CHECK(s == NULL);
    T_CHECK(strstr(eb.msg, "99") != NULL && strstr(eb.msg, "upgrade") != NULL);
    db = raw_open(path); /* the refused file is left untouched */
    T_INTEQ(raw_int(db, "PRAGMA user_version"), 99);
    sqlite3_close(db);

    /* Somebody else's SQLite file: refused, not "migrated". */
    new_db(path, sizeof path);
    T_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, "CREATE TABLE notes (x)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_ERR_SCHEMA);
    T_CHECK(strstr(eb.msg, "not a switchboard database") != NULL);
}

static void test_post_decision_dup(void)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    int64_t r1 = 0, r2 = 0, r3 = 0;

    T_INTEQ(sb_store_open(":memory:", &s, &eb), SB_OK);
    make_post(&p, SB_PLATFORM_MASTODON, "200", "first");
    make_decision(&d, SB_ACTION_ACKNOWLEDGE);
    T_INTEQ(sb_store_post_insert(s, &p, "{\"id\":\"200\"}", 12, &r1, &eb), SB_OK);
    T_CHECK(r1 > 0);
    T_INTEQ(sb_store_decision_insert(s, r1, &d, 1714557600123, &eb), SB_OK);

    /* Redelivery: refused by the unique key, nothing written, first row id reported. */
    p.text = "changed";
    eb.msg[0] = 0;
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, &r2, &eb), SB_ERR_DUP);
    T_INTEQ(r2, r1);
    T_CHECK(strstr(eb.msg, "mastodon:200") != NULL);
    T_INTEQ(count(s, "posts"), 1);

    /* Same id on another platform is another post. */
    p.platform = SB_PLATFORM_BLUESKY;
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, &r3, &eb), SB_OK);
    T_CHECK(r3 != r1);
    T_INTEQ(count(s, "posts"), 2);
    T_INTEQ(count(s, "decisions"), 1);

    /* A decision must refer to a stored post. */
    T_INTEQ(sb_store_decision_insert(s, 987654, &d, 1, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(count(s, "decisions"), 1);

    /* Invalid input. */
    p.id = NULL;
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_ERR_INVAL);
    p.id = "x";
    p.platform = SB_PLATFORM_UNKNOWN;
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_ERR_INVAL);
    T_INTEQ(count(s, "posts"), 2);
    T_INTEQ(sb_store_count(s, "bogus", &r2, &eb), SB_ERR_INVAL);

    /* Policy versions: first sighting only. */
    T_INTEQ(sb_store_policy_version_record(s, "abc123", "{\"main.lua\":\"ff\"}", &eb), SB_OK);
    T_INTEQ(sb_store_policy_version_record(s, "abc123", "{\"other\":1}", &eb), SB_OK);
    T_INTEQ(count(s, "policy_versions"), 1);

    T_INTEQ(sb_store_flush(s, &eb), SB_OK);
    sb_store_close(s);
    sb_post_free(&p);
    sb_decision_free(&d);
}

static void test_mark_deleted(void)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;

    T_INTEQ(sb_store_open("sqlite::memory:", &s, &eb), SB_OK);
    make_post(&p, SB_PLATFORM_BLUESKY, "at://did:plc:x/app.bsky.feed.post/1", "bye");
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    T_INTEQ(count(s, "deleted"), 0);
    T_INTEQ(sb_store_post_mark_deleted(s, SB_PLATFORM_BLUESKY, p.id, &eb), SB_OK);
    T_INTEQ(count(s, "deleted"), 1);
    T_INTEQ(sb_store_post_mark_deleted(s, SB_PLATFORM_BLUESKY, p.id, &eb), SB_OK);
    T_INTEQ(count(s, "deleted"), 1);
    T_INTEQ(sb_store_post_mark_deleted(s, SB_PLATFORM_MASTODON, p.id, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_post_mark_deleted(s, SB_PLATFORM_BLUESKY, "at://nope", &eb), SB_ERR_NOTFOUND);
    T_INTEQ(count(s, "posts"), 1);
    sb_store_close(s);
    sb_post_free(&p);
}

static void test_cursors(void)
{
    char path[300];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    int64_t v = 0;
    const char *k = "bluesky:jetstream:brand.bsky.social";

    new_db(path, sizeof path);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(sb_store_cursor_get(s, k, &v, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_cursor_set(s, k, 1725911162329308LL, &eb), SB_OK);
    T_INTEQ(sb_store_cursor_get(s, k, &v, &eb), SB_OK);
    T_INTEQ(v, 1725911162329308LL);
    T_INTEQ(sb_store_cursor_set(s, k, 1725911162999999LL, &eb), SB_OK);
    T_INTEQ(sb_store_cursor_set(s, "mastodon:stream:brand", 7, &eb), SB_OK);
    T_INTEQ(sb_store_cursor_get(s, k, &v, &eb), SB_OK);
    T_INTEQ(v, 1725911162999999LL);
    T_INTEQ(count(s, "cursors"), 2);
    T_INTEQ(sb_store_flush(s, &eb), SB_OK);
    sb_store_close(s);

    s = NULL;
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(sb_store_cursor_get(s, k, &v, &eb), SB_OK);
    T_INTEQ(v, 1725911162999999LL);
    T_INTEQ(sb_store_cursor_get(s, "mastodon:stream:brand", &v, &eb), SB_OK);
    T_INTEQ(v, 7);
    sb_store_close(s);
}

static void test_batch_flush_reopen(void)
{
    char path[300], id[32];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;

    new_db(path, sizeof path);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    sqlite3 *reader = raw_open(path);
    make_post(&p, SB_PLATFORM_MASTODON, NULL, "batched");

    /* batch of 10: after 25 writes, two commits (20 rows) are visible to another connection */
    sb_store_set_batch(s, 10);
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof id, "b%d", i);
        p.id = id;
        T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    }
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 20);
    T_INTEQ(count(s, "posts"), 25); /* the writer sees its own pending writes */
    T_INTEQ(sb_store_flush(s, &eb), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 25);
    T_INTEQ(sb_store_flush(s, &eb), SB_OK); /* nothing pending: still fine */

    /* batch of 1: every write commits on its own */
    sb_store_set_batch(s, 0);
    p.id = "single";
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 26);

    /* big batch: nothing visible until flush; a new store connection sees it after */
    sb_store_set_batch(s, 100000);
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "c%d", i);
        p.id = id;
        T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    }
    T_INTEQ(sb_store_cursor_set(s, "mastodon:stream:brand", 126, &eb), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 26);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM stream_cursors"), 0);
    T_INTEQ(sb_store_flush(s, &eb), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 126);
    sqlite3_close(reader);

    struct sb_store *s2 = NULL;
    T_INTEQ(sb_store_open(path, &s2, &eb), SB_OK);
    T_INTEQ(count(s2, "posts"), 126);
    int64_t v = 0;
    T_INTEQ(sb_store_cursor_get(s2, "mastodon:stream:brand", &v, &eb), SB_OK);
    T_INTEQ(v, 126);
    sb_store_close(s2);

    /* close without flush still commits */
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "d%d", i);
        p.id = id;
        T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    }
    sb_store_close(s);
    s = NULL;
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(count(s, "posts"), 133);
    sb_store_close(s);
    sb_post_free(&p);
}

/* Fault injection: a VFS that is the default one except that, while fail_io is set, every
 * write and fsync of a WAL file fails (so a commit fails). The real file methods are reused on
 * the same sqlite3_file; only the WAL's method table is swapped. */
static sqlite3_vfs fail_vfs, *real_vfs;
static sqlite3_io_methods fail_methods;
static const sqlite3_io_methods *real_methods;
static int fail_io;

static int fail_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
    return fail_io ? SQLITE_IOERR_WRITE : real_methods->xWrite(f, b, n, off);
}

static int fail_sync(sqlite3_file *f, int flags)
{
    return fail_io ? SQLITE_IOERR_FSYNC : real_methods->xSync(f, flags);
}

static int fail_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    int rc = real_vfs->xOpen(real_vfs, name, f, flags, out);
    if (rc == SQLITE_OK && f->pMethods && (flags & SQLITE_OPEN_WAL)) {
        if (!real_methods) {
            real_methods = f->pMethods;
            fail_methods = *real_methods;
            fail_methods.xWrite = fail_write;
            fail_methods.xSync = fail_sync;
        }
        if (f->pMethods == real_methods)
            f->pMethods = &fail_methods;
    }
    return rc;
}

static void test_lost_batch_reported(void)
{
    char path[300], id[32];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;

    real_vfs = sqlite3_vfs_find(NULL);
    fail_vfs = *real_vfs;
    fail_vfs.zName = "sb-fail";
    fail_vfs.xOpen = fail_open;
    T_CHECK(sqlite3_vfs_register(&fail_vfs, 1) == SQLITE_OK);
    new_db(path, sizeof path);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    sqlite3_vfs_register(real_vfs, 1); /* the store keeps the failing VFS; others do not */
    sqlite3_vfs_unregister(&fail_vfs);
    sqlite3 *reader = raw_open(path);
    make_post(&p, SB_PLATFORM_MASTODON, NULL, "fragile");
    sb_store_set_batch(s, 1000);

    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "ok%d", i);
        p.id = id;
        T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    }
    T_INTEQ(sb_store_flush(s, &eb), SB_OK);

    /* the commit fails: flush says so, and the batch is gone (not half-written) */
    for (int i = 0; i < 2; i++) {
        snprintf(id, sizeof id, "lost%d", i);
        p.id = id;
        T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    }
    fail_io = 1;
    T_INTEQ(sb_store_flush(s, &eb), SB_ERR_STORE);
    fail_io = 0;
    T_CHECK(strstr(eb.msg, "commit of 2 writes failed") != NULL);
    T_INTEQ(count(s, "posts"), 3);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 3);
    T_INTEQ(sb_store_flush(s, &eb), SB_OK); /* reported once */

    /* the batch-full commit fails inside a write; the next flush still reports the loss even
     * though the writes after it commit fine */
    sb_store_set_batch(s, 5);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "lost%d", i);
        p.id = id;
        if (i == 4)
            fail_io = 1;
        T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), i == 4 ? SB_ERR_STORE : SB_OK);
        fail_io = 0;
    }
    p.id = "after";
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    eb.msg[0] = 0;
    T_INTEQ(sb_store_flush(s, &eb), SB_ERR_STORE);
    T_CHECK(strstr(eb.msg, "5 earlier writes were rolled back") != NULL);
    T_INTEQ(sb_store_flush(s, &eb), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 4);

    /* re-fetching after the loss: the lost posts go in again, the kept ones dedupe */
    sb_store_set_batch(s, 1000);
    int dups = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "lost%d", i);
        p.id = id;
        T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "ok%d", i);
        p.id = id;
        dups += sb_store_post_insert(s, &p, NULL, 0, NULL, &eb) == SB_ERR_DUP;
    }
    T_INTEQ(dups, 3);
    T_INTEQ(sb_store_flush(s, &eb), SB_OK);
    sqlite3_close(reader);
    sb_store_close(s);

    s = NULL;
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(count(s, "posts"), 9);
    sb_store_close(s);
    sb_post_free(&p);
}

static void test_strings_roundtrip(void)
{
    char path[300], sql[256];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    int64_t rowid = 0;
    const char *text = "It's \"broken\" again'); DROP TABLE posts; -- \\ back\nslash\t"
                       "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d "
                       "\xf0\x9f\x94\xa5\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \x01\x1f";
    const char *tags[] = {"caf\xc3\xa9", "a\"b", "x\\y"};
    const char *links[] = {"https://example.com/?q=\"1\"&x='2'"};
    struct sb_mention mentions[] = {{"id\"1", "h\xc3\xa9llo"}, {NULL, "bob"}};

    new_db(path, sizeof path);
    T_INTEQ(sb_store_open("sqlite:/dev/null/nope.db", &s, &eb), SB_ERR_STORE);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    make_post(&p, SB_PLATFORM_MASTODON, "it's \"q\" \xe2\x9c\x93", text);
    p.author.name = "O'Brien \xf0\x9f\x98\x80";
    p.tags = tags;
    p.n_tags = 3;
    p.links = links;
    p.n_links = 1;
    p.mentions = mentions;
    p.n_mentions = 2;
    p.lang = NULL;

    /* raw: every byte value 1..255, not valid UTF-8, must come back byte for byte */
    char raw[255];
    for (int i = 0; i < 255; i++)
        raw[i] = (char)(i + 1);
    T_INTEQ(sb_store_post_insert(s, &p, raw, sizeof raw, &rowid, &eb), SB_OK);

    make_decision(&d, SB_ACTION_ESCALATE);
    sb_decision_add_reason(&d, "said \"lawyer\" \xe2\x9a\x96");
    sb_decision_set_error(&d, NULL, SB_ERR_POLICY, "attempt to index a nil value 'x'", "main.lua",
                          12, "stack:\n\tmain.lua:12");
    T_INTEQ(sb_store_decision_insert(s, rowid, &d, 99, &eb), SB_OK);
    struct sb_decision d2;
    make_decision(&d2, SB_ACTION_ACKNOWLEDGE);
    d2.n_reasons = 0;
    T_INTEQ(sb_store_decision_insert(s, rowid, &d2, 100, &eb), SB_OK);
    sb_store_close(s);

    sqlite3 *db = raw_open(path);
    int n = 0;
    char *got = raw_text(db, "SELECT text FROM posts", NULL);
    T_STREQ(got, text);
    free(got);
    got = raw_text(db, "SELECT post_id FROM posts", NULL);
    T_STREQ(got, p.id);
    free(got);
    got = raw_text(db, "SELECT author_name FROM posts", NULL);
    T_STREQ(got, p.author.name);
    free(got);
    T_INTEQ(raw_int(db, "SELECT lang IS NULL AND cid IS NULL FROM posts"), 1);
    T_INTEQ(raw_int(db, "SELECT author_followers FROM posts"), 42);
    got = raw_text(db, "SELECT raw FROM posts", &n);
    T_INTEQ(n, 255);
    T_CHECK(got && memcmp(got, raw, sizeof raw) == 0);
    free(got);

    /* JSON columns parse and carry the exact strings */
    json_error_t je;
    got = raw_text(db, "SELECT tags FROM posts", NULL);
    json_t *j = got ? json_loads(got, 0, &je) : NULL;
    T_CHECK(json_is_array(j) && json_array_size(j) == 3);
    T_STREQ(json_string_value(json_array_get(j, 1)), "a\"b");
    T_STREQ(json_string_value(json_array_get(j, 2)), "x\\y");
    json_decref(j);
    free(got);
    got = raw_text(db, "SELECT mentions FROM posts", NULL);
    j = got ? json_loads(got, 0, &je) : NULL;
    T_CHECK(json_is_array(j) && json_array_size(j) == 2);
    T_STREQ(json_string_value(json_object_get(json_array_get(j, 0), "id")), "id\"1");
    T_STREQ(json_string_value(json_object_get(json_array_get(j, 0), "handle")), "h\xc3\xa9llo");
    T_CHECK(json_is_null(json_object_get(json_array_get(j, 1), "id")));
    json_decref(j);
    free(got);
    got = raw_text(db, "SELECT links FROM posts", NULL);
    j = got ? json_loads(got, 0, &je) : NULL;
    T_STREQ(json_string_value(json_array_get(j, 0)), links[0]);
    json_decref(j);
    free(got);

    snprintf(sql, sizeof sql, "SELECT reasons FROM decisions WHERE decided_at = 99");
    got = raw_text(db, sql, NULL);
    j = got ? json_loads(got, 0, &je) : NULL;
    T_CHECK(json_is_array(j) && json_array_size(j) == 1); /* set_error resets the reasons */
    json_decref(j);
    free(got);
    got = raw_text(db, "SELECT error FROM decisions WHERE decided_at = 99", NULL);
    j = got ? json_loads(got, 0, &je) : NULL;
    T_STREQ(json_string_value(json_object_get(j, "code")), "policy_error");
    T_STREQ(json_string_value(json_object_get(j, "message")), "attempt to index a nil value 'x'");
    T_INTEQ(json_integer_value(json_object_get(j, "line")), 12);
    T_STREQ(json_string_value(json_object_get(j, "traceback")), "stack:\n\tmain.lua:12");
    json_decref(j);
    free(got);
    got = raw_text(db,
                   "SELECT action || '/' || queue || '/' || priority FROM decisions"
                   " WHERE decided_at = 99",
                   NULL);
    T_STREQ(got, "escalate/policy-errors/high");
    free(got);
    /* acknowledge: no queue/priority, empty reasons, no error */
    got = raw_text(db, "SELECT reasons FROM decisions WHERE decided_at = 100", NULL);
    T_STREQ(got, "[]");
    free(got);
    T_INTEQ(raw_int(db, "SELECT queue IS NULL AND priority IS NULL AND error IS NULL"
                        " FROM decisions WHERE decided_at = 100"),
            1);
    T_INTEQ(raw_int(db, "SELECT latency_ns FROM decisions WHERE decided_at = 100"), 12345);
    sqlite3_close(db);
    sb_post_free(&p);
    sb_decision_free(&d);
    sb_decision_free(&d2);
}

static void test_raw_too_big(void)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    size_t max = SB_STORE_RAW_MAX;
    char *raw = malloc(max + 1);

    memset(raw, 'x', max + 1);
    T_INTEQ(sb_store_open(":memory:", &s, &eb), SB_OK);
    make_post(&p, SB_PLATFORM_MASTODON, "big", "big");
    T_INTEQ(sb_store_post_insert(s, &p, raw, max + 1, NULL, &eb), SB_ERR_TOOBIG);
    T_INTEQ(count(s, "posts"), 0);
    T_INTEQ(sb_store_post_insert(s, &p, raw, max, NULL, &eb), SB_OK);
    T_INTEQ(count(s, "posts"), 1);
    sb_store_close(s);
    sb_post_free(&p);
    free(raw);
}

static void test_url_options(void)
{
    char path[300], url[400];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};

    new_db(path, sizeof path);
    snprintf(url, sizeof url, "sqlite:%s?synchronous=normal&busy_timeout=100&batch=3", path);
    T_INTEQ(sb_store_open(url, &s, &eb), SB_OK);
    sb_store_close(s);
    snprintf(url, sizeof url, "sqlite:%s?synchronus=normal", path);
    T_INTEQ(sb_store_open(url, &s, &eb), SB_ERR_INVAL);
    T_CHECK(strstr(eb.msg, "synchronus") != NULL);
    snprintf(url, sizeof url, "sqlite:%s?batch=0", path);
    T_INTEQ(sb_store_open(url, &s, &eb), SB_ERR_INVAL);
    snprintf(url, sizeof url, "sqlite:%s?synchronous=off", path);
    T_INTEQ(sb_store_open(url, &s, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_open("sqlite:", &s, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_open("postgres://db/switchboard", &s, &eb), SB_ERR_INVAL);
    T_CHECK(s == NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Insert n posts, each with a decision, as a replay does; return rows per second. */
static double bench_one(const char *opts, int batch, int n)
{
    char path[300], url[400], id[64], text[160], raw[400];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    const char *tags[] = {"support", "order"};
    int errors = 0;

    new_db(path, sizeof path);
    snprintf(url, sizeof url, "sqlite:%s%s", path, opts);
    T_INTEQ(sb_store_open(url, &s, &eb), SB_OK);
    if (!s) {
        fprintf(stderr, "bench open: %s\n", eb.msg);
        return 0;
    }
    sb_store_set_batch(s, batch);
    make_post(&p, SB_PLATFORM_BLUESKY, NULL, NULL);
    p.tags = tags;
    p.n_tags = 2;
    make_decision(&d, SB_ACTION_ACKNOWLEDGE);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        int64_t rowid;
        snprintf(id, sizeof id, "at://did:plc:author%d/app.bsky.feed.post/3k%08d", i % 5000, i);
        snprintf(text, sizeof text, "@brand my order #%d never arrived, third time asking", i);
        int rl = snprintf(raw, sizeof raw, "{\"kind\":\"commit\",\"time_us\":%d,\"text\":\"%s\"}",
                          i, text);
        p.id = id;
        p.thread = id;
        p.text = text;
        errors += sb_store_post_insert(s, &p, raw, (size_t)rl, &rowid, &eb) != SB_OK;
        errors += sb_store_decision_insert(s, rowid, &d, 1714557600000 + i, &eb) != SB_OK;
    }
    errors += sb_store_flush(s, &eb) != SB_OK;
    double dt = now_s() - t0;
    T_INTEQ(errors, 0);
    T_INTEQ(count(s, "posts"), n);
    T_INTEQ(count(s, "decisions"), n);
    sb_store_close(s);
    sb_post_free(&p);
    sb_decision_free(&d);
    return dt > 0 ? 2.0 * n / dt : 0;
}

static void test_insert_rate(void)
{
    const char *env = getenv("SB_STORE_BENCH_N");
    int n = env ? atoi(env) : 100000;
    if (n < 1)
        n = 1;
    int n1 = n / 100 > 0 ? n / 100 : 1;
    double full = bench_one("", SB_STORE_BATCH_DEFAULT, n);
    double normal = bench_one("?synchronous=normal", SB_STORE_BATCH_DEFAULT, n);
    double bulk = bench_one("", 65536, n);
    double single = bench_one("", 1, n1);
    fprintf(stderr,
            "store insert rate (%s, %d posts + %d decisions, WAL):\n"
            "  synchronous=full,   batch %5d: %9.0f rows/s\n"
            "  synchronous=normal, batch %5d: %9.0f rows/s\n"
            "  synchronous=full,   batch 65536: %9.0f rows/s\n"
            "  synchronous=full,   batch     1: %9.0f rows/s (%d pairs)\n",
            tmpdir, n, n, SB_STORE_BATCH_DEFAULT, full, SB_STORE_BATCH_DEFAULT, normal, bulk,
            single, n1);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sb-store-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_migrate_fresh_and_reopen);
    T_RUN(test_refuse_future_and_foreign);
    T_RUN(test_post_decision_dup);
    T_RUN(test_mark_deleted);
    T_RUN(test_cursors);
    T_RUN(test_batch_flush_reopen);
    T_RUN(test_lost_batch_reported);
    T_RUN(test_strings_roundtrip);
    T_RUN(test_raw_too_big);
    T_RUN(test_url_options);
    T_RUN(test_insert_rate);
    remove_dbs();
    T_DONE();
}
