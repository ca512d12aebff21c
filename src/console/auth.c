/* auth.c — see auth.h. Depends on libsodium (argon2id, BLAKE2b, randombytes, sodium_memcmp). */
#include "console/auth.h"

#include <sodium.h>
#include <string.h>

enum sb_err sb_auth_init(void)
{
    return sodium_init() < 0 ? SB_ERR_IO : SB_OK;
}

enum sb_err sb_auth_hash_password(const char *password, char out[SB_PWHASH_MAX],
                                  struct sb_errbuf *eb)
{
    size_t n = password ? strlen(password) : 0;
    if (n < SB_PASSWORD_MIN || n > SB_PASSWORD_MAX)
        return sb_errf(eb, SB_ERR_INVAL, "a password is %d to %d bytes long", SB_PASSWORD_MIN,
                       SB_PASSWORD_MAX);
    _Static_assert(crypto_pwhash_STRBYTES <= SB_PWHASH_MAX, "pw hash buffer too small");
    if (crypto_pwhash_str_alg(out, password, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return sb_errf(eb, SB_ERR_NOMEM, "argon2id: out of memory");
    return SB_OK;
}

bool sb_auth_verify_password(const char *password, const char *hash)
{
    if (!password || !hash || strncmp(hash, "$argon2id$", 10) != 0)
        return false;
    size_t n = strlen(password);
    if (n > SB_PASSWORD_MAX)
        return false;
    return crypto_pwhash_str_verify(hash, password, n) == 0;
}

static void random_hex(char *out, size_t hex_len)
{
    unsigned char raw[64];
    randombytes_buf(raw, hex_len / 2);
    sodium_bin2hex(out, hex_len + 1, raw, hex_len / 2);
}

static void hash_hex(const char *token, char out[SB_SESSION_HASH_LEN + 1])
{
    unsigned char h[SB_SESSION_HASH_LEN / 2];
    crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, SB_SESSION_HASH_LEN + 1, h, sizeof h);
}

void sb_auth_new_session(char token[SB_TOKEN_LEN + 1], char token_hash[SB_SESSION_HASH_LEN + 1],
                         char csrf[SB_CSRF_LEN + 1])
{
    random_hex(token, SB_TOKEN_LEN);
    random_hex(csrf, SB_CSRF_LEN);
    hash_hex(token, token_hash);
}

bool sb_auth_token_hash(const char *token, char token_hash[SB_SESSION_HASH_LEN + 1])
{
    if (!token || strlen(token) != SB_TOKEN_LEN ||
        strspn(token, "0123456789abcdef") != SB_TOKEN_LEN)
        return false;
    hash_hex(token, token_hash);
    return true;
}

void sb_auth_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

bool sb_auth_secret_eq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t n = strlen(a);
    if (n != strlen(b) || n == 0)
        return false;
    return sodium_memcmp(a, b, n) == 0;
}

/* ---- limiter: a fixed table, slot by key hash (a collision shares a count: stricter) ---- */

static uint64_t key_of(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h | 1; /* 0 marks a free slot */
}

void sb_limiter_init(struct sb_limiter *l, int max_failures, int64_t window_ms)
{
    memset(l, 0, sizeof *l);
    l->max_failures = max_failures;
    l->window_ms = window_ms;
}

static struct sb_limiter_slot *slot(struct sb_limiter *l, const char *key)
{
    uint64_t k = key_of(key);
    return &l->slots[k % SB_LIMITER_SLOTS];
}

int64_t sb_limiter_check(struct sb_limiter *l, const char *key, int64_t now_ms)
{
    struct sb_limiter_slot *s = slot(l, key);
    if (s->key != key_of(key) || now_ms - s->window_start_ms >= l->window_ms)
        return 0;
    if (s->failures < l->max_failures)
        return 0;
    return (s->window_start_ms + l->window_ms - now_ms + 999) / 1000;
}

void sb_limiter_fail(struct sb_limiter *l, const char *key, int64_t now_ms)
{
    struct sb_limiter_slot *s = slot(l, key);
    uint64_t k = key_of(key);
    if (s->key != k || now_ms - s->window_start_ms >= l->window_ms) {
        s->key = k;
        s->window_start_ms = now_ms;
        s->failures = 0;
    }
    s->failures++;
}

void sb_limiter_success(struct sb_limiter *l, const char *key)
{
    struct sb_limiter_slot *s = slot(l, key);
    if (s->key == key_of(key))
        memset(s, 0, sizeof *s);
}
