/* envelope.h — a fast path for Mastodon's streaming envelope
 * {"stream":[…],"event":"…","payload":"<JSON text as a string>"}: find the event name and
 * unescape the payload string without building the outer document, so the payload is parsed
 * once instead of twice. Anything unexpected returns 0 and the caller parses the frame
 * normally (jansson), so this never decides what is valid JSON. Pure. */
#ifndef SB_MASTODON_ENVELOPE_H
#define SB_MASTODON_ENVELOPE_H

#include <stddef.h>

#include "util/buf.h"

/* On success returns 1, with the event name copied into event (NUL-terminated, cut to cap) and
 * the unescaped payload appended to payload. Returns 0 when the frame is not a plain envelope
 * of that shape (then event/payload content is unspecified). */
int sb_mastodon_envelope_split(const char *frame, size_t n, char *event, size_t cap,
                               struct sb_buf *payload);

#endif
