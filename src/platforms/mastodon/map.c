/* mastodon/map.c — Mastodon Status / Notification / streaming frame → sb_post / sb_event
 * (reference/platforms.md §1.2, §1.3, §1.6). Pure: the caller owns the JSON and the event.
 * Depends on jansson, platforms/html (content to text, links), core/post_json (checked
 * string copies), util/buf. */
#include "platforms/mastodon/map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/post_json.h"
#include "core/utf8.h"
#include "platforms/html.h"
#include "util/buf.h"

/* ---- static names for skip_kind (it must outlive the event) ---------------------------- */

struct name {
    const char *wire, *skip;
};

static const struct name events[] = {
    {"update", "update"},
    {"delete", "delete"},
    {"notification", "notification"},
    {"filters_changed", "filters_changed"},
    {"conversation", "conversation"},
    {"announcement", "announcement"},
    {"announcement.reaction", "announcement.reaction"},
    {"announcement.delete", "announcement.delete"},
    {"status.update", "status.update"},
    {"notifications_merged", "notifications_merged"},
    {"encrypted_message", "encrypted_message"},
};

/* clang-format off */
#define NOTIF(t) {t, "notification:" t}
/* clang-format on */
static const struct name notification_types[] = {
    NOTIF("mention"),
    NOTIF("status"),
    NOTIF("reblog"),
    NOTIF("follow"),
    NOTIF("follow_request"),
    NOTIF("favourite"),
    NOTIF("poll"),
    NOTIF("update"),
    NOTIF("admin.sign_up"),
    NOTIF("admin.report"),
    NOTIF("severed_relationships"),
    NOTIF("moderation_warning"),
    NOTIF("quote"),
    NOTIF("quoted_update"),
    NOTIF("added_to_collection"),
    NOTIF("collection_update"),
    NOTIF("annual_report"),
};
#undef NOTIF

static const char *lookup(const struct name *t, size_t n, const char *wire, const char *other)
{
    for (size_t i = 0; wire && i < n; i++)
        if (strcmp(t[i].wire, wire) == 0)
            return t[i].skip;
    return other;
}

/* ---- Status ------------------------------------------------------------------------------ */

struct links {
    struct sb_post *p;
    const char **v;
    size_t n;
};

static enum sb_err add_link(struct links *l, const char *href)
{
    size_t len = strlen(href);
    if (l->n >= SB_POST_LIST_MAX || len == 0 || len > SB_POST_FIELD_MAX)
        return SB_OK; /* lists are truncated, absurd hrefs dropped: neither fails the post */
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], href) == 0)
            return SB_OK;
    const char *c = sb_arena_strndup(l->p->arena, href, len);
    if (!c)
        return SB_ERR_NOMEM;
    l->v[l->n++] = c;
    return SB_OK;
}

static enum sb_err on_link(void *ctx, const char *href)
{
    return add_link(ctx, href);
}

static enum sb_err status_text(const json_t *status, struct sb_post *p, struct links *links,
                               struct sb_errbuf *eb)
{
    struct sb_buf body, text;
    const char *spoiler = NULL;
    enum sb_err e;
    sb_buf_init(&body, SB_POST_TEXT_MAX);
    sb_buf_init(&text, SB_POST_TEXT_MAX);
    const json_t *content = json_object_get(status, "content");
    if (!json_is_string(content)) {
        e = sb_errf(eb, SB_ERR_SCHEMA, "status.content: required string is missing");
        goto fail;
    }
    /* spoiler_text is plain text already; it goes first as the reader sees it first */
    if ((e = sb_post_json_string_copy(p, json_object_get(status, "spoiler_text"), SB_POST_TEXT_MAX,
                                      "status.spoiler_text", &spoiler, eb)) ||
        (e = sb_html_to_text_links(json_string_value(content), json_string_length(content), &body,
                                   on_link, links, eb)))
        goto fail;
    if (spoiler && *spoiler &&
        ((e = sb_buf_puts(&text, spoiler)) || (body.len && (e = sb_buf_puts(&text, "\n\n"))))) {
        sb_errf(eb, e, "status text exceeds %u bytes", SB_POST_TEXT_MAX);
        goto fail;
    }
    if (body.len && (e = sb_buf_append(&text, body.data, body.len))) {
        sb_errf(eb, e, "status text exceeds %u bytes", SB_POST_TEXT_MAX);
        goto fail;
    }
    if (!(p->text = sb_arena_strndup(p->arena, text.data ? text.data : "", text.len)))
        e = sb_errf(eb, SB_ERR_NOMEM, "status text: out of memory");
fail:
    sb_buf_free(&body);
    sb_buf_free(&text);
    return e;
}

