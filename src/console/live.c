/* live.c — live updates to connected consoles (docs/console-api.md, "Live updates"): every
 * case change goes, as one JSON message, to each console whose agent may see the case; queue
 * statistics follow changes (at most every QUEUES_MIN_MS) and a timer. A console that cannot keep
 * up is dropped by the server (its queue limit) and resyncs when it reconnects. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "console/internal.h"
#include "util/log.h"

/* Agents with a console open who work queue q. */
static int64_t online_in(const struct sb_console *cs, const char *q)
{
    int64_t n = 0;
    for (const struct live_conn *lc = cs->conns; lc; lc = lc->next)
        n += sb_live_first_console(cs, lc) && sb_console_agent_in_queue(&lc->agent, q);
    return n;
}

/* ctx.queues' agents online, after a console came or went. */
static void refresh_online(struct sb_console *cs)
{
    for (size_t i = 0; i < cs->n_ctxq; i++)
        cs->ctxq[i].agents_online = online_in(cs, cs->ctxq[i].name);
}

void *sb_live_accept(struct sb_console *cs, struct sb_request *rq, struct sb_conn *c)
{
    struct api_session s;
    if (sb_console_session(cs, rq, &s) != SB_OK)
        return NULL; /* 403: no session */
    struct live_conn *lc = calloc(1, sizeof *lc);
    if (!lc)
        return NULL;
    lc->conn = c;
    lc->agent = s.agent;
    memcpy(lc->token_hash, s.se.token_hash, sizeof lc->token_hash);
    memset(lc->agent.pw_hash, 0, sizeof lc->agent.pw_hash);
    lc->next = cs->conns;
    cs->conns = lc;
    cs->n_conns++;
    struct sb_buf b;
    sb_buf_init(&b, 0);
    sb_buf_puts(&b, "{\"type\":\"hello\",\"agent\":");
    sb_view_agent(&b, &lc->agent);
    sb_buf_printf(&b, ",\"now\":%lld}", (long long)sb_loop_now_ms());
    sb_conn_send(c, b.data, b.len);
    sb_buf_reset(&b);
    sb_buf_free(&b);
    cs->queues_dirty = true; /* its queues follow with the next tick, with agents online */
    refresh_online(cs);      /* ctx.queues' agents online, at once */
    sb_log(SB_LOG_INFO, "console_connected", "\"agent\":%s,\"consoles\":%d",
           sb_log_q(lc->agent.name), cs->n_conns);
    return lc;
}

void sb_live_text(struct sb_console *cs, struct live_conn *lc, const char *data, size_t len)
{
    /* the only message a console sends is a ping; anything else is ignored */
    if (len < 64 && memmem(data, len, "\"ping\"", 6)) {
        static const char pong[] = "{\"type\":\"pong\"}";
        sb_conn_send(lc->conn, pong, sizeof pong - 1);
    }
}

void sb_live_closed(struct sb_console *cs, struct live_conn *lc)
{
    for (struct live_conn **pp = &cs->conns; *pp; pp = &(*pp)->next)
        if (*pp == lc) {
            *pp = lc->next;
            cs->n_conns--;
            break;
        }
    free(lc);
    refresh_online(cs);
}

/* Send one message to every console whose agent may see c, or (from_queue non-NULL) could see
 * it before it was transferred out of that queue: their list drops it. */
static void broadcast(struct sb_console *cs, const struct sb_case *c, const char *from_queue,
                      const struct sb_buf *b)
{
    for (struct live_conn *lc = cs->conns, *next; lc; lc = next) {
        next = lc->next; /* a send that overflows closes the connection later, not now */
        if (sb_console_may_see(&lc->agent, c) ||
            (from_queue && sb_console_agent_in_queue(&lc->agent, from_queue)))
            sb_conn_send(lc->conn, b->data, b->len);
    }
}

