/* casework.h — cases as the service lives them (design §3): an escalation opens a case (or
 * reopens the thread's closed one), a customer post on a thread a human owns joins its case
 * instead of reaching the policy, an agent's reply goes out through the same outbox as the
 * policy's (exactly once: its key is derived from the case and the request), and the platform's
 * verdict on that reply comes back to the case. Every change is recorded as a case event and
 * handed to the listeners (the console's live updates, metrics).
 *
 * Runs on the loop thread with the service's store; rules are core/case.h's sb_case_apply. */
#ifndef SB_CASEWORK_H
#define SB_CASEWORK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/case.h"
#include "core/decision.h"
#include "core/post.h"
#include "run/config.h"
#include "store/cases.h"

struct sb_casework;

/* A case changed: c is its new state, ev what happened (both borrowed for the call). */
typedef void (*sb_case_listener)(void *ud, const struct sb_case *c, const struct sb_case_event *ev);

enum sb_err sb_casework_new(struct sb_store *s, const struct sb_config *cfg,
                            struct sb_casework **out);
void sb_casework_free(struct sb_casework *cw);
/* At most 4 listeners. */
void sb_casework_listen(struct sb_casework *cw, sb_case_listener fn, void *ud);

/* ---- from ingest ---------------------------------------------------------------------- */

/* The case of p's thread when a human owns it (then the policy must stay silent): true with
 * *out filled. false when there is none, or it is closed or back with the policy. */
bool sb_casework_human_thread(struct sb_casework *cw, const struct sb_post *p, struct sb_case *out);

/* p (stored as post_rowid) joins the human-owned case c: a `post` event, the customer's clock
 * (next response due) starts if it is not running. *c is updated. */
enum sb_err sb_casework_join(struct sb_casework *cw, struct sb_case *c, const struct sb_post *p,
                             int64_t post_rowid, int64_t now_ms, struct sb_errbuf *eb);

/* The policy escalated p: open a case in d->queue (or reopen the thread's closed case, or take
 * back a released one) with the decision's reasons in the event. */
enum sb_err sb_casework_escalated(struct sb_casework *cw, const struct sb_post *p,
                                  int64_t post_rowid, const struct sb_decision *d, int64_t now_ms,
                                  struct sb_errbuf *eb);

/* ---- from the sender -------------------------------------------------------------------- */

/* An outbox entry reached a final state (sent, dead, reconcile): if it was an agent's reply, its
 * case records delivered/failed; a first reply accepted stops the first-response clock. True
 * when the entry was an agent's reply. */
bool sb_casework_delivery(struct sb_casework *cw, const struct sb_outbox_entry *e, int64_t now_ms);

/* ---- from the console's API ------------------------------------------------------------- */

struct sb_case_request {
    enum sb_case_event_kind kind; /* CLAIMED UNCLAIMED REPLY NOTE TRANSFERRED RESOLVED REOPENED
                                     RELEASED */
    const char *text;             /* REPLY, NOTE */
    bool private_reply;           /* REPLY: a direct message instead of a public reply */
    const char *request_id;       /* REPLY: the client's idempotency token */
    const char *to_queue;         /* TRANSFERRED: NULL = same queue */
    int64_t to_agent;             /* TRANSFERRED: 0 = back to the queue */
    const char *to_agent_name;    /* for the event's detail */
};

/* What came of a request. */
struct sb_case_outcome {
    enum sb_case_refusal refusal;   /* SB_CASE_OK, or why not (then nothing changed) */
    char holder[SB_AGENT_NAME_MAX]; /* SB_CASE_CLAIMED: who has it */
    struct sb_case c;               /* the case after (or as it is, when refused) */
    struct sb_case_event ev;        /* the recorded event */
    int64_t outbox_id;              /* REPLY: the entry that carries it */
    bool repeated;                  /* REPLY: this request_id was already sent (nothing new) */
};

/* Carry out req on case case_id for actor (the agent's id and role; name for details).
 * SB_ERR_NOTFOUND (no case), SB_ERR_INVAL (bad text or queue: eb says why, nothing changed),
 * SB_ERR_CONFLICT (changed concurrently by another process, twice), SB_ERR_STORE. SB_OK with
 * out->refusal set when the rules refuse it. */
enum sb_err sb_casework_act(struct sb_casework *cw, int64_t case_id, const struct sb_actor *actor,
                            const char *actor_name, const struct sb_case_request *req,
                            int64_t now_ms, struct sb_case_outcome *out, struct sb_errbuf *eb);

/* Room for an agent's reply text on case c, as the console shows it: the platform's limit for a
 * public reply or a direct message (Bluesky chat: SB_BLUESKY_CHAT_MAX graphemes) less the
 * "@handle " mention the sender puts before a text that lacks it; and whether it counts
 * graphemes (Bluesky) or code points (Mastodon). */
#define SB_BLUESKY_CHAT_MAX 1000
void sb_casework_limit(const struct sb_case *c, bool private_reply, size_t *max, bool *graphemes);

#endif
