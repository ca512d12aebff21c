/* case.h — the unit of human work (design §3): one conversation thread owned by exactly one of
 * `policy` (automation may act), `human` (automation is silent on it) or `closed`, with an
 * append-only history of what happened to it. Queues carry a priority order and SLA clocks
 * (first response due, next response due), optionally counted in business hours.
 *
 * Pure: no I/O, no clock (callers pass times, Unix ms). The store keeps cases and their events;
 * the console's API drives transitions through sb_case_apply. */
#ifndef SB_CASE_H
#define SB_CASE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/decision.h"
#include "util/err.h"

/* Who owns the thread. */
enum sb_case_owner {
    SB_CASE_POLICY = 0, /* automation may act (a case handed back to the policy) */
    SB_CASE_HUMAN,      /* escalated: waiting in its queue, or claimed by an agent */
    SB_CASE_CLOSED,     /* resolved */
    SB_CASE_OWNER__COUNT
};

/* What can happen to a case; each is recorded as one event. */
enum sb_case_event_kind {
    SB_CASE_EV_ESCALATED = 0, /* created by a policy decision: policy → human */
    SB_CASE_EV_POST,          /* a new customer post joined the case */
    SB_CASE_EV_CLAIMED,       /* an agent took it */
    SB_CASE_EV_UNCLAIMED,     /* the agent gave it back to its queue */
    SB_CASE_EV_REPLY,         /* an agent replied (public or private); detail has the outbox id */
    SB_CASE_EV_DELIVERED,     /* the platform accepted a reply of this case */
    SB_CASE_EV_FAILED,        /* a reply of this case could not be delivered (dead letter) */
    SB_CASE_EV_NOTE,          /* internal note (never leaves switchboard) */
    SB_CASE_EV_TRANSFERRED,   /* to another queue and/or agent */
    SB_CASE_EV_RESOLVED,      /* human → closed */
    SB_CASE_EV_REOPENED,      /* closed → human */
    SB_CASE_EV_RELEASED,      /* human → policy: automation may answer this thread again */
    SB_CASE_EV__COUNT
};

/* Agent roles, weakest first: a role may do everything a weaker one may. */
enum sb_role { SB_ROLE_AGENT = 0, SB_ROLE_SUPERVISOR, SB_ROLE_ADMIN, SB_ROLE__COUNT };

const char *sb_case_owner_name(enum sb_case_owner o);      /* "policy", "human", "closed" */
int sb_case_owner_from_name(const char *s);                /* -1 when unknown */
const char *sb_case_event_name(enum sb_case_event_kind k); /* "escalated", "post", … */
int sb_case_event_from_name(const char *s);                /* -1 when unknown */
const char *sb_role_name(enum sb_role r);                  /* "agent", "supervisor", "admin" */
int sb_role_from_name(const char *s);                      /* -1 when unknown */

/* ---- business hours --------------------------------------------------------------------- */

/* A weekly calendar in a fixed UTC offset: on days whose bit is set in `days` (bit 0 = Monday …
 * bit 6 = Sunday), the hours [open_min, close_min) minutes after local midnight are working
 * time. enabled = false means around the clock. */
struct sb_calendar {
    bool enabled;
    unsigned days;      /* bitmask, 0x1f = Monday to Friday */
    int open_min;       /* 0 .. 1439 */
    int close_min;      /* open_min < close_min <= 1440 */
    int utc_offset_min; /* local = UTC + offset, -840 .. 840 */
};

/* Parse "mon-fri 09:00-17:00 +01:00" (days: a range or a comma list of mon tue wed thu fri sat
 * sun; the offset may be omitted for UTC, or written "UTC"). SB_ERR_INVAL with a message. */
enum sb_err sb_calendar_parse(const char *s, struct sb_calendar *c, struct sb_errbuf *eb);

/* The instant (Unix ms) at which `secs` seconds of working time have passed after from_ms.
 * Around the clock this is from_ms + secs * 1000. */
int64_t sb_calendar_add(const struct sb_calendar *c, int64_t from_ms, int64_t secs);

