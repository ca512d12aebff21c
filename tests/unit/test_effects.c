/* test_effects.c — effects planning (core/effects.c): what each action plans on public and
 * private posts, the strong refs handed to Bluesky, idempotency keys (SipHash-2-4-128 reference
 * vectors, determinism, uniqueness, a pinned value that must never change) and the Bluesky
 * record key's shape. Pure: no store, no network. */
#include <stdint.h>
#include <stdlib.h>

#include "core/effects.h"
#include "t.h"

static void make_post(struct sb_post *p, enum sb_platform pl, const char *id)
{
    sb_post_init(p);
    p->platform = pl;
    p->kind = SB_POST_MENTION;
    p->id = id;
    p->account = "brand";
    p->text = "my order never arrived";
    p->visibility = "public";
    p->thread = id;
    p->author.id = "acct-7";
    p->author.handle = "ana@example.org";
}

static void make_decision(struct sb_decision *d, enum sb_action a, const char *reply,
                          const char *message)
{
    sb_decision_init(d);
    d->action = a;
    d->reply = reply;
    d->message = message;
    d->queue = "support";
}

static bool is_hex_key(const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", k[i]))
            return false;
    return n == SB_EFFECT_KEY_LEN;
}

static void test_plan_public_post(void)
{
    struct sb_post p;
    struct sb_decision d;
    struct sb_effect fx[SB_EFFECTS_MAX];
    size_t n = 99;

    make_post(&p, SB_PLATFORM_MASTODON, "109");

    make_decision(&d, SB_ACTION_ACKNOWLEDGE, "Thanks @ana, on it", NULL);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(fx[0].kind, SB_EFFECT_PUBLIC_REPLY);
    T_INTEQ(fx[0].platform, SB_PLATFORM_MASTODON);
    T_STREQ(fx[0].text, "Thanks @ana, on it");
    T_STREQ(fx[0].account, "brand");
    T_STREQ(fx[0].target_id, "109");
    T_STREQ(fx[0].root_id, "109"); /* a root post is its own root */
    T_STREQ(fx[0].recipient_id, "acct-7");
    T_STREQ(fx[0].recipient_handle, "ana@example.org");
    T_CHECK(fx[0].target_cid == NULL && fx[0].root_cid == NULL);
    T_CHECK(is_hex_key(fx[0].idem_key));

    /* acknowledge needs its reply; "" is no reply */
    d.reply = NULL;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_ERR_INVAL);
    T_INTEQ(n, 0);
    d.reply = "";
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_ERR_INVAL);
    sb_decision_free(&d);

    /* move_to_private: public reply first, then the DM; each with its own key */
    make_decision(&d, SB_ACTION_MOVE_TO_PRIVATE, "We've sent you a DM", "Hi Ana, your order #");
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 2);
    T_INTEQ(fx[0].kind, SB_EFFECT_PUBLIC_REPLY);
    T_STREQ(fx[0].text, "We've sent you a DM");
    T_INTEQ(fx[1].kind, SB_EFFECT_DIRECT_MESSAGE);
    T_STREQ(fx[1].text, "Hi Ana, your order #");
    T_STREQ(fx[1].recipient_id, "acct-7");
    T_STREQ(fx[1].target_id, "109");
    T_CHECK(strcmp(fx[0].idem_key, fx[1].idem_key) != 0);
    /* room for only one: refused whole, nothing half-planned */
    T_INTEQ(sb_effects_plan(&p, &d, fx, 1, &n), SB_ERR_TOOBIG);
    T_INTEQ(n, 0);
    /* public reply is optional */
    d.reply = NULL;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(fx[0].kind, SB_EFFECT_DIRECT_MESSAGE);
    /* the message is not */
    d.reply = "We've sent you a DM";
    d.message = NULL;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_ERR_INVAL);
    sb_decision_free(&d);

    /* escalate: a holding reply only when there is one */
    make_decision(&d, SB_ACTION_ESCALATE, "A colleague will get back to you", NULL);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(fx[0].kind, SB_EFFECT_PUBLIC_REPLY);
    d.reply = NULL;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 0);
    T_INTEQ(sb_effects_plan(&p, &d, NULL, 0, &n), SB_OK); /* nothing to plan needs no room */
    sb_decision_free(&d);

    /* ignore: nothing, whatever texts the decision carries */
    make_decision(&d, SB_ACTION_IGNORE, "stray", "stray");
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 0);
    sb_decision_free(&d);
    sb_post_free(&p);
}

