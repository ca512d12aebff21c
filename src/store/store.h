/* store.h — the durable record: posts, decisions, stream cursors, policy versions (design §6).
 *
 * Backend-neutral public API. A store is opened from a URL; each call dispatches through the
 * backend's operations table (store/backend.h). SQLite is the embedded default; PostgreSQL will
 * implement the same logical schema (docs/storage.md).
 *
 * Threading: a struct sb_store is used from ONE thread (the store's worker). It is not locked;
 * share nothing, open a second store for a second thread.
 *
 * Group commit and durability: writes (post/decision inserts, deletes, cursor and policy-version
 * records) accumulate in one open transaction that is committed when batch_max writes have
 * accumulated (default SB_STORE_BATCH_DEFAULT) or on sb_store_flush / sb_store_close. A write is
 * durable only once the commit that covers it has returned SB_OK: acknowledge upstream (advance a
 * platform cursor, ack a webhook) only after sb_store_flush returns SB_OK. If a batch is lost
 * (a failed commit, or the database rolled the open transaction back), the next sb_store_flush
 * reports SB_ERR_STORE once; the caller must then re-fetch from its last acknowledged position.
 *
 * Strings passed in are borrowed for the duration of the call; nothing is retained. */
#ifndef SB_STORE_H
#define SB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/decision.h"
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
