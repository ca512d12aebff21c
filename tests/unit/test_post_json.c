/* test_post_json.c — struct sb_post lifetime, name tables, the ISO 8601 parser, and the
 * normalized post JSON (sb_post_to_json / sb_post_from_json): defaults, validation and
 * round-trips, including a post mapped from a real Mastodon fixture. */
#include <stdlib.h>

#include <jansson.h>

#include "core/post.h"
#include "core/post_json.h"
#include "platforms/detect.h"
#include "platforms/mastodon/map.h"
#include "t.h"
#include "util/buf.h"

#define T_STREQ_OR_NULL(a, b)                                                                      \
    do {                                                                                           \
        const char *t_x = (a), *t_y = (b);                                                         \
        if (!t_x || !t_y)                                                                          \
            T_CHECK(t_x == t_y);                                                                   \
        else                                                                                       \
            T_STREQ(t_x, t_y);                                                                     \
    } while (0)

/* Field-by-field equality of two posts (the round-trip contract). */
static void post_eq(const struct sb_post *a, const struct sb_post *b)
{
    T_INTEQ(a->platform, b->platform);
    T_INTEQ(a->kind, b->kind);
    T_STREQ_OR_NULL(a->id, b->id);
    T_STREQ_OR_NULL(a->cid, b->cid);
    T_STREQ_OR_NULL(a->account, b->account);
    T_STREQ_OR_NULL(a->text, b->text);
    T_STREQ_OR_NULL(a->lang, b->lang);
    T_STREQ_OR_NULL(a->url, b->url);
    T_STREQ_OR_NULL(a->created_at, b->created_at);
    T_INTEQ(a->created_ms, b->created_ms);
    T_STREQ_OR_NULL(a->visibility, b->visibility);
    T_STREQ_OR_NULL(a->thread, b->thread);
    T_STREQ_OR_NULL(a->thread_cid, b->thread_cid);
    T_STREQ_OR_NULL(a->in_reply_to, b->in_reply_to);
    T_STREQ_OR_NULL(a->in_reply_to_cid, b->in_reply_to_cid);
    T_INTEQ(a->n_mentions, b->n_mentions);
    for (size_t i = 0; i < a->n_mentions && i < b->n_mentions; i++) {
        T_STREQ_OR_NULL(a->mentions[i].id, b->mentions[i].id);
        T_STREQ_OR_NULL(a->mentions[i].handle, b->mentions[i].handle);
    }
    T_INTEQ(a->n_tags, b->n_tags);
    for (size_t i = 0; i < a->n_tags && i < b->n_tags; i++)
        T_STREQ(a->tags[i], b->tags[i]);
    T_INTEQ(a->n_links, b->n_links);
    for (size_t i = 0; i < a->n_links && i < b->n_links; i++)
        T_STREQ(a->links[i], b->links[i]);
    T_STREQ_OR_NULL(a->author.id, b->author.id);
    T_STREQ_OR_NULL(a->author.handle, b->author.handle);
    T_STREQ_OR_NULL(a->author.name, b->author.name);
    T_INTEQ(a->author.followers, b->author.followers);
    T_INTEQ(a->author.verified, b->author.verified);
    T_INTEQ(a->author.bot, b->author.bot);
    T_STREQ_OR_NULL(a->author.created_at, b->author.created_at);
}

/* to_json → parse → from_json → compare, and the second serialization must be identical. */
static void roundtrip(const struct sb_post *p)
{
    struct sb_buf b1, b2;
    struct sb_post q;
    struct sb_errbuf eb = {{0}};
    json_error_t jerr;
    sb_buf_init(&b1, 0);
    sb_buf_init(&b2, 0);
    T_CHECK(sb_post_init(&q) == SB_OK);
    T_INTEQ(sb_post_to_json(p, &b1), SB_OK);
    json_t *obj = json_loadb(b1.data, b1.len, 0, &jerr);
    T_CHECK(obj != NULL);
    if (!obj)
        fprintf(stderr, "bad JSON: %s\n%s\n", jerr.text, b1.data);
    enum sb_err e = sb_post_from_json(obj, &q, &eb);
    T_INTEQ(e, SB_OK);
    if (e)
        fprintf(stderr, "from_json: %s\n", eb.msg);
    post_eq(p, &q);
    T_INTEQ(sb_post_to_json(&q, &b2), SB_OK);
    T_STREQ(b1.data, b2.data);
    json_decref(obj);
    sb_post_free(&q);
    sb_buf_free(&b1);
    sb_buf_free(&b2);
}

