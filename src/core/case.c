/* case.c — the case state machine, its name tables, business-hours arithmetic and the SLA
 * clocks. Pure: no I/O, no clock, no time zone database (a calendar is a fixed UTC offset; the
 * day of the week comes from plain arithmetic on Unix ms, 1970-01-01 being a Thursday). The
 * choices the header leaves open are written at the top of each section below. */
#include "core/case.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static const char *const owner_names[SB_CASE_OWNER__COUNT] = {"policy", "human", "closed"};
static const char *const event_names[SB_CASE_EV__COUNT] = {
    "escalated", "post", "claimed",     "unclaimed", "reply",    "delivered",
    "failed",    "note", "transferred", "resolved",  "reopened", "released"};
static const char *const role_names[SB_ROLE__COUNT] = {"agent", "supervisor", "admin"};

static int from_name(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

const char *sb_case_owner_name(enum sb_case_owner o)
{
    return (unsigned)o < SB_CASE_OWNER__COUNT ? owner_names[o] : "unknown";
}

int sb_case_owner_from_name(const char *s)
{
    return from_name(s, owner_names, SB_CASE_OWNER__COUNT);
}

const char *sb_case_event_name(enum sb_case_event_kind k)
{
    return (unsigned)k < SB_CASE_EV__COUNT ? event_names[k] : "unknown";
}

int sb_case_event_from_name(const char *s)
{
    return from_name(s, event_names, SB_CASE_EV__COUNT);
}

const char *sb_role_name(enum sb_role r)
{
    return (unsigned)r < SB_ROLE__COUNT ? role_names[r] : "unknown";
}

int sb_role_from_name(const char *s)
{
    return from_name(s, role_names, SB_ROLE__COUNT);
}

/* ---- business hours ------------------------------------------------------------------------- */

/* Parsing: day lists may mix single days and ranges ("mon-wed,fri"); a range may wrap around
 * the week ("fri-mon" = Friday, Saturday, Sunday, Monday); day names are case-insensitive. Hours
 * may not cross midnight (open must be before close); "24:00" closes at midnight. The offset is
 * +HH:MM, -HH:MM, +HH, "UTC" or "Z". *c is written only on success.
 *
 * Adding: negative secs count as 0. With secs = 0 the answer is from_ms when from_ms is in
 * working time, else the next opening (the instant the clock starts to run). A positive amount
 * that ends exactly at closing time gives the closing instant, not the next opening. A calendar
 * without any working time (no day bit, open >= close, a field out of range — the parser never
 * makes one) counts as around the clock, so a misconfigured queue still has a clock rather than
 * one that never ends. Results saturate at INT64_MAX. At most ~16 days are walked: whole weeks
 * are skipped at once. */

#define MIN_MS 60000LL
#define DAY_MS 86400000LL
#define DAY_MINUTES 1440
#define OFFSET_MAX_MIN 840 /* ±14:00 */
#define ALL_DAYS 0x7fu
/* Beyond this distance from the epoch (about 3 million years) from_ms is not a time; the
 * arithmetic then falls back to saturating around-the-clock addition. */
#define TIME_LIMIT_MS 100000000000000000LL
/* The last day number whose arithmetic (a week's walk, offsets) cannot overflow int64. */
#define DAY_LIMIT (INT64_MAX / DAY_MS - 16)

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* Messages quote the input, cut to this many bytes. */
#define QUOTE_MAX 80

static bool parse_day(const char *s, size_t len, int *day)
{
    for (int i = 0; i < 7; i++)
        if (len == 3 && strncasecmp(s, day_names[i], 3) == 0) {
            *day = i;
            return true;
        }
    return false;
}

/* "mon-fri", "mon,wed,fri", "sat", "mon-wed,fri", "fri-mon" (wraps around the week). */
static enum sb_err parse_days(const char *all, const char *s, size_t len, unsigned *days,
                              struct sb_errbuf *eb)
{
    unsigned mask = 0;
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && s[end] != ',')
            end++;
        const char *item = s + i;
        size_t ilen = end - i;
        if (ilen == 0)
            return sb_errf(eb, SB_ERR_INVAL, "hours \"%.*s\": empty day in \"%.*s\"", QUOTE_MAX,
                           all, (int)len, s);
        const char *dash = memchr(item, '-', ilen);
        size_t alen = dash ? (size_t)(dash - item) : ilen;
        int a, b;
        if (!parse_day(item, alen, &a))
            return sb_errf(
                eb, SB_ERR_INVAL,
                "hours \"%.*s\": bad day \"%.*s\" (expected mon tue wed thu fri sat sun)",
                QUOTE_MAX, all, (int)alen, item);
        b = a;
        if (dash && !parse_day(dash + 1, ilen - alen - 1, &b))
            return sb_errf(
                eb, SB_ERR_INVAL,
                "hours \"%.*s\": bad day \"%.*s\" (expected mon tue wed thu fri sat sun)",
                QUOTE_MAX, all, (int)(ilen - alen - 1), dash + 1);
        for (int d = a;; d = (d + 1) % 7) { /* a range may wrap: fri-mon */
            mask |= 1u << d;
            if (d == b)
                break;
        }
        i = end + 1;
    }
    *days = mask;
    return SB_OK;
}

