/* store_cases.c — the backend-neutral front of store/cases.h: argument checks (NULL pointers,
 * enums in range, strings that fit the fixed-size fields that will hold their copies,
 * SB_ERR_TOOBIG when not), the list filter's queue names split and deduplicated, the list's
 * sort key (sb_case_list_due) and the summary cut; then each call goes through the backend's
 * case table (s->case_ops, store/backend.h). Knows no SQL. */
#include "store/backend.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

/* The backend's case table, or NULL with eb set. */
static const struct sb_store_case_ops *cops(struct sb_store *s, const char *what,
                                            struct sb_errbuf *eb)
{
    if (!s) {
        sb_errf(eb, SB_ERR_INVAL, "store %s: NULL store", what);
        return NULL;
    }
    if (!s->case_ops)
        sb_errf(eb, SB_ERR_INVAL, "store %s: the %s backend keeps no cases", what, s->ops->name);
    return s->case_ops;
}

/* Whether the array field f (size bytes) holds a terminated string. */
#define FITS(f) (strnlen((f), sizeof(f)) < sizeof(f))

static bool platform_ok(enum sb_platform p)
{
    return p == SB_PLATFORM_MASTODON || p == SB_PLATFORM_BLUESKY;
}

/* ---- list keys and summaries ------------------------------------------------------------ */

int64_t sb_case_list_due(const struct sb_case *c)
{
    int64_t due = sb_case_due(&c->st);
    return due ? due : INT64_MAX;
}

void sb_store_case_summary(char *dst, size_t size, const char *text, size_t len)
{
    if (!size)
        return;
    if (!text || len == 0) {
        dst[0] = 0;
        return;
    }
    if (len < size) {
        memcpy(dst, text, len);
        dst[len] = 0;
        return;
    }
    size_t n = size - 1;
    while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
        n--;
    /* A cluster cut in two (an emoji sequence, a letter and its marks) loses its tail: drop it
     * whole. The prefix's clusters are the text's but for its last; one giant cluster (marks
     * piled up) keeps the byte cut. */
    size_t g = sb_utf8_graphemes(text, n);
    if (g > 1 && sb_utf8_grapheme_prefix(text, len, g) != n)
        n = sb_utf8_grapheme_prefix(text, n, g - 1);
    memcpy(dst, text, n);
    dst[n] = 0;
}

/* ---- agents ---------------------------------------------------------------------------- */

static enum sb_err check_agent(const struct sb_agent *a, const char *what, struct sb_errbuf *eb)
{
    if (!FITS(a->name) || !FITS(a->queues) || !FITS(a->pw_hash))
        return sb_errf(eb, SB_ERR_TOOBIG, "store %s: name, queues or password hash too long", what);
    if (!a->name[0])
        return sb_errf(eb, SB_ERR_INVAL, "store %s: empty name", what);
    if ((unsigned)a->role >= SB_ROLE__COUNT)
        return sb_errf(eb, SB_ERR_INVAL, "store %s: role %d out of range", what, (int)a->role);
    return SB_OK;
}

enum sb_err sb_store_agent_add(struct sb_store *s, const struct sb_agent *a, int64_t *id,
                               struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "agent add", eb);
    enum sb_err e;
    if (!o)
        return SB_ERR_INVAL;
    if (!a)
        return sb_errf(eb, SB_ERR_INVAL, "store agent add: NULL agent");
    if ((e = check_agent(a, "agent add", eb)) != SB_OK)
        return e;
    return o->agent_add(s, a, id, eb);
}

enum sb_err sb_store_agent_update(struct sb_store *s, const struct sb_agent *a,
                                  struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "agent update", eb);
    if (!o)
        return SB_ERR_INVAL;
    if (!a)
        return sb_errf(eb, SB_ERR_INVAL, "store agent update: NULL agent");
    /* the name is not written: only what is */
    if (!FITS(a->queues) || !FITS(a->pw_hash))
        return sb_errf(eb, SB_ERR_TOOBIG, "store agent update: queues or password hash too long");
    if ((unsigned)a->role >= SB_ROLE__COUNT)
        return sb_errf(eb, SB_ERR_INVAL, "store agent update: role %d out of range", (int)a->role);
    if (a->id <= 0)
        return sb_errf(eb, SB_ERR_NOTFOUND, "agent %lld does not exist", (long long)a->id);
    return o->agent_update(s, a, eb);
}

enum sb_err sb_store_agent_get(struct sb_store *s, int64_t id, struct sb_agent *out,
                               struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "agent get", eb);
    if (!o)
        return SB_ERR_INVAL;
    if (!out)
        return sb_errf(eb, SB_ERR_INVAL, "store agent get: NULL argument");
    return o->agent_get(s, id, out, eb);
}

