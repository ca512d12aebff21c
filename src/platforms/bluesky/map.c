/* bluesky/map.c — Jetstream v1 event → sb_event (reference/platforms.md §2.1, §2.2).
 * Facets are UTF-8 byte ranges into the post text; they are bounds-checked here because
 * they come from any PDS on the network. Pure: the caller owns the JSON and the event.
 * Depends on jansson, core/post_json (checked string copies), core/utf8. */
#include "platforms/bluesky/map.h"

#include <stdio.h>
#include <string.h>

#include "core/post_json.h"
#include "core/utf8.h"

#define POST_NSID "app.bsky.feed.post"
#define DID_MAX 2048 /* atproto DID syntax limit */
#define RKEY_MAX 512 /* atproto record-key syntax limit */

/* ---- static names for skip_kind (it must outlive the event) ---------------------------- */

struct name {
    const char *wire, *skip;
};

/* clang-format off */
#define COLL(c) {c, "commit:" c}
/* clang-format on */
static const struct name collections[] = {
    COLL("app.bsky.feed.post"),
    COLL("app.bsky.feed.like"),
    COLL("app.bsky.feed.repost"),
    COLL("app.bsky.feed.threadgate"),
    COLL("app.bsky.feed.postgate"),
    COLL("app.bsky.feed.generator"),
    COLL("app.bsky.graph.follow"),
    COLL("app.bsky.graph.block"),
    COLL("app.bsky.graph.list"),
    COLL("app.bsky.graph.listitem"),
    COLL("app.bsky.graph.listblock"),
    COLL("app.bsky.graph.starterpack"),
    COLL("app.bsky.graph.verification"),
    COLL("app.bsky.actor.profile"),
    COLL("app.bsky.actor.status"),
    COLL("app.bsky.labeler.service"),
    COLL("app.bsky.notification.declaration"),
    COLL("chat.bsky.actor.declaration"),
};
#undef COLL

static const struct name kinds[] = {
    {"identity", "identity"},
    {"account", "account"},
    {"sync", "sync"},
};

static const char *lookup(const struct name *t, size_t n, const char *wire, const char *other)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].wire, wire) == 0)
            return t[i].skip;
    return other;
}

/* ---- identifiers ----------------------------------------------------------------------- */

/* did:method:id with the characters the DID syntax allows; they end up inside URLs. */
static bool did_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 5 || n > DID_MAX || strncmp(s, "did:", 4) != 0)
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("._:%-", *c)))
            return false;
    return true;
}

static bool rkey_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > RKEY_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("._:~-", *c)))
            return false;
    return true;
}

/* printf into the post's arena (short, bounded strings: URIs built from checked ids). */
static const char *arena_printf(struct sb_post *p, const char *fmt, const char *a, const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    if (n < 0)
        return NULL;
    char *s = sb_arena_alloc(p->arena, (size_t)n + 1);
    if (s)
        snprintf(s, (size_t)n + 1, fmt, a, b);
    return s;
}

/* ---- lists (fixed capacity SB_POST_LIST_MAX, deduplicated) ------------------------------ */

/* Add the JSON string v (copied, checked) to a string list; wrong types are skipped since
 * one odd facet must not lose the post. */
static enum sb_err add_str(struct sb_post *p, const char **v, size_t *n, const json_t *js,
                           bool strip_hash, struct sb_errbuf *eb)
{
    const char *s = json_string_value(js);
    size_t len = json_string_length(js);
    if (!s || *n >= SB_POST_LIST_MAX)
        return SB_OK;
    if (strip_hash && len && *s == '#') {
        s++;
        len--;
    }
    if (!len || len > SB_POST_FIELD_MAX || !sb_utf8_valid(s, len))
        return SB_OK;
    for (size_t i = 0; i < *n; i++)
        if (strlen(v[i]) == len && memcmp(v[i], s, len) == 0)
            return SB_OK;
    if (!(v[*n] = sb_arena_strndup(p->arena, s, len)))
        return sb_errf(eb, SB_ERR_NOMEM, "post: out of memory");
    (*n)++;
    return SB_OK;
}

static enum sb_err add_mention(struct sb_post *p, struct sb_mention *m, const json_t *did,
                               const char *text, size_t start, size_t end, struct sb_errbuf *eb)
{
    const char *d = json_string_value(did);
    if (!d || !did_ok(d) || p->n_mentions >= SB_POST_LIST_MAX)
        return SB_OK;
    for (size_t i = 0; i < p->n_mentions; i++)
        if (strcmp(m[i].id, d) == 0)
            return SB_OK;
    if (text[start] == '@')
        start++;
    struct sb_mention *x = &m[p->n_mentions];
    x->id = sb_arena_strdup(p->arena, d);
    x->handle = start < end ? sb_arena_strndup(p->arena, text + start, end - start) : NULL;
    if (!x->id || (start < end && !x->handle))
        return sb_errf(eb, SB_ERR_NOMEM, "post: out of memory");
    p->n_mentions++;
    return SB_OK;
}

