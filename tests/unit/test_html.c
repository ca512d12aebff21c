/* test_html.c — HTML content to plain text (platforms/html): Mastodon's markup, entities,
 * whitespace and paragraph rules, link reporting, malformed input, bounds, and that libxml2
 * stays silent and initialises safely from several threads. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "platforms/html.h"
#include "t.h"

/* Convert s; returns the text (static buffer) or NULL on error. */
static char result[8192];
static enum sb_err last_err;

static const char *conv(const char *s)
{
    struct sb_buf b;
    struct sb_errbuf eb = {{0}};
    sb_buf_init(&b, 0);
    last_err = sb_html_to_text(s, strlen(s), &b, &eb);
    snprintf(result, sizeof result, "%s", b.data ? b.data : "");
    sb_buf_free(&b);
    return last_err ? NULL : result;
}

#define T_HTML(in, want)                                                                           \
    do {                                                                                           \
        const char *t_got = conv(in);                                                              \
        T_STREQ(t_got, want);                                                                      \
    } while (0)

static void test_mastodon_markup(void)
{
    json_t *st = json_load_file(SB_FIXTURES "/mastodon/status.json", 0, NULL);
    T_CHECK(st != NULL);
    const char *content = json_string_value(json_object_get(st, "content"));
    T_CHECK(content != NULL);
    /* invisible spans are part of the URL; the quotes are decoded; </p><p> is a blank line */
    T_HTML(content, "\"I lost my inheritance with one wrong digit on my sort code\"\n\n"
                    "https://www.theguardian.com/money/2019/dec/07/"
                    "i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code");
    json_decref(st);

    T_HTML("<p><span class=\"h-card\"><a href=\"https://mastodon.social/@trwnh\" "
           "class=\"u-url mention\">@<span>trwnh</span></a></span> sup!</p>",
           "@trwnh sup!");
    T_HTML("<span class=\"h-card\"><a class=\"u-url mention\" href=\"https://m.s/@trwnh\">"
           "@<span>trwnh</span></a></span> test",
           "@trwnh test");
    T_HTML("<p>Go <a href=\"https://m.s/tags/cats\" class=\"mention hashtag\" rel=\"tag\">"
           "#<span>cats</span></a></p>",
           "Go #cats");
}

static void test_blocks_and_whitespace(void)
{
    T_HTML("<p>a<br>b</p><p>c</p>", "a\nb\n\nc");
    T_HTML("<p>a<br/><br />b</p>", "a\n\nb");
    T_HTML("<p>one</p><p>two</p><p>three</p>", "one\n\ntwo\n\nthree");
    T_HTML("<p>a</p><p></p><p></p>", "a"); /* no trailing newlines */
    T_HTML("<p>a<br></p>", "a");           /* nor from a final <br> */
    T_HTML("<br><br><p>a</p>", "a");       /* nor leading ones */
    T_HTML("<p>  a \n\t  b  </p>", "a b"); /* runs collapse, ends trimmed */
    T_HTML("<p>a <b>bold</b> <i>it</i></p>", "a bold it");
    T_HTML("<p>a</p>\n\n<p>b</p>", "a\n\nb"); /* whitespace between blocks */
    T_HTML("<div>a</div><div>b</div>", "a\nb");
    T_HTML("<ul><li>x</li><li>y</li></ul><p>z</p>", "x\ny\n\nz");
    T_HTML("<pre>  keep\n  this</pre>", "keep\n  this"); /* pre keeps, only ends trimmed */
    T_HTML("<p>hi</p><script>alert(1)</script><style>p{}</style>", "hi");
    T_HTML("<p>a<!-- comment -->b</p>", "ab");
    T_HTML("<p>caf\xc3\xa9 \xf0\x9f\x98\x82 \xc2\xa0x</p>",
           "caf\xc3\xa9 \xf0\x9f\x98\x82 \xc2\xa0x");
}

static void test_entities_and_malformed(void)
{
    T_HTML("<p>&amp;lt; &#x1F600; &quot;q&quot; &#39;s&#39; &lt;b&gt;</p>",
           "&lt; \xf0\x9f\x98\x80 \"q\" 's' <b>");
    T_HTML("<p>a <b>bold <i>it</p><p>next", "a bold it\n\nnext"); /* unclosed tags */
    T_HTML("</p></div></span>", "");
    T_HTML("<p", "");
    T_HTML("<<<>>>", ">>>");
    T_HTML("&bogus; &#xD800; & plain", "&bogus; & plain");
    T_HTML("<a href=\"x\"><p>block in inline</a></p>", "block in inline");
    T_HTML("<table><tr><td>a</td><td>b</td></tr></table>", "ab");
    T_HTML("", "");
    T_HTML("   \n ", "");
    T_HTML("plain text, no tags", "plain text, no tags");
    T_INTEQ(last_err, SB_OK);

    /* deep nesting: no recursion in our walk, libxml2 caps its own depth */
    size_t depth = 20000;
    char *deep = malloc(depth * 6 + 16);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(deep + n, "<span>");
    strcpy(deep + n, "deep");
    struct sb_buf b;
    sb_buf_init(&b, 0);
    enum sb_err e = sb_html_to_text(deep, strlen(deep), &b, NULL);
    T_INTEQ(e, SB_OK);
    sb_buf_free(&b);
    free(deep);
}

