/* test_case.c — the case module (core/case.c): name tables, business-hours parsing and its error
 * messages, working-time arithmetic (nights, weekends, UTC offsets that move the local day,
 * whole-week jumps, saturation, degenerate calendars) checked by hand and against a brute-force
 * second-by-second walk, queue due times, every rule of the case state machine with its
 * refusals (a refused action leaves the state untouched), and the SLA clocks. Pure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/case.h"
#include "core/post.h"
#include "t.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)

/* Unix ms of an ISO 8601 time; the offsets in the strings are checked by core/post.c. */
static int64_t at(const char *iso)
{
    int64_t ms = 0;
    if (!sb_time_parse_iso8601(iso, &ms)) {
        fprintf(stderr, "bad time in test: %s\n", iso);
        exit(2);
    }
    return ms;
}

static struct sb_calendar cal(const char *s)
{
    struct sb_calendar c;
    struct sb_errbuf eb = {{0}};
    memset(&c, 0, sizeof c);
    if (sb_calendar_parse(s, &c, &eb) != SB_OK) {
        fprintf(stderr, "bad calendar in test: %s: %s\n", s, eb.msg);
        exit(2);
    }
    return c;
}

/* ---- names ---------------------------------------------------------------------------------- */

static void test_names(void)
{
    T_STREQ(sb_case_owner_name(SB_CASE_POLICY), "policy");
    T_STREQ(sb_case_owner_name(SB_CASE_HUMAN), "human");
    T_STREQ(sb_case_owner_name(SB_CASE_CLOSED), "closed");
    T_STREQ(sb_case_owner_name(SB_CASE_OWNER__COUNT), "unknown");
    T_STREQ(sb_case_owner_name((enum sb_case_owner) - 1), "unknown");
    for (int i = 0; i < SB_CASE_OWNER__COUNT; i++)
        T_INTEQ(sb_case_owner_from_name(sb_case_owner_name((enum sb_case_owner)i)), i);
    T_INTEQ(sb_case_owner_from_name("Human"), -1);
    T_INTEQ(sb_case_owner_from_name(""), -1);
    T_INTEQ(sb_case_owner_from_name("unknown"), -1);
    T_INTEQ(sb_case_owner_from_name(NULL), -1);

    /* the console API's list of event kinds, in enum order */
    static const char *const kinds[] = {"escalated",   "post",      "claimed",  "unclaimed",
                                        "reply",       "delivered", "failed",   "note",
                                        "transferred", "resolved",  "reopened", "released"};
    T_INTEQ(sizeof kinds / sizeof kinds[0], SB_CASE_EV__COUNT);
    for (int i = 0; i < SB_CASE_EV__COUNT; i++) {
        T_STREQ(sb_case_event_name((enum sb_case_event_kind)i), kinds[i]);
        T_INTEQ(sb_case_event_from_name(kinds[i]), i);
    }
    T_STREQ(sb_case_event_name(SB_CASE_EV__COUNT), "unknown");
    T_INTEQ(sb_case_event_from_name("escalate"), -1);
    T_INTEQ(sb_case_event_from_name("posts"), -1);
    T_INTEQ(sb_case_event_from_name(NULL), -1);

    T_STREQ(sb_role_name(SB_ROLE_AGENT), "agent");
    T_STREQ(sb_role_name(SB_ROLE_SUPERVISOR), "supervisor");
    T_STREQ(sb_role_name(SB_ROLE_ADMIN), "admin");
    T_STREQ(sb_role_name(SB_ROLE__COUNT), "unknown");
    for (int i = 0; i < SB_ROLE__COUNT; i++)
        T_INTEQ(sb_role_from_name(sb_role_name((enum sb_role)i)), i);
    T_INTEQ(sb_role_from_name("root"), -1);
    T_INTEQ(sb_role_from_name("unknown"), -1);
    T_INTEQ(sb_role_from_name(NULL), -1);

    /* refusal messages: one distinct sentence each */
    const char *msgs[5];
    for (int i = 0; i < 5; i++) {
        msgs[i] = sb_case_refusal_message((enum sb_case_refusal)i);
        T_CHECK(msgs[i] && msgs[i][0]);
        for (int j = 0; j < i; j++)
            T_CHECK(strcmp(msgs[i], msgs[j]) != 0);
    }
    T_STREQ(sb_case_refusal_message(SB_CASE_OK), "ok");
    T_CHECK(strstr(sb_case_refusal_message(SB_CASE_CLAIMED), "another agent") != NULL);
    T_CHECK(strstr(sb_case_refusal_message(SB_CASE_NOT_CLAIMED), "claim") != NULL);
    T_STREQ(sb_case_refusal_message((enum sb_case_refusal)99), "unknown refusal");
}

/* ---- calendar parsing ----------------------------------------------------------------------- */

static void check_cal(const char *s, unsigned days, int open, int close, int offset)
{
    struct sb_calendar c;
    struct sb_errbuf eb = {{0}};
    memset(&c, 0xa5, sizeof c);
    T_INTEQ(sb_calendar_parse(s, &c, &eb), SB_OK);
    T_CHECK(c.enabled);
    T_INTEQ(c.days, days);
    T_INTEQ(c.open_min, open);
    T_INTEQ(c.close_min, close);
    T_INTEQ(c.utc_offset_min, offset);
    if (eb.msg[0])
        fprintf(stderr, "  unexpected message for \"%s\": %s\n", s, eb.msg);
}

/* s is refused with SB_ERR_INVAL, a message holding `want` and *c untouched. */
static void check_bad(const char *s, const char *want)
{
    struct sb_calendar c = {false, 0x55, 1, 2, 3};
    struct sb_errbuf eb = {{0}};
    T_INTEQ(sb_calendar_parse(s, &c, &eb), SB_ERR_INVAL);
    if (!strstr(eb.msg, want)) {
        t_failures++;
        fprintf(stderr, "  \"%s\": message \"%s\" lacks \"%s\"\n", s ? s : "(null)", eb.msg, want);
    }
    t_checks++;
    T_CHECK(!c.enabled && c.days == 0x55 && c.open_min == 1 && c.close_min == 2 &&
            c.utc_offset_min == 3);
}

