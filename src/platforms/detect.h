/* detect.h — one entry point for "here is a JSON event, make it a post": decides which
 * mapper applies from the object's shape, so replay, `policy try` and the generic webhook
 * need not know where an event came from. Pure: no I/O. */
#ifndef SB_DETECT_H
#define SB_DETECT_H

#include <jansson.h>

#include "core/post.h"

/* Map root into ev (initialised by the caller; reset first; root borrowed) by its shape:
 *   "kind" and "did"                                      → Bluesky Jetstream event
 *   "event" and "stream", "type" and "account",
 *   or "content" and "account"                            → Mastodon frame / Notification /
 *                                                            Status
 *   "platform"                                            → normalized post (SB_EVENT_POST)
 * Errors are the chosen mapper's (see mastodon/map.h, bluesky/map.h, core/post_json.h);
 * SB_ERR_SCHEMA "unrecognized event shape" when nothing matches. On error ev is left reset. */
enum sb_err sb_platform_map_json(const json_t *root, struct sb_event *ev, struct sb_errbuf *eb);

#endif
