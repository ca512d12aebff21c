/* post_lua.c — `post`, `post.author` and `ctx` as the policy sees them: three persistent,
 * read-only userdata whose fields are read from the C structs on access. Nothing is built per
 * call: each view carries the call generation and is re-armed for the next post, and values
 * that need allocating (the text, lists, history, queues) are made on first access and kept
 * in a slot table stamped with the generation. Field names are compared as interned-string
 * pointers (Lua short strings are unique), not with strcmp. Depends on policy/internal.h. */
#include <string.h>

#include "policy/internal.h"

#define POST_MT "sb.post"
#define AUTHOR_MT "sb.author"
#define CTX_MT "sb.ctx"

struct ud {
    struct sb_policy *pol;
    uint64_t gen;
};

/* Every field name of the three views; the order is the slot index in pol->fkeys. */
enum field {
    F_ID,
    F_PLATFORM,
    F_ACCOUNT,
    F_KIND,
    F_TEXT,
    F_LANG,
    F_URL,
    F_CREATED_AT,
    F_VISIBILITY,
    F_THREAD,
    F_IN_REPLY_TO,
    F_MENTIONS,
    F_TAGS,
    F_LINKS,
    F_AUTHOR,
    /* author */
    F_HANDLE,
    F_NAME,
    F_FOLLOWERS,
    F_VERIFIED,
    F_BOT,
    /* ctx */
    F_NOW,
    F_BUSINESS_HOURS,
    F_SURGE,
    F_CASE,
    F_HISTORY,
    F_QUEUES,
    F__COUNT
};
static const char *const field_names[F__COUNT] = {
    "id",       "platform",   "account",    "kind",           "text",        "lang",
    "url",      "created_at", "visibility", "thread",         "in_reply_to", "mentions",
    "tags",     "links",      "author",     "handle",         "name",        "followers",
    "verified", "bot",        "now",        "business_hours", "surge",       "case",
    "history",  "queues"};

/* __index is reachable only through these metatables (hidden by __metatable), so argument 1
 * is one of our views; the identity check guards against a copied __index. */
static struct ud *check_live(lua_State *L, void *expect, const char *what)
{
    struct ud *u = lua_touserdata(L, 1);
    if (!u || u != expect || u->gen != u->pol->gen || !u->pol->post)
        luaL_error(L, "%s used outside the decide() call it was given to", what);
    return u;
}

static int field_of(lua_State *L, struct sb_policy *pol, int lo, int hi, const char *what)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    for (int i = lo; k && i < hi; i++)
        if (k == pol->fkeys[i])
            return i;
    /* the created_at of an author is the only name shared between views */
    if (k && k == pol->fkeys[F_CREATED_AT] && lo == F_HANDLE)
        return F_CREATED_AT;
    if (k && k == pol->fkeys[F_ID] && lo == F_HANDLE)
        return F_ID;
    if (k)
        return luaL_error(L, "%s has no field '%s'", what, k);
    return luaL_error(L, "%s has no field of type %s", what, luaL_typename(L, 2));
}

static int push_str(lua_State *L, const char *s)
{
    if (s)
        lua_pushstring(L, s);
    else
        lua_pushnil(L);
    return 1;
}

/* Slot cache: the value of field f for this call, if made already (pushes it, returns 1). */
static int slot_get(lua_State *L, struct sb_policy *pol, int f)
{
    if (pol->slot_gen[f] != pol->gen)
        return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_slots);
    lua_rawgeti(L, -1, f + 1);
    lua_remove(L, -2);
    return 1;
}

/* Keep the value on top as field f's for this call (leaves it on top). */
static int slot_put(lua_State *L, struct sb_policy *pol, int f)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_slots);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, f + 1);
    lua_pop(L, 1);
    pol->slot_gen[f] = pol->gen;
    return 1;
}

