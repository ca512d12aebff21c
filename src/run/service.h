/* service.h — `switchboard run`: the live service. One loop; connectors feed ingest (dedupe,
 * guardrails, policy, decision + outbox entries in one transaction); the sender carries the
 * outbox to the platforms; SIGINT/SIGTERM stop intake, finish in-flight sends, flush. */
#ifndef SB_SERVICE_H
#define SB_SERVICE_H

#include "run/config.h"
#include "util/err.h"

/* Runs until a signal; returns the process exit status. */
int sb_service_run(const struct sb_config *cfg);

#endif
