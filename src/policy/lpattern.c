/* lpattern.c — budgeted Lua 5.4 patterns: string.find/match/gmatch/gsub for the sandbox.
 *
 * The stock implementations backtrack in C, out of reach of the instruction hook, so
 * ("a"):rep(5000):find(".-.-.-.-b") hangs a policy call. This engine implements the same
 * pattern language (reference manual §6.4.1) and the same library behaviour — argument
 * handling, results, error messages, the 200-level "pattern too complex" limit — but every
 * matching step is charged to a struct sb_pattern_budget, and running out raises
 * "pattern budget exceeded" instead of spinning. See lpattern.h. */
#include "policy/lpattern.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include <lauxlib.h>

/* Lua's own limits, kept so that the same patterns are accepted and rejected. */
#define LP_MAXCAPTURES 32
#define LP_MAXDEPTH 200

#define LP_ESC '%'
#define LP_SPECIALS "^$*+?.([%-"

/* Capture lengths that are not lengths. */
#define CAP_OPEN (-1)     /* '(' seen, ')' not yet */
#define CAP_POSITION (-2) /* '()' */

struct lp_capture {
    const char *init;
    ptrdiff_t len;
};

struct lp_state {
    lua_State *L;
    const char *src;     /* subject */
    const char *src_end; /* one past its last byte */
    const char *pat_end; /* one past the pattern's last byte */
    int depth_left;      /* recursion allowance for this attempt */
    int level;           /* captures in use */
    struct sb_pattern_budget *budget;
    struct sb_pattern_budget unlimited; /* budget used when the host returns NULL */
    struct lp_capture cap[LP_MAXCAPTURES];
};

/* Upvalue 1 of every installed function: how to find the current budget. A full userdata
 * because a function pointer cannot portably travel as a light userdata. */
struct lp_hook {
    sb_pattern_budget_fn get_budget;
};

/* ---- budget ------------------------------------------------------------------------------ */

static void lp_exhausted(struct lp_state *ms)
{
    /* Steps go to zero so a policy that catches the error cannot keep matching on credit. */
    ms->budget->steps = 0;
    ms->budget->exhausted = 1;
    luaL_error(ms->L, "pattern budget exceeded");
}

static inline void lp_charge(struct lp_state *ms, long long n)
{
    if (ms->budget->steps < n)
        lp_exhausted(ms);
    ms->budget->steps -= n;
}

/* Fetch the budget through upvalue `up` (an lp_hook); NULL from the host means unlimited. */
static void lp_bind_budget(lua_State *L, struct lp_state *ms, int up)
{
    const struct lp_hook *h = lua_touserdata(L, lua_upvalueindex(up));
    struct sb_pattern_budget *b = (h && h->get_budget) ? h->get_budget(L) : NULL;

    ms->L = L;
    ms->unlimited.steps = LLONG_MAX;
    ms->unlimited.exhausted = 0;
    ms->budget = b ? b : &ms->unlimited;
}

/* ---- single-character classes ------------------------------------------------------------ */

/* Does byte c belong to class letter cl (the char after '%')? Non-letters match themselves,
 * which is how '%.' or '%%' escape; upper-case letters complement. */
static int lp_class(int c, int cl)
{
    int r;

    switch (tolower(cl)) {
    case 'a':
        r = isalpha(c);
        break;
    case 'c':
        r = iscntrl(c);
        break;
    case 'd':
        r = isdigit(c);
        break;
    case 'g':
        r = isgraph(c);
        break;
    case 'l':
        r = islower(c);
        break;
    case 'p':
        r = ispunct(c);
        break;
    case 's':
        r = isspace(c);
        break;
    case 'u':
        r = isupper(c);
        break;
    case 'w':
        r = isalnum(c);
        break;
    case 'x':
        r = isxdigit(c);
        break;
    case 'z': /* deprecated in 5.2 but still accepted by 5.4 */
        r = (c == 0);
        break;
    default:
        return cl == c;
    }
    if (isupper(cl))
        r = !r;
    return r;
}

/* Is c in the set whose '[' is at p and whose closing ']' is at close? */
static int lp_in_set(struct lp_state *ms, int c, const char *p, const char *close)
{
    int hit = 1;
    long long scanned = 0;
    int found = 0;

    if (p[1] == '^') {
        hit = 0;
        p++;
    }
    for (p++; p < close && !found; p++, scanned++) {
        unsigned char first = (unsigned char)*p;

        if (first == LP_ESC) {
            p++;
            found = lp_class(c, (unsigned char)*p);
        } else if (p[1] == '-' && p + 2 < close) {
            /* A '-' right before ']' is literal, hence the p + 2 < close test. */
            found = first <= c && c <= (unsigned char)p[2];
            p += 2;
        } else {
            found = (first == c);
        }
    }
    /* A long set costs more than one step: without this a huge set would be cheap CPU. */
    if (scanned > 8)
        lp_charge(ms, scanned / 8);
    return found ? hit : !hit;
}

