/* test_outbox_store.c — the durable outbox (src/store, migration 2) against real SQLite files:
 * a decision and its entries are one unit (never split by a group-commit boundary, never half
 * written), claiming with leases and re-claiming after a lease expires, every state transition
 * and the refused ones, idempotency-key uniqueness, prompt durability of state changes (seen
 * from a second connection and after close/reopen), and migration 1 → 2 of a database written
 * with the old schema. A raw sqlite3 connection shows what is really on disk. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/effects.h"
#include "store/backend.h" /* sb_store_sqlite_migrations: to write a version-1 file */
#include "store/store.h"
#include "store_helpers.h"
#include "t.h"

static sqlite3 *raw_open(const char *path)
{
    return raw_open_flags(path, 1);
}

static int64_t n_state(struct sb_store *s, enum sb_outbox_state st)
{
    int64_t n = -1;
    struct sb_errbuf eb = {{0}};
    if (sb_store_outbox_count(s, st, &n, &eb) != SB_OK)
        fprintf(stderr, "outbox count: %s\n", eb.msg);
    return n;
}

static int64_t count(struct sb_store *s, const char *what)
{
    int64_t n = -1;
    struct sb_errbuf eb = {{0}};
    if (sb_store_count(s, what, &n, &eb) != SB_OK)
        fprintf(stderr, "count %s: %s\n", what, eb.msg);
    return n;
}

static void make_post(struct sb_post *p, enum sb_platform pl, const char *id)
{
    sb_post_init(p);
    p->platform = pl;
    p->kind = SB_POST_MENTION;
    p->id = id;
    p->account = "brand";
    p->text = "where is my order";
    p->visibility = "public";
    p->thread = id;
    p->author.id = "acct-9";
    p->author.handle = "ana";
}

static void make_decision(struct sb_decision *d)
{
    sb_decision_init(d);
    d->action = SB_ACTION_MOVE_TO_PRIVATE;
    d->reply = "We've sent you a DM";
    d->message = "Hi Ana, could you send us your order number?";
    d->policy_version = "v1";
    sb_decision_add_reason(d, "order");
}

/* Store post id (new row) and record a move_to_private decision with its 2 effects. */
static enum sb_err post_and_decide(struct sb_store *s, struct sb_post *p, const char *id,
                                   const struct sb_decision *d, int64_t at, int64_t *did)
{
    struct sb_errbuf eb = {{0}};
    struct sb_effect fx[SB_EFFECTS_MAX];
    size_t n = 0;
    int64_t rowid = 0;
    p->id = id;
    p->thread = id;
    enum sb_err e = sb_store_post_insert(s, p, NULL, 0, &rowid, &eb);
    if (!e)
        e = sb_effects_plan(p, d, fx, SB_EFFECTS_MAX, &n);
    if (!e)
        e = sb_store_decision_record(s, rowid, d, fx, n, at, did, &eb);
    if (e)
        fprintf(stderr, "post_and_decide %s: %s %s\n", id, sb_strerror(e), eb.msg);
    return e;
}

static struct sb_outbox_entry *entries(size_t n)
{
    return calloc(n, sizeof(struct sb_outbox_entry));
}

