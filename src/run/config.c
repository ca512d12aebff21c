/* config.c — reads switchboard.lua (see config.h). Depends on Lua 5.4 (a plain state with only
 * the base, string and table libraries and env()). */
#include "run/config.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

static int l_env(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *v = getenv(name);
    if (v && !*v)
        v = NULL; /* set but empty counts as unset (compose files pass empty variables) */
    if (!v && lua_isnoneornil(L, 2))
        return luaL_error(L, "environment variable %s is not set", name);
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushvalue(L, 2);
    return 1;
}

static char *opt_string(lua_State *L, int t, const char *k, const char *def, const char *where,
                        struct sb_errbuf *eb, enum sb_err *e)
{
    int ty = lua_getfield(L, t, k);
    char *r = NULL;
    if (ty == LUA_TSTRING)
        r = strdup(lua_tostring(L, -1));
    else if (ty == LUA_TNIL)
        r = def ? strdup(def) : NULL;
    else if (!*e)
        *e = sb_errf(eb, SB_ERR_INVAL, "%s: '%s' must be a string", where, k);
    lua_pop(L, 1);
    return r;
}

static bool opt_bool(lua_State *L, int t, const char *k, const char *where, struct sb_errbuf *eb,
                     enum sb_err *e)
{
    int ty = lua_getfield(L, t, k);
    bool r = lua_toboolean(L, -1);
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN && !*e)
        *e = sb_errf(eb, SB_ERR_INVAL, "%s: '%s' must be true or false", where, k);
    lua_pop(L, 1);
    return r;
}

static long opt_int(lua_State *L, int t, const char *k, long def, const char *where,
                    struct sb_errbuf *eb, enum sb_err *e)
{
    int ty = lua_getfield(L, t, k);
    long r = def;
    if (ty == LUA_TNUMBER && lua_isinteger(L, -1))
        r = (long)lua_tointeger(L, -1);
    else if (ty != LUA_TNIL && !*e)
        *e = sb_errf(eb, SB_ERR_INVAL, "%s: '%s' must be an integer", where, k);
    lua_pop(L, 1);
    return r;
}

/* Strip trailing slashes from a base URL. */
static void trim_slash(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '/')
        s[--n] = 0;
}

static enum sb_err account(lua_State *L, int t, struct sb_account_conf *a, int idx,
                           struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    char where[64];
    snprintf(where, sizeof where, "accounts[%d]", idx);
    char *platform = opt_string(L, t, "platform", NULL, where, eb, &e);
    if (!e && !platform)
        e = sb_errf(eb, SB_ERR_INVAL, "%s: 'platform' is required (mastodon or bluesky)", where);
    if (!e) {
        a->platform = sb_platform_from_name(platform);
        if (a->platform == SB_PLATFORM_UNKNOWN)
            e = sb_errf(eb, SB_ERR_INVAL, "%s: unknown platform '%s'", where, platform);
    }
    free(platform);
    a->name = opt_string(L, t, "name", NULL, where, eb, &e);
    a->base_url = opt_string(L, t, "base_url", NULL, where, eb, &e);
    a->streaming_url = opt_string(L, t, "streaming_url", NULL, where, eb, &e);
    a->token = opt_string(L, t, "token", NULL, where, eb, &e);
    a->pds_url = opt_string(L, t, "pds_url", NULL, where, eb, &e);
    a->jetstream_url = opt_string(L, t, "jetstream_url", NULL, where, eb, &e);
    a->identifier = opt_string(L, t, "identifier", NULL, where, eb, &e);
    a->password = opt_string(L, t, "password", NULL, where, eb, &e);
    a->backfill_secs = opt_int(L, t, "backfill_secs", 0, where, eb, &e);
    trim_slash(a->base_url);
    trim_slash(a->pds_url);
    if (e)
        return e;
    if (!a->name)
        return sb_errf(eb, SB_ERR_INVAL, "%s: 'name' is required", where);
    if (a->platform == SB_PLATFORM_MASTODON && (!a->base_url || !a->token))
        return sb_errf(eb, SB_ERR_INVAL, "%s (%s): mastodon needs base_url and token", where,
                       a->name);
    if (a->platform == SB_PLATFORM_BLUESKY &&
        (!a->pds_url || !a->jetstream_url || !a->identifier || !a->password))
        return sb_errf(eb, SB_ERR_INVAL,
                       "%s (%s): bluesky needs pds_url, jetstream_url, identifier and password",
                       where, a->name);
    return SB_OK;
}