static void test_calendar_parse(void)
{
    check_cal("mon-fri 09:00-17:00 +01:00", 0x1f, 540, 1020, 60);
    check_cal("mon,wed,fri 08:30-12:00", 0x15, 510, 720, 0);
    check_cal("sat-sun 10:00-14:00 -05:30", 0x60, 600, 840, -330);
    check_cal("mon-sun 00:00-24:00 UTC", 0x7f, 0, 1440, 0);
    check_cal("sun 23:00-24:00 +14:00", 0x40, 1380, 1440, 840);
    check_cal("tue 00:00-00:01 -14:00", 0x02, 0, 1, -840);
    /* wrapping ranges go round the week */
    check_cal("fri-mon 09:00-17:00", 0x71, 540, 1020, 0);
    check_cal("sun-sat 09:00-17:00", 0x7f, 540, 1020, 0);
    check_cal("thu-thu 09:00-17:00", 0x08, 540, 1020, 0);
    /* lists may mix ranges, repeat days, use capitals */
    check_cal("mon-wed,fri 09:00-17:00 +05:45", 0x17, 540, 1020, 345);
    check_cal("Mon,MON,mon 9:00-17:30 utc", 0x01, 540, 1050, 0);
    check_cal("  sat-sun\t10:00-14:00   -05:30  ", 0x60, 600, 840, -330);
    check_cal("mon-fri 09:00-17:00 +01", 0x1f, 540, 1020, 60);
    check_cal("mon-fri 09:00-17:00 Z", 0x1f, 540, 1020, 0);
    check_cal("mon-fri 09:00-17:00 -00:00", 0x1f, 540, 1020, 0);

    check_bad(NULL, "missing");
    check_bad("", "expected DAYS HH:MM-HH:MM");
    check_bad("mon-fri", "expected DAYS HH:MM-HH:MM");
    check_bad("mon-fri 09:00-17:00 +01:00 extra", "unexpected \"extra\"");
    check_bad("mon-fry 09:00-17:00", "bad day \"fry\"");
    check_bad("monday 09:00-17:00", "bad day \"monday\"");
    check_bad("mon,,fri 09:00-17:00", "empty day");
    check_bad("mon, 09:00-17:00", "empty day");
    check_bad("-fri 09:00-17:00", "bad day \"\"");
    check_bad("mon-tue-wed 09:00-17:00", "bad day \"tue-wed\"");
    check_bad("mon-fri 9-17", "bad time");
    check_bad("mon-fri 09:00", "bad time range");
    check_bad("mon-fri 25:00-26:00", "bad time \"25:00\"");
    check_bad("mon-fri 09:60-17:00", "bad time \"09:60\"");
    check_bad("mon-fri 09:00-24:01", "bad time \"24:01\"");
    check_bad("mon-fri 24:00-24:00", "bad time \"24:00\"");
    check_bad("mon-fri 0900-1700", "bad time");
    check_bad("mon-fri 09:0a-17:00", "bad time");
    check_bad("mon-fri 17:00-09:00", "opening 17:00 is not before closing 09:00");
    check_bad("mon-fri 09:00-09:00", "is not before closing");
    check_bad("mon-fri 09:00-17:00 +14:01", "out of range");
    check_bad("mon-fri 09:00-17:00 -15:00", "out of range");
    check_bad("mon-fri 09:00-17:00 +99", "out of range");
    check_bad("mon-fri 09:00-17:00 +01:60", "bad UTC offset");
    check_bad("mon-fri 09:00-17:00 CET", "bad UTC offset \"CET\"");
    check_bad("mon-fri 09:00-17:00 +", "bad UTC offset");
    check_bad("mon-fri 09:00-17:00 +0100", "bad UTC offset");
    check_bad("mon-fri 09:00-17:00 01:00", "bad UTC offset");
    /* the input is quoted in the message */
    check_bad("mon-fri 09:00-17:00 +15:00", "hours \"mon-fri 09:00-17:00 +15:00\"");
    /* NULL errbuf is fine */
    struct sb_calendar c;
    T_INTEQ(sb_calendar_parse("xyz 09:00-17:00", &c, NULL), SB_ERR_INVAL);
    T_INTEQ(sb_calendar_parse("mon 09:00-17:00", NULL, NULL), SB_ERR_INVAL);
}

/* ---- working-time arithmetic ---------------------------------------------------------------- */

static void test_calendar_around_the_clock(void)
{
    const int64_t t = at("2024-05-04T13:14:15.678Z"); /* a Saturday */
    struct sb_calendar off = cal("mon-fri 09:00-17:00 +01:00");
    off.enabled = false;
    T_INTEQ(sb_calendar_add(&off, t, 0), t);
    T_INTEQ(sb_calendar_add(&off, t, 1), t + SEC);
    T_INTEQ(sb_calendar_add(&off, t, 3 * 86400), t + 3 * DAY);
    T_INTEQ(sb_calendar_add(NULL, t, 90), t + 90 * SEC);
    T_INTEQ(sb_calendar_add(&off, t, -5), t); /* negative counts as nothing */
    T_INTEQ(sb_calendar_add(&off, t, INT64_MAX), INT64_MAX);
    T_INTEQ(sb_calendar_add(&off, INT64_MAX - 10, 1), INT64_MAX);

    /* every minute of every day is the same as around the clock */
    struct sb_calendar all = cal("mon-sun 00:00-24:00 UTC");
    for (int64_t s = 0; s < 20 * 86400; s += 7919)
        T_INTEQ(sb_calendar_add(&all, t, s), t + s * SEC);
    T_INTEQ(sb_calendar_add(&all, -123456789, 100), -123456789 + 100 * SEC);
}

static void test_calendar_office_hours(void)
{
    struct sb_calendar c = cal("mon-fri 09:00-17:00");
    /* 2024-05-06 is a Monday */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T10:00:00Z"), 3600), at("2024-05-06T11:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T10:00:00Z"), 1), at("2024-05-06T10:00:01Z"));
    /* before opening: the clock starts at 09:00 */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T06:00:00Z"), 3600), at("2024-05-06T10:00:00Z"));
    /* ending exactly at closing time stays on that day */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T16:00:00Z"), 3600), at("2024-05-06T17:00:00Z"));
    /* over the night */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T16:00:00Z"), 7200), at("2024-05-07T10:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T16:59:59.500Z"), 1), at("2024-05-07T09:00:00.500Z"));
    /* after closing */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T20:00:00Z"), 60), at("2024-05-07T09:01:00Z"));
    /* over the weekend: Friday 16:30 + 1 h = Monday 09:30 */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-10T16:30:00Z"), 3600), at("2024-05-13T09:30:00Z"));
    /* from the weekend */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-11T12:00:00Z"), 3600), at("2024-05-13T10:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-12T23:59:59.999Z"), 60), at("2024-05-13T09:01:00Z"));
    /* a full working day from opening ends at closing; a day and a second the next morning */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T09:00:00Z"), 8 * 3600), at("2024-05-06T17:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T09:00:00Z"), 8 * 3600 + 1),
            at("2024-05-07T09:00:01Z"));
    /* a working week from Monday 09:00 ends Friday 17:00; from Wednesday noon, Wednesday noon */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T09:00:00Z"), 40 * 3600), at("2024-05-10T17:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-08T12:00:00Z"), 40 * 3600), at("2024-05-15T12:00:00Z"));
    /* 24 working hours from Friday 15:00: 2 h Fri, 8 Mon, 8 Tue, 6 Wed → Wednesday 15:00 */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-10T15:00:00Z"), 24 * 3600), at("2024-05-15T15:00:00Z"));

    /* secs = 0: now when in hours, else the next opening */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T10:00:00Z"), 0), at("2024-05-06T10:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T09:00:00Z"), 0), at("2024-05-06T09:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T08:59:59Z"), 0), at("2024-05-06T09:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T08:59:59.999Z"), 0), at("2024-05-06T09:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T08:59:59.999Z"), 1), at("2024-05-06T09:00:01Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T16:59:59.999Z"), 0), at("2024-05-06T16:59:59.999Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T17:00:00Z"), 0), at("2024-05-07T09:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-10T18:00:00Z"), 0), at("2024-05-13T09:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-11T10:00:00Z"), -60), at("2024-05-13T09:00:00Z"));

    /* a comma list and a midnight close */
    struct sb_calendar mwf = cal("mon,wed,fri 08:30-12:00");
    T_INTEQ(sb_calendar_add(&mwf, at("2024-05-06T11:00:00Z"), 2 * 3600),
            at("2024-05-08T09:30:00Z"));
    T_INTEQ(sb_calendar_add(&mwf, at("2024-05-10T11:30:00Z"), 3600), at("2024-05-13T09:00:00Z"));
    struct sb_calendar late = cal("sat 18:00-24:00");
    T_INTEQ(sb_calendar_add(&late, at("2024-05-11T23:00:00Z"), 3600), at("2024-05-12T00:00:00Z"));
    T_INTEQ(sb_calendar_add(&late, at("2024-05-11T23:00:00Z"), 3601), at("2024-05-18T18:00:01Z"));
    /* a wrapping range: fri-mon covers the weekend */
    struct sb_calendar wrap = cal("fri-mon 10:00-14:00");
    T_INTEQ(sb_calendar_add(&wrap, at("2024-05-07T10:00:00Z"), 3600), at("2024-05-10T11:00:00Z"));
    T_INTEQ(sb_calendar_add(&wrap, at("2024-05-10T13:00:00Z"), 2 * 3600),
            at("2024-05-11T11:00:00Z"));
}