static void test_lifetime_and_names(void)
{
    struct sb_post p;
    T_INTEQ(sb_post_init(&p), SB_OK);
    T_CHECK(p.arena != NULL);
    T_INTEQ(p.author.followers, -1);
    p.id = sb_arena_strdup(p.arena, "x");
    p.author.followers = 5;
    sb_post_reset(&p);
    T_CHECK(p.id == NULL);
    T_CHECK(p.arena != NULL);
    T_INTEQ(p.author.followers, -1);
    sb_post_free(&p);
    T_CHECK(p.arena == NULL);

    struct sb_event ev;
    T_INTEQ(sb_event_init(&ev), SB_OK);
    ev.type = SB_EVENT_SKIP;
    ev.skip_kind = "identity";
    ev.cursor = 9;
    sb_event_reset(&ev);
    T_INTEQ(ev.type, SB_EVENT_POST);
    T_CHECK(ev.skip_kind == NULL);
    T_INTEQ(ev.cursor, 0);
    T_CHECK(ev.post.arena != NULL);
    sb_event_free(&ev);

    T_STREQ(sb_platform_name(SB_PLATFORM_MASTODON), "mastodon");
    T_STREQ(sb_platform_name(SB_PLATFORM_BLUESKY), "bluesky");
    T_STREQ(sb_platform_name((enum sb_platform)99), "unknown");
    T_INTEQ(sb_platform_from_name("bluesky"), SB_PLATFORM_BLUESKY);
    T_INTEQ(sb_platform_from_name("unknown"), SB_PLATFORM_UNKNOWN);
    T_INTEQ(sb_platform_from_name(NULL), SB_PLATFORM_UNKNOWN);
    T_STREQ(sb_post_kind_name(SB_POST_DIRECT), "direct");
    T_STREQ(sb_post_kind_name((enum sb_post_kind)42), "unknown");
    T_INTEQ(sb_post_kind_from_name("comment"), SB_POST_COMMENT);
    T_INTEQ(sb_post_kind_from_name("Mention"), -1);
    T_INTEQ(sb_post_kind_from_name(NULL), -1);
}

static void test_time(void)
{
    int64_t ms = 0;
    T_CHECK(sb_time_parse_iso8601("2022-08-30T23:09:54.070Z", &ms));
    T_INTEQ(ms, 1661900994070LL);
    T_CHECK(sb_time_parse_iso8601("2024-05-01T12:05:00.000000Z", &ms)); /* 6 digits */
    T_INTEQ(ms, 1714565100000LL);
    T_CHECK(sb_time_parse_iso8601("2023-08-08T01:03:41.157302Z", &ms));
    T_INTEQ(ms, 1691456621157LL);
    T_CHECK(sb_time_parse_iso8601("2019-11-10T10:31:10.744+00:00", &ms));
    T_INTEQ(ms, 1573381870744LL);
    T_CHECK(sb_time_parse_iso8601("2022-08-30T23:09:54+02:00", &ms));
    T_INTEQ(ms, 1661893794000LL);
    T_CHECK(sb_time_parse_iso8601("2022-08-30T23:09:54+0200", &ms));
    T_INTEQ(ms, 1661893794000LL);
    T_CHECK(sb_time_parse_iso8601("2022-08-30", &ms));
    T_INTEQ(ms, 1661817600000LL);
    T_CHECK(sb_time_parse_iso8601("2000-02-29T00:00:00Z", &ms));
    T_INTEQ(ms, 951782400000LL);
    T_CHECK(sb_time_parse_iso8601("1969-12-31T23:59:59.000Z", &ms));
    T_INTEQ(ms, -1000);
    T_CHECK(sb_time_parse_iso8601("1970-01-01T00:00Z", &ms));
    T_INTEQ(ms, 0);

    const char *bad[] = {"",
                         "garbage",
                         "2022-13-01",
                         "2022-02-29",
                         "2022-08-30T25:00:00Z",
                         "2022-08-30T23:09:54.Z",
                         "2022-08-30T23:09:54Zjunk",
                         "2022-8-30",
                         "2022-08-30T23",
                         "2022-08-30T23:09:54+2",
                         "2022-08-30 junk"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bool ok = sb_time_parse_iso8601(bad[i], &ms);
        T_CHECK(!ok);
        if (ok)
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
    }
    T_CHECK(!sb_time_parse_iso8601(NULL, &ms));
}

