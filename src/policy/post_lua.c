/* post_lua.c — `post` and `ctx` as the policy sees them: read-only userdata whose fields are
 * produced on access from the C structs, so building them costs one allocation per call.
 * Each userdata carries the call generation: kept past its decide() call, it refuses access
 * instead of reading freed memory. Lists (mentions, tags, links) are fresh tables cached in
 * the userdata's user value, so repeated access is cheap and mutation affects nothing. */
#include <string.h>

#include "policy/internal.h"

#define POST_MT "sb.post"
#define AUTHOR_MT "sb.author"
#define CTX_MT "sb.ctx"

struct ud {
    struct sb_policy *pol;
    uint64_t gen;
};

/* __index is reachable only through these metatables (they are hidden by __metatable), so
 * argument 1 is one of our views; the identity check guards against a copied __index. */
static struct ud *check_live(lua_State *L, void *expect, const char *what)
{
    struct ud *u = lua_touserdata(L, 1);
    if (!u || u != expect || u->gen != u->pol->gen || !u->pol->post)
        luaL_error(L, "%s used outside the decide() call it was given to", what);
    return u;
}

static void push_str(lua_State *L, const char *s)
{
    if (s)
        lua_pushstring(L, s);
    else
        lua_pushnil(L);
}

/* Cached value for key at index 2, in the user value table; returns 1 if pushed. */
static int cache_get(lua_State *L)
{
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pop(L, 2);
        return 0;
    }
    lua_remove(L, -2);
    return 1;
}

/* Store the value on top under key (index 2); leaves the value on top. */
static void cache_put(lua_State *L)
{
    struct ud *u = lua_touserdata(L, 1);
    if (u == u->pol->post_ud)
        u->pol->post_cache = true;
    else if (u == u->pol->ctx_ud)
        u->pol->ctx_cache = true;
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 4);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 1);
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static void new_ud(lua_State *L, struct sb_policy *pol, const char *mt)
{
    struct ud *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->pol = pol;
    u->gen = pol->gen;
    luaL_setmetatable(L, mt);
}


static int author_index(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    struct ud *u = check_live(L, pol->author_ud, "post.author");
    const struct sb_author *a = &u->pol->post->author;
    const char *k = luaL_checkstring(L, 2);
    if (!strcmp(k, "id"))
        push_str(L, a->id);
    else if (!strcmp(k, "handle"))
        push_str(L, a->handle);
    else if (!strcmp(k, "name"))
        push_str(L, a->name ? a->name : a->handle);
    else if (!strcmp(k, "followers"))
        lua_pushinteger(L, a->followers);
    else if (!strcmp(k, "verified"))
        lua_pushboolean(L, a->verified);
    else if (!strcmp(k, "bot"))
        lua_pushboolean(L, a->bot);
    else if (!strcmp(k, "created_at"))
        push_str(L, a->created_at);
    else
        return luaL_error(L, "post.author has no field '%s'", k);
    return 1;
}

static void push_strlist(lua_State *L, const char **v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static int post_index(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    struct ud *u = check_live(L, pol->post_ud, "post");
    const struct sb_post *p = u->pol->post;
    size_t kl;
    const char *k = luaL_checklstring(L, 2, &kl);
    switch (k[0]) {
    case 'i':
        if (!strcmp(k, "id"))
            return push_str(L, p->id), 1;
        if (!strcmp(k, "in_reply_to"))
            return push_str(L, p->in_reply_to), 1;
        break;
    case 'p':
        if (!strcmp(k, "platform"))
            return lua_pushstring(L, sb_platform_name(p->platform)), 1;
        break;
    case 'a':
        if (!strcmp(k, "account"))
            return push_str(L, p->account), 1;
        if (!strcmp(k, "author")) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_author);
            return 1;
        }
        break;
    case 'k':
        if (!strcmp(k, "kind"))
            return lua_pushstring(L, sb_post_kind_name(p->kind)), 1;
        break;
    case 't':
        if (!strcmp(k, "text")) {
            if (cache_get(L))
                return 1;
            push_str(L, p->text ? p->text : "");
            cache_put(L);
            return 1;
        }
        if (!strcmp(k, "thread"))
            return push_str(L, p->thread ? p->thread : p->id), 1;
        if (!strcmp(k, "tags")) {
            if (cache_get(L))
                return 1;
            push_strlist(L, p->tags, p->n_tags);
            cache_put(L);
            return 1;
        }
        break;
    case 'l':
        if (!strcmp(k, "lang"))
            return push_str(L, p->lang), 1;
        if (!strcmp(k, "links")) {
            if (cache_get(L))
                return 1;
            push_strlist(L, p->links, p->n_links);
            cache_put(L);
            return 1;
        }
        break;
    case 'u':
        if (!strcmp(k, "url"))
            return push_str(L, p->url), 1;
        break;
    case 'c':
        if (!strcmp(k, "created_at"))
            return push_str(L, p->created_at), 1;
        break;
    case 'v':
        if (!strcmp(k, "visibility"))
            return push_str(L, p->visibility ? p->visibility : "public"), 1;
        break;
    case 'm':
        if (!strcmp(k, "mentions")) {
            if (cache_get(L))
                return 1;
            lua_createtable(L, (int)p->n_mentions, 0);
            for (size_t i = 0; i < p->n_mentions; i++) {
                lua_createtable(L, 0, 2);
                push_str(L, p->mentions[i].id);
                lua_setfield(L, -2, "id");
                push_str(L, p->mentions[i].handle);
                lua_setfield(L, -2, "handle");
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
            cache_put(L);
            return 1;
        }
        break;
    }
    return luaL_error(L, "post has no field '%s'", k);
}

