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
    if (klen == 9 && memcmp(kv, "page_size", 9) == 0) {
        long ps = strtol(val, NULL, 10);
        if (ps < 512 || ps > 65536 || (ps & (ps - 1)))
            return sb_errf(eb, SB_ERR_INVAL,
                           "store option page_size=%s: want a power of two, 512..65536", val);
        cfg->page_size = (int)ps;
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
    struct sb_store_config cfg = {.sync = SB_STORE_SYNC_FULL,
                                  .busy_timeout_ms = 5000,
                                  .batch_max = SB_STORE_BATCH_DEFAULT,
                                  .page_size = 4096};

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

enum sb_err sb_store_post_edit(struct sb_store *s, const struct sb_post *p, const char *raw,
                               size_t raw_len, struct sb_errbuf *eb)
{
    if (!s || !p || !p->id)
        return sb_errf(eb, SB_ERR_INVAL, "store post edit: NULL argument");
    if (raw && raw_len > SB_STORE_RAW_MAX)
        return sb_errf(eb, SB_ERR_TOOBIG, "store post edit: raw JSON of %zu bytes exceeds %u",
                       raw_len, SB_STORE_RAW_MAX);
    return s->ops->post_edit(s, p, raw, raw_len, eb);
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
    return s->ops->decision_record(s, post_rowid, d, NULL, 0, decided_at_ms, NULL, eb);
}

/* ---- outbox ---------------------------------------------------------------------------- */

static const char *const outbox_state_names[SB_OUTBOX__COUNT] = {
    [SB_OUTBOX_PENDING] = "pending",     [SB_OUTBOX_SENDING] = "sending",
    [SB_OUTBOX_SENT] = "sent",           [SB_OUTBOX_RETRY] = "retry",
    [SB_OUTBOX_DEAD] = "dead",           [SB_OUTBOX_RECONCILE] = "reconcile",
    [SB_OUTBOX_CANCELLED] = "cancelled",
};

const char *sb_store_outbox_state_name(enum sb_outbox_state st)
{
    if (st == SB_OUTBOX_ANY)
        return "any";
    return (unsigned)st < SB_OUTBOX__COUNT ? outbox_state_names[st] : "unknown";
}

int sb_store_outbox_state_from_name(const char *s)
{
    for (int i = 0; s && i < SB_OUTBOX__COUNT; i++)
        if (strcmp(s, outbox_state_names[i]) == 0)
            return i;
    return -1;
}

/* A string field of an effect must fit the sb_outbox_entry array that will hold its copy. */
static bool fits(const char *v, size_t size)
{
    return !v || strlen(v) < size;
}

/* SB_EFFECT_KEY_LEN lowercase hex digits, then the terminator (reads no further). */
static bool is_key(const char *k)
{
    for (size_t i = 0; i < SB_EFFECT_KEY_LEN; i++)
        if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f')))
            return false;
    return k[SB_EFFECT_KEY_LEN] == 0;
}

static enum sb_err check_effect(const struct sb_effect *e, size_t i, struct sb_errbuf *eb)
{
    if ((e->platform != SB_PLATFORM_MASTODON && e->platform != SB_PLATFORM_BLUESKY) ||
        (unsigned)e->kind >= SB_EFFECT__COUNT)
        return sb_errf(eb, SB_ERR_INVAL, "store decision record: effect %zu: bad platform or kind",
                       i);
    if (!e->target_id || !*e->target_id || !e->text)
        return sb_errf(eb, SB_ERR_INVAL, "store decision record: effect %zu: no target or text", i);
    if (!is_key(e->idem_key))
        return sb_errf(eb, SB_ERR_INVAL,
                       "store decision record: effect %zu: idem_key is not %d hex digits", i,
                       SB_EFFECT_KEY_LEN);
    const char *refs[] = {e->account,  e->target_id,    e->target_cid,      e->root_id,
                          e->root_cid, e->recipient_id, e->recipient_handle};
    for (size_t k = 0; k < sizeof refs / sizeof refs[0]; k++)
        if (!fits(refs[k], SB_OUTBOX_REF_MAX))
            return sb_errf(eb, SB_ERR_TOOBIG,
                           "store decision record: effect %zu: an id or handle exceeds %d bytes", i,
                           SB_OUTBOX_REF_MAX - 1);
    if (!fits(e->text, SB_OUTBOX_TEXT_MAX))
        return sb_errf(eb, SB_ERR_TOOBIG,
                       "store decision record: effect %zu: text of %zu bytes exceeds %d", i,
                       strlen(e->text), SB_OUTBOX_TEXT_MAX - 1);
    return SB_OK;
}

enum sb_err sb_store_decision_record(struct sb_store *s, int64_t post_rowid,
                                     const struct sb_decision *d, const struct sb_effect *effects,
                                     size_t n_effects, int64_t decided_at_ms, int64_t *decision_id,
                                     struct sb_errbuf *eb)
{
    enum sb_err e;
    if (!s || !d || (n_effects && !effects))
        return sb_errf(eb, SB_ERR_INVAL, "store decision record: NULL argument");
    if ((unsigned)d->action >= SB_ACTION__COUNT || (unsigned)d->priority >= SB_PRIORITY__COUNT)
        return sb_errf(eb, SB_ERR_INVAL, "store decision record: action or priority out of range");
    if (d->n_reasons < 0 || d->n_reasons > SB_DECISION_REASONS_MAX)
        return sb_errf(eb, SB_ERR_INVAL, "store decision record: n_reasons %d out of range",
                       d->n_reasons);
    for (size_t i = 0; i < n_effects; i++) {
        if ((e = check_effect(&effects[i], i, eb)) != SB_OK)
            return e;
        for (size_t k = 0; k < i; k++)
            if (strcmp(effects[k].idem_key, effects[i].idem_key) == 0)
                return sb_errf(eb, SB_ERR_INVAL,
                               "store decision record: effects %zu and %zu share a key", k, i);
    }
    return s->ops->decision_record(s, post_rowid, d, effects, n_effects, decided_at_ms, decision_id,
                                   eb);
}

enum sb_err sb_store_outbox_due(struct sb_store *s, int64_t now_ms, int64_t lease_ms, size_t max,
                                struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb)
{
    if (n)
        *n = 0;
    if (!s || !n || (max && !out))
        return sb_errf(eb, SB_ERR_INVAL, "store outbox due: NULL argument");
    if (lease_ms <= 0)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox due: lease must be > 0 ms");
    if (max == 0)
        return SB_OK;
    return s->ops->outbox_due(s, now_ms, lease_ms, max, out, n, eb);
}

enum sb_err sb_store_outbox_sent(struct sb_store *s, int64_t id, const char *remote_id,
                                 const char *remote_cid, int status, struct sb_errbuf *eb)
{
    if (!s)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox sent: NULL store");
    return s->ops->outbox_sent(s, id, remote_id, remote_cid, status, eb);
}

/* error cut to SB_OUTBOX_ERROR_MAX - 1 bytes, never inside a UTF-8 sequence */
static const char *cut_error(const char *error, char *buf)
{
    if (!error || strlen(error) < SB_OUTBOX_ERROR_MAX)
        return error;
    size_t n = SB_OUTBOX_ERROR_MAX - 1;
    while (n > 0 && ((unsigned char)error[n] & 0xc0) == 0x80)
        n--;
    memcpy(buf, error, n);
    buf[n] = 0;
    return buf;
}

enum sb_err sb_store_outbox_retry(struct sb_store *s, int64_t id, int64_t next_at_ms, int status,
                                  const char *error, struct sb_errbuf *eb)
{
    char buf[SB_OUTBOX_ERROR_MAX];
    if (!s)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox retry: NULL store");
    return s->ops->outbox_retry(s, id, next_at_ms, status, cut_error(error, buf), eb);
}

enum sb_err sb_store_outbox_fail(struct sb_store *s, int64_t id, enum sb_outbox_state state,
                                 int status, const char *error, struct sb_errbuf *eb)
{
    char buf[SB_OUTBOX_ERROR_MAX];
    if (!s)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox fail: NULL store");
    if (state != SB_OUTBOX_DEAD && state != SB_OUTBOX_RECONCILE && state != SB_OUTBOX_CANCELLED)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox fail: '%s' is not dead|reconcile|cancelled",
                       sb_store_outbox_state_name(state));
    return s->ops->outbox_fail(s, id, state, status, cut_error(error, buf), eb);
}