/* One past the single-character class starting at p ("x", "%x" or "[...]"). */
static const char *lp_class_end(struct lp_state *ms, const char *p)
{
    char c = *p++;

    if (c == LP_ESC) {
        if (p == ms->pat_end)
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (p < ms->pat_end && *p == '^')
            p++;
        /* The first member is taken whatever it is, so "[]]" and "[^]]" contain ']'. */
        do {
            if (p == ms->pat_end)
                luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*p++ == LP_ESC && p < ms->pat_end)
                p++;
        } while (p == ms->pat_end || *p != ']');
        return p + 1;
    }
    return p;
}

/* Does the subject byte at s match the class [p, ep)? False at the end of the subject. */
static int lp_single(struct lp_state *ms, const char *s, const char *p, const char *ep)
{
    int c;

    lp_charge(ms, 1);
    if (s >= ms->src_end)
        return 0;
    c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return 1;
    case LP_ESC:
        return lp_class(c, (unsigned char)p[1]);
    case '[':
        return lp_in_set(ms, c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

/* ---- pattern items with their own rules ------------------------------------------------- */

static const char *lp_match(struct lp_state *ms, const char *s, const char *p);

/* %bxy at s (p points at x): end of the balanced run, or NULL. */
static const char *lp_balance(struct lp_state *ms, const char *s, const char *p)
{
    int open, close, depth = 1;

    if (ms->pat_end - p < 2)
        luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    lp_charge(ms, 1);
    if (s >= ms->src_end || *s != *p)
        return NULL;
    open = (unsigned char)p[0];
    close = (unsigned char)p[1];
    while (++s < ms->src_end) {
        int c = (unsigned char)*s;

        lp_charge(ms, 1);
        /* Close is tested first so that %bxx ends at the next x. */
        if (c == close) {
            if (--depth == 0)
                return s + 1;
        } else if (c == open) {
            depth++;
        }
    }
    return NULL;
}

/* %n back-reference: the subject at s must repeat capture n's text. */
static const char *lp_backref(struct lp_state *ms, const char *s, int digit)
{
    int l = digit - '1';
    ptrdiff_t len;

    if (l < 0 || l >= ms->level || ms->cap[l].len == CAP_OPEN)
        luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    len = ms->cap[l].len;
    lp_charge(ms, 1 + (len > 0 ? len : 0));
    /* A position capture has no text; Lua compares an impossible length and always fails. */
    if (len < 0 || ms->src_end - s < len)
        return NULL;
    return memcmp(ms->cap[l].init, s, (size_t)len) == 0 ? s + len : NULL;
}

/* Capture n's index to close at ')': the innermost one still open. */
static int lp_open_capture(struct lp_state *ms)
{
    for (int l = ms->level - 1; l >= 0; l--)
        if (ms->cap[l].len == CAP_OPEN)
            return l;
    return luaL_error(ms->L, "invalid pattern capture");
}

static const char *lp_start_capture(struct lp_state *ms, const char *s, const char *p, int what)
{
    const char *r;

    if (ms->level >= LP_MAXCAPTURES)
        luaL_error(ms->L, "too many captures");
    lp_charge(ms, 1);
    ms->cap[ms->level].init = s;
    ms->cap[ms->level].len = what;
    ms->level++;
    r = lp_match(ms, s, p);
    if (!r)
        ms->level--; /* undo: the capture never happened on this path */
    return r;
}

static const char *lp_end_capture(struct lp_state *ms, const char *s, const char *p)
{
    int l = lp_open_capture(ms);
    const char *r;

    lp_charge(ms, 1);
    ms->cap[l].len = s - ms->cap[l].init;
    r = lp_match(ms, s, p);
    if (!r)
        ms->cap[l].len = CAP_OPEN;
    return r;
}

/* x* / x+ after the first: take as many as possible, then give back one at a time. */
static const char *lp_greedy(struct lp_state *ms, const char *s, const char *p, const char *ep)
{
    ptrdiff_t n = 0;

    while (lp_single(ms, s + n, p, ep))
        n++;
    for (; n >= 0; n--) {
        const char *r = lp_match(ms, s + n, ep + 1);

        if (r)
            return r;
    }
    return NULL;
}

/* x-: try the rest of the pattern first, eat one more x only when that fails. */
static const char *lp_lazy(struct lp_state *ms, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = lp_match(ms, s, ep + 1);

        if (r)
            return r;
        if (!lp_single(ms, s, p, ep))
            return NULL;
        s++;
    }
}

/* ---- the matcher ------------------------------------------------------------------------- */

/* Match pattern [p, pat_end) at s; return the end of the match or NULL. Recursion happens
 * only where backtracking needs a choice point (captures, quantifiers); straight-line items
 * loop. The recursion points and the 200-level limit mirror Lua's, so exactly the same
 * patterns report "pattern too complex", and the C stack stays bounded. */
static const char *lp_match(struct lp_state *ms, const char *s, const char *p)
{
    if (ms->depth_left-- == 0)
        luaL_error(ms->L, "pattern too complex");
    lp_charge(ms, 1);
    while (p != ms->pat_end) {
        const char *ep;
        char q;

        if (*p == '(') {
            if (p + 1 < ms->pat_end && p[1] == ')')
                s = lp_start_capture(ms, s, p + 2, CAP_POSITION);
            else
                s = lp_start_capture(ms, s, p + 1, CAP_OPEN);
            break;
        }
        if (*p == ')') {
            s = lp_end_capture(ms, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == ms->pat_end) {
            /* Only a final '$' anchors; elsewhere it is an ordinary character. */
            if (s != ms->src_end)
                s = NULL;
            break;
        }
        if (*p == LP_ESC && p + 1 < ms->pat_end) {
            char k = p[1];

            if (k == 'b') {
                s = lp_balance(ms, s, p + 2);
                if (!s)
                    break;
                p += 4;
                continue;
            }
            if (k == 'f') {
                int prev, cur;

                p += 2;
                if (p == ms->pat_end || *p != '[')
                    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                ep = lp_class_end(ms, p);
                /* Outside the subject counts as '\0' on both sides. */
                prev = (s == ms->src) ? 0 : (unsigned char)s[-1];
                cur = (s < ms->src_end) ? (unsigned char)*s : 0;
                lp_charge(ms, 2);
                if (!lp_in_set(ms, prev, p, ep - 1) && lp_in_set(ms, cur, p, ep - 1)) {
                    p = ep;
                    continue;
                }
                s = NULL;
                break;
            }
            if (k >= '0' && k <= '9') {
                s = lp_backref(ms, s, (unsigned char)k);
                if (!s)
                    break;
                p += 2;
                continue;
            }
        }
        /* A single-character class, maybe followed by a quantifier. */
        ep = lp_class_end(ms, p);
        if (ep - p > 16)
            lp_charge(ms, (ep - p) / 16); /* scanning a long set is work too */
        q = (ep < ms->pat_end) ? *ep : '\0';
        if (!lp_single(ms, s, p, ep)) {
            if (q == '*' || q == '?' || q == '-') {
                p = ep + 1; /* zero repetitions are fine */
                continue;
            }
            s = NULL;
            break;
        }
        if (q == '?') {
            const char *r = lp_match(ms, s + 1, ep + 1);

            if (r) {
                s = r;
                break;
            }
            p = ep + 1;
            continue;
        }
        if (q == '+') {
            s = lp_greedy(ms, s + 1, p, ep);
            break;
        }
        if (q == '*') {
            s = lp_greedy(ms, s, p, ep);
            break;
        }
        if (q == '-') {
            s = lp_lazy(ms, s, p, ep);
            break;
        }
        s++;
        p = ep;
    }
    ms->depth_left++;
    return s;
}

/* ---- captures to Lua values -------------------------------------------------------------- */

static void lp_prepare(struct lp_state *ms, const char *s, size_t ls, const char *p, size_t lp)
{
    ms->src = s;
    ms->src_end = s + ls;
    ms->pat_end = p + lp;
}

/* Fresh state for one match attempt. */
static void lp_reset(struct lp_state *ms)
{
    ms->level = 0;
    ms->depth_left = LP_MAXDEPTH;
}

/* Capture i (or the whole match [s, e) when there are none and i == 0). Sets *cap and returns
 * the length; for a position capture returns CAP_POSITION with the position pushed. */
static ptrdiff_t lp_get_capture(struct lp_state *ms, int i, const char *s, const char *e,
                                const char **cap)
{
    ptrdiff_t len;

    if (i >= ms->level) {
        if (i != 0)
            luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        *cap = s;
        return e - s;
    }
    len = ms->cap[i].len;
    *cap = ms->cap[i].init;
    if (len == CAP_OPEN)
        luaL_error(ms->L, "unfinished capture");
    else if (len == CAP_POSITION)
        lua_pushinteger(ms->L, (ms->cap[i].init - ms->src) + 1);
    return len;
}

static void lp_push_capture(struct lp_state *ms, int i, const char *s, const char *e)
{
    const char *cap;
    ptrdiff_t len = lp_get_capture(ms, i, s, e, &cap);

    if (len != CAP_POSITION)
        lua_pushlstring(ms->L, cap, (size_t)len);
}

/* Push all captures; with none, the whole match — unless s is NULL (find wants nothing). */
static int lp_push_captures(struct lp_state *ms, const char *s, const char *e)
{
    int n = (ms->level == 0 && s) ? 1 : ms->level;

    luaL_checkstack(ms->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        lp_push_capture(ms, i, s, e);
    return n;
}

/* ---- library functions ------------------------------------------------------------------- */

/* 1-based start position from a possibly negative init, as string.find reads it. */
static size_t lp_init_pos(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0)
        return 1;
    if (pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static int lp_no_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (p[i] != '\0' && strchr(LP_SPECIALS, p[i]))
            return 0;
    return 1;
}

/* Plain substring search, charging each byte examined. */
static const char *lp_plain_find(struct lp_state *ms, const char *s, size_t ls, const char *p,
                                 size_t lp)
{
    const char *last;

    if (lp == 0)
        return s;
    if (lp > ls)
        return NULL;
    last = s + (ls - lp); /* last possible start */
    while (s <= last) {
        const char *hit = memchr(s, p[0], (size_t)(last - s) + 1);
        size_t k = 1;

        lp_charge(ms, 1 + (hit ? hit - s : last - s));
        if (!hit)
            return NULL;
        while (k < lp && hit[k] == p[k])
            k++;
        lp_charge(ms, (long long)k);
        if (k == lp)
            return hit;
        s = hit + 1;
    }
    return NULL;
}

static int lp_find_aux(lua_State *L, int find)
{
    struct lp_state ms;
    size_t ls, lp;
    const char *s, *p;
    size_t init;

    lp_bind_budget(L, &ms, 1);
    s = luaL_checklstring(L, 1, &ls);
    p = luaL_checklstring(L, 2, &lp);
    init = lp_init_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L); /* starts after the end: no match, not even an empty one */
        return 1;
    }
    lp_charge(&ms, 1 + (long long)(lp / 16));
    if (find && (lua_toboolean(L, 4) || lp_no_specials(p, lp))) {
        const char *hit = lp_plain_find(&ms, s + init, ls - init, p, lp);

        if (hit) {
            lua_pushinteger(L, (hit - s) + 1);
            lua_pushinteger(L, (lua_Integer)((hit - s) + lp));
            return 2;
        }
    } else {
        const char *s1 = s + init;
        int anchor = (lp > 0 && *p == '^');

        if (anchor) {
            p++;
            lp--;
        }
        lp_prepare(&ms, s, ls, p, lp);
        do {
            const char *e;

            lp_reset(&ms);
            e = lp_match(&ms, s1, p);
            if (e) {
                if (find) {
                    lua_pushinteger(L, (s1 - s) + 1);
                    lua_pushinteger(L, e - s);
                    return lp_push_captures(&ms, NULL, NULL) + 2;
                }
                return lp_push_captures(&ms, s1, e);
            }
        } while (s1++ < ms.src_end && !anchor);
    }
    luaL_pushfail(L);
    return 1;
}

static int lp_find(lua_State *L)
{
    return lp_find_aux(L, 1);
}

static int lp_str_match(lua_State *L)
{
    return lp_find_aux(L, 0);
}

/* gmatch iterator position, kept as offsets so nothing points outside the subject. */
struct lp_gmatch {
    size_t pos;  /* where the next search starts; > length means done */
    size_t last; /* end of the previous match, or SIZE_MAX before the first */
};

/* Upvalues: 1 subject, 2 pattern, 3 lp_gmatch, 4 lp_hook. */
static int lp_gmatch_step(lua_State *L)
{
    struct lp_state ms;
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    struct lp_gmatch *gm = lua_touserdata(L, lua_upvalueindex(3));

    /* The iterator can outlive the policy call that made it: ask for the budget every time. */
    lp_bind_budget(L, &ms, 4);
    lp_prepare(&ms, s, ls, p, lp);
    for (size_t pos = gm->pos; pos <= ls; pos++) {
        const char *e;

        lp_reset(&ms);
        e = lp_match(&ms, s + pos, p);
        /* An empty match right where the previous match ended does not count (5.4 rule). */
        if (e && (size_t)(e - s) != gm->last) {
            gm->pos = gm->last = (size_t)(e - s);
            return lp_push_captures(&ms, s + pos, e);
        }
    }
    gm->pos = ls + 1; /* exhausted; later calls return nothing without rescanning */
    return 0;
}

static int lp_gmatch(lua_State *L)
{
    struct lp_state ms;
    size_t ls;
    struct lp_gmatch *gm;
    size_t init;

    lp_bind_budget(L, &ms, 1);
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    init = lp_init_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    lp_charge(&ms, 1);
    lua_settop(L, 2); /* the closure keeps both strings alive */
    gm = lua_newuserdatauv(L, sizeof *gm, 0);
    gm->pos = init > ls ? ls + 1 : init;
    gm->last = SIZE_MAX;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, lp_gmatch_step, 4);
    return 1;
}

