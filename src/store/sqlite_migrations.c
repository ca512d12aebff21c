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

    /* 3: the human side (design §3, store/cases.h): console agents and their sessions, cases
     * (a thread owned by the policy, a human or nobody any more) and their append-only events.
     * A 0 in the C structs (no agent, no post, no time yet) is NULL here, so every reference is
     * a real foreign key. */
    "CREATE TABLE agents ("
    "  id         INTEGER PRIMARY KEY,"
    "  name       TEXT NOT NULL UNIQUE,"     /* login name */
    "  role       TEXT NOT NULL,"            /* agent | supervisor | admin (sb_role_name) */
    "  queues     TEXT NOT NULL DEFAULT ''," /* comma-separated names; '' = every queue */
    "  pw_hash    TEXT NOT NULL,"            /* argon2id string; never leaves the process */
    "  disabled   INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL"
    ");"

    "CREATE TABLE sessions ("
    "  token_hash TEXT PRIMARY KEY,"         /* hash of the cookie's token, never the token */
    "  agent_id   INTEGER NOT NULL REFERENCES agents (id),"
    "  csrf       TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL"          /* valid while now < expires_at */
    ") WITHOUT ROWID;"
    "CREATE INDEX sessions_agent ON sessions (agent_id);"
    "CREATE INDEX sessions_expires ON sessions (expires_at);"

    "CREATE TABLE cases ("
    "  id                 INTEGER PRIMARY KEY,"
    "  version            INTEGER NOT NULL," /* 1 at creation, + 1 by every update */
    "  platform           TEXT NOT NULL,"    /* mastodon | bluesky */
    "  account            TEXT,"             /* brand account the thread reached */
    "  thread_id          TEXT NOT NULL,"    /* thread root: status id / at:// URI */
    "  thread_key         INTEGER NOT NULL," /* sb_store_key(platform, thread_id) */
    "  queue              TEXT NOT NULL,"
    "  owner              TEXT NOT NULL"
    "                     CHECK (owner IN ('policy', 'human', 'closed')),"
    "  assignee           INTEGER REFERENCES agents (id)," /* NULL = unclaimed */
    "  priority           INTEGER NOT NULL"  /* enum sb_priority: 0 urgent, 1 high, 2 normal, */
    "                     CHECK (priority BETWEEN 0 AND 3)," /* 3 low: sorts urgent first */
    "  first_due          INTEGER,"          /* SLA clocks (case.h); NULL = none */
    "  next_due           INTEGER,"
    "  first_responded_at INTEGER,"
    "  due_at             INTEGER NOT NULL," /* list key: sb_case_list_due, the running clock */
                                             /* that ends first, 9223372036854775807 if none */
    "  first_post_rowid   INTEGER NOT NULL REFERENCES posts (id)," /* the escalated post */
    "  last_post_rowid    INTEGER REFERENCES posts (id)," /* the customer's latest */
    "  author_id          TEXT,"
    "  author_handle      TEXT,"
    "  summary            TEXT NOT NULL DEFAULT ''," /* first post's text, cut, for lists */
    "  created_at         INTEGER NOT NULL,"
    "  updated_at         INTEGER NOT NULL,"
    "  last_customer_at   INTEGER,"
    "  closed_at          INTEGER"
    ");"
    /* Ingest asks for every post whether a human owns its thread: an integer key, as on
     * posts, then the text is compared; the newest case of a thread is the last in the key. */
    "CREATE INDEX cases_thread ON cases (thread_key);"
    /* Lists (sb_store_case_list): one index range per (owner, queue) already in list order and
     * cut at the page size, keyset-paged by (priority, due_at, id) > (after…); several queues
     * are merged from one range each. Every queue (supervisors) and one agent's cases (or the
     * unclaimed ones) have their own order. */
    "CREATE INDEX cases_queue ON cases (owner, queue, priority, due_at, id);"
    "CREATE INDEX cases_owner ON cases (owner, priority, due_at, id);"
    "CREATE INDEX cases_assignee ON cases (assignee, owner, priority, due_at, id);"
    /* Queue statistics read only this index (covering): a backlog of 100k open cases costs
     * one pass over small index rows, not 100k table lookups. */
    "CREATE INDEX cases_stats ON cases (owner, queue, assignee, due_at, created_at);"

    "CREATE TABLE case_events ("
    "  id         INTEGER PRIMARY KEY,"      /* history order */
    "  case_id    INTEGER NOT NULL REFERENCES cases (id),"
    "  at         INTEGER NOT NULL,"
    "  actor_id   INTEGER REFERENCES agents (id)," /* NULL = the system (policy, platform) */
    "  kind       TEXT NOT NULL,"            /* escalated | post | claimed | … (sb_case_event */
                                             /* _name); no CHECK: a new kind needs no rebuild */
    "  post_rowid INTEGER REFERENCES posts (id),"  /* escalated, post */
    "  outbox_id  INTEGER REFERENCES outbox (id)," /* reply, delivered, failed */
    "  detail     TEXT NOT NULL DEFAULT '{}'" /* JSON object: reasons, note, transfer, … */
    ");"
    "CREATE INDEX case_events_case ON case_events (case_id);"
    /* The case of a delivered agent reply (sb_store_case_by_outbox); most events name no entry. */
    "CREATE INDEX case_events_outbox ON case_events (outbox_id) WHERE outbox_id IS NOT NULL;"
    /* The history is append-only: what happened stays what happened. */
    "CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events"
    "  BEGIN SELECT RAISE (ABORT, 'case_events is append-only'); END;"
    "CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events"
    "  BEGIN SELECT RAISE (ABORT, 'case_events is append-only'); END;"
    /* A customer answering one of our replies names its remote id: that finds the thread
     * (sb_store_outbox_by_remote), and the thread its case. */
    "CREATE INDEX outbox_remote ON outbox (remote_id) WHERE remote_id IS NOT NULL;",

    /* 4, …: append here. */
};
// clang-format on

const int sb_store_sqlite_migrations_count =
    (int)(sizeof sb_store_sqlite_migrations / sizeof sb_store_sqlite_migrations[0]);