enum sb_err sb_store_agent_by_name(struct sb_store *s, const char *name, struct sb_agent *out,
                                   struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "agent by name", eb);
    if (!o)
        return SB_ERR_INVAL;
    if (!name || !out)
        return sb_errf(eb, SB_ERR_INVAL, "store agent by name: NULL argument");
    if (strnlen(name, SB_AGENT_NAME_MAX) >= SB_AGENT_NAME_MAX)
        return sb_errf(eb, SB_ERR_TOOBIG, "store agent by name: name exceeds %d bytes",
                       SB_AGENT_NAME_MAX - 1);
    return o->agent_by_name(s, name, out, eb);
}

enum sb_err sb_store_agent_list(struct sb_store *s, size_t max, struct sb_agent *out, size_t *n,
                                struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "agent list", eb);
    if (n)
        *n = 0;
    if (!o)
        return SB_ERR_INVAL;
    if (!n || (max && !out))
        return sb_errf(eb, SB_ERR_INVAL, "store agent list: NULL argument");
    return max ? o->agent_list(s, max, out, n, eb) : SB_OK;
}

/* ---- sessions --------------------------------------------------------------------------- */

/* A token hash or CSRF token: 1 .. max bytes. */
static enum sb_err check_token(const char *t, size_t max, const char *what, struct sb_errbuf *eb)
{
    if (!t || !*t)
        return sb_errf(eb, SB_ERR_INVAL, "store %s: no token", what);
    if (strnlen(t, max + 1) > max)
        return sb_errf(eb, SB_ERR_TOOBIG, "store %s: token exceeds %zu bytes", what, max);
    return SB_OK;
}

enum sb_err sb_store_session_add(struct sb_store *s, const struct sb_session *se,
                                 struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "session add", eb);
    enum sb_err e;
    if (!o)
        return SB_ERR_INVAL;
    if (!se)
        return sb_errf(eb, SB_ERR_INVAL, "store session add: NULL session");
    if ((e = check_token(se->token_hash, SB_SESSION_HASH_LEN, "session add", eb)) != SB_OK ||
        (e = check_token(se->csrf, SB_CSRF_LEN, "session add", eb)) != SB_OK)
        return e;
    if (se->agent_id <= 0)
        return sb_errf(eb, SB_ERR_INVAL, "store session add: no agent");
    return o->session_add(s, se, eb);
}

enum sb_err sb_store_session_get(struct sb_store *s, const char *token_hash, int64_t now_ms,
                                 struct sb_session *out, struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "session get", eb);
    enum sb_err e;
    if (!o)
        return SB_ERR_INVAL;
    if (!out)
        return sb_errf(eb, SB_ERR_INVAL, "store session get: NULL argument");
    if ((e = check_token(token_hash, SB_SESSION_HASH_LEN, "session get", eb)) != SB_OK)
        return e;
    return o->session_get(s, token_hash, now_ms, out, eb);
}

enum sb_err sb_store_session_delete(struct sb_store *s, const char *token_hash,
                                    struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "session delete", eb);
    enum sb_err e;
    if (!o)
        return SB_ERR_INVAL;
    if ((e = check_token(token_hash, SB_SESSION_HASH_LEN, "session delete", eb)) != SB_OK)
        return e;
    return o->session_delete(s, token_hash, eb);
}

enum sb_err sb_store_session_delete_agent(struct sb_store *s, int64_t agent_id,
                                          struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "session delete", eb);
    if (!o)
        return SB_ERR_INVAL;
    return o->session_delete_agent(s, agent_id, eb);
}

enum sb_err sb_store_session_purge(struct sb_store *s, int64_t now_ms, int64_t *n,
                                   struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "session purge", eb);
    int64_t dummy;
    if (n)
        *n = 0;
    if (!o)
        return SB_ERR_INVAL;
    return o->session_purge(s, now_ms, n ? n : &dummy, eb);
}

/* ---- cases ------------------------------------------------------------------------------ */