/* "H:MM" or "HH:MM", 00:00 .. 23:59, and 24:00 when allow_24. */
static bool parse_clock(const char *s, size_t len, bool allow_24, int *minutes)
{
    int h = 0, m;
    size_t hl = len == 5 ? 2 : len == 4 ? 1 : 0;
    if (hl == 0 || s[hl] != ':')
        return false;
    for (size_t i = 0; i < len; i++)
        if (i != hl && (s[i] < '0' || s[i] > '9'))
            return false;
    for (size_t i = 0; i < hl; i++)
        h = h * 10 + (s[i] - '0');
    m = (s[hl + 1] - '0') * 10 + (s[hl + 2] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
        return false;
    *minutes = h * 60 + m;
    return true;
}

/* "09:00-17:00". */
static enum sb_err parse_hours(const char *all, const char *s, size_t len, int *open, int *close,
                               struct sb_errbuf *eb)
{
    const char *dash = memchr(s, '-', len);
    size_t olen = dash ? (size_t)(dash - s) : len;
    if (!dash)
        return sb_errf(eb, SB_ERR_INVAL,
                       "hours \"%.*s\": bad time range \"%.*s\" (expected HH:MM-HH:MM)", QUOTE_MAX,
                       all, (int)len, s);
    if (!parse_clock(s, olen, false, open))
        return sb_errf(eb, SB_ERR_INVAL,
                       "hours \"%.*s\": bad time \"%.*s\" (expected HH:MM from 00:00 to 23:59)",
                       QUOTE_MAX, all, (int)olen, s);
    if (!parse_clock(dash + 1, len - olen - 1, true, close))
        return sb_errf(eb, SB_ERR_INVAL,
                       "hours \"%.*s\": bad time \"%.*s\" (expected HH:MM from 00:01 to 24:00)",
                       QUOTE_MAX, all, (int)(len - olen - 1), dash + 1);
    if (*open >= *close)
        return sb_errf(eb, SB_ERR_INVAL,
                       "hours \"%.*s\": opening %.*s is not before closing %.*s (hours cannot "
                       "cross midnight)",
                       QUOTE_MAX, all, (int)olen, s, (int)(len - olen - 1), dash + 1);
    return SB_OK;
}

/* "+01:00", "-05:30", "+01", "UTC", "Z". */
static enum sb_err parse_offset(const char *all, const char *s, size_t len, int *offset,
                                struct sb_errbuf *eb)
{
    if ((len == 3 && strncasecmp(s, "UTC", 3) == 0) || (len == 1 && (*s == 'Z' || *s == 'z'))) {
        *offset = 0;
        return SB_OK;
    }
    bool ok = len >= 2 && (s[0] == '+' || s[0] == '-');
    int h = 0, m = 0;
    /* +H, +HH, +HH:MM */
    size_t i = 1;
    for (; ok && i < len && i <= 2 && s[i] >= '0' && s[i] <= '9'; i++)
        h = h * 10 + (s[i] - '0');
    ok = ok && i > 1;
    if (ok && i < len) {
        ok = s[i] == ':' && len - i == 3 && s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' &&
             s[i + 2] <= '9';
        if (ok)
            m = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
        ok = ok && m <= 59;
    }
    if (!ok)
        return sb_errf(eb, SB_ERR_INVAL,
                       "hours \"%.*s\": bad UTC offset \"%.*s\" (expected +HH:MM, -HH:MM or UTC)",
                       QUOTE_MAX, all, (int)len, s);
    int v = h * 60 + m;
    if (v > OFFSET_MAX_MIN)
        return sb_errf(eb, SB_ERR_INVAL,
                       "hours \"%.*s\": UTC offset \"%.*s\" out of range (-14:00 to +14:00)",
                       QUOTE_MAX, all, (int)len, s);
    *offset = s[0] == '-' ? -v : v;
    return SB_OK;
}

enum sb_err sb_calendar_parse(const char *s, struct sb_calendar *c, struct sb_errbuf *eb)
{
    if (!s || !c)
        return sb_errf(eb, SB_ERR_INVAL, "hours: missing");
    const char *tok[4];
    size_t len[4];
    int n = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (n == 3)
            return sb_errf(eb, SB_ERR_INVAL,
                           "hours \"%.*s\": unexpected \"%.*s\" after the UTC offset", QUOTE_MAX, s,
                           (int)(p - start), start);
        tok[n] = start;
        len[n++] = (size_t)(p - start);
    }
    if (n < 2)
        return sb_errf(eb, SB_ERR_INVAL,
                       "hours \"%.*s\": expected DAYS HH:MM-HH:MM [OFFSET], e.g. \"mon-fri "
                       "09:00-17:00 +01:00\"",
                       QUOTE_MAX, s);
    struct sb_calendar out = {.enabled = true};
    enum sb_err e = parse_days(s, tok[0], len[0], &out.days, eb);
    if (!e)
        e = parse_hours(s, tok[1], len[1], &out.open_min, &out.close_min, eb);
    if (!e && n == 3)
        e = parse_offset(s, tok[2], len[2], &out.utc_offset_min, eb);
    if (e)
        return e;
    *c = out;
    return SB_OK;
}

