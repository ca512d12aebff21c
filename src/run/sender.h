/* sender.h — carries the outbox to the platforms: claims due entries (leased, so a crash
 * hands them back), sends each through its account's connector with its idempotency key,
 * and records the outcome — sent, retry at a time from backoff and rate-limit headers, or
 * stopped (dead, or reconcile when it may have been applied). Runs on the loop thread. */
#ifndef SB_SENDER_H
#define SB_SENDER_H

#include "net/loop.h"
#include "platforms/connector.h"
#include "run/config.h"
#include "store/store.h"

struct sb_sender;

enum sb_err sb_sender_new(struct sb_loop *l, struct sb_store *store, const struct sb_config *cfg,
                          struct sb_connector **conns, int n_conns, struct sb_sender **out);
/* New work is durable: look now rather than at the next poll. */
void sb_sender_kick(void *sender);
/* Stop claiming; sends in flight complete. */
void sb_sender_stop(struct sb_sender *s);
int sb_sender_in_flight(const struct sb_sender *s);
/* Told after each attempt's outcome is recorded: e is the entry with its new state (sent,
 * retry, dead, reconcile), remote_id and last_error set; borrowed for the call. */
typedef void (*sb_sender_observer)(void *ud, const struct sb_outbox_entry *e);
void sb_sender_observe(struct sb_sender *s, sb_sender_observer fn, void *ud);
void sb_sender_free(struct sb_sender *s);

#endif
