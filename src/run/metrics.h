/* metrics.h — the service's counters and histograms, rendered as Prometheus text (design §8).
 * Updated on the loop thread by ingest, the sender and casework; rendered on a scrape of
 * /metrics together with gauges read at that moment (queues from the store, consoles). */
#ifndef SB_METRICS_H
#define SB_METRICS_H

#include <stdint.h>

#include "core/decision.h"
#include "core/post.h"
#include "store/cases.h"
#include "util/buf.h"

#define SB_METRICS_REASONS_MAX 64 /* distinct reason labels; the rest count as "other" */
#define SB_METRICS_BUCKETS 14

struct sb_histogram {
    uint64_t buckets[SB_METRICS_BUCKETS]; /* cumulative at render time, per-bucket here */
    uint64_t count;
    double sum;
};

struct sb_metrics {
    uint64_t posts_in[SB_PLATFORM__COUNT];
    uint64_t duplicates, deletes;
    uint64_t decisions[SB_ACTION__COUNT];
    struct {
        char label[80];
        uint64_t n;
    } reasons[SB_METRICS_REASONS_MAX];
    int n_reasons;
    uint64_t reasons_other;
    uint64_t policy_errors;
    struct sb_histogram policy_latency;    /* seconds */
    struct sb_histogram first_response[2]; /* seconds; [0] automated, [1] agent */
    uint64_t outbox_attempts, outbox_retries, outbox_sent, outbox_dead, outbox_reconcile;
    uint64_t cases_opened, agent_replies;
};

/* A decision was made (policy or guardrail). */
void sb_metrics_decision(struct sb_metrics *m, const struct sb_decision *d);
/* The first reply to a post was accepted: seconds from the post's creation. */
void sb_metrics_first_response(struct sb_metrics *m, double secs, int by_agent);
void sb_histogram_observe(struct sb_histogram *h, const double *bounds, double v);

/* Gauges read at scrape time. */
struct sb_metrics_gauges {
    const struct sb_queue_stats *queues;
    size_t n_queues;
    int64_t now_ms;
    int64_t consoles, agents_online;
    int64_t outbox_pending; /* pending + retry + sending */
};

/* Append the whole exposition (text format 0.0.4) to out. */
enum sb_err sb_metrics_render(const struct sb_metrics *m, const struct sb_metrics_gauges *g,
                              struct sb_buf *out);

#endif
