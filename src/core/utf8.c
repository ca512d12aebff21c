/* utf8.c — UTF-8 helpers over utf8proc (see utf8.h). Invalid sequences count as one U+FFFD. */
#include "core/utf8.h"

#include <utf8proc.h>

bool sb_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            if (!*p)
                return false;
            p++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, end - p, &cp);
        if (k <= 0)
            return false;
        p += k;
    }
    return true;
}

static utf8proc_ssize_t next_cp(const unsigned char *p, const unsigned char *end,
                                utf8proc_int32_t *cp)
{
    if (*p < 0x80) {
        *cp = *p;
        return 1;
    }
    utf8proc_ssize_t k = utf8proc_iterate(p, end - p, cp);
    if (k <= 0) {
        *cp = 0xFFFD;
        return 1;
    }
    return k;
}

size_t sb_utf8_codepoints(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t count = 0;
    utf8proc_int32_t cp;
    while (p < end) {
        p += next_cp(p, end, &cp);
        count++;
    }
    return count;
}

/* Walk clusters; stop before cluster number max+1. */
static size_t walk(const char *s, size_t n, size_t max, size_t *clusters)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    utf8proc_int32_t prev = -1, cp, state = 0;
    size_t count = 0;
    while (p < end) {
        utf8proc_ssize_t k = next_cp(p, end, &cp);
        if (prev < 0 || utf8proc_grapheme_break_stateful(prev, cp, &state)) {
            if (count == max)
                break;
            count++;
        }
        prev = cp;
        p += k;
    }
    if (clusters)
        *clusters = count;
    return (size_t)(p - (const unsigned char *)s);
}

size_t sb_utf8_graphemes(const char *s, size_t n)
{
    size_t c = 0;
    walk(s, n, (size_t)-1, &c);
    return c;
}

size_t sb_utf8_grapheme_prefix(const char *s, size_t n, size_t max)
{
    return walk(s, n, max, NULL);
}

size_t sb_utf8_codepoint_prefix(const char *s, size_t n, size_t max)
{
    /* Find the last cluster boundary at or before max code points. */
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    utf8proc_int32_t prev = -1, cp, state = 0;
    size_t cps = 0, boundary = 0;
    while (p < end) {
        utf8proc_ssize_t k = next_cp(p, end, &cp);
        if (prev < 0 || utf8proc_grapheme_break_stateful(prev, cp, &state))
            boundary = (size_t)(p - (const unsigned char *)s);
        if (cps == max)
            return boundary;
        cps++;
        prev = cp;
        p += k;
    }
    return n;
}
