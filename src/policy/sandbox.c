/* sandbox.c — the Lua state a policy lives in: allow-listed globals behind read-only proxies,
 * a capped allocator, the instruction/time budget, and the one door through which the host
 * enters Lua (sb_sandbox_call). Depends on Lua 5.4 and policy/lpattern (budgeted patterns).
 *
 * Budget: a count hook fires every HOOK_EVERY instructions and checks the instruction and
 * wall-time allowance. Once tripped (or once the allocator refuses memory during a call) the
 * hook is re-armed to fire on every instruction and raises each time, so a policy's own pcall
 * cannot swallow the failure: the next instruction after the pcall fails again. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lualib.h>

#include "policy/internal.h"

#define HOOK_EVERY 1000
#define REP_MAX_COUNT (1 << 24)
#define MOVE_MAX (1 << 20)

/* The budget's clock: a coarse clock (a few ms resolution, a fraction of the cost) is
 * plenty for a deadline of tens of milliseconds. */
static int64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- allocator ------------------------------------------------------------------------- */

static void *pol_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct sb_policy *pol = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        pol->mem_used -= old;
        return NULL;
    }
    if (nsize > old && pol->mem_used + (nsize - old) > pol->mem_cap && !pol->mem_unlimited) {
        if (pol->in_call && pol->killed == SB_OK) {
            pol->killed = SB_ERR_MEMLIMIT;
            lua_State *L = pol->L;
            (void)L; /* the hook is re-armed by the caller of the failing allocation's error */
        }
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    pol->mem_used = pol->mem_used - old + nsize;
    if (pol->mem_used > pol->mem_peak)
        pol->mem_peak = pol->mem_used;
    return p;
}

/* ---- budget hook ----------------------------------------------------------------------- */

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct sb_policy *pol = sb_pol(L);
    if (!pol->in_call)
        return;
    if (pol->killed == SB_OK && pol->pat.exhausted)
        pol->killed = SB_ERR_BUDGET;
    if (pol->killed == SB_OK) {
        pol->instr_left -= HOOK_EVERY;
        if (pol->instr_left <= 0 || coarse_ns() > pol->deadline_ns)
            pol->killed = SB_ERR_BUDGET;
    }
    if (pol->killed != SB_OK) {
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, pol->killed == SB_ERR_MEMLIMIT ? "memory cap exceeded"
                                                     : "instruction/time budget exceeded");
    }
}

/* Work done inside one C function (sorting, concatenating, compiling) runs no VM instruction,
 * so the hook cannot see it: such functions charge the budget for the work up front, and a
 * charge over the budget or past the deadline kills the call before the work starts. */
static void charge(lua_State *L, double units)
{
    struct sb_policy *pol = sb_pol(L);
    if (!pol->in_call)
        return;
    pol->instr_left -= units > 4e18 ? (long long)4e18 : (long long)units;
    if (pol->killed == SB_OK && (pol->instr_left <= 0 || coarse_ns() > pol->deadline_ns))
        pol->killed = SB_ERR_BUDGET;
    if (pol->killed != SB_OK) {
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, pol->killed == SB_ERR_MEMLIMIT ? "memory cap exceeded"
                                                     : "instruction/time budget exceeded");
    }
}

/* ---- the door ------------------------------------------------------------------------------ */

/* Message handler: record where the error happened and a traceback, without running any
 * policy code (no __tostring). The hook stays armed and memory is uncapped only while the
 * report is built: after this returns, Lua runs pending __close handlers, and those are
 * policy code under the same budget. */
static int door_handler(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    pol->mem_unlimited = true;
    const char *msg = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    if (!msg) {
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        msg = lua_tostring(L, -1);
    }
    lua_Debug ar;
    const char *file = "";
    int line = 0;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && ar.source[0] == '@') {
            file = ar.source + 1;
            line = ar.currentline;
            break;
        }
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    lua_pushstring(L, file);
    lua_setfield(L, -2, "file");
    lua_pushinteger(L, line);
    lua_setfield(L, -2, "line");
    luaL_traceback(L, L, NULL, 1);
    lua_setfield(L, -2, "traceback");
    pol->mem_unlimited = false;
    return 1;
}

