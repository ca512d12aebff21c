/* bench_cases.c — the console's case list over a large backlog, in the store (not a test:
 * scripts/bench runs it, then bench/bench_cases_http.mjs times the same list over HTTP on the
 * database this leaves behind).
 *
 *   bench_cases DB_PATH [OPEN [RUNS]]
 *
 * Creates a fresh SQLite store at DB_PATH (removed first) through the public store API: one post
 * per case (sb_store_post_insert, batched), then OPEN (default 100,000) open human-owned cases in
 * queue "legal", each with its `escalated` event (sb_store_case_create, which commits each case
 * like the service does), around them the noise of a real store: OPEN/10 closed cases in legal,
 * OPEN/10 open in "support", OPEN/20 open in "billing", OPEN/50 handed back to the policy, 1% of
 * the open ones claimed. Priorities, due times and creation times are mixed so the list order
 * (priority, due, id) has work to do. Then, on a freshly opened store, times sb_store_case_list
 * for the first page of 50 of queue legal (median, p99 and max of RUNS, default 200, after one
 * cold call that prepares the statement) and, for context, an agent's default list (legal and
 * support merged), the unclaimed ones, a page from the middle, a supervisor's every-queue list and
 * the queue statistics the console's tick computes. Prints one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/case.h"
#include "store/cases.h"
#include "store/store.h"

#define QUEUE "legal"
#define BASE_MS 1795000000000LL /* created times: the 10 days before this */
#define DAY_MS 86400000LL

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const struct sb_errbuf *eb)
{
    fprintf(stderr, "bench_cases: %s: %s\n", what, eb->msg);
    exit(1);
}

static const char *texts[] = {
    "This is the third time. My lawyer will be in touch about the refund.",
    "I will see you in court over this broken blender. My lawyer will be in touch.",
    "My lawyer will be in touch about the charges on my card, order",
    "Expect to hear from my attorney about the warranty you refused, ticket",
    "Two months without the refund you promised. My lawyer will be in touch, order",
};
#define NTEXTS (sizeof texts / sizeof *texts)

/* One kind of case to create. */
struct spec {
    const char *queue;
    enum sb_case_owner owner;
    long n;
};

struct timing {
    double cold, median, p99, max;
    size_t rows;
};

/* The list f, RUNS times, after one cold call. */
static struct timing time_list(struct sb_store *s, const struct sb_case_filter *f, int runs,
                               struct sb_case *out)
{
    struct timing t = {0};
    struct sb_errbuf eb = {{0}};
    double *v = calloc((size_t)runs, sizeof *v);
    double t0 = now_ms();
    if (sb_store_case_list(s, f, 50, out, &t.rows, &eb) != SB_OK)
        die("case list", &eb);
    t.cold = now_ms() - t0;
    for (int i = 0; i < runs; i++) {
        t0 = now_ms();
        if (sb_store_case_list(s, f, 50, out, &t.rows, &eb) != SB_OK)
            die("case list", &eb);
        v[i] = now_ms() - t0;
    }
    qsort(v, (size_t)runs, sizeof *v, cmp_d);
    t.median = v[runs / 2];
    t.p99 = v[(runs * 99) / 100 < runs ? (runs * 99) / 100 : runs - 1];
    t.max = v[runs - 1];
    free(v);
    return t;
}

