/* test_text.c — normalization, phrase lists, sentiment/urgency, UTF-8 and graphemes. */
#include "core/utf8.h"
#include "policy/text.h"
#include "t.h"

static const char *norm(const char *s)
{
    static struct sb_buf b;
    sb_buf_free(&b);
    sb_buf_init(&b, 0);
    T_INTEQ(sb_text_norm(s, strlen(s), &b), SB_OK);
    return b.data;
}

static void test_norm(void)
{
    T_STREQ(norm("Hello, World!"), "hello world");
    T_STREQ(norm("\xef\xbc\xb2\xef\xbc\xa5\xef\xbc\xa6\xef\xbc\xb5\xef\xbc\xae\xef\xbc\xa4"),
            "refund"); /* full-width */
    T_STREQ(norm("l\xc3\xa1wyer \xc3\x91"
                 "and\xc3\xba"),
            "lawyer nandu"); /* accents */
    T_STREQ(norm("STRASSE stra\xc3\x9f"
                 "e"),
            "strasse strasse"); /* ß folds */
    T_STREQ(norm("don't"), "don t");
    T_STREQ(norm("  spaced\t\nout  "), "spaced out");
    T_STREQ(norm("law\xc2\xadyer"), "lawyer");                       /* soft hyphen is ignorable */
    T_STREQ(norm("law\xe2\x80\x8byer"), "lawyer");                   /* zero-width space too */
    T_STREQ(norm("\xef\xac\x81le"), "file");                         /* ﬁ ligature */
    T_STREQ(norm("\xf0\x9f\x94\xa5 fire \xf0\x9f\x94\xa5"), "fire"); /* emoji separate */
    T_STREQ(norm("bad \xff\xfe bytes"), "bad bytes");                /* invalid UTF-8: separators */
    T_STREQ(norm(""), "");
    T_STREQ(norm("!!!"), "");
}

static struct sb_tokens tok;
static struct sb_buf tokbuf;

static struct sb_tokens *tokens(const char *s)
{
    sb_buf_free(&tokbuf);
    sb_buf_init(&tokbuf, 0);
    sb_text_norm(s, strlen(s), &tokbuf);
    T_INTEQ(sb_tokens_split(&tok, tokbuf.data, tokbuf.len), SB_OK);
    return &tok;
}

static void test_wordlist(void)
{
    struct sb_text_index *ix = sb_text_index_new();
    struct sb_wordlist *legal = sb_text_index_list_new(ix, "legal");
    struct sb_wordlist *praise = sb_text_index_list_new(ix, "praise");
    const char *file = "# legal words\nlawyer\nmy lawyer\n\n  small claims court  # with spaces\n"
                       "abogado\nsue\n";
    struct sb_errbuf eb;
    T_INTEQ(sb_wordlist_load_text(legal, file, strlen(file), &eb), SB_OK);
    T_INTEQ(sb_wordlist_size(legal), 5);
    T_INTEQ(sb_wordlist_add(praise, "love it", 7), SB_OK);
    T_INTEQ(sb_wordlist_add(praise, "love", 4), SB_OK);
    T_STREQ(sb_wordlist_find(ix, legal, tokens("I'm calling MY LAWYER now")), "my lawyer");
    T_STREQ(
        sb_wordlist_find(
            ix, legal,
            tokens("\xef\xbc\xac\xef\xbc\xa1\xef\xbc\xb7\xef\xbc\xb9\xef\xbc\xa5\xef\xbc\xb2!")),
        "lawyer");
    T_STREQ(sb_wordlist_find(ix, legal, tokens("see you in small-claims court")),
            "small claims court");
    T_STREQ(sb_wordlist_find(ix, legal, tokens("mi ABOGADO")), "abogado");
    T_CHECK(sb_wordlist_find(ix, legal, tokens("there is an issue")) == NULL); /* not "sue" */
    T_CHECK(sb_wordlist_find(ix, legal, tokens("lawyers")) == NULL);           /* whole words */
    T_CHECK(sb_wordlist_find(ix, legal, tokens("")) == NULL);
    T_STREQ(sb_wordlist_find(ix, praise, tokens("I love it")), "love it"); /* longest */
    T_STREQ(sb_wordlist_find(ix, praise, tokens("love you")), "love");
    T_STREQ(sb_wordlist_find(ix, legal, tokens("sue them, then a lawyer")), "sue"); /* earliest */
    const char *badfile = "ok\nbad \xff\n";
    struct sb_wordlist *bad = sb_text_index_list_new(ix, "bad");
    T_INTEQ(sb_wordlist_load_text(bad, badfile, strlen(badfile), &eb), SB_ERR_UTF8);
    T_CHECK(strstr(eb.msg, "line 2") != NULL);
    /* more lists than the 64-bit filter tracks still work */
    struct sb_wordlist *last = NULL;
    for (int i = 0; i < 70; i++) {
        last = sb_text_index_list_new(ix, "many");
        sb_wordlist_add(last, "needle", 6);
    }
    T_STREQ(sb_wordlist_find(ix, last, tokens("a needle here")), "needle");
    sb_text_index_free(ix);
}