static void copy_field(lua_State *L, int t, const char *k, char *dst, size_t cap)
{
    lua_getfield(L, t, k);
    const char *s = lua_tostring(L, -1);
    snprintf(dst, cap, "%s", s ? s : "");
    lua_pop(L, 1);
}

enum sb_err sb_sandbox_call(struct sb_policy *pol, int nargs, int nresults, long long instr,
                            int64_t time_ns, struct sb_call_err *err)
{
    lua_State *L = pol->L;
    int fidx = lua_gettop(L) - nargs;
    lua_pushcfunction(L, door_handler);
    lua_insert(L, fidx);
    pol->in_call = true;
    pol->killed = SB_OK;
    pol->instr_left = instr;
    pol->deadline_ns = coarse_ns() + time_ns;
    pol->pat.steps = pol->opts.pattern_budget;
    pol->pat.exhausted = 0;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
    int st = lua_pcall(L, nargs, nresults, fidx);
    lua_sethook(L, NULL, 0, 0);
    pol->in_call = false;
    pol->mem_unlimited = false;
    if (st == LUA_OK && pol->killed == SB_OK && !pol->pat.exhausted) {
        lua_remove(L, fidx);
        return SB_OK;
    }
    enum sb_err code = pol->killed;
    if (code == SB_OK)
        code = pol->pat.exhausted ? SB_ERR_BUDGET
               : st == LUA_ERRMEM ? SB_ERR_MEMLIMIT
                                  : SB_ERR_POLICY;
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = code;
        if (st == LUA_OK) {
            snprintf(err->message, sizeof err->message, "pattern budget exceeded");
        } else if (lua_istable(L, -1)) {
            copy_field(L, -1, "message", err->message, sizeof err->message);
            copy_field(L, -1, "file", err->file, sizeof err->file);
            copy_field(L, -1, "traceback", err->traceback, sizeof err->traceback);
            lua_getfield(L, -1, "line");
            err->line = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
        } else {
            const char *m = lua_tostring(L, -1);
            snprintf(err->message, sizeof err->message, "%s",
                     m                  ? m
                     : st == LUA_ERRMEM ? "not enough memory"
                                        : "error in error handling");
        }
        if (code == SB_ERR_BUDGET && !strstr(err->message, "budget"))
            snprintf(err->message, sizeof err->message, "instruction/time budget exceeded");
        if (code == SB_ERR_MEMLIMIT && !strstr(err->message, "memory"))
            snprintf(err->message, sizeof err->message, "memory cap exceeded");
    }
    lua_settop(L, fidx - 1);
    /* Give back what the failed call held before the next one starts. */
    lua_gc(L, LUA_GCCOLLECT);
    return code;
}

enum sb_err sb_sandbox_load(struct sb_policy *pol, const char *name, const char *src, size_t len,
                            struct sb_call_err *err)
{
    lua_State *L = pol->L;
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", name);
    pol->mem_unlimited = false;
    int st = luaL_loadbufferx(L, src, len, chunk, "t");
    if (st != LUA_OK) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = st == LUA_ERRMEM ? SB_ERR_MEMLIMIT : SB_ERR_POLICY;
            const char *m = lua_tostring(L, -1);
            snprintf(err->message, sizeof err->message, "%s", m ? m : "load failed");
            snprintf(err->file, sizeof err->file, "%s", name);
            /* "name:LINE: msg" */
            const char *p = m ? strstr(m, ":") : NULL;
            err->line = p ? atoi(p + 1) : 0;
        }
        lua_pop(L, 1);
        return st == LUA_ERRMEM ? SB_ERR_MEMLIMIT : SB_ERR_POLICY;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_env);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return SB_OK;
}

/* ---- read-only proxies --------------------------------------------------------------------- */

static int ro_newindex(lua_State *L)
{
    const char *what = lua_tostring(L, lua_upvalueindex(1));
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "%s is read-only (cannot set '%s')", what, lua_tostring(L, 2));
    return luaL_error(L, "%s is read-only", what);
}

/* The iterator walks the hidden table (its upvalue); the state it hands out is the proxy, so
 * pairs() never gives a policy the writable table behind a read-only one. */
static int ro_next(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1)))
        return 2;
    lua_pushnil(L);
    return 1;
}

static int ro_pairs(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, ro_next, 1);
    lua_pushvalue(L, 1); /* the proxy, not the table */
    lua_pushnil(L);
    return 3;
}

