/* template.c — template rendering with per-field escaping and platform length limits.
 * Depends on core/utf8 (graphemes). No I/O. */
#include "core/template.h"

#include <string.h>

#include "core/utf8.h"

#define ZWSP "\xE2\x80\x8B"
#define ELLIPSIS "\xE2\x80\xA6"

/* Append a user-controlled value: control and bidi-override characters dropped, '@' and '#'
 * followed by a zero-width space so they cannot start a mention or tag, at most
 * SB_TEMPLATE_FIELD_MAX graphemes. Invalid UTF-8 bytes are dropped. */
static enum sb_err put_user(struct sb_buf *out, const char *v)
{
    size_t n = strlen(v);
    /* n bytes hold at most n clusters: only long values need counting */
    size_t cut =
        n <= SB_TEMPLATE_FIELD_MAX ? n : sb_utf8_grapheme_prefix(v, n, SB_TEMPLATE_FIELD_MAX);
    enum sb_err e = SB_OK;
    const unsigned char *p = (const unsigned char *)v, *end = p + cut;
    while (p < end && !e) {
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            if (c < 0x20 || c == 0x7f)
                e = c == '\n' || c == '\t' ? sb_buf_putc(out, ' ') : SB_OK;
            else if (c == '@' || c == '#')
                e = sb_buf_putc(out, (char)c) ?: sb_buf_puts(out, ZWSP);
            else
                e = sb_buf_putc(out, (char)c);
            continue;
        }
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (p + k > end || !sb_utf8_valid((const char *)p, k)) {
            p++;
            continue;
        }
        /* U+0080–U+009F (C1), U+202A–U+202E and U+2066–U+2069 (bidi controls), U+FEFF */
        int drop = (k == 2 && c == 0xC2 && p[1] < 0xA0) ||
                   (k == 3 && c == 0xE2 && p[1] == 0x80 && p[2] >= 0xAA && p[2] <= 0xAE) ||
                   (k == 3 && c == 0xE2 && p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9) ||
                   (k == 3 && c == 0xEF && p[1] == 0xBB && p[2] == 0xBF);
        if (!drop)
            e = sb_buf_append(out, p, k);
        p += k;
    }
    if (!e && cut < n)
        e = sb_buf_puts(out, ELLIPSIS);
    return e;
}

static const char *field_value(const char *f, size_t fl, const struct sb_post *p,
                               const struct sb_tmpl_var *vars, size_t nvars, int *user, int *ok)
{
#define IS(s) (fl == sizeof(s) - 1 && memcmp(f, s, fl) == 0)
    *ok = 1;
    *user = 1;
    const struct sb_author *a = &p->author;
    /* Unknown names (Bluesky's stream has only the DID) must still read naturally, at the
     * start of a sentence or in the middle of one; {{author.name|…}} overrides this. */
    if (IS("author.name"))
        return a->name ? a->name : a->handle ? a->handle : "friend";
    if (IS("author.handle"))
        return a->handle ? a->handle : a->id ? a->id : "";
    if (IS("author.id"))
        return a->id ? a->id : "";
    *user = 0;
    if (IS("post.platform"))
        return sb_platform_name(p->platform);
    if (IS("post.kind"))
        return sb_post_kind_name(p->kind);
    if (IS("post.lang"))
        return p->lang ? p->lang : "";
    if (IS("post.url"))
        return p->url ? p->url : "";
    if (IS("post.id"))
        return p->id ? p->id : "";
#undef IS
    *user = 1;
    for (size_t i = 0; i < nvars; i++)
        if (strlen(vars[i].key) == fl && memcmp(vars[i].key, f, fl) == 0)
            return vars[i].value ? vars[i].value : "";
    *ok = 0;
    return NULL;
}

enum sb_err sb_template_render(const char *tpl, size_t n, const struct sb_post *p,
                               const struct sb_tmpl_var *vars, size_t nvars, struct sb_buf *out,
                               struct sb_errbuf *eb)
{
    if (n > SB_TEMPLATE_SRC_MAX)
        return sb_errf(eb, SB_ERR_TOOBIG, "template is %zu bytes (limit %u)", n,
                       SB_TEMPLATE_SRC_MAX);
    size_t i = 0;
    while (i < n) {
        const char *open = memmem(tpl + i, n - i, "{{", 2);
        size_t lit = open ? (size_t)(open - (tpl + i)) : n - i;
        enum sb_err e = sb_buf_append(out, tpl + i, lit);
        if (e)
            return sb_errf(eb, e, "template output too long");
        if (!open)
            break;
        size_t fs = (size_t)(open - tpl) + 2;
        const char *close = memmem(tpl + fs, n - fs, "}}", 2);
        if (!close)
            return sb_errf(eb, SB_ERR_INVAL, "template: unclosed '{{' at byte %zu", fs - 2);
        size_t fe = (size_t)(close - tpl);
        while (fs < fe && tpl[fs] == ' ')
            fs++;
        while (fe > fs && tpl[fe - 1] == ' ')
            fe--;
        /* {{field|fallback}}: the fallback (template text, not user data) is used when the
         * field is empty or unknown to the platform (e.g. a Bluesky author's name). */
        const char *bar = memchr(tpl + fs, '|', fe - fs);
        size_t fl = bar ? (size_t)(bar - (tpl + fs)) : fe - fs;
        while (fl > 0 && tpl[fs + fl - 1] == ' ')
            fl--;
        int user, ok;
        const char *v = field_value(tpl + fs, fl, p, vars, nvars, &user, &ok);
        if (!ok)
            return sb_errf(eb, SB_ERR_INVAL, "template: unknown field '%.*s'", (int)fl, tpl + fs);
        if (bar && (!*v || (fl == 11 && !memcmp(tpl + fs, "author.name", 11) && !p->author.name &&
                            !p->author.handle))) {
            const char *fb = bar + 1;
            while (fb < tpl + fe && *fb == ' ')
                fb++;
            e = sb_buf_append(out, fb, (size_t)(tpl + fe - fb));
        } else {
            e = user ? put_user(out, v) : sb_buf_puts(out, v);
        }
        if (e)
            return sb_errf(eb, e, "template output too long");
        i = (size_t)(close - tpl) + 2;
    }
    if (!sb_utf8_valid(out->data ? out->data : "", out->len))
        return sb_errf(eb, SB_ERR_UTF8, "template: text is not valid UTF-8");
    return SB_OK;
}

size_t sb_template_platform_limit(enum sb_platform pl, int *by_graphemes)
{
    switch (pl) {
    case SB_PLATFORM_BLUESKY:
        *by_graphemes = 1;
        return 300;
    case SB_PLATFORM_MASTODON:
    default:
        *by_graphemes = 0;
        return 500;
    }
}

enum sb_err sb_template_fit(struct sb_buf *b, size_t from, enum sb_platform pl)
{
    int by_g;
    size_t limit = sb_template_platform_limit(pl, &by_g);
    const char *s = b->data + from;
    size_t n = b->len - from;
    if (n <= limit) /* n bytes are at most n code points or clusters */
        return SB_OK;
    size_t count = by_g ? sb_utf8_graphemes(s, n) : sb_utf8_codepoints(s, n);
    if (count <= limit)
        return SB_OK;
    size_t keep =
        by_g ? sb_utf8_grapheme_prefix(s, n, limit - 1) : sb_utf8_codepoint_prefix(s, n, limit - 1);
    while (keep > 0 && s[keep - 1] == ' ')
        keep--;
    b->len = from + keep;
    b->data[b->len] = 0;
    return sb_buf_puts(b, ELLIPSIS);
}