static void test_calendar_offsets(void)
{
    /* +01:00: opening is 08:00 UTC */
    struct sb_calendar paris = cal("mon-fri 09:00-17:00 +01:00");
    T_INTEQ(sb_calendar_add(&paris, at("2024-05-06T07:30:00Z"), 3600),
            at("2024-05-06T10:00:00+01:00"));
    T_INTEQ(sb_calendar_add(&paris, at("2024-05-06T07:30:00Z"), 3600), at("2024-05-06T09:00:00Z"));
    T_INTEQ(sb_calendar_add(&paris, at("2024-05-10T15:30:00Z"), 3600),
            at("2024-05-13T09:30:00+01:00"));
    /* Friday 23:30 UTC is Saturday 00:30 local: nothing until Monday */
    T_INTEQ(sb_calendar_add(&paris, at("2024-05-10T23:30:00Z"), 0),
            at("2024-05-13T09:00:00+01:00"));

    /* +10:00: Sunday 23:30 UTC is already Monday 09:30 local — working time */
    struct sb_calendar sydney = cal("mon-fri 09:00-17:00 +10:00");
    T_INTEQ(sb_calendar_add(&sydney, at("2024-05-05T23:30:00Z"), 1800), at("2024-05-06T00:00:00Z"));
    T_INTEQ(sb_calendar_add(&sydney, at("2024-05-05T23:30:00Z"), 0), at("2024-05-05T23:30:00Z"));
    /* Friday 07:30 UTC is Friday 17:30 local: closed until Monday 09:00 local = Sunday 23:00 */
    T_INTEQ(sb_calendar_add(&sydney, at("2024-05-10T07:30:00Z"), 60), at("2024-05-12T23:01:00Z"));

    /* -05:00: Saturday 02:00 UTC is Friday 21:00 local, after closing */
    struct sb_calendar ny = cal("mon-fri 09:00-17:00 -05:00");
    T_INTEQ(sb_calendar_add(&ny, at("2024-05-11T02:00:00Z"), 0), at("2024-05-13T14:00:00Z"));
    /* Monday 03:00 UTC is Sunday 22:00 local */
    T_INTEQ(sb_calendar_add(&ny, at("2024-05-13T03:00:00Z"), 3600),
            at("2024-05-13T10:00:00-05:00"));

    /* -05:30 weekends: Sunday 13:00 local + 2 h → 1 h Sunday, 1 h next Saturday */
    struct sb_calendar wk = cal("sat-sun 10:00-14:00 -05:30");
    T_INTEQ(sb_calendar_add(&wk, at("2024-05-12T13:00:00-05:30"), 7200),
            at("2024-05-18T11:00:00-05:30"));
    /* Monday 02:00 UTC is still Sunday 20:30 local: closed */
    T_INTEQ(sb_calendar_add(&wk, at("2024-05-13T02:00:00Z"), 1), at("2024-05-18T10:00:01-05:30"));
    /* Saturday 04:00 UTC is Friday 22:30 local */
    T_INTEQ(sb_calendar_add(&wk, at("2024-05-11T04:00:00Z"), 0), at("2024-05-11T10:00:00-05:30"));

    /* the extremes of the offset range */
    struct sb_calendar kiri = cal("mon 00:00-01:00 +14:00");
    T_INTEQ(sb_calendar_add(&kiri, at("2024-05-05T10:00:00Z"), 0), at("2024-05-05T10:00:00Z"));
    T_INTEQ(sb_calendar_add(&kiri, at("2024-05-05T10:00:00Z"), 3600), at("2024-05-05T11:00:00Z"));
    struct sb_calendar baker = cal("sun 23:00-24:00 -12:00");
    T_INTEQ(sb_calendar_add(&baker, at("2024-05-06T10:00:00Z"), 1800), at("2024-05-06T11:30:00Z"));
}

static void test_calendar_epoch(void)
{
    /* 1970-01-01 was a Thursday */
    struct sb_calendar thu = cal("thu 00:00-01:00");
    T_INTEQ(sb_calendar_add(&thu, 0, 0), 0);
    T_INTEQ(sb_calendar_add(&thu, 0, 60), 60 * SEC);
    T_INTEQ(sb_calendar_add(&thu, HOUR, 0), WEEK);
    struct sb_calendar wed = cal("wed 00:00-24:00");
    T_INTEQ(sb_calendar_add(&wed, 0, 0), 6 * DAY);
    /* before 1970: Wednesday 1969-12-31 23:00 + 1 h of mon-fri 09-17 → Thursday 10:00 */
    struct sb_calendar c = cal("mon-fri 09:00-17:00");
    T_INTEQ(sb_calendar_add(&c, -HOUR, 3600), 10 * HOUR);
    T_INTEQ(sb_calendar_add(&c, at("1969-12-27T12:00:00Z"), 60),
            at("1969-12-29T09:01:00Z"));               /* a Saturday → Monday */
    T_INTEQ(sb_calendar_add(&wed, -1, 0), -1);         /* the last ms of Wednesday 1969-12-31 */
    T_INTEQ(sb_calendar_add(&wed, -DAY - 1, 0), -DAY); /* Tuesday's last ms → Wednesday */
}