void sb_live_case(void *ud, const struct sb_case *c, const struct sb_case_event *ev)
{
    struct sb_console *cs = ud;
    if (!cs->conns)
        return;
    struct sb_buf b;
    sb_buf_init(&b, 0);
    sb_buf_printf(&b,
                  "{\"type\":\"case\",\"event\":\"%s\",\"case\":", sb_case_event_name(ev->kind));
    sb_view_case(cs, &b, c, sb_loop_now_ms());
    sb_buf_puts(&b, ",\"actor\":");
    const char *name = sb_view_agent_name(cs, ev->actor_id);
    if (ev->actor_id > 0 && *name) {
        sb_buf_printf(&b, "{\"id\":%lld,\"name\":", (long long)ev->actor_id);
        sb_view_str(&b, name);
        sb_buf_putc(&b, '}');
    } else {
        sb_buf_puts(&b, "null");
    }
    sb_buf_printf(&b, ",\"event_id\":%lld}", (long long)ev->id);
    json_t *detail = NULL;
    const char *from = NULL;
    if (ev->kind == SB_CASE_EV_TRANSFERRED && (detail = json_loads(ev->detail, 0, NULL)) != NULL)
        from = json_string_value(json_object_get(detail, "from_queue"));
    broadcast(cs, c, from, &b);
    json_decref(detail);
    sb_buf_free(&b);
    /* new cases and ownership changes move the queue counters: pushed by the next tick */
    cs->queues_dirty = true;
}

static void refresh_ctx(struct sb_console *cs, const struct sb_queue_stats *st, size_t n)
{
    int64_t now = sb_loop_now_ms();
    cs->n_ctxq = 0;
    for (int i = 0; i < cs->cfg->n_queues && i < SB_CONFIG_QUEUES_MAX; i++) {
        const struct sb_queue_conf *q = &cs->cfg->queues[i];
        struct sb_queue_stat *c = &cs->ctxq[cs->n_ctxq++];
        memset(c, 0, sizeof *c);
        c->name = q->name;
        for (size_t k = 0; k < n; k++)
            if (strcmp(st[k].queue, q->name) == 0) {
                c->depth = st[k].open;
                c->oldest_wait = st[k].oldest_at ? (now - st[k].oldest_at) / 1000 : 0;
            }
        c->agents_online = online_in(cs, q->name);
    }
}

const struct sb_queue_stat *sb_console_ctx_queues(void *ud, size_t *n)
{
    struct sb_console *cs = ud;
    *n = cs->n_ctxq;
    return cs->ctxq;
}

void sb_live_queues(struct sb_console *cs)
{
    const struct sb_queue_stats *st = cs->stats;
    size_t n = cs->n_stats;
    refresh_ctx(cs, st, n);
    if (!cs->conns)
        return;
    struct sb_buf b;
    sb_buf_init(&b, 0);
    for (struct live_conn *lc = cs->conns; lc; lc = lc->next) {
        sb_buf_reset(&b);
        sb_buf_puts(&b, "{\"type\":\"queues\",\"queues\":");
        sb_console_queues_json(cs, &lc->agent, st, n, &b);
        sb_buf_puts(&b, ",\"online\":");
        sb_buf_printf(&b, "%lld}", (long long)sb_live_agents_online(cs));
        sb_conn_send(lc->conn, b.data, b.len);
    }
    sb_buf_free(&b);
}

int sb_live_consoles_of(const struct sb_console *cs, int64_t agent_id)
{
    int n = 0;
    for (const struct live_conn *lc = cs->conns; lc; lc = lc->next)
        n += lc->agent.id == agent_id;
    return n;
}

bool sb_live_first_console(const struct sb_console *cs, const struct live_conn *lc)
{
    const struct live_conn *seen = cs->conns;
    while (seen != lc && seen->agent.id != lc->agent.id)
        seen = seen->next;
    return seen == lc;
}

int64_t sb_live_agents_online(const struct sb_console *cs)
{
    int64_t n = 0;
    for (const struct live_conn *lc = cs->conns; lc; lc = lc->next)
        n += sb_live_first_console(cs, lc);
    return n;
}

void sb_live_end_sessions(struct sb_console *cs, const char *token_hash)
{
    int64_t now = sb_loop_now_ms();
    for (struct live_conn *lc = cs->conns; lc; lc = lc->next) {
        struct sb_session se;
        struct sb_agent a;
        bool end;
        if (token_hash)
            end = strcmp(lc->token_hash, token_hash) == 0;
        else
            end = sb_store_session_get(cs->store, lc->token_hash, now, &se, NULL) != SB_OK ||
                  sb_store_agent_get(cs->store, se.agent_id, &a, NULL) != SB_OK || a.disabled;
        if (end) /* 1008: the console shows its login again */
            sb_conn_close(lc->conn, 1008);
    }
}