static enum sb_err check_case(const struct sb_case *c, const char *what, struct sb_errbuf *eb)
{
    if (!FITS(c->account) || !FITS(c->thread_id) || !FITS(c->queue) || !FITS(c->author_id) ||
        !FITS(c->author_handle) || !FITS(c->summary))
        return sb_errf(eb, SB_ERR_TOOBIG, "store %s: a string field is not terminated", what);
    if (!platform_ok(c->platform) || !c->thread_id[0] || !c->queue[0])
        return sb_errf(eb, SB_ERR_INVAL, "store %s: platform, thread and queue are required", what);
    if ((unsigned)c->st.owner >= SB_CASE_OWNER__COUNT ||
        (unsigned)c->st.priority >= SB_PRIORITY__COUNT)
        return sb_errf(eb, SB_ERR_INVAL, "store %s: owner or priority out of range", what);
    if (c->st.assignee < 0 || c->first_post_rowid <= 0 || c->last_post_rowid < 0)
        return sb_errf(eb, SB_ERR_INVAL, "store %s: bad assignee or post", what);
    return SB_OK;
}

static enum sb_err check_event(const struct sb_case_event *ev, const char *what,
                               struct sb_errbuf *eb)
{
    if (!FITS(ev->detail))
        return sb_errf(eb, SB_ERR_TOOBIG, "store %s: event detail exceeds %zu bytes", what,
                       sizeof ev->detail - 1);
    if ((unsigned)ev->kind >= SB_CASE_EV__COUNT)
        return sb_errf(eb, SB_ERR_INVAL, "store %s: event kind %d out of range", what,
                       (int)ev->kind);
    if (ev->actor_id < 0 || ev->post_rowid < 0 || ev->outbox_id < 0)
        return sb_errf(eb, SB_ERR_INVAL, "store %s: negative id in the event", what);
    return SB_OK;
}

enum sb_err sb_store_case_create(struct sb_store *s, struct sb_case *c, struct sb_case_event *ev,
                                 struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "case create", eb);
    enum sb_err e;
    if (!o)
        return SB_ERR_INVAL;
    if (!c)
        return sb_errf(eb, SB_ERR_INVAL, "store case create: NULL case");
    if ((e = check_case(c, "case create", eb)) != SB_OK ||
        (ev && (e = check_event(ev, "case create", eb)) != SB_OK))
        return e;
    return o->case_create(s, c, ev, eb);
}

enum sb_err sb_store_case_update(struct sb_store *s, struct sb_case *c, struct sb_case_event *ev,
                                 struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "case update", eb);
    enum sb_err e;
    if (!o)
        return SB_ERR_INVAL;
    if (!c)
        return sb_errf(eb, SB_ERR_INVAL, "store case update: NULL case");
    if ((e = check_case(c, "case update", eb)) != SB_OK ||
        (ev && (e = check_event(ev, "case update", eb)) != SB_OK))
        return e;
    if (c->id <= 0)
        return sb_errf(eb, SB_ERR_NOTFOUND, "case %lld does not exist", (long long)c->id);
    return o->case_update(s, c, ev, eb);
}

enum sb_err sb_store_case_event_add(struct sb_store *s, struct sb_case_event *ev,
                                    struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "case event", eb);
    enum sb_err e;
    if (!o)
        return SB_ERR_INVAL;
    if (!ev)
        return sb_errf(eb, SB_ERR_INVAL, "store case event: NULL event");
    if ((e = check_event(ev, "case event", eb)) != SB_OK)
        return e;
    if (ev->case_id <= 0)
        return sb_errf(eb, SB_ERR_NOTFOUND, "case %lld does not exist", (long long)ev->case_id);
    return o->case_event_add(s, ev, eb);
}

enum sb_err sb_store_case_get(struct sb_store *s, int64_t id, struct sb_case *out,
                              struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "case get", eb);
    if (!o)
        return SB_ERR_INVAL;
    if (!out)
        return sb_errf(eb, SB_ERR_INVAL, "store case get: NULL argument");
    return o->case_get(s, id, out, eb);
}

enum sb_err sb_store_case_by_thread(struct sb_store *s, enum sb_platform platform,
                                    const char *thread_id, struct sb_case *out,
                                    struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "case by thread", eb);
    if (!o)
        return SB_ERR_INVAL;
    if (!thread_id || !out)
        return sb_errf(eb, SB_ERR_INVAL, "store case by thread: NULL argument");
    if (!platform_ok(platform))
        return sb_errf(eb, SB_ERR_INVAL, "store case by thread: unknown platform");
    if (strnlen(thread_id, SB_OUTBOX_REF_MAX) >= SB_OUTBOX_REF_MAX)
        return sb_errf(eb, SB_ERR_TOOBIG, "store case by thread: thread id exceeds %d bytes",
                       SB_OUTBOX_REF_MAX - 1);
    return o->case_by_thread(s, platform, thread_id, out, eb);
}

enum sb_err sb_store_case_by_outbox(struct sb_store *s, int64_t outbox_id, struct sb_case *out,
                                    struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "case by outbox", eb);
    if (!o)
        return SB_ERR_INVAL;
    if (!out)
        return sb_errf(eb, SB_ERR_INVAL, "store case by outbox: NULL argument");
    return o->case_by_outbox(s, outbox_id, out, eb);
}

