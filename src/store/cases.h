/* cases.h — the store's human side (design §3): agents, their sessions, cases and the
 * append-only case events. Same rules as store.h: one thread per struct sb_store, strings
 * borrowed for the call, backend-neutral (each call goes through the backend's case table,
 * store/backend.h). Writes here commit before they return (an agent's click is acknowledged only
 * once it is durable), and so commit the open batch with them.
 *
 * Concurrency: every case row has a version, bumped by each update. sb_store_case_update writes
 * only when the version is still the one the caller read (SB_ERR_CONFLICT otherwise), so two
 * agents claiming one case — even through two switchboard processes on one database — give one
 * winner. */
#ifndef SB_STORE_CASES_H
#define SB_STORE_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/case.h"
#include "core/post.h"
#include "store/store.h"
#include "util/err.h"

/* ---- agents ---------------------------------------------------------------------------- */

#define SB_AGENT_NAME_MAX 64    /* bytes, NUL included */
#define SB_AGENT_QUEUES_MAX 512 /* comma-separated queue names, NUL included */
#define SB_PWHASH_MAX 128       /* libsodium crypto_pwhash_STRBYTES */

struct sb_agent {
    int64_t id;
    char name[SB_AGENT_NAME_MAX];
    enum sb_role role;
    char queues[SB_AGENT_QUEUES_MAX]; /* "support,billing"; "" = every queue */
    char pw_hash[SB_PWHASH_MAX];      /* argon2id string; never leaves the process */
    bool disabled;
    int64_t created_at;
};

/* Add an agent; SB_ERR_DUP when the name is taken. *id (may be NULL) receives the new id. */
enum sb_err sb_store_agent_add(struct sb_store *s, const struct sb_agent *a, int64_t *id,
                               struct sb_errbuf *eb);
/* Replace role, queues, pw_hash and disabled of the agent a->id. SB_ERR_NOTFOUND. */
enum sb_err sb_store_agent_update(struct sb_store *s, const struct sb_agent *a,
                                  struct sb_errbuf *eb);
enum sb_err sb_store_agent_get(struct sb_store *s, int64_t id, struct sb_agent *out,
                               struct sb_errbuf *eb);
enum sb_err sb_store_agent_by_name(struct sb_store *s, const char *name, struct sb_agent *out,
                                   struct sb_errbuf *eb);
/* Up to max agents ordered by name into out[0 .. *n). */
enum sb_err sb_store_agent_list(struct sb_store *s, size_t max, struct sb_agent *out, size_t *n,
                                struct sb_errbuf *eb);

/* ---- sessions --------------------------------------------------------------------------- */

/* The cookie carries a random token; the store keeps only its hash (a stolen database does not
 * log anyone in). */
#define SB_SESSION_HASH_LEN 64 /* hex digits of the token's hash */
#define SB_CSRF_LEN 64         /* hex digits */

struct sb_session {
    char token_hash[SB_SESSION_HASH_LEN + 1];
    int64_t agent_id;
    char csrf[SB_CSRF_LEN + 1];
    int64_t created_at, expires_at;
};

enum sb_err sb_store_session_add(struct sb_store *s, const struct sb_session *se,
                                 struct sb_errbuf *eb);
/* SB_ERR_NOTFOUND when unknown or expired at now_ms (a session is valid while now_ms <
 * expires_at). */
enum sb_err sb_store_session_get(struct sb_store *s, const char *token_hash, int64_t now_ms,
                                 struct sb_session *out, struct sb_errbuf *eb);
/* SB_OK also when unknown. */
enum sb_err sb_store_session_delete(struct sb_store *s, const char *token_hash,
                                    struct sb_errbuf *eb);
/* Every session of agent_id (a disabled agent, a changed password). */
enum sb_err sb_store_session_delete_agent(struct sb_store *s, int64_t agent_id,
                                          struct sb_errbuf *eb);
/* Drop sessions expired at now_ms; *n (may be NULL) receives how many. */
enum sb_err sb_store_session_purge(struct sb_store *s, int64_t now_ms, int64_t *n,
                                   struct sb_errbuf *eb);

