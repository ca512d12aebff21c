/* ingest.c — events to durable decisions (see ingest.h). Depends on the policy runtime, the
 * effects planner, the store. */
#include "run/ingest.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/effects.h"
#include "run/pretty.h"
#include "util/log.h"

#define EFFECTS_MAX 4

struct sb_ingest {
    uv_check_t check;  /* end of each loop iteration: one commit for everything decided in it */
    uv_timer_t window; /* under load, commits are at most one per COMMIT_WINDOW_NS */
    uint64_t last_commit_ns;
    int window_armed, closing;
    int since_commit; /* events ingested since the last commit */
    int dirty, kick_pending;
    struct sb_store *store;
    struct sb_policy *pol;
    const struct sb_config *cfg;
    void (*kick)(void *ud);
    void *kick_ud;
    struct sb_decision d;
    struct sb_ingest_stats st;
    struct sb_casework *cw;     /* may be NULL */
    struct sb_metrics *m;       /* may be NULL */
    sb_ingest_queues_fn queues; /* may be NULL */
    void *queues_ud;
};

void sb_ingest_set_queues(struct sb_ingest *in, sb_ingest_queues_fn fn, void *ud)
{
    in->queues = fn;
    in->queues_ud = ud;
}

/* Group commit: every post decided during one loop iteration (a burst of frames, a catch-up
 * page) is made durable by one commit here, before the sender is told and before anything is
 * sent. Cursors written by the connectors ride in the same transaction, so a cursor never
 * moves past a post that is not durable. */
#define COMMIT_WINDOW_NS 1000000ULL

static void commit_now(struct sb_ingest *in)
{
    /* the sender's outbox changes ride in the same batch (sb_store_set_outbox_sync) */
    in->dirty = 0;
    in->since_commit = 0;
    in->last_commit_ns = uv_hrtime();
    struct sb_errbuf eb = {{0}};
    if (sb_store_flush(in->store, &eb) != SB_OK) {
        in->st.errors++;
        sb_log(SB_LOG_ERROR, "store_error",
               "\"detail\":%s,\"effect\":\"this batch is lost; its posts are fetched again at "
               "the next reconnect or start\"",
               sb_log_q(eb.msg));
        in->kick_pending = 0;
        return;
    }
    if (in->kick_pending && in->kick_ud) {
        in->kick_pending = 0;
        in->kick(in->kick_ud);
    }
}

static void on_window(uv_timer_t *t)
{
    struct sb_ingest *in = t->data;
    in->window_armed = 0;
    commit_now(in);
}

/* A steady trickle commits at the end of the iteration that decided it (no added latency); a
 * burst (several events since the last commit, the last commit under a millisecond ago)
 * waits up to a millisecond so its posts share one commit. */
#define BURST_EVENTS 4

static void on_check(uv_check_t *h)
{
    struct sb_ingest *in = h->data;
    if (in->window_armed)
        return;
    uint64_t now = uv_hrtime();
    if (in->since_commit <= BURST_EVENTS || now - in->last_commit_ns >= COMMIT_WINDOW_NS) {
        commit_now(in);
        return;
    }
    in->window_armed = 1;
    uv_timer_start(&in->window, on_window, 1, 0);
}

enum sb_err sb_ingest_new(struct sb_loop *loop, struct sb_store *store, struct sb_policy *pol,
                          const struct sb_config *cfg, void (*kick)(void *ud), void *kick_ud,
                          struct sb_ingest **out)
{
    struct sb_ingest *in = calloc(1, sizeof *in);
    if (!in || sb_decision_init(&in->d)) {
        free(in);
        return SB_ERR_NOMEM;
    }
    uv_check_init(sb_loop_uv(loop), &in->check);
    in->check.data = in;
    uv_check_start(&in->check, on_check);
    uv_timer_init(sb_loop_uv(loop), &in->window);
    in->window.data = in;
    in->store = store;
    in->pol = pol;
    in->cfg = cfg;
    in->kick = kick;
    in->kick_ud = kick_ud;
    *out = in;
    return SB_OK;
}

