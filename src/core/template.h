/* template.h — reply templates: "Hi {{author.name}}, …" rendered against a post (design §2).
 * Values that come from users are escaped so a display name can never mention, tag or
 * re-order text; the result is cut to the platform's limit on a grapheme boundary. Pure. */
#ifndef SB_TEMPLATE_H
#define SB_TEMPLATE_H

#include <stddef.h>

#include "core/post.h"
#include "util/buf.h"
#include "util/err.h"

#define SB_TEMPLATE_FIELD_MAX 64 /* graphemes per substituted user value */
#define SB_TEMPLATE_SRC_MAX 8192 /* bytes of template source */

struct sb_tmpl_var {
    const char *key;   /* borrowed */
    const char *value; /* borrowed, user-controlled: escaped on output */
};

/* Render tpl[0..n) into out (appended). Fields: author.{name,handle,id}, post.{platform,lang,
 * kind,url,id}, or a key of vars; "{{field|fallback}}" uses the fallback text when the field
 * is empty (or, for author.name, unknown: otherwise it reads "friend"). An unknown field or an
 * unclosed "{{" is SB_ERR_INVAL with the field named in eb. */
enum sb_err sb_template_render(const char *tpl, size_t n, const struct sb_post *p,
                               const struct sb_tmpl_var *vars, size_t nvars, struct sb_buf *out,
                               struct sb_errbuf *eb);

/* Maximum public length on a platform, and its unit. */
size_t sb_template_platform_limit(enum sb_platform pl, int *by_graphemes);

/* Cut the text in b (from byte `from`) to the platform limit, ending with "…" if cut. */
enum sb_err sb_template_fit(struct sb_buf *b, size_t from, enum sb_platform pl);

#endif
