/* html.c — HTML content to plain text (see html.h for the rules), with link extraction for
 * the Mastodon mapper. The tree comes from libxml2's HTML parser; the walk is iterative so
 * deeply nested input cannot exhaust the stack.
 * Depends on libxml2, pthread (one-time init), core/utf8 (validity check), util/buf. */
#include "platforms/html.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "core/utf8.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_libxml(void)
{
    xmlInitParser();
}

/* Newlines wanted around an element: 2 for paragraph-like blocks, 1 for line-like ones. */
static int block_breaks(const char *name)
{
    static const char *const para[] = {"p",       "blockquote", "pre",    "ul",     "ol",
                                       "dl",      "table",      "h1",     "h2",     "h3",
                                       "h4",      "h5",         "h6",     "hr",     "figure",
                                       "section", "article",    "header", "footer", "aside"};
    static const char *const line[] = {"div",        "li",      "dt",      "dd",     "tr",
                                       "figcaption", "address", "details", "summary"};
    for (size_t i = 0; i < sizeof para / sizeof *para; i++)
        if (strcmp(name, para[i]) == 0)
            return 2;
    for (size_t i = 0; i < sizeof line / sizeof *line; i++)
        if (strcmp(name, line[i]) == 0)
            return 1;
    return 0;
}

static bool skipped_element(const char *name)
{
    return strcmp(name, "script") == 0 || strcmp(name, "style") == 0 || strcmp(name, "head") == 0 ||
           strcmp(name, "template") == 0 || strcmp(name, "title") == 0;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

struct walk {
    struct sb_buf *text;
    int pending_breaks; /* newlines owed before the next text (block boundaries) */
    bool pending_space; /* collapsed whitespace owed before the next text */
    int pre;            /* depth inside <pre> */
    sb_html_link_fn on_link;
    void *ctx;
};

static size_t trailing_newlines(const struct sb_buf *b)
{
    size_t n = 0;
    while (n < b->len && b->data[b->len - 1 - n] == '\n')
        n++;
    return n;
}

/* Pay what is owed (block breaks win over a space) before visible text. */
static enum sb_err flush_pending(struct walk *w)
{
    enum sb_err e = SB_OK;
    if (w->text->len == 0) {
        /* nothing before: leading breaks and spaces would only be trimmed */
    } else if (w->pending_breaks) {
        size_t have = trailing_newlines(w->text);
        for (size_t i = have; !e && i < (size_t)w->pending_breaks; i++)
            e = sb_buf_putc(w->text, '\n');
    } else if (w->pending_space) {
        char last = w->text->data[w->text->len - 1];
        if (last != '\n' && last != ' ')
            e = sb_buf_putc(w->text, ' ');
    }
    w->pending_breaks = 0;
    w->pending_space = false;
    return e;
}

static enum sb_err add_text(struct walk *w, const char *s)
{
    enum sb_err e = SB_OK;
    if (w->pre) {
        if (*s && !(e = flush_pending(w)))
            e = sb_buf_puts(w->text, s);
        return e;
    }
    while (!e && *s) {
        if (is_space((unsigned char)*s)) {
            w->pending_space = true;
            s++;
            continue;
        }
        size_t n = 0;
        while (s[n] && !is_space((unsigned char)s[n]))
            n++;
        if (!(e = flush_pending(w)))
            e = sb_buf_append(w->text, s, n);
        s += n;
    }
    return e;
}

/* Does the whitespace-separated attribute value contain token? */
static bool has_token(const char *list, const char *token)
{
    size_t tl = strlen(token);
    const char *s = list;
    while (s && *s) {
        while (is_space((unsigned char)*s))
            s++;
        size_t n = 0;
        while (s[n] && !is_space((unsigned char)s[n]))
            n++;
        if (n == tl && strncasecmp(s, token, n) == 0)
            return true;
        s += n;
    }
    return false;
}

static enum sb_err report_link(struct walk *w, xmlNodePtr n)
{
    enum sb_err e = SB_OK;
    xmlChar *href = xmlGetProp(n, (const xmlChar *)"href");
    xmlChar *cls = xmlGetProp(n, (const xmlChar *)"class");
    xmlChar *rel = xmlGetProp(n, (const xmlChar *)"rel");
    if (!href || !*href)
        goto done;
    if (cls && (has_token((const char *)cls, "mention") || has_token((const char *)cls, "hashtag")))
        goto done;
    if (rel && has_token((const char *)rel, "tag"))
        goto done;
    e = w->on_link(w->ctx, (const char *)href);
done:
    xmlFree(href);
    xmlFree(cls);
    xmlFree(rel);
    return e;
}

/* Entering an element; *descend says whether to walk its children. */
static enum sb_err enter_element(struct walk *w, xmlNodePtr n, bool *descend)
{
    const char *name = (const char *)n->name;
    enum sb_err e = SB_OK;
    *descend = true;
    if (!name)
        return SB_OK;
    if (skipped_element(name)) {
        *descend = false;
        return SB_OK;
    }
    if (strcmp(name, "br") == 0) {
        w->pending_space = false;
        w->pending_breaks = 0;
        return sb_buf_putc(w->text, '\n');
    }
    int b = block_breaks(name);
    if (b > w->pending_breaks)
        w->pending_breaks = b;
    if (strcmp(name, "pre") == 0)
        w->pre++;
    if (w->on_link && strcmp(name, "a") == 0)
        e = report_link(w, n);
    return e;
}

static void leave_element(struct walk *w, xmlNodePtr n)
{
    const char *name = (const char *)n->name;
    if (!name)
        return;
    int b = block_breaks(name);
    if (b > w->pending_breaks)
        w->pending_breaks = b;
    if (strcmp(name, "pre") == 0 && w->pre > 0)
        w->pre--;
}

/* Depth-first walk over the document without recursion. */
static enum sb_err walk_doc(struct walk *w, xmlDocPtr doc)
{
    enum sb_err e = SB_OK;
    xmlNodePtr top = (xmlNodePtr)doc, n = doc->children;
    while (n && !e) {
        bool descend = false;
        if (n->type == XML_ELEMENT_NODE)
            e = enter_element(w, n, &descend);
        else if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE)
            e = n->content ? add_text(w, (const char *)n->content) : SB_OK;
        if (e)
            break;
        if (descend && n->children) {
            n = n->children;
            continue;
        }
        /* climb until a next sibling exists, leaving the elements we pass */
        while (n && n != top) {
            if (n->type == XML_ELEMENT_NODE)
                leave_element(w, n);
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
        }
        if (n == top)
            break;
    }
    return e;
}