/* Whether c has any working time (sb_calendar_parse only makes such calendars). */
static bool calendar_valid(const struct sb_calendar *c)
{
    return (c->days & ALL_DAYS) != 0 && c->open_min >= 0 && c->open_min < c->close_min &&
           c->close_min <= DAY_MINUTES && c->utc_offset_min >= -OFFSET_MAX_MIN &&
           c->utc_offset_min <= OFFSET_MAX_MIN;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Whether local day number `day` (days since 1970-01-01, a Thursday) is a working day. */
static bool works(unsigned days, int64_t day)
{
    int64_t dow = day - floor_div(day + 3, 7) * 7 + 3; /* Monday = 0 */
    return (days >> dow) & 1u;
}

static int popcount7(unsigned days)
{
    int n = 0;
    for (int i = 0; i < 7; i++)
        n += (days >> i) & 1u;
    return n;
}

/* a + b for b >= 0, INT64_MAX when it does not fit. */
static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int64_t sb_calendar_add(const struct sb_calendar *c, int64_t from_ms, int64_t secs)
{
    int64_t rem = secs <= 0 ? 0 : secs > INT64_MAX / 1000 ? INT64_MAX : secs * 1000;
    if (!c || !c->enabled || !calendar_valid(c) || from_ms > TIME_LIMIT_MS ||
        from_ms < -TIME_LIMIT_MS)
        return add_sat(from_ms, rem);

    const unsigned days = c->days & ALL_DAYS;
    const int64_t open = c->open_min * MIN_MS, close = c->close_min * MIN_MS;
    const int64_t span = close - open; /* working ms of one working day */
    const int64_t off = c->utc_offset_min * MIN_MS;
    const int64_t local = from_ms + off;
    int64_t day = floor_div(local, DAY_MS);
    int64_t t = local - day * DAY_MS; /* ms after local midnight */

    /* what is left of the first day */
    if (works(days, day)) {
        if (t < open)
            t = open;
        if (t < close) {
            if (rem <= close - t)
                return day * DAY_MS + t + rem - off;
            rem -= close - t;
        }
    }
    day++;

    /* whole weeks at once, leaving 0 < rem <= one week's working time */
    const int64_t week = popcount7(days) * span;
    if (rem > week) {
        int64_t k = (rem - 1) / week;
        if (k > (DAY_LIMIT - day) / 7)
            return INT64_MAX;
        day += 7 * k;
        rem -= k * week;
    }

    /* then at most a week of days */
    for (int i = 0; i < 8; i++, day++) {
        if (!works(days, day))
            continue;
        if (rem <= span)
            return day * DAY_MS + open + rem - off;
        rem -= span;
    }
    return INT64_MAX; /* not reached: rem fits in the week just walked */
}

/* ---- queues --------------------------------------------------------------------------------- */

int64_t sb_queue_first_due(const struct sb_queue_conf *q, int64_t start_ms)
{
    if (!q || q->first_response <= 0)
        return 0;
    return sb_calendar_add(&q->hours, start_ms, q->first_response);
}

int64_t sb_queue_next_due(const struct sb_queue_conf *q, int64_t customer_post_ms)
{
    if (!q || q->next_response <= 0)
        return 0;
    return sb_calendar_add(&q->hours, customer_post_ms, q->next_response);
}

/* ---- the state machine ---------------------------------------------------------------------- */

/* Beyond the header's rules:
 *   - The system actor (id 0, role SB_ROLE__COUNT) may, besides its own actions (ESCALATED,
 *     POST, DELIVERED, FAILED), do the housekeeping that sends nothing to the customer: NOTE,
 *     UNCLAIMED, TRANSFERRED and RESOLVED, with supervisor rights. It may not CLAIM, REPLY
 *     (automation is silent on human cases), REOPEN (a new escalation is ESCALATED) or RELEASE
 *     (only a person hands a thread back to automation). Any other actor shape (id 0 with a
 *     real role, id < 0, id > 0 with role SB_ROLE__COUNT) is refused everything.
 *   - Checks run in this order: who may (FORBIDDEN), the owner state (WRONG_STATE), then who
 *     holds the case (CLAIMED / NOT_CLAIMED).
 *   - CLAIMED by the holder is a no-op success; UNCLAIMED on an unclaimed case is NOT_CLAIMED
 *     for everyone; REOPENED by an agent who was not the last assignee is FORBIDDEN;
 *     TRANSFERRED to a negative agent id is FORBIDDEN.
 *   - RESOLVED keeps the assignee (REOPENED needs the last one); REOPENED leaves it unclaimed.
 *   - Clocks are the caller's to start (it knows the queue): ESCALATED and POST change no due
 *     time; REPLY and RESOLVED clear next_due; RELEASED clears both.
 *   - Priority is never changed here. */

const char *sb_case_refusal_message(enum sb_case_refusal r)
{
    switch (r) {
    case SB_CASE_OK:
        return "ok";
    case SB_CASE_FORBIDDEN:
        return "the role may not do this";
    case SB_CASE_CLAIMED:
        return "another agent holds the case";
    case SB_CASE_NOT_CLAIMED:
        return "claim the case first";
    case SB_CASE_WRONG_STATE:
        return "not possible in the case's current state";
    }
    return "unknown refusal";
}

/* Who may request each action. */
#define BY_AGENT 1u      /* every role */
#define BY_SUPERVISOR 2u /* supervisor and admin */
#define BY_SYSTEM 4u
#define BY_STAFF (BY_AGENT | BY_SUPERVISOR)

/* In which owner states each action is possible. */
#define IN_POLICY (1u << SB_CASE_POLICY)
#define IN_HUMAN (1u << SB_CASE_HUMAN)
#define IN_CLOSED (1u << SB_CASE_CLOSED)
#define IN_ANY (IN_POLICY | IN_HUMAN | IN_CLOSED)

static const struct rule {
    unsigned by, in;
} rules[SB_CASE_EV__COUNT] = {
    [SB_CASE_EV_ESCALATED] = {BY_SYSTEM, IN_POLICY | IN_CLOSED},
    [SB_CASE_EV_POST] = {BY_SYSTEM, IN_ANY},
    [SB_CASE_EV_CLAIMED] = {BY_STAFF, IN_HUMAN},
    [SB_CASE_EV_UNCLAIMED] = {BY_STAFF | BY_SYSTEM, IN_HUMAN},
    [SB_CASE_EV_REPLY] = {BY_STAFF, IN_HUMAN},
    [SB_CASE_EV_DELIVERED] = {BY_SYSTEM, IN_ANY},
    [SB_CASE_EV_FAILED] = {BY_SYSTEM, IN_ANY},
    [SB_CASE_EV_NOTE] = {BY_STAFF | BY_SYSTEM, IN_ANY},
    [SB_CASE_EV_TRANSFERRED] = {BY_STAFF | BY_SYSTEM, IN_HUMAN},
    [SB_CASE_EV_RESOLVED] = {BY_STAFF | BY_SYSTEM, IN_HUMAN},
    [SB_CASE_EV_REOPENED] = {BY_STAFF, IN_CLOSED},
    [SB_CASE_EV_RELEASED] = {BY_SUPERVISOR, IN_HUMAN},
};

static bool is_system(const struct sb_actor *a)
{
    return a->id == 0 && a->role == SB_ROLE__COUNT;
}

static bool is_agent(const struct sb_actor *a)
{
    return a->id > 0 && (unsigned)a->role < SB_ROLE__COUNT;
}

/* The BY_ flag of the actor; 0 for an actor that is neither an agent nor the system. */
static unsigned actor_class(const struct sb_actor *a)
{
    if (is_system(a))
        return BY_SYSTEM;
    if (!is_agent(a))
        return 0;
    return a->role >= SB_ROLE_SUPERVISOR ? BY_SUPERVISOR : BY_AGENT;
}

/* An action on a human case that the holder may do: supervisors and the system may always;
 * an agent when it holds the case, or when it is unclaimed and unclaimed_ok. */
static enum sb_case_refusal holder(const struct sb_case_state *st, const struct sb_actor *a,
                                   bool unclaimed_ok)
{
    if (actor_class(a) != BY_AGENT || st->assignee == a->id)
        return SB_CASE_OK;
    if (st->assignee == 0)
        return unclaimed_ok ? SB_CASE_OK : SB_CASE_NOT_CLAIMED;
    return SB_CASE_CLAIMED;
}

enum sb_case_refusal sb_case_apply(struct sb_case_state *st, const struct sb_actor *actor,
                                   const struct sb_case_action *a)
{
    if (!st || !actor || !a || (unsigned)a->kind >= SB_CASE_EV__COUNT)
        return SB_CASE_FORBIDDEN;
    const struct rule *r = &rules[a->kind];
    unsigned who = actor_class(actor);
    if (!(r->by & who))
        return SB_CASE_FORBIDDEN;
    if ((unsigned)st->owner >= SB_CASE_OWNER__COUNT || !(r->in & (1u << st->owner)))
        return SB_CASE_WRONG_STATE;

    struct sb_case_state n = *st;
    enum sb_case_refusal why = SB_CASE_OK;
    switch (a->kind) {
    case SB_CASE_EV_ESCALATED:
        n.owner = SB_CASE_HUMAN;
        n.assignee = 0;
        break;
    case SB_CASE_EV_CLAIMED:
        /* a supervisor may take over a held case; an agent only an unclaimed one */
        why = holder(st, actor, true);
        n.assignee = actor->id;
        break;
    case SB_CASE_EV_UNCLAIMED:
        why = st->assignee == 0 ? SB_CASE_NOT_CLAIMED : holder(st, actor, false);
        n.assignee = 0;
        break;
    case SB_CASE_EV_REPLY:
        why = holder(st, actor, false);
        n.next_due = 0;
        break;
    case SB_CASE_EV_TRANSFERRED:
        why = a->to_agent < 0 ? SB_CASE_FORBIDDEN : holder(st, actor, true);
        n.assignee = a->to_agent;
        break;
    case SB_CASE_EV_RESOLVED:
        why = holder(st, actor, false);
        n.owner = SB_CASE_CLOSED;
        n.next_due = 0;
        break;
    case SB_CASE_EV_REOPENED:
        if (who == BY_AGENT && st->assignee != actor->id)
            why = SB_CASE_FORBIDDEN; /* only the last assignee or a supervisor */
        n.owner = SB_CASE_HUMAN;
        n.assignee = 0;
        break;
    case SB_CASE_EV_RELEASED:
        n.owner = SB_CASE_POLICY;
        n.assignee = 0;
        n.first_due = 0;
        n.next_due = 0;
        break;
    case SB_CASE_EV_DELIVERED:
        if (n.first_responded_at == 0)
            n.first_responded_at = a->at_ms;
        break;
    case SB_CASE_EV_POST:   /* the caller starts next_due: it knows the queue */
    case SB_CASE_EV_FAILED: /* the history records it; the state does not change */
    case SB_CASE_EV_NOTE:
    case SB_CASE_EV__COUNT:
        break;
    }
    if (why == SB_CASE_OK)
        *st = n;
    return why;
}

/* ---- SLA ------------------------------------------------------------------------------------ */

/* A clock is breached when now_ms is strictly after its due time: at the due instant itself the
 * case is not yet late. */

int64_t sb_case_due(const struct sb_case_state *st)
{
    if (!st || st->owner != SB_CASE_HUMAN)
        return 0;
    int64_t first = st->first_responded_at == 0 ? st->first_due : 0;
    int64_t next = st->next_due;
    if (first == 0)
        return next;
    if (next == 0)
        return first;
    return first < next ? first : next;
}

bool sb_case_breached(const struct sb_case_state *st, int64_t now_ms)
{
    int64_t due = sb_case_due(st);
    return due != 0 && now_ms > due;
}
