/* test_console_auth.c — passwords (argon2id), session tokens and their hashes, CSRF compare,
 * the login limiter, and the Prometheus exposition of the service's metrics. */
#include <stdlib.h>
#include <string.h>

#include "console/auth.h"
#include "run/metrics.h"
#include "t.h"

static void test_passwords(void)
{
    char h[SB_PWHASH_MAX];
    struct sb_errbuf eb;
    T_INTEQ(sb_auth_hash_password("correct horse battery", h, &eb), SB_OK);
    T_CHECK(strncmp(h, "$argon2id$", 10) == 0);
    T_CHECK(strstr(h, "correct") == NULL);
    T_CHECK(sb_auth_verify_password("correct horse battery", h));
    T_CHECK(!sb_auth_verify_password("correct horse batterY", h));
    T_CHECK(!sb_auth_verify_password("", h));
    T_CHECK(!sb_auth_verify_password(NULL, h));
    T_CHECK(!sb_auth_verify_password("correct horse battery", "$argon2i$v=19$m=65536,t=2,p=1$x"));
    T_CHECK(!sb_auth_verify_password("correct horse battery", ""));
    /* a second hash of the same password differs (its salt) and verifies too */
    char h2[SB_PWHASH_MAX];
    T_INTEQ(sb_auth_hash_password("correct horse battery", h2, &eb), SB_OK);
    T_CHECK(strcmp(h, h2) != 0);
    T_CHECK(sb_auth_verify_password("correct horse battery", h2));
    T_INTEQ(sb_auth_hash_password("short", h, &eb), SB_ERR_INVAL);
    T_CHECK(strstr(eb.msg, "8 to 1024") != NULL);
    char *big = malloc(SB_PASSWORD_MAX + 2);
    memset(big, 'a', SB_PASSWORD_MAX + 1);
    big[SB_PASSWORD_MAX + 1] = 0;
    T_INTEQ(sb_auth_hash_password(big, h, &eb), SB_ERR_INVAL);
    T_CHECK(!sb_auth_verify_password(big, h2));
    free(big);
}

static void test_tokens(void)
{
    char t1[SB_TOKEN_LEN + 1], h1[SB_SESSION_HASH_LEN + 1], c1[SB_CSRF_LEN + 1];
    char t2[SB_TOKEN_LEN + 1], h2[SB_SESSION_HASH_LEN + 1], c2[SB_CSRF_LEN + 1];
    sb_auth_new_session(t1, h1, c1);
    sb_auth_new_session(t2, h2, c2);
    T_INTEQ(strlen(t1), SB_TOKEN_LEN);
    T_INTEQ(strlen(h1), SB_SESSION_HASH_LEN);
    T_INTEQ(strlen(c1), SB_CSRF_LEN);
    T_CHECK(strcmp(t1, t2) != 0 && strcmp(c1, c2) != 0 && strcmp(t1, c1) != 0);
    T_CHECK(strcmp(t1, h1) != 0); /* the store never sees the token */
    char again[SB_SESSION_HASH_LEN + 1];
    T_CHECK(sb_auth_token_hash(t1, again));
    T_STREQ(again, h1);
    T_CHECK(!sb_auth_token_hash(NULL, again));
    T_CHECK(!sb_auth_token_hash("abc", again));
    char upper[SB_TOKEN_LEN + 1];
    memcpy(upper, t1, sizeof upper);
    upper[0] = 'G';
    T_CHECK(!sb_auth_token_hash(upper, again));
    T_CHECK(sb_auth_secret_eq(c1, c1));
    T_CHECK(!sb_auth_secret_eq(c1, c2));
    T_CHECK(!sb_auth_secret_eq(c1, NULL));
    T_CHECK(!sb_auth_secret_eq("", ""));
    T_CHECK(!sb_auth_secret_eq("abc", "abcd"));
}