enum sb_err sb_config_load(const char *path, struct sb_config *c, struct sb_errbuf *eb)
{
    memset(c, 0, sizeof *c);
    lua_State *L = luaL_newstate();
    if (!L)
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    lua_settop(L, 0);
    /* no file or code loading from the configuration itself */
    static const char *const drop[] = {"dofile", "loadfile", "load", "require", NULL};
    for (int i = 0; drop[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, drop[i]);
    }
    lua_pushcfunction(L, l_env);
    lua_setglobal(L, "env");
    enum sb_err e = SB_OK;
    if (luaL_loadfilex(L, path, "t") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        e = sb_errf(eb, SB_ERR_INVAL, "%s", lua_tostring(L, -1));
        goto done;
    }
    if (!lua_istable(L, -1)) {
        e = sb_errf(eb, SB_ERR_INVAL, "%s: must return a table", path);
        goto done;
    }
    int t = lua_gettop(L);
    c->path = strdup(path);
    c->store = opt_string(L, t, "store", "switchboard.db", "config", eb, &e);
    c->policy = opt_string(L, t, "policy", "policies", "config", eb, &e);
    c->dry_run = opt_bool(L, t, "dry_run", "config", eb, &e);
    c->paused = opt_bool(L, t, "paused", "config", eb, &e);
    c->hold = opt_bool(L, t, "hold", "config", eb, &e);
    c->pretty = opt_bool(L, t, "pretty", "config", eb, &e);
    c->reply_budget_author = (int)opt_int(L, t, "reply_budget_per_author", 10, "config", eb, &e);
    c->reply_budget_bot = (int)opt_int(L, t, "reply_budget_per_bot", 1, "config", eb, &e);
    if (e)
        goto done;
    if (lua_getfield(L, t, "accounts") != LUA_TTABLE) {
        e = sb_errf(eb, SB_ERR_INVAL, "config: 'accounts' must be a list of accounts");
        goto done;
    }
    int at = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, at);
    if (n > SB_CONFIG_ACCOUNTS_MAX) {
        e = sb_errf(eb, SB_ERR_INVAL, "config: at most %d accounts", SB_CONFIG_ACCOUNTS_MAX);
        goto done;
    }
    for (lua_Integer i = 1; i <= n && !e; i++) {
        if (lua_rawgeti(L, at, i) != LUA_TTABLE)
            e = sb_errf(eb, SB_ERR_INVAL, "config: accounts[%d] must be a table", (int)i);
        else
            e = account(L, lua_gettop(L), &c->accounts[c->n_accounts++], (int)i, eb);
        lua_pop(L, 1);
    }
done:
    lua_close(L);
    if (e)
        sb_config_free(c);
    return e;
}

void sb_config_free(struct sb_config *c)
{
    for (int i = 0; i < c->n_accounts; i++) {
        struct sb_account_conf *a = &c->accounts[i];
        free(a->name);
        free(a->base_url);
        free(a->streaming_url);
        if (a->token)
            memset(a->token, 0, strlen(a->token));
        free(a->token);
        free(a->pds_url);
        free(a->jetstream_url);
        free(a->identifier);
        if (a->password)
            memset(a->password, 0, strlen(a->password));
        free(a->password);
    }
    free(c->path);
    free(c->store);
    free(c->policy);
    memset(c, 0, sizeof *c);
}