static void test_calendar_long_and_degenerate(void)
{
    struct sb_calendar c = cal("mon-fri 09:00-17:00");
    const int64_t mon = at("2024-05-06T09:00:00Z");
    /* 52 working weeks end on a Friday at 17:00, one second more is Monday 09:00:01 */
    T_INTEQ(sb_calendar_add(&c, mon, 52LL * 40 * 3600), mon + 51 * WEEK + 4 * DAY + 8 * HOUR);
    T_INTEQ(sb_calendar_add(&c, mon, 52LL * 40 * 3600 + 1), mon + 52 * WEEK + SEC);
    /* whole weeks from outside hours also end at a closing, not at the next opening */
    T_INTEQ(sb_calendar_add(&c, at("2024-05-11T12:00:00Z"), 40 * 3600), at("2024-05-17T17:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-11T12:00:00Z"), 3 * 40 * 3600),
            at("2024-05-31T17:00:00Z"));
    T_INTEQ(sb_calendar_add(&c, at("2024-05-06T17:00:00Z"), 40 * 3600), at("2024-05-13T17:00:00Z"));
    /* ten thousand years of working time: answered at once, and exact */
    int64_t weeks = 10000LL * 52;
    T_INTEQ(sb_calendar_add(&c, mon, weeks * 40 * 3600 + 3600), mon + weeks * WEEK + HOUR);
    /* beyond int64: saturates */
    T_INTEQ(sb_calendar_add(&c, mon, INT64_MAX), INT64_MAX);
    T_INTEQ(sb_calendar_add(&c, mon, INT64_MAX / 1000), INT64_MAX);
    int64_t big = sb_calendar_add(&c, mon, 1000000000000000LL);
    T_CHECK(big > mon && big < INT64_MAX);
    struct sb_calendar minute = cal("sun 12:00-12:01");
    T_INTEQ(sb_calendar_add(&minute, mon, INT64_MAX / 1000 - 1), INT64_MAX);

    /* a calendar without working time counts as around the clock (never a clock that never
     * ends, never a loop) */
    struct sb_calendar none = c;
    none.days = 0;
    T_INTEQ(sb_calendar_add(&none, mon, 3600), mon + HOUR);
    T_INTEQ(sb_calendar_add(&none, mon, 0), mon);
    none = c;
    none.days = 0x80; /* only bits past Sunday */
    T_INTEQ(sb_calendar_add(&none, mon, 3600), mon + HOUR);
    none = c;
    none.open_min = none.close_min = 600;
    T_INTEQ(sb_calendar_add(&none, mon, 3600), mon + HOUR);
    none = c;
    none.open_min = 700;
    none.close_min = 600;
    T_INTEQ(sb_calendar_add(&none, mon, 3600), mon + HOUR);
    none = c;
    none.close_min = 1441;
    T_INTEQ(sb_calendar_add(&none, mon, 60), mon + MIN);
    none = c;
    none.open_min = -10;
    T_INTEQ(sb_calendar_add(&none, mon, 60), mon + MIN);
    none = c;
    none.utc_offset_min = 900;
    T_INTEQ(sb_calendar_add(&none, mon, 60), mon + MIN);
    /* bits past Sunday are ignored when there are real days */
    struct sb_calendar extra = c;
    extra.days |= 0xff80;
    T_INTEQ(sb_calendar_add(&extra, at("2024-05-10T16:30:00Z"), 3600), at("2024-05-13T09:30:00Z"));
    /* times far outside any calendar's range do not overflow */
    T_INTEQ(sb_calendar_add(&c, INT64_MAX - 5, 10), INT64_MAX);
    T_INTEQ(sb_calendar_add(&c, INT64_MIN + 5, 0), INT64_MIN + 5);
}

/* The reference: walk second by second (calendars are minute-aligned, so a whole second is
 * either working or not). */
static bool ref_working(const struct sb_calendar *c, int64_t t)
{
    int64_t local = t + c->utc_offset_min * MIN;
    int64_t day = local >= 0 ? local / DAY : -((-local + DAY - 1) / DAY);
    int64_t ms = local - day * DAY;
    int dow = (int)(((day % 7) + 7 + 3) % 7); /* 1970-01-01: Thursday, Monday = 0 */
    return ((c->days >> dow) & 1) && ms >= c->open_min * MIN && ms < c->close_min * MIN;
}

