/* err.h — the one error enum of Switchboard.
 * Every fallible function returns enum sb_err; SB_OK is zero. Human detail goes into an
 * optional caller-provided buffer (struct sb_errbuf), never into a global. */
#ifndef SB_ERR_H
#define SB_ERR_H

#include <stddef.h>

enum sb_err {
    SB_OK = 0,
    SB_ERR_NOMEM,    /* allocation failed */
    SB_ERR_INVAL,    /* caller passed something invalid */
    SB_ERR_TOOBIG,   /* an input exceeded its maximum size */
    SB_ERR_JSON,     /* malformed JSON */
    SB_ERR_UTF8,     /* invalid UTF-8 */
    SB_ERR_SCHEMA,   /* well-formed input of the wrong shape */
    SB_ERR_SKIP,     /* event understood but not a post (counted, never an error) */
    SB_ERR_IO,       /* file or socket error */
    SB_ERR_STORE,    /* database error */
    SB_ERR_DUP,      /* already recorded (dedupe) */
    SB_ERR_NOTFOUND, /* no such thing */
    SB_ERR_POLICY,   /* policy failed to load, raised, or returned garbage */
    SB_ERR_BUDGET,   /* policy exceeded its instruction/time budget */
    SB_ERR_MEMLIMIT, /* policy exceeded its memory cap */
    SB_ERR_SANDBOX,  /* policy tried something the sandbox forbids */
    SB_ERR_TEST,     /* a policy test failed */
    SB_ERR_CONFLICT, /* changed by someone else meanwhile (optimistic concurrency) */
    SB_ERR_AUTH,     /* not authenticated, or not allowed */
    SB_ERR__COUNT
};

/* Short stable name ("budget", "json", ...) for logs and JSON output. */
const char *sb_strerror(enum sb_err e);

/* Optional detail buffer; functions taking `struct sb_errbuf *eb` accept NULL. */
struct sb_errbuf {
    char msg[512];
};

/* printf-style into eb (if non-NULL); returns e so callers can `return sb_errf(eb, E, ...)`. */
enum sb_err sb_errf(struct sb_errbuf *eb, enum sb_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
