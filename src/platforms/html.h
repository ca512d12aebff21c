/* html.h — HTML post content (Mastodon's `content`) to the plain text a policy reads.
 *
 * Parsing is libxml2's HTML parser (tolerant of anything a remote server sends), not a
 * hand-made tag stripper. Rules: text is appended with entities decoded and runs of ASCII
 * whitespace collapsed to one space (kept verbatim inside <pre>); <br> is "\n"; paragraphs
 * and other blocks are separated by "\n\n" (<div>, <li>, <tr> by "\n"); <script>, <style>,
 * <head> and <template> are dropped; leading and trailing whitespace is trimmed.
 * Mastodon specifics fall out of this: <span class="invisible"> parts of a link are kept, so
 * a link's text is its full URL, and `@<span>user</span>` reads "@user". */
#ifndef SB_HTML_H
#define SB_HTML_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Largest HTML input accepted (Mastodon allows 500 characters by default; this is generous). */
#define SB_HTML_INPUT_MAX (1u << 20)

/* Called once per <a href> in document order that is neither a mention nor a hashtag (class
 * token "mention" or "hashtag", or rel token "tag"). href is borrowed for the call only.
 * Returning non-SB_OK stops the conversion with that error. */
typedef enum sb_err (*sb_html_link_fn)(void *ctx, const char *href);

/* Append the plain text of html[0..len) to out (bounded by out->max). html need not be
 * NUL-terminated; it is borrowed. Empty or whitespace-only HTML yields no text and SB_OK.
 * Errors: SB_ERR_TOOBIG (len over SB_HTML_INPUT_MAX, or out would pass its maximum),
 * SB_ERR_UTF8 (html is not valid UTF-8 or contains a NUL), SB_ERR_NOMEM. On error out is
 * unchanged. Thread-safe; libxml2 is initialised on first use and never prints. */
enum sb_err sb_html_to_text(const char *html, size_t len, struct sb_buf *out, struct sb_errbuf *eb);

/* The same, also reporting links through on_link (may be NULL). */
enum sb_err sb_html_to_text_links(const char *html, size_t len, struct sb_buf *out,
                                  sb_html_link_fn on_link, void *ctx, struct sb_errbuf *eb);

#endif
