/* sender.c — the outbox sender (see sender.h). Depends on the store's outbox, core/retry for
 * the decisions about failures, and the connectors. */
#include "run/sender.h"

#include <stdlib.h>
#include <string.h>

#include "core/retry.h"
#include "util/log.h"

#define CLAIM_MAX 32
#define LEASE_MS 60000
#define POLL_MS 250

struct sb_sender {
    struct sb_loop *loop;
    struct sb_store *store;
    const struct sb_config *cfg;
    struct sb_connector **conns;
    int n_conns;
    uv_timer_t timer;
    int stopping, in_flight, scheduled;
    int backlog; /* the last claim filled every free slot: more may be due */
    uint64_t rng;
    struct sb_outbox_entry *batch; /* CLAIM_MAX entries, on the heap (they are large) */
    sb_sender_observer observer;
    void *observer_ud;
};

void sb_sender_observe(struct sb_sender *s, sb_sender_observer fn, void *ud)
{
    s->observer = fn;
    s->observer_ud = ud;
}

/* Tell the observer: the entry as it now stands. */
static void observe(struct sb_sender *s, struct sb_outbox_entry *e, enum sb_outbox_state st,
                    int status, const char *remote_id, const char *error)
{
    if (!s->observer)
        return;
    e->state = st;
    e->last_status = status;
    if (remote_id)
        snprintf(e->remote_id, sizeof e->remote_id, "%s", remote_id);
    if (error)
        snprintf(e->last_error, sizeof e->last_error, "%s", error);
    s->observer(s->observer_ud, e);
}

struct job {
    struct sb_sender *s;
    struct sb_outbox_entry e;
};

static void on_timer(uv_timer_t *t);

