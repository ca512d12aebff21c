/* buf.c — bounded growable buffer (see buf.h). Depends on libc only. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_buf_init(struct sb_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : 64u << 20;
}

void sb_buf_free(struct sb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sb_buf_reset(struct sb_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

static enum sb_err reserve(struct sb_buf *b, size_t extra)
{
    if (extra > b->max || b->len + extra > b->max)
        return SB_ERR_TOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return SB_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return SB_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return SB_OK;
}

enum sb_err sb_buf_reserve(struct sb_buf *b, size_t extra)
{
    enum sb_err e = reserve(b, extra);
    if (!e)
        b->data[b->len] = 0;
    return e;
}

enum sb_err sb_buf_append(struct sb_buf *b, const void *p, size_t n)
{
    enum sb_err e = reserve(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return SB_OK;
}

enum sb_err sb_buf_puts(struct sb_buf *b, const char *s)
{
    return sb_buf_append(b, s, strlen(s));
}

enum sb_err sb_buf_putc(struct sb_buf *b, char c)
{
    return sb_buf_append(b, &c, 1);
}

enum sb_err sb_buf_printf(struct sb_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SB_ERR_INVAL;
    if ((size_t)n < sizeof small)
        return sb_buf_append(b, small, (size_t)n);
    enum sb_err e = reserve(b, (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SB_OK;
}

enum sb_err sb_buf_json_str(struct sb_buf *b, const char *s, size_t n)
{
    enum sb_err e = sb_buf_putc(b, '"');
    for (size_t i = 0; !e && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            e = sb_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            e = sb_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            e = sb_buf_append(b, "\\n", 2);
            break;
        case '\r':
            e = sb_buf_append(b, "\\r", 2);
            break;
        case '\t':
            e = sb_buf_append(b, "\\t", 2);
            break;
        default:
            if (c < 0x20)
                e = sb_buf_printf(b, "\\u%04x", c);
            else
                e = sb_buf_putc(b, (char)c);
        }
    }
    return e ? e : sb_buf_putc(b, '"');
}

int sb_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
