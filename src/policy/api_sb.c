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

struct wl_ud {
    struct sb_wordlist *wl;
};

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
    u->wl = wl;
    luaL_setmetatable(L, WORDLIST_MT);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

/* list:find(s) → the first phrase of the list found in s (as written in the file), or nil. */
static int wl_find(lua_State *L)
{
    struct wl_ud *u = luaL_checkudata(L, 1, WORDLIST_MT);
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
    struct wl_ud *u = luaL_checkudata(L, 1, WORDLIST_MT);
    lua_pushinteger(L, (lua_Integer)sb_wordlist_size(u->wl));
    return 1;
}

/* ---- decision builders ---------------------------------------------------------------------- */

enum field_kind { F_STR, F_REASON, F_VARS, F_PRIORITY };
struct field {
    const char *name;
    enum field_kind kind;
    int required;
};
struct builder {
    const char *action;
    const char *allowed; /* for the error message */
    struct field fields[6];
};

static const struct builder builders[] = {
    {"acknowledge", "reply, reason, vars",
     {{"reply", F_STR, 1}, {"reason", F_REASON, 0}, {"vars", F_VARS, 0}, {NULL, 0, 0}}},
    {"move_to_private", "reply, message, reason, vars",
     {{"reply", F_STR, 0}, {"message", F_STR, 1}, {"reason", F_REASON, 0}, {"vars", F_VARS, 0},
      {NULL, 0, 0}}},
    {"escalate", "queue, priority, reply, reason, vars",
     {{"queue", F_STR, 1}, {"priority", F_PRIORITY, 0}, {"reply", F_STR, 0},
      {"reason", F_REASON, 0}, {"vars", F_VARS, 0}, {NULL, 0, 0}}},
    {"ignore", "reason", {{"reason", F_REASON, 0}, {NULL, 0, 0}}},
};

static const struct field *find_field(const struct builder *b, const char *k)
{
    for (const struct field *f = b->fields; f->name; f++)
        if (!strcmp(f->name, k))
            return f;
    return NULL;
}

static void check_value(lua_State *L, const struct builder *b, const struct field *f, int v)
{
    int t = lua_type(L, v);
    switch (f->kind) {
    case F_STR:
        if (t != LUA_TSTRING)
            luaL_error(L, "%s: field '%s' must be a string, got %s", b->action, f->name,
                       lua_typename(L, t));
        break;
    case F_PRIORITY:
        if (t != LUA_TSTRING || sb_priority_from_name(lua_tostring(L, v)) < 0)
            luaL_error(L, "%s: priority must be \"urgent\", \"high\", \"normal\" or \"low\"",
                       b->action);
        break;
    case F_REASON:
        if (t == LUA_TSTRING)
            break;
        if (t != LUA_TTABLE)
            luaL_error(L, "%s: reason must be a string or a list of strings", b->action);
        for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, v); i <= n; i++) {
            if (lua_rawgeti(L, v, i) != LUA_TSTRING)
                luaL_error(L, "%s: reason[%d] must be a string", b->action, (int)i);
            lua_pop(L, 1);
        }
        break;
    case F_VARS:
        if (t != LUA_TTABLE)
            luaL_error(L, "%s: vars must be a table of strings", b->action);
        lua_pushnil(L);
        while (lua_next(L, v)) {
            int kt = lua_type(L, -2), vt = lua_type(L, -1);
            if (kt != LUA_TSTRING || (vt != LUA_TSTRING && vt != LUA_TNUMBER))
                luaL_error(L, "%s: vars must map names to strings or numbers", b->action);
            lua_pop(L, 1);
        }
        break;
    }
}

#define VARS_MAX 16

/* Render field `name` of the table at t in place (t.name = rendered text). */
static void render_field(lua_State *L, struct sb_policy *pol, int t, const char *name,
                         const char *action)
{
    if (lua_getfield(L, t, name) != LUA_TSTRING) {
        lua_pop(L, 1);
        return;
    }
    size_t n;
    const char *tpl = lua_tolstring(L, -1, &n);
    struct sb_tmpl_var vars[VARS_MAX];
    size_t nv = 0;
    if (lua_getfield(L, t, "vars") == LUA_TTABLE) {
        int vi = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, vi) && nv < VARS_MAX) {
            /* values stay alive: they are referenced by the vars table on the stack */
            lua_pushvalue(L, -2);
            vars[nv].key = lua_tostring(L, -1);
            vars[nv].value = lua_tostring(L, -2);
            lua_pop(L, 2);
            nv++;
        }
    }
    struct sb_buf out;
    sb_buf_init(&out, 16384);
    struct sb_errbuf eb;
    enum sb_err e = sb_template_render(tpl, n, pol->post, vars, nv, &out, &eb);
    if (!e)
        e = sb_template_fit(&out, 0, pol->post->platform);
    if (e) {
        sb_buf_free(&out);
        luaL_error(L, "%s: %s: %s", action, name, eb.msg);
    }
    lua_pushlstring(L, out.data ? out.data : "", out.len);
    sb_buf_free(&out);
    lua_setfield(L, t, name);
    lua_pop(L, 2); /* vars, template */
}

static int l_build(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    const struct builder *b = &builders[lua_tointeger(L, lua_upvalueindex(1))];
    if (lua_isnoneornil(L, 1) && !b->fields[0].required)
        lua_newtable(L), lua_replace(L, 1);
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L, "%s expects a table, e.g. %s { reason = \"...\" }", b->action,
                          b->action);
    lua_settop(L, 1);
    if (lua_getmetatable(L, 1))
        return luaL_error(L, "%s: the table must be a plain table (it has a metatable)",
                          b->action);
    if (!pol->post)
        return luaL_error(L, "%s can only be used inside the decide function", b->action);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "%s: unexpected non-string key", b->action);
        const char *k = lua_tostring(L, -2);
        const struct field *f = find_field(b, k);
        if (!f)
            return luaL_error(L, "%s: unknown field '%s' (allowed: %s)", b->action, k,
                              b->allowed);
        check_value(L, b, f, lua_gettop(L));
        lua_pop(L, 1);
    }
    for (const struct field *f = b->fields; f->name; f++) {
        if (f->required && lua_getfield(L, 1, f->name) == LUA_TNIL)
            return luaL_error(L, "%s: field '%s' is required", b->action, f->name);
        if (f->required)
            lua_pop(L, 1);
    }
    render_field(L, pol, 1, "reply", b->action);
    render_field(L, pol, 1, "message", b->action);
    lua_pushstring(L, b->action);
    lua_setfield(L, 1, "action");
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_dmt);
    lua_setmetatable(L, 1);
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

    /* The mark of a builder's result: __metatable hides it from policies. */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "decision");
    lua_setfield(L, -2, "__metatable");
    pol->ref_dmt = luaL_ref(L, LUA_REGISTRYINDEX);

    for (size_t i = 0; i < sizeof builders / sizeof *builders; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, l_build, 1);
        lua_setfield(L, g, builders[i].action);
    }

    static const luaL_Reg fns[] = {
        {"norm", l_norm},           {"contains", l_contains}, {"sentiment", l_sentiment},
        {"urgency", l_urgency},     {"random", l_random},     {"log", l_log},
        {"words", l_words},         {NULL, NULL}};
    luaL_newlib(L, fns);
    sb_sandbox_readonly(L, -1, "sb");
    lua_setfield(L, g, "sb");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_log);
    lua_setfield(L, g, "print");
}