static const char full_json[] =
    "{\"platform\":\"bluesky\",\"id\":\"at://did:plc:a/app.bsky.feed.post/1\",\"cid\":\"bafy1\","
    "\"account\":\"brand\",\"kind\":\"reply\",\"text\":\"h\\u00e9llo \\\"q\\\"\\n\\t\\u2728 "
    "\\\\ end\",\"lang\":\"fr\",\"url\":\"https://bsky.app/x\",\"created_at\":"
    "\"2023-08-08T01:03:41.157302Z\",\"visibility\":\"public\",\"thread\":\"at://root\","
    "\"thread_cid\":\"bafyroot\",\"in_reply_to\":\"at://parent\",\"in_reply_to_cid\":"
    "\"bafyparent\",\"mentions\":[{\"id\":\"did:plc:m\",\"handle\":\"m.test\"},{\"id\":"
    "\"did:plc:n\"}],\"tags\":[\"one\",\"two\"],\"links\":[\"https://a.example/\"],"
    "\"author\":{\"id\":\"did:plc:a\",\"handle\":\"a.test\",\"name\":\"Ä\",\"followers\":12,"
    "\"verified\":true,\"bot\":true,\"created_at\":\"2020-01-01\"}}";

static void test_from_json_full_and_roundtrip(void)
{
    struct sb_post p;
    struct sb_errbuf eb = {{0}};
    json_t *obj = json_loads(full_json, 0, NULL);
    T_CHECK(obj != NULL);
    T_CHECK(sb_post_init(&p) == SB_OK);
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_OK);
    T_INTEQ(p.platform, SB_PLATFORM_BLUESKY);
    T_INTEQ(p.kind, SB_POST_REPLY);
    T_STREQ(p.text, "h\xc3\xa9llo \"q\"\n\t\xe2\x9c\xa8 \\ end");
    T_STREQ(p.thread_cid, "bafyroot");
    T_INTEQ(p.created_ms, 1691456621157LL);
    T_INTEQ(p.n_mentions, 2);
    T_CHECK(p.n_mentions == 2 && p.mentions[1].handle == NULL);
    T_INTEQ(p.n_tags, 2);
    T_INTEQ(p.n_links, 1);
    T_INTEQ(p.author.followers, 12);
    T_CHECK(p.author.verified && p.author.bot);
    T_STREQ(p.author.name, "\xc3\x84");
    roundtrip(&p);

    /* and a post with every optional field absent */
    json_t *min = json_pack("{s:s,s:s,s:s,s:{s:s}}", "platform", "mastodon", "id", "42", "text", "",
                            "author", "id", "7");
    T_INTEQ(sb_post_from_json(min, &p, &eb), SB_OK);
    T_INTEQ(p.kind, SB_POST_MENTION);
    T_STREQ(p.visibility, "public");
    T_STREQ(p.thread, "42");
    T_STREQ(p.text, "");
    T_INTEQ(p.author.followers, -1);
    T_CHECK(p.author.name == NULL); /* no handle, no name: unknown, not the id */
    T_CHECK(!p.author.bot && !p.author.verified);
    T_CHECK(p.lang == NULL && p.url == NULL && p.created_at == NULL);
    T_INTEQ(p.created_ms, 0);
    T_INTEQ(p.n_mentions + p.n_tags + p.n_links, 0);
    roundtrip(&p);

    /* JSON null counts as absent */
    json_object_set_new(min, "lang", json_null());
    json_object_set_new(min, "tags", json_null());
    T_INTEQ(sb_post_from_json(min, &p, &eb), SB_OK);
    T_CHECK(p.lang == NULL);

    json_decref(min);
    json_decref(obj);
    sb_post_free(&p);
}

