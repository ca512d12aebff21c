/* store.h — the durable record: posts, decisions, the outbox of platform effects, stream cursors,
 * policy versions (design §6).
 *
 * Backend-neutral public API. A store is opened from a URL; each call dispatches through the
 * backend's operations table (store/backend.h). SQLite is the embedded default; PostgreSQL will
 * implement the same logical schema (docs/storage.md).
 *
 * Threading: a struct sb_store is used from ONE thread (the store's worker). It is not locked;
 * share nothing, open a second store for a second thread.
 *
 * Group commit and durability: writes (post/decision inserts, deletes, cursor and policy-version
 * records, decisions with their outbox entries) accumulate in one open transaction that is
 * committed when batch_max writes have accumulated (default SB_STORE_BATCH_DEFAULT) or on
 * sb_store_flush / sb_store_close. A write is durable only once the commit that covers it has
 * returned SB_OK: acknowledge upstream (advance a platform cursor, ack a webhook) only after
 * sb_store_flush returns SB_OK. If a batch is lost (a failed commit, or the database rolled the
 * open transaction back), the next sb_store_flush reports SB_ERR_STORE once; the caller must then
 * re-fetch from its last acknowledged position.
 *
 * Outbox state changes are the exception: sb_store_outbox_due, _sent, _retry, _fail, _requeue and
 * _cancel_for_post commit before they return (and so commit the open batch with them). SB_OK from
 * them means the change is durable; SB_ERR_STORE means it is not (the open batch was lost with
 * it, and the next sb_store_flush reports that too) and the caller repeats the call, above all
 * _sent: the platform has accepted the effect, the record of it must not be lost.
 *
 * Strings passed in are borrowed for the duration of the call; nothing is retained. */
#ifndef SB_STORE_H
#define SB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/context.h"
#include "core/decision.h"
#include "core/effects.h"
#include "core/post.h"
#include "util/err.h"

struct sb_store;

#define SB_STORE_BATCH_DEFAULT 512
#define SB_STORE_RAW_MAX (1u << 20) /* bytes of raw platform JSON kept per post */

/* Open (creating if needed) and migrate to the newest schema this binary knows.
 *   "sqlite:PATH", a plain PATH, or ":memory:" (also "sqlite::memory:"), optionally followed by
 *   "?key=value&..." with keys:
 *     synchronous=full|normal|extra   (default full: a commit survives power loss)
 *     busy_timeout=MS                 (default 5000)
 *     batch=N                         (default SB_STORE_BATCH_DEFAULT)
 * *out is new (sb_store_close). Errors: SB_ERR_INVAL (bad URL or option, unsupported backend),
 * SB_ERR_SCHEMA (the database was written by a newer switchboard, or is not a switchboard
 * database), SB_ERR_STORE (cannot open, migrate or configure), SB_ERR_NOMEM. */
enum sb_err sb_store_open(const char *url, struct sb_store **out, struct sb_errbuf *eb);

/* Commit pending writes (best effort: call sb_store_flush first to learn whether it worked) and
 * release everything. NULL is accepted. */
void sb_store_close(struct sb_store *s);

/* Commit the open batch. SB_OK means every write accepted so far is durable (to the chosen
 * synchronous level). SB_ERR_STORE when the commit failed or an earlier batch was lost. */
enum sb_err sb_store_flush(struct sb_store *s, struct sb_errbuf *eb);

/* Outbox state changes (due/claim, sent, retry, fail) commit before returning by default. With
 * immediate = false they join the open batch like any write and become durable at the next
 * sb_store_flush: the live service flushes once per loop iteration and relies on the
 * idempotency keys — a claim or a `sent` lost in a crash means a re-send with the same key,
 * which the platform absorbs (Mastodon within 1 h, Bluesky by record key). */
void sb_store_set_outbox_sync(struct sb_store *s, bool immediate);

