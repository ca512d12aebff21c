/* internal.h — shared by the console's files (console.c: server, static files, health and
 * metrics; api.c: the JSON API; live.c: WebSocket pushes; view.c: JSON of cases and posts). */
#ifndef SB_CONSOLE_INTERNAL_H
#define SB_CONSOLE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "console/auth.h"
#include "console/console.h"
#include "net/server.h"
#include "store/cases.h"
#include "util/buf.h"

#define SB_CONSOLE_QUEUES_MAX 64

struct static_file {
    char path[128]; /* "/app.js" */
    const char *ctype;
    char *data;
    size_t len;
};

/* One connected console. */
struct live_conn {
    struct sb_conn *conn;
    struct sb_agent agent;
    char token_hash[SB_SESSION_HASH_LEN + 1]; /* its session: closed when that ends */
    struct live_conn *next;
};

struct sb_console {
    struct sb_loop *loop;
    struct sb_store *store;
    const struct sb_config *cfg;
    struct sb_casework *cw;
    struct sb_metrics *metrics;
    sb_console_ready_fn ready;
    void *ready_ud;
    struct sb_server *srv;
    char url[300];
    struct static_file *files;
    size_t n_files;
    struct sb_limiter by_peer, by_name; /* failed logins */
    struct live_conn *conns;
    int n_conns;
    uv_timer_t tick;   /* queue stats pushes, session purge */
    bool queues_dirty; /* a case changed since the last queue push */
    int jobs;          /* password checks and statistics on worker threads */
    bool tick_closed;  /* sb_console_free ran: the last of tick and jobs frees the struct */
    int ticks;
    int closing;
    struct sb_agent scratch_agent;
    /* Queue statistics are one query over every open case (about 18 ms at 100,000): they are
     * computed on libuv's worker pool on a reader connection of their own (WAL lets it read
     * while the loop writes) and cached; NULL reader: an in-memory store, computed here. */
    struct sb_store *reader;
    uv_work_t stats_work;
    bool stats_busy, have_stats;
    int64_t stats_now;
    enum sb_err stats_err;
    char stats_msg[256];
    size_t n_job, n_stats;
    struct sb_queue_stats job[SB_CONSOLE_QUEUES_MAX];
    struct sb_queue_stats stats[SB_CONSOLE_QUEUES_MAX];
    /* what the policy sees as ctx.queues, refreshed with the queue statistics */
    struct sb_queue_stat ctxq[SB_CONFIG_QUEUES_MAX];
    size_t n_ctxq;
};

/* The signed-in agent of a request, after the session check. */
struct api_session {
    struct sb_session se;
    struct sb_agent agent;
};

/* api.c */
/* Once at start: the hash unknown names are checked against (login takes as long for them). */
enum sb_err sb_console_auth_prepare(struct sb_errbuf *eb);
void sb_console_api(struct sb_console *cs, struct sb_request *rq);
void sb_console_api_gone(struct sb_console *cs, struct sb_request *rq);
/* The session of a request's cookie: SB_OK with *out filled, SB_ERR_AUTH when none or expired. */
enum sb_err sb_console_session(struct sb_console *cs, struct sb_request *rq,
                               struct api_session *out);
/* Whether agent may see cases of queue (or this very case). */
bool sb_console_may_see(const struct sb_agent *a, const struct sb_case *c);
bool sb_console_agent_in_queue(const struct sb_agent *a, const char *queue);
/* Send a JSON error. */
void sb_console_error(struct sb_request *rq, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sb_console_json(struct sb_request *rq, int status, struct sb_buf *body);
/* Statistics of every queue with open cases (the cache, or one store query before it is filled),
 * and the queues agent a may see with them as a JSON array. */
size_t sb_console_queue_stats(struct sb_console *cs, struct sb_queue_stats *st, size_t max);
void sb_console_queues_json(struct sb_console *cs, const struct sb_agent *a,
                            const struct sb_queue_stats *st, size_t n, struct sb_buf *b);

/* live.c */
void *sb_live_accept(struct sb_console *cs, struct sb_request *rq, struct sb_conn *c);
void sb_live_text(struct sb_console *cs, struct live_conn *lc, const char *data, size_t len);
void sb_live_closed(struct sb_console *cs, struct live_conn *lc);
void sb_live_case(void *ud, const struct sb_case *c, const struct sb_case_event *ev);
/* Push the cached queue statistics to every console and refresh ctx.queues. */
void sb_live_queues(struct sb_console *cs);
/* Recompute the statistics (off the loop when it can), then sb_live_queues. */
void sb_console_refresh_stats(struct sb_console *cs);
/* Free the console once sb_console_free ran and no worker job is left. */
void sb_console_maybe_free(struct sb_console *cs);
/* Close the consoles of a session that ended (logout), or (NULL) of every session that is no
 * longer valid (expired, the agent disabled or given a new password). */
void sb_live_end_sessions(struct sb_console *cs, const char *token_hash);
/* Agents with a console open: fills agents online count. */
int64_t sb_live_agents_online(const struct sb_console *cs);
/* Whether lc is its agent's first console in the list (to count or list each agent once). */
bool sb_live_first_console(const struct sb_console *cs, const struct live_conn *lc);
int sb_live_consoles_of(const struct sb_console *cs, int64_t agent_id);

/* view.c: JSON of the API's objects (appended to b) */
void sb_view_agent(struct sb_buf *b, const struct sb_agent *a);
void sb_view_case(struct sb_console *cs, struct sb_buf *b, const struct sb_case *c, int64_t now_ms);
void sb_view_event(struct sb_console *cs, struct sb_buf *b, const struct sb_case_event *ev);
void sb_view_post(struct sb_buf *b, const struct sb_post_view *v);
void sb_view_reply(struct sb_buf *b, const struct sb_outbox_entry *e);
void sb_view_queue(struct sb_buf *b, const struct sb_queue_conf *q,
                   const struct sb_queue_stats *st);
void sb_view_str(struct sb_buf *b, const char *s); /* a JSON string, or null for NULL / "" */
/* An agent's name by id ("" when unknown), cached for the call. */
const char *sb_view_agent_name(struct sb_console *cs, int64_t id);

#endif