static void test_limiter(void)
{
    static struct sb_limiter l;
    sb_limiter_init(&l, 3, 60000);
    int64_t t = 1000000;
    T_INTEQ(sb_limiter_check(&l, "10.0.0.1", t), 0);
    for (int i = 0; i < 3; i++)
        sb_limiter_fail(&l, "10.0.0.1", t + i);
    T_INTEQ(sb_limiter_check(&l, "10.0.0.1", t + 10), 60);
    T_INTEQ(sb_limiter_check(&l, "10.0.0.2", t + 10), 0); /* others are not affected */
    T_INTEQ(sb_limiter_check(&l, "10.0.0.1", t + 30000), 30);
    T_INTEQ(sb_limiter_check(&l, "10.0.0.1", t + 60000), 0); /* the window moved on */
    sb_limiter_fail(&l, "alice", t);
    sb_limiter_fail(&l, "alice", t);
    sb_limiter_success(&l, "alice"); /* a success forgets the failures */
    sb_limiter_fail(&l, "alice", t);
    sb_limiter_fail(&l, "alice", t);
    T_INTEQ(sb_limiter_check(&l, "alice", t), 0);
    sb_limiter_fail(&l, "alice", t);
    T_CHECK(sb_limiter_check(&l, "alice", t) > 0);
}

static void test_metrics(void)
{
    struct sb_metrics m;
    memset(&m, 0, sizeof m);
    struct sb_decision d;
    T_INTEQ(sb_decision_init(&d), SB_OK);
    d.action = SB_ACTION_ESCALATE;
    d.latency_ns = 30000;
    sb_decision_add_reason(&d, "legal threat: \"lawyer\"");
    sb_decision_add_reason(&d, "guardrail: reply budget reached (10 automated answers)");
    sb_metrics_decision(&m, &d);
    sb_metrics_decision(&m, &d);
    sb_metrics_first_response(&m, 3.5, 1);
    sb_metrics_first_response(&m, 100000, 0);
    m.posts_in[SB_PLATFORM_MASTODON] = 7;
    struct sb_queue_stats q = {
        .queue = "le\"gal", .open = 3, .unclaimed = 1, .oldest_at = 1000, .breached = 2};
    struct sb_metrics_gauges g = {.queues = &q,
                                  .n_queues = 1,
                                  .now_ms = 61000,
                                  .consoles = 2,
                                  .agents_online = 1,
                                  .outbox_pending = 4};
    struct sb_buf b;
    sb_buf_init(&b, 0);
    T_INTEQ(sb_metrics_render(&m, &g, &b), SB_OK);
    T_CHECK(strstr(b.data, "switchboard_posts_in_total{platform=\"mastodon\"} 7\n"));
    T_CHECK(strstr(b.data, "switchboard_decisions_total{action=\"escalate\"} 2\n"));
    T_CHECK(strstr(
        b.data, "switchboard_decision_reasons_total{reason=\"legal threat: \\\"lawyer\\\"\"} 2\n"));
    /* numbers and parenthesised details are left out of reason labels */
    T_CHECK(strstr(b.data, "reason=\"guardrail: reply budget reached\"} 2\n"));
    T_CHECK(strstr(b.data, "switchboard_policy_latency_seconds_bucket{le=\"5e-05\"} 2\n"));
    T_CHECK(strstr(b.data, "switchboard_policy_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
    T_CHECK(strstr(b.data, "switchboard_first_response_seconds_bucket{by=\"agent\",le=\"5\"} 1\n"));
    T_CHECK(strstr(b.data,
                   "switchboard_first_response_seconds_bucket{by=\"policy\",le=\"86400\"} 0\n"));
    T_CHECK(strstr(b.data, "switchboard_first_response_seconds_count{by=\"policy\"} 1\n"));
    T_CHECK(strstr(b.data, "switchboard_queue_depth{queue=\"le\\\"gal\"} 3\n"));
    T_CHECK(strstr(b.data, "switchboard_queue_oldest_wait_seconds{queue=\"le\\\"gal\"} 60\n"));
    T_CHECK(strstr(b.data, "switchboard_sla_breaches{queue=\"le\\\"gal\"} 2\n"));
    T_CHECK(strstr(b.data, "switchboard_outbox_pending 4\n"));
    T_CHECK(strstr(b.data, "# TYPE switchboard_first_response_seconds histogram\n"));
    /* every line is a comment or "name{labels} value" */
    for (char *line = b.data; *line;) {
        char *nl = strchr(line, '\n');
        T_CHECK(nl != NULL);
        if (!nl)
            break;
        T_CHECK(line[0] == '#' || (line[0] >= 'a' && line[0] <= 'z'));
        line = nl + 1;
    }
    sb_buf_free(&b);
    sb_decision_free(&d);
}

int main(void)
{
    if (sb_auth_init()) {
        fprintf(stderr, "libsodium did not initialise\n");
        return 1;
    }
    T_RUN(test_passwords);
    T_RUN(test_tokens);
    T_RUN(test_limiter);
    T_RUN(test_metrics);
    T_DONE();
}