/* One facet: a byte range of the text and the features it carries. */
static enum sb_err map_facet(struct sb_post *p, struct sb_mention *mentions, const char **tags,
                             const char **links, const json_t *facet, struct sb_errbuf *eb)
{
    const json_t *index = json_object_get(facet, "index");
    const json_t *bs = json_object_get(index, "byteStart");
    const json_t *be = json_object_get(index, "byteEnd");
    const json_t *features = json_object_get(facet, "features");
    size_t len = strlen(p->text);
    enum sb_err e = SB_OK;
    if (!json_is_integer(bs) || !json_is_integer(be) || !json_is_array(features))
        return SB_OK;
    json_int_t s = json_integer_value(bs), t = json_integer_value(be);
    if (s < 0 || t <= s || (uint64_t)t > len)
        return SB_OK; /* outside the text: skipped, not trusted */
    /* a range that splits a UTF-8 character is as invalid as one outside the text */
    if (!sb_utf8_valid(p->text + s, (size_t)(t - s)))
        return SB_OK;
    for (size_t i = 0; !e && i < json_array_size(features); i++) {
        const json_t *f = json_array_get(features, i);
        const char *type = json_string_value(json_object_get(f, "$type"));
        if (!type)
            continue;
        if (strcmp(type, "app.bsky.richtext.facet#mention") == 0)
            e = add_mention(p, mentions, json_object_get(f, "did"), p->text, (size_t)s, (size_t)t,
                            eb);
        else if (strcmp(type, "app.bsky.richtext.facet#link") == 0)
            e = add_str(p, links, &p->n_links, json_object_get(f, "uri"), false, eb);
        else if (strcmp(type, "app.bsky.richtext.facet#tag") == 0)
            e = add_str(p, tags, &p->n_tags, json_object_get(f, "tag"), true, eb);
    }
    return e;
}

static enum sb_err map_lists(struct sb_post *p, const json_t *record, struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    struct sb_mention *mentions = sb_arena_alloc(p->arena, SB_POST_LIST_MAX * sizeof *mentions);
    const char **tags = sb_arena_alloc(p->arena, SB_POST_LIST_MAX * sizeof *tags);
    const char **links = sb_arena_alloc(p->arena, SB_POST_LIST_MAX * sizeof *links);
    if (!mentions || !tags || !links)
        return sb_errf(eb, SB_ERR_NOMEM, "post: out of memory");
    p->mentions = mentions;
    p->tags = tags;
    p->links = links;
    const json_t *facets = json_object_get(record, "facets");
    for (size_t i = 0; !e && json_is_array(facets) && i < json_array_size(facets); i++)
        e = map_facet(p, mentions, tags, links, json_array_get(facets, i), eb);
    /* outline tags (not in the text) count as tags too */
    const json_t *rtags = json_object_get(record, "tags");
    for (size_t i = 0; !e && json_is_array(rtags) && i < json_array_size(rtags); i++)
        e = add_str(p, tags, &p->n_tags, json_array_get(rtags, i), true, eb);
    /* a link card is Bluesky's Mastodon `card` */
    const json_t *embed = json_object_get(record, "embed");
    const char *etype = json_string_value(json_object_get(embed, "$type"));
    if (!e && etype && strcmp(etype, "app.bsky.embed.external") == 0)
        e = add_str(p, links, &p->n_links,
                    json_object_get(json_object_get(embed, "external"), "uri"), false, eb);
    return e;
}

/* ---- the post record -------------------------------------------------------------------- */

static enum sb_err map_reply(struct sb_post *p, const json_t *reply, struct sb_errbuf *eb)
{
    const json_t *root = json_object_get(reply, "root");
    const json_t *parent = json_object_get(reply, "parent");
    const size_t fm = SB_POST_FIELD_MAX;
    enum sb_err e;
    if (!json_is_object(parent))
        return sb_errf(eb, SB_ERR_SCHEMA, "record.reply.parent: required object is missing");
    if ((e = sb_post_json_string_copy(p, json_object_get(parent, "uri"), fm,
                                      "record.reply.parent.uri", &p->in_reply_to, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(parent, "cid"), fm,
                                      "record.reply.parent.cid", &p->in_reply_to_cid, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(root, "uri"), fm, "record.reply.root.uri",
                                      &p->thread, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(root, "cid"), fm, "record.reply.root.cid",
                                      &p->thread_cid, eb)))
        return e;
    if (!p->in_reply_to)
        return sb_errf(eb, SB_ERR_SCHEMA, "record.reply.parent.uri: required string is missing");
    if (!p->thread) { /* no root given: the parent is the best root we know */
        p->thread = p->in_reply_to;
        p->thread_cid = p->in_reply_to_cid;
    }
    p->kind = SB_POST_REPLY;
    return SB_OK;
}

