/* test_chunked.c — the HTTP chunked-body decoder: whole and byte by byte, extensions and
 * trailers, malformed input and the body limit. */
#include <string.h>

#include "net/chunked.h"
#include "t.h"

/* Decode s in pieces of step bytes; returns the final status, body in b. */
static int feed(const char *s, size_t step, struct sb_buf *b, size_t max)
{
    struct sb_chunked ch;
    memset(&ch, 0, sizeof ch);
    sb_buf_init(b, max);
    size_t n = strlen(s);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i += step)
        r = sb_chunked_feed(&ch, b, (const unsigned char *)s + i, i + step > n ? n - i : step);
    return r;
}

static void test_valid(void)
{
    const char *body = "4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
                       "X-Trailer: yes\r\n\r\n";
    for (size_t step = 1; step <= strlen(body); step++) {
        struct sb_buf b;
        T_INTEQ(feed(body, step, &b, 1024), 1);
        T_STREQ(b.data, "Wikipedia in\r\n\r\nchunks.");
        sb_buf_free(&b);
    }
    struct sb_buf b;
    T_INTEQ(feed("0\r\n\r\n", 1, &b, 16), 1);
    T_INTEQ(b.len, 0);
    sb_buf_free(&b);
    T_INTEQ(feed("a\r\n0123456789\r\n", 3, &b, 64), 0); /* more to come */
    sb_buf_free(&b);
}

static void test_invalid(void)
{
    static const char *const bad[] = {"\r\n", "g\r\nx\r\n0\r\n\r\n", "4\r\nWikiX\r\n",
                                      "4\nWiki\r\n0\r\n\r\n", "4\r\nWiki\r0\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sb_buf b;
        T_INTEQ(feed(bad[i], 1, &b, 1024), 400);
        sb_buf_free(&b);
    }
    struct sb_buf b;
    T_INTEQ(feed("11\r\n", 1, &b, 16), 413); /* 17 bytes announced, 16 allowed */
    sb_buf_free(&b);
    T_INTEQ(feed("ffffffffffffffffff\r\n", 1, &b, 16), 413);
    sb_buf_free(&b);
}

int main(void)
{
    T_RUN(test_valid);
    T_RUN(test_invalid);
    T_DONE();
}
