/* testrun.c — `switchboard policy test|check`: runs a policy directory's *_test.lua files.
 * Tests run in their own sandboxed state (same rules as the policy, a larger budget); their
 * decide() goes through sb_policy_decide on a separately loaded copy of the policy, exactly
 * as production calls it. Depends on policy.c, sandbox.c. */
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

#define TEST_INSTR (50LL * 1000 * 1000)
#define TEST_TIME_NS (10LL * 1000 * 1000 * 1000)

/* The harness, in Lua. Runs with the writable globals table as _ENV, so its functions become
 * globals of the test environment. `decide_raw` and `register_test` are C. */
static const char prelude[] =
    "local fmt = string.format\n"
    "local function show(v)\n"
    "  if type(v) == 'string' then return fmt('%q', v) end\n"
    "  return tostring(v)\n"
    "end\n"
    "local seq = 0\n"
    "function test(name, fn)\n"
    "  if type(name) ~= 'string' or type(fn) ~= 'function' then\n"
    "    error('usage: test(\"name\", function() ... end)', 2) end\n"
    "  register_test(name, fn)\n"
    "end\n"
    "local function merge(dst, src)\n"
    "  for k, v in pairs(src or {}) do\n"
    "    if type(v) == 'table' and type(dst[k]) == 'table' and #v == 0 and next(v) ~= nil then\n"
    "      merge(dst[k], v) else dst[k] = v end\n"
    "  end\n"
    "  return dst\n"
    "end\n"
    "function post(t)\n"
    "  seq = seq + 1\n"
    "  return merge({ id = 'test-' .. seq, platform = 'mastodon', kind = 'mention', text = '',\n"
    "    lang = 'en', visibility = 'public', created_at = '2026-01-01T00:00:00.000Z',\n"
    "    mentions = {}, tags = {}, links = {},\n"
    "    author = { id = '1001', handle = 'customer', name = 'Casey Customer',\n"
    "               followers = 120, verified = false, bot = false } }, t)\n"
    "end\n"
    "function ctx(t)\n"
    "  return merge({ now = 1767225600, business_hours = true, surge = 0,\n"
    "    history = { posts = 0, acknowledged = 0, cases = 0 }, queues = {} }, t)\n"
    "end\n"
    "function decide(p, c)\n"
    "  if type(p) ~= 'table' then error('decide(post [, ctx]): build the post with post{...}', 2) "
    "end\n"
    "  return decide_raw(p, c or ctx())\n"
    "end\n"
    "function expect(cond, msg)\n"
    "  if not cond then error(msg or 'expectation failed', 2) end\n"
    "end\n"
    "function expect_eq(got, want, msg)\n"
    "  if got ~= want then\n"
    "    error(fmt('%sexpected %s, got %s', msg and (msg .. ': ') or '', show(want), show(got)), "
    "2)\n"
    "  end\n"
    "end\n"
    "function expect_match(s, pat, msg)\n"
    "  if type(s) ~= 'string' or not string.find(s, pat) then\n"
    "    error(fmt('%sexpected %s to match %s', msg and (msg .. ': ') or '', show(s), show(pat)), "
    "2)\n"
    "  end\n"
    "end\n"
    "function expect_has_reason(d, sub, msg)\n"
    "  for _, r in ipairs(d.reasons or {}) do\n"
    "    if string.find(string.lower(r), string.lower(sub), 1, true) then return end\n"
    "  end\n"
    "  error(fmt('%sno reason contains %s (reasons: %s)', msg and (msg .. ': ') or '', show(sub),\n"
    "    table.concat(d.reasons or {}, '; ')), 2)\n"
    "end\n";

struct runner {
    struct sb_policy *prod; /* the policy under test */
    struct sb_policy *tst;  /* the test state */
    struct sb_post post;
    struct sb_decision dec;
};

static struct runner *runner_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int l_register(lua_State *L)
{
    luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, "sb.tests");
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "name");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "fn");
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return 0;
}

static const char *opt_str(lua_State *L, int t, const char *k, struct sb_arena *a)
{
    const char *r = NULL;
    if (lua_getfield(L, t, k) == LUA_TSTRING)
        r = sb_arena_strdup(a, lua_tostring(L, -1));
    else if (!lua_isnil(L, -1))
        luaL_error(L, "post field '%s' must be a string", k);
    lua_pop(L, 1);
    return r;
}

