/* casework.c — see casework.h. Depends on the case rules (core/case.h), the effects planner
 * (agent replies get the same outbox entries and key scheme as the policy's), the store. */
#include "run/casework.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/effects.h"
#include "core/template.h"
#include "core/utf8.h"
#include "util/buf.h"
#include "util/log.h"

#define LISTENERS_MAX 4
#define CAS_TRIES 2 /* a compare-and-set lost to another process is retried once */

struct sb_casework {
    struct sb_store *store;
    const struct sb_config *cfg;
    struct {
        sb_case_listener fn;
        void *ud;
    } listeners[LISTENERS_MAX];
    int n_listeners;
    struct sb_decision d;         /* agent replies are recorded as decisions */
    struct sb_post_view view;     /* scratch (large) */
    struct sb_outbox_entry ob[8]; /* scratch (large) */
};

enum sb_err sb_casework_new(struct sb_store *s, const struct sb_config *cfg,
                            struct sb_casework **out)
{
    struct sb_casework *cw = calloc(1, sizeof *cw);
    if (!cw || sb_decision_init(&cw->d)) {
        free(cw);
        return SB_ERR_NOMEM;
    }
    cw->store = s;
    cw->cfg = cfg;
    *out = cw;
    return SB_OK;
}

void sb_casework_free(struct sb_casework *cw)
{
    if (!cw)
        return;
    sb_decision_free(&cw->d);
    free(cw);
}

void sb_casework_listen(struct sb_casework *cw, sb_case_listener fn, void *ud)
{
    if (cw->n_listeners < LISTENERS_MAX) {
        cw->listeners[cw->n_listeners].fn = fn;
        cw->listeners[cw->n_listeners].ud = ud;
        cw->n_listeners++;
    }
}

static void notify(struct sb_casework *cw, const struct sb_case *c, const struct sb_case_event *ev)
{
    sb_log(SB_LOG_INFO, "case",
           "\"case\":%lld,\"kind\":\"%s\",\"queue\":%s,\"owner\":\"%s\",\"assignee\":%lld,"
           "\"actor\":%lld,\"platform\":\"%s\",\"thread\":%s",
           (long long)c->id, sb_case_event_name(ev->kind), sb_log_q(c->queue),
           sb_case_owner_name(c->st.owner), (long long)c->st.assignee, (long long)ev->actor_id,
           sb_platform_name(c->platform), sb_log_q(c->thread_id));
    for (int i = 0; i < cw->n_listeners; i++)
        cw->listeners[i].fn(cw->listeners[i].ud, c, ev);
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* A JSON object for an event's detail, from key/value pairs (values are strings; NULL skipped). */
static void detail(struct sb_case_event *ev, const char *const *kv, size_t n)
{
    struct sb_buf b;
    sb_buf_init(&b, sizeof ev->detail - 1);
    sb_buf_putc(&b, '{');
    int first = 1;
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (!kv[i + 1])
            continue;
        if (!first)
            sb_buf_putc(&b, ',');
        first = 0;
        sb_buf_json_str(&b, kv[i], strlen(kv[i]));
        sb_buf_putc(&b, ':');
        /* a value starting with '[' is already JSON (reasons) */
        if (kv[i + 1][0] == '[')
            sb_buf_puts(&b, kv[i + 1]);
        else
            sb_buf_json_str(&b, kv[i + 1], strlen(kv[i + 1]));
    }
    if (sb_buf_putc(&b, '}') != SB_OK) /* too long: keep what is valid */
        snprintf(ev->detail, sizeof ev->detail, "{\"truncated\":true}");
    else
        copy(ev->detail, sizeof ev->detail, b.data);
    sb_buf_free(&b);
}

static void event_init(struct sb_case_event *ev, int64_t case_id, enum sb_case_event_kind k,
                       int64_t actor, int64_t now_ms)
{
    memset(ev, 0, sizeof *ev);
    ev->case_id = case_id;
    ev->kind = k;
    ev->actor_id = actor;
    ev->at = now_ms;
    snprintf(ev->detail, sizeof ev->detail, "{}");
}

static const char *thread_of(const struct sb_post *p)
{
    return p->thread ? p->thread : p->id;
}