static void test_plan_private_post(void)
{
    struct sb_post p;
    struct sb_decision d;
    struct sb_effect fx[SB_EFFECTS_MAX];
    size_t n = 0;

    /* a direct message to the brand: nothing may go out publicly */
    make_post(&p, SB_PLATFORM_MASTODON, "200");
    p.kind = SB_POST_DIRECT;
    p.visibility = "direct";

    make_decision(&d, SB_ACTION_ACKNOWLEDGE, "Thanks, on it", NULL);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(fx[0].kind, SB_EFFECT_DIRECT_MESSAGE);
    T_STREQ(fx[0].text, "Thanks, on it");
    sb_decision_free(&d);

    make_decision(&d, SB_ACTION_MOVE_TO_PRIVATE, "We've sent you a DM", "Details here");
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 1); /* one DM: the message; "we've sent you a DM" has no public place */
    T_INTEQ(fx[0].kind, SB_EFFECT_DIRECT_MESSAGE);
    T_STREQ(fx[0].text, "Details here");
    d.message = NULL; /* the reply stands in for a missing message on a private post */
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 1);
    T_STREQ(fx[0].text, "We've sent you a DM");
    sb_decision_free(&d);

    make_decision(&d, SB_ACTION_ESCALATE, "A colleague will reply", NULL);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(fx[0].kind, SB_EFFECT_DIRECT_MESSAGE);
    sb_decision_free(&d);

    /* a mention whose visibility is direct is private too (Mastodon "DM" mention) */
    p.kind = SB_POST_MENTION;
    make_decision(&d, SB_ACTION_ACKNOWLEDGE, "Thanks", NULL);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 1);
    T_INTEQ(fx[0].kind, SB_EFFECT_DIRECT_MESSAGE);
    /* and a direct-kind post without visibility as well */
    p.kind = SB_POST_DIRECT;
    p.visibility = NULL;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(fx[0].kind, SB_EFFECT_DIRECT_MESSAGE);
    /* followers-only ("private") is still a public-side reply */
    p.kind = SB_POST_MENTION;
    p.visibility = "private";
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(fx[0].kind, SB_EFFECT_PUBLIC_REPLY);
    sb_decision_free(&d);
    sb_post_free(&p);
}

