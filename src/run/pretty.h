/* pretty.h — the human view of decisions (replay --pretty, the demo): one short block per post. */
#ifndef SB_PRETTY_H
#define SB_PRETTY_H

#include <stdio.h>

#include "core/decision.h"
#include "core/post.h"

/* Up to max bytes of s on one line, cut on a UTF-8 boundary, newlines shown as spaces. */
void sb_pretty_excerpt(FILE *f, const char *s, size_t max);
/* What came in, what was decided, what will be said. */
void sb_pretty_decision(FILE *f, const struct sb_post *p, const struct sb_decision *d);

#endif