static void expect_err(const char *json, enum sb_err want, const char *msg_part)
{
    struct sb_post p;
    struct sb_errbuf eb = {{0}};
    json_t *obj = json_loads(json, JSON_DECODE_ANY, NULL);
    T_CHECK(obj != NULL);
    T_CHECK(sb_post_init(&p) == SB_OK);
    enum sb_err e = sb_post_from_json(obj, &p, &eb);
    T_INTEQ(e, want);
    T_CHECK(strstr(eb.msg, msg_part) != NULL);
    if (!strstr(eb.msg, msg_part))
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", eb.msg, msg_part);
    T_CHECK(p.id == NULL && p.text == NULL); /* left reset */
    json_decref(obj);
    sb_post_free(&p);
}

static void test_from_json_errors(void)
{
    expect_err("[]", SB_ERR_SCHEMA, "object");
    expect_err("{\"id\":\"1\",\"text\":\"t\",\"author\":{\"id\":\"a\"}}", SB_ERR_SCHEMA,
               "platform");
    expect_err("{\"platform\":\"myspace\",\"id\":\"1\",\"text\":\"t\",\"author\":{\"id\":\"a\"}}",
               SB_ERR_SCHEMA, "myspace");
    expect_err("{\"platform\":\"mastodon\",\"text\":\"t\",\"author\":{\"id\":\"a\"}}",
               SB_ERR_SCHEMA, "id");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"author\":{\"id\":\"a\"}}", SB_ERR_SCHEMA,
               "text");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"text\":\"t\"}", SB_ERR_SCHEMA, "author");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"text\":\"t\",\"author\":{}}",
               SB_ERR_SCHEMA, "author.id");
    expect_err("{\"platform\":\"mastodon\",\"id\":1,\"text\":\"t\",\"author\":{\"id\":\"a\"}}",
               SB_ERR_SCHEMA, "id");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"kind\":\"shout\",\"text\":\"t\","
               "\"author\":{\"id\":\"a\"}}",
               SB_ERR_SCHEMA, "shout");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"text\":\"t\","
               "\"author\":{\"id\":\"a\",\"followers\":\"many\"}}",
               SB_ERR_SCHEMA, "followers");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"text\":\"t\","
               "\"author\":{\"id\":\"a\",\"bot\":1}}",
               SB_ERR_SCHEMA, "bot");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"text\":\"t\",\"tags\":\"x\","
               "\"author\":{\"id\":\"a\"}}",
               SB_ERR_SCHEMA, "tags");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"text\":\"t\",\"tags\":[1],"
               "\"author\":{\"id\":\"a\"}}",
               SB_ERR_SCHEMA, "tags[0]");
    expect_err("{\"platform\":\"mastodon\",\"id\":\"1\",\"text\":\"t\",\"mentions\":[\"x\"],"
               "\"author\":{\"id\":\"a\"}}",
               SB_ERR_SCHEMA, "mentions[0]");
}

static void test_from_json_utf8_and_bounds(void)
{
    struct sb_post p;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_post_init(&p) == SB_OK);
    json_t *obj =
        json_pack("{s:s,s:s,s:{s:s}}", "platform", "mastodon", "id", "1", "author", "id", "a");

    /* jansson's parser never yields invalid UTF-8, but a json_t built in C can */
    json_object_set_new(obj, "text", json_string_nocheck("caf\xc3 \xff\xfe"));
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_ERR_UTF8);
    T_CHECK(strstr(eb.msg, "text") && strstr(eb.msg, "UTF-8"));

    json_object_set_new(obj, "text", json_stringn_nocheck("a\0b", 3));
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_ERR_UTF8);

    json_object_set_new(obj, "text", json_string_nocheck("\xed\xa0\x80")); /* surrogate */
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_ERR_UTF8);

    json_object_set_new(obj, "text", json_string_nocheck("\xc0\xaf")); /* overlong '/' */
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_ERR_UTF8);

    char *big = malloc(SB_POST_TEXT_MAX + 2);
    memset(big, 'a', SB_POST_TEXT_MAX + 1);
    big[SB_POST_TEXT_MAX + 1] = 0;
    json_object_set_new(obj, "text", json_string(big));
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_ERR_TOOBIG);
    big[SB_POST_TEXT_MAX] = 0; /* exactly the maximum is fine */
    json_object_set_new(obj, "text", json_string(big));
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_OK);
    T_INTEQ(strlen(p.text), SB_POST_TEXT_MAX);
    json_object_set_new(obj, "text", json_string("ok"));
    big[SB_POST_FIELD_MAX + 1] = 0;
    json_object_set_new(obj, "url", json_string(big));
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_ERR_TOOBIG);
    json_object_del(obj, "url");

    /* lists past SB_POST_LIST_MAX are truncated, not refused */
    json_t *tags = json_array();
    for (int i = 0; i < (int)SB_POST_LIST_MAX + 10; i++)
        json_array_append_new(tags, json_sprintf("t%d", i));
    json_object_set_new(obj, "tags", tags);
    T_INTEQ(sb_post_from_json(obj, &p, &eb), SB_OK);
    T_INTEQ(p.n_tags, SB_POST_LIST_MAX);

    free(big);
    json_decref(obj);
    sb_post_free(&p);
}

