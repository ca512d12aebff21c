/* post_json.c — the normalized post ⇄ JSON: sb_post_to_json (writer, declared in core/post.h)
 * and sb_post_from_json (reader, core/post_json.h), plus the checked string copy the
 * platform mappers share.
 * Depends on jansson (reading), core/utf8 (validation), util/buf, util/arena. No I/O. */
#include "core/post_json.h"

#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "util/buf.h"

enum sb_err sb_post_json_string_copy(struct sb_post *p, const json_t *v, size_t max,
                                     const char *what, const char **out, struct sb_errbuf *eb)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return SB_OK;
    if (!json_is_string(v))
        return sb_errf(eb, SB_ERR_SCHEMA, "%s: expected a string", what);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > max)
        return sb_errf(eb, SB_ERR_TOOBIG, "%s: %zu bytes, the maximum is %zu", what, n, max);
    if (!sb_utf8_valid(s, n))
        return sb_errf(eb, SB_ERR_UTF8, "%s: not valid UTF-8 (or contains a NUL byte)", what);
    char *c = sb_arena_strndup(p->arena, s, n);
    if (!c)
        return sb_errf(eb, SB_ERR_NOMEM, "%s: out of memory", what);
    *out = c;
    return SB_OK;
}

/* ---- writer --------------------------------------------------------------------------- */

/* Comma (unless first) and "key": */
static enum sb_err put_key(struct sb_buf *b, bool *first, const char *key)
{
    enum sb_err e = SB_OK;
    if (!*first)
        e = sb_buf_putc(b, ',');
    *first = false;
    if (!e)
        e = sb_buf_json_str(b, key, strlen(key));
    if (!e)
        e = sb_buf_putc(b, ':');
    return e;
}

/* "key":"value", skipped when value is NULL ("omit null fields"). */
static enum sb_err put_str(struct sb_buf *b, bool *first, const char *key, const char *v)
{
    if (!v)
        return SB_OK;
    enum sb_err e = put_key(b, first, key);
    return e ? e : sb_buf_json_str(b, v, strlen(v));
}

static enum sb_err put_str_array(struct sb_buf *b, bool *first, const char *key,
                                 const char *const *v, size_t n)
{
    enum sb_err e = put_key(b, first, key);
    if (!e)
        e = sb_buf_putc(b, '[');
    bool f = true;
    for (size_t i = 0; !e && i < n; i++) {
        if (!v[i])
            continue;
        if (!f)
            e = sb_buf_putc(b, ',');
        f = false;
        if (!e)
            e = sb_buf_json_str(b, v[i], strlen(v[i]));
    }
    return e ? e : sb_buf_putc(b, ']');
}

enum sb_err sb_post_to_json(const struct sb_post *p, struct sb_buf *out)
{
    size_t start = out->len;
    bool first = true, f;
    enum sb_err e = sb_buf_putc(out, '{');
    if (e)
        goto fail;
    if ((e = put_str(out, &first, "platform", sb_platform_name(p->platform))) ||
        (e = put_str(out, &first, "id", p->id)) || (e = put_str(out, &first, "cid", p->cid)) ||
        (e = put_str(out, &first, "account", p->account)) ||
        (e = put_str(out, &first, "kind", sb_post_kind_name(p->kind))) ||
        (e = put_str(out, &first, "text", p->text)) ||
        (e = put_str(out, &first, "lang", p->lang)) || (e = put_str(out, &first, "url", p->url)) ||
        (e = put_str(out, &first, "created_at", p->created_at)) ||
        (e = put_str(out, &first, "visibility", p->visibility)) ||
        (e = put_str(out, &first, "thread", p->thread)) ||
        (e = put_str(out, &first, "thread_cid", p->thread_cid)) ||
        (e = put_str(out, &first, "in_reply_to", p->in_reply_to)) ||
        (e = put_str(out, &first, "in_reply_to_cid", p->in_reply_to_cid)))
        goto fail;

    if ((e = put_key(out, &first, "mentions")) || (e = sb_buf_putc(out, '[')))
        goto fail;
    for (size_t i = 0; i < p->n_mentions; i++) {
        f = true;
        if ((i && (e = sb_buf_putc(out, ','))) || (e = sb_buf_putc(out, '{')) ||
            (e = put_str(out, &f, "id", p->mentions[i].id)) ||
            (e = put_str(out, &f, "handle", p->mentions[i].handle)) || (e = sb_buf_putc(out, '}')))
            goto fail;
    }
    if ((e = sb_buf_putc(out, ']')) ||
        (e = put_str_array(out, &first, "tags", p->tags, p->n_tags)) ||
        (e = put_str_array(out, &first, "links", p->links, p->n_links)))
        goto fail;