static void test_plan_bluesky_refs_and_errors(void)
{
    struct sb_post p;
    struct sb_decision d;
    struct sb_effect fx[SB_EFFECTS_MAX];
    size_t n = 0;

    /* a reply deep in a thread: parent = the post, root = the thread root */
    make_post(&p, SB_PLATFORM_BLUESKY, "at://did:plc:ana/app.bsky.feed.post/3kreply");
    p.cid = "bafyreply";
    p.thread = "at://did:plc:bob/app.bsky.feed.post/3kroot";
    p.thread_cid = "bafyroot";
    p.in_reply_to = "at://did:plc:bob/app.bsky.feed.post/3kmid";
    p.author.id = "did:plc:ana";
    p.author.handle = "ana.bsky.social";
    make_decision(&d, SB_ACTION_MOVE_TO_PRIVATE, "Check your DMs", "Hello Ana");
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_INTEQ(n, 2);
    T_STREQ(fx[0].target_id, p.id);
    T_STREQ(fx[0].target_cid, "bafyreply");
    T_STREQ(fx[0].root_id, p.thread);
    T_STREQ(fx[0].root_cid, "bafyroot");
    T_STREQ(fx[1].recipient_id, "did:plc:ana");

    /* a root post: root = itself, with its own CID (thread_cid may be unset) */
    p.thread = p.id;
    p.thread_cid = NULL;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_STREQ(fx[0].root_id, p.id);
    T_STREQ(fx[0].root_cid, "bafyreply");
    p.thread = NULL;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_OK);
    T_STREQ(fx[0].root_id, p.id);

    /* refused input */
    T_INTEQ(sb_effects_plan(NULL, &d, fx, SB_EFFECTS_MAX, &n), SB_ERR_INVAL);
    T_INTEQ(sb_effects_plan(&p, NULL, fx, SB_EFFECTS_MAX, &n), SB_ERR_INVAL);
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, NULL), SB_ERR_INVAL);
    T_INTEQ(sb_effects_plan(&p, &d, NULL, 2, &n), SB_ERR_INVAL);
    d.action = SB_ACTION__COUNT;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_ERR_INVAL);
    d.action = SB_ACTION_ACKNOWLEDGE;
    p.platform = SB_PLATFORM_UNKNOWN;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_ERR_INVAL);
    p.platform = SB_PLATFORM_BLUESKY;
    p.id = NULL;
    T_INTEQ(sb_effects_plan(&p, &d, fx, SB_EFFECTS_MAX, &n), SB_ERR_INVAL);
    T_INTEQ(n, 0);
    sb_decision_free(&d);
    sb_post_free(&p);
}