/* ---- cases ------------------------------------------------------------------------------ */

struct sb_case {
    int64_t id;
    int64_t version; /* bumped by every update */
    enum sb_platform platform;
    char account[SB_OUTBOX_REF_MAX];   /* the brand account the thread reached */
    char thread_id[SB_OUTBOX_REF_MAX]; /* thread root: Mastodon status id / at:// URI */
    char queue[SB_QUEUE_NAME_MAX];
    struct sb_case_state st;
    int64_t first_post_rowid; /* the post that was escalated */
    int64_t last_post_rowid;  /* the customer's latest post in the case */
    char author_id[SB_OUTBOX_REF_MAX];
    char author_handle[SB_OUTBOX_REF_MAX];
    char summary[512]; /* the first post's text, cut (UTF-8 safe), for lists */
    int64_t created_at, updated_at, last_customer_at, closed_at;
};

/* One entry of a case's history. */
struct sb_case_event {
    int64_t id;
    int64_t case_id;
    int64_t at;
    int64_t actor_id; /* agent id, 0 = the system (policy, platform) */
    enum sb_case_event_kind kind;
    int64_t post_rowid; /* ESCALATED, POST: the post; 0 otherwise */
    int64_t outbox_id;  /* REPLY, DELIVERED, FAILED: the outbox entry; 0 otherwise */
    char detail[4096];  /* JSON object: reasons, note text, transfer from/to, … */
};

/* Case writes commit before they return (the default), or, with immediate = false, join the
 * open batch like a post or a decision and become durable at the next sb_store_flush. Ingest
 * writes the cases its escalations open that way, in the commit of their posts and decisions
 * (one commit per loop iteration, not one per escalation); an agent's action is always
 * committed at once. */
void sb_store_set_case_sync(struct sb_store *s, bool immediate);

/* Create a case and its first event, as one unit (ev may be NULL: no event). Both structs are
 * updated in place: c->id receives the new id, c->version is 1, an empty c->summary becomes the
 * first post's text cut to fit (on a grapheme boundary); ev->case_id and ev->id are filled in.
 * Times are the caller's. SB_ERR_INVAL when a post, agent or outbox entry the case or the event
 * names is not stored. */
enum sb_err sb_store_case_create(struct sb_store *s, struct sb_case *c, struct sb_case_event *ev,
                                 struct sb_errbuf *eb);

/* Write c (every field but id, platform, thread and first_post_rowid) and append ev, only if the
 * stored version is still c->version: then c->version is bumped and SB_OK returned; otherwise
 * nothing is written and SB_ERR_CONFLICT returned (re-read and retry, or tell the user). ev may
 * be NULL (no event); ev->case_id is set to c->id and ev->id receives the event's id.
 * SB_ERR_NOTFOUND for an unknown id; SB_ERR_INVAL (nothing written) when the assignee, the last
 * post or what the event names is not stored. */
enum sb_err sb_store_case_update(struct sb_store *s, struct sb_case *c, struct sb_case_event *ev,
                                 struct sb_errbuf *eb);

/* Append an event without changing the case (a note, a delivery; the version stays). ev->id
 * receives the id. SB_ERR_NOTFOUND for an unknown ev->case_id, SB_ERR_INVAL when the agent, post
 * or outbox entry it names is not stored. */
enum sb_err sb_store_case_event_add(struct sb_store *s, struct sb_case_event *ev,
                                    struct sb_errbuf *eb);

enum sb_err sb_store_case_get(struct sb_store *s, int64_t id, struct sb_case *out,
                              struct sb_errbuf *eb);

/* The newest case on the thread (platform, thread_id) whatever its owner; SB_ERR_NOTFOUND. */
enum sb_err sb_store_case_by_thread(struct sb_store *s, enum sb_platform platform,
                                    const char *thread_id, struct sb_case *out,
                                    struct sb_errbuf *eb);

/* The case an agent reply went out for: the case whose REPLY event names outbox_id. */
enum sb_err sb_store_case_by_outbox(struct sb_store *s, int64_t outbox_id, struct sb_case *out,
                                    struct sb_errbuf *eb);

