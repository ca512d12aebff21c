/* api_sb.c — what policies call: the decision builders (acknowledge, move_to_private,
 * escalate, ignore) and the `sb` host library (normalized matching, word lists, sentiment,
 * urgency, deterministic randomness, log). Policy-author documentation for each function sits
 * next to its binding and is kept in step with docs/policy-api.md.
 * Depends on policy/text (matching), core/template (rendering). */
#include <string.h>

#include "core/template.h"
#include "policy/internal.h"

#define WORDLIST_MT "sb.wordlist"
#define LOG_MAX 4096

/* ---- per-call text cache ------------------------------------------------------------------ */

struct sb_tokens *sb_api_tokens(lua_State *L, int idx)
{
    struct sb_policy *pol = sb_pol(L);
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    if (pol->tok_valid && pol->tok_src.len == n && memcmp(pol->tok_src.data, s, n) == 0)
        return &pol->tokens;
    pol->tok_valid = false;
    sb_buf_reset(&pol->tok_src);
    sb_buf_reset(&pol->tok_norm);
    if (sb_buf_append(&pol->tok_src, s, n) || sb_text_norm(s, n, &pol->tok_norm) ||
        sb_tokens_split(&pol->tokens, pol->tok_norm.data, pol->tok_norm.len))
        luaL_error(L, "text too long to match (limit %d bytes)", (int)SB_POST_TEXT_MAX);
    pol->tok_valid = true;
    return &pol->tokens;
}

/* ---- randomness: splitmix64 seeded per post, so the same post always draws the same ---- */

