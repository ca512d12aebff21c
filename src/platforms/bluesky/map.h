/* bluesky/map.h — Bluesky Jetstream v1 events (`/subscribe` text frames) to the
 * platform-neutral event (core/post.h). Pure functions: no I/O, no globals. */
#ifndef SB_BLUESKY_MAP_H
#define SB_BLUESKY_MAP_H

#include <jansson.h>

#include "core/post.h"

/* Map one Jetstream event into ev (initialised by the caller; reset first; strings go into
 * ev->post.arena; root is borrowed). ev->cursor = time_us for every accepted event.
 *   kind "commit", collection app.bsky.feed.post:
 *     operation "create" → SB_EVENT_POST, "update" → SB_EVENT_UPDATE:
 *       id = at://<did>/app.bsky.feed.post/<rkey>, cid = commit.cid, text = record.text,
 *       lang = record.langs[0], created_at = record.createdAt, visibility "public",
 *       url = https://bsky.app/profile/<did>/post/<rkey>, author {id = name = did,
 *       handle NULL, followers -1}; with record.reply: kind reply, in_reply_to(_cid) =
 *       parent uri/cid, thread(_cid) = root uri/cid; otherwise kind mention, thread = id,
 *       thread_cid = cid. Facets (UTF-8 byte ranges, byteStart inclusive, byteEnd
 *       exclusive; a facet whose range is outside the text or splits a character is
 *       skipped): #mention → mentions {did, the facet text without '@'}, #link → links,
 *       #tag → tags; record.tags[] add tags and an external embed's uri adds a link.
 *     operation "delete" → SB_EVENT_DELETE, post.id the at:// URI (post.author.id = did).
 *   every other commit, and kinds "identity", "account", ... → SB_EVENT_SKIP with a static
 *   skip_kind: "commit:<collection>" for known collections ("commit:other" otherwise),
 *   "identity", "account", "sync", "unknown".
 * Errors (detail in eb): SB_ERR_SCHEMA (no did/kind/time_us, a malformed commit or post
 * record, a did or rkey that is not URI-safe), SB_ERR_UTF8 (text is not valid UTF-8),
 * SB_ERR_TOOBIG (text over SB_POST_TEXT_MAX), SB_ERR_NOMEM. On error ev is left reset. */
enum sb_err sb_bluesky_map_event(const json_t *root, struct sb_event *ev, struct sb_errbuf *eb);

#endif