/* f->queues split at commas into buf (spaces around names dropped, empty names skipped) as
 * q->queues, each name once. */
static enum sb_err split_queues(const char *list, char *buf, struct sb_store_case_query *q,
                                struct sb_errbuf *eb)
{
    size_t len = list ? strnlen(list, SB_AGENT_QUEUES_MAX) : 0;
    if (len >= SB_AGENT_QUEUES_MAX)
        return sb_errf(eb, SB_ERR_TOOBIG, "store case list: queue list exceeds %d bytes",
                       SB_AGENT_QUEUES_MAX - 1);
    memcpy(buf, list ? list : "", len);
    buf[len] = 0;
    q->n_queues = 0;
    for (char *p = buf; p && *p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            p[--n] = 0;
        if (n >= SB_QUEUE_NAME_MAX)
            return sb_errf(eb, SB_ERR_TOOBIG, "store case list: queue name '%.40s…' too long", p);
        bool seen = n == 0;
        for (size_t i = 0; !seen && i < q->n_queues; i++)
            seen = strcmp(q->queues[i], p) == 0;
        if (!seen && q->n_queues < SB_STORE_CASE_QUEUES_MAX)
            q->queues[q->n_queues++] = p;
        p = comma ? comma + 1 : NULL;
    }
    return SB_OK;
}

enum sb_err sb_store_case_list(struct sb_store *s, const struct sb_case_filter *f, size_t max,
                               struct sb_case *out, size_t *n, struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "case list", eb);
    struct sb_store_case_query q = {.owner = -1};
    char buf[SB_AGENT_QUEUES_MAX];
    enum sb_err e;
    if (n)
        *n = 0;
    if (!o)
        return SB_ERR_INVAL;
    if (!n || (max && !out))
        return sb_errf(eb, SB_ERR_INVAL, "store case list: NULL argument");
    if (f) {
        if (f->owner < -1 || f->owner >= SB_CASE_OWNER__COUNT || f->assignee < -1)
            return sb_errf(eb, SB_ERR_INVAL, "store case list: owner or assignee out of range");
        if ((e = split_queues(f->queues, buf, &q, eb)) != SB_OK)
            return e;
        q.owner = f->owner;
        q.assignee = f->assignee;
        q.after_set = f->after_set;
        q.after_priority = f->after_priority;
        q.after_due = f->after_due;
        q.after_id = f->after_id;
    }
    return max ? o->case_list(s, &q, max, out, n, eb) : SB_OK;
}

enum sb_err sb_store_case_events(struct sb_store *s, int64_t case_id, size_t max,
                                 struct sb_case_event *out, size_t *n, struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "case events", eb);
    if (n)
        *n = 0;
    if (!o)
        return SB_ERR_INVAL;
    if (!n || (max && !out))
        return sb_errf(eb, SB_ERR_INVAL, "store case events: NULL argument");
    return max ? o->case_events(s, case_id, max, out, n, eb) : SB_OK;
}

enum sb_err sb_store_queue_stats(struct sb_store *s, int64_t now_ms, size_t max,
                                 struct sb_queue_stats *out, size_t *n, struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "queue stats", eb);
    if (n)
        *n = 0;
    if (!o)
        return SB_ERR_INVAL;
    if (!n || (max && !out))
        return sb_errf(eb, SB_ERR_INVAL, "store queue stats: NULL argument");
    return max ? o->queue_stats(s, now_ms, max, out, n, eb) : SB_OK;
}

/* ---- posts as the console shows them ---------------------------------------------------- */

enum sb_err sb_store_post_view(struct sb_store *s, int64_t rowid, struct sb_post_view *out,
                               struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "post view", eb);
    if (!o)
        return SB_ERR_INVAL;
    if (!out)
        return sb_errf(eb, SB_ERR_INVAL, "store post view: NULL argument");
    return o->post_view(s, rowid, out, eb);
}

enum sb_err sb_store_outbox_for_post(struct sb_store *s, int64_t post_rowid, size_t max,
                                     struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb)
{
    const struct sb_store_case_ops *o = cops(s, "outbox for post", eb);
    if (n)
        *n = 0;
    if (!o)
        return SB_ERR_INVAL;
    if (!n || (max && !out))
        return sb_errf(eb, SB_ERR_INVAL, "store outbox for post: NULL argument");
    return max ? o->outbox_for_post(s, post_rowid, max, out, n, eb) : SB_OK;
}