lua_Integer sb_api_random(struct sb_policy *pol, lua_Integer m, lua_Integer n)
{
    uint64_t z = (pol->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    lua_Unsigned span = (lua_Unsigned)n - (lua_Unsigned)m;
    if (span == (lua_Unsigned)-1)
        return (lua_Integer)z;
    return (lua_Integer)((lua_Unsigned)m + z % (span + 1));
}

/* ---- sb.* --------------------------------------------------------------------------------- */

/* sb.norm(s) → string: NFKC-ish normalization for matching ("ＲＥＦＵＮＤ Ñ" → "refund n"). */
static int l_norm(lua_State *L)
{
    struct sb_tokens *t = sb_api_tokens(L, 1);
    (void)t;
    struct sb_policy *pol = sb_pol(L);
    lua_pushlstring(L, pol->tok_norm.data, pol->tok_norm.len);
    return 1;
}

/* sb.contains(s, phrase) → boolean: phrase appears in s as whole words, both normalized. */
static int l_contains(lua_State *L)
{
    size_t pl;
    const char *phrase = luaL_checklstring(L, 2, &pl);
    struct sb_buf pn;
    sb_buf_init(&pn, 4096);
    if (sb_text_norm(phrase, pl, &pn)) {
        sb_buf_free(&pn);
        return luaL_error(L, "sb.contains: phrase too long");
    }
    struct sb_policy *pol = sb_pol(L);
    sb_api_tokens(L, 1);
    int found = 0;
    if (pn.len > 0) {
        const char *h = pol->tok_norm.data;
        size_t hl = pol->tok_norm.len;
        for (const char *p = h; (p = memmem(p, hl - (size_t)(p - h), pn.data, pn.len)); p++) {
            int left = p == h || p[-1] == ' ';
            int right = p + pn.len == h + hl || p[pn.len] == ' ';
            if (left && right) {
                found = 1;
                break;
            }
        }
    }
    sb_buf_free(&pn);
    lua_pushboolean(L, found);
    return 1;
}

/* sb.sentiment(s) → number in [-1, 1]; negative means unhappy. */
static int l_sentiment(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct sb_tokens *t = sb_api_tokens(L, 1);
    lua_pushnumber(L, sb_text_sentiment(s, n, t));
    return 1;
}

/* sb.urgency(s) → number in [0, 1]. */
static int l_urgency(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct sb_tokens *t = sb_api_tokens(L, 1);
    lua_pushnumber(L, sb_text_urgency(s, n, t));
    return 1;
}

/* sb.random([m [, n]]) — deterministic per post. */
static int l_random(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    lua_Integer lo = 1, hi;
    if (lua_gettop(L) == 0) {
        lua_pushinteger(L, sb_api_random(pol, 1, 100));
        return 1;
    }
    if (lua_gettop(L) == 1)
        hi = luaL_checkinteger(L, 1);
    else
        lo = luaL_checkinteger(L, 1), hi = luaL_checkinteger(L, 2);
    luaL_argcheck(L, lo <= hi, 1, "interval is empty");
    lua_pushinteger(L, sb_api_random(pol, lo, hi));
    return 1;
}

/* sb.log(...) — adds one line to the decision's trace (4 KiB per call at most). */
static int l_log(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    int n = lua_gettop(L);
    for (int i = 1; i <= n && pol->log.len < LOG_MAX; i++) {
        size_t l;
        const char *s;
        int t = lua_type(L, i);
        if (t == LUA_TSTRING || t == LUA_TNUMBER)
            s = lua_tolstring(L, i, &l);
        else if (t == LUA_TBOOLEAN)
            s = lua_toboolean(L, i) ? "true" : "false", l = strlen(s);
        else
            s = lua_typename(L, t), l = strlen(s);
        if (l > LOG_MAX - pol->log.len)
            l = LOG_MAX - pol->log.len;
        sb_buf_append(&pol->log, s, l);
        if (i < n)
            sb_buf_putc(&pol->log, ' ');
    }
    sb_buf_putc(&pol->log, '\n');
    return 0;
}

/* ---- word lists --------------------------------------------------------------------------- */

/* Policies cannot create userdata, so a full userdata with this magic is one of ours. */
#define WL_MAGIC 0x57524453u
struct wl_ud {
    unsigned magic;
    struct sb_wordlist *wl;
};

static struct wl_ud *check_wl(lua_State *L)
{
    struct wl_ud *u = lua_touserdata(L, 1);
    if (!u || lua_type(L, 1) != LUA_TUSERDATA || lua_rawlen(L, 1) != sizeof *u ||
        u->magic != WL_MAGIC)
        luaL_error(L, "expected a word list from sb.words (use list:find(text))");
    return u;
}

/* sb.words(name) → list: words/<name>.txt, loaded once per policy. */
static int l_words(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    const char *name = luaL_checkstring(L, 1);
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return luaL_error(L, "sb.words: invalid list name '%s'", name);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_wordtab);
    if (lua_getfield(L, -1, name) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    char path[300];
    snprintf(path, sizeof path, "words/%s.txt", name);
    const struct sb_src_file *f = sb_src_find(&pol->src, path);
    if (!f)
        return luaL_error(L, "sb.words: no word list '%s' in the policy directory", path);
    struct sb_wordlist *wl = sb_text_index_list_new(pol->words, name);
    struct sb_errbuf eb;
    if (!wl)
        return luaL_error(L, "sb.words: out of memory");
    if (sb_wordlist_load_text(wl, f->data, f->len, &eb))
        return luaL_error(L, "sb.words: %s", eb.msg);
    pol->tok_valid = false; /* the index filter changed */
    struct wl_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->magic = WL_MAGIC;
    u->wl = wl;
    luaL_setmetatable(L, WORDLIST_MT);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

/* list:find(s) → the first phrase of the list found in s (as written in the file), or nil. */
static int wl_find(lua_State *L)
{
    struct wl_ud *u = check_wl(L);
    struct sb_policy *pol = sb_pol(L);
    struct sb_tokens *t = sb_api_tokens(L, 2);
    const char *hit = sb_wordlist_find(pol->words, u->wl, t);
    if (hit)
        lua_pushstring(L, hit);
    else
        lua_pushnil(L);
    return 1;
}

/* list:size() → number of phrases. */
static int wl_size(lua_State *L)
{
    struct wl_ud *u = check_wl(L);
    lua_pushinteger(L, (lua_Integer)sb_wordlist_size(u->wl));
    return 1;
}

/* ---- decision builders ---------------------------------------------------------------------- */

/* Builders validate their table in one pass, render templates straight into the decision's
 * arena and record the result in pol->built[]; the decide function's return value is matched
 * by identity. Keys are compared as interned-string pointers: no string compares per field. */

struct builder {
    const char *action;
    const char *allowed; /* for the error message */
    unsigned fields;     /* bit per enum sb_key */
    unsigned required;
};
#define B(k) (1u << (k))
static const struct builder builders[] = {
    {"acknowledge", "reply, reason, vars", B(K_REPLY) | B(K_REASON) | B(K_VARS), B(K_REPLY)},
    {"move_to_private", "reply, message, reason, vars",
     B(K_REPLY) | B(K_MESSAGE) | B(K_REASON) | B(K_VARS), B(K_MESSAGE)},
    {"escalate", "queue, priority, reply, reason, vars",
     B(K_QUEUE) | B(K_PRIORITY) | B(K_REPLY) | B(K_REASON) | B(K_VARS), B(K_QUEUE)},
    {"ignore", "reason", B(K_REASON), 0},
};
static const char *const key_names[K__COUNT] = {"reply",    "message", "queue",
                                                "priority", "reason",  "vars"};

#define VARS_MAX 16

static const char *arena_copy(lua_State *L, struct sb_decision *d, int idx)
{
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    char *c = sb_arena_strndup(d->arena, s, n);
    if (!c)
        luaL_error(L, "decision too large");
    return c;
}

static const char *render(lua_State *L, struct sb_policy *pol, int t, int tpl_idx,
                          const char *action, const char *what)
{
    size_t n;
    const char *tpl = lua_tolstring(L, tpl_idx, &n);
    struct sb_tmpl_var vars[VARS_MAX];
    size_t nv = 0;
    int top = lua_gettop(L);
    lua_pushstring(L, "vars");
    if (lua_rawget(L, t) == LUA_TTABLE) {
        int vi = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, vi)) { /* ..., key, value */
            if (nv == VARS_MAX)
                luaL_error(L, "%s: at most %d vars", action, VARS_MAX);
            /* Keys are strings owned by the vars table (on the stack). A value is replaced by
             * its string form, kept on the stack under the key until rendering is done: a
             * number converted with lua_tostring is a new string only the stack owns. */
            luaL_checkstack(L, 2, "vars");
            vars[nv].key = lua_tostring(L, -2);
            lua_pushvalue(L, -1);
            vars[nv].value = lua_tostring(L, -1);
            lua_replace(L, -2); /* ..., key, string */
            lua_insert(L, -2);  /* ..., string, key: lua_next continues from the key */
            nv++;
        }
    }
    struct sb_buf *out = &pol->render;
    sb_buf_reset(out);
    struct sb_errbuf eb;
    enum sb_err e = sb_template_render(tpl, n, pol->post, vars, nv, out, &eb);
    if (!e)
        e = sb_template_fit(out, 0, pol->post->platform);
    if (e)
        luaL_error(L, "%s: %s: %s", action, what, eb.msg);
    lua_settop(L, top);
    char *c = sb_arena_strndup(pol->dec->arena, out->data ? out->data : "", out->len);
    if (!c)
        luaL_error(L, "decision too large");
    return c;
}

