/* post.h — the platform-neutral post (design §2), the core's input.
 *
 * A post is plain data: a public struct whose strings all live in one arena owned by the
 * post (sb_post_init / sb_post_reset / sb_post_free). Mappers fill it; the policy runtime
 * reads it; the store records it. No I/O here. */
#ifndef SB_POST_H
#define SB_POST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

enum sb_platform {
    SB_PLATFORM_UNKNOWN = 0,
    SB_PLATFORM_MASTODON,
    SB_PLATFORM_BLUESKY,
    SB_PLATFORM__COUNT
};

enum sb_post_kind { SB_POST_MENTION = 0, SB_POST_REPLY, SB_POST_DIRECT, SB_POST_COMMENT };

/* Limits on what a post may carry; a mapper truncates lists and rejects oversized text. */
#define SB_POST_TEXT_MAX (64u * 1024u)
#define SB_POST_LIST_MAX 64

struct sb_mention {
    const char *id;     /* platform account id / DID; may be NULL */
    const char *handle; /* without leading '@'; may be NULL */
};

struct sb_author {
    const char *id;     /* Mastodon account id, Bluesky DID */
    const char *handle; /* acct (user or user@domain) / Bluesky handle; may be NULL */
    const char *name;   /* display name; falls back to handle, then id */
    int64_t followers;  /* -1 when unknown */
    bool verified;
    bool bot;
    const char *created_at; /* ISO 8601 or NULL */
};

struct sb_post {
    enum sb_platform platform;
    enum sb_post_kind kind;
    const char *id;              /* Mastodon status id; Bluesky at:// URI */
    const char *cid;             /* Bluesky record CID (for strong refs); NULL elsewhere */
    const char *account;         /* brand account that received it; may be NULL */
    const char *text;            /* plain text: HTML removed, entities decoded, valid UTF-8 */
    const char *lang;            /* ISO 639-1 or NULL */
    const char *url;             /* public URL or NULL */
    const char *created_at;      /* ISO 8601 */
    int64_t created_ms;          /* created_at as Unix ms, 0 when unparseable */
    const char *visibility;      /* public|unlisted|private|direct */
    const char *thread;          /* root post id of the conversation (own id if a root) */
    const char *thread_cid;      /* Bluesky root CID */
    const char *in_reply_to;     /* parent post id or NULL */
    const char *in_reply_to_cid; /* Bluesky parent CID */
    struct sb_mention *mentions;
    size_t n_mentions;
    const char **tags; /* without '#' */
    size_t n_tags;
    const char **links;
    size_t n_links;
    struct sb_author author;
    struct sb_arena *arena; /* owns every string above */
};

/* Zero the post and give it an arena; SB_ERR_NOMEM on failure. */
enum sb_err sb_post_init(struct sb_post *p);
/* Forget the contents, keep the arena for reuse. */
void sb_post_reset(struct sb_post *p);
void sb_post_free(struct sb_post *p);

const char *sb_platform_name(enum sb_platform p);
enum sb_platform sb_platform_from_name(const char *s);
const char *sb_post_kind_name(enum sb_post_kind k);
/* -1 when unknown */
int sb_post_kind_from_name(const char *s);

/* Parse an ISO 8601 / RFC 3339 timestamp ("2022-08-30T23:09:54.070Z", offsets, or a bare date)
 * into Unix milliseconds. Returns false if it cannot be parsed. */
bool sb_time_parse_iso8601(const char *s, int64_t *out_ms);

/* What a mapper made of one platform event. */
enum sb_event_type {
    SB_EVENT_POST = 0, /* a new post: ev->post is filled */
    SB_EVENT_UPDATE,   /* an edited post: ev->post is filled */
    SB_EVENT_DELETE,   /* ev->post.platform and ev->post.id name the deleted post */
    SB_EVENT_SKIP      /* understood, not a post: ev->skip_kind says what it was */
};

struct sb_event {
    enum sb_event_type type;
    struct sb_post post;
    const char *skip_kind; /* static string, e.g. "commit:app.bsky.feed.like", "identity" */
    int64_t cursor;        /* stream position to persist (Jetstream time_us), 0 if none */
};

/* Event helpers: init gives the embedded post an arena; reset reuses it. */
enum sb_err sb_event_init(struct sb_event *ev);
void sb_event_reset(struct sb_event *ev);
void sb_event_free(struct sb_event *ev);

/* Append the post as one normalized JSON object (the format `policy try` and replay accept).
 * Declared here, implemented in core/post_json.c. */
struct sb_buf;
enum sb_err sb_post_to_json(const struct sb_post *p, struct sb_buf *out);

#endif
