/* text.c — normalization, tokens, phrase lists, sentiment/urgency, graphemes (see text.h).
 * Depends on utf8proc for Unicode decomposition, case folding, categories and grapheme breaks.
 * The ASCII fast path matters: most posts are mostly ASCII, and the policy budget is ~2 µs. */
#include "policy/text.h"

#include "core/utf8.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- normalization ---------------------------------------------------------------------- */

static unsigned char ascii_map[128];
static pthread_once_t ascii_once = PTHREAD_ONCE_INIT;

static void ascii_init(void)
{
    for (int c = 0; c < 128; c++) {
        if (c >= 'a' && c <= 'z')
            ascii_map[c] = (unsigned char)c;
        else if (c >= 'A' && c <= 'Z')
            ascii_map[c] = (unsigned char)(c - 'A' + 'a');
        else if (c >= '0' && c <= '9')
            ascii_map[c] = (unsigned char)c;
        else
            ascii_map[c] = 0;
    }
}

static int keep_cp(utf8proc_int32_t cp)
{
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* Output is written straight into out's storage: an ASCII byte yields at most 2 bytes (a space
 * and the byte); a code point's decomposition is checked against the room left. */
enum sb_err sb_text_norm(const char *s, size_t n, struct sb_buf *out)
{
    pthread_once(&ascii_once, ascii_init);
    const utf8proc_option_t opts = UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD |
                                   UTF8PROC_STRIPMARK | UTF8PROC_IGNORE | UTF8PROC_LUMP;
    size_t start = out->len;
    /* reserve the common case (2n): grows below only for long decompositions */
    enum sb_err e = sb_buf_reserve(out, 2 * n + 2);
    if (e)
        return e;
    char *w = out->data + out->len;
    char *w0 = out->data + start;
    int pending = 0; /* a separator was seen after some output */
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            unsigned char m = ascii_map[*p++];
            if (!m) {
                pending = w > w0;
                continue;
            }
            if (pending) {
                *w++ = ' ';
                pending = 0;
            }
            *w++ = (char)m;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, end - p, &cp);
        if (k <= 0) { /* invalid byte: a separator, never an error */
            p++;
            pending = w > w0;
            continue;
        }
        p += k;
        utf8proc_int32_t dec[32];
        int last_bc = 0;
        utf8proc_ssize_t m = utf8proc_decompose_char(cp, dec, 32, opts, &last_bc);
        if (m < 0 || m > 32)
            m = 0;
        /* room: each output code point takes at most 4 bytes plus a separator */
        size_t used = (size_t)(w - out->data);
        size_t need = (size_t)m * 5 + 2 * (size_t)(end - p) + 2;
        if (used + need >= out->cap) {
            out->len = used;
            if ((e = sb_buf_reserve(out, need)) != SB_OK)
                return e;
            w = out->data + used;
            w0 = out->data + start;
        }
        for (utf8proc_ssize_t i = 0; i < m; i++) {
            utf8proc_int32_t c = dec[i];
            if (c < 0x80 ? !ascii_map[c] : !keep_cp(c)) {
                pending = w > w0;
                continue;
            }
            if (pending) {
                *w++ = ' ';
                pending = 0;
            }
            if (c < 0x80)
                *w++ = (char)ascii_map[c];
            else
                w += utf8proc_encode_char(c, (utf8proc_uint8_t *)w);
        }
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = 0;
    return SB_OK;
}

/* ---- tokens ------------------------------------------------------------------------------ */

uint64_t sb_text_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1; /* 0 marks an empty slot */
}

void sb_tokens_init(struct sb_tokens *t)
{
    memset(t, 0, sizeof *t);
}

void sb_tokens_free(struct sb_tokens *t)
{
    free(t->off);
    free(t->len);
    free(t->hash);
    memset(t, 0, sizeof *t);
}

enum sb_err sb_tokens_split(struct sb_tokens *t, const char *norm, size_t n)
{
    t->text = norm;
    t->n = 0;
    t->mask_valid = false;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && norm[j] != ' ')
            j++;
        if (j > i) {
            if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 64;
                uint32_t *o = realloc(t->off, cap * sizeof *o);
                if (o)
                    t->off = o;
                uint32_t *l = realloc(t->len, cap * sizeof *l);
                if (l)
                    t->len = l;
                uint64_t *h = realloc(t->hash, cap * sizeof *h);
                if (h)
                    t->hash = h;
                if (!o || !l || !h)
                    return SB_ERR_NOMEM;
                t->cap = cap;
            }
            t->off[t->n] = (uint32_t)i;
            t->len[t->n] = (uint32_t)(j - i);
            t->hash[t->n] = sb_text_hash(norm + i, j - i);
            t->n++;
        }
        i = j + 1;
    }
    return SB_OK;
}