enum sb_err sb_store_outbox_requeue(struct sb_store *s, int64_t id, int64_t next_at_ms,
                                    struct sb_errbuf *eb)
{
    if (!s)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox requeue: NULL store");
    return s->ops->outbox_requeue(s, id, next_at_ms, eb);
}

enum sb_err sb_store_outbox_cancel_for_post(struct sb_store *s, enum sb_platform platform,
                                            const char *post_id, struct sb_errbuf *eb)
{
    if (!s || !post_id)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox cancel: NULL argument");
    return s->ops->outbox_cancel_for_post(s, platform, post_id, eb);
}

static bool state_ok(enum sb_outbox_state st)
{
    return st == SB_OUTBOX_ANY || (unsigned)st < SB_OUTBOX__COUNT;
}

enum sb_err sb_store_outbox_list(struct sb_store *s, enum sb_outbox_state state, size_t max,
                                 struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb)
{
    if (n)
        *n = 0;
    if (!s || !n || (max && !out))
        return sb_errf(eb, SB_ERR_INVAL, "store outbox list: NULL argument");
    if (!state_ok(state))
        return sb_errf(eb, SB_ERR_INVAL, "store outbox list: state %d out of range", (int)state);
    if (max == 0)
        return SB_OK;
    return s->ops->outbox_list(s, state, max, out, n, eb);
}