static void test_to_json_shape(void)
{
    struct sb_post p;
    struct sb_buf b;
    sb_buf_init(&b, 0);
    T_CHECK(sb_post_init(&p) == SB_OK);
    p.platform = SB_PLATFORM_MASTODON;
    p.id = "1";
    p.text = "a\x01";
    p.author.id = "u";
    T_INTEQ(sb_post_to_json(&p, &b), SB_OK);
    /* null fields are omitted; unknown followers too; lists are always present */
    T_STREQ(b.data, "{\"platform\":\"mastodon\",\"id\":\"1\",\"kind\":\"mention\",\"text\":"
                    "\"a\\u0001\",\"mentions\":[],\"tags\":[],\"links\":[],\"author\":{\"id\":"
                    "\"u\",\"verified\":false,\"bot\":false}}");
    /* appends; a failure leaves the buffer as it was */
    struct sb_buf small;
    sb_buf_init(&small, 20);
    sb_buf_puts(&small, "prefix");
    T_INTEQ(sb_post_to_json(&p, &small), SB_ERR_TOOBIG);
    T_INTEQ(small.len, 6);
    T_STREQ(small.data, "prefix");
    sb_buf_free(&small);
    sb_buf_free(&b);
    p.id = p.text = p.author.id = NULL; /* literals, not arena strings */
    sb_post_free(&p);
}

static void test_roundtrip_mapped_fixture(void)
{
    struct sb_post p;
    struct sb_errbuf eb = {{0}};
    json_t *st = json_load_file(SB_FIXTURES "/mastodon/status.json", 0, NULL);
    T_CHECK(st != NULL);
    T_CHECK(sb_post_init(&p) == SB_OK);
    T_INTEQ(sb_mastodon_map_status(st, &p, &eb), SB_OK);
    p.account = "brand"; /* a connector sets it */
    roundtrip(&p);
    p.account = NULL;
    json_decref(st);
    sb_post_free(&p);
}

/* The dispatcher hands objects with "platform" to sb_post_from_json. */
static void test_detect_normalized(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);
    json_t *obj = json_loads(full_json, 0, NULL);
    ev.type = SB_EVENT_SKIP;
    T_INTEQ(sb_platform_map_json(obj, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_POST);
    T_STREQ(ev.post.id, "at://did:plc:a/app.bsky.feed.post/1");
    T_INTEQ(ev.cursor, 0);
    json_object_del(obj, "text");
    T_INTEQ(sb_platform_map_json(obj, &ev, &eb), SB_ERR_SCHEMA);
    T_CHECK(strstr(eb.msg, "text") != NULL);
    T_CHECK(ev.post.id == NULL);
    json_decref(obj);

    obj = json_pack("{s:i,s:s}", "hello", 1, "kind", "commit"); /* "kind" alone is not enough */
    T_INTEQ(sb_platform_map_json(obj, &ev, &eb), SB_ERR_SCHEMA);
    T_CHECK(strstr(eb.msg, "unrecognized event shape") != NULL);
    json_decref(obj);
    obj = json_string("post");
    T_INTEQ(sb_platform_map_json(obj, &ev, &eb), SB_ERR_SCHEMA);
    T_CHECK(strstr(eb.msg, "unrecognized event shape") != NULL);
    json_decref(obj);
    sb_event_free(&ev);
}

int main(void)
{
    T_RUN(test_lifetime_and_names);
    T_RUN(test_time);
    T_RUN(test_from_json_full_and_roundtrip);
    T_RUN(test_from_json_errors);
    T_RUN(test_from_json_utf8_and_bounds);
    T_RUN(test_to_json_shape);
    T_RUN(test_roundtrip_mapped_fixture);
    T_RUN(test_detect_normalized);
    T_DONE();
}