bool sb_casework_human_thread(struct sb_casework *cw, const struct sb_post *p, struct sb_case *out)
{
    /* the thread, then the parent: a Mastodon reply knows only its parent, which is the
     * thread key of the post it answers */
    const char *keys[2] = {thread_of(p), p->in_reply_to};
    for (int i = 0; i < 2; i++) {
        if (!keys[i] || (i == 1 && keys[0] && strcmp(keys[0], keys[1]) == 0))
            continue;
        struct sb_errbuf eb;
        if (sb_store_case_by_thread(cw->store, p->platform, keys[i], out, &eb) == SB_OK)
            return out->st.owner == SB_CASE_HUMAN;
    }
    /* an answer to one of our replies: the thread of the post that reply answered */
    if (p->in_reply_to &&
        sb_store_outbox_by_remote(cw->store, p->platform, p->in_reply_to, &cw->ob[0], NULL) ==
            SB_OK &&
        sb_store_post_view(cw->store, cw->ob[0].post_rowid, &cw->view, NULL) == SB_OK) {
        const char *t = cw->view.thread[0] ? cw->view.thread : cw->view.post_id;
        if (sb_store_case_by_thread(cw->store, p->platform, t, out, NULL) == SB_OK)
            return out->st.owner == SB_CASE_HUMAN;
    }
    return false;
}

static const struct sb_actor system_actor = {0, SB_ROLE__COUNT};

enum sb_err sb_casework_join(struct sb_casework *cw, struct sb_case *c, const struct sb_post *p,
                             int64_t post_rowid, int64_t now_ms, struct sb_errbuf *eb)
{
    for (int t = 0; t < CAS_TRIES; t++) {
        struct sb_case_action a = {.kind = SB_CASE_EV_POST, .at_ms = now_ms};
        if (sb_case_apply(&c->st, &system_actor, &a) != SB_CASE_OK)
            return sb_errf(eb, SB_ERR_INVAL, "case %lld: a post cannot join it", (long long)c->id);
        if (!c->st.next_due)
            c->st.next_due = sb_queue_next_due(sb_config_queue(cw->cfg, c->queue), now_ms);
        if (!c->st.next_due && c->st.first_responded_at)
            c->st.next_due = 0;
        c->last_post_rowid = post_rowid;
        c->last_customer_at = now_ms;
        c->updated_at = now_ms;
        struct sb_case_event ev;
        event_init(&ev, c->id, SB_CASE_EV_POST, 0, now_ms);
        ev.post_rowid = post_rowid;
        const char *kv[] = {"post_id", p->id};
        detail(&ev, kv, 2);
        enum sb_err e = sb_store_case_update(cw->store, c, &ev, eb);
        if (e == SB_OK) {
            notify(cw, c, &ev);
            return SB_OK;
        }
        if (e != SB_ERR_CONFLICT || sb_store_case_get(cw->store, c->id, c, eb))
            return e;
    }
    return sb_errf(eb, SB_ERR_CONFLICT, "case %lld keeps changing", (long long)c->id);
}

/* The decision's reasons as a JSON array. */
static void reasons_json(const struct sb_decision *d, struct sb_buf *b)
{
    sb_buf_putc(b, '[');
    for (int i = 0; i < d->n_reasons; i++) {
        if (i)
            sb_buf_putc(b, ',');
        sb_buf_json_str(b, d->reasons[i], strlen(d->reasons[i]));
    }
    sb_buf_putc(b, ']');
}