static enum sb_err status_mentions(const json_t *status, struct sb_post *p, struct sb_errbuf *eb)
{
    const json_t *arr = json_object_get(status, "mentions");
    enum sb_err e;
    if (!arr || json_is_null(arr))
        return SB_OK;
    if (!json_is_array(arr))
        return sb_errf(eb, SB_ERR_SCHEMA, "status.mentions: expected an array");
    size_t n = json_array_size(arr);
    if (n > SB_POST_LIST_MAX)
        n = SB_POST_LIST_MAX;
    if (!n)
        return SB_OK;
    struct sb_mention *m = sb_arena_alloc(p->arena, n * sizeof *m);
    if (!m)
        return sb_errf(eb, SB_ERR_NOMEM, "status.mentions: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return sb_errf(eb, SB_ERR_SCHEMA, "status.mentions[%zu]: expected an object", i);
        if ((e = sb_post_json_string_copy(p, json_object_get(o, "id"), SB_POST_FIELD_MAX,
                                          "status.mentions[].id", &m[k].id, eb)) ||
            (e = sb_post_json_string_copy(p, json_object_get(o, "acct"), SB_POST_FIELD_MAX,
                                          "status.mentions[].acct", &m[k].handle, eb)))
            return e;
        if (m[k].id || m[k].handle)
            k++;
    }
    p->mentions = m;
    p->n_mentions = k;
    return SB_OK;
}

static enum sb_err status_tags(const json_t *status, struct sb_post *p, struct sb_errbuf *eb)
{
    const json_t *arr = json_object_get(status, "tags");
    enum sb_err e;
    if (!arr || json_is_null(arr))
        return SB_OK;
    if (!json_is_array(arr))
        return sb_errf(eb, SB_ERR_SCHEMA, "status.tags: expected an array");
    size_t n = json_array_size(arr);
    if (n > SB_POST_LIST_MAX)
        n = SB_POST_LIST_MAX;
    if (!n)
        return SB_OK;
    const char **v = sb_arena_alloc(p->arena, n * sizeof *v);
    if (!v)
        return sb_errf(eb, SB_ERR_NOMEM, "status.tags: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return sb_errf(eb, SB_ERR_SCHEMA, "status.tags[%zu]: expected an object", i);
        if ((e = sb_post_json_string_copy(p, json_object_get(o, "name"), SB_POST_FIELD_MAX,
                                          "status.tags[].name", &v[k], eb)))
            return e;
        if (v[k] && *v[k])
            k++;
    }
    p->tags = v;
    p->n_tags = k;
    return SB_OK;
}

static enum sb_err status_author(const json_t *status, struct sb_post *p, struct sb_errbuf *eb)
{
    struct sb_author *a = &p->author;
    const json_t *acc = json_object_get(status, "account");
    const char *username = NULL;
    enum sb_err e;
    const size_t fm = SB_POST_FIELD_MAX;
    if (!json_is_object(acc))
        return sb_errf(eb, SB_ERR_SCHEMA, "status.account: required object is missing");
    if ((e = sb_post_json_string_copy(p, json_object_get(acc, "id"), fm, "account.id", &a->id,
                                      eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(acc, "acct"), fm, "account.acct",
                                      &a->handle, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(acc, "display_name"), fm,
                                      "account.display_name", &a->name, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(acc, "username"), fm, "account.username",
                                      &username, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(acc, "created_at"), fm,
                                      "account.created_at", &a->created_at, eb)))
        return e;
    if (!a->id || !*a->id)
        return sb_errf(eb, SB_ERR_SCHEMA, "account.id: required string is missing");
    if (!a->name || !*a->name)
        a->name = username && *username ? username : a->handle && *a->handle ? a->handle : a->id;
    const json_t *fc = json_object_get(acc, "followers_count");
    if (json_is_integer(fc) && json_integer_value(fc) >= 0)
        a->followers = (int64_t)json_integer_value(fc);
    a->bot = json_is_true(json_object_get(acc, "bot"));
    /* Mastodon's only verification is a profile link proven with rel="me" */
    const json_t *fields = json_object_get(acc, "fields");
    for (size_t i = 0; json_is_array(fields) && i < json_array_size(fields); i++) {
        const json_t *v = json_object_get(json_array_get(fields, i), "verified_at");
        if (v && !json_is_null(v))
            a->verified = true;
    }
    return SB_OK;
}

