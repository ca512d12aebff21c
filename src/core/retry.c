/* retry.c — backoff, rate-limit headers and the stop rules of the outbox, as static tables plus
 * the little arithmetic around them. Pure: the clock and the random source are arguments.
 * Depends on core/post.h (sb_time_parse_iso8601) and core/effects.h (effect kinds). */
#include "core/retry.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

/* ---- the tables ---------------------------------------------------------------------------- */

/* Backoff and idempotency per (platform, effect kind); reference/platforms.md §1.5, §2.3–2.5, §7.
 * Mastodon statuses (replies and visibility=direct DMs) carry Idempotency-Key, remembered for
 * 1 h from creation: stop 5 min early so a last attempt, its timeout and clock skew all fit.
 * Bluesky createRecord with our rkey cannot create a second record, ever; we still give up after
 * a day. Bluesky chat sendMessage has no idempotency at all. */
static const struct sb_retry_policy policy_table[][SB_EFFECT__COUNT] =
    {
        [SB_PLATFORM_UNKNOWN] =
            {
                [SB_EFFECT_PUBLIC_REPLY] = {2 * SEC, 5 * MIN, 1, 0, 0, 0},
                [SB_EFFECT_DIRECT_MESSAGE] = {2 * SEC, 5 * MIN, 1, 0, 0, 0},
            },
        [SB_PLATFORM_MASTODON] =
            {
                [SB_EFFECT_PUBLIC_REPLY] = {2 * SEC, 5 * MIN, 30, HOUR, 5 * MIN, HOUR},
                [SB_EFFECT_DIRECT_MESSAGE] = {2 * SEC, 5 * MIN, 30, HOUR, 5 * MIN, HOUR},
            },
        [SB_PLATFORM_BLUESKY] =
            {
                [SB_EFFECT_PUBLIC_REPLY] = {2 * SEC, 15 * MIN, 250, SB_RETRY_WINDOW_FOREVER,
                                            0, 24 * HOUR},
                [SB_EFFECT_DIRECT_MESSAGE] = {2 * SEC, 15 * MIN, 50, 0, 0, 24 * HOUR},
            },
};
#define N_PLATFORMS (sizeof policy_table / sizeof policy_table[0])

/* HTTP status → class; the first row whose range holds the status wins. not_applied: the
 * platform answers this before acting on the request (rate limiter, authentication, request
 * timeout), so re-sending cannot duplicate. A 5xx may come after the write: not proven. */
static const struct status_row {
    int lo, hi;
    enum sb_retry_class cls;
    bool not_applied;
} status_table[] = {
    {200, 299, SB_RETRY_CLASS_OK, false},
    {401, 401, SB_RETRY_CLASS_AUTH, true},
    {408, 408, SB_RETRY_CLASS_RETRY, true}, /* the server gave up waiting for our request */
    {409, 409, SB_RETRY_CLASS_CONFLICT, false},
    {425, 425, SB_RETRY_CLASS_RETRY, true}, /* Too Early */
    {429, 429, SB_RETRY_CLASS_RETRY, true},
    {400, 499, SB_RETRY_CLASS_PERMANENT, false},
    {501, 501, SB_RETRY_CLASS_PERMANENT, false}, /* Not Implemented: will not change */
    {505, 505, SB_RETRY_CLASS_PERMANENT, false}, /* HTTP Version Not Supported */
    {500, 599, SB_RETRY_CLASS_RETRY, false},
    {100, 399, SB_RETRY_CLASS_PERMANENT, false}, /* 1xx final / redirect on an API write */
};

/* XRPC error names (Bluesky, §2.3–2.5) that mean something else than their status. */
static const struct name_row {
    const char *name;
    enum sb_retry_class cls;
    bool not_applied;
} name_table[] = {
    {"ExpiredToken", SB_RETRY_CLASS_AUTH, true}, /* 400: refresh the session, retry */
    {"InvalidToken", SB_RETRY_CLASS_AUTH, true},
    {"RateLimitExceeded", SB_RETRY_CLASS_RETRY, true},
};

/* Transport failures (no HTTP status). */
static const struct transport_row {
    enum sb_retry_class cls;
    bool not_applied;
} transport_table[SB_RETRY_TRANSPORT__COUNT] = {
    [SB_RETRY_TRANSPORT_NONE] = {SB_RETRY_CLASS_OK, false}, /* unused: the status decides */
    [SB_RETRY_TRANSPORT_CONNECT] = {SB_RETRY_CLASS_RETRY, true},
    [SB_RETRY_TRANSPORT_TIMEOUT] = {SB_RETRY_CLASS_RETRY, false},
    [SB_RETRY_TRANSPORT_LOST] = {SB_RETRY_CLASS_RETRY, false},
};