enum sb_err sb_casework_escalated(struct sb_casework *cw, const struct sb_post *p,
                                  int64_t post_rowid, const struct sb_decision *d, int64_t now_ms,
                                  struct sb_errbuf *eb)
{
    const char *queue = d->queue && *d->queue ? d->queue : "support";
    const struct sb_queue_conf *q = sb_config_queue(cw->cfg, queue);
    if (!q)
        sb_log(SB_LOG_WARN, "case",
               "\"queue\":%s,\"detail\":\"the policy escalated to a queue the config does not "
               "name: the case is opened there, with no SLA clock\"",
               sb_log_q(queue));
    struct sb_buf rb;
    sb_buf_init(&rb, 3000);
    reasons_json(d, &rb);
    struct sb_case_event ev;
    const char *kv[] = {"post_id",         p->id,   "reasons", rb.data, "policy_version",
                        d->policy_version, "reply", d->reply};
    struct sb_case c;
    enum sb_err e;
    if (sb_store_case_by_thread(cw->store, p->platform, thread_of(p), &c, eb) == SB_OK &&
        c.st.owner != SB_CASE_HUMAN) {
        /* the thread's closed (or released) case comes back to the humans */
        struct sb_case_action a = {.kind = SB_CASE_EV_ESCALATED, .at_ms = now_ms};
        if (sb_case_apply(&c.st, &system_actor, &a) != SB_CASE_OK) {
            sb_buf_free(&rb);
            return sb_errf(eb, SB_ERR_INVAL, "case %lld cannot be escalated again",
                           (long long)c.id);
        }
        copy(c.queue, sizeof c.queue, queue);
        if (d->priority < c.st.priority)
            c.st.priority = d->priority;
        c.st.first_due = sb_queue_first_due(q, now_ms);
        c.st.first_responded_at = 0;
        c.st.next_due = 0;
        c.closed_at = 0;
        c.last_post_rowid = post_rowid;
        c.last_customer_at = c.updated_at = now_ms;
        event_init(&ev, c.id, SB_CASE_EV_ESCALATED, 0, now_ms);
        ev.post_rowid = post_rowid;
        detail(&ev, kv, sizeof kv / sizeof kv[0]);
        e = sb_store_case_update(cw->store, &c, &ev, eb);
    } else {
        memset(&c, 0, sizeof c);
        c.platform = p->platform;
        copy(c.account, sizeof c.account, p->account);
        copy(c.thread_id, sizeof c.thread_id, thread_of(p));
        copy(c.queue, sizeof c.queue, queue);
        c.st.owner = SB_CASE_HUMAN;
        c.st.priority = d->priority;
        c.st.first_due = sb_queue_first_due(q, now_ms);
        c.first_post_rowid = c.last_post_rowid = post_rowid;
        copy(c.author_id, sizeof c.author_id, p->author.id);
        copy(c.author_handle, sizeof c.author_handle, p->author.handle);
        /* summary left empty: the store cuts it from the first post's text */
        c.created_at = c.updated_at = c.last_customer_at = now_ms;
        event_init(&ev, 0, SB_CASE_EV_ESCALATED, 0, now_ms);
        ev.post_rowid = post_rowid;
        detail(&ev, kv, sizeof kv / sizeof kv[0]);
        e = sb_store_case_create(cw->store, &c, &ev, eb);
    }
    sb_buf_free(&rb);
    if (e == SB_OK)
        notify(cw, &c, &ev);
    return e;
}

bool sb_casework_delivery(struct sb_casework *cw, const struct sb_outbox_entry *e, int64_t now_ms)
{
    if (e->state != SB_OUTBOX_SENT && e->state != SB_OUTBOX_DEAD && e->state != SB_OUTBOX_RECONCILE)
        return false;
    struct sb_case c;
    struct sb_errbuf eb = {{0}};
    if (sb_store_case_by_outbox(cw->store, e->id, &c, &eb) != SB_OK)
        return false; /* an automated reply: no case to tell */
    bool sent = e->state == SB_OUTBOX_SENT;
    for (int t = 0; t < CAS_TRIES; t++) {
        struct sb_case_event ev;
        event_init(&ev, c.id, sent ? SB_CASE_EV_DELIVERED : SB_CASE_EV_FAILED, 0, now_ms);
        ev.outbox_id = e->id;
        const char *kv[] = {"kind",      sb_effect_kind_name(e->kind),
                            "state",     sb_store_outbox_state_name(e->state),
                            "remote_id", e->remote_id[0] ? e->remote_id : NULL,
                            "error",     e->last_error[0] ? e->last_error : NULL};
        detail(&ev, kv, sizeof kv / sizeof kv[0]);
        struct sb_case_action a = {.kind = ev.kind, .at_ms = now_ms};
        if (sb_case_apply(&c.st, &system_actor, &a) != SB_CASE_OK)
            return true;
        c.updated_at = now_ms;
        enum sb_err err = sb_store_case_update(cw->store, &c, &ev, &eb);
        if (err == SB_OK) {
            notify(cw, &c, &ev);
            return true;
        }
        if (err != SB_ERR_CONFLICT || sb_store_case_get(cw->store, c.id, &c, &eb)) {
            sb_log(SB_LOG_ERROR, "store_error", "\"case\":%lld,\"detail\":%s", (long long)c.id,
                   sb_log_q(eb.msg));
            return true;
        }
    }
    return true;
}

