/* lines.c — file helpers for the CLI: whole-file reads and a bounded line reader (JSONL). */
#include <errno.h>
#include <stdlib.h>
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

#define RBUF 65536

int sb_lines_open(struct sb_lines *r, const char *path, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->own = strcmp(path, "-") != 0;
    r->f = r->own ? fopen(path, "rb") : stdin;
    if (!r->f)
        return -1;
    r->rbuf = malloc(RBUF);
    if (!r->rbuf) {
        if (r->own)
            fclose(r->f);
        r->f = NULL;
        return -1;
    }
    sb_buf_init(&r->line, max_line);
    return 0;
}

/* Refill the read buffer; 0 at end of file, -1 on error. */
static int refill(struct sb_lines *r)
{
    if (r->eof)
        return 0;
    r->rlen = fread(r->rbuf, 1, RBUF, r->f);
    r->rpos = 0;
    if (r->rlen == 0) {
        r->eof = 1;
        return ferror(r->f) ? -1 : 0;
    }
    return 1;
}

int sb_lines_next(struct sb_lines *r)
{
    sb_buf_reset(&r->line);
    r->oversized = 0;
    int any = 0;
    for (;;) {
        if (r->rpos == r->rlen) {
            int k = refill(r);
            if (k < 0)
                return -1;
            if (k == 0)
                break;
        }
        const char *p = r->rbuf + r->rpos;
        size_t avail = r->rlen - r->rpos;
        const char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        any = 1;
        if (!r->oversized && sb_buf_append(&r->line, p, take))
            r->oversized = 1; /* keep reading to the end of the line, keep nothing */
        r->rpos += take + (nl ? 1 : 0);
        if (nl)
            break;
    }
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
    free(r->rbuf);
    sb_buf_free(&r->line);
    r->f = NULL;
    r->rbuf = NULL;
}
