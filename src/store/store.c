/* store.c — the backend-neutral front of the store: parses the store URL, opens the matching
 * backend, validates arguments and forwards each call through the backend's ops table.
 * Depends on store/backend.h; knows no SQL. */
#include "store/backend.h"

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Parse one "key=value" of length n into cfg. */
static enum sb_err parse_option(const char *kv, size_t n, struct sb_store_config *cfg,
                                struct sb_errbuf *eb)
{
    const char *eq = memchr(kv, '=', n);
    if (!eq)
        return sb_errf(eb, SB_ERR_INVAL, "store option '%.*s': expected key=value", (int)n, kv);
    size_t klen = (size_t)(eq - kv);
    const char *v = eq + 1;
    size_t vlen = n - klen - 1;
    char val[32];
    if (vlen == 0 || vlen >= sizeof val)
        return sb_errf(eb, SB_ERR_INVAL, "store option '%.*s': bad value", (int)n, kv);
    memcpy(val, v, vlen);
    val[vlen] = 0;

    if (klen == 11 && memcmp(kv, "synchronous", 11) == 0) {
        if (strcmp(val, "full") == 0)
            cfg->sync = SB_STORE_SYNC_FULL;
        else if (strcmp(val, "normal") == 0)
            cfg->sync = SB_STORE_SYNC_NORMAL;
        else if (strcmp(val, "extra") == 0)
            cfg->sync = SB_STORE_SYNC_EXTRA;
        else
            return sb_errf(eb, SB_ERR_INVAL, "store option synchronous=%s: want full|normal|extra",
                           val);
        return SB_OK;
    }
    bool is_busy = klen == 12 && memcmp(kv, "busy_timeout", 12) == 0;
    bool is_batch = klen == 5 && memcmp(kv, "batch", 5) == 0;
    if (!is_busy && !is_batch)
        return sb_errf(eb, SB_ERR_INVAL, "unknown store option '%.*s'", (int)klen, kv);
    char *end;
    errno = 0;
    long x = strtol(val, &end, 10);
    if (errno || *end || x < (is_busy ? 0 : 1) || x > INT_MAX)
        return sb_errf(eb, SB_ERR_INVAL, "store option %.*s=%s: want an integer >= %d", (int)klen,
                       kv, val, is_busy ? 0 : 1);
    if (is_busy)
        cfg->busy_timeout_ms = (int)x;
    else
        cfg->batch_max = (int)x;
    return SB_OK;
}

enum sb_err sb_store_open(const char *url, struct sb_store **out, struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    char *path = NULL;
    struct sb_store_config cfg = {
        .sync = SB_STORE_SYNC_FULL, .busy_timeout_ms = 5000, .batch_max = SB_STORE_BATCH_DEFAULT};

    if (!url || !out) {
        e = sb_errf(eb, SB_ERR_INVAL, "store open: NULL argument");
        goto fail;
    }
    *out = NULL;
    if (has_prefix(url, "postgres:") || has_prefix(url, "postgresql:")) {
        e = sb_errf(eb, SB_ERR_INVAL, "store '%s': the PostgreSQL backend is not built yet", url);
        goto fail;
    }
    const char *rest = url;
    if (has_prefix(rest, "sqlite://"))
        rest += strlen("sqlite://");
    else if (has_prefix(rest, "sqlite:"))
        rest += strlen("sqlite:");

    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen == 0) {
        e = sb_errf(eb, SB_ERR_INVAL, "store '%s': empty database path", url);
        goto fail;
    }
    path = malloc(plen + 1);
    if (!path) {
        e = sb_errf(eb, SB_ERR_NOMEM, "store open: out of memory");
        goto fail;
    }
    memcpy(path, rest, plen);
    path[plen] = 0;

    for (const char *opt = q ? q + 1 : NULL; opt && *opt;) {
        const char *amp = strchr(opt, '&');
        size_t n = amp ? (size_t)(amp - opt) : strlen(opt);
        if (n && (e = parse_option(opt, n, &cfg, eb)) != SB_OK)
            goto fail;
        opt = amp ? amp + 1 : NULL;
    }

    e = sb_store_sqlite_open(path, &cfg, out, eb);
fail:
    free(path);
    return e;
}

void sb_store_close(struct sb_store *s)
{
    if (s)
        s->ops->close(s);
}

enum sb_err sb_store_flush(struct sb_store *s, struct sb_errbuf *eb)
{
    if (!s)
        return sb_errf(eb, SB_ERR_INVAL, "store flush: NULL store");
    return s->ops->flush(s, eb);
}

void sb_store_set_batch(struct sb_store *s, int batch_max)
{
    if (s)
        s->batch_max = batch_max < 1 ? 1 : batch_max;
}

