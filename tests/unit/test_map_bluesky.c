/* test_map_bluesky.c — Jetstream v1 events → event (platforms/bluesky/map) on the real
 * fixtures and the 152-event production corpus, through the shape dispatcher
 * (platforms/detect) too, plus facet bounds, invalid UTF-8 and malformed commits. */
#include <stdlib.h>

#include <jansson.h>

#include "core/post_json.h"
#include "platforms/bluesky/map.h"
#include "platforms/detect.h"
#include "fixtures.h"
#include "t.h"
#include "util/buf.h"

static json_t *load(const char *rel)
{
    return t_fixture("bluesky", rel);
}

/* Map with sb_bluesky_map_event and with the dispatcher; both must agree. */
static enum sb_err map_both(const json_t *root, struct sb_event *ev, struct sb_errbuf *eb)
{
    struct sb_event ev2;
    struct sb_buf a, b;
    sb_event_init(&ev2);
    sb_buf_init(&a, 0);
    sb_buf_init(&b, 0);
    enum sb_err e = sb_bluesky_map_event(root, ev, eb);
    T_INTEQ(sb_platform_map_json(root, &ev2, NULL), e);
    if (!e) {
        T_INTEQ(ev2.type, ev->type);
        T_CHECK(ev2.skip_kind == ev->skip_kind);
        T_INTEQ(ev2.cursor, ev->cursor);
        if (ev->type == SB_EVENT_POST || ev->type == SB_EVENT_UPDATE) {
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

static void test_create_post(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);
    json_t *j = load("jetstream_commit_create_post.json");
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    const struct sb_post *p = &ev.post;
    T_INTEQ(ev.type, SB_EVENT_POST);
    T_INTEQ(ev.cursor, 1783175888303926LL);
    T_INTEQ(p->platform, SB_PLATFORM_BLUESKY);
    T_STREQ(p->id, "at://did:plc:zcxfgub447re7p3vuvlw37wy/app.bsky.feed.post/3mptbypjm6224");
    T_STREQ(p->cid, "bafyreigiksavyu3f7jfhyp2h4zbgfonatvrqqoovyqtimptz5534goh5xa");
    T_STREQ(p->url, "https://bsky.app/profile/did:plc:zcxfgub447re7p3vuvlw37wy/post/3mptbypjm6224");
    T_CHECK(strncmp(p->text, "Mount Rushmore and that", 23) == 0);
    T_CHECK(strstr(p->text, "past. It\xe2\x80\x99s betrayal. Nothing else.") != NULL);
    T_STREQ(p->lang, "en");
    T_STREQ(p->created_at, "2026-07-04T14:38:07.440Z");
    T_INTEQ(p->created_ms, 1783175887440LL);
    T_STREQ(p->visibility, "public");
    T_INTEQ(p->kind, SB_POST_MENTION);
    T_STREQ(p->thread, p->id);
    T_STREQ(p->thread_cid, p->cid);
    T_CHECK(p->in_reply_to == NULL && p->in_reply_to_cid == NULL);
    T_INTEQ(p->n_mentions + p->n_tags + p->n_links, 0);
    T_STREQ(p->author.id, "did:plc:zcxfgub447re7p3vuvlw37wy");
    T_CHECK(p->author.name == NULL); /* Jetstream has no profile: the name is unknown */
    T_CHECK(p->author.handle == NULL);
    T_INTEQ(p->author.followers, -1);
    T_CHECK(!p->author.bot && !p->author.verified);

    /* the same record as an update is an edit */
    json_object_set_new(json_object_get(j, "commit"), "operation", json_string("update"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_UPDATE);
    T_STREQ(ev.post.id, "at://did:plc:zcxfgub447re7p3vuvlw37wy/app.bsky.feed.post/3mptbypjm6224");
    json_decref(j);
    sb_event_free(&ev);
}

static void test_reply(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);
    json_t *j = load("jetstream_commit_create_post_reply.json");
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    const struct sb_post *p = &ev.post;
    T_INTEQ(ev.type, SB_EVENT_POST);
    T_INTEQ(p->kind, SB_POST_REPLY);
    T_STREQ(p->text, "\xec\x9d\xb4\xec\x81\x98\xec\x8b\x9c\xeb\x84\xa4\xec\x9a\xa9~~~");
    T_STREQ(p->lang, "ko");
    T_STREQ(p->in_reply_to,
            "at://did:plc:i5y2f3gtpjxs3qg6fwgb6jb4/app.bsky.feed.post/3mpt7u2vlgs2c");
    T_STREQ(p->in_reply_to_cid, "bafyreifzanogmt75wega3mdkjqiv5rg6usowy6hr3nrlvioezvu7jur3cq");
    T_STREQ(p->thread, "at://did:plc:i5y2f3gtpjxs3qg6fwgb6jb4/app.bsky.feed.post/3mpt7u2vlgs2c");
    T_STREQ(p->thread_cid, "bafyreifzanogmt75wega3mdkjqiv5rg6usowy6hr3nrlvioezvu7jur3cq");

    /* root and parent differ: thread is the root, in_reply_to the parent */
    json_t *reply =
        json_object_get(json_object_get(json_object_get(j, "commit"), "record"), "reply");
    json_object_set_new(
        reply, "root",
        json_pack("{s:s,s:s}", "uri", "at://did:plc:r/app.bsky.feed.post/root", "cid", "bafyroot"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_STREQ(ev.post.thread, "at://did:plc:r/app.bsky.feed.post/root");
    T_STREQ(ev.post.thread_cid, "bafyroot");
    T_STREQ(ev.post.in_reply_to,
            "at://did:plc:i5y2f3gtpjxs3qg6fwgb6jb4/app.bsky.feed.post/3mpt7u2vlgs2c");
    /* a reply without a parent is malformed */
    json_object_del(reply, "parent");
    T_INTEQ(map_both(j, &ev, &eb), SB_ERR_SCHEMA);
    T_CHECK(strstr(eb.msg, "parent") != NULL);
    json_decref(j);
    sb_event_free(&ev);
}

static void test_facets(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);

    json_t *j = load("jetstream_commit_create_post_link_facet.json");
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_STREQ(ev.post.text, "www.youtube.com/watch?v=V5lD...");
    T_INTEQ(ev.post.n_links, 1); /* facet and external embed are the same URL */
    T_CHECK(ev.post.n_links == 1 &&
            strcmp(ev.post.links[0], "https://www.youtube.com/watch?v=V5lDo-jw8mA") == 0);
    json_decref(j);

    j = load("jetstream_commit_create_post_tag_facets.json");
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_STREQ(ev.post.lang, "de");
    T_INTEQ(ev.post.n_tags, 2);
    if (ev.post.n_tags == 2) {
        T_STREQ(ev.post.tags[0], "HowToTellAiToShutUp");
        T_STREQ(ev.post.tags[1], "IndieRebellion");
    }
    json_decref(j);

    j = load("derived_jetstream_commit_post_with_mention.json");
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    const struct sb_post *p = &ev.post;
    T_INTEQ(ev.type, SB_EVENT_POST);
    T_INTEQ(ev.cursor, 1691456621157302LL);
    T_STREQ(p->id, "at://did:plc:u5cwb2mwiv2bfq53cjufe6yn/app.bsky.feed.post/3k4duaz5vfs2b");
    T_STREQ(p->cid, "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm");
    T_CHECK(strncmp(p->text, "\xe2\x9c\xa8 example mentioning @atproto.com", 35) == 0);
    T_CHECK(p->lang == NULL);
    T_INTEQ(p->created_ms, 1691456621157LL);
    T_INTEQ(p->n_mentions, 1);
    if (p->n_mentions == 1) {
        T_STREQ(p->mentions[0].id, "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
        T_STREQ(p->mentions[0].handle, "atproto.com");
    }
    T_INTEQ(p->n_links, 1);
    T_CHECK(p->n_links == 1 && strcmp(p->links[0], "https://en.wikipedia.org/wiki/CBOR") == 0);

    /* facets out of range or splitting a character are skipped, the post still maps */
    json_t *rec = json_object_get(json_object_get(j, "commit"), "record");
    json_t *facets = json_object_get(rec, "facets");
    json_t *mention_index = json_object_get(json_array_get(facets, 0), "index");
    json_t *link_index = json_object_get(json_array_get(facets, 1), "index");
    json_object_set_new(link_index, "byteEnd", json_integer(100000)); /* beyond the text */
    json_object_set_new(mention_index, "byteStart", json_integer(1)); /* inside "✨" */
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_POST);
    T_INTEQ(ev.post.n_mentions, 0);
    T_INTEQ(ev.post.n_links, 0);
    size_t len = strlen(ev.post.text);
    json_object_set_new(link_index, "byteEnd", json_integer((json_int_t)len + 1));
    json_object_set_new(mention_index, "byteStart", json_integer(30));
    json_object_set_new(mention_index, "byteEnd", json_integer(23)); /* reversed */
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_INTEQ(ev.post.n_mentions + ev.post.n_links, 0);
    json_object_set_new(link_index, "byteStart", json_integer(-5));
    json_object_set_new(link_index, "byteEnd", json_integer(3));
    json_object_set_new(mention_index, "byteStart", json_string("23"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_INTEQ(ev.post.n_mentions + ev.post.n_links, 0);
    /* byteEnd exactly at the end of the text is valid */
    json_object_set_new(link_index, "byteStart", json_integer(74));
    json_object_set_new(link_index, "byteEnd", json_integer((json_int_t)len));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_INTEQ(ev.post.n_links, 1);
    /* a mention facet whose did is not a DID is ignored; garbage features too */
    json_object_set_new(mention_index, "byteStart", json_integer(23));
    json_object_set_new(mention_index, "byteEnd", json_integer(35));
    json_t *feat = json_array_get(json_object_get(json_array_get(facets, 0), "features"), 0);
    json_object_set_new(feat, "did", json_string("not a did/../x"));
    json_array_append_new(json_object_get(json_array_get(facets, 0), "features"),
                          json_pack("{s:i}", "$type", 7));
    json_array_append_new(facets, json_string("not a facet"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_INTEQ(ev.post.n_mentions, 0);
    /* outline tags count as tags, with or without '#', deduplicated */
    json_object_set_new(rec, "tags", json_pack("[s,s,s]", "#cbor", "cbor", "atproto"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_INTEQ(ev.post.n_tags, 2);
    json_decref(j);
    sb_event_free(&ev);
}

static void test_delete_and_skips(void)
{
    struct sb_event ev;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);

    json_t *j = load("jetstream_commit_delete_post.json");
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_INTEQ(ev.type, SB_EVENT_DELETE);
    T_INTEQ(ev.post.platform, SB_PLATFORM_BLUESKY);
    T_STREQ(ev.post.id, "at://did:plc:4smmjsqf6l5jkzczvw6vsrqc/app.bsky.feed.post/3mpt73z3ejc2p");
    T_INTEQ(ev.cursor, 1783175888377628LL);
    json_decref(j);

    struct {
        const char *file, *kind;
        long long cursor;
    } skips[] = {
        {"jetstream_commit_create_like.json", "commit:app.bsky.feed.like", 1783175888085434LL},
        {"jetstream_identity.json", "identity", 1783175888384849LL},
        {"jetstream_account.json", "account", 1783175888390226LL},
    };
    for (size_t i = 0; i < sizeof skips / sizeof *skips; i++) {
        j = load(skips[i].file);
        T_INTEQ(map_both(j, &ev, &eb), SB_OK);
        T_INTEQ(ev.type, SB_EVENT_SKIP);
        T_STREQ(ev.skip_kind, skips[i].kind);
        T_INTEQ(ev.cursor, skips[i].cursor);
        T_CHECK(ev.post.id == NULL);
        json_decref(j);
    }

    /* unknown collections, operations and kinds are skips, never errors */
    j = load("jetstream_commit_create_like.json");
    json_t *c = json_object_get(j, "commit");
    json_object_set_new(c, "collection", json_string("fm.teal.alpha.actor.status"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_STREQ(ev.skip_kind, "commit:other");
    json_object_set_new(c, "collection", json_string("app.bsky.feed.post"));
    json_object_set_new(c, "operation", json_string("frobnicate"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_STREQ(ev.skip_kind, "commit:app.bsky.feed.post");
    json_object_set_new(j, "kind", json_string("sync"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_STREQ(ev.skip_kind, "sync");
    json_object_set_new(j, "kind", json_string("brand-new"));
    T_INTEQ(map_both(j, &ev, &eb), SB_OK);
    T_STREQ(ev.skip_kind, "unknown");
    json_decref(j);
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
    T_CHECK(ev.post.id == NULL && ev.post.text == NULL && ev.cursor == 0); /* left reset */
    json_decref(root);
    sb_event_free(&ev);
}

static json_t *post_event(void)
{
    return load("jetstream_commit_create_post.json");
}

static json_t *record_of(json_t *j)
{
    return json_object_get(json_object_get(j, "commit"), "record");
}

static void test_malformed(void)
{
    json_t *j = post_event();
    json_object_set_new(record_of(j), "text", json_string_nocheck("bad \xf0\x28\x8c\x28 utf8"));
    expect(j, SB_ERR_UTF8, "record.text");

    j = post_event();
    json_object_set_new(record_of(j), "text", json_stringn_nocheck("nul\0inside", 10));
    expect(j, SB_ERR_UTF8, "UTF-8");

    j = post_event();
    char *big = malloc(SB_POST_TEXT_MAX + 2);
    memset(big, 'b', SB_POST_TEXT_MAX + 1);
    big[SB_POST_TEXT_MAX + 1] = 0;
    json_object_set_new(record_of(j), "text", json_string(big));
    expect(j, SB_ERR_TOOBIG, "record.text");
    free(big);

    j = post_event();
    json_object_del(record_of(j), "text");
    expect(j, SB_ERR_SCHEMA, "record.text");

    j = post_event();
    json_object_del(json_object_get(j, "commit"), "record");
    expect(j, SB_ERR_SCHEMA, "record");

    j = post_event();
    json_object_set_new(json_object_get(j, "commit"), "rkey", json_string("../../x"));
    expect(j, SB_ERR_SCHEMA, "rkey");

    j = post_event();
    json_object_set_new(j, "did", json_string("did:plc:x/../../evil"));
    expect(j, SB_ERR_SCHEMA, "did");

    j = post_event();
    json_object_del(j, "time_us");
    expect(j, SB_ERR_SCHEMA, "time_us");

    j = post_event();
    json_object_set_new(j, "commit", json_string("nope"));
    expect(j, SB_ERR_SCHEMA, "commit");

    expect(json_pack("[]"), SB_ERR_SCHEMA, NULL);
}

/* The production corpus: every line maps, 17 post creates, 1 post delete, the rest skips. */
static void test_corpus(void)
{
    FILE *f = fopen(SB_FIXTURES "/bluesky/jetstream_corpus_v1.jsonl", "r");
    T_CHECK(f != NULL);
    if (!f)
        return;
    struct sb_event ev, back;
    struct sb_errbuf eb = {{0}};
    T_CHECK(sb_event_init(&ev) == SB_OK);
    T_CHECK(sb_event_init(&back) == SB_OK);
    int lines = 0, posts = 0, updates = 0, deletes = 0, skips = 0, errors = 0, roundtrip_bad = 0;
    static char line[1 << 16];
    struct sb_buf js;
    sb_buf_init(&js, 0);
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        T_CHECK(n < sizeof line - 1); /* no line was cut */
        if (n <= 1)
            continue;
        lines++;
        json_error_t jerr;
        json_t *j = json_loadb(line, n, 0, &jerr);
        if (!j) {
            errors++;
            fprintf(stderr, "  line %d: %s\n", lines, jerr.text);
            continue;
        }
        enum sb_err e = map_both(j, &ev, &eb);
        if (e) {
            errors++;
            fprintf(stderr, "  line %d: %s: %s\n", lines, sb_strerror(e), eb.msg);
        } else if (ev.type == SB_EVENT_POST) {
            posts++;
            /* every mapped post survives the normalized JSON round-trip */
            sb_buf_reset(&js);
            sb_post_to_json(&ev.post, &js);
            json_t *pj = json_loadb(js.data, js.len, 0, NULL);
            if (!pj || sb_post_from_json(pj, &back.post, NULL) ||
                strcmp(back.post.text, ev.post.text) != 0 || strcmp(back.post.id, ev.post.id) != 0)
                roundtrip_bad++;
            json_decref(pj);
        } else if (ev.type == SB_EVENT_UPDATE) {
            updates++;
        } else if (ev.type == SB_EVENT_DELETE) {
            deletes++;
        } else {
            skips++;
            T_CHECK(ev.skip_kind != NULL);
        }
        T_INTEQ(ev.cursor, json_integer_value(json_object_get(j, "time_us")));
        json_decref(j);
    }
    fclose(f);
    T_INTEQ(lines, 152);
    T_INTEQ(posts, 17);
    T_INTEQ(deletes, 1);
    T_INTEQ(updates, 0);
    T_INTEQ(errors, 0);
    T_INTEQ(skips, lines - posts - deletes);
    T_INTEQ(roundtrip_bad, 0);
    sb_buf_free(&js);
    sb_event_free(&ev);
    sb_event_free(&back);
}

int main(void)
{
    T_RUN(test_create_post);
    T_RUN(test_reply);
    T_RUN(test_facets);
    T_RUN(test_delete_and_skips);
    T_RUN(test_malformed);
    T_RUN(test_corpus);
    T_DONE();
}