static void schedule(struct sb_sender *s, uint64_t ms)
{
    if (s->stopping)
        return;
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

void sb_sender_kick(void *sender)
{
    schedule(sender, 0);
}

static struct sb_connector *connector_for(struct sb_sender *s, const struct sb_outbox_entry *e)
{
    for (int i = 0; i < s->n_conns; i++) {
        const struct sb_account_conf *a = s->conns[i]->conf;
        if (a->platform == e->platform && strcmp(a->name, e->account) == 0)
            return s->conns[i];
    }
    return NULL;
}

static void log_outcome(const struct sb_outbox_entry *e, const char *outcome, const char *detail)
{
    sb_log(strcmp(outcome, "sent") == 0 ? SB_LOG_INFO : SB_LOG_WARN, "outbox",
           "\"outcome\":\"%s\",\"id\":%lld,\"platform\":\"%s\",\"account\":%s,\"kind\":\"%s\","
           "\"target\":%s,\"attempt\":%d,\"detail\":%s",
           outcome, (long long)e->id, sb_platform_name(e->platform), sb_log_q(e->account),
           sb_effect_kind_name(e->kind), sb_log_q(e->target_id), e->attempts, sb_log_q(detail));
}

static void on_done(void *ud, const struct sb_send_result *r)
{
    struct job *j = ud;
    struct sb_sender *s = j->s;
    struct sb_outbox_entry *e = &j->e;
    struct sb_errbuf eb = {{0}};
    s->in_flight--;
    enum sb_err err;
    if (r->ok) {
        err = sb_store_outbox_sent(s->store, e->id, r->remote_id,
                                   r->remote_cid[0] ? r->remote_cid : NULL, 200, &eb);
        log_outcome(e, "sent", r->remote_id);
        if (!err)
            observe(s, e, SB_OUTBOX_SENT, 200, r->remote_id, NULL);
        if (s->cfg->pretty)
            printf("   \xE2\x9C\x93 %s sent to %s on %s (%s)\n",
                   e->kind == SB_EFFECT_DIRECT_MESSAGE ? "private message" : "public reply",
                   e->recipient_handle[0] ? e->recipient_handle : e->recipient_id,
                   sb_platform_name(e->platform), r->remote_id);
    } else {
        struct sb_retry_state st = {.platform = e->platform,
                                    .kind = e->kind,
                                    .attempts = e->attempts,
                                    .first_attempt_ms = e->first_attempt_at,
                                    .rand = sb_retry_rand_splitmix,
                                    .rand_ctx = &s->rng};
        int64_t next = 0;
        int64_t now = sb_loop_now_ms();
        enum sb_retry_verdict v = sb_retry_next(&st, now, &r->resp, &next);
        if (v == SB_RETRY_AGAIN) {
            err = sb_store_outbox_retry(s->store, e->id, next, r->resp.http_status, r->error, &eb);
            char d[400];
            snprintf(d, sizeof d, "%s; retry in %lld ms", r->error, (long long)(next - now));
            log_outcome(e, "retry", d);
            if (!err)
                observe(s, e, SB_OUTBOX_RETRY, r->resp.http_status, NULL, r->error);
        } else {
            enum sb_outbox_state to = v == SB_RETRY_DEAD ? SB_OUTBOX_DEAD : SB_OUTBOX_RECONCILE;
            err = sb_store_outbox_fail(s->store, e->id, to, r->resp.http_status, r->error, &eb);
            log_outcome(e, sb_store_outbox_state_name(to), r->error);
            if (!err)
                observe(s, e, to, r->resp.http_status, NULL, r->error);
            if (s->cfg->pretty)
                printf("   \xE2\x9C\x97 %s to %s not sent: %s (%s)\n",
                       e->kind == SB_EFFECT_DIRECT_MESSAGE ? "private message" : "public reply",
                       e->recipient_handle[0] ? e->recipient_handle : e->recipient_id, r->error,
                       sb_store_outbox_state_name(to));
        }
    }
    if (err)
        sb_log(SB_LOG_ERROR, "store_error", "\"outbox_id\":%lld,\"detail\":%s", (long long)e->id,
               sb_log_q(eb.msg));
    free(j);
    /* a slot is free: look for more now only if the last claim left some behind (otherwise
     * new work arrives with a kick and retries with the poll) */
    if (s->backlog)
        schedule(s, 0);
}

static void send_one(struct sb_sender *s, struct sb_outbox_entry *e)
{
    struct sb_errbuf eb = {{0}};
    struct sb_connector *c = connector_for(s, e);
    if (!c) {
        sb_store_outbox_fail(s->store, e->id, SB_OUTBOX_DEAD, 0,
                             "no configured account sends for it", &eb);
        log_outcome(e, "dead", "no configured account sends for it");
        observe(s, e, SB_OUTBOX_DEAD, 0, NULL, "no configured account sends for it");
        return;
    }
    struct sb_retry_state st = {.platform = e->platform,
                                .kind = e->kind,
                                .attempts = e->attempts,
                                .first_attempt_ms = e->first_attempt_at};
    if (!sb_retry_may_send(&st, sb_loop_now_ms(), e->reclaimed)) {
        sb_store_outbox_fail(s->store, e->id, SB_OUTBOX_RECONCILE, e->last_status,
                             "outside the idempotency window: check before re-sending", &eb);
        log_outcome(e, "reconcile", "outside the idempotency window");
        observe(s, e, SB_OUTBOX_RECONCILE, e->last_status, NULL,
                "outside the idempotency window: check before re-sending");
        return;
    }
    struct job *j = malloc(sizeof *j);
    if (!j) {
        sb_store_outbox_retry(s->store, e->id, sb_loop_now_ms() + 1000, 0, "out of memory", &eb);
        return;
    }
    j->s = s;
    j->e = *e;
    struct sb_send_req req = {
        .kind = e->kind,
        .idem_key = j->e.idem_key,
        .target_id = j->e.target_id[0] ? j->e.target_id : NULL,
        .target_cid = j->e.target_cid[0] ? j->e.target_cid : NULL,
        .root_id = j->e.root_id[0] ? j->e.root_id : NULL,
        .root_cid = j->e.root_cid[0] ? j->e.root_cid : NULL,
        .recipient_id = j->e.recipient_id[0] ? j->e.recipient_id : NULL,
        .recipient_handle = j->e.recipient_handle[0] ? j->e.recipient_handle : NULL,
        .text = j->e.text,
    };
    if (!c->ready || c->ops->send(c, &req, on_done, j) != SB_OK) {
        /* the account is not ready (identity unknown yet): try again shortly */
        sb_store_outbox_retry(s->store, e->id, sb_loop_now_ms() + 2000, 0,
                              c->ready ? "could not start the request" : "account not ready", &eb);
        free(j);
        return;
    }
    s->in_flight++;
}

static void on_timer(uv_timer_t *t)
{
    struct sb_sender *s = t->data;
    if (s->stopping)
        return;
    /* Claiming counts an attempt: wait until every account knows who it is (verify) first. */
    for (int i = 0; i < s->n_conns; i++)
        if (!s->conns[i]->ready) {
            schedule(s, POLL_MS);
            return;
        }
    size_t room = CLAIM_MAX - (size_t)s->in_flight;
    if (room > 0) {
        size_t n = 0;
        struct sb_errbuf eb = {{0}};
        if (sb_store_outbox_due(s->store, sb_loop_now_ms(), LEASE_MS, room, s->batch, &n, &eb))
            sb_log(SB_LOG_ERROR, "store_error", "\"detail\":%s", sb_log_q(eb.msg));
        s->backlog = n == room;
        for (size_t i = 0; i < n; i++)
            send_one(s, &s->batch[i]);
    }
    schedule(s, POLL_MS); /* retries come due on their own */
}

enum sb_err sb_sender_new(struct sb_loop *l, struct sb_store *store, const struct sb_config *cfg,
                          struct sb_connector **conns, int n_conns, struct sb_sender **out)
{
    struct sb_sender *s = calloc(1, sizeof *s);
    if (!s)
        return SB_ERR_NOMEM;
    s->batch = calloc(CLAIM_MAX, sizeof *s->batch);
    if (!s->batch) {
        free(s);
        return SB_ERR_NOMEM;
    }
    s->loop = l;
    s->store = store;
    s->cfg = cfg;
    s->conns = conns;
    s->n_conns = n_conns;
    s->rng = (uint64_t)sb_loop_now_ms() * 0x9E3779B97F4A7C15ull;
    uv_timer_init(sb_loop_uv(l), &s->timer);
    s->timer.data = s;
    schedule(s, 0);
    *out = s;
    return SB_OK;
}

void sb_sender_stop(struct sb_sender *s)
{
    s->stopping = 1;
    uv_timer_stop(&s->timer);
}

int sb_sender_in_flight(const struct sb_sender *s)
{
    return s->in_flight;
}

static void free_sender(uv_handle_t *h)
{
    struct sb_sender *s = h->data;
    free(s->batch);
    free(s);
}

void sb_sender_free(struct sb_sender *s)
{
    if (s)
        uv_close((uv_handle_t *)&s->timer, free_sender);
}