/* The mention the platform's sender puts before the text, unless the text already has it
 * (Mastodon: anywhere, for public replies and direct messages alike; Bluesky: at the start of
 * a public reply; chat messages have none): "@handle " or "". */
static void mention_prefix(const struct sb_case *c, const char *text, bool private_reply, char *out,
                           size_t cap)
{
    out[0] = 0;
    if (!c->author_handle[0] || (c->platform == SB_PLATFORM_BLUESKY && private_reply))
        return;
    char m[SB_OUTBOX_REF_MAX + 2];
    snprintf(m, sizeof m, "@%s", c->author_handle);
    size_t ml = strlen(m);
    if (text && c->platform == SB_PLATFORM_MASTODON && strstr(text, m))
        return;
    if (text && c->platform == SB_PLATFORM_BLUESKY && strncmp(text, m, ml) == 0 &&
        (!text[ml] || text[ml] == ' '))
        return;
    snprintf(out, cap, "%s ", m);
}

void sb_casework_limit(const struct sb_case *c, bool private_reply, size_t *max, bool *graphemes)
{
    int g = 0;
    size_t platform_max = sb_template_platform_limit(c->platform, &g);
    if (private_reply && c->platform == SB_PLATFORM_BLUESKY)
        platform_max = SB_BLUESKY_CHAT_MAX; /* chat messages: 1,000 graphemes */
    char prefix[SB_OUTBOX_REF_MAX + 3];
    mention_prefix(c, NULL, private_reply, prefix, sizeof prefix);
    size_t pl =
        g ? sb_utf8_graphemes(prefix, strlen(prefix)) : sb_utf8_codepoints(prefix, strlen(prefix));
    *max = platform_max > pl ? platform_max - pl : 0;
    *graphemes = g != 0;
}

/* Validate an agent's reply against what will actually be sent: the platform's limit for a
 * public reply or a direct message, counted over the text with the mention the sender adds. */
static enum sb_err check_text(const struct sb_case *c, const char *text, bool private_reply,
                              struct sb_errbuf *eb)
{
    size_t n = text ? strlen(text) : 0;
    if (n == 0)
        return sb_errf(eb, SB_ERR_INVAL, "text is empty");
    if (n >= SB_OUTBOX_TEXT_MAX - SB_OUTBOX_REF_MAX - 8 || !sb_utf8_valid(text, n))
        return sb_errf(eb, SB_ERR_INVAL, "text must be valid UTF-8 of at most %d bytes",
                       SB_OUTBOX_TEXT_MAX - SB_OUTBOX_REF_MAX - 8);
    int g = 0;
    size_t max = sb_template_platform_limit(c->platform, &g);
    if (private_reply && c->platform == SB_PLATFORM_BLUESKY)
        max = SB_BLUESKY_CHAT_MAX;
    char prefix[SB_OUTBOX_REF_MAX + 3];
    mention_prefix(c, text, private_reply, prefix, sizeof prefix);
    size_t pn = strlen(prefix);
    size_t len = g ? sb_utf8_graphemes(prefix, pn) + sb_utf8_graphemes(text, n)
                   : sb_utf8_codepoints(prefix, pn) + sb_utf8_codepoints(text, n);
    if (len > max)
        return sb_errf(eb, SB_ERR_INVAL, "%s on %s is at most %zu %s%s%s (this one is %zu)",
                       private_reply ? "a direct message" : "a public reply",
                       sb_platform_name(c->platform), max, g ? "graphemes" : "characters",
                       pn ? ", counting the mention " : "", pn ? prefix : "", len);
    return SB_OK;
}