static int l_build(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    const struct builder *b = &builders[lua_tointeger(L, lua_upvalueindex(1))];
    if (lua_isnoneornil(L, 1) && !b->required)
        lua_newtable(L), lua_replace(L, 1);
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L, "%s expects a table, e.g. %s { reason = \"...\" }", b->action,
                          b->action);
    lua_settop(L, 1);
    if (lua_getmetatable(L, 1))
        return luaL_error(L, "%s: the table must be a plain table (it has a metatable)", b->action);
    if (!pol->post || !pol->dec)
        return luaL_error(L, "%s can only be used inside the decide function", b->action);
    struct sb_decision *d = pol->dec;
    struct sb_built *r = &pol->built[pol->n_built % SB_BUILT_MAX];
    memset(r, 0, sizeof *r);
    r->action = (enum sb_action)(b - builders);
    r->priority = SB_PRIORITY_NORMAL;
    unsigned seen = 0;
    int reply_at = 0, message_at = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int key = -1;
        for (int i = 0; k && i < K__COUNT; i++)
            if (k == pol->keys[i]) {
                key = i;
                break;
            }
        if (key < 0 || !(b->fields & B(key))) {
            if (!k)
                return luaL_error(L, "%s: unexpected non-string key", b->action);
            return luaL_error(L, "%s: unknown field '%s' (allowed: %s)", b->action, k, b->allowed);
        }
        seen |= B(key);
        int vt = lua_type(L, -1);
        switch ((enum sb_key)key) {
        case K_REPLY:
        case K_MESSAGE:
        case K_QUEUE:
            if (vt != LUA_TSTRING)
                return luaL_error(L, "%s: field '%s' must be a string, got %s", b->action, k,
                                  lua_typename(L, vt));
            if (key == K_QUEUE)
                r->queue = arena_copy(L, d, -1);
            else if (key == K_REPLY)
                reply_at = 1;
            else
                message_at = 1;
            break;
        case K_PRIORITY: {
            int pr = vt == LUA_TSTRING ? sb_priority_from_name(lua_tostring(L, -1)) : -1;
            if (pr < 0)
                return luaL_error(
                    L, "%s: priority must be \"urgent\", \"high\", \"normal\" or \"low\"",
                    b->action);
            r->priority = (enum sb_priority)pr;
            break;
        }
        case K_REASON:
            if (vt == LUA_TSTRING) {
                r->reasons[r->n_reasons++] = arena_copy(L, d, -1);
            } else if (vt == LUA_TTABLE) {
                int rt = lua_gettop(L);
                for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, rt); i <= n; i++) {
                    if (lua_rawgeti(L, rt, i) != LUA_TSTRING)
                        return luaL_error(L, "%s: reason[%d] must be a string", b->action, (int)i);
                    if (r->n_reasons < SB_DECISION_REASONS_MAX)
                        r->reasons[r->n_reasons++] = arena_copy(L, d, -1);
                    lua_pop(L, 1);
                }
            } else {
                return luaL_error(L, "%s: reason must be a string or a list of strings", b->action);
            }
            break;
        case K_VARS:
            if (vt != LUA_TTABLE)
                return luaL_error(L, "%s: vars must be a table of strings", b->action);
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                int kt = lua_type(L, -2), t2 = lua_type(L, -1);
                if (kt != LUA_TSTRING || (t2 != LUA_TSTRING && t2 != LUA_TNUMBER))
                    return luaL_error(L, "%s: vars must map names to strings or numbers",
                                      b->action);
                lua_pop(L, 1);
            }
            break;
        default:
            break;
        }
        lua_pop(L, 1);
    }
    unsigned missing = b->required & ~seen;
    for (int i = 0; missing && i < K__COUNT; i++)
        if (missing & B(i))
            return luaL_error(L, "%s: field '%s' is required", b->action, key_names[i]);
    if (reply_at) {
        lua_pushstring(L, "reply");
        lua_rawget(L, 1);
        r->reply = render(L, pol, 1, lua_gettop(L), b->action, "reply");
        lua_pop(L, 1);
    }
    if (message_at) {
        lua_pushstring(L, "message");
        lua_rawget(L, 1);
        r->message = render(L, pol, 1, lua_gettop(L), b->action, "message");
        lua_pop(L, 1);
    }
    r->tbl = lua_topointer(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_anchor);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, pol->n_built % SB_BUILT_MAX + 1);
    lua_pop(L, 1);
    pol->n_built++;
    return 1;
}

