/* decision.h — what the policy decided about one post (design §2), the core's output.
 * Plain data like struct sb_post; strings live in the decision's arena. No I/O. */
#ifndef SB_DECISION_H
#define SB_DECISION_H

#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

enum sb_action {
    SB_ACTION_ACKNOWLEDGE = 0,
    SB_ACTION_MOVE_TO_PRIVATE,
    SB_ACTION_ESCALATE,
    SB_ACTION_IGNORE,
    SB_ACTION__COUNT
};

enum sb_priority {
    SB_PRIORITY_URGENT = 0,
    SB_PRIORITY_HIGH,
    SB_PRIORITY_NORMAL,
    SB_PRIORITY_LOW,
    SB_PRIORITY__COUNT
};

#define SB_DECISION_REASONS_MAX 16

/* A policy failure attached to the decision (the post is escalated, never dropped). */
struct sb_policy_error {
    enum sb_err code; /* SB_ERR_POLICY, SB_ERR_BUDGET, SB_ERR_MEMLIMIT, SB_ERR_SANDBOX */
    const char *message;
    const char *file; /* policy-relative file, or NULL */
    int line;         /* 0 when unknown */
    const char *traceback;
};

struct sb_decision {
    enum sb_action action;
    const char *reply;   /* rendered public reply, or NULL */
    const char *message; /* rendered private message (move_to_private), or NULL */
    const char *queue;   /* escalate: queue name */
    enum sb_priority priority;
    const char *reasons[SB_DECISION_REASONS_MAX];
    int n_reasons;
    const char *policy_version;    /* hex hash of the policy directory's sources */
    int64_t latency_ns;            /* wall time of the policy call, post table included */
    struct sb_policy_error *error; /* non-NULL when the policy failed */
    struct sb_arena *arena;
};

enum sb_err sb_decision_init(struct sb_decision *d);
void sb_decision_reset(struct sb_decision *d);
void sb_decision_free(struct sb_decision *d);

const char *sb_action_name(enum sb_action a);
int sb_action_from_name(const char *s); /* -1 if unknown */
const char *sb_priority_name(enum sb_priority p);
int sb_priority_from_name(const char *s); /* -1 if unknown */

/* Add a reason (copied into the arena); silently ignores reasons past the maximum. */
enum sb_err sb_decision_add_reason(struct sb_decision *d, const char *reason);

/* Turn d into the failure escalation: action escalate, queue "policy-errors" unless the
 * caller's fallback queue is given, priority high, error attached (strings copied). */
enum sb_err sb_decision_set_error(struct sb_decision *d, const char *fallback_queue,
                                  enum sb_err code, const char *message, const char *file, int line,
                                  const char *traceback);

struct sb_buf;
/* Append the decision as one JSON object: action, reply, message, queue, priority, reasons,
 * policy_version, latency_us, error{...}. */
enum sb_err sb_decision_to_json(const struct sb_decision *d, struct sb_buf *out);

#endif