/* ---- phrase lists ------------------------------------------------------------------------ */

struct phrase {
    const char *orig; /* as written in the list */
    const char *norm; /* normalized, tokens separated by single spaces */
    uint32_t ntok;
    uint64_t *hashes; /* per token */
    uint32_t *lens;
};

struct slot {
    uint64_t hash;         /* first-token hash; 0 = empty */
    uint64_t mask;         /* index table: lists having a phrase starting with this token */
    uint32_t first, count; /* list table: range in `order` */
};

struct sb_wordlist {
    struct sb_text_index *ix; /* owner; lists die with their index, so it cannot dangle */
    char *name;
    int bit; /* -1 if beyond the 64 the filter tracks */
    struct phrase *ph;
    size_t n, cap;
    /* first-token table: open addressing over phrase indices sorted by first hash */
    struct slot *tab;
    size_t tabcap;
    uint32_t *order;
    int dirty;
};

struct sb_text_index {
    struct sb_wordlist **lists;
    size_t n, cap;
    struct slot *tab; /* first-token hash → mask of lists */
    size_t tabcap, used;
};

struct sb_text_index *sb_text_index_new(void)
{
    return calloc(1, sizeof(struct sb_text_index));
}

static void wordlist_free(struct sb_wordlist *wl)
{
    for (size_t i = 0; i < wl->n; i++) {
        free((char *)wl->ph[i].orig);
        free((char *)wl->ph[i].norm);
        free(wl->ph[i].hashes);
        free(wl->ph[i].lens);
    }
    free(wl->ph);
    free(wl->tab);
    free(wl->order);
    free(wl->name);
    free(wl);
}

void sb_text_index_free(struct sb_text_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n; i++)
        wordlist_free(ix->lists[i]);
    free(ix->lists);
    free(ix->tab);
    free(ix);
}

struct sb_wordlist *sb_text_index_list_new(struct sb_text_index *ix, const char *name)
{
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 8;
        struct sb_wordlist **l = realloc(ix->lists, cap * sizeof *l);
        if (!l)
            return NULL;
        ix->lists = l;
        ix->cap = cap;
    }
    struct sb_wordlist *wl = calloc(1, sizeof *wl);
    if (!wl)
        return NULL;
    wl->name = strdup(name ? name : "");
    if (!wl->name) {
        free(wl);
        return NULL;
    }
    wl->ix = ix;
    wl->bit = ix->n < 64 ? (int)ix->n : -1;
    ix->lists[ix->n++] = wl;
    return wl;
}