void sb_sandbox_readonly(lua_State *L, int idx, const char *what)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L); /* proxy */
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, what);
    lua_pushcclosure(L, ro_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, idx);
    lua_pushcclosure(L, ro_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

/* ---- safe replacements for base functions -------------------------------------------------- */

/* xpcall's message handler runs with hooks disabled when the error came from the budget hook,
 * so a policy handler could loop forever. Ours forwards to the policy's handler only while the
 * call is alive. */
static int xpcall_handler(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    if (pol->killed != SB_OK)
        return 1; /* the error as is */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* xpcall(f, msgh, ...) with msgh wrapped by xpcall_handler. Policies have no coroutines, so
 * no yield can cross it and a plain lua_pcall suffices. */
static int safe_xpcall(lua_State *L)
{
    int n = lua_gettop(L); /* f, msgh, args... */
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_handler, 1);
    lua_replace(L, 2); /* 1 f, 2 wrapped handler, 3.. args */
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_replace(L, 1);
    lua_replace(L, 2); /* 1 wrapped handler, 2 f, 3.. args */
    int st = lua_pcall(L, n - 2, LUA_MULTRET, 1);
    lua_pushboolean(L, st == LUA_OK);
    lua_replace(L, 1); /* the status where the handler was */
    return lua_gettop(L);
}

static int undefined_global(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "undefined global '%s'", lua_tostring(L, 2));
    return luaL_error(L, "undefined global");
}