static const char *const class_names[SB_RETRY_CLASS__COUNT] = {"ok", "retry", "permanent", "auth",
                                                               "conflict"};
static const char *const verdict_names[] = {"again", "reconcile", "dead"};

/* ---- classification ------------------------------------------------------------------------ */

const struct sb_retry_policy *sb_retry_policy_get(enum sb_platform platform,
                                                  enum sb_effect_kind kind)
{
    if ((unsigned)platform >= N_PLATFORMS || (unsigned)kind >= SB_EFFECT__COUNT)
        return &policy_table[SB_PLATFORM_UNKNOWN][SB_EFFECT_PUBLIC_REPLY];
    return &policy_table[platform][kind];
}

/* The class and the not-applied flag of one outcome. */
static enum sb_retry_class classify(int status, enum sb_retry_transport transport,
                                    const char *error_name, bool *not_applied)
{
    *not_applied = false;
    if (transport != SB_RETRY_TRANSPORT_NONE) {
        if ((unsigned)transport >= SB_RETRY_TRANSPORT__COUNT)
            return SB_RETRY_CLASS_RETRY; /* unknown transport failure: outcome unknown */
        *not_applied = transport_table[transport].not_applied;
        return transport_table[transport].cls;
    }
    for (size_t i = 0; error_name && i < sizeof name_table / sizeof name_table[0]; i++)
        if (strcmp(error_name, name_table[i].name) == 0) {
            *not_applied = name_table[i].not_applied;
            return name_table[i].cls;
        }
    for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++)
        if (status >= status_table[i].lo && status <= status_table[i].hi) {
            *not_applied = status_table[i].not_applied;
            return status_table[i].cls;
        }
    return SB_RETRY_CLASS_PERMANENT;
}

enum sb_retry_class sb_retry_classify(int http_status, enum sb_retry_transport transport,
                                      const char *error_name)
{
    bool not_applied;
    return classify(http_status, transport, error_name, &not_applied);
}

bool sb_retry_not_applied(int http_status, enum sb_retry_transport transport,
                          const char *error_name)
{
    bool not_applied;
    classify(http_status, transport, error_name, &not_applied);
    return not_applied;
}

const char *sb_retry_class_name(enum sb_retry_class c)
{
    return (unsigned)c < SB_RETRY_CLASS__COUNT ? class_names[c] : "unknown";
}

const char *sb_retry_verdict_name(enum sb_retry_verdict v)
{
    return (unsigned)v < sizeof verdict_names / sizeof verdict_names[0] ? verdict_names[v]
                                                                        : "unknown";
}

/* ---- header values ------------------------------------------------------------------------- */

/* Copy value without surrounding blanks into buf; false when empty or too long. */
static bool trimmed(const char *value, char *buf, size_t n)
{
    if (!value)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t' || value[len - 1] == '\r' ||
                   value[len - 1] == '\n'))
        len--;
    if (len == 0 || len >= n)
        return false;
    memcpy(buf, value, len);
    buf[len] = 0;
    return true;
}

/* A non-negative decimal integer of at most 15 digits, the whole of s[0..len). */
static bool parse_uint(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0 || len > 15)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool sb_retry_reset_parse(const char *value, int64_t now_ms, int64_t *at_ms)
{
    char buf[64];
    int64_t secs, ms = 0;
    if (!trimmed(value, buf, sizeof buf) || !at_ms)
        return false;
    if (strchr(buf, '-') || strchr(buf, 'T') || strchr(buf, 't')) {
        int64_t t;
        if (!sb_time_parse_iso8601(buf, &t))
            return false;
        *at_ms = t;
        return true;
    }
    /* seconds, optionally with a fraction (Discord sends "1470173023.123") */
    const char *dot = strchr(buf, '.');
    size_t ilen = dot ? (size_t)(dot - buf) : strlen(buf);
    if (!parse_uint(buf, ilen, &secs))
        return false;
    if (dot) {
        const char *f = dot + 1;
        if (!*f)
            return false;
        for (int scale = 100; *f; f++, scale /= 10) {
            if (*f < '0' || *f > '9')
                return false;
            ms += (*f - '0') * scale;
        }
    }
    if (secs < 1000000000LL) /* not an epoch time: delta seconds */
        *at_ms = now_ms + secs * SEC + ms;
    else
        *at_ms = secs * SEC + ms;
    return true;
}

static int month_from_name(const char *m)
{
    static const char *const names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strcasecmp(m, names[i]) == 0)
            return i + 1;
    return 0;
}

