/* lines.c — file helpers for the CLI: whole-file reads and a bounded line reader (JSONL). */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"

int sb_cli_slurp(const char *path, struct sb_buf *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "switchboard: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char chunk[65536];
    size_t k;
    enum sb_err e = SB_OK;
    while (!e && (k = fread(chunk, 1, sizeof chunk, f)) > 0)
        e = sb_buf_append(b, chunk, k);
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (e == SB_ERR_TOOBIG) {
        fprintf(stderr, "switchboard: %s: larger than %zu bytes\n", path, b->max);
        return 1;
    }
    if (e || bad) {
        fprintf(stderr, "switchboard: %s: read error\n", path);
        return 1;
    }
    if (!b->data)
        sb_buf_append(b, "", 0);
    return 0;
}

int sb_lines_open(struct sb_lines *r, const char *path, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->own = strcmp(path, "-") != 0;
    r->f = r->own ? fopen(path, "rb") : stdin;
    if (!r->f)
        return -1;
    sb_buf_init(&r->line, max_line);
    return 0;
}

int sb_lines_next(struct sb_lines *r)
{
    sb_buf_reset(&r->line);
    r->oversized = 0;
    int c, any = 0;
    char tmp[4096];
    size_t tn = 0;
    while ((c = getc_unlocked(r->f)) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        if (r->oversized)
            continue;
        tmp[tn++] = (char)c;
        if (tn == sizeof tmp) {
            if (sb_buf_append(&r->line, tmp, tn))
                r->oversized = 1;
            tn = 0;
        }
    }
    if (tn && !r->oversized && sb_buf_append(&r->line, tmp, tn))
        r->oversized = 1;
    if (ferror(r->f))
        return -1;
    if (!any)
        return 0;
    r->lineno++;
    if (!r->line.data)
        sb_buf_append(&r->line, "", 0);
    return 1;
}

void sb_lines_close(struct sb_lines *r)
{
    if (r->own && r->f)
        fclose(r->f);
    sb_buf_free(&r->line);
    r->f = NULL;
}
