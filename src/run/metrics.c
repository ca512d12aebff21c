/* metrics.c — see metrics.h. Prometheus text exposition format 0.0.4, written by hand (it is a
 * handful of line shapes; a client library would bring a registry and threads we do not need). */
#include "run/metrics.h"

#include <string.h>

/* Policy latency: 10 µs to 1 s. */
static const double latency_bounds[SB_METRICS_BUCKETS] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025,  0.005,    0.01,    0.025,  0.1,     0.25,   1.0};
/* First response: 1 s to 1 day. */
static const double response_bounds[SB_METRICS_BUCKETS] = {
    1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400};

void sb_histogram_observe(struct sb_histogram *h, const double *bounds, double v)
{
    h->count++;
    h->sum += v;
    for (int i = 0; i < SB_METRICS_BUCKETS; i++)
        if (v <= bounds[i]) {
            h->buckets[i]++;
            return;
        }
}

/* A reason as a label: the text before any detail in parentheses or digits (budgets and
 * counts vary per post), cut to the label size. */
static void reason_label(const char *r, char *out, size_t cap)
{
    size_t n = 0;
    for (; r[n] && r[n] != '(' && !(r[n] >= '0' && r[n] <= '9') && n < cap - 1; n++)
        ;
    while (n > 0 && (r[n - 1] == ' ' || r[n - 1] == ':' || r[n - 1] == ','))
        n--;
    memcpy(out, r, n);
    out[n] = 0;
}

void sb_metrics_decision(struct sb_metrics *m, const struct sb_decision *d)
{
    if ((unsigned)d->action < SB_ACTION__COUNT)
        m->decisions[d->action]++;
    if (d->error)
        m->policy_errors++;
    sb_histogram_observe(&m->policy_latency, latency_bounds, (double)d->latency_ns / 1e9);
    for (int i = 0; i < d->n_reasons; i++) {
        char label[sizeof m->reasons[0].label];
        reason_label(d->reasons[i], label, sizeof label);
        if (!label[0])
            continue;
        int j = 0;
        while (j < m->n_reasons && strcmp(m->reasons[j].label, label) != 0)
            j++;
        if (j == m->n_reasons) {
            if (m->n_reasons == SB_METRICS_REASONS_MAX) {
                m->reasons_other++;
                continue;
            }
            memcpy(m->reasons[j].label, label, sizeof label);
            m->n_reasons++;
        }
        m->reasons[j].n++;
    }
}

void sb_metrics_first_response(struct sb_metrics *m, double secs, int by_agent)
{
    sb_histogram_observe(&m->first_response[by_agent ? 1 : 0], response_bounds,
                         secs < 0 ? 0 : secs);
}

/* A label value, escaped as the format requires (backslash, quote, newline). */
static void label(struct sb_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sb_buf_putc(b, '\\');
        if (*v == '\n') {
            sb_buf_puts(b, "\\n");
            continue;
        }
        sb_buf_putc(b, *v);
    }
}

static void head(struct sb_buf *b, const char *name, const char *type, const char *help)
{
    sb_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(struct sb_buf *b, const char *name, const char *lbl,
                      const struct sb_histogram *h, const double *bounds)
{
    uint64_t cum = 0;
    for (int i = 0; i < SB_METRICS_BUCKETS; i++) {
        cum += h->buckets[i];
        sb_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, lbl, *lbl ? "," : "", bounds[i],
                      (unsigned long long)cum);
    }
    sb_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lbl, *lbl ? "," : "",
                  (unsigned long long)h->count);
    sb_buf_printf(b, "%s_sum%s%s%s %.6f\n", name, *lbl ? "{" : "", lbl, *lbl ? "}" : "", h->sum);
    sb_buf_printf(b, "%s_count%s%s%s %llu\n", name, *lbl ? "{" : "", lbl, *lbl ? "}" : "",
                  (unsigned long long)h->count);
}

static void counter(struct sb_buf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "counter", help);
    sb_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

