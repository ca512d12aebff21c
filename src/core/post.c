/* post.c — lifetime of struct sb_post / struct sb_event, the name tables for platforms and
 * post kinds, and the ISO 8601 timestamp parser every mapper uses for created_ms.
 * Depends on util/arena only; no I/O (design §1: the core is pure). */
#include "core/post.h"

#include <string.h>

static void post_clear(struct sb_post *p, struct sb_arena *keep)
{
    memset(p, 0, sizeof *p);
    p->author.followers = -1; /* "unknown" is -1, not 0: zero followers is a real value */
    p->arena = keep;
}

enum sb_err sb_post_init(struct sb_post *p)
{
    struct sb_arena *a = sb_arena_new(0);
    post_clear(p, a);
    return a ? SB_OK : SB_ERR_NOMEM;
}

void sb_post_reset(struct sb_post *p)
{
    struct sb_arena *a = p->arena;
    if (a)
        sb_arena_reset(a);
    post_clear(p, a);
}

void sb_post_free(struct sb_post *p)
{
    sb_arena_free(p->arena);
    post_clear(p, NULL);
}

enum sb_err sb_event_init(struct sb_event *ev)
{
    memset(ev, 0, sizeof *ev);
    return sb_post_init(&ev->post);
}

void sb_event_reset(struct sb_event *ev)
{
    sb_post_reset(&ev->post);
    ev->type = SB_EVENT_POST;
    ev->skip_kind = NULL;
    ev->cursor = 0;
}

void sb_event_free(struct sb_event *ev)
{
    sb_post_free(&ev->post);
    ev->type = SB_EVENT_POST;
    ev->skip_kind = NULL;
    ev->cursor = 0;
}

/* ---- names ---------------------------------------------------------------------------- */

static const char *const platform_names[] = {
    [SB_PLATFORM_UNKNOWN] = "unknown",
    [SB_PLATFORM_MASTODON] = "mastodon",
    [SB_PLATFORM_BLUESKY] = "bluesky",
};

static const char *const kind_names[] = {
    [SB_POST_MENTION] = "mention",
    [SB_POST_REPLY] = "reply",
    [SB_POST_DIRECT] = "direct",
    [SB_POST_COMMENT] = "comment",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *sb_platform_name(enum sb_platform p)
{
    if ((unsigned)p >= COUNT(platform_names))
        return "unknown";
    return platform_names[p];
}

enum sb_platform sb_platform_from_name(const char *s)
{
    for (size_t i = 1; s && i < COUNT(platform_names); i++)
        if (strcmp(s, platform_names[i]) == 0)
            return (enum sb_platform)i;
    return SB_PLATFORM_UNKNOWN;
}

const char *sb_post_kind_name(enum sb_post_kind k)
{
    if ((unsigned)k >= COUNT(kind_names))
        return "unknown";
    return kind_names[k];
}

int sb_post_kind_from_name(const char *s)
{
    for (size_t i = 0; s && i < COUNT(kind_names); i++)
        if (strcmp(s, kind_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- ISO 8601 ------------------------------------------------------------------------- */

/* Read exactly n decimal digits at *s; advance on success. */
static bool digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *s += n;
    *out = v;
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool sb_time_parse_iso8601(const char *s, int64_t *out_ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off_min = 0;
    if (!s || !out_ms)
        return false;
    if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
        !digits(&s, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
        return false;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        s++;
        if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi))
            return false;
        if (*s == ':') {
            s++;
            if (!digits(&s, 2, &sec))
                return false;
            if (*s == '.' || *s == ',') {
                s++;
                if (*s < '0' || *s > '9')
                    return false;
                /* keep milliseconds, truncate finer digits (there may be 6 or 9) */
                int scale = 100;
                for (; *s >= '0' && *s <= '9'; s++) {
                    ms += (*s - '0') * scale;
                    scale /= 10;
                }
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        if (sec == 60) /* leap second: POSIX time has none, clamp to the last second */
            sec = 59;
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
            if (!digits(&s, 2, &oh))
                return false;
            if (*s == ':')
                s++;
            if (*s && !digits(&s, 2, &om))
                return false;
            if (oh > 23 || om > 59)
                return false;
            off_min = sign * (oh * 60 + om);
        }
    }
    if (*s)
        return false;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off_min * 60;
    *out_ms = secs * 1000 + ms;
    return true;
}
