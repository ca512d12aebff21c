/* sqlite_migrations.c — the SQLite schema, as an ordered list of migrations.
 *
 * Migration i (0-based) takes a database from PRAGMA user_version i to i + 1; sqlite.c applies
 * each one in its own transaction together with the user_version bump, so a crash mid-migration
 * leaves the previous version intact. Rules: append only, never edit a shipped migration, no
 * "IF NOT EXISTS" (a migration that runs twice must fail loudly). The logical schema is the one
 * the PostgreSQL backend mirrors; docs/storage.md describes it. No code, data only. */
#include "store/backend.h"

/* The SQL reads as a table: keep clang-format away from it. */
// clang-format off
const char *const sb_store_sqlite_migrations[] = {
    /* 1: posts, decisions, stream cursors, policy versions. Times are Unix milliseconds;
     * JSON columns hold compact JSON text. */
    "PRAGMA application_id = 1396863588;"    /* 'SBrd': marks the file as a switchboard store */

    "CREATE TABLE posts ("
    "  id                INTEGER PRIMARY KEY,"
    "  platform          TEXT NOT NULL,"     /* sb_platform_name: mastodon | bluesky */
    "  post_id           TEXT NOT NULL,"     /* Mastodon status id / Bluesky at:// URI */
    "  post_key          INTEGER NOT NULL,"  /* sb_store_key(platform, post_id): dedupe */
    "  cid               TEXT,"
    "  account           TEXT,"              /* brand account that received it */
    "  kind              TEXT NOT NULL,"     /* mention | reply | direct | comment */
    "  author_id         TEXT,"
    "  author_key        INTEGER NOT NULL DEFAULT 0," /* hash of platform+author_id */
    "  author_handle     TEXT,"
    "  author_name       TEXT,"
    "  author_followers  INTEGER NOT NULL DEFAULT -1,"
    "  author_verified   INTEGER NOT NULL DEFAULT 0,"
    "  author_bot        INTEGER NOT NULL DEFAULT 0,"
    "  author_created_at TEXT,"
    "  text              TEXT,"
    "  lang              TEXT,"
    "  url               TEXT,"
    "  created_at        TEXT,"              /* as the platform sent it (ISO 8601) */
    "  created_ms        INTEGER NOT NULL DEFAULT 0,"
    "  visibility        TEXT,"
    "  thread            TEXT,"
    "  thread_key        INTEGER NOT NULL DEFAULT 0," /* hash of platform+thread: the index key */
    "  thread_cid        TEXT,"
    "  in_reply_to       TEXT,"
    "  in_reply_to_cid   TEXT,"
    "  mentions          TEXT NOT NULL DEFAULT '[]'," /* [{\"id\":..,\"handle\":..}] */
    "  tags              TEXT NOT NULL DEFAULT '[]',"
    "  links             TEXT NOT NULL DEFAULT '[]',"
    "  raw               TEXT,"              /* platform JSON, <= 1 MiB, for replay/diff */
    "  received_at       INTEGER NOT NULL,"
    "  deleted_at        INTEGER"
    ");"
    /* Dedupe is (platform, post_id), found through the integer post_key: the writer looks the
     * key up and compares the text inside its write transaction (sqlite.c), which holds
     * SQLite's single write lock, so two writers cannot both insert. An integer index stays a
     * fraction of the size of a text index on at:// URIs, and inserts stay fast as it grows. */
    "CREATE INDEX posts_key ON posts (post_key);"
    /* Threads and authors are looked up by a 64-bit hash of the text key (then the text is
     * compared): an integer index is a fraction of the size of one on ~70-byte at:// URIs,
     * which keeps inserts fast when a large batch lands. */
    "CREATE INDEX posts_thread ON posts (thread_key);"
    "CREATE INDEX posts_author ON posts (author_key);"

    "CREATE TABLE decisions ("
    "  id             INTEGER PRIMARY KEY,"
    "  post_rowid     INTEGER NOT NULL REFERENCES posts (id),"
    "  action         TEXT NOT NULL,"        /* acknowledge | move_to_private | escalate | ignore */
    "  reply          TEXT,"
    "  message        TEXT,"
    "  queue          TEXT,"                 /* escalate only, else NULL */
    "  priority       TEXT,"                 /* escalate only: urgent | high | normal | low */
    "  reasons        TEXT NOT NULL DEFAULT '[]',"
    "  error          TEXT,"                 /* {code, message, file, line, traceback} */
    "  policy_version TEXT,"
    "  latency_ns     INTEGER NOT NULL DEFAULT 0,"
    "  decided_at     INTEGER NOT NULL"
    ");"
    "CREATE INDEX decisions_post ON decisions (post_rowid);"

    "CREATE TABLE stream_cursors ("
    "  stream     TEXT PRIMARY KEY,"         /* e.g. bluesky:jetstream:<account> */
    "  value      INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"

    "CREATE TABLE policy_versions ("
    "  hash          TEXT PRIMARY KEY,"
    "  first_seen_at INTEGER NOT NULL,"
    "  files         TEXT"                   /* JSON description of the policy's files */
    ");",

    /* 2: the outbox — one row per platform effect of a decision (public reply, direct
     * message), written in the decision's transaction and moved through its states by the
     * sender (store.h, docs/storage.md). */
    "CREATE TABLE outbox ("
    "  id               INTEGER PRIMARY KEY,"
    "  post_rowid       INTEGER NOT NULL REFERENCES posts (id),"
    "  decision_id      INTEGER NOT NULL REFERENCES decisions (id),"
    "  platform         TEXT NOT NULL,"      /* mastodon | bluesky */
    "  account          TEXT,"               /* brand account that sends it */
    "  kind             TEXT NOT NULL"
    "                   CHECK (kind IN ('public_reply', 'direct_message')),"
    "  idem_key         TEXT NOT NULL UNIQUE," /* sb_effects_key: 32 hex digits */
    "  target_id        TEXT NOT NULL,"      /* the post answered */
    "  target_cid       TEXT,"
    "  root_id          TEXT,"               /* thread root (Bluesky reply.root) */
    "  root_cid         TEXT,"
    "  recipient_id     TEXT,"               /* the post's author */
    "  recipient_handle TEXT,"
    "  text             TEXT NOT NULL,"
    "  state            TEXT NOT NULL DEFAULT 'pending'"
    "                   CHECK (state IN ('pending', 'sending', 'sent', 'retry', 'dead',"
    "                                    'reconcile', 'cancelled')),"
    "  attempts         INTEGER NOT NULL DEFAULT 0,"
    "  next_at          INTEGER NOT NULL,"   /* due time; while sending, the lease end */
    "  first_attempt_at INTEGER,"            /* start of the idempotency window */
    "  last_attempt_at  INTEGER,"
    "  lease_until      INTEGER,"            /* sending only */
    "  last_status      INTEGER,"            /* HTTP status of the last outcome */
    "  last_error       TEXT,"               /* the platform's error, for humans */
    "  remote_id        TEXT,"               /* what the platform created */
    "  remote_cid       TEXT,"
    "  created_at       INTEGER NOT NULL,"
    "  updated_at       INTEGER NOT NULL"
    ");"
    /* The sender's poll: state IN (pending, retry, sending) AND next_at <= now. */
    "CREATE INDEX outbox_due ON outbox (state, next_at);"
    /* Cancelling the entries of a deleted post. */
    "CREATE INDEX outbox_post ON outbox (post_rowid);",

    /* 3, …: cases, case events, agents, sessions — append here. */
};
// clang-format on

const int sb_store_sqlite_migrations_count =
    (int)(sizeof sb_store_sqlite_migrations / sizeof sb_store_sqlite_migrations[0]);
