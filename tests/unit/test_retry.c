/* test_retry.c — the outbox's retry rules (core/retry.c): the policy table, full-jitter bounds
 * under a fixed random source, rate-limit header parsing of real header strings (Mastodon
 * ISO 8601 with 6 fractional digits, Bluesky epoch seconds and policy, Retry-After in every
 * HTTP-date form), the classification table, and the stop rules: the idempotency window cutoff,
 * the 24 h cap, no blind re-send where the platform has no idempotency. */
#include <stdint.h>
#include <stdlib.h>

#include "core/retry.h"
#include "t.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

/* 2024-05-01T12:00:00Z */
static const int64_t T0 = 1714564800000LL;

static uint64_t rand_zero(void *ctx)
{
    (void)ctx;
    return 0;
}

static uint64_t rand_max(void *ctx)
{
    (void)ctx;
    return UINT64_MAX;
}

static struct sb_retry_response failure(int status, enum sb_retry_transport t, const char *name)
{
    struct sb_retry_response r;
    sb_retry_response_init(&r);
    r.http_status = status;
    r.transport = t;
    r.error_name = name;
    return r;
}

static void test_policy_table(void)
{
    const struct sb_retry_policy *m =
        sb_retry_policy_get(SB_PLATFORM_MASTODON, SB_EFFECT_PUBLIC_REPLY);
    T_INTEQ(m->window_ms, 3600 * SEC); /* Idempotency-Key TTL, platforms.md §1.5 */
    T_CHECK(m->margin_ms > 0 && m->margin_ms < 15 * MIN);
    T_CHECK(m->base_ms > 0 && m->base_ms <= m->cap_ms);
    T_CHECK(m->max_attempts > 1);
    const struct sb_retry_policy *mdm =
        sb_retry_policy_get(SB_PLATFORM_MASTODON, SB_EFFECT_DIRECT_MESSAGE);
    T_INTEQ(mdm->window_ms, 3600 * SEC); /* a Mastodon DM is a status: same key protection */

    const struct sb_retry_policy *b =
        sb_retry_policy_get(SB_PLATFORM_BLUESKY, SB_EFFECT_PUBLIC_REPLY);
    T_INTEQ(b->window_ms, SB_RETRY_WINDOW_FOREVER); /* the rkey */
    T_INTEQ(b->max_age_ms, 24 * HOUR);
    const struct sb_retry_policy *bdm =
        sb_retry_policy_get(SB_PLATFORM_BLUESKY, SB_EFFECT_DIRECT_MESSAGE);
    T_INTEQ(bdm->window_ms, 0); /* chat sendMessage: no idempotency */
    T_INTEQ(bdm->max_age_ms, 24 * HOUR);

    /* unknown platform or kind: the careful row */
    const struct sb_retry_policy *u =
        sb_retry_policy_get(SB_PLATFORM_UNKNOWN, SB_EFFECT_PUBLIC_REPLY);
    T_INTEQ(u->window_ms, 0);
    T_INTEQ(u->max_attempts, 1);
    T_CHECK(sb_retry_policy_get((enum sb_platform)42, SB_EFFECT_PUBLIC_REPLY) == u);
    T_CHECK(sb_retry_policy_get(SB_PLATFORM_MASTODON, SB_EFFECT__COUNT) == u);
}