/* Build an ISO 8601 string from the parts and let sb_time_parse_iso8601 validate it. */
static bool civil_to_ms(int y, const char *mon, int d, int h, int mi, int s, int64_t *out)
{
    char iso[64];
    int mo = month_from_name(mon);
    if (!mo || y < 1000 || y > 9999 || d < 1 || d > 31 || h < 0 || mi < 0 || s < 0)
        return false;
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
    return sb_time_parse_iso8601(iso, out);
}

bool sb_retry_http_date_parse(const char *value, int64_t *at_ms)
{
    char buf[64], wd[16], mon[4];
    int d, y, h, mi, s, end = -1;
    if (!trimmed(value, buf, sizeof buf) || !at_ms)
        return false;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(buf, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi,
               &s, &end) == 7 &&
        end == (int)strlen(buf))
        return civil_to_ms(y, mon, d, h, mi, s, at_ms);
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: 70-99 → 19xx) */
    end = -1;
    if (sscanf(buf, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi,
               &s, &end) == 7 &&
        end == (int)strlen(buf))
        return civil_to_ms(y + (y < 70 ? 2000 : 1900), mon, d, h, mi, s, at_ms);
    /* asctime: Sun Nov  6 08:49:37 1994 */
    end = -1;
    if (sscanf(buf, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &h, &mi, &s, &y,
               &end) == 7 &&
        end == (int)strlen(buf))
        return civil_to_ms(y, mon, d, h, mi, s, at_ms);
    return false;
}

bool sb_retry_after_parse(const char *value, int64_t now_ms, int64_t *at_ms)
{
    char buf[64];
    int64_t secs;
    if (!trimmed(value, buf, sizeof buf) || !at_ms)
        return false;
    if (buf[0] >= '0' && buf[0] <= '9') {
        if (!parse_uint(buf, strlen(buf), &secs) || secs > 100LL * 365 * 86400)
            return false;
        *at_ms = now_ms + secs * SEC;
        return true;
    }
    return sb_retry_http_date_parse(buf, at_ms);
}

bool sb_retry_ratelimit_policy_parse(const char *value, int64_t *limit, int64_t *window_s)
{
    char buf[256];
    int64_t q = -1, w = 0;
    if (!trimmed(value, buf, sizeof buf) || !limit || !window_s)
        return false;
    char *comma = strchr(buf, ','); /* a list: the first policy is the tightest one reported */
    if (comma)
        *comma = 0;
    char *save = NULL;
    int item = 0;
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save), item++) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = 0;
        if (item == 0) {
            /* "3000" (Bluesky, older drafts) or "name" (structured-field drafts) */
            if (tok[0] == '"')
                continue;
            if (!parse_uint(tok, len, &q))
                return false;
        } else if ((tok[0] == 'w' || tok[0] == 'q') && tok[1] == '=') {
            int64_t v;
            if (!parse_uint(tok + 2, len - 2, &v))
                return false;
            if (tok[0] == 'w')
                w = v;
            else
                q = v;
        }
    }
    if (q < 0 && w == 0)
        return false;
    *limit = q;
    *window_s = w;
    return true;
}

void sb_retry_response_init(struct sb_retry_response *r)
{
    if (!r)
        return;
    memset(r, 0, sizeof *r);
    r->remaining = -1;
    r->limit = -1;
}

enum sb_err sb_retry_header_parse(struct sb_retry_response *r, const char *name, const char *value,
                                  int64_t now_ms)
{
    int64_t v, w;
    char buf[64];
    if (!r || !name)
        return SB_ERR_INVAL;
    if (strcasecmp(name, "Retry-After") == 0) {
        if (!sb_retry_after_parse(value, now_ms, &v))
            return SB_ERR_SCHEMA;
        r->retry_after_at = v;
        return SB_OK;
    }
    if (strcasecmp(name, "X-RateLimit-Reset") == 0 || strcasecmp(name, "RateLimit-Reset") == 0) {
        if (!sb_retry_reset_parse(value, now_ms, &v))
            return SB_ERR_SCHEMA;
        r->reset_at = v;
        return SB_OK;
    }
    bool remaining = strcasecmp(name, "X-RateLimit-Remaining") == 0 ||
                     strcasecmp(name, "RateLimit-Remaining") == 0;
    bool limit =
        strcasecmp(name, "X-RateLimit-Limit") == 0 || strcasecmp(name, "RateLimit-Limit") == 0;
    if (remaining || limit) {
        if (!trimmed(value, buf, sizeof buf) || !parse_uint(buf, strlen(buf), &v))
            return SB_ERR_SCHEMA;
        if (remaining)
            r->remaining = v;
        else
            r->limit = v;
        return SB_OK;
    }
    if (strcasecmp(name, "RateLimit-Policy") == 0) {
        if (!sb_retry_ratelimit_policy_parse(value, &v, &w))
            return SB_ERR_SCHEMA;
        if (v >= 0)
            r->limit = v;
        r->window_s = w;
        return SB_OK;
    }
    return SB_ERR_NOTFOUND;
}