static void free_ingest(uv_handle_t *h)
{
    struct sb_ingest *in = h->data;
    if (--in->closing > 0)
        return; /* the other handle is still closing */
    sb_decision_free(&in->d);
    free(in);
}

void sb_ingest_free(struct sb_ingest *in)
{
    if (!in)
        return;
    struct sb_errbuf eb;
    sb_store_flush(in->store, &eb); /* ingest's and the sender's pending writes */
    uv_check_stop(&in->check);
    uv_timer_stop(&in->window);
    in->closing = 2;
    uv_close((uv_handle_t *)&in->check, free_ingest);
    uv_close((uv_handle_t *)&in->window, free_ingest);
}

void sb_ingest_set_kick(struct sb_ingest *in, void (*kick)(void *ud), void *kick_ud)
{
    in->kick = kick;
    in->kick_ud = kick_ud;
}

void sb_ingest_set_casework(struct sb_ingest *in, struct sb_casework *cw, struct sb_metrics *m)
{
    in->cw = cw;
    in->m = m;
}

void sb_ingest_stats_get(const struct sb_ingest *in, struct sb_ingest_stats *st)
{
    *st = in->st;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The context the policy sees: the clock, and this author's last 24 hours with the brand. */
static void fill_ctx(struct sb_ingest *in, const struct sb_post *p, int64_t rowid,
                     struct sb_ctx *ctx, struct sb_store_history_src *hs)
{
    int64_t now = now_ms();
    ctx->now = now / 1000;
    ctx->business_hours = true;
    *hs = (struct sb_store_history_src){in->store, p, now - 86400000LL, rowid};
    /* looked up only if the policy reads ctx.history */
    ctx->history_fn = sb_store_ctx_history;
    ctx->history_ud = hs;
    if (in->queues)
        ctx->queues = in->queues(in->queues_ud, &ctx->n_queues);
}

/* Reply budgets (design §4), which a policy cannot exceed: automated answers to one author in
 * 24 h, and a much smaller one for bot accounts (a bot answering our bot answering it is a
 * loop). Over budget, what would have been said goes to a human instead. */
static void apply_budgets(struct sb_ingest *in, const struct sb_post *p, struct sb_decision *d,
                          struct sb_store_history_src *hs)
{
    if (d->action != SB_ACTION_ACKNOWLEDGE && d->action != SB_ACTION_MOVE_TO_PRIVATE &&
        !(d->action == SB_ACTION_ESCALATE && d->reply))
        return;
    int budget = p->author.bot ? in->cfg->reply_budget_bot : in->cfg->reply_budget_author;
    if (budget <= 0 && !p->author.bot)
        return;
    struct sb_ctx_history h;
    if (sb_store_ctx_history(hs, &h) != 0 || h.acknowledged < budget)
        return;
    char why[160];
    snprintf(why, sizeof why,
             "guardrail: reply budget reached (%lld automated answers to this %s "
             "in 24 h)",
             (long long)h.acknowledged, p->author.bot ? "bot" : "author");
    if (p->author.bot) {
        d->action = SB_ACTION_IGNORE;
        d->reply = d->message = NULL;
    } else {
        d->action = SB_ACTION_ESCALATE;
        d->reply = d->message = NULL;
        if (!d->queue)
            d->queue = "support";
    }
    sb_decision_add_reason(d, why);
}

/* Guardrail decisions the policy never sees: the brand's own posts. */
static void decide_own(struct sb_decision *d)
{
    sb_decision_reset(d);
    d->action = SB_ACTION_IGNORE;
    sb_decision_add_reason(d, "guardrail: the brand's own post (echo suppression)");
}

/* Kill switch: nothing automatic goes out; what would have been said waits for a human. */
static void apply_pause(struct sb_decision *d)
{
    if (d->action == SB_ACTION_IGNORE || d->action == SB_ACTION_ESCALATE)
        return;
    d->action = SB_ACTION_ESCALATE;
    d->reply = d->message = NULL;
    d->queue = "support";
    d->priority = SB_PRIORITY_NORMAL;
    sb_decision_add_reason(d, "guardrail: automated replies are paused (kill switch)");
}

static void log_decision(const struct sb_connector *c, const struct sb_post *p,
                         const struct sb_decision *d, size_t n_effects)
{
    char reasons[600] = "";
    size_t at = 0;
    for (int i = 0; i < d->n_reasons && at < sizeof reasons - 2; i++)
        at += (size_t)snprintf(reasons + at, sizeof reasons - at, "%s%s", i ? "; " : "",
                               d->reasons[i]);
    sb_log(SB_LOG_INFO, "decided",
           "\"platform\":\"%s\",\"account\":%s,\"post_id\":%s,\"author\":%s,\"action\":\"%s\","
           "\"queue\":%s,\"effects\":%zu,\"reasons\":%s,\"policy\":\"%s\",\"latency_us\":%.1f%s%s",
           sb_platform_name(p->platform), sb_log_q(c->conf->name), sb_log_q(p->id),
           sb_log_q(p->author.handle ? p->author.handle : p->author.id), sb_action_name(d->action),
           sb_log_q(d->action == SB_ACTION_ESCALATE ? d->queue : NULL), n_effects,
           sb_log_q(reasons), d->policy_version ? d->policy_version : "",
           (double)d->latency_ns / 1000.0, d->error ? ",\"policy_error\":" : "",
           d->error ? sb_log_q(d->error->message) : "");
}

/* A post on a thread a human owns: the policy stays silent (design §3), the post joins the
 * case. Recorded as an escalation to the case's queue, with no effect. */
static void decide_joined(struct sb_decision *d, const struct sb_case *c)
{
    sb_decision_reset(d);
    d->action = SB_ACTION_ESCALATE;
    d->queue = c->queue; /* the case outlives the decision's use of it */
    d->priority = c->st.priority;
    char why[160];
    snprintf(why, sizeof why, "case %lld: a human owns this thread, the policy stays silent",
             (long long)c->id);
    sb_decision_add_reason(d, why);
}

/* Cases: an escalation opens (or reopens) one; a joined post is added to its case. Written
 * after the decision: a failure here is logged and the decision stands (the post is recorded
 * as escalated, and `switchboard` shows it). */
static void record_case(struct sb_ingest *in, const struct sb_post *p, int64_t rowid,
                        const struct sb_decision *d, struct sb_case *joined)
{
    struct sb_errbuf eb = {{0}};
    enum sb_err e = SB_OK;
    /* in the commit of the post and its decision, at the end of this loop iteration */
    sb_store_set_case_sync(in->store, false);
    if (joined)
        e = sb_casework_join(in->cw, joined, p, rowid, now_ms(), &eb);
    else if (d->action == SB_ACTION_ESCALATE) {
        e = sb_casework_escalated(in->cw, p, rowid, d, now_ms(), &eb);
        if (!e && in->m)
            in->m->cases_opened++;
    }
    sb_store_set_case_sync(in->store, true);
    if (e) {
        in->st.errors++;
        sb_log(SB_LOG_ERROR, "case_error", "\"post_id\":%s,\"detail\":%s", sb_log_q(p->id),
               sb_log_q(eb.msg));
    }
}

/* The policy's decision about p (stored as rowid), with the guardrails it cannot bypass: the
 * kill switch and the reply budgets. */
static void decide_by_policy(struct sb_ingest *in, const struct sb_post *p, int64_t rowid,
                             struct sb_decision *d)
{
    struct sb_ctx ctx = {0};
    struct sb_store_history_src hs;
    fill_ctx(in, p, rowid, &ctx, &hs);
    if (sb_policy_decide(in->pol, p, &ctx, d) != SB_OK)
        in->st.policy_errors++;
    if (in->cfg->paused)
        apply_pause(d);
    apply_budgets(in, p, d, &hs);
}

/* A revision tag for an edited text: the same edit delivered twice plans the same keys. */
static void text_revision(const char *text, char out[17])
{
    uint64_t h = 1469598103934665603ull;
    for (const char *t = text ? text : ""; *t; t++)
        h = (h ^ (unsigned char)*t) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* An edit of a post already decided (design §4): if its reply has not gone out, the pending
 * reply is cancelled and the edited post decided again (keys carry the edit's revision); if
 * the reply is out (or on the wire), the edit is only recorded. */
static void handle_edit(struct sb_ingest *in, struct sb_connector *c, struct sb_post *p,
                        int64_t rowid)
{
    struct sb_errbuf eb = {{0}};
    int64_t n[SB_OUTBOX__COUNT];
    if (sb_store_outbox_post_counts(in->store, p->platform, p->id, n, &eb)) {
        in->st.errors++;
        sb_log(SB_LOG_ERROR, "store_error", "\"detail\":%s", sb_log_q(eb.msg));
        return;
    }
    if (n[SB_OUTBOX_SENT] + n[SB_OUTBOX_SENDING] > 0) {
        sb_log(SB_LOG_INFO, "edited",
               "\"platform\":\"%s\",\"post_id\":%s,\"detail\":"
               "\"edited after the reply went out: not answered again\"",
               sb_platform_name(p->platform), sb_log_q(p->id));
        if (in->cfg->pretty)
            printf("\n[%s] post %s edited after our reply: recorded, not answered again\n",
                   sb_platform_name(p->platform), p->id);
        return;
    }
    if (n[SB_OUTBOX_PENDING] + n[SB_OUTBOX_RETRY] > 0 &&
        sb_store_outbox_cancel_for_post(in->store, p->platform, p->id, &eb)) {
        in->st.errors++;
        sb_log(SB_LOG_ERROR, "store_error", "\"detail\":%s", sb_log_q(eb.msg));
        return;
    }
    struct sb_case human_case;
    if (in->cw && sb_casework_human_thread(in->cw, p, &human_case)) {
        /* a human owns the thread: the agent sees the edit in the case, the policy stays out */
        sb_log(SB_LOG_INFO, "edited",
               "\"platform\":\"%s\",\"post_id\":%s,\"case\":%lld,\"detail\":"
               "\"edited on a thread a human owns: not decided again\"",
               sb_platform_name(p->platform), sb_log_q(p->id), (long long)human_case.id);
        return;
    }
    struct sb_decision *d = &in->d;
    decide_by_policy(in, p, rowid, d);
    sb_decision_add_reason(d, "re-decided: the post was edited before its reply went out");
    in->st.actions[d->action]++;
    if (in->m)
        sb_metrics_decision(in->m, d);
    struct sb_effect fx[EFFECTS_MAX];
    size_t k = 0;
    if (sb_effects_plan(p, d, fx, EFFECTS_MAX, &k) != SB_OK || in->cfg->dry_run)
        k = 0;
    char rev[17];
    text_revision(p->text, rev);
    sb_effects_rekey(fx, k, rev);
    enum sb_err e = sb_store_decision_record(in->store, rowid, d, fx, k, now_ms(), NULL, &eb);
    in->dirty = 1;
    if (e == SB_ERR_DUP)
        return; /* this very edit was decided already (a redelivery) */
    if (e) {
        in->st.errors++;
        sb_log(SB_LOG_ERROR, "store_error", "\"post_id\":%s,\"detail\":%s", sb_log_q(p->id),
               sb_log_q(eb.msg));
        return;
    }
    log_decision(c, p, d, k);
    if (in->cfg->pretty)
        sb_pretty_decision(stdout, p, d);
    if (k) {
        in->st.enqueued += (long)k;
        in->kick_pending = 1;
    }
    if (in->cw)
        record_case(in, p, rowid, d, NULL);
}

void sb_ingest_event(void *ud, struct sb_connector *c, struct sb_event *ev, const char *raw,
                     size_t raw_len)
{
    struct sb_ingest *in = ud;
    struct sb_post *p = &ev->post;
    struct sb_errbuf eb = {{0}};
    in->st.events++;
    in->since_commit++;
    switch (ev->type) {
    case SB_EVENT_SKIP:
        in->st.skipped++;
        return;
    case SB_EVENT_DELETE: {
        in->st.deletes++;
        if (in->m)
            in->m->deletes++;
        enum sb_err e = sb_store_post_mark_deleted(in->store, p->platform, p->id, &eb);
        in->dirty = 1;
        if (e == SB_OK) {
            /* a post deleted before its reply went out: the reply is cancelled */
            if (sb_store_outbox_cancel_for_post(in->store, p->platform, p->id, &eb))
                sb_log(SB_LOG_ERROR, "store_error", "\"detail\":%s", sb_log_q(eb.msg));
            sb_log(SB_LOG_INFO, "deleted", "\"platform\":\"%s\",\"post_id\":%s",
                   sb_platform_name(p->platform), sb_log_q(p->id));
            if (in->cfg->pretty)
                printf("\n[%s] post %s deleted by its author: pending replies cancelled\n",
                       sb_platform_name(p->platform), p->id);
        }
        return;
    }
    case SB_EVENT_UPDATE:
    case SB_EVENT_POST:
        break;
    }
    if (!p->account)
        p->account = c->conf->name;
    int64_t rowid;
    enum sb_err e = sb_store_post_insert(in->store, p, raw, raw_len, &rowid, &eb);
    if (e == SB_ERR_DUP && ev->type == SB_EVENT_UPDATE) {
        /* the record (and the console) shows the edited text */
        if (sb_store_post_edit(in->store, p, raw, raw_len, &eb) != SB_OK)
            sb_log(SB_LOG_ERROR, "store_error", "\"post_id\":%s,\"detail\":%s", sb_log_q(p->id),
                   sb_log_q(eb.msg));
        in->dirty = 1;
        int own = c->self_id[0] && p->author.id && strcmp(p->author.id, c->self_id) == 0;
        if (!own)
            handle_edit(in, c, p, rowid);
        return;
    }
    if (e == SB_ERR_DUP) {
        in->st.duplicates++;
        if (in->m)
            in->m->duplicates++;
        sb_log(SB_LOG_DEBUG, "duplicate", "\"platform\":\"%s\",\"post_id\":%s",
               sb_platform_name(p->platform), sb_log_q(p->id));
        if (in->cfg->pretty)
            printf("\n[%s] post %s delivered again: already decided, nothing sent twice\n",
                   sb_platform_name(p->platform), p->id);
        return;
    }
    if (e) {
        in->st.errors++;
        sb_log(SB_LOG_ERROR, "store_error", "\"post_id\":%s,\"detail\":%s", sb_log_q(p->id),
               sb_log_q(eb.msg));
        return;
    }
    in->st.posts++;
    in->dirty = 1;
    if (in->m && (unsigned)p->platform < SB_PLATFORM__COUNT)
        in->m->posts_in[p->platform]++;
    struct sb_decision *d = &in->d;
    int own = c->self_id[0] && p->author.id && strcmp(p->author.id, c->self_id) == 0;
    struct sb_case human_case;
    int joins = 0;
    if (own) {
        in->st.own++;
        decide_own(d);
    } else if (in->cw && sb_casework_human_thread(in->cw, p, &human_case)) {
        joins = 1;
        decide_joined(d, &human_case);
    } else {
        decide_by_policy(in, p, rowid, d);
    }
    in->st.actions[d->action]++;
    if (in->m)
        sb_metrics_decision(in->m, d);
    struct sb_effect fx[EFFECTS_MAX];
    size_t n = 0;
    if (!own && !joins && sb_effects_plan(p, d, fx, EFFECTS_MAX, &n) != SB_OK)
        n = 0;
    if (in->cfg->dry_run)
        n = 0; /* decided and recorded, never sent */
    e = sb_store_decision_record(in->store, rowid, d, fx, n, now_ms(), NULL, &eb);
    in->dirty = 1;
    if (e && e != SB_ERR_DUP) {
        in->st.errors++;
        sb_log(SB_LOG_ERROR, "store_error", "\"post_id\":%s,\"detail\":%s", sb_log_q(p->id),
               sb_log_q(eb.msg));
        return;
    }
    log_decision(c, p, d, n);
    if (in->cfg->pretty)
        sb_pretty_decision(stdout, p, d);
    if (n && !e) {
        in->st.enqueued += (long)n;
        in->kick_pending = 1; /* after the commit at the end of this iteration */
    }
    if (!e && in->cw)
        record_case(in, p, rowid, d, joins ? &human_case : NULL);
}