static void test_full_jitter(void)
{
    const struct sb_retry_policy *pol =
        sb_retry_policy_get(SB_PLATFORM_MASTODON, SB_EFFECT_PUBLIC_REPLY);
    uint64_t seed = 42;
    int out_of_bounds = 0, low_seen = 0, high_seen = 0;

    for (int retry = 0; retry < 20; retry++) {
        int64_t bound = pol->base_ms << retry;
        if (bound > pol->cap_ms)
            bound = pol->cap_ms;
        int64_t lo = INT64_MAX, hi = -1;
        for (int i = 0; i < 2000; i++) {
            int64_t d = sb_retry_backoff(pol, retry, sb_retry_rand_splitmix, &seed);
            out_of_bounds += d < 0 || d > bound;
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* full jitter: the whole range is used, from ~0 up to the bound */
        low_seen += lo <= bound / 10;
        high_seen += hi >= bound - bound / 10;
    }
    T_INTEQ(out_of_bounds, 0);
    T_INTEQ(low_seen, 20);
    T_INTEQ(high_seen, 20);

    /* exact ends with fixed sources; no source = the bound; overflow-safe exponent */
    T_INTEQ(sb_retry_backoff(pol, 0, rand_zero, NULL), 0);
    T_INTEQ(sb_retry_backoff(pol, 0, rand_max, NULL), pol->base_ms);
    T_INTEQ(sb_retry_backoff(pol, 3, rand_max, NULL), pol->base_ms * 8);
    T_INTEQ(sb_retry_backoff(pol, 3, NULL, NULL), pol->base_ms * 8);
    T_INTEQ(sb_retry_backoff(pol, 40, rand_max, NULL), pol->cap_ms);
    T_INTEQ(sb_retry_backoff(pol, 1000, rand_max, NULL), pol->cap_ms);
    T_INTEQ(sb_retry_backoff(pol, -5, rand_max, NULL), pol->base_ms);

    /* the same seed gives the same sequence (tests and replays are reproducible) */
    uint64_t s1 = 7, s2 = 7;
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += sb_retry_backoff(pol, 5, sb_retry_rand_splitmix, &s1) ==
                sb_retry_backoff(pol, 5, sb_retry_rand_splitmix, &s2);
    T_INTEQ(same, 100);
}

static void test_headers_mastodon(void)
{
    /* a Mastodon 429 (platforms.md §1.7): ISO 8601 with 6 fractional digits, no Retry-After */
    struct sb_retry_response r = failure(429, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Limit", "300", T0), SB_OK);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Remaining", "0", T0), SB_OK);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Reset", "2024-05-01T12:05:00.000000Z", T0),
            SB_OK);
    T_INTEQ(sb_retry_header_parse(&r, "Content-Type", "application/json", T0), SB_ERR_NOTFOUND);
    T_INTEQ(r.limit, 300);
    T_INTEQ(r.remaining, 0);
    T_INTEQ(r.reset_at, 1714565100000LL);
    T_INTEQ(r.retry_after_at, 0);

    /* case-insensitive names, blanks around values, sub-second reset */
    int64_t v = 0;
    T_INTEQ(sb_retry_header_parse(&r, "x-ratelimit-reset", " 2024-05-01T12:05:00.250000Z ", T0),
            SB_OK);
    T_INTEQ(r.reset_at, 1714565100250LL);
    T_CHECK(sb_retry_reset_parse("2024-05-01T14:05:00.000000+02:00", T0, &v));
    T_INTEQ(v, 1714565100000LL);

    /* malformed values are refused and change nothing */
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Reset", "soon", T0), SB_ERR_SCHEMA);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Reset", "", T0), SB_ERR_SCHEMA);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Remaining", "-1", T0), SB_ERR_SCHEMA);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Remaining", "12abc", T0), SB_ERR_SCHEMA);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Remaining", NULL, T0), SB_ERR_SCHEMA);
    T_INTEQ(r.reset_at, 1714565100250LL);
    T_INTEQ(r.remaining, 0);
}

static void test_headers_bluesky(void)
{
    /* rate-limiter.ts (platforms.md §2.5): absolute epoch seconds and a policy */
    struct sb_retry_response r = failure(429, SB_RETRY_TRANSPORT_NONE, "RateLimitExceeded");
    T_INTEQ(sb_retry_header_parse(&r, "RateLimit-Limit", "3000", T0), SB_OK);
    T_INTEQ(sb_retry_header_parse(&r, "RateLimit-Remaining", "0", T0), SB_OK);
    T_INTEQ(sb_retry_header_parse(&r, "RateLimit-Reset", "1714565100", T0), SB_OK);
    T_INTEQ(sb_retry_header_parse(&r, "RateLimit-Policy", "3000;w=300", T0), SB_OK);
    T_INTEQ(r.limit, 3000);
    T_INTEQ(r.remaining, 0);
    T_INTEQ(r.reset_at, 1714565100000LL);
    T_INTEQ(r.window_s, 300);

    int64_t limit = 0, w = 0, at = 0;
    T_CHECK(sb_retry_ratelimit_policy_parse("5000;w=3600, 35000;w=86400", &limit, &w));
    T_INTEQ(limit, 5000);
    T_INTEQ(w, 3600);
    T_CHECK(sb_retry_ratelimit_policy_parse("\"default\";q=100;w=10", &limit, &w));
    T_INTEQ(limit, 100);
    T_INTEQ(w, 10);
    T_CHECK(!sb_retry_ratelimit_policy_parse("lots;w=10", &limit, &w));
    T_CHECK(!sb_retry_ratelimit_policy_parse("100;w=ten", &limit, &w));
    T_CHECK(!sb_retry_ratelimit_policy_parse("", &limit, &w));

    /* Discord-style fractional epoch; a small number is delta seconds (IETF draft meaning) */
    T_CHECK(sb_retry_reset_parse("1470173023.123", T0, &at));
    T_INTEQ(at, 1470173023123LL);
    T_CHECK(sb_retry_reset_parse("30", T0, &at));
    T_INTEQ(at, T0 + 30 * SEC);
    T_CHECK(!sb_retry_reset_parse("1470173023.", T0, &at));
    T_CHECK(!sb_retry_reset_parse("1e9", T0, &at));
}