static void test_errors_and_bounds(void)
{
    struct sb_buf b;
    struct sb_errbuf eb = {{0}};
    sb_buf_init(&b, 0);
    sb_buf_puts(&b, "X");
    /* appends to what is there */
    T_INTEQ(sb_html_to_text("<p>y</p>", 8, &b, &eb), SB_OK);
    T_STREQ(b.data, "Xy");
    /* not NUL-terminated: only len bytes are read */
    T_INTEQ(sb_html_to_text("<p>zzz</p>garbage", 10, &b, &eb), SB_OK);
    T_STREQ(b.data, "Xyzzz");

    T_INTEQ(sb_html_to_text("<p>\xff\xfe</p>", 9, &b, &eb), SB_ERR_UTF8);
    T_CHECK(strstr(eb.msg, "UTF-8") != NULL);
    T_INTEQ(sb_html_to_text("a\0b", 3, &b, &eb), SB_ERR_UTF8);
    T_STREQ(b.data, "Xyzzz"); /* unchanged on error */

    size_t big = SB_HTML_INPUT_MAX + 1;
    char *s = malloc(big);
    memset(s, 'a', big);
    T_INTEQ(sb_html_to_text(s, big, &b, &eb), SB_ERR_TOOBIG);
    free(s);
    sb_buf_free(&b);

    struct sb_buf small;
    sb_buf_init(&small, 8);
    T_INTEQ(sb_html_to_text("<p>0123456789</p>", 17, &small, &eb), SB_ERR_TOOBIG);
    T_INTEQ(small.len, 0);
    T_INTEQ(sb_html_to_text("<p>   0123   </p>", 17, &small, &eb), SB_OK); /* trimmed fits */
    T_STREQ(small.data, "0123");
    sb_buf_free(&small);
}

struct links {
    char v[8][128];
    int n;
};

static enum sb_err collect(void *ctx, const char *href)
{
    struct links *l = ctx;
    if (l->n < 8)
        snprintf(l->v[l->n++], sizeof l->v[0], "%s", href);
    return SB_OK;
}

static enum sb_err refuse(void *ctx, const char *href)
{
    return SB_ERR_NOMEM;
}

static void test_links(void)
{
    const char *html =
        "<p><span class=\"h-card\"><a href=\"https://m.s/@bob\" class=\"u-url mention\">"
        "@<span>bob</span></a></span> see <a href=\"https://example.com/a?b=1&amp;c=2\" "
        "rel=\"nofollow noopener\"><span class=\"invisible\">https://</span>example.com/a"
        "</a> <a href=\"https://m.s/tags/x\" class=\"mention hashtag\" rel=\"tag\">#<span>x"
        "</span></a> <a href=\"https://m.s/tags/y\" rel=\"tag\">#y</a> <a>no href</a> "
        "<a href=\"\">empty</a> <a href=\"https://two.example/\" class=\"MENTIONED\">t</a></p>";
    struct links l = {.n = 0};
    struct sb_buf b;
    sb_buf_init(&b, 0);
    T_INTEQ(sb_html_to_text_links(html, strlen(html), &b, collect, &l, NULL), SB_OK);
    T_STREQ(b.data, "@bob see https://example.com/a #x #y no href empty t");
    T_INTEQ(l.n, 2);
    T_STREQ(l.v[0], "https://example.com/a?b=1&c=2");
    T_STREQ(l.v[1], "https://two.example/");
    /* the callback's error stops the conversion and out is unchanged */
    sb_buf_reset(&b);
    T_INTEQ(sb_html_to_text_links(html, strlen(html), &b, refuse, NULL, NULL), SB_ERR_NOMEM);
    T_INTEQ(b.len, 0);
    sb_buf_free(&b);
}

/* libxml2 must never write to stderr, whatever it is fed. */
static void test_quiet(void)
{
    char path[] = "/tmp/sb_test_html_XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    const char *bad[] = {"<p>a <b>b <i>c</p>",
                         "<<<>>>",
                         "<!DOCTYPE x><html><html><body>",
                         "&#xFFFFFFFF; &#0; &unknown;",
                         "<p attr=\"unterminated>x",
                         "<?xml version=\"1.0\" encoding=\"latin1\"?><p>x</p>",
                         "<meta charset=\"iso-8859-1\"><p>\xc3\xa9</p>"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct sb_buf b;
        sb_buf_init(&b, 0);
        sb_html_to_text(bad[i], strlen(bad[i]), &b, NULL);
        sb_buf_free(&b);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    T_CHECK(fstat(fd, &st) == 0);
    T_INTEQ(st.st_size, 0);
    close(fd);
    unlink(path);

    /* a charset declaration must not override the forced UTF-8 */
    T_HTML("<meta charset=\"iso-8859-1\"><p>caf\xc3\xa9</p>", "caf\xc3\xa9");
}

static void *worker(void *arg)
{
    int *fails = arg;
    for (int i = 0; i < 200; i++) {
        struct sb_buf b;
        sb_buf_init(&b, 0);
        if (sb_html_to_text("<p>x&amp;y</p>", 14, &b, NULL) || strcmp(b.data, "x&y") != 0)
            (*fails)++;
        sb_buf_free(&b);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    int fails[4] = {0};
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, &fails[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        T_INTEQ(fails[i], 0);
    }
}

int main(void)
{
    /* first use happens on several threads at once */
    T_RUN(test_threads);
    T_RUN(test_mastodon_markup);
    T_RUN(test_blocks_and_whitespace);
    T_RUN(test_entities_and_malformed);
    T_RUN(test_errors_and_bounds);
    T_RUN(test_links);
    T_RUN(test_quiet);
    T_DONE();
}
