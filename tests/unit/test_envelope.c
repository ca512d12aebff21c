/* test_envelope.c — the streaming envelope fast path agrees with a full parse, and declines
 * anything it does not fully understand. */
#include <jansson.h>

#include "fixtures.h"
#include "platforms/mastodon/envelope.h"
#include "t.h"

static struct sb_buf pl;
static char ev[32];

static int split(const char *s)
{
    sb_buf_reset(&pl);
    return sb_mastodon_envelope_split(s, strlen(s), ev, sizeof ev, &pl);
}

static void test_fixture(void)
{
    json_t *f = t_fixture("mastodon", "derived_streaming_ws_notification_mention_event.json");
    T_CHECK(f != NULL);
    char *frame = json_dumps(f, JSON_COMPACT);
    T_INTEQ(split(frame), 1);
    T_STREQ(ev, "notification");
    /* byte-identical to the payload string a full parse gives */
    T_STREQ(pl.data, json_string_value(json_object_get(f, "payload")));
    json_free_t jf;
    json_get_alloc_funcs(NULL, &jf);
    jf(frame);
    json_decref(f);
    /* the real delete fixture: a bare id payload */
    f = t_fixture("mastodon", "streaming_ws_delete_event.json");
    frame = json_dumps(f, JSON_COMPACT);
    T_INTEQ(split(frame), 1);
    T_STREQ(ev, "delete");
    T_STREQ(pl.data, "106692867363994015");
    jf(frame);
    json_decref(f);
}

static void test_escapes(void)
{
    T_INTEQ(split("{\"stream\":[\"user\"],\"event\":\"notification\",\"payload\":"
                  "\"{\\\"t\\\":\\\"caf\\u00e9 \\ud83d\\ude00 a\\\\/b\\\\n\\\"}\"}"),
            1);
    T_STREQ(pl.data, "{\"t\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 a\\/b\\n\"}");
    T_INTEQ(split("{\"event\":\"x\",\"payload\":\"tab\\there\"}"), 1);
    T_STREQ(pl.data, "tab\there");
}

static void test_declines(void)
{
    T_INTEQ(split("{\"stream\":[\"user\"],\"event\":\"filters_changed\"}"), 0);   /* no payload */
    T_INTEQ(split("{\"event\":\"notification\",\"payload\":{\"id\":\"1\"}}"), 0); /* object */
    T_INTEQ(split("{\"event\":\"notification\",\"payload\":\"\\ud83d\"}"), 0);    /* lone */
    T_INTEQ(split("{\"event\":\"notification\",\"payload\":\"\\udc00x\"}"), 0);
    T_INTEQ(split("{\"event\":\"notification\",\"payload\":\"abc"), 0);          /* truncated */
    T_INTEQ(split("{\"event\":\"notification\",\"payload\":\"a\\u0000b\"}"), 0); /* NUL */
    T_INTEQ(split("{\"event\":\"notification\",\"payload\":\"a\\qb\"}"), 0);     /* bad escape */
    T_INTEQ(split("{\"event\":\"notification\",\"payload\":\"a\nb\"}"), 0);      /* raw ctl */
    T_INTEQ(split("[\"event\",\"payload\"]"), 0);
    T_INTEQ(split("{\"event\":\"notification\",\"stream\":7,\"payload\":\"x\"}"), 0);
    T_INTEQ(split(""), 0);
}

int main(void)
{
    sb_buf_init(&pl, 1 << 20);
    T_RUN(test_fixture);
    T_RUN(test_escapes);
    T_RUN(test_declines);
    sb_buf_free(&pl);
    T_DONE();
}