/* Which cases to list. Order: priority (urgent first), then the due time that matters
 * (sb_case_due; cases with no clock last), then id. Keyset pagination: pass the last row's
 * (priority, due, id) of the previous page as `after`. */
struct sb_case_filter {
    int owner;          /* enum sb_case_owner, or -1 for every owner */
    const char *queues; /* comma-separated (spaces around names ignored); NULL or "" =
                           every queue */
    int64_t assignee;   /* > 0: only this agent's; 0: any; -1: only unclaimed */
    bool after_set;
    int after_priority;
    int64_t after_due; /* as sb_case_list_due returns it */
    int64_t after_id;
};

/* The sort key of a case as the list uses it (due: INT64_MAX when no clock runs). */
int64_t sb_case_list_due(const struct sb_case *c);

/* Up to max cases matching f (NULL: every case) into out[0 .. *n). SB_ERR_TOOBIG for a queue
 * list or name longer than an agent's queues / a queue name may be. */
enum sb_err sb_store_case_list(struct sb_store *s, const struct sb_case_filter *f, size_t max,
                               struct sb_case *out, size_t *n, struct sb_errbuf *eb);

/* A case's events, oldest first, up to max. */
enum sb_err sb_store_case_events(struct sb_store *s, int64_t case_id, size_t max,
                                 struct sb_case_event *out, size_t *n, struct sb_errbuf *eb);

/* Queue statistics over open (human) cases. */
struct sb_queue_stats {
    char queue[SB_QUEUE_NAME_MAX];
    int64_t open;      /* human-owned cases */
    int64_t unclaimed; /* of those, waiting for an agent */
    int64_t oldest_at; /* created_at of the oldest open case; 0 when none */
    int64_t breached;  /* running clock past due at now_ms */
};
/* One row per queue that has open cases, by queue name, into out[0 .. *n). breached counts
 * sb_case_breached(st, now_ms). */
enum sb_err sb_store_queue_stats(struct sb_store *s, int64_t now_ms, size_t max,
                                 struct sb_queue_stats *out, size_t *n, struct sb_errbuf *eb);

/* ---- what the console shows of a case's posts ------------------------------------------- */

/* A stored post as the console shows it, with the latest decision about it (the last
 * recorded). Strings that do not fit are cut (UTF-8 safe); the JSON ones stay valid JSON:
 * reasons keeps the leading reasons that fit, error loses its traceback first. */
struct sb_post_view {
    int64_t rowid;
    enum sb_platform platform;
    char post_id[SB_OUTBOX_REF_MAX];
    char author_id[SB_OUTBOX_REF_MAX];
    char author_handle[SB_OUTBOX_REF_MAX];
    char author_name[256];
    int64_t author_followers; /* -1 unknown */
    bool author_verified, author_bot;
    char text[SB_OUTBOX_TEXT_MAX];
    char url[SB_OUTBOX_REF_MAX];
    int64_t created_ms;
    int64_t deleted_at; /* 0 = not deleted */
    char kind[16];      /* mention | reply | direct | comment */
    /* what an agent's reply needs to answer it (effects planner) */
    char cid[SB_OUTBOX_REF_MAX];
    char account[SB_OUTBOX_REF_MAX];
    char thread[SB_OUTBOX_REF_MAX];
    char thread_cid[SB_OUTBOX_REF_MAX];
    char visibility[16];
    /* the latest decision (decision_id 0 = none) */
    int64_t decision_id;
    char action[24];
    char queue[SB_QUEUE_NAME_MAX];
    char priority[16];
    char reasons[2048]; /* JSON array */
    char error[1024];   /* JSON object or "" */
    char reply[SB_OUTBOX_TEXT_MAX];
    char policy_version[80];
    int64_t decided_at;
};
enum sb_err sb_store_post_view(struct sb_store *s, int64_t rowid, struct sb_post_view *out,
                               struct sb_errbuf *eb);

/* The outbox entries of the decisions about post_rowid (automated and agent replies), oldest
 * first. */
enum sb_err sb_store_outbox_for_post(struct sb_store *s, int64_t post_rowid, size_t max,
                                     struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);

#endif
