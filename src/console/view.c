/* view.c — the API's JSON objects (docs/console-api.md) from store records. Everything a
 * customer wrote is emitted as a JSON string (escaped here); the web app renders it as text. */
#include <string.h>

#include "console/internal.h"
#include "core/effects.h"

void sb_view_str(struct sb_buf *b, const char *s)
{
    if (!s || !*s)
        sb_buf_puts(b, "null");
    else
        sb_buf_json_str(b, s, strlen(s));
}

static void ms_or_null(struct sb_buf *b, int64_t v)
{
    if (v > 0)
        sb_buf_printf(b, "%lld", (long long)v);
    else
        sb_buf_puts(b, "null");
}

const char *sb_view_agent_name(struct sb_console *cs, int64_t id)
{
    struct sb_agent *a = &cs->scratch_agent;
    if (id <= 0)
        return "";
    if (a->id == id)
        return a->name;
    if (sb_store_agent_get(cs->store, id, a, NULL) != SB_OK) {
        memset(a, 0, sizeof *a);
        return "";
    }
    return a->name;
}

/* "a,b" → ["a","b"] */
static void list_json(struct sb_buf *b, const char *csv)
{
    sb_buf_putc(b, '[');
    const char *p = csv;
    int first = 1;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n) {
            if (!first)
                sb_buf_putc(b, ',');
            first = 0;
            sb_buf_json_str(b, p, n);
        }
        p = e ? e + 1 : NULL;
    }
    sb_buf_putc(b, ']');
}

void sb_view_agent(struct sb_buf *b, const struct sb_agent *a)
{
    sb_buf_printf(b, "{\"id\":%lld,\"name\":", (long long)a->id);
    sb_view_str(b, a->name);
    sb_buf_printf(b, ",\"role\":\"%s\",\"queues\":", sb_role_name(a->role));
    list_json(b, a->queues);
    sb_buf_putc(b, '}');
}

static void actor(struct sb_console *cs, struct sb_buf *b, int64_t id)
{
    const char *name = sb_view_agent_name(cs, id);
    if (id <= 0 || !*name) {
        sb_buf_puts(b, "null");
        return;
    }
    sb_buf_printf(b, "{\"id\":%lld,\"name\":", (long long)id);
    sb_view_str(b, name);
    sb_buf_putc(b, '}');
}

void sb_view_case(struct sb_console *cs, struct sb_buf *b, const struct sb_case *c, int64_t now_ms)
{
    sb_buf_printf(b, "{\"id\":%lld,\"version\":%lld,\"platform\":\"%s\",\"account\":",
                  (long long)c->id, (long long)c->version, sb_platform_name(c->platform));
    sb_view_str(b, c->account);
    sb_buf_puts(b, ",\"thread_id\":");
    sb_view_str(b, c->thread_id);
    sb_buf_puts(b, ",\"queue\":");
    sb_view_str(b, c->queue);
    sb_buf_printf(b, ",\"priority\":\"%s\",\"owner\":\"%s\",\"assignee\":",
                  sb_priority_name(c->st.priority), sb_case_owner_name(c->st.owner));
    actor(cs, b, c->st.assignee);
    sb_buf_puts(b, ",\"author\":{\"id\":");
    sb_view_str(b, c->author_id);
    sb_buf_puts(b, ",\"handle\":");
    sb_view_str(b, c->author_handle);
    sb_buf_puts(b, "},\"summary\":");
    sb_buf_json_str(b, c->summary, strlen(c->summary));
    sb_buf_printf(b, ",\"created_at\":%lld,\"updated_at\":%lld,\"last_customer_at\":",
                  (long long)c->created_at, (long long)c->updated_at);
    ms_or_null(b, c->last_customer_at);
    sb_buf_puts(b, ",\"closed_at\":");
    ms_or_null(b, c->closed_at);
    sb_buf_puts(b, ",\"first_due\":");
    ms_or_null(b, c->st.first_due);
    sb_buf_puts(b, ",\"next_due\":");
    ms_or_null(b, c->st.next_due);
    sb_buf_puts(b, ",\"due\":");
    ms_or_null(b, sb_case_due(&c->st));
    sb_buf_puts(b, ",\"first_responded_at\":");
    ms_or_null(b, c->st.first_responded_at);
    sb_buf_printf(b, ",\"breached\":%s}", sb_case_breached(&c->st, now_ms) ? "true" : "false");
}

void sb_view_event(struct sb_console *cs, struct sb_buf *b, const struct sb_case_event *ev)
{
    sb_buf_printf(b, "{\"id\":%lld,\"at\":%lld,\"kind\":\"%s\",\"actor\":", (long long)ev->id,
                  (long long)ev->at, sb_case_event_name(ev->kind));
    actor(cs, b, ev->actor_id);
    sb_buf_puts(b, ",\"post_rowid\":");
    ms_or_null(b, ev->post_rowid);
    sb_buf_puts(b, ",\"outbox_id\":");
    ms_or_null(b, ev->outbox_id);
    /* detail is JSON the service wrote itself (casework.c) */
    sb_buf_printf(b, ",\"detail\":%s}", ev->detail[0] ? ev->detail : "{}");
}