    const struct sb_author *a = &p->author;
    f = true;
    if ((e = put_key(out, &first, "author")) || (e = sb_buf_putc(out, '{')) ||
        (e = put_str(out, &f, "id", a->id)) || (e = put_str(out, &f, "handle", a->handle)) ||
        (e = put_str(out, &f, "name", a->name)))
        goto fail;
    /* followers -1 means unknown, which is a null: omitted, and read back as -1 */
    if (a->followers >= 0 && ((e = put_key(out, &f, "followers")) ||
                              (e = sb_buf_printf(out, "%lld", (long long)a->followers))))
        goto fail;
    if ((e = put_key(out, &f, "verified")) ||
        (e = sb_buf_puts(out, a->verified ? "true" : "false")) || (e = put_key(out, &f, "bot")) ||
        (e = sb_buf_puts(out, a->bot ? "true" : "false")) ||
        (e = put_str(out, &f, "created_at", a->created_at)) || (e = sb_buf_putc(out, '}')))
        goto fail;
    if ((e = sb_buf_putc(out, '}')))
        goto fail;
    return SB_OK;
fail:
    /* leave out as it was: no half-written object */
    out->len = start;
    if (out->data)
        out->data[start] = 0;
    return e;
}

/* ---- reader --------------------------------------------------------------------------- */

/* Optional string member: absent/null → NULL. */
static enum sb_err opt_str(struct sb_post *p, const json_t *obj, const char *key, size_t max,
                           const char *what, const char **out, struct sb_errbuf *eb)
{
    return sb_post_json_string_copy(p, json_object_get(obj, key), max, what, out, eb);
}

/* Required string member. */
static enum sb_err req_str(struct sb_post *p, const json_t *obj, const char *key, size_t max,
                           const char *what, const char **out, struct sb_errbuf *eb)
{
    enum sb_err e = opt_str(p, obj, key, max, what, out, eb);
    if (!e && !*out)
        e = sb_errf(eb, SB_ERR_SCHEMA, "%s: required string is missing", what);
    return e;
}

static enum sb_err opt_bool(const json_t *obj, const char *key, const char *what, bool *out,
                            struct sb_errbuf *eb)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return SB_OK;
    if (!json_is_boolean(v))
        return sb_errf(eb, SB_ERR_SCHEMA, "%s: expected true or false", what);
    *out = json_is_true(v);
    return SB_OK;
}

/* An optional array member: absent/null → NULL with *n = 0; capped at SB_POST_LIST_MAX. */
static enum sb_err opt_array(const json_t *obj, const char *key, const char *what,
                             const json_t **arr, size_t *n, struct sb_errbuf *eb)
{
    const json_t *v = json_object_get(obj, key);
    *arr = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return SB_OK;
    if (!json_is_array(v))
        return sb_errf(eb, SB_ERR_SCHEMA, "%s: expected an array", what);
    *arr = v;
    *n = json_array_size(v);
    if (*n > SB_POST_LIST_MAX)
        *n = SB_POST_LIST_MAX;
    return SB_OK;
}

static enum sb_err str_list(struct sb_post *p, const json_t *obj, const char *key,
                            const char ***out, size_t *out_n, struct sb_errbuf *eb)
{
    const json_t *arr;
    size_t n;
    char what[64];
    enum sb_err e = opt_array(obj, key, key, &arr, &n, eb);
    if (e || !n)
        return e;
    const char **v = sb_arena_alloc(p->arena, n * sizeof *v);
    if (!v)
        return sb_errf(eb, SB_ERR_NOMEM, "%s: out of memory", key);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "%s[%zu]", key, i);
        const json_t *item = json_array_get(arr, i);
        if (json_is_null(item))
            continue;
        if (!json_is_string(item))
            return sb_errf(eb, SB_ERR_SCHEMA, "%s: expected a string", what);
        if ((e = sb_post_json_string_copy(p, item, SB_POST_FIELD_MAX, what, &v[k], eb)))
            return e;
        k++;
    }
    *out = v;
    *out_n = k;
    return SB_OK;
}

static enum sb_err mention_list(struct sb_post *p, const json_t *obj, struct sb_errbuf *eb)
{
    const json_t *arr;
    size_t n;
    char what[64];
    enum sb_err e = opt_array(obj, "mentions", "mentions", &arr, &n, eb);
    if (e || !n)
        return e;
    struct sb_mention *m = sb_arena_alloc(p->arena, n * sizeof *m);
    if (!m)
        return sb_errf(eb, SB_ERR_NOMEM, "mentions: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(arr, i);
        if (!json_is_object(item))
            return sb_errf(eb, SB_ERR_SCHEMA, "mentions[%zu]: expected an object", i);
        snprintf(what, sizeof what, "mentions[%zu].id", i);
        if ((e = opt_str(p, item, "id", SB_POST_FIELD_MAX, what, &m[k].id, eb)))
            return e;
        snprintf(what, sizeof what, "mentions[%zu].handle", i);
        if ((e = opt_str(p, item, "handle", SB_POST_FIELD_MAX, what, &m[k].handle, eb)))
            return e;
        if (m[k].id || m[k].handle)
            k++;
    }
    p->mentions = m;
    p->n_mentions = k;
    return SB_OK;
}

