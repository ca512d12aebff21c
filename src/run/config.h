/* config.h — `switchboard run -c switchboard.lua`: the configuration is a Lua file returning a
 * table (design §8). It runs in its own minimal Lua state with `env(name)` (read an environment
 * variable; secrets belong there, not in the file) and no other access to the system. */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stdbool.h>

#include "core/case.h"
#include "core/post.h"
#include "util/err.h"

#define SB_CONFIG_ACCOUNTS_MAX 16
#define SB_CONFIG_QUEUES_MAX 32

struct sb_account_conf {
    enum sb_platform platform;
    char *name; /* label used in logs and stream cursors */
    /* Mastodon */
    char *base_url;      /* https://mastodon.example */
    char *streaming_url; /* optional; default derived from base_url */
    char *token;         /* secret: never logged */
    /* Bluesky */
    char *pds_url;       /* https://bsky.social */
    char *jetstream_url; /* wss://jetstream…/subscribe */
    char *identifier;    /* handle or DID */
    char *password;      /* app password: secret */
    /* first start (no cursor yet): also answer mentions up to this many seconds old (0 = only
     * new ones; Mastodon looks at the latest page of 40 at most) */
    long backfill_secs;
};

struct sb_config {
    char *path;
    char *store;  /* store URL (default "switchboard.db") */
    char *policy; /* policy directory (default "policies") */
    bool dry_run; /* decide and record, never send */
    bool paused;  /* kill switch: everything escalates, nothing is sent automatically */
    bool hold;    /* decide and queue as usual, send nothing until restarted without it */
    bool pretty;  /* also print one human line per post on stdout (the demo) */
    int reply_budget_author; /* automated replies to one author per 24 h (0 = no limit) */
    int reply_budget_bot;    /* automated replies to one bot account per 24 h */
    struct sb_account_conf accounts[SB_CONFIG_ACCOUNTS_MAX];
    int n_accounts;
    /* Human queues (design §3), sorted by name. When the file names none, the defaults are
     * support, billing, legal, safety, vip, social-media and policy-errors. */
    struct sb_queue_conf queues[SB_CONFIG_QUEUES_MAX];
    int n_queues;
    /* The agent console (docs/console-api.md); off unless the file has a `console` table. */
    struct {
        bool enabled;
        char *listen;      /* "127.0.0.1:8080" */
        char *origin;      /* "http://127.0.0.1:8080": the only Origin allowed to talk to it */
        char *web;         /* directory of the console's static files (default "web") */
        int session_hours; /* login lifetime (default 12) */
    } console;
};

/* The queue named name, or NULL. */
const struct sb_queue_conf *sb_config_queue(const struct sb_config *c, const char *name);
/* "90", "15m", "2h", "1d" or an integer number of seconds → seconds; -1 when malformed. */
long sb_config_duration(const char *s);

/* Load and validate; on error eb names the field. *c is filled (sb_config_free). */
enum sb_err sb_config_load(const char *path, struct sb_config *c, struct sb_errbuf *eb);
void sb_config_free(struct sb_config *c);

#endif