static void test_sentiment(void)
{
    const char *angry = "This is the WORST service, totally useless!!! I hate it";
    const char *happy = "Love the new headphones, great sound, thanks!";
    const char *neutral = "Where is the nearest store";
    const char *negated = "the support was not good";
    double a = sb_text_sentiment(angry, strlen(angry), tokens(angry));
    double h = sb_text_sentiment(happy, strlen(happy), tokens(happy));
    double n = sb_text_sentiment(neutral, strlen(neutral), tokens(neutral));
    double g = sb_text_sentiment(negated, strlen(negated), tokens(negated));
    T_CHECK(a < -0.6 && a >= -1);
    T_CHECK(h > 0.5 && h <= 1);
    T_CHECK(n == 0);
    T_CHECK(g < 0);
    const char *urgent = "URGENT my account was HACKED, please help now!!!";
    const char *calm = "still waiting for an answer";
    double u = sb_text_urgency(urgent, strlen(urgent), tokens(urgent));
    double c = sb_text_urgency(calm, strlen(calm), tokens(calm));
    T_CHECK(u >= 0.99 && u <= 1);
    T_CHECK(c > 0 && c < 0.6);
}

static void test_utf8(void)
{
    T_CHECK(sb_utf8_valid("h\xc3\xa9llo", 6));
    T_CHECK(!sb_utf8_valid("\xff", 1));
    T_CHECK(!sb_utf8_valid("a\0b", 3));
    T_CHECK(!sb_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    T_CHECK(!sb_utf8_valid("\xc0\xaf", 2));     /* overlong */
    const char *family =
        "\xf0\x9f\x91\xa8\xe2\x80\x8d\xe2\x9d\xa4\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x91\xa8";
    T_INTEQ(sb_utf8_graphemes(family, strlen(family)), 1);
    T_INTEQ(sb_utf8_codepoints(family, strlen(family)), 6);
    char s[64];
    snprintf(s, sizeof s, "ab%scd", family);
    T_INTEQ(sb_utf8_graphemes(s, strlen(s)), 5);
    T_INTEQ(sb_utf8_grapheme_prefix(s, strlen(s), 3), 2 + strlen(family));
    T_INTEQ(sb_utf8_grapheme_prefix(s, strlen(s), 2), 2);
    /* a code-point cut never splits the cluster */
    T_INTEQ(sb_utf8_codepoint_prefix(s, strlen(s), 4), 2);
    T_INTEQ(sb_utf8_codepoint_prefix(s, strlen(s), 8), 2 + strlen(family));
}

int main(void)
{
    T_RUN(test_norm);
    T_RUN(test_wordlist);
    T_RUN(test_sentiment);
    T_RUN(test_utf8);
    sb_tokens_free(&tok);
    sb_buf_free(&tokbuf);
    norm("");
    T_DONE();
}