static int64_t ref_add(const struct sb_calendar *c, int64_t from, int64_t secs)
{
    int64_t t = from; /* a whole second; on a whole minute, the minute is one or the other */
    if (secs == 0) {
        while (!ref_working(c, t))
            t += t % MIN == 0 ? MIN : SEC;
        return t;
    }
    while (secs > 0) {
        int64_t step = t % MIN == 0 && secs >= 60 ? 60 : 1;
        if (ref_working(c, t))
            secs -= step;
        t += step * SEC;
    }
    return t;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_calendar_against_reference(void)
{
    const int64_t base = at("2024-01-01T00:00:00Z");
    int mismatches = 0, composed_bad = 0;
    for (int i = 0; i < 400; i++) {
        struct sb_calendar c = {.enabled = true};
        c.days = (unsigned)(rng() % 127) + 1;
        c.open_min = (int)(rng() % 1440);
        c.close_min = c.open_min + 1 + (int)(rng() % (unsigned)(1440 - c.open_min));
        if (i % 4 == 0) { /* round hours, like real calendars */
            c.open_min -= c.open_min % 60;
            c.close_min = c.close_min % 60 && c.close_min < 1380
                              ? c.close_min - c.close_min % 60 + 60
                              : c.close_min;
        }
        c.utc_offset_min = (int)(rng() % 1681) - 840;
        /* from: any second in a year, sometimes far before 1970 */
        int64_t from = base + (int64_t)(rng() % (366 * 86400)) * SEC;
        if (i % 10 == 0)
            from = -from;
        int64_t week_secs = 0;
        for (int d = 0; d < 7; d++)
            week_secs += ((c.days >> d) & 1) * (c.close_min - c.open_min) * 60;
        int64_t secs = i % 8 == 0   ? 0
                       : i % 8 == 1 ? week_secs * (int64_t)(1 + rng() % 3) /* whole weeks */
                                    : (int64_t)(rng() % (uint64_t)(week_secs * 2 + 2));
        int64_t got = sb_calendar_add(&c, from, secs), want = ref_add(&c, from, secs);
        if (got != want && mismatches++ < 5)
            fprintf(stderr,
                    "  days=%#x %d-%d off=%d from=%lld secs=%lld: got %lld, expected %lld\n",
                    c.days, c.open_min, c.close_min, c.utc_offset_min, (long long)from,
                    (long long)secs, (long long)got, (long long)want);
        /* splitting a positive amount in two positive parts changes nothing */
        if (secs >= 2) {
            int64_t a = 1 + (int64_t)(rng() % (uint64_t)(secs - 1));
            if (sb_calendar_add(&c, sb_calendar_add(&c, from, a), secs - a) != got)
                composed_bad++;
        }
        /* more time never ends earlier */
        if (sb_calendar_add(&c, from, secs + 1) <= got)
            composed_bad++;
    }
    T_INTEQ(mismatches, 0);
    T_INTEQ(composed_bad, 0);
}

/* ---- queues --------------------------------------------------------------------------------- */

static void test_queue_due(void)
{
    struct sb_queue_conf q;
    memset(&q, 0, sizeof q);
    strcpy(q.name, "support");
    const int64_t t = at("2024-05-10T16:30:00Z"); /* Friday */
    T_INTEQ(sb_queue_first_due(&q, t), 0);
    T_INTEQ(sb_queue_next_due(&q, t), 0);
    T_INTEQ(sb_queue_first_due(NULL, t), 0);
    T_INTEQ(sb_queue_next_due(NULL, t), 0);

    q.first_response = 3600;
    T_INTEQ(sb_queue_first_due(&q, t), t + HOUR);
    T_INTEQ(sb_queue_next_due(&q, t), 0); /* only the first response has a target */
    q.next_response = 1800;
    T_INTEQ(sb_queue_next_due(&q, t), t + 30 * MIN);

    q.hours = cal("mon-fri 09:00-17:00");
    T_INTEQ(sb_queue_first_due(&q, t), at("2024-05-13T09:30:00Z"));
    T_INTEQ(sb_queue_next_due(&q, t), at("2024-05-10T17:00:00Z")); /* ends at closing */
    T_INTEQ(sb_queue_next_due(&q, t + MIN), at("2024-05-13T09:01:00Z"));
    q.first_response = 0;
    T_INTEQ(sb_queue_first_due(&q, t), 0);
    q.next_response = -5; /* nonsense counts as no target */
    T_INTEQ(sb_queue_next_due(&q, t), 0);
}

/* ---- the state machine ---------------------------------------------------------------------- */

static const struct sb_actor SYS = {0, SB_ROLE__COUNT};
static const struct sb_actor ALICE = {2, SB_ROLE_AGENT};
static const struct sb_actor BOB = {3, SB_ROLE_AGENT};
static const struct sb_actor SUE = {4, SB_ROLE_SUPERVISOR};
static const struct sb_actor ADA = {5, SB_ROLE_ADMIN};

static const int64_t T0 = 1714564800000LL; /* 2024-05-01T12:00:00Z */

static bool same_state(const struct sb_case_state *a, const struct sb_case_state *b)
{
    return a->owner == b->owner && a->assignee == b->assignee && a->priority == b->priority &&
           a->first_due == b->first_due && a->next_due == b->next_due &&
           a->first_responded_at == b->first_responded_at;
}

static struct sb_case_state human(int64_t assignee)
{
    struct sb_case_state st = {SB_CASE_HUMAN, assignee,      SB_PRIORITY_HIGH,
                               T0 + HOUR,     T0 + 2 * HOUR, 0};
    return st;
}

static struct sb_case_state in_state(enum sb_case_owner o, int64_t assignee)
{
    struct sb_case_state st = human(assignee);
    st.owner = o;
    return st;
}

static int refused_but_changed;

/* Apply and, on a refusal, check the state was left exactly as it was. */
static enum sb_case_refusal act_to(struct sb_case_state *st, struct sb_actor who,
                                   enum sb_case_event_kind k, int64_t to_agent, bool to_queue)
{
    struct sb_case_state before = *st;
    struct sb_case_action a = {k, to_agent, to_queue, T0 + 5 * MIN};
    enum sb_case_refusal r = sb_case_apply(st, &who, &a);
    if (r != SB_CASE_OK && !same_state(&before, st))
        refused_but_changed++;
    return r;
}

static enum sb_case_refusal act(struct sb_case_state *st, struct sb_actor who,
                                enum sb_case_event_kind k)
{
    return act_to(st, who, k, 0, false);
}

static void test_apply_claim(void)
{
    struct sb_case_state st = human(0);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_CLAIMED), SB_CASE_OK);
    T_INTEQ(st.assignee, ALICE.id);
    T_INTEQ(st.owner, SB_CASE_HUMAN);
    T_INTEQ(st.first_due, T0 + HOUR); /* clocks untouched */
    T_INTEQ(st.next_due, T0 + 2 * HOUR);
    T_INTEQ(st.priority, SB_PRIORITY_HIGH);
    /* claiming again is harmless */
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_CLAIMED), SB_CASE_OK);
    T_INTEQ(st.assignee, ALICE.id);
    /* another agent may not take it */
    T_INTEQ(act(&st, BOB, SB_CASE_EV_CLAIMED), SB_CASE_CLAIMED);
    T_INTEQ(st.assignee, ALICE.id);
    /* a supervisor (and an admin) may */
    T_INTEQ(act(&st, SUE, SB_CASE_EV_CLAIMED), SB_CASE_OK);
    T_INTEQ(st.assignee, SUE.id);
    T_INTEQ(act(&st, ADA, SB_CASE_EV_CLAIMED), SB_CASE_OK);
    T_INTEQ(st.assignee, ADA.id);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_CLAIMED), SB_CASE_CLAIMED);
    /* only human cases */
    st = in_state(SB_CASE_POLICY, 0);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_CLAIMED), SB_CASE_WRONG_STATE);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_CLAIMED), SB_CASE_WRONG_STATE);
    st = in_state(SB_CASE_CLOSED, 0);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_CLAIMED), SB_CASE_WRONG_STATE);
    /* the system claims nothing */
    st = human(0);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_CLAIMED), SB_CASE_FORBIDDEN);
    T_INTEQ(st.assignee, 0);
}

static void test_apply_unclaim(void)
{
    struct sb_case_state st = human(ALICE.id);
    T_INTEQ(act(&st, BOB, SB_CASE_EV_UNCLAIMED), SB_CASE_CLAIMED);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_UNCLAIMED), SB_CASE_OK);
    T_INTEQ(st.assignee, 0);
    T_INTEQ(st.owner, SB_CASE_HUMAN);
    T_INTEQ(st.first_due, T0 + HOUR);
    /* nothing to give back */
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_UNCLAIMED), SB_CASE_NOT_CLAIMED);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_UNCLAIMED), SB_CASE_NOT_CLAIMED);
    /* supervisors, admins and the system may give anyone's case back */
    st = human(BOB.id);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_UNCLAIMED), SB_CASE_OK);
    T_INTEQ(st.assignee, 0);
    st = human(BOB.id);
    T_INTEQ(act(&st, ADA, SB_CASE_EV_UNCLAIMED), SB_CASE_OK);
    st = human(BOB.id);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_UNCLAIMED), SB_CASE_OK); /* e.g. a disabled agent */
    T_INTEQ(st.assignee, 0);
    st = in_state(SB_CASE_CLOSED, ALICE.id);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_UNCLAIMED), SB_CASE_WRONG_STATE);
    st = in_state(SB_CASE_POLICY, 0);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_UNCLAIMED), SB_CASE_WRONG_STATE);
}

