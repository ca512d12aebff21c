/* console.h — the agent console's server (design §3, docs/console-api.md): the JSON API, live
 * updates over WebSocket, the static web app (web/), /metrics, /healthz and /readyz, all on one
 * listener on the service's loop. */
#ifndef SB_CONSOLE_H
#define SB_CONSOLE_H

#include <stdbool.h>

#include "net/loop.h"
#include "run/casework.h"
#include "run/config.h"
#include "run/metrics.h"
#include "store/store.h"

struct sb_console;

/* Readiness as the service sees it: true when ready, else false with why filled. */
typedef bool (*sb_console_ready_fn)(void *ud, char *why, size_t n);

/* Listen on cfg->console.listen and serve cfg->console.web. *out is new. Subscribes to cw's
 * case changes. SB_ERR_IO when the address cannot be bound or the web directory read. */
enum sb_err sb_console_new(struct sb_loop *l, struct sb_store *s, const struct sb_config *cfg,
                           struct sb_casework *cw, struct sb_metrics *m, sb_console_ready_fn ready,
                           void *ready_ud, struct sb_console **out, struct sb_errbuf *eb);
/* The URL agents open (from console.origin). */
const char *sb_console_url(const struct sb_console *cs);
int sb_console_port(const struct sb_console *cs);
/* ctx.queues for the policy: each configured queue's depth, oldest wait and agents online, as
 * of the last refresh (at most a few seconds old). ud is the console. */
const struct sb_queue_stat *sb_console_ctx_queues(void *ud, size_t *n);
void sb_console_free(struct sb_console *cs);

#endif
