/* test_map_mastodon.c — Mastodon Status / Notification / streaming frames → post and event
 * (platforms/mastodon/map) on the real fixtures, through the shape dispatcher
 * (platforms/detect) too, plus boosts, edits, skips and malformed payloads. */
#include <stdlib.h>

#include <jansson.h>

#include "core/post_json.h"
#include "platforms/detect.h"
#include "platforms/mastodon/map.h"
#include "fixtures.h"
#include "t.h"
#include "util/buf.h"

#define GUARDIAN_URL                                                                               \
    "https://www.theguardian.com/money/2019/dec/07/"                                               \
    "i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code"

static json_t *load(const char *rel)
{
    return t_fixture("mastodon", rel);
}

/* Map with sb_mastodon_map_event and, for the same input, with the dispatcher: both must
 * agree (same type, skip kind and normalized JSON). Returns the map_event result. */
static enum sb_err map_both(const json_t *root, struct sb_event *ev, struct sb_errbuf *eb)
{
    struct sb_event ev2;
    struct sb_errbuf eb2 = {{0}};
    struct sb_buf a, b;
    sb_event_init(&ev2);
    sb_buf_init(&a, 0);
    sb_buf_init(&b, 0);
    enum sb_err e = sb_mastodon_map_event(root, ev, eb);
    enum sb_err e2 = sb_platform_map_json(root, &ev2, &eb2);
    T_INTEQ(e2, e);
    if (!e && !e2) {
        T_INTEQ(ev2.type, ev->type);
        T_CHECK(ev2.skip_kind == ev->skip_kind);
        T_INTEQ(ev2.cursor, ev->cursor);
        if (ev->type != SB_EVENT_SKIP && ev->type != SB_EVENT_DELETE) {
            sb_post_to_json(&ev->post, &a);
            sb_post_to_json(&ev2.post, &b);
            T_STREQ(a.data, b.data);
        }
    }
    sb_buf_free(&a);
    sb_buf_free(&b);
    sb_event_free(&ev2);
    return e;
}

static void test_status(void)
{
    struct sb_post p;
    struct sb_errbuf eb = {{0}};
    json_t *st = load("status.json");
    T_CHECK(sb_post_init(&p) == SB_OK);
    T_INTEQ(sb_mastodon_map_status(st, &p, &eb), SB_OK);
    T_INTEQ(p.platform, SB_PLATFORM_MASTODON);
    T_STREQ(p.id, "103270115826048975");
    T_STREQ(p.url, "https://mastodon.social/@Gargron/103270115826048975");
    T_STREQ(p.text,
            "\"I lost my inheritance with one wrong digit on my sort code\"\n\n" GUARDIAN_URL);
    T_CHECK(strstr(p.text, "\"I lost my inheritance") == p.text);
    T_CHECK(strstr(p.text, GUARDIAN_URL) != NULL);
    T_STREQ(p.lang, "en");
    T_STREQ(p.created_at, "2019-12-08T03:48:33.901Z");
    T_INTEQ(p.created_ms, 1575776913901LL);
    T_STREQ(p.visibility, "public");
    T_INTEQ(p.kind, SB_POST_MENTION);
    T_STREQ(p.thread, p.id);
    T_CHECK(p.in_reply_to == NULL && p.cid == NULL && p.thread_cid == NULL);
    T_INTEQ(p.n_mentions, 0);
    T_INTEQ(p.n_tags, 0);
    /* the content link and card.url are the same URL: one link */
    T_INTEQ(p.n_links, 1);
    T_CHECK(p.n_links == 1 && strcmp(p.links[0], GUARDIAN_URL) == 0);
    T_STREQ(p.author.id, "1");
    T_STREQ(p.author.handle, "Gargron");
    T_STREQ(p.author.name, "Eugen");
    T_INTEQ(p.author.followers, 322930);
    T_CHECK(p.author.verified); /* Homepage field has verified_at */
    T_CHECK(!p.author.bot);
    T_STREQ(p.author.created_at, "2016-03-16T14:34:26.392Z");

    /* url missing → uri; a content warning comes first; direct visibility → direct */
    json_object_set_new(st, "url", json_null());
    json_object_set_new(st, "spoiler_text", json_string("CW: money"));
    json_object_set_new(st, "visibility", json_string("direct"));
    T_INTEQ(sb_mastodon_map_status(st, &p, &eb), SB_OK);
    T_STREQ(p.url, "https://mastodon.social/users/Gargron/statuses/103270115826048975");
    T_CHECK(strncmp(p.text, "CW: money\n\n\"I lost", 18) == 0);
    T_INTEQ(p.kind, SB_POST_DIRECT);
    /* a content warning over an empty body is just the warning */
    json_object_set_new(st, "content", json_string("<p></p>"));
    T_INTEQ(sb_mastodon_map_status(st, &p, &eb), SB_OK);
    T_STREQ(p.text, "CW: money");

    /* a boost is not a post of its own */
    json_t *copy = json_deep_copy(st);
    json_object_set_new(st, "reblog", copy);
    T_INTEQ(sb_mastodon_map_status(st, &p, &eb), SB_ERR_SKIP);
    T_CHECK(strstr(eb.msg, "boost") != NULL);
    T_CHECK(p.id == NULL);

    json_decref(st);
    sb_post_free(&p);
}