enum sb_err sb_mastodon_map_status(const json_t *status, struct sb_post *p, struct sb_errbuf *eb)
{
    enum sb_err e;
    const size_t fm = SB_POST_FIELD_MAX;
    struct links links = {.p = p};
    sb_post_reset(p);
    if (!json_is_object(status)) {
        e = sb_errf(eb, SB_ERR_SCHEMA, "status: expected a JSON object");
        goto fail;
    }
    const json_t *reblog = json_object_get(status, "reblog");
    if (reblog && !json_is_null(reblog)) {
        e = sb_errf(eb, SB_ERR_SKIP, "status is a boost (reblog), not a post of its own");
        goto fail;
    }
    p->platform = SB_PLATFORM_MASTODON;
    if (!(links.v = sb_arena_alloc(p->arena, SB_POST_LIST_MAX * sizeof *links.v))) {
        e = sb_errf(eb, SB_ERR_NOMEM, "status: out of memory");
        goto fail;
    }
    if ((e = sb_post_json_string_copy(p, json_object_get(status, "id"), fm, "status.id", &p->id,
                                      eb)))
        goto fail;
    if (!p->id || !*p->id) {
        e = sb_errf(eb, SB_ERR_SCHEMA, "status.id: required string is missing");
        goto fail;
    }
    if ((e = sb_post_json_string_copy(p, json_object_get(status, "url"), fm, "status.url", &p->url,
                                      eb)) ||
        (!p->url && (e = sb_post_json_string_copy(p, json_object_get(status, "uri"), fm,
                                                  "status.uri", &p->url, eb))) ||
        (e = sb_post_json_string_copy(p, json_object_get(status, "language"), fm, "status.language",
                                      &p->lang, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(status, "created_at"), fm,
                                      "status.created_at", &p->created_at, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(status, "visibility"), fm,
                                      "status.visibility", &p->visibility, eb)) ||
        (e = sb_post_json_string_copy(p, json_object_get(status, "in_reply_to_id"), fm,
                                      "status.in_reply_to_id", &p->in_reply_to, eb)) ||
        (e = status_text(status, p, &links, eb)) || (e = status_mentions(status, p, eb)) ||
        (e = status_tags(status, p, eb)) || (e = status_author(status, p, eb)))
        goto fail;

    const json_t *card_url = json_object_get(json_object_get(status, "card"), "url");
    if (json_is_string(card_url) &&
        sb_utf8_valid(json_string_value(card_url), json_string_length(card_url)) &&
        (e = add_link(&links, json_string_value(card_url)))) {
        sb_errf(eb, e, "status.card.url: out of memory");
        goto fail;
    }
    p->links = links.v;
    p->n_links = links.n;

    if (!p->visibility && !(p->visibility = sb_arena_strdup(p->arena, "public"))) {
        e = sb_errf(eb, SB_ERR_NOMEM, "status: out of memory");
        goto fail;
    }
    if (p->in_reply_to && !*p->in_reply_to)
        p->in_reply_to = NULL;
    /* The thread root is not in a Status; the parent is the best stable key we have (ingest
     * joins it to the parent's own thread when it knows the parent). */
    p->thread = p->in_reply_to ? p->in_reply_to : p->id;
    if (strcmp(p->visibility, "direct") == 0)
        p->kind = SB_POST_DIRECT;
    else if (p->in_reply_to)
        p->kind = SB_POST_REPLY;
    else
        p->kind = SB_POST_MENTION;
    if (!p->created_at || !sb_time_parse_iso8601(p->created_at, &p->created_ms))
        p->created_ms = 0;
    return SB_OK;
fail:
    sb_post_reset(p);
    return e;
}

/* ---- Notification and streaming envelope ----------------------------------------------- */

/* Status → event type, turning a boost into a skip of the given kind. */
static enum sb_err map_status_event(const json_t *status, struct sb_event *ev,
                                    enum sb_event_type type, const char *reblog_kind,
                                    struct sb_errbuf *eb)
{
    enum sb_err e = sb_mastodon_map_status(status, &ev->post, eb);
    if (e == SB_ERR_SKIP) {
        ev->type = SB_EVENT_SKIP;
        ev->skip_kind = reblog_kind;
        return SB_OK;
    }
    if (!e)
        ev->type = type;
    return e;
}

/* Notification ids are decimal snowflakes: the resume point for catch-up. */
static int64_t numeric_id(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 19)
        return 0;
    for (const char *c = s; *c; c++)
        if (*c < '0' || *c > '9')
            return 0;
    errno = 0;
    long long n = strtoll(s, NULL, 10);
    return errno ? 0 : (int64_t)n;
}