/* Append replacement string (stack index 3) for the match [s, e), expanding %0-%9 and %%. */
static void lp_add_string(struct lp_state *ms, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = ms->L;
    size_t l;
    const char *r = lua_tolstring(L, 3, &l);
    const char *end = r + l;
    const char *esc;

    lp_charge(ms, 1 + (long long)(l / 16));
    while ((esc = memchr(r, LP_ESC, (size_t)(end - r))) != NULL) {
        char k;

        luaL_addlstring(b, r, (size_t)(esc - r));
        /* A '%' at the very end sees the string's terminating NUL, which is invalid too. */
        k = (esc + 1 < end) ? esc[1] : '\0';
        if (k == LP_ESC) {
            luaL_addchar(b, LP_ESC);
        } else if (k == '0') {
            lp_charge(ms, 1 + (e - s) / 16);
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)k)) {
            const char *cap;
            ptrdiff_t len = lp_get_capture(ms, k - '1', s, e, &cap);

            if (len == CAP_POSITION) {
                luaL_addvalue(b); /* the position lp_get_capture pushed */
            } else {
                lp_charge(ms, 1 + len / 16);
                luaL_addlstring(b, cap, (size_t)len);
            }
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", LP_ESC);
        }
        r = esc + 2;
    }
    luaL_addlstring(b, r, (size_t)(end - r));
}