/* ---- backoff and the stop rules ------------------------------------------------------------ */

uint64_t sb_retry_rand_splitmix(void *ctx)
{
    uint64_t *state = ctx;
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound]. */
static int64_t uniform(int64_t bound, sb_retry_rand_fn rand, void *ctx)
{
    if (bound <= 0)
        return 0;
    if (!rand)
        return bound;
    /* 53 random bits scaled: the bias is far below a millisecond at any bound used here */
    double u = (double)(rand(ctx) >> 11) / 9007199254740992.0; /* [0, 1) */
    int64_t v = (int64_t)(u * (double)(bound + 1));
    return v > bound ? bound : v;
}

int64_t sb_retry_backoff(const struct sb_retry_policy *pol, int retry, sb_retry_rand_fn rand,
                         void *rand_ctx)
{
    if (!pol)
        return 0;
    int64_t bound = pol->cap_ms;
    if (retry < 0)
        retry = 0;
    if (retry < 62 && pol->base_ms <= (pol->cap_ms >> retry))
        bound = pol->base_ms << retry;
    return uniform(bound, rand, rand_ctx);
}

/* The last moment a (re)send may start; INT64_MAX when unlimited. */
static int64_t deadline(const struct sb_retry_policy *pol, int64_t first)
{
    int64_t end = INT64_MAX;
    if (pol->window_ms > 0)
        end = first + pol->window_ms - pol->margin_ms;
    if (pol->max_age_ms > 0 && first + pol->max_age_ms < end)
        end = first + pol->max_age_ms;
    return end;
}

enum sb_retry_verdict sb_retry_next(const struct sb_retry_state *st, int64_t now_ms,
                                    const struct sb_retry_response *r, int64_t *next_at_ms)
{
    if (!st || !r || !next_at_ms)
        return SB_RETRY_RECONCILE;
    const struct sb_retry_policy *pol = sb_retry_policy_get(st->platform, st->kind);
    int attempts = st->attempts < 1 ? 1 : st->attempts;
    int64_t first = st->first_attempt_ms > 0 ? st->first_attempt_ms : now_ms;
    bool not_applied;
    enum sb_retry_class cls = classify(r->http_status, r->transport, r->error_name, &not_applied);

    switch (cls) {
    case SB_RETRY_CLASS_PERMANENT:
        return attempts == 1 ? SB_RETRY_DEAD : SB_RETRY_RECONCILE;
    case SB_RETRY_CLASS_OK:
    case SB_RETRY_CLASS_CONFLICT:
    case SB_RETRY_CLASS__COUNT:
        return SB_RETRY_RECONCILE;
    case SB_RETRY_CLASS_RETRY:
    case SB_RETRY_CLASS_AUTH:
        break;
    }
    if (pol->window_ms == 0 && !not_applied)
        return SB_RETRY_RECONCILE; /* no idempotency: an unknown outcome is never re-sent */
    if (attempts >= pol->max_attempts)
        return SB_RETRY_RECONCILE;

    /* AUTH: the caller refreshes the session first; a short jitter only keeps a broken
     * refresh from spinning */
    int64_t next = now_ms + sb_retry_backoff(pol, cls == SB_RETRY_CLASS_AUTH ? 0 : attempts - 1,
                                             st->rand, st->rand_ctx);
    int64_t wait = 0; /* what the platform asked for */
    if (r->retry_after_at > wait)
        wait = r->retry_after_at;
    if ((r->http_status == 429 || r->remaining == 0) && r->reset_at > wait)
        wait = r->reset_at;
    if (wait > next) /* spread the entries that all waited for the same reset */
        next = wait + uniform(pol->base_ms, st->rand, st->rand_ctx);
    if (next >= deadline(pol, first))
        return SB_RETRY_RECONCILE;
    *next_at_ms = next;
    return SB_RETRY_AGAIN;
}

bool sb_retry_may_send(const struct sb_retry_state *st, int64_t now_ms, bool previous_unknown)
{
    if (!st)
        return false;
    if (st->attempts <= 1 && !previous_unknown)
        return true;
    const struct sb_retry_policy *pol = sb_retry_policy_get(st->platform, st->kind);
    if (pol->window_ms == 0 && previous_unknown)
        return false;
    if (st->attempts > pol->max_attempts)
        return false;
    int64_t first = st->first_attempt_ms > 0 ? st->first_attempt_ms : now_ms;
    return now_ms < deadline(pol, first);
}