static enum sb_err map_notification(const json_t *n, struct sb_event *ev, struct sb_errbuf *eb)
{
    const char *type = json_string_value(json_object_get(n, "type"));
    if (!type || !json_is_object(json_object_get(n, "account")))
        return sb_errf(eb, SB_ERR_SCHEMA,
                       "notification: expected a Notification with \"type\" and \"account\"");
    ev->cursor = numeric_id(json_object_get(n, "id"));
    if (strcmp(type, "mention") != 0) {
        ev->type = SB_EVENT_SKIP;
        ev->skip_kind =
            lookup(notification_types, sizeof notification_types / sizeof *notification_types, type,
                   "notification:unknown");
        return SB_OK;
    }
    const json_t *status = json_object_get(n, "status");
    if (!json_is_object(status))
        return sb_errf(eb, SB_ERR_SCHEMA, "mention notification has no status object");
    return map_status_event(status, ev, SB_EVENT_POST, "reblog", eb);
}

/* The envelope's payload is JSON inside a string: parse it a second time, bounded. */
static enum sb_err parse_payload(const json_t *root, const char *event, json_t **out,
                                 struct sb_errbuf *eb)
{
    const json_t *pl = json_object_get(root, "payload");
    json_error_t jerr;
    *out = NULL;
    if (!json_is_string(pl))
        return sb_errf(eb, SB_ERR_SCHEMA, "\"%s\" event: payload is missing or not a string",
                       event);
    size_t n = json_string_length(pl);
    if (n > SB_MASTODON_PAYLOAD_MAX)
        return sb_errf(eb, SB_ERR_TOOBIG, "\"%s\" event: payload is %zu bytes, the maximum is %u",
                       event, n, SB_MASTODON_PAYLOAD_MAX);
    *out = json_loadb(json_string_value(pl), n, 0, &jerr);
    if (!*out)
        return sb_errf(eb, SB_ERR_JSON,
                       "\"%s\" event: payload string is not valid JSON: %s (line %d, column %d)",
                       event, jerr.text, jerr.line, jerr.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return sb_errf(eb, SB_ERR_SCHEMA, "\"%s\" event: payload is not a JSON object", event);
    }
    return SB_OK;
}

static enum sb_err map_envelope(const json_t *root, const char *event, struct sb_event *ev,
                                struct sb_errbuf *eb)
{
    json_t *payload = NULL;
    enum sb_err e = SB_OK;
    if (strcmp(event, "update") == 0 || strcmp(event, "status.update") == 0 ||
        strcmp(event, "notification") == 0) {
        if ((e = parse_payload(root, event, &payload, eb)))
            goto fail;
        if (strcmp(event, "update") == 0)
            e = map_status_event(payload, ev, SB_EVENT_POST, "update:reblog", eb);
        else if (strcmp(event, "status.update") == 0)
            e = map_status_event(payload, ev, SB_EVENT_UPDATE, "status.update:reblog", eb);
        else
            e = map_notification(payload, ev, eb);
    } else if (strcmp(event, "delete") == 0) {
        /* the payload is the bare status id, not JSON */
        struct sb_post *p = &ev->post;
        e = sb_post_json_string_copy(p, json_object_get(root, "payload"), SB_POST_FIELD_MAX,
                                     "\"delete\" event payload", &p->id, eb);
        if (!e && (!p->id || !*p->id))
            e = sb_errf(eb, SB_ERR_SCHEMA, "\"delete\" event: payload is not a status id");
        if (e)
            goto fail;
        p->platform = SB_PLATFORM_MASTODON;
        ev->type = SB_EVENT_DELETE;
    } else {
        ev->type = SB_EVENT_SKIP;
        ev->skip_kind = lookup(events, sizeof events / sizeof *events, event, "unknown");
    }
fail:
    json_decref(payload);
    return e;
}

enum sb_err sb_mastodon_map_event(const json_t *root, struct sb_event *ev, struct sb_errbuf *eb)
{
    enum sb_err e;
    sb_event_reset(ev);
    if (!json_is_object(root)) {
        e = sb_errf(eb, SB_ERR_SCHEMA, "Mastodon event: expected a JSON object");
        goto fail;
    }
    const char *event = json_string_value(json_object_get(root, "event"));
    const json_t *account = json_object_get(root, "account");
    if (event && json_object_get(root, "stream"))
        e = map_envelope(root, event, ev, eb);
    else if (json_is_string(json_object_get(root, "type")) && json_is_object(account))
        e = map_notification(root, ev, eb);
    else if (json_object_get(root, "content") && json_is_object(account))
        e = map_status_event(root, ev, SB_EVENT_POST, "reblog", eb);
    else
        e = sb_errf(eb, SB_ERR_SCHEMA, "not a Mastodon streaming event, Notification or Status");
    if (e)
        goto fail;
    return SB_OK;
fail:
    sb_event_reset(ev);
    return e;
}