static void test_apply_reply(void)
{
    struct sb_case_state st = human(ALICE.id);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_REPLY), SB_CASE_OK);
    T_INTEQ(st.next_due, 0); /* we answered */
    T_INTEQ(st.first_due, T0 + HOUR);
    T_INTEQ(st.first_responded_at, 0); /* only delivery counts */
    T_INTEQ(st.assignee, ALICE.id);
    T_INTEQ(st.owner, SB_CASE_HUMAN);

    st = human(ALICE.id);
    T_INTEQ(act(&st, BOB, SB_CASE_EV_REPLY), SB_CASE_CLAIMED);
    st = human(0);
    T_INTEQ(act(&st, BOB, SB_CASE_EV_REPLY), SB_CASE_NOT_CLAIMED);
    /* supervisor+ on any human case, claimed or not, without claiming it */
    T_INTEQ(act(&st, SUE, SB_CASE_EV_REPLY), SB_CASE_OK);
    T_INTEQ(st.next_due, 0);
    T_INTEQ(st.assignee, 0);
    st = human(ALICE.id);
    T_INTEQ(act(&st, ADA, SB_CASE_EV_REPLY), SB_CASE_OK);
    T_INTEQ(st.assignee, ALICE.id);
    /* not on closed or policy cases, not by the system */
    st = in_state(SB_CASE_CLOSED, ALICE.id);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_REPLY), SB_CASE_WRONG_STATE);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_REPLY), SB_CASE_WRONG_STATE);
    st = in_state(SB_CASE_POLICY, 0);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_REPLY), SB_CASE_WRONG_STATE);
    st = human(0);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_REPLY), SB_CASE_FORBIDDEN);
}

static void test_apply_note(void)
{
    const struct sb_actor who[] = {ALICE, BOB, SUE, ADA, SYS};
    for (int o = 0; o < SB_CASE_OWNER__COUNT; o++)
        for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
            struct sb_case_state st = in_state((enum sb_case_owner)o, BOB.id), before = st;
            T_INTEQ(act(&st, who[i], SB_CASE_EV_NOTE), SB_CASE_OK);
            T_CHECK(same_state(&st, &before)); /* a note changes nothing */
        }
}

static void test_apply_transfer(void)
{
    /* the holder hands it to a colleague, or back to the queue */
    struct sb_case_state st = human(ALICE.id);
    T_INTEQ(act_to(&st, ALICE, SB_CASE_EV_TRANSFERRED, BOB.id, false), SB_CASE_OK);
    T_INTEQ(st.assignee, BOB.id);
    T_INTEQ(st.owner, SB_CASE_HUMAN);
    T_INTEQ(st.first_due, T0 + HOUR);
    T_INTEQ(act_to(&st, ALICE, SB_CASE_EV_TRANSFERRED, ALICE.id, false), SB_CASE_CLAIMED);
    T_INTEQ(act_to(&st, BOB, SB_CASE_EV_TRANSFERRED, 0, true), SB_CASE_OK);
    T_INTEQ(st.assignee, 0);
    /* an unclaimed case: any agent may move it */
    T_INTEQ(act_to(&st, ALICE, SB_CASE_EV_TRANSFERRED, 0, true), SB_CASE_OK);
    T_INTEQ(st.assignee, 0);
    T_INTEQ(act_to(&st, ALICE, SB_CASE_EV_TRANSFERRED, BOB.id, false), SB_CASE_OK);
    T_INTEQ(st.assignee, BOB.id);
    /* supervisors and the system move anything */
    T_INTEQ(act_to(&st, SUE, SB_CASE_EV_TRANSFERRED, ALICE.id, true), SB_CASE_OK);
    T_INTEQ(st.assignee, ALICE.id);
    T_INTEQ(act_to(&st, SYS, SB_CASE_EV_TRANSFERRED, 0, true), SB_CASE_OK);
    T_INTEQ(st.assignee, 0);
    /* no such agent id */
    st = human(ALICE.id);
    T_INTEQ(act_to(&st, SUE, SB_CASE_EV_TRANSFERRED, -1, false), SB_CASE_FORBIDDEN);
    /* only human cases */
    st = in_state(SB_CASE_CLOSED, ALICE.id);
    T_INTEQ(act_to(&st, SUE, SB_CASE_EV_TRANSFERRED, BOB.id, true), SB_CASE_WRONG_STATE);
    st = in_state(SB_CASE_POLICY, 0);
    T_INTEQ(act_to(&st, ALICE, SB_CASE_EV_TRANSFERRED, 0, true), SB_CASE_WRONG_STATE);
}

static void test_apply_resolve_reopen(void)
{
    struct sb_case_state st = human(ALICE.id);
    T_INTEQ(act(&st, BOB, SB_CASE_EV_RESOLVED), SB_CASE_CLAIMED);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_RESOLVED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_CLOSED);
    T_INTEQ(st.next_due, 0);
    T_INTEQ(st.assignee, ALICE.id); /* remembered: the last assignee may reopen */
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_RESOLVED), SB_CASE_WRONG_STATE);

    /* reopen: the last assignee or supervisor+, never another agent nor the system */
    T_INTEQ(act(&st, BOB, SB_CASE_EV_REOPENED), SB_CASE_FORBIDDEN);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_REOPENED), SB_CASE_FORBIDDEN);
    struct sb_case_state copy = st;
    T_INTEQ(act(&copy, SUE, SB_CASE_EV_REOPENED), SB_CASE_OK);
    T_INTEQ(copy.owner, SB_CASE_HUMAN);
    T_INTEQ(copy.assignee, 0);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_REOPENED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_HUMAN);
    T_INTEQ(st.assignee, 0); /* back in the queue, unclaimed */
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_REOPENED), SB_CASE_WRONG_STATE);

    /* an unclaimed case must be claimed first by an agent; supervisors and the system close it */
    st = human(0);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_RESOLVED), SB_CASE_NOT_CLAIMED);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_RESOLVED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_CLOSED);
    T_INTEQ(st.assignee, 0);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_REOPENED), SB_CASE_FORBIDDEN); /* nobody's */
    T_INTEQ(act(&st, ADA, SB_CASE_EV_REOPENED), SB_CASE_OK);
    st = human(BOB.id);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_RESOLVED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_CLOSED);
    st = in_state(SB_CASE_POLICY, 0);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_RESOLVED), SB_CASE_WRONG_STATE);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_REOPENED), SB_CASE_WRONG_STATE);
}

static void test_apply_release(void)
{
    struct sb_case_state st = human(ALICE.id);
    st.first_responded_at = T0;
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_RELEASED), SB_CASE_FORBIDDEN); /* even the holder */
    T_INTEQ(act(&st, SYS, SB_CASE_EV_RELEASED), SB_CASE_FORBIDDEN);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_RELEASED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_POLICY);
    T_INTEQ(st.assignee, 0);
    T_INTEQ(st.first_due, 0);
    T_INTEQ(st.next_due, 0);
    T_INTEQ(st.first_responded_at, T0); /* history stays */
    T_INTEQ(act(&st, SUE, SB_CASE_EV_RELEASED), SB_CASE_WRONG_STATE);
    st = human(0);
    T_INTEQ(act(&st, ADA, SB_CASE_EV_RELEASED), SB_CASE_OK);
    st = in_state(SB_CASE_CLOSED, 0);
    T_INTEQ(act(&st, ADA, SB_CASE_EV_RELEASED), SB_CASE_WRONG_STATE);
}