void sb_view_post(struct sb_buf *b, const struct sb_post_view *v)
{
    sb_buf_printf(b, "{\"rowid\":%lld,\"platform\":\"%s\",\"post_id\":", (long long)v->rowid,
                  sb_platform_name(v->platform));
    sb_view_str(b, v->post_id);
    sb_buf_puts(b, ",\"url\":");
    sb_view_str(b, v->url);
    sb_buf_puts(b, ",\"kind\":");
    sb_view_str(b, v->kind);
    sb_buf_puts(b, ",\"text\":");
    sb_buf_json_str(b, v->text, strlen(v->text));
    sb_buf_puts(b, ",\"created_at\":");
    ms_or_null(b, v->created_ms);
    sb_buf_printf(b, ",\"deleted\":%s,\"author\":{\"id\":", v->deleted_at ? "true" : "false");
    sb_view_str(b, v->author_id);
    sb_buf_puts(b, ",\"handle\":");
    sb_view_str(b, v->author_handle);
    sb_buf_puts(b, ",\"name\":");
    sb_view_str(b, v->author_name);
    sb_buf_printf(b, ",\"followers\":%lld,\"verified\":%s,\"bot\":%s},\"decision\":",
                  (long long)v->author_followers, v->author_verified ? "true" : "false",
                  v->author_bot ? "true" : "false");
    if (!v->decision_id) {
        sb_buf_puts(b, "null}");
        return;
    }
    sb_buf_puts(b, "{\"action\":");
    sb_view_str(b, v->action);
    sb_buf_puts(b, ",\"queue\":");
    sb_view_str(b, v->queue);
    sb_buf_puts(b, ",\"priority\":");
    sb_view_str(b, v->priority);
    /* reasons and error are JSON the service stored itself */
    sb_buf_printf(b, ",\"reasons\":%s,\"error\":%s,\"reply\":", v->reasons[0] ? v->reasons : "[]",
                  v->error[0] ? v->error : "null");
    sb_view_str(b, v->reply);
    sb_buf_puts(b, ",\"policy_version\":");
    sb_view_str(b, v->policy_version);
    sb_buf_printf(b, ",\"decided_at\":%lld}}", (long long)v->decided_at);
}

void sb_view_reply(struct sb_buf *b, const struct sb_outbox_entry *e)
{
    sb_buf_printf(b,
                  "{\"outbox_id\":%lld,\"post_rowid\":%lld,\"kind\":\"%s\",\"state\":\"%s\","
                  "\"text\":",
                  (long long)e->id, (long long)e->post_rowid, sb_effect_kind_name(e->kind),
                  sb_store_outbox_state_name(e->state));
    sb_buf_json_str(b, e->text, strlen(e->text));
    sb_buf_printf(b, ",\"attempts\":%d,\"last_error\":", e->attempts);
    sb_view_str(b, e->last_error);
    sb_buf_puts(b, ",\"remote_id\":");
    sb_view_str(b, e->remote_id);
    sb_buf_printf(b, ",\"created_at\":%lld,\"updated_at\":%lld}", (long long)e->created_at,
                  (long long)e->updated_at);
}

void sb_view_queue(struct sb_buf *b, const struct sb_queue_conf *q, const struct sb_queue_stats *st)
{
    sb_buf_puts(b, "{\"name\":");
    sb_view_str(b, q ? q->name : st->queue);
    sb_buf_puts(b, ",\"title\":");
    sb_view_str(b, q ? q->title : st->queue);
    sb_buf_printf(b, ",\"first_response\":%lld,\"next_response\":%lld,\"hours\":",
                  (long long)(q ? q->first_response : 0), (long long)(q ? q->next_response : 0));
    if (q && q->hours.enabled) {
        static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        char h[96] = "";
        size_t at = 0;
        for (int d = 0; d < 7; d++)
            if (q->hours.days & (1u << d))
                at += (size_t)snprintf(h + at, sizeof h - at, "%s%s", at ? "," : "", days[d]);
        int off = q->hours.utc_offset_min;
        snprintf(h + at, sizeof h - at, " %02d:%02d-%02d:%02d %c%02d:%02d", q->hours.open_min / 60,
                 q->hours.open_min % 60, q->hours.close_min / 60, q->hours.close_min % 60,
                 off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
        sb_view_str(b, h);
    } else {
        sb_buf_puts(b, "null");
    }
    if (st) {
        sb_buf_printf(b, ",\"open\":%lld,\"unclaimed\":%lld,\"breached\":%lld,\"oldest_at\":",
                      (long long)st->open, (long long)st->unclaimed, (long long)st->breached);
        ms_or_null(b, st->oldest_at);
    }
    sb_buf_putc(b, '}');
}