enum sb_err sb_store_outbox_get(struct sb_store *s, int64_t id, struct sb_outbox_entry *out,
                                struct sb_errbuf *eb)
{
    if (!s || !out)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox get: NULL argument");
    return s->ops->outbox_get(s, id, out, eb);
}

enum sb_err sb_store_outbox_by_remote(struct sb_store *s, enum sb_platform platform,
                                      const char *remote_id, struct sb_outbox_entry *out,
                                      struct sb_errbuf *eb)
{
    if (!s || !remote_id || !out)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox by remote: NULL argument");
    return s->ops->outbox_by_remote(s, platform, remote_id, out, eb);
}

enum sb_err sb_store_outbox_count(struct sb_store *s, enum sb_outbox_state state, int64_t *n,
                                  struct sb_errbuf *eb)
{
    if (!s || !n)
        return sb_errf(eb, SB_ERR_INVAL, "store outbox count: NULL argument");
    if (!state_ok(state))
        return sb_errf(eb, SB_ERR_INVAL, "store outbox count: state %d out of range", (int)state);
    return s->ops->outbox_count(s, state, n, eb);
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

enum sb_err sb_store_author_history(struct sb_store *s, enum sb_platform platform,
                                    const char *author_id, int64_t since_ms, int64_t exclude_rowid,
                                    struct sb_author_history *h, struct sb_errbuf *eb)
{
    h->posts = h->answered = h->escalated = 0;
    if (!s)
        return sb_errf(eb, SB_ERR_INVAL, "store: NULL store");
    if (!author_id)
        return SB_OK;
    return s->ops->author_history(s, platform, author_id, since_ms, exclude_rowid, h, eb);
}

int sb_store_ctx_history(void *ud, struct sb_ctx_history *h)
{
    const struct sb_store_history_src *hs = ud;
    struct sb_author_history a;
    if (sb_store_author_history(hs->store, hs->post->platform, hs->post->author.id, hs->since_ms,
                                hs->rowid, &a, NULL) != SB_OK)
        return -1;
    h->posts = a.posts;
    h->acknowledged = a.answered;
    h->cases = a.escalated;
    return 0;
}

enum sb_err sb_store_outbox_post_counts(struct sb_store *s, enum sb_platform platform,
                                        const char *post_id, int64_t counts[SB_OUTBOX__COUNT],
                                        struct sb_errbuf *eb)
{
    for (int i = 0; i < SB_OUTBOX__COUNT; i++)
        counts[i] = 0;
    if (!s || !post_id)
        return sb_errf(eb, SB_ERR_INVAL, "store: NULL argument");
    return s->ops->outbox_post_counts(s, platform, post_id, counts, eb);
}

enum sb_err sb_store_background_checkpoints(struct sb_store *s, struct sb_errbuf *eb)
{
    if (!s)
        return sb_errf(eb, SB_ERR_INVAL, "store: NULL store");
    return s->ops->background_checkpoints ? s->ops->background_checkpoints(s, eb) : SB_OK;
}

void sb_store_set_outbox_sync(struct sb_store *s, bool immediate)
{
    if (s)
        s->outbox_sync = immediate;
}

void sb_store_set_case_sync(struct sb_store *s, bool immediate)
{
    if (s)
        s->case_sync = immediate;
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
