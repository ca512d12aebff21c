/* effects.h — what a decision does on the platform (design §1 step 6), as plain data.
 *
 * sb_effects_plan turns (post, decision) into at most SB_EFFECTS_MAX effects: a public reply
 * and/or a direct message. Each effect carries a deterministic idempotency key, so planning the
 * same decision again (a replay, a re-fetch after a crash) yields the same keys and the outbox's
 * unique key refuses the second copy; the platform connectors send the key (Mastodon
 * Idempotency-Key) or a record key derived from it (Bluesky rkey) so a retried request cannot
 * create a second post either. Pure: no I/O, no clock, no allocation. */
#ifndef SB_EFFECTS_H
#define SB_EFFECTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/decision.h"
#include "core/post.h"
#include "util/err.h"

enum sb_effect_kind { SB_EFFECT_PUBLIC_REPLY = 0, SB_EFFECT_DIRECT_MESSAGE, SB_EFFECT__COUNT };

/* A decision yields at most this many effects (public reply + direct message). */
#define SB_EFFECTS_MAX 2
/* Lowercase hex of the 128-bit key, without the terminator. */
#define SB_EFFECT_KEY_LEN 32
/* A Bluesky TID-shaped record key, without the terminator. */
#define SB_EFFECT_RKEY_LEN 13

struct sb_effect {
    enum sb_effect_kind kind;
    enum sb_platform platform;
    /* Every pointer below is borrowed from the post or the decision given to sb_effects_plan:
     * keep those alive (and unchanged) while the effect is used. NULL when the post had none. */
    const char *account;          /* brand account that sends it (the post's account) */
    const char *target_id;        /* the post answered: Mastodon status id / Bluesky at:// URI */
    const char *target_cid;       /* Bluesky CID of the target (reply.parent strong ref) */
    const char *root_id;          /* thread root (reply.root); the target itself for a root */
    const char *root_cid;         /* Bluesky CID of the root */
    const char *recipient_id;     /* the post's author: Mastodon account id / Bluesky DID */
    const char *recipient_handle; /* acct / Bluesky handle, without '@' */
    const char *text;             /* what to send: the decision's reply or message */
    char idem_key[SB_EFFECT_KEY_LEN + 1]; /* sb_effects_key of this effect */
};

/* Plan the effects of decision d about post p into out[0 .. *n):
 *   acknowledge      public reply (d->reply, required)
 *   move_to_private  public reply (if d->reply) + direct message (d->message, required)
 *   escalate         public holding reply, if d->reply
 *   ignore           nothing
 * A post that is itself private (kind direct, or visibility "direct") never gets a public reply:
 * the text goes as a direct message instead (for move_to_private the message, or the reply when
 * there is no message), so at most one direct message is planned for it. Empty strings count as
 * absent. Public reply first, then the direct message.
 * Errors: SB_ERR_INVAL (NULL argument, p->id missing, unknown platform or action, a required
 * text missing), SB_ERR_TOOBIG (max smaller than the number of effects). On error *n is 0. */
enum sb_err sb_effects_plan(const struct sb_post *p, const struct sb_decision *d,
                            struct sb_effect *out, size_t max, size_t *n);

/* The idempotency key of one effect: lowercase hex (SB_EFFECT_KEY_LEN chars + NUL) of
 * SipHash-2-4-128 under a fixed key over the length-prefixed fields (platform name, account,
 * target post id, effect kind name). Deterministic forever: changing the function would let a
 * replay send an effect twice, so any change needs a new version tag in the hashed input.
 * account and target_id may be NULL (hashed as absent, distinct from ""). */
void sb_effects_key(enum sb_platform platform, const char *account, const char *target_id,
                    enum sb_effect_kind kind, char out[SB_EFFECT_KEY_LEN + 1]);

/* The key of an effect planned again for a later revision of the same post (an edit):
 * revision (e.g. a hash of the edited text) is hashed too, under its own version tag, so the
 * replies to an edit never collide with the cancelled ones of the original, and the same edit
 * delivered twice gives the same keys. revision NULL gives sb_effects_key. */
void sb_effects_key_revision(enum sb_platform platform, const char *account, const char *target_id,
                             enum sb_effect_kind kind, const char *revision,
                             char out[SB_EFFECT_KEY_LEN + 1]);
/* Re-key fx[0 .. n) for revision (see above). */
void sb_effects_rekey(struct sb_effect *fx, size_t n, const char *revision);

/* A Bluesky record key derived from an idempotency key: 13 characters of the base32-sortable
 * alphabet "234567abcdefghijklmnopqrstuvwxyz" encoding a 63-bit value (top bit zero), i.e. the
 * shape of a TID, so createRecord accepts it for app.bsky.feed.post; the same key always gives
 * the same rkey, so a retried createRecord cannot make a second post. (The "timestamp" inside is
 * a hash, not a time; nothing orders posts by rkey.) key is NUL-terminated text. */
void sb_effects_bluesky_rkey(const char *key, char out[SB_EFFECT_RKEY_LEN + 1]);

/* SipHash-2-4 with 128-bit output (the reference algorithm; exposed for its test vectors). */
void sb_effects_siphash128(const unsigned char key[16], const void *data, size_t n,
                           unsigned char out[16]);

/* "public_reply" | "direct_message" ("unknown" out of range); from_name: -1 if unknown. */
const char *sb_effect_kind_name(enum sb_effect_kind k);
int sb_effect_kind_from_name(const char *s);

#endif