static enum sb_err map_post(const char *did, const char *rkey, const json_t *commit,
                            struct sb_event *ev, struct sb_errbuf *eb)
{
    struct sb_post *p = &ev->post;
    const json_t *record = json_object_get(commit, "record");
    const size_t fm = SB_POST_FIELD_MAX;
    enum sb_err e;
    if (!json_is_object(record))
        return sb_errf(eb, SB_ERR_SCHEMA, "commit.record: required object is missing");
    if ((e = sb_post_json_string_copy(p, json_object_get(record, "text"), SB_POST_TEXT_MAX,
                                      "record.text", &p->text, eb)))
        return e;
    if (!p->text)
        return sb_errf(eb, SB_ERR_SCHEMA, "record.text: required string is missing");
    const json_t *langs = json_object_get(record, "langs");
    const json_t *lang0 = json_is_array(langs) ? json_array_get(langs, 0) : NULL;
    if ((e = sb_post_json_string_copy(p, json_object_get(commit, "cid"), fm, "commit.cid", &p->cid,
                                      eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(record, "createdAt"), fm,
                                      "record.createdAt", &p->created_at, eb)) ||
        (e = sb_post_json_string_copy(p, json_is_string(lang0) ? lang0 : NULL, fm,
                                      "record.langs[0]", &p->lang, eb)))
        return e;
    p->url = arena_printf(p, "https://bsky.app/profile/%s/post/%s", did, rkey);
    p->visibility = sb_arena_strdup(p->arena, "public");
    /* Jetstream carries no profile: name and handle stay unknown (NULL). */
    if (!p->url || !p->visibility)
        return sb_errf(eb, SB_ERR_NOMEM, "post: out of memory");
    const json_t *reply = json_object_get(record, "reply");
    if (reply && !json_is_null(reply)) {
        if ((e = map_reply(p, reply, eb)))
            return e;
    } else {
        p->kind = SB_POST_MENTION;
        p->thread = p->id;
        p->thread_cid = p->cid;
    }
    if (!p->created_at || !sb_time_parse_iso8601(p->created_at, &p->created_ms))
        p->created_ms = 0;
    return map_lists(p, record, eb);
}

static enum sb_err map_commit(const json_t *root, const char *did, struct sb_event *ev,
                              struct sb_errbuf *eb)
{
    struct sb_post *p = &ev->post;
    const json_t *commit = json_object_get(root, "commit");
    const char *coll = json_string_value(json_object_get(commit, "collection"));
    const char *op = json_string_value(json_object_get(commit, "operation"));
    const char *rkey = json_string_value(json_object_get(commit, "rkey"));
    if (!json_is_object(commit) || !coll || !op)
        return sb_errf(eb, SB_ERR_SCHEMA,
                       "commit event: needs a commit object with collection and operation");
    bool create = strcmp(op, "create") == 0, update = strcmp(op, "update") == 0;
    if (strcmp(coll, POST_NSID) != 0 || !(create || update || strcmp(op, "delete") == 0)) {
        ev->type = SB_EVENT_SKIP;
        ev->skip_kind =
            lookup(collections, sizeof collections / sizeof *collections, coll, "commit:other");
        return SB_OK;
    }
    if (!did_ok(did))
        return sb_errf(eb, SB_ERR_SCHEMA, "Jetstream event: \"did\" is not a valid DID");
    if (!rkey || !rkey_ok(rkey))
        return sb_errf(eb, SB_ERR_SCHEMA, "commit.rkey: missing or not a valid record key");
    p->platform = SB_PLATFORM_BLUESKY;
    p->author.id = sb_arena_strdup(p->arena, did);
    p->id = arena_printf(p, "at://%s/" POST_NSID "/%s", did, rkey);
    if (!p->author.id || !p->id)
        return sb_errf(eb, SB_ERR_NOMEM, "post: out of memory");
    if (!create && !update) {
        ev->type = SB_EVENT_DELETE;
        return SB_OK;
    }
    ev->type = create ? SB_EVENT_POST : SB_EVENT_UPDATE;
    return map_post(did, rkey, commit, ev, eb);
}

enum sb_err sb_bluesky_map_event(const json_t *root, struct sb_event *ev, struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    sb_event_reset(ev);
    if (!json_is_object(root)) {
        e = sb_errf(eb, SB_ERR_SCHEMA, "Jetstream event: expected a JSON object");
        goto fail;
    }
    const char *did = json_string_value(json_object_get(root, "did"));
    const char *kind = json_string_value(json_object_get(root, "kind"));
    const json_t *time_us = json_object_get(root, "time_us");
    if (!did || !kind || !json_is_integer(time_us) || json_integer_value(time_us) < 0) {
        e = sb_errf(eb, SB_ERR_SCHEMA,
                    "Jetstream event: needs string \"did\" and \"kind\" and integer \"time_us\"");
        goto fail;
    }
    if (strcmp(kind, "commit") == 0) {
        if ((e = map_commit(root, did, ev, eb)))
            goto fail;
    } else {
        ev->type = SB_EVENT_SKIP;
        ev->skip_kind = lookup(kinds, sizeof kinds / sizeof *kinds, kind, "unknown");
    }
    ev->cursor = (int64_t)json_integer_value(time_us);
    return SB_OK;
fail:
    sb_event_reset(ev);
    return e;
}
