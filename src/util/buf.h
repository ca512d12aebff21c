/* buf.h — growable byte buffer with a hard maximum (every buffer fed by input has one). */
#ifndef SB_BUF_H
#define SB_BUF_H

#include <stddef.h>

#include "util/err.h"

struct sb_buf {
    char *data; /* always NUL-terminated when len > 0 or after any append */
    size_t len, cap, max;
};

/* Initialise an empty buffer that refuses to grow past max bytes (0 = 64 MiB). */
void sb_buf_init(struct sb_buf *b, size_t max);
void sb_buf_free(struct sb_buf *b);
void sb_buf_reset(struct sb_buf *b);
/* Make room for `extra` more bytes (plus the terminator) without changing len: for writers that
 * fill data + len directly and then set len. SB_ERR_TOOBIG past max, SB_ERR_NOMEM. */
enum sb_err sb_buf_reserve(struct sb_buf *b, size_t extra);
/* SB_ERR_TOOBIG past max, SB_ERR_NOMEM on allocation failure; the buffer is unchanged then. */
enum sb_err sb_buf_append(struct sb_buf *b, const void *p, size_t n);
enum sb_err sb_buf_puts(struct sb_buf *b, const char *s);
enum sb_err sb_buf_putc(struct sb_buf *b, char c);
enum sb_err sb_buf_printf(struct sb_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The value of a hex digit (0-9, a-f, A-F), or -1. */
int sb_hex_digit(int c);
/* Append s as a JSON string literal (quotes and escapes included). */
enum sb_err sb_buf_json_str(struct sb_buf *b, const char *s, size_t n);

#endif