void sb_api_open(lua_State *L, int g)
{
    struct sb_policy *pol = sb_pol(L);
    g = lua_absindex(L, g);
    luaL_newmetatable(L, WORDLIST_MT);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, wl_find);
    lua_setfield(L, -2, "find");
    lua_pushcfunction(L, wl_size);
    lua_setfield(L, -2, "size");
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    lua_createtable(L, SB_BUILT_MAX, 0);
    pol->ref_anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, K__COUNT, 0);
    for (int i = 0; i < K__COUNT; i++) {
        lua_pushstring(L, key_names[i]);
        pol->keys[i] = lua_tostring(L, -1);
        lua_rawseti(L, -2, i + 1);
    }
    pol->ref_keys = luaL_ref(L, LUA_REGISTRYINDEX);

    for (size_t i = 0; i < sizeof builders / sizeof *builders; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, l_build, 1);
        lua_setfield(L, g, builders[i].action);
    }

    static const luaL_Reg fns[] = {{"norm", l_norm},           {"contains", l_contains},
                                   {"sentiment", l_sentiment}, {"urgency", l_urgency},
                                   {"random", l_random},       {"log", l_log},
                                   {"words", l_words},         {NULL, NULL}};
    luaL_newlib(L, fns);
    sb_sandbox_readonly(L, -1, "sb");
    lua_setfield(L, g, "sb");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_log);
    lua_setfield(L, g, "print");
}