static struct slot *slot_find(struct slot *tab, size_t cap, uint64_t h)
{
    size_t i = (size_t)(h & (cap - 1));
    while (tab[i].hash && tab[i].hash != h)
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static enum sb_err index_note(struct sb_text_index *ix, uint64_t h, int bit)
{
    if ((ix->used + 1) * 2 > ix->tabcap) {
        size_t cap = ix->tabcap ? ix->tabcap * 2 : 256;
        struct slot *nt = calloc(cap, sizeof *nt);
        if (!nt)
            return SB_ERR_NOMEM;
        for (size_t i = 0; i < ix->tabcap; i++)
            if (ix->tab[i].hash)
                *slot_find(nt, cap, ix->tab[i].hash) = ix->tab[i];
        free(ix->tab);
        ix->tab = nt;
        ix->tabcap = cap;
    }
    struct slot *s = slot_find(ix->tab, ix->tabcap, h);
    if (!s->hash) {
        s->hash = h;
        ix->used++;
    }
    s->mask |= bit >= 0 ? (1ull << bit) : ~0ull;
    return SB_OK;
}

enum sb_err sb_wordlist_add(struct sb_wordlist *wl, const char *phrase, size_t n)
{
    struct sb_buf nb;
    sb_buf_init(&nb, 4096);
    struct sb_tokens t;
    sb_tokens_init(&t);
    enum sb_err e = sb_text_norm(phrase, n, &nb);
    if (e)
        goto done;
    if (nb.len == 0)
        goto done;
    e = sb_tokens_split(&t, nb.data, nb.len);
    if (e)
        goto done;
    if (wl->n == wl->cap) {
        size_t cap = wl->cap ? wl->cap * 2 : 16;
        struct phrase *p = realloc(wl->ph, cap * sizeof *p);
        if (!p) {
            e = SB_ERR_NOMEM;
            goto done;
        }
        wl->ph = p;
        wl->cap = cap;
    }
    struct phrase *ph = &wl->ph[wl->n];
    ph->orig = strndup(phrase, n);
    ph->norm = strndup(nb.data, nb.len);
    ph->ntok = (uint32_t)t.n;
    ph->hashes = malloc(t.n * sizeof *ph->hashes);
    ph->lens = malloc(t.n * sizeof *ph->lens);
    if (!ph->orig || !ph->norm || !ph->hashes || !ph->lens) {
        free((char *)ph->orig);
        free((char *)ph->norm);
        free(ph->hashes);
        free(ph->lens);
        e = SB_ERR_NOMEM;
        goto done;
    }
    memcpy(ph->hashes, t.hash, t.n * sizeof *ph->hashes);
    memcpy(ph->lens, t.len, t.n * sizeof *ph->lens);
    wl->n++;
    wl->dirty = 1;
    e = index_note(wl->ix, ph->hashes[0], wl->bit);
done:
    sb_tokens_free(&t);
    sb_buf_free(&nb);
    return e;
}

enum sb_err sb_wordlist_load_text(struct sb_wordlist *wl, const char *text, size_t n,
                                  struct sb_errbuf *eb)
{
    size_t i = 0, lineno = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && text[j] != '\n')
            j++;
        lineno++;
        size_t a = i, b = j;
        for (size_t k = a; k < b; k++)
            if (text[k] == '#') {
                b = k;
                break;
            }
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        if (b > a) {
            if (!sb_utf8_valid(text + a, b - a))
                return sb_errf(eb, SB_ERR_UTF8, "word list '%s' line %zu: invalid UTF-8", wl->name,
                               lineno);
            enum sb_err e = sb_wordlist_add(wl, text + a, b - a);
            if (e)
                return sb_errf(eb, e, "word list '%s' line %zu: %s", wl->name, lineno,
                               sb_strerror(e));
        }
        i = j + 1;
    }
    return SB_OK;
}

size_t sb_wordlist_size(const struct sb_wordlist *wl)
{
    return wl->n;
}

static int cmp_first(const void *a, const void *b, void *ctx)
{
    const struct phrase *ph = ctx;
    uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
    uint64_t ha = ph[ia].hashes[0], hb = ph[ib].hashes[0];
    if (ha != hb)
        return ha < hb ? -1 : 1;
    return ia < ib ? -1 : ia > ib; /* file order among phrases with the same first word */
}

/* Build the list's own first-token table (lazily, after the last add). */
static enum sb_err wordlist_build(struct sb_wordlist *wl)
{
    free(wl->tab);
    free(wl->order);
    wl->tab = NULL;
    wl->order = NULL;
    size_t cap = 16;
    while (cap < wl->n * 2 + 2)
        cap *= 2;
    wl->tab = calloc(cap, sizeof *wl->tab);
    wl->order = malloc((wl->n ? wl->n : 1) * sizeof *wl->order);
    if (!wl->tab || !wl->order)
        return SB_ERR_NOMEM;
    wl->tabcap = cap;
    for (uint32_t i = 0; i < wl->n; i++)
        wl->order[i] = i;
    qsort_r(wl->order, wl->n, sizeof *wl->order, cmp_first, wl->ph);
    for (uint32_t i = 0; i < wl->n;) {
        uint64_t h = wl->ph[wl->order[i]].hashes[0];
        uint32_t j = i;
        while (j < wl->n && wl->ph[wl->order[j]].hashes[0] == h)
            j++;
        struct slot *s = slot_find(wl->tab, cap, h);
        s->hash = h;
        s->first = i;
        s->count = j - i;
        i = j;
    }
    wl->dirty = 0;
    return SB_OK;
}