static int safe_setmetatable(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int t = lua_type(L, 2);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        /* A finalizer would run outside any budget (during a later GC or at close). */
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not allowed in policies");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* load(chunk [, chunkname [, mode [, env]]]): text only, a string chunk only, and the
 * policy's own _ENV unless an env table is given. */
static int safe_load(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    if (!s || lua_type(L, 1) != LUA_TSTRING) {
        luaL_pushfail(L);
        lua_pushliteral(L, "load: only string chunks are allowed in policies");
        return 2;
    }
    const char *name = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    if (strcmp(mode, "t") != 0) {
        luaL_pushfail(L);
        lua_pushliteral(L, "load: binary chunks are not allowed in policies");
        return 2;
    }
    int has_env = !lua_isnone(L, 4);
    charge(L, (double)len / 4); /* compiling is linear in the source, and runs in C */
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_env);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

static int valid_module_name(const char *s)
{
    if (!*s || *s == '.')
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (p[1] == '.' || p[1] == 0)
                return 0;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* require "a.b" → a/b.lua (or a/b/init.lua) from the files read at load time. */
static int safe_require(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    const char *name = luaL_checkstring(L, 1);
    if (!valid_module_name(name) || strlen(name) > 200)
        return luaL_error(L, "require: invalid module name '%s' (use names like \"lib.words\")",
                          name);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_loaded);
    if (lua_getfield(L, -1, name) != LUA_TNIL) {
        if (lua_type(L, -1) == LUA_TLIGHTUSERDATA)
            return luaL_error(L, "require: module '%s' requires itself (loop)", name);
        return 1;
    }
    lua_pop(L, 1);
    char path[256], alt[280];
    size_t i = 0;
    for (; name[i]; i++)
        path[i] = name[i] == '.' ? '/' : name[i];
    path[i] = 0;
    snprintf(alt, sizeof alt, "%s/init.lua", path);
    strcat(path, ".lua");
    const struct sb_src_file *f = sb_src_find(&pol->src, path);
    if (!f)
        f = sb_src_find(&pol->src, alt);
    if (!f)
        return luaL_error(L, "require: module '%s' not found in the policy directory (%s)", name,
                          path);
    lua_pushlightuserdata(L, pol); /* loading marker: detects require loops */
    lua_setfield(L, -2, name);
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", f->path);
    if (luaL_loadbufferx(L, f->data, f->len, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_env);
    lua_setupvalue(L, -2, 1);
    lua_pushstring(L, name);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        /* forget the marker so the next require reports the module's own error again */
        lua_pushnil(L);
        lua_setfield(L, -3, name);
        return lua_error(L);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

enum bounded_kind { B_SORT, B_CONCAT, B_INSERT, B_REMOVE, B_UNPACK };
static const char *const bounded_names[] = {"table.sort", "table.concat", "table.insert",
                                            "table.remove", "table.unpack"};

/* table.sort/concat/insert/remove/unpack: lengths come from __len and elements from __index,
 * which may be C functions looping without a VM instruction. Bound the range, charge the work,
 * then call the real function (upvalue 1). */
static int bounded(lua_State *L)
{
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
    lua_Integer n;
    if (kind == B_CONCAT || kind == B_UNPACK) {
        lua_Integer i = luaL_optinteger(L, kind == B_CONCAT ? 3 : 2, 1);
        lua_Integer j = lua_isnoneornil(L, kind == B_CONCAT ? 4 : 3)
                            ? luaL_len(L, 1)
                            : luaL_checkinteger(L, kind == B_CONCAT ? 4 : 3);
        n = j >= i ? (lua_Integer)((lua_Unsigned)j - (lua_Unsigned)i) : 0;
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        n = luaL_len(L, 1);
    }
    if (n < 0 || n > MOVE_MAX)
        return luaL_error(L, "%s: %I elements is over the sandbox limit of %d", bounded_names[kind],
                          n, MOVE_MAX);
    double work = (double)n + 1;
    if (kind == B_SORT) {
        double lg = 1;
        for (lua_Integer k = n; k > 1; k >>= 1)
            lg++;
        work *= lg;
    }
    charge(L, work);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static void wrap_bounded(lua_State *L, int lib, const char *name, enum bounded_kind kind)
{
    lua_getfield(L, lib, name);
    lua_pushinteger(L, kind);
    lua_pushcclosure(L, bounded, 2);
    lua_setfield(L, lib, name);
}

static int safe_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    struct sb_policy *pol = sb_pol(L);
    if (n > REP_MAX_COUNT)
        return luaL_error(L, "string.rep: count %I is over the sandbox limit of %d", n,
                          REP_MAX_COUNT);
    if (n > 0 && (double)(l + lsep) * (double)n > (double)pol->mem_cap) {
        pol->killed = pol->in_call ? SB_ERR_MEMLIMIT : pol->killed;
        return luaL_error(L, "memory cap exceeded (string.rep of %I copies)", n);
    }
    if (n > 0)
        charge(L, ((double)(l + lsep) * (double)n) / 64 + (double)n / 8);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int safe_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f && (lua_Unsigned)e - (lua_Unsigned)f >= MOVE_MAX)
        return luaL_error(L, "table.move: range over the sandbox limit of %d elements", MOVE_MAX);
    if (e >= f)
        charge(L, (double)((lua_Unsigned)e - (lua_Unsigned)f) + 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int det_random(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    lua_Integer lo, hi;
    switch (lua_gettop(L)) {
    case 0: {
        lua_Integer r = sb_api_random(pol, 0, (1 << 30) - 1);
        lua_pushnumber(L, (lua_Number)r / (lua_Number)(1 << 30));
        return 1;
    }
    case 1:
        lo = 1;
        hi = luaL_checkinteger(L, 1);
        break;
    default:
        lo = luaL_checkinteger(L, 1);
        hi = luaL_checkinteger(L, 2);
    }
    luaL_argcheck(L, lo <= hi, lua_gettop(L) > 1 ? 2 : 1, "interval is empty");
    lua_pushinteger(L, sb_api_random(pol, lo, hi));
    return 1;
}

static struct sb_pattern_budget *pattern_budget(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    return pol->in_call ? &pol->pat : NULL;
}

/* Copy the named fields of the library table at `lib` into a new table (left on the stack). */
static void copy_lib(lua_State *L, int lib, const char *const *names)
{
    lib = lua_absindex(L, lib);
    lua_newtable(L);
    for (; *names; names++) {
        lua_getfield(L, lib, *names);
        lua_setfield(L, -2, *names);
    }
}

static const char *const base_names[] = {
    "assert", "error",    "ipairs",       "next",     "pairs",  "pcall",
    "select", "tonumber", "tostring",     "type",     "xpcall", "rawequal",
    "rawlen", "rawget",   "getmetatable", "_VERSION", NULL};
static const char *const string_names[] = {
    "byte", "char",    "find", "format", "gmatch", "gsub",     "len",    "lower", "match",
    "rep",  "reverse", "sub",  "upper",  "pack",   "packsize", "unpack", NULL};
static const char *const table_names[] = {"concat", "insert", "move",   "pack",
                                          "remove", "sort",   "unpack", NULL};
static const char *const math_names[] = {
    "abs", "ceil",       "cos",  "deg",        "exp",  "floor", "fmod", "huge", "log",
    "max", "maxinteger", "min",  "mininteger", "modf", "pi",    "rad",  "sin",  "sqrt",
    "tan", "tointeger",  "type", "ult",        "atan", "asin",  "acos", NULL};
static const char *const utf8_names[] = {"char", "charpattern", "codes", "codepoint",
                                         "len",  "offset",      NULL};

enum sb_err sb_sandbox_new(struct sb_policy *pol, struct sb_errbuf *eb)
{
    lua_State *L = lua_newstate(pol_alloc, pol);
    if (!L)
        return sb_errf(eb, SB_ERR_NOMEM, "cannot create a Lua state");
    pol->L = L;
    *(struct sb_policy **)lua_getextraspace(L) = pol;
    /* The host's own libraries live in the real globals, which policies never see. */
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    lua_settop(L, 0);

    lua_newtable(L); /* 1: G' — what policies may read */
    lua_pushglobaltable(L);
    copy_lib(L, -1, base_names);
    lua_remove(L, -2);
    /* merge into G' */
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 1);
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, safe_setmetatable);
    lua_setfield(L, 1, "setmetatable");
    lua_pushcfunction(L, safe_load);
    lua_setfield(L, 1, "load");
    lua_pushcfunction(L, safe_xpcall);
    lua_setfield(L, 1, "xpcall");
    lua_pushcfunction(L, safe_require);
    lua_setfield(L, 1, "require");

    /* string: copies, with the budgeted pattern engine and a bounded rep */
    lua_getglobal(L, "string");
    copy_lib(L, -1, string_names);
    lua_getfield(L, -2, "rep");
    lua_pushcclosure(L, safe_rep, 1);
    lua_setfield(L, -2, "rep");
    sb_lpattern_install(L, lua_gettop(L), pattern_budget);
    lua_remove(L, -2);
    sb_sandbox_readonly(L, -1, "string");
    lua_setfield(L, 1, "string");
    /* The string metatable's __index must be the sandboxed library, and locked: otherwise
     * ("x"):rep(...) would reach the host's unbounded functions. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_getfield(L, 1, "string");
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    lua_getglobal(L, "table");
    copy_lib(L, -1, table_names);
    lua_getfield(L, -2, "move");
    lua_pushcclosure(L, safe_move, 1);
    lua_setfield(L, -2, "move");
    wrap_bounded(L, lua_gettop(L), "sort", B_SORT);
    wrap_bounded(L, lua_gettop(L), "concat", B_CONCAT);
    wrap_bounded(L, lua_gettop(L), "insert", B_INSERT);
    wrap_bounded(L, lua_gettop(L), "remove", B_REMOVE);
    wrap_bounded(L, lua_gettop(L), "unpack", B_UNPACK);
    lua_getfield(L, -1, "unpack");
    lua_setfield(L, 1, "unpack");
    lua_remove(L, -2);
    sb_sandbox_readonly(L, -1, "table");
    lua_setfield(L, 1, "table");

    lua_getglobal(L, "math");
    copy_lib(L, -1, math_names);
    lua_pushcfunction(L, det_random);
    lua_setfield(L, -2, "random");
    lua_remove(L, -2);
    sb_sandbox_readonly(L, -1, "math");
    lua_setfield(L, 1, "math");

    lua_getglobal(L, "utf8");
    copy_lib(L, -1, utf8_names);
    lua_remove(L, -2);
    sb_sandbox_readonly(L, -1, "utf8");
    lua_setfield(L, 1, "utf8");

    sb_api_open(L, 1); /* sets G'.sb and the builders */

    /* undefined reads raise */
    lua_newtable(L);
    lua_pushcfunction(L, undefined_global);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, 1);

    sb_sandbox_readonly(L, 1, "the global environment");
    /* A proxy whose __index is G' itself: lookups of allowed globals stay a table walk. */
    pol->ref_env = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);

    lua_newtable(L);
    pol->ref_loaded = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    pol->ref_wordtab = luaL_ref(L, LUA_REGISTRYINDEX);
    /* Per-call garbage is short-lived: generational mode collects it cheaply. */
    lua_gc(L, LUA_GCGEN, 0, 0);
    return SB_OK;
}