int sb_store_schema_version(const struct sb_store *s)
{
    return s ? s->schema_version : 0;
}

enum sb_err sb_store_post_insert(struct sb_store *s, const struct sb_post *p, const char *raw,
                                 size_t raw_len, int64_t *post_rowid, struct sb_errbuf *eb)
{
    if (!s || !p)
        return sb_errf(eb, SB_ERR_INVAL, "store post insert: NULL argument");
    if (!p->id || !*p->id)
        return sb_errf(eb, SB_ERR_INVAL, "store post insert: post has no id");
    if (p->platform != SB_PLATFORM_MASTODON && p->platform != SB_PLATFORM_BLUESKY)
        return sb_errf(eb, SB_ERR_INVAL, "store post insert: post %s has no known platform", p->id);
    if (raw && raw_len > SB_STORE_RAW_MAX)
        return sb_errf(eb, SB_ERR_TOOBIG, "store post insert: raw JSON of %zu bytes exceeds %u",
                       raw_len, SB_STORE_RAW_MAX);
    return s->ops->post_insert(s, p, raw, raw_len, post_rowid, eb);
}

enum sb_err sb_store_post_mark_deleted(struct sb_store *s, enum sb_platform platform,
                                       const char *id, struct sb_errbuf *eb)
{
    if (!s || !id)
        return sb_errf(eb, SB_ERR_INVAL, "store post delete: NULL argument");
    return s->ops->post_mark_deleted(s, platform, id, eb);
}

enum sb_err sb_store_decision_insert(struct sb_store *s, int64_t post_rowid,
                                     const struct sb_decision *d, int64_t decided_at_ms,
                                     struct sb_errbuf *eb)
{
    if (!s || !d)
        return sb_errf(eb, SB_ERR_INVAL, "store decision insert: NULL argument");
    if ((unsigned)d->action >= SB_ACTION__COUNT || (unsigned)d->priority >= SB_PRIORITY__COUNT)
        return sb_errf(eb, SB_ERR_INVAL, "store decision insert: action or priority out of range");
    if (d->n_reasons < 0 || d->n_reasons > SB_DECISION_REASONS_MAX)
        return sb_errf(eb, SB_ERR_INVAL, "store decision insert: n_reasons %d out of range",
                       d->n_reasons);
    return s->ops->decision_insert(s, post_rowid, d, decided_at_ms, eb);
}

enum sb_err sb_store_cursor_get(struct sb_store *s, const char *stream, int64_t *value,
                                struct sb_errbuf *eb)
{
    if (!s || !stream || !value)
        return sb_errf(eb, SB_ERR_INVAL, "store cursor get: NULL argument");
    return s->ops->cursor_get(s, stream, value, eb);
}

enum sb_err sb_store_cursor_set(struct sb_store *s, const char *stream, int64_t value,
                                struct sb_errbuf *eb)
{
    if (!s || !stream)
        return sb_errf(eb, SB_ERR_INVAL, "store cursor set: NULL argument");
    return s->ops->cursor_set(s, stream, value, eb);
}

enum sb_err sb_store_policy_version_record(struct sb_store *s, const char *hash,
                                           const char *files_json, struct sb_errbuf *eb)
{
    if (!s || !hash || !*hash)
        return sb_errf(eb, SB_ERR_INVAL, "store policy version: missing hash");
    return s->ops->policy_version_record(s, hash, files_json, eb);
}

enum sb_err sb_store_count(struct sb_store *s, const char *what, int64_t *n, struct sb_errbuf *eb)
{
    static const char *const names[SB_STORE_COUNT__N] = {
        [SB_STORE_COUNT_POSTS] = "posts",
        [SB_STORE_COUNT_DECISIONS] = "decisions",
        [SB_STORE_COUNT_DELETED] = "deleted",
        [SB_STORE_COUNT_CURSORS] = "cursors",
        [SB_STORE_COUNT_POLICY_VERSIONS] = "policy_versions",
    };
    if (!s || !what || !n)
        return sb_errf(eb, SB_ERR_INVAL, "store count: NULL argument");
    for (int i = 0; i < SB_STORE_COUNT__N; i++)
        if (strcmp(what, names[i]) == 0)
            return s->ops->count(s, (enum sb_store_count_kind)i, n, eb);
    return sb_errf(eb, SB_ERR_INVAL, "store count: unknown table '%s'", what);
}

int64_t sb_store_key(const char *platform, const char *value)
{
    if (!value)
        return 0;
    uint64_t h = 1469598103934665603ull;
    for (const char *p = platform; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0) * 1099511628211ull;
    for (const char *p = value; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (int64_t)h;
}