/* What notification_mention.json holds, whichever way it arrives. */
static void check_trwnh_mention(const struct sb_event *ev)
{
    const struct sb_post *p = &ev->post;
    T_INTEQ(ev->type, SB_EVENT_POST);
    T_INTEQ(ev->cursor, 68739215); /* the notification id: min_id for catch-up */
    T_STREQ(p->id, "108914343542683797");
    T_STREQ(p->text, "@trwnh test");
    T_STREQ(p->url, "https://pl.nulled.red/objects/64b196c6-3bc5-44d5-8ffb-f760235ee6ca");
    T_STREQ(p->visibility, "unlisted");
    T_INTEQ(p->kind, SB_POST_MENTION);
    T_CHECK(p->lang == NULL);
    T_INTEQ(p->created_ms, 1661900992359LL);
    T_INTEQ(p->n_mentions, 1);
    if (p->n_mentions == 1) {
        T_STREQ(p->mentions[0].id, "14715");
        T_STREQ(p->mentions[0].handle, "trwnh");
    }
    T_INTEQ(p->n_links, 0); /* the mention link is not a link */
    T_STREQ(p->author.id, "108892712797543112");
    T_STREQ(p->author.handle, "a@pl.nulled.red");
    T_STREQ(p->author.name, "a");
    T_INTEQ(p->author.followers, 0);
    T_CHECK(p->author.bot);
    T_CHECK(!p->author.verified);
}

