/* utf8.h — UTF-8 validity, code points and grapheme clusters (utf8proc underneath). Pure. */
#ifndef SB_UTF8_H
#define SB_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..n) is valid UTF-8 and holds no NUL byte. */
bool sb_utf8_valid(const char *s, size_t n);
size_t sb_utf8_codepoints(const char *s, size_t n);
/* Number of extended grapheme clusters. */
size_t sb_utf8_graphemes(const char *s, size_t n);
/* Byte length of the longest prefix holding at most max clusters. */
size_t sb_utf8_grapheme_prefix(const char *s, size_t n, size_t max);
/* Byte length of the longest prefix holding at most max code points, ending on a grapheme
 * boundary. */
size_t sb_utf8_codepoint_prefix(const char *s, size_t n, size_t max);

#endif