/* Move WAL checkpoints (copying the log back into the database, with its fsync) off the
 * calling thread: a background thread with its own connection checkpoints every 200 ms and
 * the caller's connection stops checkpointing itself. For a writer that must never stall
 * (the live service's loop). No-op for in-memory databases. */
enum sb_err sb_store_background_checkpoints(struct sb_store *s, struct sb_errbuf *eb);

/* Writes per transaction; values < 1 mean 1 (every write commits on its own). Takes effect at
 * the next write. */
void sb_store_set_batch(struct sb_store *s, int batch_max);

/* Record a post. p->platform must be known and p->id non-NULL (SB_ERR_INVAL). raw (may be NULL)
 * is the platform's JSON, kept for replay/diff; raw_len > SB_STORE_RAW_MAX → SB_ERR_TOOBIG.
 * Dedupe is by (platform, id): when already recorded, nothing is written, *post_rowid (if
 * non-NULL) receives the existing row id, and SB_ERR_DUP is returned. Otherwise *post_rowid
 * receives the new row id. */
enum sb_err sb_store_post_insert(struct sb_store *s, const struct sb_post *p, const char *raw,
                                 size_t raw_len, int64_t *post_rowid, struct sb_errbuf *eb);

/* The post (platform, p->id) was edited: its text, language and raw JSON (when raw is not
 * NULL) become the edit's; what was decided about it stays. A batched write. SB_ERR_NOTFOUND
 * when no such post is recorded, SB_ERR_TOOBIG as for sb_store_post_insert. */
enum sb_err sb_store_post_edit(struct sb_store *s, const struct sb_post *p, const char *raw,
                               size_t raw_len, struct sb_errbuf *eb);

/* Mark the post (platform, id) deleted at the current time (the first deletion time is kept).
 * SB_ERR_NOTFOUND when no such post is recorded. */
enum sb_err sb_store_post_mark_deleted(struct sb_store *s, enum sb_platform platform,
                                       const char *id, struct sb_errbuf *eb);

/* Record a decision about the stored post post_rowid: action, reply, message, queue and
 * priority (kept for escalate only, NULL otherwise, as in sb_decision_to_json), reasons (as a
 * JSON array), error (as a JSON object, or NULL), policy_version, latency_ns, and decided_at_ms
 * (Unix ms). A post may have several decisions (replays, shadow policies). SB_ERR_NOTFOUND when
 * post_rowid is not a stored post; SB_ERR_INVAL for an out-of-range action/priority. */
enum sb_err sb_store_decision_insert(struct sb_store *s, int64_t post_rowid,
                                     const struct sb_decision *d, int64_t decided_at_ms,
                                     struct sb_errbuf *eb);

/* Record a decision (as sb_store_decision_insert) together with its planned effects
 * (sb_effects_plan) as outbox entries in state `pending`, due at decided_at_ms. The decision and
 * its entries are one unit: all of it is written or none of it, and a group-commit boundary
 * never falls inside it (it counts 1 + n_effects writes towards batch_max, checked after the
 * unit). effects may be NULL when n_effects is 0; every effect needs a known platform and kind,
 * target_id, text and a SB_EFFECT_KEY_LEN-hex idem_key (SB_ERR_INVAL; two effects of one call
 * with one key too); string fields longer than the sb_outbox_entry fields that hold them →
 * SB_ERR_TOOBIG. *decision_id (may be NULL) receives the new decision's id.
 * SB_ERR_DUP when an effect's idem_key is already in the outbox (this decision was recorded
 * before: a replay, a re-delivery): nothing is written and *decision_id receives the decision
 * that enqueued that key. SB_ERR_NOTFOUND when post_rowid is not a stored post. */
enum sb_err sb_store_decision_record(struct sb_store *s, int64_t post_rowid,
                                     const struct sb_decision *d, const struct sb_effect *effects,
                                     size_t n_effects, int64_t decided_at_ms, int64_t *decision_id,
                                     struct sb_errbuf *eb);