/* veorq/SipHash vectors.h, vectors_sip128: key 00..0f, message 00..len-1. */
static void test_siphash_vectors(void)
{
    static const struct {
        size_t len;
        const char *hex;
    } v[] = {
        {0, "a3817f04ba25a8e66df67214c7550293"},  {1, "da87c1d86b99af44347659119b22fc45"},
        {7, "a1f1ebbed8dbc153c0b84aa61ff08239"},  {8, "3b62a9ba6258f5610f83e264f31497b4"},
        {15, "5493e99933b0a8117e08ec0f97cfc3d9"}, {63, "5150d1772f50834a503e069a973fbd7c"},
    };
    unsigned char key[16], msg[64], out[16];
    char hex[33];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sb_effects_siphash128(key, msg, v[i].len, out);
        for (int k = 0; k < 16; k++)
            snprintf(hex + 2 * k, 3, "%02x", out[k]);
        T_STREQ(hex, v[i].hex);
    }
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_keys(void)
{
    struct sb_post p;
    struct sb_decision d1, d2;
    struct sb_effect a[SB_EFFECTS_MAX], b[SB_EFFECTS_MAX];
    size_t na = 0, nb = 0;
    char k1[SB_EFFECT_KEY_LEN + 1], k2[SB_EFFECT_KEY_LEN + 1];

    /* the same decision planned twice (a replay, a re-delivery): the same keys, even with
     * differently rendered texts and another decision object */
    make_post(&p, SB_PLATFORM_MASTODON, "4242");
    make_decision(&d1, SB_ACTION_MOVE_TO_PRIVATE, "See DMs", "Details");
    make_decision(&d2, SB_ACTION_MOVE_TO_PRIVATE, "See your DMs!", "Other details");
    T_INTEQ(sb_effects_plan(&p, &d1, a, SB_EFFECTS_MAX, &na), SB_OK);
    T_INTEQ(sb_effects_plan(&p, &d2, b, SB_EFFECTS_MAX, &nb), SB_OK);
    T_INTEQ(na, 2);
    T_INTEQ(nb, 2);
    T_STREQ(a[0].idem_key, b[0].idem_key);
    T_STREQ(a[1].idem_key, b[1].idem_key);
    sb_effects_key(SB_PLATFORM_MASTODON, "brand", "4242", SB_EFFECT_PUBLIC_REPLY, k1);
    T_STREQ(k1, a[0].idem_key);

    /* pinned: stored keys depend on this value; if it changes, replays can double-send */
    T_STREQ(k1, "ebb8159e53d8ea1a0ff897a7eec27758");

    /* every input changes the key */
    sb_effects_key(SB_PLATFORM_BLUESKY, "brand", "4242", SB_EFFECT_PUBLIC_REPLY, k2);
    T_CHECK(strcmp(k1, k2) != 0);
    sb_effects_key(SB_PLATFORM_MASTODON, "brand2", "4242", SB_EFFECT_PUBLIC_REPLY, k2);
    T_CHECK(strcmp(k1, k2) != 0);
    sb_effects_key(SB_PLATFORM_MASTODON, "brand", "4243", SB_EFFECT_PUBLIC_REPLY, k2);
    T_CHECK(strcmp(k1, k2) != 0);
    sb_effects_key(SB_PLATFORM_MASTODON, "brand", "4242", SB_EFFECT_DIRECT_MESSAGE, k2);
    T_CHECK(strcmp(k1, k2) != 0);
    /* field boundaries and NULL are part of the input */
    sb_effects_key(SB_PLATFORM_MASTODON, "ab", "c", SB_EFFECT_PUBLIC_REPLY, k1);
    sb_effects_key(SB_PLATFORM_MASTODON, "a", "bc", SB_EFFECT_PUBLIC_REPLY, k2);
    T_CHECK(strcmp(k1, k2) != 0);
    sb_effects_key(SB_PLATFORM_MASTODON, NULL, "1", SB_EFFECT_PUBLIC_REPLY, k1);
    sb_effects_key(SB_PLATFORM_MASTODON, "", "1", SB_EFFECT_PUBLIC_REPLY, k2);
    T_CHECK(strcmp(k1, k2) != 0);

    /* 20,000 effects over 10,000 posts: 20,000 distinct keys */
    enum { N = 10000 };
    char(*keys)[SB_EFFECT_KEY_LEN + 1] = malloc(2 * N * sizeof *keys);
    char id[64];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "at://did:plc:u%d/app.bsky.feed.post/3k%07d", i % 97, i);
        sb_effects_key(SB_PLATFORM_BLUESKY, "brand.bsky.social", id, SB_EFFECT_PUBLIC_REPLY,
                       keys[2 * i]);
        sb_effects_key(SB_PLATFORM_BLUESKY, "brand.bsky.social", id, SB_EFFECT_DIRECT_MESSAGE,
                       keys[2 * i + 1]);
    }
    qsort(keys, 2 * N, sizeof *keys, cmp_key);
    int dups = 0, bad = 0;
    for (int i = 0; i < 2 * N; i++) {
        bad += !is_hex_key(keys[i]);
        dups += i > 0 && strcmp(keys[i - 1], keys[i]) == 0;
    }
    T_INTEQ(dups, 0);
    T_INTEQ(bad, 0);
    free(keys);
    sb_decision_free(&d1);
    sb_decision_free(&d2);
    sb_post_free(&p);
}

static bool rkey_shaped(const char *r)
{
    static const char alpha[] = "234567abcdefghijklmnopqrstuvwxyz";
    if (strlen(r) != SB_EFFECT_RKEY_LEN || !strchr("234567abcdefghij", r[0]))
        return false;
    for (int i = 0; i < SB_EFFECT_RKEY_LEN; i++)
        if (!strchr(alpha, r[i]))
            return false;
    return true;
}

