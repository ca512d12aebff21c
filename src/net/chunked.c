/* chunked.c — see chunked.h. */
#include "net/chunked.h"

int sb_chunked_feed(struct sb_chunked *ch, struct sb_buf *body, const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && ch->st != CH_DONE) {
        unsigned char b = p[i];
        switch (ch->st) {
        case CH_SIZE: {
            int v = sb_hex_digit(b);
            if (v >= 0) {
                if (++ch->digits > 15)
                    return 413;
                ch->size = ch->size * 16 + (uint64_t)v;
            } else if (!ch->digits) {
                return 400;
            } else if (b == ';' || b == ' ' || b == '\t') {
                ch->st = CH_EXT;
            } else if (b == '\r') {
                ch->st = CH_SIZE_LF;
            } else {
                return 400;
            }
            if (ch->size > body->max - body->len)
                return 413;
            i++;
            break;
        }
        case CH_EXT:
            if (b == '\r')
                ch->st = CH_SIZE_LF;
            else if (++ch->ext > CHUNK_EXT_MAX)
                return 400;
            i++;
            break;
        case CH_SIZE_LF:
            if (b != '\n')
                return 400;
            ch->st = ch->size ? CH_DATA : CH_TRAILER_START;
            i++;
            break;
        case CH_DATA: {
            size_t take = n - i;
            if (take > ch->size)
                take = (size_t)ch->size;
            if (sb_buf_append(body, p + i, take) != SB_OK)
                return 413;
            ch->size -= take;
            i += take;
            if (!ch->size)
                ch->st = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (b != '\r')
                return 400;
            ch->st = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (b != '\n')
                return 400;
            ch->st = CH_SIZE;
            ch->size = 0;
            ch->digits = 0;
            ch->ext = 0;
            i++;
            break;
        case CH_TRAILER_START:
            ch->st = b == '\r' ? CH_LAST_LF : CH_TRAILER_LINE;
            if (++ch->trailer > CHUNK_TRAILER_MAX)
                return 400;
            i++;
            break;
        case CH_TRAILER_LINE:
            if (b == '\r')
                ch->st = CH_TRAILER_LF;
            if (++ch->trailer > CHUNK_TRAILER_MAX)
                return 400;
            i++;
            break;
        case CH_TRAILER_LF:
            if (b != '\n')
                return 400;
            ch->st = CH_TRAILER_START;
            i++;
            break;
        case CH_LAST_LF:
            if (b != '\n')
                return 400;
            ch->st = CH_DONE;
            i++;
            break;
        case CH_DONE:
            break;
        }
    }
    return ch->st == CH_DONE;
}

/* Refuse a body: 413 now, then read and drop at most DRAIN_MAX bytes of it so the client is
 * reading our answer, not a reset, when we close. */