/* ---- queues ------------------------------------------------------------------------------ */

#define SB_QUEUE_NAME_MAX 64

/* A queue from the config. SLA targets in seconds of working time (0 = no target). */
struct sb_queue_conf {
    char name[SB_QUEUE_NAME_MAX];
    char title[128];        /* shown in the console; the name when not set */
    int64_t first_response; /* escalation → first reply accepted */
    int64_t next_response;  /* customer's next post → our next reply */
    struct sb_calendar hours;
};

/* Due times for a case in queue q whose clock started at start_ms; 0 when q has no target. */
int64_t sb_queue_first_due(const struct sb_queue_conf *q, int64_t start_ms);
int64_t sb_queue_next_due(const struct sb_queue_conf *q, int64_t customer_post_ms);

/* ---- the case ----------------------------------------------------------------------------- */

/* The part of a case the state machine needs. */
struct sb_case_state {
    enum sb_case_owner owner;
    int64_t assignee; /* agent id, 0 = unclaimed */
    enum sb_priority priority;
    int64_t first_due;          /* Unix ms; 0 = no clock */
    int64_t next_due;           /* 0 = not waiting for us */
    int64_t first_responded_at; /* first reply accepted by the platform; 0 = not yet */
};

/* Someone acting on a case. id 0 with role SB_ROLE__COUNT is the system (policy, platform). */
struct sb_actor {
    int64_t id;
    enum sb_role role;
};

/* An action requested on a case. */
struct sb_case_action {
    enum sb_case_event_kind kind;
    int64_t to_agent; /* TRANSFERRED: the new assignee (0 = unassigned, back to the queue) */
    bool to_queue;    /* TRANSFERRED: the queue changes (the caller checks the queue exists) */
    int64_t at_ms;    /* when */
};

/* Why an action was refused. */
enum sb_case_refusal {
    SB_CASE_OK = 0,
    SB_CASE_FORBIDDEN,   /* the role may not do this */
    SB_CASE_CLAIMED,     /* another agent holds the case */
    SB_CASE_NOT_CLAIMED, /* this needs the case to be claimed by the actor first */
    SB_CASE_WRONG_STATE, /* not possible in the case's current owner state */
};
const char *sb_case_refusal_message(enum sb_case_refusal r);

/* Apply action a by actor to *st: on SB_CASE_OK, *st is the new state (and the caller records
 * the event); otherwise *st is unchanged. The rules:
 *   CLAIMED      human, unclaimed (or already the actor's): assignee = actor. A supervisor may
 *                take a case another agent holds (reassign); an agent may not (SB_CASE_CLAIMED).
 *   UNCLAIMED    human, held by the actor (or supervisor+): assignee = 0.
 *   REPLY        human, held by the actor (supervisor+ may reply on any human case).
 *                Clears next_due (we answered).
 *   NOTE         any state; any agent who can see the case.
 *   TRANSFERRED  human; held by the actor or unclaimed, or supervisor+. assignee = to_agent.
 *   RESOLVED     human; held by the actor or supervisor+. owner = closed, next_due = 0.
 *   REOPENED     closed → human, unclaimed (supervisor+ or the last assignee).
 *   RELEASED     human → policy (supervisor+), assignee = 0, clocks stopped.
 *   ESCALATED    system only: policy|closed → human (a new escalation on the thread).
 *   POST         system only: any state; a human case's next_due is set by the caller
 *                (sb_queue_next_due) when it is not already running.
 *   DELIVERED    system only: first_responded_at = at_ms if unset; first_due no longer matters.
 *   FAILED       system only: no state change. */
enum sb_case_refusal sb_case_apply(struct sb_case_state *st, const struct sb_actor *actor,
                                   const struct sb_case_action *a);

/* Whether the case is in breach at now_ms: a running clock (first response not yet accepted,
 * or a next response due) is past due. Closed and policy cases are never in breach. */
bool sb_case_breached(const struct sb_case_state *st, int64_t now_ms);

/* The due time that matters now (the earliest running clock), 0 when none runs. */
int64_t sb_case_due(const struct sb_case_state *st);

#endif
