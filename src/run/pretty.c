/* pretty.c — see pretty.h. */
#include "run/pretty.h"

#include <string.h>

void sb_pretty_excerpt(FILE *f, const char *s, size_t max)
{
    size_t n = strlen(s), cut = n;
    if (n > max) {
        cut = max;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++)
        fputc(s[i] == '\n' || s[i] == '\r' ? ' ' : s[i], f);
    if (cut < n)
        fputs("\xE2\x80\xA6", f);
}

void sb_pretty_decision(FILE *f, const struct sb_post *p, const struct sb_decision *d)
{
    const char *who = p->author.handle ? p->author.handle : p->author.id;
    fprintf(f, "\n[%s] %s%s: ", sb_platform_name(p->platform), p->author.handle ? "@" : "", who);
    sb_pretty_excerpt(f, p->text ? p->text : "", 110);
    fprintf(f, "\n   \xE2\x86\x92 %s", sb_action_name(d->action));
    if (d->action == SB_ACTION_ESCALATE)
        fprintf(f, " to %s (%s)", d->queue ? d->queue : "?", sb_priority_name(d->priority));
    for (int i = 0; i < d->n_reasons; i++)
        fprintf(f, "%s%s", i ? "; " : " \xE2\x80\x94 ", d->reasons[i]);
    if (d->reply) {
        fprintf(f, "\n     public reply: ");
        sb_pretty_excerpt(f, d->reply, 160);
    }
    if (d->message) {
        fprintf(f, "\n     private message: ");
        sb_pretty_excerpt(f, d->message, 160);
    }
    if (d->error)
        fprintf(f, "\n     policy error: %s", d->error->message ? d->error->message : "");
    fputc('\n', f);
    fflush(f);
}