/* ---- outbox ------------------------------------------------------------------------------
 *
 * Each platform effect is one row. States and the calls that move them (docs/storage.md):
 *
 *   pending ──due──▶ sending ──sent──▶ sent
 *   retry ───due──▶ sending ──retry─▶ retry
 *   sending (lease expired) ──due──▶ sending        (reclaimed: outcome of the lost try unknown)
 *   sending ──fail──▶ dead | reconcile
 *   pending | retry ──cancel_for_post / fail(cancelled)──▶ cancelled
 *   reconcile | dead ──sent (verified applied)──▶ sent
 *   reconcile | dead ──requeue (verified not applied)──▶ pending
 *   reconcile | dead ──fail(cancelled)──▶ cancelled
 *
 * sent is accepted from every state (the platform's acceptance is a fact; a second sent is a
 * no-op); sent and cancelled are final otherwise. */

enum sb_outbox_state {
    SB_OUTBOX_ANY = -1, /* sb_store_outbox_list / _count only: every state */
    SB_OUTBOX_PENDING = 0,
    SB_OUTBOX_SENDING,
    SB_OUTBOX_SENT,
    SB_OUTBOX_RETRY,
    SB_OUTBOX_DEAD,
    SB_OUTBOX_RECONCILE,
    SB_OUTBOX_CANCELLED,
    SB_OUTBOX__COUNT
};

/* "pending", "sending", …; "any" for SB_OUTBOX_ANY, "unknown" out of range. */
const char *sb_store_outbox_state_name(enum sb_outbox_state st);
/* -1 (SB_OUTBOX_ANY is not a name) when unknown. */
int sb_store_outbox_state_from_name(const char *s);

#define SB_OUTBOX_REF_MAX 1024   /* bytes, NUL included: ids, URIs, CIDs, handles, account */
#define SB_OUTBOX_TEXT_MAX 10240 /* bytes, NUL included (Bluesky chat allows 10000) */
#define SB_OUTBOX_ERROR_MAX 512  /* bytes, NUL included; longer errors are cut (UTF-8 safe) */

/* A copy of one outbox row: plain data, the strings are arrays inside the struct (so an entry
 * can be kept, copied or freed with its owner freely). A NULL column reads as "". Times are Unix
 * ms, 0 = never. About 21 KiB: give arrays of them from the heap. */
struct sb_outbox_entry {
    int64_t id;
    int64_t post_rowid;
    int64_t decision_id;
    enum sb_platform platform;
    enum sb_effect_kind kind;
    enum sb_outbox_state state;
    int attempts;    /* claims so far (the current one included while sending) */
    bool reclaimed;  /* due only: this claim took over an expired lease (sb_retry_may_send) */
    int last_status; /* HTTP status of the last outcome; 0 = none */
    int64_t next_at; /* pending/retry: due time; sending: the lease end */
    int64_t first_attempt_at, last_attempt_at, lease_until, created_at, updated_at;
    char idem_key[SB_EFFECT_KEY_LEN + 1];
    char account[SB_OUTBOX_REF_MAX];
    char target_id[SB_OUTBOX_REF_MAX];
    char target_cid[SB_OUTBOX_REF_MAX];
    char root_id[SB_OUTBOX_REF_MAX];
    char root_cid[SB_OUTBOX_REF_MAX];
    char recipient_id[SB_OUTBOX_REF_MAX];
    char recipient_handle[SB_OUTBOX_REF_MAX];
    char remote_id[SB_OUTBOX_REF_MAX];  /* what the platform created (status id / at:// URI) */
    char remote_cid[SB_OUTBOX_REF_MAX]; /* Bluesky CID of it */
    char text[SB_OUTBOX_TEXT_MAX];
    char last_error[SB_OUTBOX_ERROR_MAX];
};

/* Claim up to max entries that are due at now_ms: pending or retry with next_at <= now_ms, and
 * sending entries whose lease ended (their sender died; .reclaimed is set). Oldest next_at first.
 * Each becomes `sending` with lease_until = next_at = now_ms + lease_ms, attempts + 1,
 * last_attempt_at = now_ms and first_attempt_at = now_ms if unset; out[0 .. *n) receives the
 * updated copies (out is borrowed, caller-owned). Commits before returning, so a claim is never
 * lost and never made twice. lease_ms must be > 0 (SB_ERR_INVAL); it should exceed the longest
 * time one send can take. */