/* Append the replacement for [s, e); returns whether the text changed. */
static int lp_add_value(struct lp_state *ms, luaL_Buffer *b, const char *s, const char *e, int tr)
{
    lua_State *L = ms->L;

    if (tr == LUA_TFUNCTION) {
        int n;

        lua_pushvalue(L, 3);
        n = lp_push_captures(ms, s, e);
        lua_call(L, n, 1);
    } else if (tr == LUA_TTABLE) {
        lp_push_capture(ms, 0, s, e);
        lua_gettable(L, 3);
    } else {
        lp_add_string(ms, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        /* nil or false: keep the matched text as it was */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    lp_charge(ms, 1 + (long long)(lua_rawlen(L, -1) / 16));
    luaL_addvalue(b);
    return 1;
}

static int lp_gsub(lua_State *L)
{
    struct lp_state ms;
    size_t srcl, lp;
    const char *src, *p;
    const char *lastmatch = NULL;
    int tr, anchor;
    lua_Integer max_s, n = 0;
    int changed = 0;
    luaL_Buffer b;

    lp_bind_budget(L, &ms, 1);
    /* Argument checks in stock order, so the same bad call reports the same argument. */
    src = luaL_checklstring(L, 1, &srcl);
    p = luaL_checklstring(L, 2, &lp);
    tr = lua_type(L, 3);
    max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
    anchor = (lp > 0 && *p == '^');
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    lp_charge(&ms, 1);
    luaL_buffinit(L, &b);
    if (anchor) {
        p++;
        lp--;
    }
    lp_prepare(&ms, src, srcl, p, lp);
    while (n < max_s) {
        const char *e;

        lp_reset(&ms);
        e = lp_match(&ms, src, p);
        if (e && e != lastmatch) {
            n++;
            changed = lp_add_value(&ms, &b, src, e, tr) | changed;
            src = lastmatch = e;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1); /* untouched: hand back the original string */
    } else {
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void sb_lpattern_install(lua_State *L, int idx, sb_pattern_budget_fn get_budget)
{
    static const luaL_Reg fns[] = {
        {"find", lp_find},
        {"match", lp_str_match},
        {"gmatch", lp_gmatch},
        {"gsub", lp_gsub},
    };
    struct lp_hook *h;

    idx = lua_absindex(L, idx);
    h = lua_newuserdatauv(L, sizeof *h, 0);
    h->get_budget = get_budget;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, fns[i].func, 1);
        lua_setfield(L, idx, fns[i].name);
    }
    lua_pop(L, 1);
}