static void test_record_list_claim(void)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    struct sb_outbox_entry *out = entries(4);
    int64_t did = 0;
    size_t n = 9;

    T_INTEQ(sb_store_open(":memory:", &s, &eb), SB_OK);
    T_INTEQ(sb_store_schema_version(s), sb_store_sqlite_migrations_count);
    make_post(&p, SB_PLATFORM_MASTODON, NULL);
    make_decision(&d);
    T_INTEQ(post_and_decide(s, &p, "101", &d, 1000, &did), SB_OK);
    T_CHECK(did > 0);
    T_INTEQ(count(s, "decisions"), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_PENDING), 2);
    T_INTEQ(n_state(s, SB_OUTBOX_ANY), 2);

    /* list: newest first, every field as planned */
    T_INTEQ(sb_store_outbox_list(s, SB_OUTBOX_ANY, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 2);
    T_INTEQ(out[0].kind, SB_EFFECT_DIRECT_MESSAGE);
    T_STREQ(out[0].text, d.message);
    T_INTEQ(out[1].kind, SB_EFFECT_PUBLIC_REPLY);
    T_STREQ(out[1].text, d.reply);
    T_INTEQ(out[1].platform, SB_PLATFORM_MASTODON);
    T_INTEQ(out[1].state, SB_OUTBOX_PENDING);
    T_INTEQ(out[1].decision_id, did);
    T_STREQ(out[1].account, "brand");
    T_STREQ(out[1].target_id, "101");
    T_STREQ(out[1].root_id, "101");
    T_STREQ(out[1].target_cid, ""); /* NULL reads as "" */
    T_STREQ(out[1].recipient_id, "acct-9");
    T_STREQ(out[1].recipient_handle, "ana");
    T_INTEQ(out[1].attempts, 0);
    T_INTEQ(out[1].next_at, 1000); /* due at the decision time */
    T_INTEQ(out[1].first_attempt_at, 0);
    char key[SB_EFFECT_KEY_LEN + 1];
    sb_effects_key(SB_PLATFORM_MASTODON, "brand", "101", SB_EFFECT_PUBLIC_REPLY, key);
    T_STREQ(out[1].idem_key, key);
    struct sb_outbox_entry *one = entries(1);
    T_INTEQ(sb_store_outbox_get(s, out[1].id, one, &eb), SB_OK);
    T_STREQ(one->text, d.reply);
    T_INTEQ(sb_store_outbox_get(s, 999999, one, &eb), SB_ERR_NOTFOUND);

    /* not due yet; then one at a time, oldest first */
    T_INTEQ(sb_store_outbox_due(s, 999, 30000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 0);
    T_INTEQ(sb_store_outbox_due(s, 1000, 30000, 1, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(out[0].kind, SB_EFFECT_PUBLIC_REPLY);
    T_INTEQ(out[0].state, SB_OUTBOX_SENDING);
    T_INTEQ(out[0].attempts, 1);
    T_CHECK(!out[0].reclaimed);
    T_INTEQ(out[0].first_attempt_at, 1000);
    T_INTEQ(out[0].last_attempt_at, 1000);
    T_INTEQ(out[0].lease_until, 31000);
    T_INTEQ(sb_store_outbox_get(s, out[0].id, one, &eb), SB_OK); /* the copy is the row */
    T_INTEQ(one->state, SB_OUTBOX_SENDING);
    T_INTEQ(one->attempts, 1);
    T_INTEQ(one->lease_until, 31000);
    T_INTEQ(sb_store_outbox_due(s, 1000, 30000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(out[0].kind, SB_EFFECT_DIRECT_MESSAGE);
    T_INTEQ(sb_store_outbox_due(s, 5000, 30000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 0);
    T_INTEQ(n_state(s, SB_OUTBOX_SENDING), 2);

    /* ignore: a decision without effects goes through the same call */
    sb_decision_reset(&d);
    d.action = SB_ACTION_IGNORE;
    T_INTEQ(post_and_decide(s, &p, "102", &d, 2000, NULL), SB_OK);
    T_INTEQ(count(s, "decisions"), 2);
    T_INTEQ(n_state(s, SB_OUTBOX_ANY), 2);

    /* refused arguments */
    T_INTEQ(sb_store_outbox_due(s, 1, 0, 4, out, &n, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_outbox_due(s, 1, 10, 4, NULL, &n, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_outbox_list(s, (enum sb_outbox_state)77, 4, out, &n, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_outbox_count(s, (enum sb_outbox_state) - 2, &did, &eb), SB_ERR_INVAL);
    sb_store_close(s);
    sb_decision_free(&d);
    sb_post_free(&p);
    free(out);
    free(one);
}

/* The decision and its entries never straddle a commit: whatever another connection sees,
 * it sees every decision with both of its entries. Batch 1, 2 and 3 are the sizes at which a
 * per-row count would commit between the decision and its entries. */
static void test_unit_never_split(void)
{
    char path[300], id[64];
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    int split = 0, seen = 0;

    make_post(&p, SB_PLATFORM_BLUESKY, NULL);
    make_decision(&d);
    for (int batch = 1; batch <= 5; batch++) {
        struct sb_store *s = NULL;
        new_db(path, sizeof path);
        T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
        sqlite3 *reader = raw_open(path);
        sb_store_set_batch(s, batch);
        for (int i = 0; i < 12; i++) {
            snprintf(id, sizeof id, "at://did:plc:a/app.bsky.feed.post/%d", i);
            T_INTEQ(post_and_decide(s, &p, id, &d, 1000 + i, NULL), SB_OK);
            /* one statement, one snapshot */
            long long v = raw_int(reader, "SELECT (SELECT count(*) FROM outbox) -"
                                          " 2 * (SELECT count(*) FROM decisions)");
            split += v != 0;
            seen += raw_int(reader, "SELECT count(*) FROM decisions") > 0;
            if (i % 4 == 3) { /* a stray write between units shifts the batch phase */
                T_INTEQ(sb_store_cursor_set(s, "bluesky:jetstream:brand", i, &eb), SB_OK);
                split += raw_int(reader, "SELECT (SELECT count(*) FROM outbox) -"
                                         " 2 * (SELECT count(*) FROM decisions)") != 0;
            }
        }
        T_INTEQ(sb_store_flush(s, &eb), SB_OK);
        T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox"), 24);
        sqlite3_close(reader);
        sb_store_close(s);
    }
    T_INTEQ(split, 0);
    T_CHECK(seen > 0); /* commits did happen in between: the check saw real states */
    sb_decision_free(&d);
    sb_post_free(&p);
}

/* A unit that fails half-way leaves nothing of itself, and keeps the rest of the batch. */
static void test_unit_all_or_nothing(void)
{
    char path[300];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    struct sb_effect fx[SB_EFFECTS_MAX], mixed[2];
    size_t n = 0;
    int64_t first = 0, did = -1, row_a = 0, row_b = 0;

    new_db(path, sizeof path);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    sb_store_set_batch(s, 1000);
    make_post(&p, SB_PLATFORM_MASTODON, "A");
    make_decision(&d);
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, &row_a, &eb), SB_OK);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(sb_store_decision_record(s, row_a, &d, fx, n, 10, &first, &eb), SB_OK);

    /* replaying the same decision: refused whole, pointing at the first decision */
    eb.msg[0] = 0;
    T_INTEQ(sb_store_decision_record(s, row_a, &d, fx, n, 11, &did, &eb), SB_ERR_DUP);
    T_INTEQ(did, first);
    T_CHECK(strstr(eb.msg, "already recorded") != NULL);
    T_INTEQ(count(s, "decisions"), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_ANY), 2);

    /* post B: its first effect is new, its second collides with A's: the decision and B's
     * first entry are rolled back, post B (written before, same batch) stays */
    p.id = "B";
    p.thread = "B";
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, &row_b, &eb), SB_OK);
    T_INTEQ(sb_effects_plan(&p, &d, mixed, 1, &n), SB_ERR_TOOBIG);
    T_INTEQ(sb_effects_plan(&p, &d, fx + 0, SB_EFFECTS_MAX, &n), SB_OK);
    mixed[0] = fx[0];
    p.id = "A";
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    mixed[1] = fx[1]; /* A's DM key */
    T_INTEQ(sb_store_decision_record(s, row_b, &d, mixed, 2, 12, &did, &eb), SB_ERR_DUP);
    T_INTEQ(count(s, "decisions"), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_ANY), 2);
    T_INTEQ(count(s, "posts"), 2);

    /* a unit for a post that does not exist: nothing of it */
    mixed[1] = mixed[0];
    T_INTEQ(sb_store_decision_record(s, row_b, &d, mixed, 2, 12, &did, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_decision_record(s, 424242, &d, mixed, 1, 12, &did, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(count(s, "decisions"), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_ANY), 2);

    /* and the batch is still good: B's own decision goes in, the flush commits everything */
    T_INTEQ(sb_store_decision_record(s, row_b, &d, mixed, 1, 13, &did, &eb), SB_OK);
    T_INTEQ(sb_store_flush(s, &eb), SB_OK);
    sqlite3 *db = raw_open(path);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM posts"), 2);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM decisions"), 2);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM outbox"), 3);
    T_INTEQ(raw_int(db, "SELECT count(DISTINCT idem_key) FROM outbox"), 3);
    /* the unique key holds on disk too, whatever the writer */
    T_CHECK(sqlite3_exec(db,
                         "INSERT INTO outbox (post_rowid, decision_id, platform, kind, idem_key,"
                         " target_id, text, next_at, created_at, updated_at)"
                         " SELECT post_rowid, decision_id, platform, kind, idem_key, target_id,"
                         " text, 0, 0, 0 FROM outbox LIMIT 1",
                         NULL, NULL, NULL) == SQLITE_CONSTRAINT);
    T_CHECK(sqlite3_exec(db, "UPDATE outbox SET state = 'lost' WHERE id = 1", NULL, NULL, NULL) ==
            SQLITE_CONSTRAINT);
    sqlite3_close(db);
    sb_store_close(s);
    sb_decision_free(&d);
    sb_post_free(&p);
}

static void test_bad_effects(void)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    struct sb_effect fx[SB_EFFECTS_MAX];
    size_t n = 0;
    int64_t row = 0;

    T_INTEQ(sb_store_open(":memory:", &s, &eb), SB_OK);
    make_post(&p, SB_PLATFORM_MASTODON, "X");
    make_decision(&d);
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, &row, &eb), SB_OK);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);

    char *big = malloc(SB_OUTBOX_TEXT_MAX + 1);
    memset(big, 'x', SB_OUTBOX_TEXT_MAX);
    big[SB_OUTBOX_TEXT_MAX] = 0;
    fx[1].text = big;
    T_INTEQ(sb_store_decision_record(s, row, &d, fx, n, 1, NULL, &eb), SB_ERR_TOOBIG);
    big[SB_OUTBOX_TEXT_MAX - 1] = 0; /* exactly the maximum fits */
    fx[1].text = d.message;
    fx[0].target_id = NULL;
    T_INTEQ(sb_store_decision_record(s, row, &d, fx, n, 1, NULL, &eb), SB_ERR_INVAL);
    fx[0].target_id = "X";
    fx[0].idem_key[5] = 'G';
    T_INTEQ(sb_store_decision_record(s, row, &d, fx, n, 1, NULL, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    fx[0].kind = SB_EFFECT__COUNT;
    T_INTEQ(sb_store_decision_record(s, row, &d, fx, n, 1, NULL, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_decision_record(s, row, &d, NULL, 1, 1, NULL, &eb), SB_ERR_INVAL);
    T_INTEQ(count(s, "decisions"), 0);
    T_INTEQ(n_state(s, SB_OUTBOX_ANY), 0);

    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    fx[1].text = big;
    T_INTEQ(sb_store_decision_record(s, row, &d, fx, n, 1, NULL, &eb), SB_OK);
    struct sb_outbox_entry *out = entries(2);
    T_INTEQ(sb_store_outbox_list(s, SB_OUTBOX_PENDING, 2, out, &n, &eb), SB_OK);
    T_INTEQ(strlen(out[0].text), SB_OUTBOX_TEXT_MAX - 1);
    free(out);
    free(big);
    sb_store_close(s);
    sb_decision_free(&d);
    sb_post_free(&p);
}

static void test_lease_reclaim(void)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    struct sb_outbox_entry *out = entries(4);
    size_t n = 0;

    T_INTEQ(sb_store_open(":memory:", &s, &eb), SB_OK);
    make_post(&p, SB_PLATFORM_BLUESKY, NULL);
    make_decision(&d);
    d.reply = NULL; /* one DM only */
    T_INTEQ(post_and_decide(s, &p, "at://did:plc:z/app.bsky.feed.post/1", &d, 0, NULL), SB_OK);

    T_INTEQ(sb_store_outbox_due(s, 100000, 30000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    int64_t id = out[0].id;
    /* the sender dies: nothing comes back while the lease holds */
    T_INTEQ(sb_store_outbox_due(s, 129999, 30000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 0);
    /* at the lease end it is claimed again, marked as a takeover */
    T_INTEQ(sb_store_outbox_due(s, 130000, 30000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(out[0].id, id);
    T_INTEQ(out[0].attempts, 2);
    T_CHECK(out[0].reclaimed);
    T_INTEQ(out[0].first_attempt_at, 100000); /* the window still starts at the first try */
    T_INTEQ(out[0].last_attempt_at, 130000);
    T_INTEQ(out[0].lease_until, 160000);
    /* its owner reports in time: a later poll finds nothing */
    T_INTEQ(sb_store_outbox_sent(s, id, "msg-1", NULL, 200, &eb), SB_OK);
    T_INTEQ(sb_store_outbox_due(s, 999999, 30000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 0);
    sb_store_close(s);
    sb_decision_free(&d);
    sb_post_free(&p);
    free(out);
}

static void test_transitions(void)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    struct sb_outbox_entry *out = entries(8), *e = entries(1);
    size_t n = 0;
    char id[16];

    T_INTEQ(sb_store_open(":memory:", &s, &eb), SB_OK);
    make_post(&p, SB_PLATFORM_MASTODON, NULL);
    make_decision(&d);
    d.message = NULL; /* acknowledge-like: one public reply per post */
    d.action = SB_ACTION_ACKNOWLEDGE;
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "t%d", i);
        T_INTEQ(post_and_decide(s, &p, id, &d, 10 + i, NULL), SB_OK);
    }
    T_INTEQ(sb_store_outbox_due(s, 100, 60000, 8, out, &n, &eb), SB_OK);
    T_INTEQ(n, 4);
    int64_t a = out[0].id, b = out[1].id, c = out[2].id, x = out[3].id;

    /* a: sent, once; a second report changes nothing */
    T_INTEQ(sb_store_outbox_sent(s, a, "110000000000000001", NULL, 200, &eb), SB_OK);
    T_INTEQ(sb_store_outbox_sent(s, a, "other", "cid", 200, &eb), SB_OK);
    T_INTEQ(sb_store_outbox_get(s, a, e, &eb), SB_OK);
    T_INTEQ(e->state, SB_OUTBOX_SENT);
    T_STREQ(e->remote_id, "110000000000000001");
    T_STREQ(e->remote_cid, "");
    T_INTEQ(e->last_status, 200);
    T_INTEQ(e->lease_until, 0);
    eb.msg[0] = 0;
    T_INTEQ(sb_store_outbox_retry(s, a, 500, 503, "late", &eb), SB_ERR_INVAL);
    T_CHECK(strstr(eb.msg, "is sent") != NULL);
    T_INTEQ(sb_store_outbox_fail(s, a, SB_OUTBOX_DEAD, 0, NULL, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_outbox_requeue(s, a, 0, &eb), SB_ERR_INVAL);

    /* b: retry, due again at next_at, claimed again, then dead with the platform's error */
    T_INTEQ(sb_store_outbox_retry(s, b, 5000, 503, "Service Unavailable", &eb), SB_OK);
    T_INTEQ(sb_store_outbox_get(s, b, e, &eb), SB_OK);
    T_INTEQ(e->state, SB_OUTBOX_RETRY);
    T_INTEQ(e->next_at, 5000);
    T_INTEQ(e->last_status, 503);
    T_STREQ(e->last_error, "Service Unavailable");
    T_INTEQ(sb_store_outbox_retry(s, b, 6000, 503, "again", &eb), SB_ERR_INVAL); /* not sending */
    T_INTEQ(sb_store_outbox_due(s, 4999, 60000, 8, out, &n, &eb), SB_OK);
    T_INTEQ(n, 0);
    T_INTEQ(sb_store_outbox_due(s, 5000, 60000, 8, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(out[0].id, b);
    T_INTEQ(out[0].attempts, 2);
    T_CHECK(!out[0].reclaimed);
    T_INTEQ(out[0].first_attempt_at, 100);
    T_INTEQ(sb_store_outbox_fail(s, b, SB_OUTBOX_DEAD, 422,
                                 "{\"error\":\"Validation failed: Text can't be blank\"}", &eb),
            SB_OK);
    T_INTEQ(sb_store_outbox_list(s, SB_OUTBOX_DEAD, 8, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(out[0].last_status, 422);
    T_STREQ(out[0].last_error, "{\"error\":\"Validation failed: Text can't be blank\"}");
    /* dead → requeue (a human fixed something) → pending with a fresh window */
    T_INTEQ(sb_store_outbox_requeue(s, b, 7000, &eb), SB_OK);
    T_INTEQ(sb_store_outbox_get(s, b, e, &eb), SB_OK);
    T_INTEQ(e->state, SB_OUTBOX_PENDING);
    T_INTEQ(e->attempts, 0);
    T_INTEQ(e->first_attempt_at, 0);
    T_INTEQ(e->next_at, 7000);
    T_STREQ(e->last_error, "{\"error\":\"Validation failed: Text can't be blank\"}");
    T_INTEQ(sb_store_outbox_requeue(s, b, 7000, &eb), SB_ERR_INVAL); /* pending already */

    /* c: reconcile, then verified applied → sent */
    T_INTEQ(
        sb_store_outbox_fail(s, c, SB_OUTBOX_RECONCILE, 0, "lost response after the window", &eb),
        SB_OK);
    T_INTEQ(n_state(s, SB_OUTBOX_RECONCILE), 1);
    T_INTEQ(sb_store_outbox_fail(s, c, SB_OUTBOX_DEAD, 0, NULL, &eb), SB_OK); /* keeps error */
    T_INTEQ(sb_store_outbox_get(s, c, e, &eb), SB_OK);
    T_STREQ(e->last_error, "lost response after the window");
    T_INTEQ(sb_store_outbox_sent(s, c, "110000000000000007", NULL, 0, &eb), SB_OK);
    T_INTEQ(sb_store_outbox_get(s, c, e, &eb), SB_OK);
    T_INTEQ(e->state, SB_OUTBOX_SENT);
    T_STREQ(e->last_error, "");

    /* x: cancelled is final */
    T_INTEQ(sb_store_outbox_fail(s, x, SB_OUTBOX_CANCELLED, 0, "operator", &eb), SB_OK);
    T_INTEQ(sb_store_outbox_fail(s, x, SB_OUTBOX_CANCELLED, 0, "again", &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_outbox_requeue(s, x, 0, &eb), SB_ERR_INVAL);

    /* refused targets and unknown ids */
    T_INTEQ(sb_store_outbox_fail(s, b, SB_OUTBOX_SENT, 0, NULL, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_outbox_fail(s, b, SB_OUTBOX_PENDING, 0, NULL, &eb), SB_ERR_INVAL);
    T_INTEQ(sb_store_outbox_sent(s, 987, NULL, NULL, 200, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_outbox_retry(s, 987, 1, 500, NULL, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_outbox_fail(s, 987, SB_OUTBOX_DEAD, 500, NULL, &eb), SB_ERR_NOTFOUND);
    T_INTEQ(sb_store_outbox_requeue(s, 987, 1, &eb), SB_ERR_NOTFOUND);

    /* a long error is cut to the field, on a UTF-8 boundary (3-byte characters here) */
    char *longerr = malloc(3 * 1000 + 1);
    for (int i = 0; i < 1000; i++)
        memcpy(longerr + 3 * i, "\xe2\x9c\x97", 3);
    longerr[3000] = 0;
    T_INTEQ(sb_store_outbox_due(s, 7000, 60000, 8, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(sb_store_outbox_retry(s, b, 9000, 500, longerr, &eb), SB_OK);
    T_INTEQ(sb_store_outbox_get(s, b, e, &eb), SB_OK);
    T_INTEQ(strlen(e->last_error), 510); /* 170 whole characters of 3 bytes ≤ 511 */
    T_CHECK(memcmp(e->last_error, longerr, 510) == 0);
    free(longerr);

    T_INTEQ(n_state(s, SB_OUTBOX_SENT), 2);
    T_INTEQ(n_state(s, SB_OUTBOX_RETRY), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_CANCELLED), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_ANY), 4);
    T_STREQ(sb_store_outbox_state_name(SB_OUTBOX_RECONCILE), "reconcile");
    T_STREQ(sb_store_outbox_state_name(SB_OUTBOX_ANY), "any");
    T_INTEQ(sb_store_outbox_state_from_name("cancelled"), SB_OUTBOX_CANCELLED);
    T_INTEQ(sb_store_outbox_state_from_name("any"), -1);
    sb_store_close(s);
    sb_decision_free(&d);
    sb_post_free(&p);
    free(out);
    free(e);
}

static void test_cancel_for_post(void)
{
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    struct sb_outbox_entry *out = entries(8);
    size_t n = 0;

    T_INTEQ(sb_store_open(":memory:", &s, &eb), SB_OK);
    make_post(&p, SB_PLATFORM_MASTODON, NULL);
    make_decision(&d);
    T_INTEQ(post_and_decide(s, &p, "del", &d, 10, NULL), SB_OK);  /* 2 entries */
    T_INTEQ(post_and_decide(s, &p, "keep", &d, 20, NULL), SB_OK); /* 2 entries */

    /* del's public reply is in flight, its DM waits for a retry */
    T_INTEQ(sb_store_outbox_due(s, 10, 60000, 2, out, &n, &eb), SB_OK);
    T_INTEQ(n, 2);
    T_STREQ(out[0].target_id, "del");
    int64_t in_flight = out[0].id, waiting = out[1].id;
    T_INTEQ(sb_store_outbox_retry(s, waiting, 50000, 503, NULL, &eb), SB_OK);

    T_INTEQ(sb_store_post_mark_deleted(s, SB_PLATFORM_MASTODON, "del", &eb), SB_OK);
    T_INTEQ(sb_store_outbox_cancel_for_post(s, SB_PLATFORM_MASTODON, "del", &eb), SB_OK);
    struct sb_outbox_entry *e = entries(1);
    T_INTEQ(sb_store_outbox_get(s, waiting, e, &eb), SB_OK);
    T_INTEQ(e->state, SB_OUTBOX_CANCELLED);
    T_STREQ(e->last_error, "cancelled: the post was deleted");
    T_INTEQ(sb_store_outbox_get(s, in_flight, e, &eb), SB_OK);
    T_INTEQ(e->state, SB_OUTBOX_SENDING);      /* on the wire: its sender decides */
    T_INTEQ(n_state(s, SB_OUTBOX_PENDING), 2); /* keep's */

    /* same id on another platform, an unknown post: nothing, and no error */
    T_INTEQ(sb_store_outbox_cancel_for_post(s, SB_PLATFORM_BLUESKY, "keep", &eb), SB_OK);
    T_INTEQ(sb_store_outbox_cancel_for_post(s, SB_PLATFORM_MASTODON, "nope", &eb), SB_OK);
    T_INTEQ(n_state(s, SB_OUTBOX_PENDING), 2);
    /* cancelled entries never come due (50000: the retry's time, inside the in-flight lease) */
    T_INTEQ(sb_store_outbox_due(s, 50000, 60000, 8, out, &n, &eb), SB_OK);
    T_INTEQ(n, 2);
    T_STREQ(out[0].target_id, "keep");
    T_STREQ(out[1].target_id, "keep");
    T_INTEQ(n_state(s, SB_OUTBOX_CANCELLED), 1);
    /* per-post counts (what an edit looks at): del has one sending, one cancelled */
    int64_t c[SB_OUTBOX__COUNT];
    T_INTEQ(sb_store_outbox_post_counts(s, SB_PLATFORM_MASTODON, "del", c, &eb), SB_OK);
    T_INTEQ(c[SB_OUTBOX_SENDING], 1);
    T_INTEQ(c[SB_OUTBOX_CANCELLED], 1);
    T_INTEQ(c[SB_OUTBOX_PENDING] + c[SB_OUTBOX_SENT] + c[SB_OUTBOX_RETRY], 0);
    T_INTEQ(sb_store_outbox_post_counts(s, SB_PLATFORM_MASTODON, "keep", c, &eb), SB_OK);
    T_INTEQ(c[SB_OUTBOX_SENDING], 2);
    T_INTEQ(sb_store_outbox_post_counts(s, SB_PLATFORM_BLUESKY, "keep", c, &eb), SB_OK);
    T_INTEQ(c[SB_OUTBOX_SENDING], 0);
    sb_store_close(s);
    sb_decision_free(&d);
    sb_post_free(&p);
    free(out);
    free(e);
}

/* Outbox state changes are on disk when the call returns, whatever the batch size; the whole
 * history survives close and reopen. */
static void test_durability(void)
{
    char path[300];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};
    struct sb_post p;
    struct sb_decision d;
    struct sb_outbox_entry *out = entries(4);
    size_t n = 0;

    new_db(path, sizeof path);
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    sqlite3 *reader = raw_open(path);
    sb_store_set_batch(s, 100000);
    make_post(&p, SB_PLATFORM_BLUESKY, NULL);
    p.cid = "bafyq";
    make_decision(&d);
    T_INTEQ(post_and_decide(s, &p, "at://did:plc:q/app.bsky.feed.post/1", &d, 10, NULL), SB_OK);
    T_INTEQ(post_and_decide(s, &p, "at://did:plc:q/app.bsky.feed.post/2", &d, 20, NULL), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox"), 0); /* batched */

    /* an empty poll leaves the batch alone */
    T_INTEQ(sb_store_outbox_due(s, 5, 60000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 0);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox"), 0);
    /* a claim commits: the claim and everything batched before it */
    T_INTEQ(sb_store_outbox_due(s, 10, 60000, 1, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox"), 4);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 2);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox WHERE state = 'sending'"), 1);
    int64_t id = out[0].id;

    /* each state change is visible to another connection at once */
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_ERR_DUP);
    p.id = "at://did:plc:q/app.bsky.feed.post/3";
    T_INTEQ(sb_store_post_insert(s, &p, NULL, 0, NULL, &eb), SB_OK); /* batched */
    T_INTEQ(sb_store_outbox_sent(s, id, "at://did:plc:brand/app.bsky.feed.post/252w3uh6uzjd2",
                                 "bafyreplycid", 200, &eb),
            SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox WHERE state = 'sent'"), 1);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM posts"), 3);
    T_INTEQ(sb_store_outbox_due(s, 20, 60000, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 3);
    T_INTEQ(sb_store_outbox_retry(s, out[0].id, 90000, 429, "RateLimitExceeded", &eb), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox WHERE state = 'retry'"), 1);
    T_INTEQ(sb_store_outbox_fail(s, out[1].id, SB_OUTBOX_RECONCILE, 0, "lease lost", &eb), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox WHERE state = 'reconcile'"), 1);
    T_INTEQ(sb_store_outbox_fail(s, out[2].id, SB_OUTBOX_DEAD, 400, "InvalidRequest", &eb), SB_OK);
    T_INTEQ(raw_int(reader, "SELECT count(*) FROM outbox WHERE state = 'dead'"), 1);
    T_INTEQ(sb_store_outbox_cancel_for_post(s, SB_PLATFORM_BLUESKY,
                                            "at://did:plc:q/app.bsky.feed.post/2", &eb),
            SB_OK);
    sqlite3_close(reader);
    sb_store_close(s);

    /* reopen: every state, field and time as left */
    s = NULL;
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(n_state(s, SB_OUTBOX_SENT), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_RETRY), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_RECONCILE), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_DEAD), 1);
    struct sb_outbox_entry *e = entries(1);
    T_INTEQ(sb_store_outbox_get(s, id, e, &eb), SB_OK);
    T_INTEQ(e->state, SB_OUTBOX_SENT);
    T_STREQ(e->remote_id, "at://did:plc:brand/app.bsky.feed.post/252w3uh6uzjd2");
    T_STREQ(e->remote_cid, "bafyreplycid");
    T_STREQ(e->target_cid, "bafyq");
    T_INTEQ(e->platform, SB_PLATFORM_BLUESKY);
    T_INTEQ(e->first_attempt_at, 10);
    T_INTEQ(sb_store_outbox_list(s, SB_OUTBOX_RETRY, 4, out, &n, &eb), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(out[0].next_at, 90000);
    T_INTEQ(out[0].last_status, 429);
    T_STREQ(out[0].last_error, "RateLimitExceeded");
    sb_store_close(s);
    sb_decision_free(&d);
    sb_post_free(&p);
    free(out);
    free(e);
}

/* A database written by a switchboard that knew only migration 1 (schema and rows created here
 * from that exact SQL) opens, gains the outbox, keeps its rows, and takes new decisions. */
static void test_migrate_v1_file(void)
{
    char path[300];
    struct sb_store *s = NULL;
    struct sb_errbuf eb = {{0}};

    new_db(path, sizeof path);
    sqlite3 *db = raw_open(path);
    T_CHECK(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, sb_store_sqlite_migrations[0], NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db,
                         "INSERT INTO posts (id, platform, post_id, post_key, kind, received_at)"
                         " VALUES (7, 'mastodon', 'old-1', 0, 'mention', 1);"
                         "INSERT INTO decisions (post_rowid, action, reply, decided_at)"
                         " VALUES (7, 'acknowledge', 'thanks', 2);",
                         NULL, NULL, NULL) == SQLITE_OK);
    T_CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'outbox'"), 0);
    sqlite3_close(db);

    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(sb_store_schema_version(s), sb_store_sqlite_migrations_count);
    T_INTEQ(count(s, "posts"), 1);
    T_INTEQ(count(s, "decisions"), 1);
    T_INTEQ(n_state(s, SB_OUTBOX_ANY), 0);

    /* a new decision about the old post, with effects */
    struct sb_post p;
    struct sb_decision d;
    struct sb_effect fx[SB_EFFECTS_MAX];
    size_t n = 0;
    make_post(&p, SB_PLATFORM_MASTODON, "old-1");
    make_decision(&d);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(sb_store_decision_record(s, 7, &d, fx, n, 3, NULL, &eb), SB_OK);
    sb_store_close(s);

    db = raw_open(path);
    T_INTEQ(raw_int(db, "PRAGMA user_version"), sb_store_sqlite_migrations_count);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN"
                        " ('outbox_due', 'outbox_post')"),
            2);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM outbox WHERE post_rowid = 7"), 2);
    T_INTEQ(raw_int(db, "SELECT count(*) FROM decisions"), 2);
    /* the poll is served by the index */
    sqlite3_stmt *st = NULL;
    int uses_index = 0;
    if (sqlite3_prepare_v2(db,
                           "EXPLAIN QUERY PLAN SELECT id FROM outbox WHERE state IN"
                           " ('pending','retry','sending') AND next_at <= 5 ORDER BY next_at"
                           " LIMIT 8",
                           -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            uses_index += strstr((const char *)sqlite3_column_text(st, 3), "outbox_due") != NULL;
    sqlite3_finalize(st);
    T_CHECK(uses_index > 0);
    sqlite3_close(db);

    /* and opening again applies nothing twice */
    s = NULL;
    T_INTEQ(sb_store_open(path, &s, &eb), SB_OK);
    T_INTEQ(sb_store_schema_version(s), sb_store_sqlite_migrations_count);
    T_INTEQ(n_state(s, SB_OUTBOX_PENDING), 2);
    sb_store_close(s);
    sb_decision_free(&d);
    sb_post_free(&p);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sb-outbox-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_record_list_claim);
    T_RUN(test_unit_never_split);
    T_RUN(test_unit_all_or_nothing);
    T_RUN(test_bad_effects);
    T_RUN(test_lease_reclaim);
    T_RUN(test_transitions);
    T_RUN(test_cancel_for_post);
    T_RUN(test_durability);
    T_RUN(test_migrate_v1_file);
    remove_dbs();
    T_DONE();
}
