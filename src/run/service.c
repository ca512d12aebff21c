/* service.c — `switchboard run` (see service.h): wires config, store, policy, loop,
 * connectors, ingest and sender; handles SIGINT/SIGTERM with a graceful stop. */
#include "run/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "net/loop.h"
#include "platforms/connector.h"
#include "policy/policy.h"
#include "run/casework.h"
#include "run/ingest.h"
#include "run/metrics.h"
#include "run/sender.h"
#include "store/store.h"
#include "util/log.h"

#define DRAIN_MAX_MS 10000

struct service {
    const struct sb_config *cfg;
    struct sb_loop *loop;
    struct sb_store *store;
    struct sb_policy *pol;
    struct sb_ingest *ingest;
    struct sb_sender *sender;
    struct sb_casework *cw;
    struct sb_console *console;
    struct sb_metrics metrics;
    struct sb_post_view *view;  /* scratch for first-response times */
    struct sb_outbox_entry *ob; /* scratch: a post's outbox entries */
    struct sb_connector *conns[SB_CONFIG_ACCOUNTS_MAX];
    int n_conns;
    uv_signal_t sigint, sigterm;
    uv_timer_t drain;
    int64_t drain_started;
    int stopping;
};

/* /readyz: the store is open (it is, or we would not be running) and every account has signed
 * in: credentials checked, its own identity known. */
static bool ready(void *ud, char *why, size_t n)
{
    struct service *sv = ud;
    if (sv->stopping) {
        snprintf(why, n, "shutting down");
        return false;
    }
    for (int i = 0; i < sv->n_conns; i++)
        if (!sv->conns[i]->ready) {
            snprintf(why, n, "account %s has not signed in yet", sv->conns[i]->conf->name);
            return false;
        }
    return true;
}

#define POST_ENTRIES_MAX 8

/* After each send attempt: metrics, the first-response time of the post, the case's record. */
static void on_outcome(void *ud, const struct sb_outbox_entry *e)
{
    struct service *sv = ud;
    struct sb_metrics *m = &sv->metrics;
    int64_t now = sb_loop_now_ms();
    m->outbox_attempts++;
    bool by_agent = sv->cw && sb_casework_delivery(sv->cw, e, now);
    if (e->state == SB_OUTBOX_RETRY)
        m->outbox_retries++;
    else if (e->state == SB_OUTBOX_DEAD)
        m->outbox_dead++;
    else if (e->state == SB_OUTBOX_RECONCILE)
        m->outbox_reconcile++;
    else if (e->state == SB_OUTBOX_SENT) {
        m->outbox_sent++;
        /* the first reply to this post the platform accepted: is no other entry sent? */
        size_t n = 0, sent = 0;
        if (sb_store_outbox_for_post(sv->store, e->post_rowid, POST_ENTRIES_MAX, sv->ob, &n,
                                     NULL) == SB_OK) {
            for (size_t i = 0; i < n; i++)
                sent += sv->ob[i].state == SB_OUTBOX_SENT && sv->ob[i].id != e->id;
            if (sent == 0 &&
                sb_store_post_view(sv->store, e->post_rowid, sv->view, NULL) == SB_OK &&
                sv->view->created_ms > 0)
                sb_metrics_first_response(m, (double)(now - sv->view->created_ms) / 1000.0,
                                          by_agent);
        }
    }
}

static int all_idle(struct service *sv)
{
    if (sv->sender && sb_sender_in_flight(sv->sender))
        return 0;
    for (int i = 0; i < sv->n_conns; i++)
        if (!sv->conns[i]->ops->idle(sv->conns[i]))
            return 0;
    return 1;
}

static void close_all(struct service *sv)
{
    uv_signal_stop(&sv->sigint);
    uv_signal_stop(&sv->sigterm);
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
    uv_close((uv_handle_t *)&sv->drain, NULL);
    if (sv->sender)
        sb_sender_free(sv->sender);
    sv->sender = NULL;
    sb_console_free(sv->console);
    sv->console = NULL;
    for (int i = 0; i < sv->n_conns; i++)
        sv->conns[i]->ops->free(sv->conns[i]);
    sv->n_conns = 0;
    sb_loop_stop(sv->loop);
}