static void test_apply_system(void)
{
    const struct sb_actor staff[] = {ALICE, SUE, ADA};
    const enum sb_case_event_kind sys_only[] = {SB_CASE_EV_ESCALATED, SB_CASE_EV_POST,
                                                SB_CASE_EV_DELIVERED, SB_CASE_EV_FAILED};
    /* system-only actions are refused to every role, in every state */
    for (size_t k = 0; k < 4; k++)
        for (size_t i = 0; i < 3; i++)
            for (int o = 0; o < SB_CASE_OWNER__COUNT; o++) {
                struct sb_case_state st = in_state((enum sb_case_owner)o, staff[i].id);
                T_INTEQ(act(&st, staff[i], sys_only[k]), SB_CASE_FORBIDDEN);
            }

    /* ESCALATED: a new case (zero state is policy-owned) or a closed thread → human */
    struct sb_case_state st;
    memset(&st, 0, sizeof st);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_ESCALATED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_HUMAN);
    T_INTEQ(st.assignee, 0);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_ESCALATED), SB_CASE_WRONG_STATE);
    st = in_state(SB_CASE_CLOSED, ALICE.id);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_ESCALATED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_HUMAN);
    T_INTEQ(st.assignee, 0); /* back in the queue */

    /* POST and FAILED change nothing, in any state */
    for (int o = 0; o < SB_CASE_OWNER__COUNT; o++) {
        struct sb_case_state s2 = in_state((enum sb_case_owner)o, ALICE.id), before = s2;
        T_INTEQ(act(&s2, SYS, SB_CASE_EV_POST), SB_CASE_OK);
        T_CHECK(same_state(&s2, &before));
        T_INTEQ(act(&s2, SYS, SB_CASE_EV_FAILED), SB_CASE_OK);
        T_CHECK(same_state(&s2, &before));
    }

    /* DELIVERED: the first acceptance is remembered, later ones do not move it */
    for (int o = 0; o < SB_CASE_OWNER__COUNT; o++) {
        st = in_state((enum sb_case_owner)o, ALICE.id);
        struct sb_case_action a = {SB_CASE_EV_DELIVERED, 0, false, T0 + 10 * MIN};
        T_INTEQ(sb_case_apply(&st, &SYS, &a), SB_CASE_OK);
        T_INTEQ(st.first_responded_at, T0 + 10 * MIN);
        T_INTEQ(st.first_due, T0 + HOUR); /* kept for the record */
        T_INTEQ(st.owner, o);
        a.at_ms = T0 + 20 * MIN;
        T_INTEQ(sb_case_apply(&st, &SYS, &a), SB_CASE_OK);
        T_INTEQ(st.first_responded_at, T0 + 10 * MIN);
    }
}

static void test_apply_bad_input(void)
{
    /* actors that are neither an agent nor the system are refused everything */
    const struct sb_actor bogus[] = {{0, SB_ROLE_AGENT},       {0, SB_ROLE_ADMIN},
                                     {-1, SB_ROLE_SUPERVISOR}, {7, SB_ROLE__COUNT},
                                     {7, (enum sb_role)9},     {0, (enum sb_role) - 1}};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++)
        for (int k = 0; k < SB_CASE_EV__COUNT; k++)
            for (int o = 0; o < SB_CASE_OWNER__COUNT; o++) {
                struct sb_case_state st = in_state((enum sb_case_owner)o, 0);
                T_INTEQ(act(&st, bogus[i], (enum sb_case_event_kind)k), SB_CASE_FORBIDDEN);
            }
    /* unknown action kind, unknown owner state, NULLs */
    struct sb_case_state st = human(ALICE.id);
    T_INTEQ(act(&st, SUE, SB_CASE_EV__COUNT), SB_CASE_FORBIDDEN);
    T_INTEQ(act(&st, SUE, (enum sb_case_event_kind) - 1), SB_CASE_FORBIDDEN);
    st.owner = SB_CASE_OWNER__COUNT;
    T_INTEQ(act(&st, SUE, SB_CASE_EV_NOTE), SB_CASE_WRONG_STATE);
    T_INTEQ(act(&st, SYS, SB_CASE_EV_POST), SB_CASE_WRONG_STATE);
    struct sb_case_action a = {SB_CASE_EV_NOTE, 0, false, T0};
    st = human(0);
    T_INTEQ(sb_case_apply(NULL, &SUE, &a), SB_CASE_FORBIDDEN);
    T_INTEQ(sb_case_apply(&st, NULL, &a), SB_CASE_FORBIDDEN);
    T_INTEQ(sb_case_apply(&st, &SUE, NULL), SB_CASE_FORBIDDEN);
}

/* Every (action, actor, owner, holder) combination: a refusal never touches the state, an
 * agent-only action never succeeds for the system, and an action the system alone may do never
 * succeeds for an agent. */
static void test_apply_matrix(void)
{
    const struct sb_actor who[] = {SYS, ALICE, BOB, SUE, ADA};
    const int64_t holders[] = {0, ALICE.id, SUE.id};
    int ok = 0, refused = 0;
    for (int k = 0; k < SB_CASE_EV__COUNT; k++)
        for (size_t i = 0; i < 5; i++)
            for (int o = 0; o < SB_CASE_OWNER__COUNT; o++)
                for (size_t h = 0; h < 3; h++) {
                    struct sb_case_state st = in_state((enum sb_case_owner)o, holders[h]);
                    enum sb_case_refusal r =
                        act_to(&st, who[i], (enum sb_case_event_kind)k, BOB.id, true);
                    T_CHECK(r >= SB_CASE_OK && r <= SB_CASE_WRONG_STATE);
                    if (r == SB_CASE_OK) {
                        ok++;
                        T_CHECK((unsigned)st.owner < SB_CASE_OWNER__COUNT);
                        T_INTEQ(st.priority, SB_PRIORITY_HIGH); /* never changed here */
                    } else {
                        refused++;
                    }
                    /* an agent (not a supervisor) never succeeds on a case another agent holds,
                     * except with a note */
                    if (who[i].role == SB_ROLE_AGENT && who[i].id > 0 && holders[h] != 0 &&
                        holders[h] != who[i].id && o == SB_CASE_HUMAN && k != SB_CASE_EV_NOTE)
                        T_CHECK(r != SB_CASE_OK);
                }
    T_CHECK(ok > 0 && refused > 0);
    T_INTEQ(refused_but_changed, 0);
}

/* ---- SLA ------------------------------------------------------------------------------------ */

