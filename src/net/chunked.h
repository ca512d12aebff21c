/* chunked.h — HTTP/1.1 chunked transfer coding, decoded incrementally into a bounded buffer
 * (libwebsockets 4.1.6 does not decode chunked request bodies). Pure: no I/O. */
#ifndef SB_CHUNKED_H
#define SB_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define CHUNK_EXT_MAX 1024     /* bytes of chunk extensions per chunk */
#define CHUNK_TRAILER_MAX 8192 /* bytes of trailer fields */

enum sb_chunk_state {
    CH_SIZE,
    CH_EXT,
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,
    CH_TRAILER_LINE,
    CH_TRAILER_LF,
    CH_LAST_LF,
    CH_DONE,
};

struct sb_chunked {
    enum sb_chunk_state st;
    uint64_t size; /* of the chunk being read */
    int digits;
    size_t ext, trailer;
};

/* Feed n more bytes of the coded body; decoded data is appended to body (its max bounds the
 * body). Returns 1 when the last chunk is in, 0 when more is needed, or an HTTP status for an
 * error: 413 (over body->max), 400 (malformed). A zeroed struct sb_chunked starts a body. */
int sb_chunked_feed(struct sb_chunked *ch, struct sb_buf *body, const unsigned char *p, size_t n);

#endif