enum sb_err sb_html_to_text_links(const char *html, size_t len, struct sb_buf *out,
                                  sb_html_link_fn on_link, void *ctx, struct sb_errbuf *eb)
{
    struct sb_buf text;
    htmlDocPtr doc = NULL;
    enum sb_err e = SB_OK;
    struct walk w = {.text = &text, .on_link = on_link, .ctx = ctx};
    sb_buf_init(&text, out->max);
    if (len > SB_HTML_INPUT_MAX || len > INT_MAX) {
        e = sb_errf(eb, SB_ERR_TOOBIG, "HTML content is %zu bytes, the maximum is %u", len,
                    SB_HTML_INPUT_MAX);
        goto fail;
    }
    if (!sb_utf8_valid(html, len)) {
        e = sb_errf(eb, SB_ERR_UTF8, "HTML content is not valid UTF-8 (or contains a NUL)");
        goto fail;
    }
    if (len == 0)
        goto done;
    pthread_once(&init_once, init_libxml);
    doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                         HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
                             HTML_PARSE_NODEFDTD);
    if (!doc) /* libxml2 gives no document only for empty input or allocation failure */
        goto done;
    if ((e = walk_doc(&w, doc))) {
        if (e == SB_ERR_TOOBIG)
            sb_errf(eb, e, "text of the HTML content exceeds %zu bytes", out->max);
        else if (e == SB_ERR_NOMEM)
            sb_errf(eb, e, "out of memory converting HTML");
        goto fail;
    }
done:;
    const char *t = text.data ? text.data : "";
    size_t a = 0, b = text.len;
    while (a < b && is_space((unsigned char)t[a]))
        a++;
    while (b > a && is_space((unsigned char)t[b - 1]))
        b--;
    /* libxml2 replaces undecodable references itself; check anyway before promising UTF-8 */
    if (!sb_utf8_valid(t + a, b - a)) {
        e = sb_errf(eb, SB_ERR_UTF8, "text of the HTML content is not valid UTF-8");
        goto fail;
    }
    if ((e = sb_buf_append(out, t + a, b - a))) {
        sb_errf(eb, e, "text of the HTML content exceeds %zu bytes", out->max);
        goto fail;
    }
fail:
    if (doc)
        xmlFreeDoc(doc);
    sb_buf_free(&text);
    return e;
}

enum sb_err sb_html_to_text(const char *html, size_t len, struct sb_buf *out, struct sb_errbuf *eb)
{
    return sb_html_to_text_links(html, len, out, NULL, NULL, eb);
}