static int push_strlist(lua_State *L, const char **v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int author_index(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    check_live(L, pol->author_ud, "post.author");
    const struct sb_author *a = &pol->post->author;
    switch (field_of(L, pol, F_HANDLE, F_BOT + 1, "post.author")) {
    case F_ID:
        return push_str(L, a->id);
    case F_HANDLE:
        return push_str(L, a->handle);
    case F_NAME:
        return push_str(L, a->name ? a->name : a->handle);
    case F_FOLLOWERS:
        lua_pushinteger(L, a->followers);
        return 1;
    case F_VERIFIED:
        lua_pushboolean(L, a->verified);
        return 1;
    case F_BOT:
        lua_pushboolean(L, a->bot);
        return 1;
    case F_CREATED_AT:
        return push_str(L, a->created_at);
    default:
        return 0;
    }
}

static int post_index(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    check_live(L, pol->post_ud, "post");
    const struct sb_post *p = pol->post;
    int f = field_of(L, pol, F_ID, F_AUTHOR + 1, "post");
    switch (f) {
    case F_ID:
        return push_str(L, p->id);
    case F_PLATFORM:
        return push_str(L, sb_platform_name(p->platform));
    case F_ACCOUNT:
        return push_str(L, p->account);
    case F_KIND:
        return push_str(L, sb_post_kind_name(p->kind));
    case F_LANG:
        return push_str(L, p->lang);
    case F_URL:
        return push_str(L, p->url);
    case F_CREATED_AT:
        return push_str(L, p->created_at);
    case F_VISIBILITY:
        return push_str(L, p->visibility ? p->visibility : "public");
    case F_THREAD:
        return push_str(L, p->thread ? p->thread : p->id);
    case F_IN_REPLY_TO:
        return push_str(L, p->in_reply_to);
    case F_AUTHOR:
        lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_author);
        return 1;
    default:
        break;
    }
    if (slot_get(L, pol, f))
        return 1;
    switch (f) {
    case F_TEXT:
        push_str(L, p->text ? p->text : "");
        break;
    case F_TAGS:
        push_strlist(L, p->tags, p->n_tags);
        break;
    case F_LINKS:
        push_strlist(L, p->links, p->n_links);
        break;
    case F_MENTIONS:
        lua_createtable(L, (int)p->n_mentions, 0);
        for (size_t i = 0; i < p->n_mentions; i++) {
            lua_createtable(L, 0, 2);
            push_str(L, p->mentions[i].id);
            lua_setfield(L, -2, "id");
            push_str(L, p->mentions[i].handle);
            lua_setfield(L, -2, "handle");
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    default:
        return 0;
    }
    return slot_put(L, pol, f);
}

static int ctx_index(lua_State *L)
{
    struct sb_policy *pol = sb_pol(L);
    check_live(L, pol->ctx_ud, "ctx");
    const struct sb_ctx *c = pol->ctx;
    int f = field_of(L, pol, F_NOW, F_QUEUES + 1, "ctx");
    switch (f) {
    case F_NOW:
        lua_pushinteger(L, c->now);
        return 1;
    case F_BUSINESS_HOURS:
        lua_pushboolean(L, c->business_hours);
        return 1;
    case F_SURGE:
        lua_pushinteger(L, c->surge);
        return 1;
    default:
        break;
    }
    if (slot_get(L, pol, f))
        return 1;
    switch (f) {
    case F_CASE:
        if (!c->case_id) {
            lua_pushnil(L);
            return 1; /* nil is not cached: it costs nothing */
        }
        lua_createtable(L, 0, 2);
        lua_pushstring(L, c->case_id);
        lua_setfield(L, -2, "id");
        push_str(L, c->case_queue);
        lua_setfield(L, -2, "queue");
        break;
    case F_HISTORY: {
        struct sb_ctx_history h = c->history;
        if (c->history_fn && c->history_fn(c->history_ud, &h) != 0)
            h = c->history; /* the store could not say: the defaults */
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, h.posts);
        lua_setfield(L, -2, "posts");
        lua_pushinteger(L, h.acknowledged);
        lua_setfield(L, -2, "acknowledged");
        lua_pushinteger(L, h.cases);
        lua_setfield(L, -2, "cases");
        break;
    }
    case F_QUEUES:
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
        break;
    default:
        return 0;
    }
    return slot_put(L, pol, f);
}

static int ro_newindex(lua_State *L)
{
    return luaL_error(L, "%s is read-only", lua_tostring(L, lua_upvalueindex(1)));
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

static void *new_view(lua_State *L, struct sb_policy *pol, const char *mt, int *ref)
{
    struct ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->pol = pol;
    u->gen = 0;
    luaL_setmetatable(L, mt);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return u;
}

void sb_postlua_open(lua_State *L, struct sb_policy *pol)
{
    make_mt(L, POST_MT, post_index, "post");
    make_mt(L, AUTHOR_MT, author_index, "post.author");
    make_mt(L, CTX_MT, ctx_index, "ctx");
    pol->post_ud = new_view(L, pol, POST_MT, &pol->ref_post);
    pol->ctx_ud = new_view(L, pol, CTX_MT, &pol->ref_ctx);
    pol->author_ud = new_view(L, pol, AUTHOR_MT, &pol->ref_author);
    /* interned field names, kept alive by the registry table below */
    lua_createtable(L, F__COUNT, 0);
    for (int i = 0; i < F__COUNT; i++) {
        lua_pushstring(L, field_names[i]);
        pol->fkeys[i] = lua_tostring(L, -1);
        lua_rawseti(L, -2, i + 1);
    }
    pol->ref_fkeys = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, F__COUNT, 0);
    pol->ref_slots = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Re-arm the views for the current call generation and push post and ctx. A view kept from an
 * earlier call is the same object, so it sees the current post, never freed memory. */
void sb_postlua_push(lua_State *L, struct sb_policy *pol)
{
    struct ud *pu = pol->post_ud, *cu = pol->ctx_ud, *au = pol->author_ud;
    pu->gen = cu->gen = au->gen = pol->gen;
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_post);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_ctx);
}