static const char **str_list(lua_State *L, int t, const char *k, size_t *n, struct sb_arena *a)
{
    *n = 0;
    const char **v = NULL;
    if (lua_getfield(L, t, k) == LUA_TTABLE) {
        size_t len = lua_rawlen(L, -1);
        v = sb_arena_alloc(a, (len + 1) * sizeof *v);
        for (size_t i = 0; v && i < len; i++) {
            if (lua_rawgeti(L, -1, (lua_Integer)i + 1) == LUA_TSTRING)
                v[(*n)++] = sb_arena_strdup(a, lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return v;
}

static void post_from_table(lua_State *L, int t, struct sb_post *p)
{
    struct sb_arena *a = p->arena;
    p->id = opt_str(L, t, "id", a);
    const char *pl = opt_str(L, t, "platform", a);
    p->platform = sb_platform_from_name(pl ? pl : "mastodon");
    if (p->platform == SB_PLATFORM_UNKNOWN)
        luaL_error(L, "post.platform must be \"mastodon\" or \"bluesky\"");
    const char *kind = opt_str(L, t, "kind", a);
    int k = sb_post_kind_from_name(kind ? kind : "mention");
    if (k < 0)
        luaL_error(L, "post.kind must be mention, reply, direct or comment");
    p->kind = (enum sb_post_kind)k;
    p->account = opt_str(L, t, "account", a);
    p->text = opt_str(L, t, "text", a);
    if (!p->text)
        p->text = "";
    p->lang = opt_str(L, t, "lang", a);
    p->url = opt_str(L, t, "url", a);
    p->created_at = opt_str(L, t, "created_at", a);
    p->visibility = opt_str(L, t, "visibility", a);
    p->thread = opt_str(L, t, "thread", a);
    p->in_reply_to = opt_str(L, t, "in_reply_to", a);
    p->tags = str_list(L, t, "tags", &p->n_tags, a);
    p->links = str_list(L, t, "links", &p->n_links, a);
    if (lua_getfield(L, t, "mentions") == LUA_TTABLE) {
        size_t len = lua_rawlen(L, -1);
        p->mentions = sb_arena_alloc(a, (len + 1) * sizeof *p->mentions);
        for (size_t i = 0; p->mentions && i < len; i++) {
            if (lua_rawgeti(L, -1, (lua_Integer)i + 1) == LUA_TTABLE) {
                int m = lua_gettop(L);
                p->mentions[p->n_mentions].id = opt_str(L, m, "id", a);
                p->mentions[p->n_mentions].handle = opt_str(L, m, "handle", a);
                p->n_mentions++;
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if (lua_getfield(L, t, "author") == LUA_TTABLE) {
        int at = lua_gettop(L);
        struct sb_author *au = &p->author;
        au->id = opt_str(L, at, "id", a);
        au->handle = opt_str(L, at, "handle", a);
        au->name = opt_str(L, at, "name", a);
        au->created_at = opt_str(L, at, "created_at", a);
        lua_getfield(L, at, "followers");
        au->followers = lua_isinteger(L, -1)  ? lua_tointeger(L, -1)
                        : lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1)
                                              : -1;
        lua_getfield(L, at, "verified");
        au->verified = lua_toboolean(L, -1);
        lua_getfield(L, at, "bot");
        au->bot = lua_toboolean(L, -1);
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    if (p->created_at)
        sb_time_parse_iso8601(p->created_at, &p->created_ms);
}

#define CTX_QUEUES_MAX 32

static int l_decide_raw(lua_State *L)
{
    struct runner *r = runner_of(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    sb_post_reset(&r->post);
    post_from_table(L, 1, &r->post);

    struct sb_ctx c;
    memset(&c, 0, sizeof c);
    struct sb_queue_stat qs[CTX_QUEUES_MAX];
    lua_getfield(L, 2, "now");
    c.now = lua_tointeger(L, -1);
    lua_getfield(L, 2, "business_hours");
    c.business_hours = lua_toboolean(L, -1);
    lua_getfield(L, 2, "surge");
    c.surge = lua_tointeger(L, -1);
    lua_pop(L, 3);
    if (lua_getfield(L, 2, "history") == LUA_TTABLE) {
        lua_getfield(L, -1, "posts");
        c.history.posts = lua_tointeger(L, -1);
        lua_getfield(L, -2, "acknowledged");
        c.history.acknowledged = lua_tointeger(L, -1);
        lua_getfield(L, -3, "cases");
        c.history.cases = lua_tointeger(L, -1);
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "case") == LUA_TTABLE) {
        lua_getfield(L, -1, "id");
        c.case_id = lua_tostring(L, -1) ? lua_tostring(L, -1) : "case";
        lua_getfield(L, -2, "queue");
        c.case_queue = lua_tostring(L, -1);
        lua_pop(L, 2); /* strings stay referenced by the ctx table */
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "queues") == LUA_TTABLE) {
        int qt = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, qt) && c.n_queues < CTX_QUEUES_MAX) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
                struct sb_queue_stat *q = &qs[c.n_queues++];
                q->name = lua_tostring(L, -2);
                lua_getfield(L, -1, "depth");
                q->depth = lua_tointeger(L, -1);
                lua_getfield(L, -2, "agents_online");
                q->agents_online = lua_tointeger(L, -1);
                lua_getfield(L, -3, "oldest_wait");
                q->oldest_wait = lua_tointeger(L, -1);
                lua_pop(L, 3);
            }
            lua_pop(L, 1);
        }
        c.queues = qs;
    }
    /* keep the queues table on the stack while deciding: it owns the names */
    sb_policy_decide(r->prod, &r->post, &c, &r->dec);
    const struct sb_decision *d = &r->dec;
    lua_createtable(L, 0, 8);
    lua_pushstring(L, sb_action_name(d->action));
    lua_setfield(L, -2, "action");
#define SETS(k, v) (v ? (lua_pushstring(L, v), lua_setfield(L, -2, k)) : (void)0)
    SETS("reply", d->reply);
    SETS("message", d->message);
    if (d->action == SB_ACTION_ESCALATE) {
        SETS("queue", d->queue);
        SETS("priority", sb_priority_name(d->priority));
    }
    lua_createtable(L, d->n_reasons, 0);
    for (int i = 0; i < d->n_reasons; i++) {
        lua_pushstring(L, d->reasons[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "reasons");
    if (d->error) {
        lua_createtable(L, 0, 4);
        lua_pushstring(L, sb_strerror(d->error->code));
        lua_setfield(L, -2, "code");
        SETS("message", d->error->message);
        SETS("file", d->error->file);
        lua_pushinteger(L, d->error->line);
        lua_setfield(L, -2, "line");
        lua_setfield(L, -2, "error");
    }
#undef SETS
    return 1;
}

static enum sb_err runner_open(struct runner *r, const char *dir, const struct sb_policy_opts *o,
                               struct sb_errbuf *eb)
{
    memset(r, 0, sizeof *r);
    enum sb_err e = sb_policy_load(dir, o, &r->prod, eb);
    if (e)
        return e;
    if (sb_post_init(&r->post) || sb_decision_init(&r->dec))
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    /* The test state: same sandbox; main.lua is not run here. */
    struct sb_policy *t = calloc(1, sizeof *t);
    if (!t)
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    r->tst = t;
    t->opts = r->prod->opts;
    t->opts.instr_budget = TEST_INSTR;
    t->opts.time_budget_ns = TEST_TIME_NS;
    t->opts.mem_cap = 256u << 20;
    t->mem_cap = t->opts.mem_cap;
    t->error_queue = strdup("policy-errors");
    sb_buf_init(&t->log, 8192);
    sb_buf_init(&t->render, 16384);
    sb_buf_init(&t->tok_src, SB_POST_TEXT_MAX);
    sb_buf_init(&t->tok_norm, 4 * SB_POST_TEXT_MAX);
    sb_tokens_init(&t->tokens);
    t->ref_decide = LUA_NOREF;
    e = sb_src_read(dir, &t->src, eb);
    if (e)
        return e;
    t->words = sb_text_index_new();
    e = sb_sandbox_new(t, eb);
    if (e)
        return e;
    sb_postlua_open(t->L, t);
    lua_State *L = t->L;
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "sb.tests");
    /* G' sits behind the env proxy's __index */
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref_env);
    lua_getmetatable(L, -1);
    lua_getfield(L, -1, "__index");
    int g = lua_gettop(L);
    lua_pushcfunction(L, l_register);
    lua_setfield(L, g, "register_test");
    lua_pushlightuserdata(L, r);
    lua_pushcclosure(L, l_decide_raw, 1);
    lua_setfield(L, g, "decide_raw");
    if (luaL_loadbufferx(L, prelude, sizeof prelude - 1, "=harness", "t") != LUA_OK)
        return sb_errf(eb, SB_ERR_POLICY, "harness: %s", lua_tostring(L, -1));
    lua_pushvalue(L, g);
    lua_setupvalue(L, -2, 1);
    struct sb_call_err ce;
    e = sb_sandbox_call(t, 0, 0, TEST_INSTR, TEST_TIME_NS, &ce);
    if (e)
        return sb_errf(eb, e, "harness: %s", ce.message);
    lua_settop(L, 0);
    return SB_OK;
}

static void runner_close(struct runner *r)
{
    sb_policy_free(r->prod);
    sb_policy_free(r->tst);
    sb_post_free(&r->post);
    sb_decision_free(&r->dec);
}

static int is_test_file(const char *path)
{
    size_t n = strlen(path);
    return n > 9 && !strcmp(path + n - 9, "_test.lua");
}

enum sb_err sb_policy_test_run(const char *dir, const struct sb_policy_opts *opts, FILE *out,
                               int *passed, int *failed, struct sb_errbuf *eb)
{
    struct runner r;
    *passed = *failed = 0;
    enum sb_err e = runner_open(&r, dir, opts, eb);
    if (e) {
        runner_close(&r);
        return e;
    }
    struct sb_policy *t = r.tst;
    lua_State *L = t->L;
    int files = 0;
    for (size_t i = 0; i < t->src.n; i++) {
        const struct sb_src_file *f = &t->src.files[i];
        if (!is_test_file(f->path))
            continue;
        files++;
        fprintf(out, "%s\n", f->path);
        lua_newtable(L);
        lua_setfield(L, LUA_REGISTRYINDEX, "sb.tests");
        struct sb_call_err ce;
        e = sb_sandbox_load(t, f->path, f->data, f->len, &ce);
        if (!e)
            e = sb_sandbox_call(t, 0, 0, TEST_INSTR, TEST_TIME_NS, &ce);
        if (e) {
            fprintf(out, "  FAIL  (loading the file)\n        %s\n", ce.message);
            (*failed)++;
            continue;
        }
        lua_getfield(L, LUA_REGISTRYINDEX, "sb.tests");
        int list = lua_gettop(L);
        lua_Integer n = (lua_Integer)lua_rawlen(L, list);
        for (lua_Integer k = 1; k <= n; k++) {
            lua_rawgeti(L, list, k);
            lua_getfield(L, -1, "name");
            char name[256];
            snprintf(name, sizeof name, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
            lua_getfield(L, -1, "fn");
            lua_remove(L, -2);
            int64_t t0 = sb_now_ns();
            e = sb_sandbox_call(t, 0, 0, TEST_INSTR, TEST_TIME_NS, &ce);
            double ms = (double)(sb_now_ns() - t0) / 1e6;
            if (!e) {
                (*passed)++;
                fprintf(out, "  ok    %s (%.2f ms)\n", name, ms);
            } else {
                (*failed)++;
                fprintf(out, "  FAIL  %s\n        %s\n", name, ce.message);
                if (e != SB_ERR_POLICY)
                    fprintf(out, "        (%s)\n", sb_strerror(e));
            }
        }
        lua_settop(L, 0);
    }
    fprintf(out, "%d passed, %d failed (%d test files, policy %s)\n", *passed, *failed, files,
            sb_policy_version(r.prod));
    runner_close(&r);
    if (*passed == 0 && *failed == 0)
        return sb_errf(eb, SB_ERR_TEST, "no tests found (files named *_test.lua)");
    return *failed ? sb_errf(eb, SB_ERR_TEST, "%d test(s) failed", *failed) : SB_OK;
}

enum sb_err sb_policy_lint(const char *dir, FILE *out, struct sb_errbuf *eb)
{
    struct sb_src src;
    enum sb_err e = sb_src_read(dir, &src, eb);
    if (e)
        return e;
    lua_State *L = luaL_newstate();
    int bad = 0;
    for (size_t i = 0; L && i < src.n; i++) {
        const struct sb_src_file *f = &src.files[i];
        size_t n = strlen(f->path);
        if (n < 4 || strcmp(f->path + n - 4, ".lua"))
            continue;
        char chunk[300];
        snprintf(chunk, sizeof chunk, "@%s", f->path);
        if (luaL_loadbufferx(L, f->data, f->len, chunk, "t") != LUA_OK) {
            fprintf(out, "  syntax error: %s\n", lua_tostring(L, -1));
            bad++;
        }
        lua_settop(L, 0);
    }
    if (L)
        lua_close(L);
    sb_src_free(&src);
    return bad ? sb_errf(eb, SB_ERR_POLICY, "%d file(s) do not compile", bad) : SB_OK;
}