static void print_timing(const char *name, const struct timing *t, int last)
{
    printf("\"%s\":{\"rows\":%zu,\"cold_ms\":%.3f,\"median_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f}%s",
           name, t->rows, t->cold, t->median, t->p99, t->max, last ? "" : ",");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_cases DB_PATH [OPEN [RUNS]]\n");
        return 2;
    }
    const char *path = argv[1];
    long open_n = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    int runs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 200;
    if (open_n < 100 || runs < 1) {
        fprintf(stderr, "bench_cases: OPEN >= 100 and RUNS >= 1\n");
        return 2;
    }
    char url[4200];
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int k = 0; k < 3; k++) {
        snprintf(url, sizeof url, "%s%s", path, sfx[k]);
        unlink(url);
    }
    struct sb_errbuf eb = {{0}};
    struct sb_store *s = NULL;
    /* the service's durability for cases (synchronous=normal); posts in large batches */
    snprintf(url, sizeof url, "sqlite:%s?synchronous=normal&batch=8192", path);
    if (sb_store_open(url, &s, &eb) != SB_OK)
        die("open", &eb);

    const struct spec specs[] = {
        {QUEUE, SB_CASE_HUMAN, open_n},          {QUEUE, SB_CASE_CLOSED, open_n / 10},
        {"support", SB_CASE_HUMAN, open_n / 10}, {"billing", SB_CASE_HUMAN, open_n / 20},
        {QUEUE, SB_CASE_POLICY, open_n / 50},
    };
    const size_t nspecs = sizeof specs / sizeof *specs;
    long total = 0;
    for (size_t k = 0; k < nspecs; k++)
        total += specs[k].n;

    /* agents who hold the claimed cases (the bench's login agent is added by the HTTP part) */
    int64_t holders[5];
    for (int i = 0; i < 5; i++) {
        struct sb_agent a = {.role = SB_ROLE_AGENT, .created_at = BASE_MS - 30 * DAY_MS};
        snprintf(a.name, sizeof a.name, "holder%d", i);
        snprintf(a.queues, sizeof a.queues, "legal,support,billing");
        snprintf(a.pw_hash, sizeof a.pw_hash, "$argon2id$v=19$not-a-real-hash");
        if (sb_store_agent_add(s, &a, &holders[i], &eb) != SB_OK)
            die("agent", &eb);
    }

    /* the posts, in creation order; case i is about post rowids[i] */
    int64_t *rowids = malloc(sizeof *rowids * (size_t)total);
    double t0 = now_ms();
    struct sb_post p;
    sb_post_init(&p);
    char id[32], handle[48], name[48], aid[32], text[160], purl[96];
    for (long i = 0; i < total; i++) {
        sb_post_reset(&p);
        long who = (i * 7919) % 20000; /* 20,000 customers */
        snprintf(id, sizeof id, "%lld", 115000000000000000LL + i * 64);
        snprintf(aid, sizeof aid, "%ld", 109000000 + who);
        snprintf(handle, sizeof handle, "customer%ld@social.example", who);
        snprintf(name, sizeof name, "Customer %ld", who);
        snprintf(text, sizeof text, "@acme %s #%ld", texts[i % NTEXTS], i);
        snprintf(purl, sizeof purl, "https://social.example/@customer%ld/%s", who, id);
        p.platform = SB_PLATFORM_MASTODON;
        p.kind = SB_POST_MENTION;
        p.id = id;
        p.account = "acme";
        p.text = text;
        p.lang = "en";
        p.url = purl;
        p.visibility = "public";
        p.thread = id;
        p.created_ms = BASE_MS - 10 * DAY_MS + (i * 10 * DAY_MS) / total;
        p.created_at = "2026-11-20T10:00:00.000Z";
        p.author.id = aid;
        p.author.handle = handle;
        p.author.name = name;
        p.author.followers = who % 1000;
        if (sb_store_post_insert(s, &p, NULL, 0, &rowids[i], &eb) != SB_OK)
            die("post", &eb);
    }
    sb_post_free(&p);
    if (sb_store_flush(s, &eb) != SB_OK)
        die("flush", &eb);
    double posts_ms = now_ms() - t0;

    /* the cases, one commit each, interleaved over the kinds in creation order */
    t0 = now_ms();
    long made[8] = {0};
    struct sb_case c;
    struct sb_case_event ev;
    for (long i = 0; i < total; i++) {
        /* the kind furthest behind its share: the kinds interleave evenly in creation order */
        size_t k = 0;
        double behind = -1e18;
        for (size_t q = 0; q < nspecs; q++) {
            double b = (double)specs[q].n * (double)(i + 1) / (double)total - (double)made[q];
            if (made[q] < specs[q].n && b > behind) {
                behind = b;
                k = q;
            }
        }
        long j = made[k]++;
        int64_t created = BASE_MS - 10 * DAY_MS + (i * 10 * DAY_MS) / total;
        memset(&c, 0, sizeof c);
        c.platform = SB_PLATFORM_MASTODON;
        snprintf(c.account, sizeof c.account, "acme");
        snprintf(c.thread_id, sizeof c.thread_id, "%lld", 115000000000000000LL + i * 64);
        snprintf(c.queue, sizeof c.queue, "%s", specs[k].queue);
        c.st.owner = specs[k].owner;
        /* most of a legal backlog is urgent, the rest spread */
        static const enum sb_priority prios[10] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 3};
        c.st.priority = prios[(j * 7) % 10];
        c.st.first_due = created + 15 * 60 * 1000;
        if (j % 10 == 7) { /* answered once, the customer waits again */
            c.st.first_responded_at = created + 600000;
            c.st.next_due = created + 3600000 + (j % 3600) * 1000;
        }
        if (specs[k].owner == SB_CASE_HUMAN && j % 100 == 42)
            c.st.assignee = holders[j % 5];
        if (specs[k].owner == SB_CASE_CLOSED)
            c.closed_at = created + 2 * 3600000;
        c.first_post_rowid = c.last_post_rowid = rowids[i];
        long who = (i * 7919) % 20000;
        snprintf(c.author_id, sizeof c.author_id, "%ld", 109000000 + who);
        snprintf(c.author_handle, sizeof c.author_handle, "customer%ld@social.example", who);
        snprintf(c.summary, sizeof c.summary, "@acme %s #%ld", texts[i % NTEXTS], i);
        c.created_at = c.last_customer_at = created;
        c.updated_at = c.closed_at ? c.closed_at : created;
        memset(&ev, 0, sizeof ev);
        ev.kind = SB_CASE_EV_ESCALATED;
        ev.at = created;
        ev.post_rowid = rowids[i];
        snprintf(ev.detail, sizeof ev.detail,
                 "{\"post_id\":\"%s\",\"reasons\":[\"legal threat: 'my lawyer'\"],"
                 "\"policy_version\":\"3f9a1c2e\"}",
                 c.thread_id);
        if (sb_store_case_create(s, &c, &ev, &eb) != SB_OK)
            die("case", &eb);
    }
    double cases_ms = now_ms() - t0;
    if (sb_store_flush(s, &eb) != SB_OK)
        die("flush", &eb);
    sb_store_close(s);

    /* timings on a store opened afresh, as the service opens it */
    snprintf(url, sizeof url, "sqlite:%s?synchronous=normal", path);
    if (sb_store_open(url, &s, &eb) != SB_OK)
        die("reopen", &eb);
    struct sb_case *out = calloc(50, sizeof *out);
    struct sb_case_filter f = {.owner = SB_CASE_HUMAN, .queues = QUEUE};
    struct timing first = time_list(s, &f, runs, out);
    struct sb_case_filter fa = {.owner = SB_CASE_HUMAN, .queues = "legal,support"};
    struct timing agent = time_list(s, &fa, runs, out);
    struct sb_case_filter fu = {.owner = SB_CASE_HUMAN, .queues = QUEUE, .assignee = -1};
    struct timing unclaimed = time_list(s, &fu, runs, out);
    struct sb_case_filter fm = {.owner = SB_CASE_HUMAN,
                                .queues = QUEUE,
                                .after_set = true,
                                .after_priority = SB_PRIORITY_HIGH,
                                .after_due = BASE_MS - 5 * DAY_MS,
                                .after_id = 0};
    struct timing middle = time_list(s, &fm, runs, out);
    struct sb_case_filter fs = {.owner = SB_CASE_HUMAN};
    struct timing every = time_list(s, &fs, runs, out);
    /* queue statistics (the console computes them on its tick, on the service's loop) */
    double sv[21];
    struct sb_queue_stats qs[8];
    size_t nq = 0;
    for (int k = 0; k < 21; k++) {
        double q0 = now_ms();
        if (sb_store_queue_stats(s, BASE_MS, 8, qs, &nq, &eb) != SB_OK)
            die("queue stats", &eb);
        sv[k] = now_ms() - q0;
    }
    qsort(sv, 21, sizeof *sv, cmp_d);
    int64_t open_legal = 0;
    for (size_t k = 0; k < nq; k++)
        if (strcmp(qs[k].queue, QUEUE) == 0)
            open_legal = qs[k].open;
    sb_store_close(s);
    free(out);
    free(rowids);

    printf("{\"bench\":\"case_list\",\"open_in_queue\":%lld,\"cases\":%ld,\"posts\":%ld,"
           "\"posts_insert_ms\":%.0f,\"cases_create_ms\":%.0f,\"cases_per_s\":%.0f,\"runs\":%d,",
           (long long)open_legal, total, total, posts_ms, cases_ms, total * 1e3 / cases_ms, runs);
    print_timing("first_page", &first, 0);
    print_timing("agent_default", &agent, 0);
    print_timing("unclaimed", &unclaimed, 0);
    print_timing("middle_page", &middle, 0);
    print_timing("every_queue", &every, 0);
    printf("\"queue_stats_median_ms\":%.3f,\"queue_stats_max_ms\":%.3f}\n", sv[10], sv[20]);
    return 0;
}