enum sb_err sb_store_outbox_due(struct sb_store *s, int64_t now_ms, int64_t lease_ms, size_t max,
                                struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);

/* The platform accepted entry id: state `sent`, remote_id/remote_cid (may be NULL; stored
 * whole, cut to SB_OUTBOX_REF_MAX in copies) and the HTTP status recorded. Accepted from every
 * state; when already sent nothing changes (the first remote id is kept) and SB_OK is returned.
 * SB_ERR_NOTFOUND for an unknown id. Commits before returning. */
enum sb_err sb_store_outbox_sent(struct sb_store *s, int64_t id, const char *remote_id,
                                 const char *remote_cid, int status, struct sb_errbuf *eb);

/* A sending entry failed and may be tried again at next_at_ms (sb_retry_next said AGAIN):
 * state `retry`, lease cleared, status and error (may be NULL) recorded. SB_ERR_INVAL when the
 * entry is not `sending`, SB_ERR_NOTFOUND for an unknown id. Commits before returning. */
enum sb_err sb_store_outbox_retry(struct sb_store *s, int64_t id, int64_t next_at_ms, int status,
                                  const char *error, struct sb_errbuf *eb);

/* Stop trying: state is SB_OUTBOX_DEAD (the platform refused it for good), SB_OUTBOX_RECONCILE
 * (it may have been applied: check before doing anything) or SB_OUTBOX_CANCELLED; any other
 * state → SB_ERR_INVAL. status (0 = none) and error (may be NULL; shown to humans: put the
 * platform's error there) are recorded. Allowed from every state but sent and cancelled
 * (SB_ERR_INVAL). SB_ERR_NOTFOUND for an unknown id. Commits before returning. */
enum sb_err sb_store_outbox_fail(struct sb_store *s, int64_t id, enum sb_outbox_state state,
                                 int status, const char *error, struct sb_errbuf *eb);

/* A human or a reconciler verified that a reconcile or dead entry was NOT applied and wants it
 * sent: back to `pending` at next_at_ms with attempts and first_attempt_at reset (a new
 * idempotency window starts with the next attempt). SB_ERR_INVAL from any other state,
 * SB_ERR_NOTFOUND for an unknown id. Commits before returning. */
enum sb_err sb_store_outbox_requeue(struct sb_store *s, int64_t id, int64_t next_at_ms,
                                    struct sb_errbuf *eb);

/* The post (platform, post_id) was deleted: every pending or retry entry of a decision about it
 * becomes `cancelled`. Entries already sending are left to their sender (the request may be on
 * the wire). SB_OK also when there was nothing to cancel or the post is unknown. Commits before
 * returning. */
enum sb_err sb_store_outbox_cancel_for_post(struct sb_store *s, enum sb_platform platform,
                                            const char *post_id, struct sb_errbuf *eb);

/* An author's recent history with the brand, for the policy's ctx.history. */
struct sb_author_history {
    int64_t posts;     /* posts recorded */
    int64_t answered;  /* of those, acknowledged or moved to private */
    int64_t escalated; /* of those, escalated to a human */
};

/* History of author_id on platform over posts created at or after since_ms (Unix ms), leaving
 * out the post exclude_rowid (the one being decided; 0 = none), counted over the author's most
 * recent SB_STORE_HISTORY_CAP posts at most: the cost stays flat for prolific authors, and a
 * policy that needs "many" gets SB_STORE_HISTORY_CAP. Sees pending writes. author_id NULL
 * gives zeros. */
#define SB_STORE_HISTORY_CAP 20
enum sb_err sb_store_author_history(struct sb_store *s, enum sb_platform platform,
                                    const char *author_id, int64_t since_ms, int64_t exclude_rowid,
                                    struct sb_author_history *h, struct sb_errbuf *eb);

