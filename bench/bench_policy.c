/* bench_policy.c — median cost of one sb_policy_decide with the shipped policy on realistic
 * posts, the Lua post/ctx views included. Prints one JSON object. Not a test: run it through
 * scripts/bench, which records the machine and date next to the figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"

static const char *texts[] = {
    "@acme my order #4411 still hasn't arrived and nobody answers the phone. Really annoyed.",
    "@acme love the new headphones, best purchase this year!",
    "@acme does the X200 charger work with the older model?",
    "@acme I was charged twice for my order, can you check my account?",
    "@acme if this isn't fixed I'm calling my lawyer",
    "@acme the battery in my phone is swelling and it smells like smoke",
    "@acme just saw your ad on the subway",
    "@acme worst customer service ever, three weeks waiting for a refund",
    "@acme thanks for the quick fix yesterday, great support team",
    "@acme where can I find the manual for the kettle?",
    "@acme FREE crypto giveaway DM me for promo",
    "@acme hola, mi pedido llegó roto. ¿Qué hago?",
};
#define NT (sizeof texts / sizeof *texts)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "policies";
    struct sb_errbuf eb;
    struct sb_policy *pol;
    if (sb_policy_load(dir, NULL, &pol, &eb)) {
        fprintf(stderr, "bench_policy: %s\n", eb.msg);
        return 1;
    }
    struct sb_post posts[NT];
    char ids[NT][32];
    for (size_t i = 0; i < NT; i++) {
        sb_post_init(&posts[i]);
        snprintf(ids[i], sizeof ids[i], "1093%06zu", i);
        struct sb_post *p = &posts[i];
        p->platform = i % 3 == 2 ? SB_PLATFORM_BLUESKY : SB_PLATFORM_MASTODON;
        p->id = ids[i];
        p->text = texts[i];
        p->lang = "en";
        p->visibility = "public";
        p->created_at = "2026-11-20T10:00:00.000Z";
        p->author.id = "4242";
        p->author.handle = "casey@example.social";
        p->author.name = "Casey";
        p->author.followers = i == 1 ? 250000 : 180;
    }
    struct sb_queue_stat q[] = {{"support", 4, 2, 30}, {"vip", 0, 1, 0}};
    struct sb_ctx ctx = {.now = 1795000000, .business_hours = true, .queues = q, .n_queues = 2};
    struct sb_decision d;
    sb_decision_init(&d);
    long counts[SB_ACTION__COUNT] = {0};
    for (int w = 0; w < 20000; w++)
        sb_policy_decide(pol, &posts[w % NT], &ctx, &d);
    enum { ROUNDS = 31, BATCH = 20000 };
    double per[ROUNDS];
    long errors = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int k = 0; k < BATCH; k++) {
            errors += sb_policy_decide(pol, &posts[k % NT], &ctx, &d) != SB_OK;
            counts[d.action]++;
        }
        per[r] = (now_s() - t0) / BATCH * 1e6;
    }
    qsort(per, ROUNDS, sizeof *per, cmp_d);
    /* per-text cost, to show which branches are expensive */
    double each[NT];
    for (size_t i = 0; i < NT; i++) {
        double t0 = now_s();
        for (int k = 0; k < 20000; k++)
            sb_policy_decide(pol, &posts[i], &ctx, &d);
        each[i] = (now_s() - t0) / 20000 * 1e6;
    }
    struct sb_policy_stats st;
    sb_policy_stats_get(pol, &st);
    printf("{\"bench\":\"policy_decide\",\"posts\":%zu,\"rounds\":%d,\"batch\":%d,"
           "\"median_us\":%.3f,\"min_us\":%.3f,\"max_us\":%.3f,\"errors\":%ld,"
           "\"lua_mem_kib\":%zu,\"acknowledge\":%ld,\"move_to_private\":%ld,\"escalate\":%ld,"
           "\"ignore\":%ld,\"per_text_us\":[",
           NT, ROUNDS, BATCH, per[ROUNDS / 2], per[0], per[ROUNDS - 1], errors, st.mem_used / 1024,
           counts[0], counts[1], counts[2], counts[3]);
    for (size_t i = 0; i < NT; i++)
        printf("%s%.2f", i ? "," : "", each[i]);
    printf("]}\n");
    sb_decision_free(&d);
    for (size_t i = 0; i < NT; i++)
        sb_post_free(&posts[i]);
    sb_policy_free(pol);
    return 0;
}
