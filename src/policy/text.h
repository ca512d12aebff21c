/* text.h — text matching for policy authors: normalization that defeats case, accent and
 * full-width tricks; tokenization; phrase lists matched on word boundaries; a lexicon
 * sentiment and urgency score. Pure functions over bytes (utf8proc for Unicode data). */
#ifndef SB_TEXT_H
#define SB_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* Normalize UTF-8 text for matching: NFKD compatibility decomposition, case folding, marks
 * stripped, default-ignorables dropped, every run of non-letters/non-digits becomes one space,
 * no leading/trailing space. "ＲＥＦＵＮＤ, Ñandú!" → "refund nandu". Appends to out.
 * Invalid UTF-8 bytes are treated as separators (never an error): policies see what users typed. */
enum sb_err sb_text_norm(const char *s, size_t n, struct sb_buf *out);

/* Tokens of a normalized string (split on single spaces), with hashes. */
struct sb_tokens {
    const char *text; /* borrowed normalized text */
    size_t n, cap;
    uint32_t *off, *len;
    uint64_t *hash;
    uint64_t mask; /* lists (by bit) that may match; valid when mask_valid */
    bool mask_valid;
};
void sb_tokens_init(struct sb_tokens *t);
void sb_tokens_free(struct sb_tokens *t);
/* Split `norm` (borrowed; must outlive t's use). */
enum sb_err sb_tokens_split(struct sb_tokens *t, const char *norm, size_t n);

uint64_t sb_text_hash(const char *s, size_t n);

/* A phrase list. Phrases are normalized on add; a phrase matches when its tokens appear
 * consecutively in the text's tokens. Lists built by one index share a first-token filter. */
struct sb_text_index;
struct sb_wordlist;

struct sb_text_index *sb_text_index_new(void);
void sb_text_index_free(struct sb_text_index *ix); /* frees its lists too */
/* New empty list registered in ix (at most 64 lists share the fast filter; more still work). */
struct sb_wordlist *sb_text_index_list_new(struct sb_text_index *ix, const char *name);
/* Add one phrase (original spelling kept for reporting). Empty after normalization → ignored. */
enum sb_err sb_wordlist_add(struct sb_wordlist *wl, const char *phrase, size_t n);
/* Parse a word file: one phrase per line, '#' starts a comment, blank lines ignored. */
enum sb_err sb_wordlist_load_text(struct sb_wordlist *wl, const char *text, size_t n,
                                  struct sb_errbuf *eb);
size_t sb_wordlist_size(const struct sb_wordlist *wl);
/* The phrase found earliest in the tokens (at one position: the longest, then the first in
 * the list), or NULL. Borrowed. */
const char *sb_wordlist_find(struct sb_text_index *ix, const struct sb_wordlist *wl,
                             struct sb_tokens *t);

/* Lexicon sentiment of raw text in [-1, 1] (negative = unhappy), and urgency in [0, 1]. The
 * tokens must be the normalized tokens of the same text. */
double sb_text_sentiment(const char *raw, size_t n, const struct sb_tokens *t);
double sb_text_urgency(const char *raw, size_t n, const struct sb_tokens *t);

#endif