static int ro_newindex(lua_State *L)
{
    return luaL_error(L, "%s is read-only", lua_tostring(L, lua_upvalueindex(1)));
}

static int ctx_index(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    struct ud *u = check_live(L, pol->ctx_ud, "ctx");
    const struct sb_ctx *c = u->pol->ctx;
    const char *k = luaL_checkstring(L, 2);
    if (!strcmp(k, "now"))
        lua_pushinteger(L, c->now);
    else if (!strcmp(k, "business_hours"))
        lua_pushboolean(L, c->business_hours);
    else if (!strcmp(k, "surge"))
        lua_pushinteger(L, c->surge);
    else if (!strcmp(k, "case")) {
        if (!c->case_id)
            lua_pushnil(L);
        else {
            lua_createtable(L, 0, 2);
            lua_pushstring(L, c->case_id);
            lua_setfield(L, -2, "id");
            push_str(L, c->case_queue);
            lua_setfield(L, -2, "queue");
        }
    } else if (!strcmp(k, "history")) {
        if (cache_get(L))
            return 1;
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, c->history.posts);
        lua_setfield(L, -2, "posts");
        lua_pushinteger(L, c->history.acknowledged);
        lua_setfield(L, -2, "acknowledged");
        lua_pushinteger(L, c->history.cases);
        lua_setfield(L, -2, "cases");
        cache_put(L);
    } else if (!strcmp(k, "queues")) {
        if (cache_get(L))
            return 1;
        lua_createtable(L, 0, (int)c->n_queues);
        for (size_t i = 0; i < c->n_queues; i++) {
            const struct sb_queue_stat *q = &c->queues[i];
            lua_createtable(L, 0, 3);
            lua_pushinteger(L, q->depth);
            lua_setfield(L, -2, "depth");
            lua_pushinteger(L, q->agents_online);
            lua_setfield(L, -2, "agents_online");
            lua_pushinteger(L, q->oldest_wait);
            lua_setfield(L, -2, "oldest_wait");
            lua_setfield(L, -2, q->name);
        }
        cache_put(L);
    } else {
        return luaL_error(L, "ctx has no field '%s'", k);
    }
    return 1;
}

static void make_mt(lua_State *L, const char *name, lua_CFunction index, const char *what)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, index);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, what);
    lua_pushcclosure(L, ro_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

void sb_postlua_open(lua_State *L, struct sb_policy *pol)
{
    make_mt(L, POST_MT, post_index, "post");
    make_mt(L, AUTHOR_MT, author_index, "post.author");
    make_mt(L, CTX_MT, ctx_index, "ctx");
    new_ud(L, pol, POST_MT);
    pol->post_ud = lua_touserdata(L, -1);
    pol->ref_post = luaL_ref(L, LUA_REGISTRYINDEX);
    new_ud(L, pol, CTX_MT);
    pol->ctx_ud = lua_touserdata(L, -1);
    pol->ref_ctx = luaL_ref(L, LUA_REGISTRYINDEX);
    new_ud(L, pol, AUTHOR_MT);
    pol->author_ud = lua_touserdata(L, -1);
    pol->ref_author = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The two views are reused across calls (one allocation less each): re-armed with the new
 * generation, their caches dropped. A view kept from an earlier call is the same object, so
 * it sees the current post; it cannot see freed memory. */
void sb_postlua_push(lua_State *L, struct sb_policy *pol)
{
    struct ud *pu = pol->post_ud, *cu = pol->ctx_ud, *au = pol->author_ud;
    pu->gen = cu->gen = au->gen = pol->gen;
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_post);
    if (pol->post_cache) {
        lua_pushnil(L);
        lua_setiuservalue(L, -2, 1);
        pol->post_cache = false;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_ctx);
    if (pol->ctx_cache) {
        lua_pushnil(L);
        lua_setiuservalue(L, -2, 1);
        pol->ctx_cache = false;
    }
}
