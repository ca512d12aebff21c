/* cli.h — the command-line commands (each returns a process exit status). */
#ifndef SB_CLI_H
#define SB_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "util/buf.h"

int sb_cli_policy(int argc, char **argv);
int sb_cli_replay(int argc, char **argv);
int sb_cli_migrate(int argc, char **argv);
int sb_cli_outbox(int argc, char **argv);
int sb_cli_agent(int argc, char **argv);

/* Read a whole file (or stdin for "-") into b, refusing more than b->max bytes. Prints a clear
 * error and returns non-zero on failure. */
int sb_cli_slurp(const char *path, struct sb_buf *b);

/* Line reader with a maximum line length: longer lines are reported (oversized = 1) and
 * skipped, never split. */
struct sb_lines {
    FILE *f;
    struct sb_buf line;
    char *rbuf; /* read buffer: lines are found with memchr, not byte by byte */
    size_t rpos, rlen;
    int eof;
    long lineno;
    int oversized;
    int own;
};
int sb_lines_open(struct sb_lines *r, const char *path, size_t max_line);
/* 1 = a line is in r->line (without '\n'), 0 = end, -1 = read error. */
int sb_lines_next(struct sb_lines *r);
void sb_lines_close(struct sb_lines *r);

#endif
