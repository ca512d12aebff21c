/* mastodon/map.h — Mastodon JSON (streaming frames, Notification and Status entities) to the
 * platform-neutral post and event (core/post.h). Pure functions: no I/O, no globals. */
#ifndef SB_MASTODON_MAP_H
#define SB_MASTODON_MAP_H

#include <jansson.h>

#include "core/post.h"

/* Largest streaming `payload` string accepted (it is parsed a second time). */
#define SB_MASTODON_PAYLOAD_MAX (1u << 20)

/* Map one Status entity into p (initialised by the caller; reset first; strings go into
 * p->arena; status is borrowed):
 *   id, url (else uri), text = plain text of the HTML content, preceded by spoiler_text and a
 *   blank line when there is one, lang = language, created_at/created_ms, visibility,
 *   in_reply_to = in_reply_to_id, thread = in_reply_to_id (the root is not known) or id,
 *   kind direct (visibility "direct") / reply (in_reply_to_id) / mention,
 *   mentions = mentions[] {id, acct}, tags = tags[].name, links = the content's <a href>s
 *   that are not mentions or hashtags, then card.url (deduplicated),
 *   author = account {id, acct, display_name (else username, acct), followers_count, bot,
 *   created_at, verified = some fields[].verified_at is set}.
 * Errors (detail in eb): SB_ERR_SKIP for a boost (`reblog` set: not a post of its own),
 * SB_ERR_SCHEMA (missing id/content/account.id, wrong types), SB_ERR_UTF8, SB_ERR_TOOBIG
 * (text over SB_POST_TEXT_MAX, a field over SB_POST_FIELD_MAX), SB_ERR_NOMEM. On error p is
 * left reset. */
enum sb_err sb_mastodon_map_status(const json_t *status, struct sb_post *p, struct sb_errbuf *eb);

/* Map one Mastodon object into ev (initialised by the caller; reset first; root borrowed).
 * Accepted shapes:
 *   streaming envelope {"stream":[...],"event":E,"payload":"<JSON string>"}:
 *     E "update" → SB_EVENT_POST (a boost → SB_EVENT_SKIP "update:reblog"),
 *     "status.update" → SB_EVENT_UPDATE ("status.update:reblog" for a boost),
 *     "notification" → as a Notification below,
 *     "delete" (payload is the bare status id) → SB_EVENT_DELETE with post.platform and
 *     post.id, anything else → SB_EVENT_SKIP with skip_kind E ("filters_changed",
 *     "conversation", "announcement", ...; "unknown" for an event this code does not know);
 *   Notification entity (has "type" and "account"): type "mention" → SB_EVENT_POST from its
 *     status, other types → SB_EVENT_SKIP "notification:<type>" ("notification:unknown" for
 *     types this code does not know); ev->cursor = the notification id when it is numeric
 *     (the `min_id` to resume catch-up from);
 *   bare Status (has "content" and "account") → SB_EVENT_POST (a boost → SKIP "reblog").
 * skip_kind is always a static string. Errors: SB_ERR_JSON (payload string is not JSON),
 * SB_ERR_TOOBIG (payload over SB_MASTODON_PAYLOAD_MAX, or as for map_status),
 * SB_ERR_SCHEMA (none of the shapes, or a payload of the wrong type), SB_ERR_UTF8,
 * SB_ERR_NOMEM. On error ev is left reset. */
enum sb_err sb_mastodon_map_event(const json_t *root, struct sb_event *ev, struct sb_errbuf *eb);

#endif