static void on_drain(uv_timer_t *t)
{
    struct service *sv = t->data;
    int64_t waited = sb_loop_mono_ms(sv->loop) - sv->drain_started;
    if (!all_idle(sv) && waited < DRAIN_MAX_MS) {
        uv_timer_start(&sv->drain, on_drain, 50, 0);
        return;
    }
    if (all_idle(sv))
        sb_log(SB_LOG_INFO, "shutdown", "\"detail\":\"all sends finished\"");
    else
        sb_log(SB_LOG_WARN, "shutdown",
               "\"detail\":\"sends still in flight after 10 s: their outbox entries stay "
               "leased and are retried (same idempotency key) at the next start\"");
    struct sb_errbuf eb;
    if (sb_store_flush(sv->store, &eb))
        sb_log(SB_LOG_ERROR, "store_error", "\"detail\":%s", sb_log_q(eb.msg));
    close_all(sv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct service *sv = h->data;
    if (sv->stopping) {
        sb_log(SB_LOG_WARN, "shutdown", "\"detail\":\"second signal: stopping now\"");
        close_all(sv);
        return;
    }
    sv->stopping = 1;
    sb_log(SB_LOG_INFO, "shutdown",
           "\"signal\":%d,\"detail\":\"stopping intake, finishing sends in flight\"", signum);
    for (int i = 0; i < sv->n_conns; i++)
        sv->conns[i]->ops->stop(sv->conns[i]);
    if (sv->sender)
        sb_sender_stop(sv->sender);
    sv->drain_started = sb_loop_mono_ms(sv->loop);
    uv_timer_start(&sv->drain, on_drain, 0, 0);
}

int sb_service_run(const struct sb_config *cfg)
{
    struct service sv;
    memset(&sv, 0, sizeof sv);
    sv.cfg = cfg;
    struct sb_errbuf eb = {{0}};
    int rc = 1;
    /* The live service commits once per loop iteration (posts, decisions, outbox entries and
     * outbox state together) with synchronous=normal unless the URL says otherwise: a commit is
     * durable against a crash of the process, and what an OS crash could lose is re-fetched
     * by catch-up and re-sent under the same idempotency key (docs/storage.md). */
    char url[2048];
    snprintf(url, sizeof url, "%s%s", cfg->store,
             strstr(cfg->store, "synchronous=") ? ""
             : strchr(cfg->store, '?')          ? "&synchronous=normal"
                                                : "?synchronous=normal");
    if (sb_store_open(url, &sv.store, &eb)) {
        fprintf(stderr, "switchboard run: store %s: %s\n", cfg->store, eb.msg);
        goto done;
    }
    sb_store_set_outbox_sync(sv.store, false);
    if (sb_store_background_checkpoints(sv.store, &eb))
        sb_log(SB_LOG_WARN, "store", "\"detail\":%s", sb_log_q(eb.msg));
    if (sb_policy_load(cfg->policy, NULL, &sv.pol, &eb)) {
        fprintf(stderr, "switchboard run: policy %s: %s\n", cfg->policy, eb.msg);
        goto done;
    }
    sb_store_policy_version_record(sv.store, sb_policy_version(sv.pol),
                                   sb_policy_files_json(sv.pol), &eb);
    sb_store_flush(sv.store, &eb);
    if (sb_loop_new(&sv.loop, &eb)) {
        fprintf(stderr, "switchboard run: %s\n", eb.msg);
        goto done;
    }
    /* the sender does not exist yet: its kick is attached below */
    sv.view = malloc(sizeof *sv.view);
    sv.ob = malloc(sizeof *sv.ob * POST_ENTRIES_MAX);
    if (!sv.view || !sv.ob || sb_casework_new(sv.store, cfg, &sv.cw) ||
        sb_ingest_new(sv.loop, sv.store, sv.pol, cfg, sb_sender_kick, NULL, &sv.ingest)) {
        fprintf(stderr, "switchboard run: out of memory\n");
        goto done;
    }
    sb_ingest_set_casework(sv.ingest, sv.cw, &sv.metrics);
    if (cfg->console.enabled &&
        sb_console_new(sv.loop, sv.store, cfg, sv.cw, &sv.metrics, ready, &sv, &sv.console, &eb)) {
        fprintf(stderr, "switchboard run: %s\n", eb.msg);
        goto done;
    }
    if (sv.console)
        sb_ingest_set_queues(sv.ingest, sb_console_ctx_queues, sv.console);
    for (int i = 0; i < cfg->n_accounts; i++) {
        const struct sb_account_conf *a = &cfg->accounts[i];
        struct sb_connector *c = NULL;
        enum sb_err e = SB_ERR_INVAL;
        if (a->platform == SB_PLATFORM_MASTODON)
            e = sb_mastodon_connector_new(sv.loop, a, sv.store, sb_ingest_event, sv.ingest, &c,
                                          &eb);
        else if (a->platform == SB_PLATFORM_BLUESKY)
            e = sb_bluesky_connector_new(sv.loop, a, sv.store, sb_ingest_event, sv.ingest, &c, &eb);
        else
            snprintf(eb.msg, sizeof eb.msg, "account %s: platform %s has no connector yet", a->name,
                     sb_platform_name(a->platform));
        if (e) {
            fprintf(stderr, "switchboard run: %s\n", eb.msg);
            goto done;
        }
        sv.conns[sv.n_conns++] = c;
    }
    if (!cfg->hold) {
        if (sb_sender_new(sv.loop, sv.store, cfg, sv.conns, sv.n_conns, &sv.sender)) {
            fprintf(stderr, "switchboard run: out of memory\n");
            goto done;
        }
        sb_ingest_set_kick(sv.ingest, sb_sender_kick, sv.sender);
        sb_sender_observe(sv.sender, on_outcome, &sv);
    }
    uv_signal_init(sb_loop_uv(sv.loop), &sv.sigint);
    uv_signal_init(sb_loop_uv(sv.loop), &sv.sigterm);
    uv_timer_init(sb_loop_uv(sv.loop), &sv.drain);
    sv.sigint.data = sv.sigterm.data = sv.drain.data = &sv;
    uv_signal_start(&sv.sigint, on_signal, SIGINT);
    uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
    sb_log(SB_LOG_INFO, "start",
           "\"accounts\":%d,\"policy\":\"%s\",\"store\":%s,\"dry_run\":%s,\"paused\":%s,"
           "\"hold\":%s",
           cfg->n_accounts, sb_policy_version(sv.pol), sb_log_q(cfg->store),
           cfg->dry_run ? "true" : "false", cfg->paused ? "true" : "false",
           cfg->hold ? "true" : "false");
    if (sv.console) {
        sb_log(SB_LOG_INFO, "console", "\"url\":%s,\"port\":%d",
               sb_log_q(sb_console_url(sv.console)), sb_console_port(sv.console));
        printf("Agent console: %s  (add agents with: switchboard agent add NAME --role agent "
               "-c %s)\n",
               sb_console_url(sv.console), cfg->path ? cfg->path : "switchboard.lua");
        fflush(stdout);
    }
    for (int i = 0; i < sv.n_conns; i++)
        sv.conns[i]->ops->start(sv.conns[i]);
    sb_loop_run(sv.loop);
    struct sb_ingest_stats st;
    sb_ingest_stats_get(sv.ingest, &st);
    sb_log(SB_LOG_INFO, "stopped",
           "\"events\":%ld,\"posts\":%ld,\"duplicates\":%ld,\"deletes\":%ld,\"own\":%ld,"
           "\"enqueued\":%ld,\"policy_errors\":%ld,\"errors\":%ld",
           st.events, st.posts, st.duplicates, st.deletes, st.own, st.enqueued, st.policy_errors,
           st.errors);
    rc = 0;
done:
    for (int i = 0; i < sv.n_conns; i++)
        sv.conns[i]->ops->free(sv.conns[i]);
    if (sv.sender)
        sb_sender_free(sv.sender);
    sb_console_free(sv.console);
    sb_ingest_free(sv.ingest); /* commits what is pending; its handle closes in the loop */
    if (sv.loop)
        sb_loop_free(sv.loop);
    sb_policy_free(sv.pol);
    sb_casework_free(sv.cw);
    free(sv.view);
    free(sv.ob);
    sb_store_close(sv.store);
    return rc;
}
