/* test_template.c — template rendering: fields, escaping of user values, limits, errors. */
#include "core/template.h"
#include "core/utf8.h"
#include "t.h"

static struct sb_post post;
static struct sb_buf out;

static const char *render(const char *tpl, const struct sb_tmpl_var *v, size_t nv, enum sb_err want)
{
    static struct sb_errbuf eb;
    eb.msg[0] = 0;
    sb_buf_reset(&out);
    enum sb_err e = sb_template_render(tpl, strlen(tpl), &post, v, nv, &out, &eb);
    T_INTEQ(e, want);
    return e ? eb.msg : (out.data ? out.data : "");
}

static void test_fields(void)
{
    T_STREQ(render("Hi {{author.name}}!", NULL, 0, SB_OK), "Hi Ana!");
    T_STREQ(render("Hi {{ author.handle }} on {{post.platform}}", NULL, 0, SB_OK),
            "Hi ana@\xe2\x80\x8bsocial.example on mastodon");
    struct sb_tmpl_var v[] = {{"order", "#4411"}, {"n", "3"}};
    T_STREQ(render("Order {{order}} ({{n}})", v, 2, SB_OK), "Order #\xe2\x80\x8b"
                                                            "4411 (3)");
    T_STREQ(render("no fields", NULL, 0, SB_OK), "no fields");
    T_CHECK(
        strstr(render("Hi {{author.nmae}}", NULL, 0, SB_ERR_INVAL), "unknown field 'author.nmae'"));
    T_CHECK(strstr(render("Hi {{author.name", NULL, 0, SB_ERR_INVAL), "unclosed"));
}

static void test_escaping(void)
{
    /* a display name that tries to mention, tag, inject a template or flip text direction */
    post.author.name = "@everyone #sale {{author.id}} \xe2\x80\xae"
                       "evil\n\x01";
    const char *r = render("Hi {{author.name}}", NULL, 0, SB_OK);
    T_STREQ(r, "Hi @\xe2\x80\x8b"
               "everyone #\xe2\x80\x8b"
               "sale {{author.id}} evil ");
    /* names are cut at 64 graphemes with an ellipsis */
    char longname[300];
    memset(longname, 'x', 200);
    longname[200] = 0;
    post.author.name = longname;
    r = render("{{author.name}}", NULL, 0, SB_OK);
    T_INTEQ(sb_utf8_graphemes(r, strlen(r)), 65);
    T_CHECK(strstr(r, "\xe2\x80\xa6") != NULL);
    /* unknown name: a natural word, or the template's own fallback */
    post.author.name = NULL;
    post.author.handle = NULL;
    T_STREQ(render("Hi {{author.name}}", NULL, 0, SB_OK), "Hi friend");
    T_STREQ(render("Hi {{author.name|there}}!", NULL, 0, SB_OK), "Hi there!");
    struct sb_tmpl_var v[] = {{"order", ""}};
    T_STREQ(render("Order {{order | unknown}}", v, 1, SB_OK), "Order unknown");
    post.author.name = "Ana";
    post.author.handle = "ana@social.example";
    T_STREQ(render("Hi {{author.name|there}}", NULL, 0, SB_OK), "Hi Ana");
}

static void test_limits(void)
{
    char big[2000];
    memset(big, 'a', 1500);
    big[1500] = 0;
    sb_buf_reset(&out);
    sb_buf_puts(&out, big);
    T_INTEQ(sb_template_fit(&out, 0, SB_PLATFORM_MASTODON), SB_OK);
    T_INTEQ(sb_utf8_codepoints(out.data, out.len), 500);
    sb_buf_reset(&out);
    /* Bluesky counts graphemes: 400 family emoji (25 bytes each) → 300 clusters */
    for (int i = 0; i < 400; i++)
        sb_buf_puts(
            &out,
            "\xf0\x9f\x91\xa8\xe2\x80\x8d\xe2\x9d\xa4\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x91\xa8");
    T_INTEQ(sb_template_fit(&out, 0, SB_PLATFORM_BLUESKY), SB_OK);
    T_INTEQ(sb_utf8_graphemes(out.data, out.len), 300);
    T_CHECK(sb_utf8_valid(out.data, out.len));
    /* short text is untouched */
    sb_buf_reset(&out);
    sb_buf_puts(&out, "short");
    T_INTEQ(sb_template_fit(&out, 0, SB_PLATFORM_BLUESKY), SB_OK);
    T_STREQ(out.data, "short");
    char huge[SB_TEMPLATE_SRC_MAX + 10];
    memset(huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    render(huge, NULL, 0, SB_ERR_TOOBIG);
}

int main(void)
{
    sb_post_init(&post);
    sb_buf_init(&out, 1 << 20);
    post.platform = SB_PLATFORM_MASTODON;
    post.id = "1";
    post.author.id = "42";
    post.author.name = "Ana";
    post.author.handle = "ana@social.example";
    T_RUN(test_fields);
    T_RUN(test_escaping);
    T_RUN(test_limits);
    sb_buf_free(&out);
    sb_post_free(&post);
    T_DONE();
}