static enum sb_err author_from_json(struct sb_post *p, const json_t *obj, struct sb_errbuf *eb)
{
    struct sb_author *a = &p->author;
    const json_t *au = json_object_get(obj, "author");
    enum sb_err e;
    if (!json_is_object(au))
        return sb_errf(eb, SB_ERR_SCHEMA, "author: required object is missing");
    if ((e = req_str(p, au, "id", SB_POST_FIELD_MAX, "author.id", &a->id, eb)) ||
        (e = opt_str(p, au, "handle", SB_POST_FIELD_MAX, "author.handle", &a->handle, eb)) ||
        (e = opt_str(p, au, "name", SB_POST_FIELD_MAX, "author.name", &a->name, eb)) ||
        (e = opt_str(p, au, "created_at", SB_POST_FIELD_MAX, "author.created_at", &a->created_at,
                     eb)) ||
        (e = opt_bool(au, "verified", "author.verified", &a->verified, eb)) ||
        (e = opt_bool(au, "bot", "author.bot", &a->bot, eb)))
        return e;
    if (!a->name)
        a->name = a->handle;
    const json_t *fo = json_object_get(au, "followers");
    if (fo && !json_is_null(fo)) {
        if (!json_is_integer(fo))
            return sb_errf(eb, SB_ERR_SCHEMA, "author.followers: expected an integer");
        json_int_t v = json_integer_value(fo);
        a->followers = v < 0 ? -1 : (int64_t)v;
    }
    return SB_OK;
}

enum sb_err sb_post_from_json(const json_t *obj, struct sb_post *p, struct sb_errbuf *eb)
{
    const char *platform = NULL, *kind = NULL;
    enum sb_err e;
    sb_post_reset(p);
    if (!json_is_object(obj)) {
        e = sb_errf(eb, SB_ERR_SCHEMA, "post: expected a JSON object");
        goto fail;
    }
    /* platform and kind are read as temporaries in the arena; the post keeps enums */
    if ((e = req_str(p, obj, "platform", 64, "platform", &platform, eb)))
        goto fail;
    p->platform = sb_platform_from_name(platform);
    if (p->platform == SB_PLATFORM_UNKNOWN) {
        e = sb_errf(eb, SB_ERR_SCHEMA, "platform: unknown platform \"%s\"", platform);
        goto fail;
    }
    if ((e = opt_str(p, obj, "kind", 64, "kind", &kind, eb)))
        goto fail;
    if (kind) {
        int k = sb_post_kind_from_name(kind);
        if (k < 0) {
            e = sb_errf(eb, SB_ERR_SCHEMA,
                        "kind: \"%s\" is not one of mention, reply, direct, comment", kind);
            goto fail;
        }
        p->kind = (enum sb_post_kind)k;
    }
    const size_t fm = SB_POST_FIELD_MAX;
    if ((e = req_str(p, obj, "id", fm, "id", &p->id, eb)) ||
        (e = req_str(p, obj, "text", SB_POST_TEXT_MAX, "text", &p->text, eb)) ||
        (e = opt_str(p, obj, "cid", fm, "cid", &p->cid, eb)) ||
        (e = opt_str(p, obj, "account", fm, "account", &p->account, eb)) ||
        (e = opt_str(p, obj, "lang", fm, "lang", &p->lang, eb)) ||
        (e = opt_str(p, obj, "url", fm, "url", &p->url, eb)) ||
        (e = opt_str(p, obj, "created_at", fm, "created_at", &p->created_at, eb)) ||
        (e = opt_str(p, obj, "visibility", fm, "visibility", &p->visibility, eb)) ||
        (e = opt_str(p, obj, "thread", fm, "thread", &p->thread, eb)) ||
        (e = opt_str(p, obj, "thread_cid", fm, "thread_cid", &p->thread_cid, eb)) ||
        (e = opt_str(p, obj, "in_reply_to", fm, "in_reply_to", &p->in_reply_to, eb)) ||
        (e = opt_str(p, obj, "in_reply_to_cid", fm, "in_reply_to_cid", &p->in_reply_to_cid, eb)) ||
        (e = mention_list(p, obj, eb)) ||
        (e = str_list(p, obj, "tags", &p->tags, &p->n_tags, eb)) ||
        (e = str_list(p, obj, "links", &p->links, &p->n_links, eb)) ||
        (e = author_from_json(p, obj, eb)))
        goto fail;
    if (!p->visibility && !(p->visibility = sb_arena_strdup(p->arena, "public"))) {
        e = sb_errf(eb, SB_ERR_NOMEM, "visibility: out of memory");
        goto fail;
    }
    if (!p->thread)
        p->thread = p->id;
    if (p->created_at && !sb_time_parse_iso8601(p->created_at, &p->created_ms))
        p->created_ms = 0;
    return SB_OK;
fail:
    sb_post_reset(p);
    return e;
}
