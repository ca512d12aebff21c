/* err.c — names for enum sb_err and the detail-buffer helper. No dependencies. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const names[SB_ERR__COUNT] = {
    [SB_OK] = "ok",
    [SB_ERR_NOMEM] = "nomem",
    [SB_ERR_INVAL] = "invalid",
    [SB_ERR_TOOBIG] = "too_big",
    [SB_ERR_JSON] = "json",
    [SB_ERR_UTF8] = "utf8",
    [SB_ERR_SCHEMA] = "schema",
    [SB_ERR_SKIP] = "skip",
    [SB_ERR_IO] = "io",
    [SB_ERR_STORE] = "store",
    [SB_ERR_DUP] = "duplicate",
    [SB_ERR_NOTFOUND] = "not_found",
    [SB_ERR_POLICY] = "policy_error",
    [SB_ERR_BUDGET] = "budget_exceeded",
    [SB_ERR_MEMLIMIT] = "memory_exceeded",
    [SB_ERR_SANDBOX] = "sandbox_violation",
    [SB_ERR_TEST] = "test_failed",
    [SB_ERR_CONFLICT] = "conflict",
    [SB_ERR_AUTH] = "auth",
};

const char *sb_strerror(enum sb_err e)
{
    if ((unsigned)e >= SB_ERR__COUNT || !names[e])
        return "unknown";
    return names[e];
}

enum sb_err sb_errf(struct sb_errbuf *eb, enum sb_err e, const char *fmt, ...)
{
    if (eb) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
    }
    return e;
}