/* The post an agent answers, rebuilt from the store's view of it (enough for the effects
 * planner: ids, refs, the author to mention or message). */
static void post_from_view(const struct sb_post_view *v, const struct sb_case *c, struct sb_post *p)
{
    memset(p, 0, sizeof *p);
    p->platform = v->platform;
    p->kind = SB_POST_MENTION;
    int k = sb_post_kind_from_name(v->kind);
    if (k >= 0)
        p->kind = (enum sb_post_kind)k;
    p->id = v->post_id;
    p->cid = v->cid[0] ? v->cid : NULL;
    p->account = v->account[0] ? v->account : c->account;
    p->thread = v->thread[0] ? v->thread : NULL;
    p->thread_cid = v->thread_cid[0] ? v->thread_cid : NULL;
    p->visibility = v->visibility[0] ? v->visibility : NULL;
    p->author.id = v->author_id[0] ? v->author_id : NULL;
    p->author.handle = v->author_handle[0] ? v->author_handle : NULL;
}

/* Queue the agent's reply in the outbox as a decision of its own ("agent:NAME"), keyed by the
 * case and the client's request id: the same request sent twice is one entry. */
static enum sb_err queue_reply(struct sb_casework *cw, const struct sb_case *c,
                               const char *actor_name, const struct sb_case_request *req,
                               int64_t now_ms, struct sb_case_outcome *out, struct sb_errbuf *eb)
{
    int64_t rowid = c->last_post_rowid ? c->last_post_rowid : c->first_post_rowid;
    enum sb_err e = sb_store_post_view(cw->store, rowid, &cw->view, eb);
    if (e)
        return e;
    if (cw->view.deleted_at)
        return sb_errf(eb, SB_ERR_INVAL, "the customer deleted the post this would answer");
    struct sb_post p;
    post_from_view(&cw->view, c, &p);
    struct sb_decision *d = &cw->d;
    sb_decision_reset(d);
    char who[96];
    snprintf(who, sizeof who, "agent:%s", actor_name);
    d->policy_version = who;
    if (req->private_reply) {
        d->action = SB_ACTION_MOVE_TO_PRIVATE;
        d->message = req->text;
    } else {
        d->action = SB_ACTION_ACKNOWLEDGE;
        d->reply = req->text;
    }
    char why[160];
    snprintf(why, sizeof why, "%s reply by agent %s in case %lld",
             req->private_reply ? "private" : "public", actor_name, (long long)c->id);
    sb_decision_add_reason(d, why);
    struct sb_effect fx[SB_EFFECTS_MAX];
    size_t n = 0;
    if ((e = sb_effects_plan(&p, d, fx, SB_EFFECTS_MAX, &n)) || n == 0)
        return sb_errf(eb, SB_ERR_INVAL, "this reply cannot be planned on %s",
                       sb_platform_name(p.platform));
    char rev[200];
    snprintf(rev, sizeof rev, "case:%lld:%s", (long long)c->id, req->request_id);
    sb_effects_rekey(fx, n, rev);
    int64_t decision_id = 0;
    e = sb_store_decision_record(cw->store, rowid, d, fx, n, now_ms, &decision_id, eb);
    if (e == SB_ERR_DUP)
        out->repeated = true;
    else if (e)
        return e;
    /* the entry's id, for the case event and the console */
    size_t m = 0;
    if ((e = sb_store_outbox_for_post(cw->store, rowid, sizeof cw->ob / sizeof cw->ob[0], cw->ob,
                                      &m, eb)))
        return e;
    for (size_t i = 0; i < m; i++)
        if (strcmp(cw->ob[i].idem_key, fx[n - 1].idem_key) == 0)
            out->outbox_id = cw->ob[i].id;
    return sb_store_flush(cw->store, eb);
}