static void test_due_and_breach(void)
{
    struct sb_case_state st = human(0);
    st.next_due = 0;
    /* only the first response clock */
    T_INTEQ(sb_case_due(&st), T0 + HOUR);
    T_CHECK(!sb_case_breached(&st, T0));
    T_CHECK(!sb_case_breached(&st, T0 + HOUR)); /* at the due instant: not yet late */
    T_CHECK(sb_case_breached(&st, T0 + HOUR + 1));
    /* accepted: the first clock stops counting, even past its due time */
    st.first_responded_at = T0 + 2 * HOUR;
    T_INTEQ(sb_case_due(&st), 0);
    T_CHECK(!sb_case_breached(&st, T0 + 3 * HOUR));
    /* the customer wrote again: next response clock */
    st.next_due = T0 + 4 * HOUR;
    T_INTEQ(sb_case_due(&st), T0 + 4 * HOUR);
    T_CHECK(!sb_case_breached(&st, T0 + 4 * HOUR));
    T_CHECK(sb_case_breached(&st, T0 + 4 * HOUR + 1));
    /* both running: the earliest matters, either way round */
    st.first_responded_at = 0;
    T_INTEQ(sb_case_due(&st), T0 + HOUR);
    st.first_due = T0 + 5 * HOUR;
    T_INTEQ(sb_case_due(&st), T0 + 4 * HOUR);
    T_CHECK(sb_case_breached(&st, T0 + 4 * HOUR + SEC));
    /* no clock at all */
    st.first_due = 0;
    st.next_due = 0;
    T_INTEQ(sb_case_due(&st), 0);
    T_CHECK(!sb_case_breached(&st, INT64_MAX));
    /* next response only */
    st.next_due = T0;
    T_INTEQ(sb_case_due(&st), T0);

    /* closed and policy cases are never in breach, and have no clock */
    st = human(ALICE.id);
    st.owner = SB_CASE_CLOSED;
    T_INTEQ(sb_case_due(&st), 0);
    T_CHECK(!sb_case_breached(&st, T0 + 100 * HOUR));
    st.owner = SB_CASE_POLICY;
    T_INTEQ(sb_case_due(&st), 0);
    T_CHECK(!sb_case_breached(&st, T0 + 100 * HOUR));
    T_INTEQ(sb_case_due(NULL), 0);
    T_CHECK(!sb_case_breached(NULL, T0));
}

/* A case's life as the callers drive it: the queue computes the clocks, apply moves the state. */
static void test_lifecycle(void)
{
    struct sb_queue_conf q;
    memset(&q, 0, sizeof q);
    strcpy(q.name, "support");
    q.first_response = 3600;
    q.next_response = 1800;
    q.hours = cal("mon-fri 09:00-17:00 +01:00");
    const int64_t fri = at("2024-05-10T16:30:00+01:00");

    struct sb_case_state st;
    memset(&st, 0, sizeof st);
    st.priority = SB_PRIORITY_URGENT;
    T_INTEQ(act(&st, SYS, SB_CASE_EV_ESCALATED), SB_CASE_OK);
    st.first_due = sb_queue_first_due(&q, fri);
    T_INTEQ(st.first_due, at("2024-05-13T09:30:00+01:00"));
    T_INTEQ(sb_case_due(&st), st.first_due);
    T_CHECK(!sb_case_breached(&st, at("2024-05-12T12:00:00Z"))); /* the weekend does not count */

    /* Monday morning: claimed, answered, accepted in time */
    T_INTEQ(act(&st, BOB, SB_CASE_EV_CLAIMED), SB_CASE_OK);
    T_INTEQ(act(&st, ALICE, SB_CASE_EV_REPLY), SB_CASE_CLAIMED);
    T_INTEQ(act(&st, BOB, SB_CASE_EV_REPLY), SB_CASE_OK);
    struct sb_case_action dl = {SB_CASE_EV_DELIVERED, 0, false, at("2024-05-13T09:10:00+01:00")};
    T_INTEQ(sb_case_apply(&st, &SYS, &dl), SB_CASE_OK);
    T_INTEQ(sb_case_due(&st), 0);
    T_CHECK(!sb_case_breached(&st, at("2024-05-14T09:00:00Z")));

    /* the customer writes back at 16:50 local: 10 min today, 20 tomorrow */
    const int64_t post = at("2024-05-13T16:50:00+01:00");
    T_INTEQ(act(&st, SYS, SB_CASE_EV_POST), SB_CASE_OK);
    if (st.next_due == 0)
        st.next_due = sb_queue_next_due(&q, post);
    T_INTEQ(st.next_due, at("2024-05-14T09:20:00+01:00"));
    T_CHECK(!sb_case_breached(&st, at("2024-05-14T09:20:00+01:00")));
    T_CHECK(sb_case_breached(&st, at("2024-05-14T09:21:00+01:00")));
    /* a second post does not restart a running clock (the caller's rule) */
    T_INTEQ(act(&st, SYS, SB_CASE_EV_POST), SB_CASE_OK);
    T_INTEQ(st.next_due, at("2024-05-14T09:20:00+01:00"));

    T_INTEQ(act(&st, BOB, SB_CASE_EV_NOTE), SB_CASE_OK);
    T_INTEQ(act(&st, BOB, SB_CASE_EV_REPLY), SB_CASE_OK);
    T_INTEQ(st.next_due, 0);
    T_CHECK(!sb_case_breached(&st, at("2024-05-20T09:00:00Z")));
    T_INTEQ(act(&st, BOB, SB_CASE_EV_RESOLVED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_CLOSED);
    T_INTEQ(act(&st, BOB, SB_CASE_EV_REOPENED), SB_CASE_OK);
    T_INTEQ(act(&st, SUE, SB_CASE_EV_RELEASED), SB_CASE_OK);
    T_INTEQ(st.owner, SB_CASE_POLICY);
    T_INTEQ(sb_case_due(&st), 0);
    T_INTEQ(st.priority, SB_PRIORITY_URGENT);
    T_INTEQ(refused_but_changed, 0);
}

int main(void)
{
    T_RUN(test_names);
    T_RUN(test_calendar_parse);
    T_RUN(test_calendar_around_the_clock);
    T_RUN(test_calendar_office_hours);
    T_RUN(test_calendar_offsets);
    T_RUN(test_calendar_epoch);
    T_RUN(test_calendar_long_and_degenerate);
    T_RUN(test_calendar_against_reference);
    T_RUN(test_queue_due);
    T_RUN(test_apply_claim);
    T_RUN(test_apply_unclaim);
    T_RUN(test_apply_reply);
    T_RUN(test_apply_note);
    T_RUN(test_apply_transfer);
    T_RUN(test_apply_resolve_reopen);
    T_RUN(test_apply_release);
    T_RUN(test_apply_system);
    T_RUN(test_apply_bad_input);
    T_RUN(test_apply_matrix);
    T_RUN(test_due_and_breach);
    T_RUN(test_lifecycle);
    T_DONE();
}
