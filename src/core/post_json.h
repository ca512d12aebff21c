/* post_json.h — the normalized post as JSON (what `policy try`, replay and the generic webhook
 * accept), and the checked string copy the platform mappers share.
 *
 * sb_post_to_json (the writer) is declared in core/post.h; this header adds the reader. */
#ifndef SB_POST_JSON_H
#define SB_POST_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/post.h"

/* Maximum bytes of any string field other than text (ids, URLs, handles, names). */
#define SB_POST_FIELD_MAX 8192u

/* Fill p from one normalized post object, the shape sb_post_to_json writes:
 *   required  platform ("mastodon" | "bluesky"), id, text, author.id
 *   optional  cid account kind lang url created_at visibility thread thread_cid in_reply_to
 *             in_reply_to_cid mentions[{id,handle}] tags[] links[]
 *             author{handle,name,followers,verified,bot,created_at}
 *   defaults  kind "mention", visibility "public", thread = id, followers -1, name = handle
 *             or id; JSON null counts as absent; lists past SB_POST_LIST_MAX are truncated.
 * obj is borrowed. p must be initialised (sb_post_init); it is reset first, and every string
 * is copied into p->arena. Errors (detail in eb): SB_ERR_SCHEMA (missing field, wrong type,
 * unknown platform or kind), SB_ERR_UTF8 (a string is not valid UTF-8 or holds a NUL),
 * SB_ERR_TOOBIG (text over SB_POST_TEXT_MAX, another field over SB_POST_FIELD_MAX),
 * SB_ERR_NOMEM. On error p is left reset. */
enum sb_err sb_post_from_json(const json_t *obj, struct sb_post *p, struct sb_errbuf *eb);

/* Copy the JSON string v into p->arena after checking it; `what` names the field in eb.
 * v NULL or JSON null → *out = NULL and SB_OK. Not a string → SB_ERR_SCHEMA; longer than
 * max bytes → SB_ERR_TOOBIG; invalid UTF-8 or an embedded NUL → SB_ERR_UTF8. v is borrowed;
 * *out lives in p->arena. */
enum sb_err sb_post_json_string_copy(struct sb_post *p, const json_t *v, size_t max,
                                     const char *what, const char **out, struct sb_errbuf *eb);

#endif
