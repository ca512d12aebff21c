/* decision.c — the decision record: names, reasons, the failure escalation, JSON output.
 * Pure data handling; depends on util/arena and util/buf only. */
#include "core/decision.h"

#include <stdio.h>
#include <string.h>

#include "util/buf.h"

static const char *const action_names[SB_ACTION__COUNT] = {"acknowledge", "move_to_private",
                                                           "escalate", "ignore"};
static const char *const priority_names[SB_PRIORITY__COUNT] = {"urgent", "high", "normal", "low"};

const char *sb_action_name(enum sb_action a)
{
    return (unsigned)a < SB_ACTION__COUNT ? action_names[a] : "unknown";
}

int sb_action_from_name(const char *s)
{
    for (int i = 0; s && i < SB_ACTION__COUNT; i++)
        if (strcmp(s, action_names[i]) == 0)
            return i;
    return -1;
}

const char *sb_priority_name(enum sb_priority p)
{
    return (unsigned)p < SB_PRIORITY__COUNT ? priority_names[p] : "unknown";
}

int sb_priority_from_name(const char *s)
{
    for (int i = 0; s && i < SB_PRIORITY__COUNT; i++)
        if (strcmp(s, priority_names[i]) == 0)
            return i;
    return -1;
}

enum sb_err sb_decision_init(struct sb_decision *d)
{
    memset(d, 0, sizeof *d);
    d->arena = sb_arena_new(1u << 20);
    if (!d->arena)
        return SB_ERR_NOMEM;
    d->priority = SB_PRIORITY_NORMAL;
    return SB_OK;
}

void sb_decision_reset(struct sb_decision *d)
{
    struct sb_arena *a = d->arena;
    sb_arena_reset(a);
    memset(d, 0, sizeof *d);
    d->arena = a;
    d->priority = SB_PRIORITY_NORMAL;
}

void sb_decision_free(struct sb_decision *d)
{
    sb_arena_free(d->arena);
    memset(d, 0, sizeof *d);
}

enum sb_err sb_decision_add_reason(struct sb_decision *d, const char *reason)
{
    if (d->n_reasons >= SB_DECISION_REASONS_MAX)
        return SB_OK;
    const char *r = sb_arena_strdup(d->arena, reason);
    if (!r)
        return SB_ERR_NOMEM;
    d->reasons[d->n_reasons++] = r;
    return SB_OK;
}

enum sb_err sb_decision_set_error(struct sb_decision *d, const char *fallback_queue,
                                  enum sb_err code, const char *message, const char *file, int line,
                                  const char *traceback)
{
    /* Whatever happens below, the post goes to a human: set the action first. */
    d->action = SB_ACTION_ESCALATE;
    d->reply = d->message = NULL;
    d->queue = fallback_queue ? fallback_queue : "policy-errors";
    d->priority = SB_PRIORITY_HIGH;
    d->n_reasons = 0;
    struct sb_policy_error *e = sb_arena_alloc(d->arena, sizeof *e);
    if (!e)
        return SB_ERR_NOMEM;
    e->code = code;
    e->message = sb_arena_strdup(d->arena, message ? message : sb_strerror(code));
    e->file = file ? sb_arena_strdup(d->arena, file) : NULL;
    e->line = line;
    e->traceback = traceback ? sb_arena_strdup(d->arena, traceback) : NULL;
    d->error = e;
    const char *q = sb_arena_strdup(d->arena, fallback_queue ? fallback_queue : "policy-errors");
    if (q)
        d->queue = q;
    char reason[160];
    snprintf(reason, sizeof reason, "policy %s: escalated to a human", sb_strerror(code));
    return sb_decision_add_reason(d, reason);
}

static enum sb_err kv_str(struct sb_buf *o, const char *k, const char *v)
{
    enum sb_err e = sb_buf_printf(o, ",\"%s\":", k);
    if (!e)
        e = v ? sb_buf_json_str(o, v, strlen(v)) : sb_buf_puts(o, "null");
    return e;
}

enum sb_err sb_decision_to_json(const struct sb_decision *d, struct sb_buf *o)
{
    enum sb_err e = sb_buf_printf(o, "{\"action\":\"%s\"", sb_action_name(d->action));
    if (!e)
        e = kv_str(o, "reply", d->reply);
    if (!e)
        e = kv_str(o, "message", d->message);
    if (!e)
        e = kv_str(o, "queue", d->action == SB_ACTION_ESCALATE ? d->queue : NULL);
    if (!e)
        e = kv_str(o, "priority",
                   d->action == SB_ACTION_ESCALATE ? sb_priority_name(d->priority) : NULL);
    if (!e)
        e = sb_buf_puts(o, ",\"reasons\":[");
    for (int i = 0; !e && i < d->n_reasons; i++) {
        if (i)
            e = sb_buf_putc(o, ',');
        if (!e)
            e = sb_buf_json_str(o, d->reasons[i], strlen(d->reasons[i]));
    }
    if (!e)
        e = sb_buf_putc(o, ']');
    if (!e)
        e = kv_str(o, "policy_version", d->policy_version);
    if (!e)
        e = sb_buf_printf(o, ",\"latency_us\":%.3f", (double)d->latency_ns / 1000.0);
    if (!e && d->error) {
        const struct sb_policy_error *pe = d->error;
        e = sb_buf_printf(o, ",\"error\":{\"code\":\"%s\"", sb_strerror(pe->code));
        if (!e)
            e = kv_str(o, "message", pe->message);
        if (!e)
            e = kv_str(o, "file", pe->file);
        if (!e)
            e = sb_buf_printf(o, ",\"line\":%d", pe->line);
        if (!e)
            e = kv_str(o, "traceback", pe->traceback);
        if (!e)
            e = sb_buf_putc(o, '}');
    }
    if (!e)
        e = sb_buf_putc(o, '}');
    return e;
}
