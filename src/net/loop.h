/* loop.h — the one event loop: libuv, with libwebsockets on it as a foreign loop and curl's
 * multi-socket interface on it for REST (design §7). Everything that waits on the network is
 * an event here; nothing blocks the loop thread. */
#ifndef SB_LOOP_H
#define SB_LOOP_H

#include <stdint.h>
#include <uv.h>

#include "util/err.h"

struct sb_loop;
struct lws_context;

/* New loop; *out is new (sb_loop_free after sb_loop_run returns). */
enum sb_err sb_loop_new(struct sb_loop **out, struct sb_errbuf *eb);
/* Run until sb_loop_stop; returns when every handle is closed. */
void sb_loop_run(struct sb_loop *l);
/* Make sb_loop_run return after this iteration; owners have closed (uv_close) their handles,
 * and sb_loop_free finishes closing them and tears down lws and curl. */
void sb_loop_stop(struct sb_loop *l);
void sb_loop_free(struct sb_loop *l);

uv_loop_t *sb_loop_uv(struct sb_loop *l);
struct lws_context *sb_loop_lws(struct sb_loop *l);
/* Milliseconds since the epoch (wall clock) and a monotonic clock in ms. */
int64_t sb_loop_now_ms(void);
int64_t sb_loop_mono_ms(struct sb_loop *l);

/* Internal to src/net: the curl multi handle lives with the loop. */
struct sb_http_engine;
struct sb_http_engine *sb_loop_http(struct sb_loop *l);

#endif
