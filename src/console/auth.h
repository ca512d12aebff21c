/* auth.h — agents' credentials and sessions: argon2id password hashes (libsodium), random
 * session tokens stored only as hashes, CSRF tokens, and a login rate limiter. No I/O but
 * libsodium's random source; the caller stores what these produce (store/cases.h). */
#ifndef SB_AUTH_H
#define SB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/cases.h"
#include "util/err.h"

/* Call once before any other function here (libsodium's sodium_init). SB_ERR_IO if it fails. */
enum sb_err sb_auth_init(void);

/* Passwords: 8 to 1024 bytes (SB_ERR_INVAL with a message otherwise). The hash is libsodium's
 * argon2id string (algorithm, parameters and salt inside), at the "interactive" cost: about
 * 64 MiB and tens of milliseconds — call it off the loop thread. */
#define SB_PASSWORD_MIN 8
#define SB_PASSWORD_MAX 1024
enum sb_err sb_auth_hash_password(const char *password, char out[SB_PWHASH_MAX],
                                  struct sb_errbuf *eb);
/* Constant-time check of password against a stored hash. */
bool sb_auth_verify_password(const char *password, const char *hash);

/* A fresh session: token (64 hex digits, 256 random bits) for the cookie, its hash for the
 * store, and a CSRF token. */
#define SB_TOKEN_LEN 64
void sb_auth_new_session(char token[SB_TOKEN_LEN + 1], char token_hash[SB_SESSION_HASH_LEN + 1],
                         char csrf[SB_CSRF_LEN + 1]);
/* The hash the store keeps for a cookie's token (BLAKE2b-256, hex). false when the token is not
 * SB_TOKEN_LEN hex digits (then there is nothing to look up). */
bool sb_auth_token_hash(const char *token, char token_hash[SB_SESSION_HASH_LEN + 1]);
/* Overwrite a secret in memory (not optimised away). */
void sb_auth_wipe(void *p, size_t n);
/* Constant-time comparison of two NUL-terminated secrets (false when either is NULL). */
bool sb_auth_secret_eq(const char *a, const char *b);

/* Login rate limiting: failures are counted per key (the client's address, and separately the
 * agent name) over a sliding window; past the limit, attempts are refused until the window
 * moves on. In memory: a restart forgets (and argon2id keeps guessing slow anyway). */
#define SB_LIMITER_SLOTS 1024
struct sb_limiter_slot {
    uint64_t key;
    int64_t window_start_ms;
    int failures;
};
struct sb_limiter {
    int max_failures; /* per window */
    int64_t window_ms;
    struct sb_limiter_slot slots[SB_LIMITER_SLOTS];
};
void sb_limiter_init(struct sb_limiter *l, int max_failures, int64_t window_ms);
/* 0 when key may try now, else the seconds to wait. */
int64_t sb_limiter_check(struct sb_limiter *l, const char *key, int64_t now_ms);
void sb_limiter_fail(struct sb_limiter *l, const char *key, int64_t now_ms);
void sb_limiter_success(struct sb_limiter *l, const char *key);

#endif