/* ctx.history on demand (struct sb_ctx.history_fn/history_ud): what to look up. */
struct sb_store_history_src {
    struct sb_store *store;
    const struct sb_post *post; /* the post being decided */
    int64_t since_ms;           /* window start (Unix ms) */
    int64_t rowid;              /* the post's own row, left out */
};
/* An sb_ctx_history_fn over sb_store_author_history; ud is a struct sb_store_history_src.
 * Returns 0 with h filled, -1 when the store could not answer. */
int sb_store_ctx_history(void *ud, struct sb_ctx_history *h);

/* How many outbox entries of the decisions about post (platform, post_id) are in each state:
 * counts[SB_OUTBOX_PENDING .. SB_OUTBOX_CANCELLED]. All zero for an unknown post. Read-only. */
enum sb_err sb_store_outbox_post_counts(struct sb_store *s, enum sb_platform platform,
                                        const char *post_id, int64_t counts[SB_OUTBOX__COUNT],
                                        struct sb_errbuf *eb);

/* Copies of up to max entries in state (SB_OUTBOX_ANY: all), newest first, into out[0 .. *n)
 * (borrowed, caller-owned). Sees pending writes. Read-only. */
enum sb_err sb_store_outbox_list(struct sb_store *s, enum sb_outbox_state state, size_t max,
                                 struct sb_outbox_entry *out, size_t *n, struct sb_errbuf *eb);

/* One entry by id into *out. SB_ERR_NOTFOUND for an unknown id. Read-only. */
enum sb_err sb_store_outbox_get(struct sb_store *s, int64_t id, struct sb_outbox_entry *out,
                                struct sb_errbuf *eb);

/* The entry whose effect the platform created as remote_id (a status id, an at:// URI): a
 * customer answering our reply names it. SB_ERR_NOTFOUND when none. Read-only. */
enum sb_err sb_store_outbox_by_remote(struct sb_store *s, enum sb_platform platform,
                                      const char *remote_id, struct sb_outbox_entry *out,
                                      struct sb_errbuf *eb);

/* Entries in state (SB_OUTBOX_ANY: all). Sees pending writes. */
enum sb_err sb_store_outbox_count(struct sb_store *s, enum sb_outbox_state state, int64_t *n,
                                  struct sb_errbuf *eb);

/* Stream cursors, e.g. "bluesky:jetstream:<account>" → Jetstream time_us. get: SB_ERR_NOTFOUND
 * when never set. set overwrites; it is a batched write like any other. */
enum sb_err sb_store_cursor_get(struct sb_store *s, const char *stream, int64_t *value,
                                struct sb_errbuf *eb);
enum sb_err sb_store_cursor_set(struct sb_store *s, const char *stream, int64_t value,
                                struct sb_errbuf *eb);

/* Remember a policy version (hash → the JSON description of its files) the first time it is
 * seen; later calls with the same hash change nothing and return SB_OK. files_json may be NULL. */
enum sb_err sb_store_policy_version_record(struct sb_store *s, const char *hash,
                                           const char *files_json, struct sb_errbuf *eb);

/* Row counts for summaries and tests. what: "posts", "decisions", "deleted" (posts marked
 * deleted), "cursors", "policy_versions"; anything else → SB_ERR_INVAL. Sees pending writes. */
enum sb_err sb_store_count(struct sb_store *s, const char *what, int64_t *n, struct sb_errbuf *eb);

/* The 64-bit lookup key of a text key within a platform (thread, author): FNV-1a over
 * "platform\0value", as a signed integer for SQL. Indexes are on these keys; a lookup then
 * compares the text, so a collision costs a row read, never a wrong answer. value may be NULL
 * (key 0). Same function in every backend. */
int64_t sb_store_key(const char *platform, const char *value);

/* Schema version of the open database (the number of migrations applied). */
int sb_store_schema_version(const struct sb_store *s);

#endif