static int phrase_at(const struct phrase *ph, const struct sb_tokens *t, size_t i)
{
    if (i + ph->ntok > t->n)
        return 0;
    const char *p = ph->norm;
    for (uint32_t k = 0; k < ph->ntok; k++) {
        if (t->hash[i + k] != ph->hashes[k] || t->len[i + k] != ph->lens[k] ||
            memcmp(t->text + t->off[i + k], p, ph->lens[k]) != 0)
            return 0;
        p += ph->lens[k] + 1;
    }
    return 1;
}

const char *sb_wordlist_find(struct sb_text_index *ix, const struct sb_wordlist *cwl,
                             struct sb_tokens *t)
{
    struct sb_wordlist *wl = (struct sb_wordlist *)cwl; /* the lazy table is a cache */
    if (wl->n == 0 || t->n == 0)
        return NULL;
    if (ix && wl->bit >= 0) {
        if (!t->mask_valid) {
            uint64_t m = 0;
            for (size_t i = 0; i < t->n && ix->tabcap; i++) {
                struct slot *s = slot_find(ix->tab, ix->tabcap, t->hash[i]);
                m |= s->mask;
            }
            t->mask = m;
            t->mask_valid = true;
        }
        if (!(t->mask & (1ull << wl->bit)))
            return NULL;
    }
    if (wl->dirty && wordlist_build(wl) != SB_OK)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        struct slot *s = slot_find(wl->tab, wl->tabcap, t->hash[i]);
        if (!s->hash)
            continue;
        /* earliest position wins; there, the longest phrase ("swollen battery" over
         * "swollen"), then the one first in the file */
        const struct phrase *best = NULL;
        for (uint32_t k = 0; k < s->count; k++) {
            const struct phrase *ph = &wl->ph[wl->order[s->first + k]];
            if ((!best || ph->ntok > best->ntok) && phrase_at(ph, t, i))
                best = ph;
        }
        if (best)
            return best->orig;
    }
    return NULL;
}

/* ---- sentiment and urgency --------------------------------------------------------------- */

/* A small hand-built valence lexicon (−3 … +3) tuned for customer-service posts. Words are
 * normalized tokens. Kept in code so scoring needs no file and stays deterministic. */
struct lex {
    const char *w;
    signed char v;
};
static const struct lex lexicon[] = {
    {"love", 3},          {"loved", 3},          {"loving", 2},        {"awesome", 3},
    {"amazing", 3},       {"excellent", 3},      {"fantastic", 3},     {"great", 2},
    {"good", 2},          {"nice", 2},           {"happy", 2},         {"glad", 2},
    {"thanks", 2},        {"thank", 2},          {"thx", 2},           {"grateful", 2},
    {"appreciate", 2},    {"perfect", 3},        {"best", 3},          {"brilliant", 3},
    {"wonderful", 3},     {"helpful", 2},        {"quick", 1},         {"fast", 1},
    {"easy", 1},          {"recommend", 2},      {"impressed", 2},     {"kudos", 2},
    {"well", 1},          {"superb", 3},         {"delighted", 3},     {"pleased", 2},
    {"smooth", 1},        {"works", 1},          {"fixed", 1},         {"solved", 2},
    {"resolved", 1},      {"lovely", 2},         {"cool", 1},          {"yay", 2},
    {"gracias", 2},       {"merci", 2},          {"danke", 2},         {"bad", -2},
    {"terrible", -3},     {"awful", -3},         {"horrible", -3},     {"worst", -3},
    {"hate", -3},         {"hated", -3},         {"angry", -3},        {"furious", -3},
    {"annoyed", -2},      {"annoying", -2},      {"frustrated", -2},   {"frustrating", -2},
    {"disappointed", -2}, {"disappointing", -2}, {"useless", -3},      {"broken", -2},
    {"broke", -2},        {"late", -1},          {"delayed", -2},      {"delay", -1},
    {"missing", -2},      {"lost", -2},          {"never", -1},        {"nobody", -2},
    {"ignored", -2},      {"ignoring", -2},      {"unacceptable", -3}, {"ridiculous", -3},
    {"joke", -2},         {"scam", -3},          {"fraud", -3},        {"rip", -1},
    {"refund", -1},       {"wrong", -2},         {"damaged", -2},      {"defective", -2},
    {"faulty", -2},       {"fail", -2},          {"failed", -2},       {"failure", -2},
    {"error", -1},        {"problem", -1},       {"issue", -1},        {"poor", -2},
    {"rude", -3},         {"slow", -1},          {"waiting", -1},      {"waited", -1},
    {"still", -1},        {"cancel", -1},        {"cancelled", -1},    {"crap", -3},
    {"sucks", -3},        {"shit", -3},          {"wtf", -3},          {"sad", -2},
    {"upset", -2},        {"worse", -2},         {"complaint", -2},    {"complain", -2},
    {"stuck", -1},        {"charged", -1},       {"overcharged", -3},  {"stolen", -3},
    {"unhappy", -2},      {"pathetic", -3},      {"disgusting", -3},   {"incompetent", -3},
    {"nightmare", -3},    {"garbage", -3},       {"malo", -2},         {"nul", -2},
    {"schlecht", -2},
};
#define LEX_N (sizeof lexicon / sizeof lexicon[0])