static void test_bluesky_rkey(void)
{
    char k[SB_EFFECT_KEY_LEN + 1], r1[SB_EFFECT_RKEY_LEN + 1], r2[SB_EFFECT_RKEY_LEN + 1];

    sb_effects_key(SB_PLATFORM_BLUESKY, "brand.bsky.social",
                   "at://did:plc:ana/app.bsky.feed.post/3kabc", SB_EFFECT_PUBLIC_REPLY, k);
    sb_effects_bluesky_rkey(k, r1);
    sb_effects_bluesky_rkey(k, r2);
    T_CHECK(rkey_shaped(r1));
    T_STREQ(r1, r2); /* a retry sends the same rkey */
    /* 63 bits, top bit clear: the first digit is at most 7 ('b'), as in a real TID */
    T_CHECK(strchr("234567ab", r1[0]) != NULL);

    /* many keys: all shaped, all distinct, first digits spread over 2..b */
    enum { N = 5000 };
    char(*rk)[SB_EFFECT_RKEY_LEN + 1] = malloc(N * sizeof *rk);
    char id[48];
    int shaped = 0, dups = 0, firsts[256] = {0}, spread = 0;
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "at://did:plc:x/app.bsky.feed.post/%d", i);
        sb_effects_key(SB_PLATFORM_BLUESKY, "brand", id, SB_EFFECT_PUBLIC_REPLY, k);
        sb_effects_bluesky_rkey(k, rk[i]);
        shaped += rkey_shaped(rk[i]);
        firsts[(unsigned char)rk[i][0]]++;
    }
    qsort(rk, N, sizeof *rk, cmp_key);
    for (int i = 1; i < N; i++)
        dups += strcmp(rk[i - 1], rk[i]) == 0;
    for (const char *c = "234567ab"; *c; c++)
        spread += firsts[(unsigned char)*c] > 0;
    T_INTEQ(shaped, N);
    T_INTEQ(dups, 0);
    T_INTEQ(spread, 8);
    T_INTEQ(firsts['c'] + firsts['j'] + firsts['z'], 0);
    free(rk);

    /* pinned, like the key */
    sb_effects_bluesky_rkey("00000000000000000000000000000000", r1);
    T_STREQ(r1, "252w3uh6uzjd2");
}

static void test_names(void)
{
    T_STREQ(sb_effect_kind_name(SB_EFFECT_PUBLIC_REPLY), "public_reply");
    T_STREQ(sb_effect_kind_name(SB_EFFECT_DIRECT_MESSAGE), "direct_message");
    T_STREQ(sb_effect_kind_name(SB_EFFECT__COUNT), "unknown");
    T_INTEQ(sb_effect_kind_from_name("direct_message"), SB_EFFECT_DIRECT_MESSAGE);
    T_INTEQ(sb_effect_kind_from_name("dm"), -1);
    T_INTEQ(sb_effect_kind_from_name(NULL), -1);
}

/* An edit's effects get new keys: stable per revision, never the original's. */
static void test_revision_keys(void)
{
    char base[SB_EFFECT_KEY_LEN + 1], r1[SB_EFFECT_KEY_LEN + 1], r1b[SB_EFFECT_KEY_LEN + 1],
        r2[SB_EFFECT_KEY_LEN + 1], none[SB_EFFECT_KEY_LEN + 1];
    sb_effects_key(SB_PLATFORM_MASTODON, "acme", "42", SB_EFFECT_PUBLIC_REPLY, base);
    sb_effects_key_revision(SB_PLATFORM_MASTODON, "acme", "42", SB_EFFECT_PUBLIC_REPLY, NULL, none);
    sb_effects_key_revision(SB_PLATFORM_MASTODON, "acme", "42", SB_EFFECT_PUBLIC_REPLY, "a1", r1);
    sb_effects_key_revision(SB_PLATFORM_MASTODON, "acme", "42", SB_EFFECT_PUBLIC_REPLY, "a1", r1b);
    sb_effects_key_revision(SB_PLATFORM_MASTODON, "acme", "42", SB_EFFECT_PUBLIC_REPLY, "a2", r2);
    T_STREQ(none, base);
    T_STREQ(r1, r1b);
    T_CHECK(strcmp(r1, base) != 0);
    T_CHECK(strcmp(r1, r2) != 0);
    T_INTEQ(strlen(r1), SB_EFFECT_KEY_LEN);
}

int main(void)
{
    T_RUN(test_revision_keys);
    T_RUN(test_plan_public_post);
    T_RUN(test_plan_private_post);
    T_RUN(test_plan_bluesky_refs_and_errors);
    T_RUN(test_siphash_vectors);
    T_RUN(test_keys);
    T_RUN(test_bluesky_rkey);
    T_RUN(test_names);
    T_DONE();
}
