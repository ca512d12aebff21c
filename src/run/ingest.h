/* ingest.h — what happens to each event a connector delivers: the guardrails the policy cannot
 * bypass (echo suppression, kill switch, dry run), dedupe, the policy, and the durable record
 * of the decision together with its outbox entries (one transaction). Runs on the loop thread.
 * Store work is synchronous here; moving it to a worker thread is tracked in docs. */
#ifndef SB_INGEST_H
#define SB_INGEST_H

#include "net/loop.h"
#include "platforms/connector.h"
#include "policy/policy.h"
#include "run/casework.h"
#include "run/config.h"
#include "run/metrics.h"
#include "store/store.h"

struct sb_ingest;

struct sb_ingest_stats {
    long events, posts, duplicates, deletes, skipped, own, errors;
    long actions[SB_ACTION__COUNT];
    long policy_errors, enqueued;
};

/* kick(ud) is called after new outbox entries became durable (one commit per loop iteration).
 * Borrowed pointers must outlive the ingest. *out is new; sb_ingest_free commits what is
 * pending and closes its loop handle (the loop must run once more to finish freeing). */
enum sb_err sb_ingest_new(struct sb_loop *loop, struct sb_store *store, struct sb_policy *pol,
                          const struct sb_config *cfg, void (*kick)(void *ud), void *kick_ud,
                          struct sb_ingest **out);
void sb_ingest_free(struct sb_ingest *in);
/* Replace the kick target (the sender is made after the connectors that feed ingest). */
void sb_ingest_set_kick(struct sb_ingest *in, void (*kick)(void *ud), void *kick_ud);
/* The sb_ingest_fn connectors call; ud is the struct sb_ingest. */
void sb_ingest_event(void *ud, struct sb_connector *c, struct sb_event *ev, const char *raw,
                     size_t raw_len);
void sb_ingest_stats_get(const struct sb_ingest *in, struct sb_ingest_stats *st);
/* Optional: cases (escalations open them; a thread a human owns bypasses the policy) and
 * metrics. Borrowed; either may be NULL. */
void sb_ingest_set_casework(struct sb_ingest *in, struct sb_casework *cw, struct sb_metrics *m);
/* Optional: where ctx.queues comes from (the console's queue statistics). */
typedef const struct sb_queue_stat *(*sb_ingest_queues_fn)(void *ud, size_t *n);
void sb_ingest_set_queues(struct sb_ingest *in, sb_ingest_queues_fn fn, void *ud);

#endif