static const char *const negators[] = {"not",     "no",    "never",  "t",    "cannot",
                                       "without", "nor",   "hardly", "isnt", "dont",
                                       "didnt",   "wasnt", "doesnt"};
static const char *const boosters[] = {"very",       "really",     "so",    "extremely", "totally",
                                       "absolutely", "completely", "super", "incredibly"};

static struct slot lex_tab[512];
static signed char lex_val[512];
static pthread_once_t lex_once = PTHREAD_ONCE_INIT;

static void lex_init(void)
{
    for (size_t i = 0; i < LEX_N; i++) {
        uint64_t h = sb_text_hash(lexicon[i].w, strlen(lexicon[i].w));
        struct slot *s = slot_find(lex_tab, 512, h);
        s->hash = h;
        lex_val[s - lex_tab] = lexicon[i].v;
    }
}

static int word_in(const struct sb_tokens *t, size_t i, const char *const *set, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (t->len[i] == strlen(set[k]) && memcmp(t->text + t->off[i], set[k], t->len[i]) == 0)
            return 1;
    return 0;
}

static size_t count_char(const char *s, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

/* Fraction of letters that are upper-case ASCII, over words of ≥ 3 letters (shouting). */
static double caps_ratio(const char *s, size_t n)
{
    size_t up = 0, letters = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            up++, letters++;
        else if (c >= 'a' && c <= 'z')
            letters++;
    }
    return letters >= 8 ? (double)up / (double)letters : 0.0;
}

double sb_text_sentiment(const char *raw, size_t n, const struct sb_tokens *t)
{
    pthread_once(&lex_once, lex_init);
    double sum = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct slot *s = slot_find(lex_tab, 512, t->hash[i]);
        if (!s->hash)
            continue;
        double v = lex_val[s - lex_tab];
        if (i > 0 && word_in(t, i - 1, boosters, sizeof boosters / sizeof *boosters))
            v *= 1.5;
        for (size_t k = 1; k <= 3 && k <= i; k++)
            if (word_in(t, i - k, negators, sizeof negators / sizeof *negators)) {
                v *= -0.75;
                break;
            }
        sum += v;
    }
    if (sum != 0) {
        double bang = (double)count_char(raw, n, '!');
        sum += (sum > 0 ? 1 : -1) * fmin(bang, 4) * 0.3;
        if (caps_ratio(raw, n) > 0.6)
            sum *= 1.3;
    }
    return sum / sqrt(sum * sum + 15.0);
}

/* Strong cues say "act now" by themselves; weak cues only add up (a customer who is "still
 * waiting" is not an emergency on that alone). */
static const char *const urgent_strong[] = {
    "urgent",    "urgently", "asap", "immediately", "emergency", "fire", "smoke",    "danger",
    "dangerous", "injured",  "hurt", "stolen",      "hacked",    "sos",  "critical", "deadline"};
static const char *const urgent_weak[] = {"now",     "today",  "tonight", "help",  "please",
                                          "still",   "again",  "days",    "weeks", "hours",
                                          "waiting", "nobody", "locked"};

double sb_text_urgency(const char *raw, size_t n, const struct sb_tokens *t)
{
    double u = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (word_in(t, i, urgent_strong, sizeof urgent_strong / sizeof *urgent_strong))
            u += 0.35;
        else if (word_in(t, i, urgent_weak, sizeof urgent_weak / sizeof *urgent_weak))
            u += 0.1;
    }
    size_t bang = count_char(raw, n, '!');
    u += fmin((double)bang, 3) * 0.1;
    if (caps_ratio(raw, n) > 0.6)
        u += 0.3;
    return u > 1 ? 1 : u;
}