static void test_retry_after(void)
{
    struct sb_retry_response r = failure(503, SB_RETRY_TRANSPORT_NONE, NULL);
    int64_t at = 0;

    T_INTEQ(sb_retry_header_parse(&r, "Retry-After", "120", T0), SB_OK);
    T_INTEQ(r.retry_after_at, T0 + 120 * SEC);
    T_INTEQ(sb_retry_header_parse(&r, "retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", T0), SB_OK);
    T_INTEQ(r.retry_after_at, 1445412480000LL);
    /* the two obsolete forms a recipient must still accept (RFC 9110 §5.6.7) */
    T_CHECK(sb_retry_http_date_parse("Wednesday, 21-Oct-15 07:28:00 GMT", &at));
    T_INTEQ(at, 1445412480000LL);
    T_CHECK(sb_retry_http_date_parse("Sun Nov  6 08:49:37 1994", &at));
    T_INTEQ(at, 784111777000LL);
    T_CHECK(sb_retry_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &at));
    T_INTEQ(at, 784111777000LL);
    /* refused */
    T_CHECK(!sb_retry_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", &at));
    T_CHECK(!sb_retry_http_date_parse("Sun, 31 Feb 1994 08:49:37 GMT", &at));
    T_CHECK(!sb_retry_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT trailing", &at));
    T_CHECK(!sb_retry_after_parse("-5", T0, &at));
    T_CHECK(!sb_retry_after_parse("1.5", T0, &at));
    T_CHECK(!sb_retry_after_parse("99999999999", T0, &at)); /* > 100 years: nonsense */
    T_INTEQ(sb_retry_header_parse(&r, "Retry-After", "tomorrow", T0), SB_ERR_SCHEMA);
    T_INTEQ(r.retry_after_at, 1445412480000LL);
}

static void test_classify(void)
{
    static const struct {
        int status;
        enum sb_retry_transport t;
        const char *name;
        enum sb_retry_class cls;
        bool not_applied;
    } rows[] = {
        {200, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_OK, false},
        {201, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_OK, false},
        {302, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_PERMANENT, false},
        {400, SB_RETRY_TRANSPORT_NONE, "InvalidRequest", SB_RETRY_CLASS_PERMANENT, false},
        {400, SB_RETRY_TRANSPORT_NONE, "ExpiredToken", SB_RETRY_CLASS_AUTH, true},
        {400, SB_RETRY_TRANSPORT_NONE, "InvalidToken", SB_RETRY_CLASS_AUTH, true},
        {401, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_AUTH, true},
        {401, SB_RETRY_TRANSPORT_NONE, "AuthMissing", SB_RETRY_CLASS_AUTH, true},
        {403, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_PERMANENT, false},
        {404, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_PERMANENT, false},
        {408, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_RETRY, true},
        {409, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_CONFLICT, false},
        {413, SB_RETRY_TRANSPORT_NONE, "PayloadTooLarge", SB_RETRY_CLASS_PERMANENT, false},
        {422, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_PERMANENT, false},
        {425, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_RETRY, true},
        {429, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_RETRY, true},
        {429, SB_RETRY_TRANSPORT_NONE, "RateLimitExceeded", SB_RETRY_CLASS_RETRY, true},
        {500, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_RETRY, false},
        {501, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_PERMANENT, false},
        {502, SB_RETRY_TRANSPORT_NONE, "UpstreamFailure", SB_RETRY_CLASS_RETRY, false},
        {503, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_RETRY, false},
        {504, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_RETRY, false},
        {0, SB_RETRY_TRANSPORT_CONNECT, NULL, SB_RETRY_CLASS_RETRY, true},
        {0, SB_RETRY_TRANSPORT_TIMEOUT, NULL, SB_RETRY_CLASS_RETRY, false},
        {0, SB_RETRY_TRANSPORT_LOST, NULL, SB_RETRY_CLASS_RETRY, false},
        {200, SB_RETRY_TRANSPORT_LOST, NULL, SB_RETRY_CLASS_RETRY, false}, /* body lost */
        {0, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_PERMANENT, false},
        {999, SB_RETRY_TRANSPORT_NONE, NULL, SB_RETRY_CLASS_PERMANENT, false},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        enum sb_retry_class c = sb_retry_classify(rows[i].status, rows[i].t, rows[i].name);
        bool na = sb_retry_not_applied(rows[i].status, rows[i].t, rows[i].name);
        if (c != rows[i].cls || na != rows[i].not_applied) {
            wrong++;
            fprintf(stderr, "  row %zu: status %d transport %d %s → %s%s\n", i, rows[i].status,
                    (int)rows[i].t, rows[i].name ? rows[i].name : "-", sb_retry_class_name(c),
                    na ? " (not applied)" : "");
        }
    }
    T_INTEQ(wrong, 0);
    T_STREQ(sb_retry_class_name(SB_RETRY_CLASS_CONFLICT), "conflict");
    T_STREQ(sb_retry_verdict_name(SB_RETRY_RECONCILE), "reconcile");
}

static struct sb_retry_state state(enum sb_platform pl, enum sb_effect_kind k, int attempts,
                                   int64_t first, uint64_t *seed)
{
    struct sb_retry_state st = {.platform = pl,
                                .kind = k,
                                .attempts = attempts,
                                .first_attempt_ms = first,
                                .rand = sb_retry_rand_splitmix,
                                .rand_ctx = seed};
    return st;
}

static void test_next_basics(void)
{
    uint64_t seed = 1;
    int64_t next = 0;
    struct sb_retry_state st = state(SB_PLATFORM_MASTODON, SB_EFFECT_PUBLIC_REPLY, 1, T0, &seed);
    const struct sb_retry_policy *pol = sb_retry_policy_get(st.platform, st.kind);

    /* a 503 on the first attempt: again within [now, now + base] */
    struct sb_retry_response r = failure(503, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    T_CHECK(next >= T0 && next <= T0 + pol->base_ms);
    /* the fourth attempt: within [now, now + 8 base] */
    st.attempts = 4;
    T_INTEQ(sb_retry_next(&st, T0 + MIN, &r, &next), SB_RETRY_AGAIN);
    T_CHECK(next >= T0 + MIN && next <= T0 + MIN + 8 * pol->base_ms);

    /* Retry-After is honoured even if the backoff would be shorter */
    st.attempts = 1;
    r.retry_after_at = T0 + 90 * SEC;
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    T_CHECK(next >= T0 + 90 * SEC && next <= T0 + 90 * SEC + pol->base_ms);

    /* a Mastodon 429: wait for X-RateLimit-Reset (plus a spread of at most base) */
    r = failure(429, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Remaining", "0", T0), SB_OK);
    T_INTEQ(sb_retry_header_parse(&r, "X-RateLimit-Reset", "2024-05-01T12:05:00.000000Z", T0),
            SB_OK);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    T_CHECK(next >= 1714565100000LL && next <= 1714565100000LL + pol->base_ms);

    /* a reset is only a wait when the quota is gone (429 or remaining 0) */
    r = failure(503, SB_RETRY_TRANSPORT_NONE, NULL);
    r.reset_at = T0 + 4 * MIN;
    r.remaining = 10;
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    T_CHECK(next <= T0 + pol->base_ms);
    r.remaining = 0;
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    T_CHECK(next >= T0 + 4 * MIN);

    /* auth: again almost at once (after the caller's refresh), even on a late attempt */
    st.attempts = 9;
    r = failure(400, SB_RETRY_TRANSPORT_NONE, "ExpiredToken");
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    T_CHECK(next >= T0 && next <= T0 + pol->base_ms);

    /* a lost response is retried where the key protects it */
    r = failure(0, SB_RETRY_TRANSPORT_LOST, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
}

static void test_next_stops(void)
{
    uint64_t seed = 2;
    int64_t next = -1;
    struct sb_retry_state st = state(SB_PLATFORM_MASTODON, SB_EFFECT_PUBLIC_REPLY, 1, T0, &seed);
    struct sb_retry_response r;

    /* permanent: dead with the first attempt; after earlier attempts the 4xx may be the platform
     * refusing our own duplicate, so a human checks */
    r = failure(422, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_DEAD);
    st.attempts = 3;
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_RECONCILE);
    st.attempts = 1;
    r = failure(404, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_DEAD);
    /* conflict, and a "failure" that is a success: never re-sent */
    r = failure(409, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_RECONCILE);
    r = failure(200, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_RECONCILE);
    T_INTEQ(next, -1); /* only AGAIN sets it */
    T_INTEQ(sb_retry_next(NULL, T0, &r, &next), SB_RETRY_RECONCILE);

    /* Mastodon window: 1 h minus the margin from the first attempt */
    const struct sb_retry_policy *pol = sb_retry_policy_get(st.platform, st.kind);
    int64_t cutoff = T0 + pol->window_ms - pol->margin_ms;
    r = failure(503, SB_RETRY_TRANSPORT_NONE, NULL);
    st.attempts = 5;
    st.rand = rand_zero;
    T_INTEQ(sb_retry_next(&st, cutoff - 1, &r, &next), SB_RETRY_AGAIN);
    T_INTEQ(next, cutoff - 1);
    T_INTEQ(sb_retry_next(&st, cutoff, &r, &next), SB_RETRY_RECONCILE);
    /* the jitter decides: a delay that lands past the cutoff stops too */
    st.rand = rand_max;
    T_INTEQ(sb_retry_next(&st, cutoff - 5 * SEC, &r, &next), SB_RETRY_RECONCILE);
    /* a rate-limit reset past the cutoff: stop rather than send without the key's cover */
    st.rand = rand_zero;
    r = failure(429, SB_RETRY_TRANSPORT_NONE, NULL);
    r.reset_at = cutoff + MIN;
    T_INTEQ(sb_retry_next(&st, T0 + 30 * MIN, &r, &next), SB_RETRY_RECONCILE);
    r.reset_at = cutoff - MIN;
    T_INTEQ(sb_retry_next(&st, T0 + 30 * MIN, &r, &next), SB_RETRY_AGAIN);
    /* attempts run out */
    r = failure(503, SB_RETRY_TRANSPORT_NONE, NULL);
    st.attempts = pol->max_attempts;
    T_INTEQ(sb_retry_next(&st, T0 + MIN, &r, &next), SB_RETRY_RECONCILE);

    /* Bluesky reply: the rkey protects forever, the age cap is 24 h */
    st = state(SB_PLATFORM_BLUESKY, SB_EFFECT_PUBLIC_REPLY, 5, T0, &seed);
    st.rand = rand_zero;
    r = failure(0, SB_RETRY_TRANSPORT_TIMEOUT, NULL);
    T_INTEQ(sb_retry_next(&st, T0 + 23 * HOUR, &r, &next), SB_RETRY_AGAIN);
    T_INTEQ(sb_retry_next(&st, T0 + 24 * HOUR, &r, &next), SB_RETRY_RECONCILE);

    /* Bluesky DM: no idempotency, so only outcomes that prove nothing was sent are retried */
    st = state(SB_PLATFORM_BLUESKY, SB_EFFECT_DIRECT_MESSAGE, 1, T0, &seed);
    r = failure(0, SB_RETRY_TRANSPORT_LOST, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_RECONCILE);
    r = failure(0, SB_RETRY_TRANSPORT_TIMEOUT, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_RECONCILE);
    r = failure(500, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_RECONCILE);
    r = failure(0, SB_RETRY_TRANSPORT_CONNECT, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    r = failure(429, SB_RETRY_TRANSPORT_NONE, "RateLimitExceeded");
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    r = failure(400, SB_RETRY_TRANSPORT_NONE, "ExpiredToken");
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_AGAIN);
    r = failure(400, SB_RETRY_TRANSPORT_NONE, "InvalidRequest"); /* DMs closed */
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_DEAD);

    /* unknown platform: nothing is retried automatically */
    st = state(SB_PLATFORM_UNKNOWN, SB_EFFECT_PUBLIC_REPLY, 1, T0, &seed);
    r = failure(429, SB_RETRY_TRANSPORT_NONE, NULL);
    T_INTEQ(sb_retry_next(&st, T0, &r, &next), SB_RETRY_RECONCILE);
}

/* An entry that fails with 503 forever: every retry is scheduled inside the window, and the
 * entry ends in reconcile, never sent after the cutoff. */
static void test_next_simulation(void)
{
    uint64_t seed = 99;
    const struct sb_retry_policy *pol =
        sb_retry_policy_get(SB_PLATFORM_MASTODON, SB_EFFECT_PUBLIC_REPLY);
    int64_t cutoff = T0 + pol->window_ms - pol->margin_ms;
    struct sb_retry_state st = state(SB_PLATFORM_MASTODON, SB_EFFECT_PUBLIC_REPLY, 1, T0, &seed);
    struct sb_retry_response r = failure(503, SB_RETRY_TRANSPORT_NONE, NULL);
    int64_t now = T0, next = 0, late = 0;
    enum sb_retry_verdict v;
    while ((v = sb_retry_next(&st, now, &r, &next)) == SB_RETRY_AGAIN && st.attempts < 1000) {
        late += next >= cutoff || next < now;
        T_CHECK(sb_retry_may_send(&st, next, false) || st.attempts + 1 > pol->max_attempts);
        now = next;
        st.attempts++;
    }
    T_INTEQ(v, SB_RETRY_RECONCILE);
    T_INTEQ(late, 0);
    T_CHECK(st.attempts > 5 && st.attempts <= pol->max_attempts);
    fprintf(stderr, "  503 forever: %d attempts over %lld s, then reconcile\n", st.attempts,
            (long long)((now - T0) / SEC));
}

static void test_may_send(void)
{
    uint64_t seed = 3;
    struct sb_retry_state st = state(SB_PLATFORM_MASTODON, SB_EFFECT_PUBLIC_REPLY, 1, T0, &seed);
    const struct sb_retry_policy *pol = sb_retry_policy_get(st.platform, st.kind);

    T_CHECK(sb_retry_may_send(&st, T0, false)); /* a first attempt always goes */
    st.first_attempt_ms = 0;
    T_CHECK(sb_retry_may_send(&st, T0 + 10 * HOUR, false));
    st.first_attempt_ms = T0;
    st.attempts = 3;
    T_CHECK(sb_retry_may_send(&st, T0 + 30 * MIN, false));
    T_CHECK(sb_retry_may_send(&st, T0 + 30 * MIN, true)); /* the key covers a lost try */
    T_CHECK(!sb_retry_may_send(&st, T0 + pol->window_ms - pol->margin_ms, false));
    T_CHECK(!sb_retry_may_send(&st, T0 + 2 * HOUR, true));
    st.attempts = pol->max_attempts + 1;
    T_CHECK(!sb_retry_may_send(&st, T0 + MIN, false));

    /* Bluesky reply: a reclaimed lease is safe to re-send (same rkey) for a day */
    st = state(SB_PLATFORM_BLUESKY, SB_EFFECT_PUBLIC_REPLY, 2, T0, &seed);
    T_CHECK(sb_retry_may_send(&st, T0 + 5 * HOUR, true));
    T_CHECK(!sb_retry_may_send(&st, T0 + 25 * HOUR, false));
    /* Bluesky DM: a crashed sender's message may be out; never re-send it blindly */
    st = state(SB_PLATFORM_BLUESKY, SB_EFFECT_DIRECT_MESSAGE, 2, T0, &seed);
    T_CHECK(!sb_retry_may_send(&st, T0 + MIN, true));
    T_CHECK(sb_retry_may_send(&st, T0 + MIN, false)); /* a scheduled retry (proven unsent) */
    T_CHECK(!sb_retry_may_send(NULL, T0, false));
}

int main(void)
{
    T_RUN(test_policy_table);
    T_RUN(test_full_jitter);
    T_RUN(test_headers_mastodon);
    T_RUN(test_headers_bluesky);
    T_RUN(test_retry_after);
    T_RUN(test_classify);
    T_RUN(test_next_basics);
    T_RUN(test_next_stops);
    T_RUN(test_next_simulation);
    T_RUN(test_may_send);
    T_DONE();
}
