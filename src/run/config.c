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

long sb_config_duration(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || v > 365L * 86400)
        return -1;
    long mul = 1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mul = 60, end++;
    else if (*end == 'h')
        mul = 3600, end++;
    else if (*end == 'd')
        mul = 86400, end++;
    return *end ? -1 : v * mul;
}

/* A duration field: an integer (seconds) or a string like "15m". */
static int64_t opt_duration(lua_State *L, int t, const char *k, const char *where,
                            struct sb_errbuf *eb, enum sb_err *e)
{
    int ty = lua_getfield(L, t, k);
    long r = 0;
    if (ty == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0)
        r = (long)lua_tointeger(L, -1);
    else if (ty == LUA_TSTRING)
        r = sb_config_duration(lua_tostring(L, -1));
    else if (ty != LUA_TNIL)
        r = -1;
    if (r < 0 && !*e)
        *e = sb_errf(eb, SB_ERR_INVAL,
                     "%s: '%s' must be seconds or a duration like \"15m\", \"4h\", \"1d\"", where,
                     k);
    lua_pop(L, 1);
    return r < 0 ? 0 : r;
}

static enum sb_err queue_conf(lua_State *L, int t, const char *name, struct sb_queue_conf *q,
                              struct sb_errbuf *eb)
{
    enum sb_err e = SB_OK;
    char where[96];
    snprintf(where, sizeof where, "queues.%s", name);
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof q->name ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != n)
        return sb_errf(eb, SB_ERR_INVAL,
                       "%s: a queue name is 1-63 of lower-case letters, digits, '-' and '_'",
                       where);
    memset(q, 0, sizeof *q);
    memcpy(q->name, name, n + 1);
    char *title = opt_string(L, t, "title", NULL, where, eb, &e);
    snprintf(q->title, sizeof q->title, "%s", title ? title : name);
    free(title);
    q->first_response = opt_duration(L, t, "first_response", where, eb, &e);
    q->next_response = opt_duration(L, t, "next_response", where, eb, &e);
    char *hours = opt_string(L, t, "hours", NULL, where, eb, &e);
    if (!e && hours) {
        struct sb_errbuf ceb;
        if (sb_calendar_parse(hours, &q->hours, &ceb))
            e = sb_errf(eb, SB_ERR_INVAL, "%s: %s", where, ceb.msg);
    }
    free(hours);
    return e;
}

static int queue_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sb_queue_conf *)a)->name, ((const struct sb_queue_conf *)b)->name);
}

/* queues = { support = { first_response = "15m", next_response = "1h",
 *                        hours = "mon-fri 09:00-17:00 +01:00", title = "Support" }, … } */
static enum sb_err queues(lua_State *L, int t, struct sb_config *c, struct sb_errbuf *eb)
{
    int ty = lua_getfield(L, t, "queues");
    enum sb_err e = SB_OK;
    if (ty == LUA_TNIL) {
        /* the queues the shipped policy escalates to, with SLA targets a social team keeps */
        static const struct {
            const char *name, *title;
            int64_t first, next;
        } def[] = {{"billing", "Billing", 3600, 4 * 3600},
                   {"legal", "Legal", 1800, 4 * 3600},
                   {"policy-errors", "Policy errors", 900, 3600},
                   {"safety", "Product safety", 900, 3600},
                   {"social-media", "Social media", 3600, 4 * 3600},
                   {"support", "Support", 1800, 3600},
                   {"vip", "VIP", 900, 3600}};
        for (size_t i = 0; i < sizeof def / sizeof def[0]; i++) {
            struct sb_queue_conf *q = &c->queues[c->n_queues++];
            memset(q, 0, sizeof *q);
            snprintf(q->name, sizeof q->name, "%s", def[i].name);
            snprintf(q->title, sizeof q->title, "%s", def[i].title);
            q->first_response = def[i].first;
            q->next_response = def[i].next;
        }
    } else if (ty != LUA_TTABLE) {
        e = sb_errf(eb, SB_ERR_INVAL, "config: 'queues' must be a table of queues by name");
    } else {
        int qt = lua_gettop(L);
        lua_pushnil(L);
        while (!e && lua_next(L, qt)) {
            if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1))
                e = sb_errf(eb, SB_ERR_INVAL,
                            "config: 'queues' maps a queue name to a table, e.g. "
                            "queues = { support = { first_response = \"15m\" } }");
            else if (c->n_queues >= SB_CONFIG_QUEUES_MAX)
                e = sb_errf(eb, SB_ERR_INVAL, "config: at most %d queues", SB_CONFIG_QUEUES_MAX);
            else
                e = queue_conf(L, lua_gettop(L), lua_tostring(L, -2), &c->queues[c->n_queues++],
                               eb);
            lua_pop(L, 1);
        }
        if (e)
            lua_pop(L, 1); /* the key lua_next left */
        qsort(c->queues, (size_t)c->n_queues, sizeof c->queues[0], queue_cmp);
    }
    lua_pop(L, 1);
    return e;
}

/* console = { listen = "127.0.0.1:8080", origin = "http://127.0.0.1:8080", web = "web",
 *             session_hours = 12 } */
static enum sb_err console(lua_State *L, int t, struct sb_config *c, struct sb_errbuf *eb)
{
    int ty = lua_getfield(L, t, "console");
    enum sb_err e = SB_OK;
    if (ty == LUA_TTABLE) {
        int ct = lua_gettop(L);
        c->console.enabled = true;
        c->console.listen = opt_string(L, ct, "listen", "127.0.0.1:8080", "console", eb, &e);
        c->console.origin = opt_string(L, ct, "origin", NULL, "console", eb, &e);
        c->console.web = opt_string(L, ct, "web", "web", "console", eb, &e);
        c->console.session_hours = (int)opt_int(L, ct, "session_hours", 12, "console", eb, &e);
        if (!e && (c->console.session_hours < 1 || c->console.session_hours > 24 * 30))
            e = sb_errf(eb, SB_ERR_INVAL, "console: 'session_hours' must be 1 to 720");
        if (!e && !strchr(c->console.listen, ':'))
            e = sb_errf(eb, SB_ERR_INVAL,
                        "console: 'listen' must be HOST:PORT, e.g. "
                        "\"127.0.0.1:8080\"");
        if (!e && !c->console.origin) {
            /* the URL the console is opened at; behind a proxy, set it */
            const char *host = c->console.listen;
            char buf[300];
            snprintf(buf, sizeof buf, "http://%s%s", host[0] == ':' ? "127.0.0.1" : "", host);
            c->console.origin = strdup(buf);
        }
        if (!e && strncmp(c->console.origin, "http://", 7) != 0 &&
            strncmp(c->console.origin, "https://", 8) != 0)
            e = sb_errf(eb, SB_ERR_INVAL,
                        "console: 'origin' must be the console's URL scheme and host, e.g. "
                        "\"https://switchboard.example.com\"");
    } else if (ty != LUA_TNIL && !(ty == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
        e = sb_errf(eb, SB_ERR_INVAL, "config: 'console' must be a table (or false)");
    }
    lua_pop(L, 1);
    return e;
}

const struct sb_queue_conf *sb_config_queue(const struct sb_config *c, const char *name)
{
    for (int i = 0; name && i < c->n_queues; i++)
        if (strcmp(c->queues[i].name, name) == 0)
            return &c->queues[i];
    return NULL;
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
    if (e || (e = queues(L, t, c, eb)) || (e = console(L, t, c, eb)))
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
    free(c->console.listen);
    free(c->console.origin);
    free(c->console.web);
    free(c->path);
    free(c->store);
    free(c->policy);
    memset(c, 0, sizeof *c);
}