enum sb_err sb_casework_act(struct sb_casework *cw, int64_t case_id, const struct sb_actor *actor,
                            const char *actor_name, const struct sb_case_request *req,
                            int64_t now_ms, struct sb_case_outcome *out, struct sb_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    struct sb_case *c = &out->c;
    enum sb_err e = sb_store_case_get(cw->store, case_id, c, eb);
    if (e)
        return e;
    const struct sb_queue_conf *to_q = NULL;
    if (req->kind == SB_CASE_EV_TRANSFERRED && req->to_queue && *req->to_queue &&
        !(to_q = sb_config_queue(cw->cfg, req->to_queue)))
        return sb_errf(eb, SB_ERR_INVAL, "no queue named '%s'", req->to_queue);
    if (req->kind == SB_CASE_EV_NOTE && (!req->text || !*req->text || strlen(req->text) > 4000 ||
                                         !sb_utf8_valid(req->text, strlen(req->text))))
        return sb_errf(eb, SB_ERR_INVAL, "a note is 1 to 4000 bytes of UTF-8");
    if (req->kind == SB_CASE_EV_REPLY) {
        if ((e = check_text(c, req->text, req->private_reply, eb)))
            return e;
        size_t rl = req->request_id ? strlen(req->request_id) : 0;
        if (rl == 0 || rl > 64 ||
            strspn(req->request_id,
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != rl)
            return sb_errf(eb, SB_ERR_INVAL, "request_id is 1 to 64 of [A-Za-z0-9_-]");
    }
    for (int t = 0; t < CAS_TRIES; t++) {
        struct sb_case_state before = c->st;
        struct sb_case_action a = {.kind = req->kind,
                                   .to_agent = req->to_agent,
                                   .to_queue = to_q != NULL,
                                   .at_ms = now_ms};
        out->refusal = sb_case_apply(&c->st, actor, &a);
        if (out->refusal != SB_CASE_OK) {
            if (out->refusal == SB_CASE_CLAIMED) {
                struct sb_agent ag;
                if (sb_store_agent_get(cw->store, before.assignee, &ag, NULL) == SB_OK)
                    copy(out->holder, sizeof out->holder, ag.name);
            }
            return SB_OK;
        }
        struct sb_case_event *ev = &out->ev;
        event_init(ev, c->id, req->kind, actor->id, now_ms);
        char from_q[SB_QUEUE_NAME_MAX];
        copy(from_q, sizeof from_q, c->queue);
        if (req->kind == SB_CASE_EV_REPLY) {
            if ((e = queue_reply(cw, c, actor_name, req, now_ms, out, eb)))
                return e;
            ev->outbox_id = out->outbox_id;
            const char *kv[] = {"private",    req->private_reply ? "true" : "false",
                                "text",       req->text,
                                "request_id", req->request_id};
            detail(ev, kv, sizeof kv / sizeof kv[0]);
            if (out->repeated) {
                c->st = before; /* already recorded with its event: nothing new */
                return SB_OK;
            }
        } else if (req->kind == SB_CASE_EV_NOTE) {
            const char *kv[] = {"text", req->text};
            detail(ev, kv, 2);
        } else if (req->kind == SB_CASE_EV_TRANSFERRED) {
            if (to_q) {
                copy(c->queue, sizeof c->queue, to_q->name);
                /* the new queue's clock, from when the customer started waiting */
                if (!c->st.first_responded_at)
                    c->st.first_due = sb_queue_first_due(to_q, c->created_at);
            }
            const char *kv[] = {"from_queue", from_q,
                                "to_queue",   to_q ? to_q->name : NULL,
                                "to_agent",   req->to_agent_name};
            detail(ev, kv, sizeof kv / sizeof kv[0]);
        } else if (req->kind == SB_CASE_EV_RESOLVED) {
            c->closed_at = now_ms;
        } else if (req->kind == SB_CASE_EV_REOPENED) {
            c->closed_at = 0;
            c->st.next_due = sb_queue_next_due(sb_config_queue(cw->cfg, c->queue), now_ms);
        }
        c->updated_at = now_ms;
        e = sb_store_case_update(cw->store, c, ev, eb);
        if (e == SB_OK) {
            notify(cw, c, ev);
            return SB_OK;
        }
        if (e != SB_ERR_CONFLICT || (e = sb_store_case_get(cw->store, case_id, c, eb)))
            return e;
    }
    return sb_errf(eb, SB_ERR_CONFLICT, "case %lld changed meanwhile; try again",
                   (long long)case_id);
}
