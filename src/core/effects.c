/* effects.c — effects planning (decision → public reply / direct message), idempotency keys
 * (SipHash-2-4-128 written here) and the Bluesky record key derived from them.
 * Pure: depends on core/post.h and core/decision.h for names only; no I/O, no allocation. */
#include "core/effects.h"

#include <string.h>

static const char *const kind_names[SB_EFFECT__COUNT] = {"public_reply", "direct_message"};

const char *sb_effect_kind_name(enum sb_effect_kind k)
{
    return (unsigned)k < SB_EFFECT__COUNT ? kind_names[k] : "unknown";
}

int sb_effect_kind_from_name(const char *s)
{
    for (int i = 0; s && i < SB_EFFECT__COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

/* ---- SipHash-2-4-128, streaming ---------------------------------------------------------- */

struct sip {
    uint64_t v0, v1, v2, v3;
    uint64_t tail; /* up to 7 pending bytes, little-endian */
    size_t len;    /* total bytes absorbed */
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = ROTL(s->v2, 32);
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void sip_init(struct sip *s, const unsigned char key[16])
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    s->v0 = 0x736f6d6570736575ull ^ k0;
    s->v1 = 0x646f72616e646f6dull ^ k1 ^ 0xee; /* 0xee: the 128-bit output variant */
    s->v2 = 0x6c7967656e657261ull ^ k0;
    s->v3 = 0x7465646279746573ull ^ k1;
    s->tail = 0;
    s->len = 0;
}

static void sip_block(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

static void sip_update(struct sip *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        s->tail |= (uint64_t)p[i] << (8 * (s->len % 8));
        if (++s->len % 8 == 0) {
            sip_block(s, s->tail);
            s->tail = 0;
        }
    }
}

static void sip_final(struct sip *s, unsigned char out[16])
{
    sip_block(s, s->tail | ((uint64_t)(s->len & 0xff) << 56));
    s->v2 ^= 0xee;
    for (int i = 0; i < 4; i++)
        sip_round(s);
    uint64_t a = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
    s->v1 ^= 0xdd;
    for (int i = 0; i < 4; i++)
        sip_round(s);
    uint64_t b = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(a >> (8 * i));
        out[8 + i] = (unsigned char)(b >> (8 * i));
    }
}

void sb_effects_siphash128(const unsigned char key[16], const void *data, size_t n,
                           unsigned char out[16])
{
    struct sip s;
    sip_init(&s, key);
    sip_update(&s, data, n);
    sip_final(&s, out);
}

/* ---- keys ---------------------------------------------------------------------------------- */

/* Fixed forever: every stored idempotency key depends on it. */
static const unsigned char effect_key_secret[16] = {'s', 'w', 'i', 't', 'c', 'h', 'b', 'o',
                                                    'a', 'r', 'd', '.', 'e', 'f', 'f', '1'};

/* A field as 0xff (absent) or 0x00 + 4-byte length + bytes, so no two field lists hash the same
 * input ("ab","c" vs "a","bc"; NULL vs ""). */
static void sip_field(struct sip *s, const char *v)
{
    unsigned char hdr[5];
    if (!v) {
        hdr[0] = 0xff;
        sip_update(s, hdr, 1);
        return;
    }
    size_t n = strlen(v);
    hdr[0] = 0;
    for (int i = 0; i < 4; i++)
        hdr[1 + i] = (unsigned char)((uint64_t)n >> (8 * i));
    sip_update(s, hdr, sizeof hdr);
    sip_update(s, v, n);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

void sb_effects_key(enum sb_platform platform, const char *account, const char *target_id,
                    enum sb_effect_kind kind, char out[SB_EFFECT_KEY_LEN + 1])
{
    struct sip s;
    unsigned char h[16];
    sip_init(&s, effect_key_secret);
    sip_field(&s, "sb-effect-v1");
    sip_field(&s, sb_platform_name(platform));
    sip_field(&s, account);
    sip_field(&s, target_id);
    sip_field(&s, sb_effect_kind_name(kind));
    sip_final(&s, h);
    hex(h, sizeof h, out);
}

void sb_effects_key_revision(enum sb_platform platform, const char *account, const char *target_id,
                             enum sb_effect_kind kind, const char *revision,
                             char out[SB_EFFECT_KEY_LEN + 1])
{
    if (!revision) {
        sb_effects_key(platform, account, target_id, kind, out);
        return;
    }
    struct sip s;
    unsigned char h[16];
    sip_init(&s, effect_key_secret);
    sip_field(&s, "sb-effect-v1-revision");
    sip_field(&s, sb_platform_name(platform));
    sip_field(&s, account);
    sip_field(&s, target_id);
    sip_field(&s, sb_effect_kind_name(kind));
    sip_field(&s, revision);
    sip_final(&s, h);
    hex(h, sizeof h, out);
}

void sb_effects_rekey(struct sb_effect *fx, size_t n, const char *revision)
{
    for (size_t i = 0; i < n; i++)
        sb_effects_key_revision(fx[i].platform, fx[i].account, fx[i].target_id, fx[i].kind,
                                revision, fx[i].idem_key);
}

void sb_effects_bluesky_rkey(const char *key, char out[SB_EFFECT_RKEY_LEN + 1])
{
    static const char b32[] = "234567abcdefghijklmnopqrstuvwxyz";
    struct sip s;
    unsigned char h[16];
    sip_init(&s, effect_key_secret);
    sip_field(&s, "sb-rkey-v1");
    sip_field(&s, key ? key : "");
    sip_final(&s, h);
    /* 63 bits, top bit clear: 13 base32 digits, most significant first, so the first digit is
     * at most 7 ('b'), as in a TID */
    uint64_t v = load_le64(h) & 0x7fffffffffffffffull;
    for (int i = SB_EFFECT_RKEY_LEN - 1; i >= 0; i--) {
        out[i] = b32[v & 31];
        v >>= 5;
    }
    out[SB_EFFECT_RKEY_LEN] = 0;
}

/* ---- planning ------------------------------------------------------------------------------ */

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static bool post_is_private(const struct sb_post *p)
{
    return p->kind == SB_POST_DIRECT || (p->visibility && strcmp(p->visibility, "direct") == 0);
}

static void fill(struct sb_effect *e, const struct sb_post *p, enum sb_effect_kind kind,
                 const char *text)
{
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->platform = p->platform;
    e->account = p->account;
    e->target_id = p->id;
    e->target_cid = p->cid;
    /* a root post is its own root; then its CID is the root CID too */
    bool is_root = !p->thread || strcmp(p->thread, p->id) == 0;
    e->root_id = is_root ? p->id : p->thread;
    e->root_cid = is_root ? p->cid : p->thread_cid;
    e->recipient_id = p->author.id;
    e->recipient_handle = p->author.handle;
    e->text = text;
    sb_effects_key(p->platform, p->account, p->id, kind, e->idem_key);
}

enum sb_err sb_effects_plan(const struct sb_post *p, const struct sb_decision *d,
                            struct sb_effect *out, size_t max, size_t *n)
{
    const char *reply, *message, *pub = NULL, *dm = NULL;
    size_t k = 0;

    if (n)
        *n = 0;
    if (!p || !d || !n || (max && !out))
        return SB_ERR_INVAL;
    if (!p->id || !*p->id ||
        (p->platform != SB_PLATFORM_MASTODON && p->platform != SB_PLATFORM_BLUESKY))
        return SB_ERR_INVAL;
    reply = nonempty(d->reply);
    message = nonempty(d->message);
    bool private_post = post_is_private(p);

    switch (d->action) {
    case SB_ACTION_ACKNOWLEDGE:
        if (!reply)
            return SB_ERR_INVAL;
        pub = reply;
        break;
    case SB_ACTION_MOVE_TO_PRIVATE:
        /* on a private post the reply has nowhere public to go: the DM carries the text */
        if (!message && !(private_post && reply))
            return SB_ERR_INVAL;
        pub = reply;
        dm = message ? message : reply;
        break;
    case SB_ACTION_ESCALATE:
        pub = reply;
        break;
    case SB_ACTION_IGNORE:
        break;
    default:
        return SB_ERR_INVAL;
    }
    if (private_post) {
        if (!dm)
            dm = pub;
        pub = NULL;
    }
    size_t need = (pub != NULL) + (dm != NULL);
    if (need > max)
        return SB_ERR_TOOBIG;
    if (pub)
        fill(&out[k++], p, SB_EFFECT_PUBLIC_REPLY, pub);
    if (dm)
        fill(&out[k++], p, SB_EFFECT_DIRECT_MESSAGE, dm);
    *n = k;
    return SB_OK;
}