static void test_notification_mention(void)
{
    struct sb_event ev, ev2;
    struct sb_errbuf eb = {{0}};
    struct sb_buf a, b;
    sb_buf_init(&a, 0);
    sb_buf_init(&b, 0);
    T_CHECK(sb_event_init(&ev) == SB_OK);
    T_CHECK(sb_event_init(&ev2) == SB_OK);

    json_t *n = load("notification_mention.json");
    T_INTEQ(map_both(n, &ev, &eb), SB_OK);
    check_trwnh_mention(&ev);

    /* the same post through the streaming envelope */
    json_t *env = load("derived_streaming_ws_notification_mention_event.json");
    T_INTEQ(map_both(env, &ev2, &eb), SB_OK);
    check_trwnh_mention(&ev2);
    sb_post_to_json(&ev.post, &a);
    sb_post_to_json(&ev2.post, &b);
    T_STREQ(a.data, b.data);

    /* and the payload fixture on its own */
    json_t *pl = load("streaming_notification_mention_payload.json");
    T_INTEQ(map_both(pl, &ev2, &eb), SB_OK);
    check_trwnh_mention(&ev2);

    /* other notification types are skipped, unknown ones too */
    json_object_set_new(n, "type", json_string("favourite"));
    T_INTEQ(map_both(n, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_SKIP);
    T_STREQ(ev.skip_kind, "notification:favourite");
    T_CHECK(ev.post.id == NULL);
    json_object_set_new(n, "type", json_string("admin.sign_up"));
    T_INTEQ(map_both(n, &ev, &eb), SB_OK);
    T_STREQ(ev.skip_kind, "notification:admin.sign_up");
    json_object_set_new(n, "type", json_string("brand_new_type"));
    T_INTEQ(map_both(n, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_SKIP);
    T_STREQ(ev.skip_kind, "notification:unknown");

    /* a mention without its status is malformed */
    json_object_set_new(n, "type", json_string("mention"));
    json_object_del(n, "status");
    T_INTEQ(map_both(n, &ev, &eb), SB_ERR_SCHEMA);

    json_decref(n);
    json_decref(env);
    json_decref(pl);
    sb_buf_free(&a);
    sb_buf_free(&b);
    sb_event_free(&ev);
    sb_event_free(&ev2);
}

static void test_update_event(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);
    json_t *env = load("streaming_ws_update_event.json");
    T_INTEQ(map_both(env, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_POST);
    T_STREQ(ev.post.id, "108913983692647032");
    T_STREQ(ev.post.in_reply_to, "108913981098896721");
    T_STREQ(ev.post.thread, "108913981098896721");
    T_INTEQ(ev.post.kind, SB_POST_REPLY);
    T_STREQ(ev.post.text, "And now I can't exit the inner nvim because I mapped escape to the "
                          "parent vim instance \xf0\x9f\x98\x82");
    T_STREQ(ev.post.author.name, "TobTobXX");
    T_STREQ(ev.post.author.handle, "tobtobxx@fosstodon.org");
    T_INTEQ(ev.post.author.followers, 150);
    T_INTEQ(ev.cursor, 0);

    /* a boost on the update stream is skipped */
    json_t *st = load("status.json");
    json_object_set_new(st, "reblog", json_deep_copy(st));
    char *s = json_dumps(st, JSON_COMPACT);
    json_object_set_new(env, "payload", json_string(s));
    T_INTEQ(map_both(env, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_SKIP);
    T_STREQ(ev.skip_kind, "update:reblog");
    /* and as a bare status */
    T_INTEQ(map_both(st, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_SKIP);
    T_STREQ(ev.skip_kind, "reblog");
    free(s);
    json_decref(st);
    json_decref(env);
    sb_event_free(&ev);
}

static void test_status_update(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);

    /* the payload alone is a bare Status: a post */
    json_t *st = load("streaming_status_update_payload.json");
    T_INTEQ(map_both(st, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_POST);
    T_STREQ(ev.post.id, "109348677773283527");
    T_STREQ(ev.post.text, "edited");
    T_STREQ(ev.post.author.name, "admin"); /* empty display_name → username */
    T_STREQ(ev.post.author.handle, "admin");

    /* inside a status.update frame it is an edit */
    char *s = json_dumps(st, JSON_COMPACT);
    json_t *env =
        json_pack("{s:[s],s:s,s:s}", "stream", "user", "event", "status.update", "payload", s);
    T_INTEQ(map_both(env, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_UPDATE);
    T_STREQ(ev.post.id, "109348677773283527");
    T_STREQ(ev.post.text, "edited");
    T_STREQ(ev.post.url, "http://mastodon.local/@admin/109348677773283527");
    free(s);
    json_decref(env);
    json_decref(st);
    sb_event_free(&ev);
}

static void test_delete_and_skips(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);

    json_t *del = load("streaming_ws_delete_event.json");
    T_INTEQ(map_both(del, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_DELETE);
    T_INTEQ(ev.post.platform, SB_PLATFORM_MASTODON);
    T_STREQ(ev.post.id, "106692867363994015");
    json_decref(del);

    json_t *fc = load("streaming_ws_filters_changed_event.json");
    T_INTEQ(map_both(fc, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_SKIP);
    T_STREQ(ev.skip_kind, "filters_changed");
    T_CHECK(ev.post.id == NULL);
    json_decref(fc);

    const char *names[] = {"conversation", "notifications_merged", "announcement",
                           "announcement.reaction", "announcement.delete"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        json_t *env =
            json_pack("{s:[s],s:s,s:s}", "stream", "user", "event", names[i], "payload", "{}");
        T_INTEQ(map_both(env, &ev, &eb), SB_OK);
        T_INTEQ(ev.type, SB_EVENT_SKIP);
        T_STREQ(ev.skip_kind, names[i]);
        json_decref(env);
    }
    json_t *env = json_pack("{s:[s],s:s}", "stream", "user", "event", "something.new");
    T_INTEQ(map_both(env, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_SKIP);
    T_STREQ(ev.skip_kind, "unknown");
    json_decref(env);
    sb_event_free(&ev);
}

static void expect(json_t *root, enum sb_err want, const char *msg_part)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);
    T_INTEQ(map_both(root, &ev, &eb), want);
    if (msg_part) {
        T_CHECK(strstr(eb.msg, msg_part) != NULL);
        if (!strstr(eb.msg, msg_part))
            fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", eb.msg, msg_part);
    }
    T_CHECK(ev.post.id == NULL && ev.post.text == NULL); /* left reset */
    json_decref(root);
    sb_event_free(&ev);
}

static void test_malformed(void)
{
    /* payload strings that are not JSON */
    expect(json_pack("{s:[s],s:s,s:s}", "stream", "user", "event", "update", "payload",
                     "{\"id\":\"1\",\"content\":"),
           SB_ERR_JSON, "not valid JSON");
    expect(json_pack("{s:[s],s:s,s:s}", "stream", "user", "event", "notification", "payload",
                     "not json at all"),
           SB_ERR_JSON, "\"notification\" event");
    /* payload of the wrong type */
    expect(json_pack("{s:[s],s:s,s:{}}", "stream", "user", "event", "update", "payload"),
           SB_ERR_SCHEMA, "payload");
    expect(json_pack("{s:[s],s:s,s:s}", "stream", "user", "event", "update", "payload", "[1]"),
           SB_ERR_SCHEMA, "not a JSON object");
    expect(json_pack("{s:[s],s:s}", "stream", "user", "event", "update"), SB_ERR_SCHEMA, "payload");
    expect(json_pack("{s:[s],s:s,s:s}", "stream", "user", "event", "update", "payload", "{}"),
           SB_ERR_SCHEMA, NULL);
    expect(json_pack("{s:[s],s:s}", "stream", "public", "event", "delete"), SB_ERR_SCHEMA,
           "delete");
    expect(json_pack("{s:[s],s:s,s:i}", "stream", "public", "event", "delete", "payload", 5),
           SB_ERR_SCHEMA, "delete");
    /* an oversized payload is refused before parsing */
    char *big = malloc(SB_MASTODON_PAYLOAD_MAX + 2);
    memset(big, ' ', SB_MASTODON_PAYLOAD_MAX + 1);
    big[SB_MASTODON_PAYLOAD_MAX + 1] = 0;
    expect(json_pack("{s:[s],s:s,s:s}", "stream", "user", "event", "update", "payload", big),
           SB_ERR_TOOBIG, "maximum");
    free(big);
    /* shapes that are not Mastodon at all */
    expect(json_pack("[]"), SB_ERR_SCHEMA, NULL);
    expect(json_pack("{s:s}", "hello", "world"), SB_ERR_SCHEMA, NULL);

    /* a status without id, or with an account without id */
    json_t *st = load("status.json");
    json_object_del(st, "id");
    expect(st, SB_ERR_SCHEMA, "status.id");
    st = load("status.json");
    json_object_del(json_object_get(st, "account"), "id");
    expect(st, SB_ERR_SCHEMA, "account.id");
    st = load("status.json");
    json_object_set_new(st, "mentions", json_string("nope"));
    expect(st, SB_ERR_SCHEMA, "mentions");
    /* invalid UTF-8 can only come from a json_t built in C; it is still refused */
    st = load("status.json");
    json_object_set_new(st, "content", json_string_nocheck("<p>\xff</p>"));
    expect(st, SB_ERR_UTF8, "UTF-8");
    st = load("status.json");
    json_object_set_new(json_object_get(st, "account"), "display_name",
                        json_string_nocheck("\xc3("));
    expect(st, SB_ERR_UTF8, "display_name");
    /* text past SB_POST_TEXT_MAX */
    st = load("status.json");
    char *huge = malloc(SB_POST_TEXT_MAX + 16);
    strcpy(huge, "<p>");
    memset(huge + 3, 'x', SB_POST_TEXT_MAX + 1);
    strcpy(huge + 3 + SB_POST_TEXT_MAX + 1, "</p>");
    json_object_set_new(st, "content", json_string(huge));
    expect(st, SB_ERR_TOOBIG, NULL);
    free(huge);
}

static void test_messy_html_content(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);
    json_t *st = load("status.json");
    json_object_set_new(st, "content",
                        json_string("<p>5 &amp;lt; 6 &#x1F600; <b>unclosed <a href=\"https://x."
                                    "example/p\">link<p>next &quot;para"));
    json_object_set_new(st, "card", json_null());
    json_object_set_new(st, "tags", json_pack("[{s:s},{s:s}]", "name", "cats", "name", "dogs"));
    T_INTEQ(map_both(st, &ev, &eb), SB_OK);
    T_STREQ(ev.post.text, "5 &lt; 6 \xf0\x9f\x98\x80 unclosed link\n\nnext \"para");
    T_INTEQ(ev.post.n_links, 1);
    T_CHECK(ev.post.n_links == 1 && strcmp(ev.post.links[0], "https://x.example/p") == 0);
    T_INTEQ(ev.post.n_tags, 2);
    T_CHECK(ev.post.n_tags == 2 && strcmp(ev.post.tags[1], "dogs") == 0);
    json_decref(st);
    sb_event_free(&ev);
}

int main(void)
{
    T_RUN(test_status);
    T_RUN(test_notification_mention);
    T_RUN(test_update_event);
    T_RUN(test_status_update);
    T_RUN(test_delete_and_skips);
    T_RUN(test_malformed);
    T_RUN(test_messy_html_content);
    T_DONE();
}