enum sb_err sb_metrics_render(const struct sb_metrics *m, const struct sb_metrics_gauges *g,
                              struct sb_buf *b)
{
    head(b, "switchboard_posts_in_total", "counter", "Posts received, by platform.");
    for (int p = 0; p < SB_PLATFORM__COUNT; p++)
        if (p != SB_PLATFORM_UNKNOWN)
            sb_buf_printf(b, "switchboard_posts_in_total{platform=\"%s\"} %llu\n",
                          sb_platform_name((enum sb_platform)p),
                          (unsigned long long)m->posts_in[p]);
    counter(b, "switchboard_duplicates_total", "Deliveries of posts already decided.",
            m->duplicates);
    counter(b, "switchboard_deletes_total", "Posts deleted by their authors.", m->deletes);
    head(b, "switchboard_decisions_total", "counter", "Decisions, by action.");
    for (int a = 0; a < SB_ACTION__COUNT; a++)
        sb_buf_printf(b, "switchboard_decisions_total{action=\"%s\"} %llu\n",
                      sb_action_name((enum sb_action)a), (unsigned long long)m->decisions[a]);
    head(b, "switchboard_decision_reasons_total", "counter",
         "Reasons given with decisions (details in parentheses and numbers left out).");
    for (int i = 0; i < m->n_reasons; i++) {
        sb_buf_puts(b, "switchboard_decision_reasons_total{reason=\"");
        label(b, m->reasons[i].label);
        sb_buf_printf(b, "\"} %llu\n", (unsigned long long)m->reasons[i].n);
    }
    sb_buf_printf(b, "switchboard_decision_reasons_total{reason=\"other\"} %llu\n",
                  (unsigned long long)m->reasons_other);
    counter(b, "switchboard_policy_errors_total",
            "Policy failures (the post was escalated instead).", m->policy_errors);
    head(b, "switchboard_policy_latency_seconds", "histogram", "Wall time of one policy call.");
    histogram(b, "switchboard_policy_latency_seconds", "", &m->policy_latency, latency_bounds);
    head(b, "switchboard_first_response_seconds", "histogram",
         "Post created to the first reply accepted by the platform, by who answered.");
    histogram(b, "switchboard_first_response_seconds", "by=\"policy\"", &m->first_response[0],
              response_bounds);
    histogram(b, "switchboard_first_response_seconds", "by=\"agent\"", &m->first_response[1],
              response_bounds);
    counter(b, "switchboard_outbox_attempts_total", "Send attempts of outbox entries.",
            m->outbox_attempts);
    counter(b, "switchboard_outbox_retries_total", "Attempts that failed and were rescheduled.",
            m->outbox_retries);
    counter(b, "switchboard_outbox_sent_total", "Effects accepted by the platform.",
            m->outbox_sent);
    counter(b, "switchboard_outbox_dead_letters_total",
            "Effects the platform refused for good (dead letters).", m->outbox_dead);
    counter(b, "switchboard_outbox_reconcile_total",
            "Effects stopped because they may have been applied (a human checks).",
            m->outbox_reconcile);
    head(b, "switchboard_outbox_pending", "gauge", "Outbox entries waiting to be sent.");
    sb_buf_printf(b, "switchboard_outbox_pending %lld\n", (long long)g->outbox_pending);
    counter(b, "switchboard_cases_opened_total", "Cases opened or reopened by escalations.",
            m->cases_opened);
    counter(b, "switchboard_agent_replies_total", "Replies queued by agents.", m->agent_replies);
    static const char *const qg[][2] = {
        {"switchboard_queue_depth", "Open (human-owned) cases per queue."},
        {"switchboard_queue_unclaimed", "Open cases no agent has claimed."},
        {"switchboard_queue_oldest_wait_seconds", "Age of the oldest open case per queue."},
        {"switchboard_sla_breaches", "Open cases whose running SLA clock is past due."}};
    for (int k = 0; k < 4; k++) {
        head(b, qg[k][0], "gauge", qg[k][1]);
        for (size_t i = 0; i < g->n_queues; i++) {
            const struct sb_queue_stats *q = &g->queues[i];
            int64_t v = k == 0   ? q->open
                        : k == 1 ? q->unclaimed
                        : k == 2 ? (q->oldest_at ? (g->now_ms - q->oldest_at) / 1000 : 0)
                                 : q->breached;
            sb_buf_printf(b, "%s{queue=\"", qg[k][0]);
            label(b, q->queue);
            sb_buf_printf(b, "\"} %lld\n", (long long)v);
        }
    }
    head(b, "switchboard_console_connections", "gauge", "Connected agent consoles.");
    sb_buf_printf(b, "switchboard_console_connections %lld\n", (long long)g->consoles);
    head(b, "switchboard_agents_online", "gauge", "Agents with at least one console connected.");
    return sb_buf_printf(b, "switchboard_agents_online %lld\n", (long long)g->agents_online);
}
