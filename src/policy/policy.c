/* policy.c — loading a policy directory and deciding on posts through it (policy.h).
 * Depends on the sandbox (state, budgets, the door into Lua) and post_lua (post/ctx views). */
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

#define LOAD_BUDGET_FACTOR 20 /* main.lua's top level may do more than one call's work */

static void opts_defaults(struct sb_policy_opts *o, const struct sb_policy_opts *in)
{
    memset(o, 0, sizeof *o);
    if (in)
        *o = *in;
    if (o->instr_budget <= 0)
        o->instr_budget = 1000000;
    if (o->time_budget_ns <= 0)
        o->time_budget_ns = 50 * 1000000LL;
    if (o->mem_cap == 0)
        o->mem_cap = 16u << 20;
    if (o->pattern_budget <= 0)
        o->pattern_budget = 1000000;
}

static enum sb_err fail_call(struct sb_errbuf *eb, const struct sb_call_err *ce)
{
    if (ce->file[0] && !strstr(ce->message, ce->file))
        return sb_errf(eb, ce->code, "%s:%d: %s", ce->file, ce->line, ce->message);
    return sb_errf(eb, ce->code, "%s", ce->message);
}

enum sb_err sb_policy_load(const char *dir, const struct sb_policy_opts *opts,
                           struct sb_policy **out, struct sb_errbuf *eb)
{
    *out = NULL;
    struct sb_policy *pol = calloc(1, sizeof *pol);
    if (!pol)
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    opts_defaults(&pol->opts, opts);
    pol->mem_cap = pol->opts.mem_cap;
    pol->error_queue = strdup(pol->opts.error_queue ? pol->opts.error_queue : "policy-errors");
    pol->opts.error_queue = pol->error_queue;
    sb_buf_init(&pol->log, 8192);
    sb_buf_init(&pol->render, 16384);
    sb_buf_init(&pol->tok_src, SB_POST_TEXT_MAX);
    sb_buf_init(&pol->tok_norm, 4 * SB_POST_TEXT_MAX);
    sb_tokens_init(&pol->tokens);
    pol->ref_decide = LUA_NOREF;
    enum sb_err e = sb_src_read(dir, &pol->src, eb);
    if (e)
        goto fail;
    pol->words = sb_text_index_new();
    if (!pol->words) {
        e = sb_errf(eb, SB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    e = sb_sandbox_new(pol, eb);
    if (e)
        goto fail;
    sb_postlua_open(pol->L, pol);
    const struct sb_src_file *main = sb_src_find(&pol->src, "main.lua");
    struct sb_call_err ce;
    e = sb_sandbox_load(pol, main->path, main->data, main->len, &ce);
    if (!e)
        e = sb_sandbox_call(pol, 0, 1, pol->opts.instr_budget * LOAD_BUDGET_FACTOR,
                            pol->opts.time_budget_ns * LOAD_BUDGET_FACTOR, &ce);
    if (e) {
        fail_call(eb, &ce);
        goto fail;
    }
    if (!lua_isfunction(pol->L, -1)) {
        e = sb_errf(eb, SB_ERR_POLICY,
                    "main.lua must return the decide function, e.g. "
                    "`return function(post, ctx) ... end` (it returned a %s)",
                    luaL_typename(pol->L, -1));
        goto fail;
    }
    pol->ref_decide = luaL_ref(pol->L, LUA_REGISTRYINDEX);
    lua_gc(pol->L, LUA_GCCOLLECT);
    *out = pol;
    return SB_OK;
fail:
    sb_policy_free(pol);
    return e;
}

void sb_policy_free(struct sb_policy *pol)
{
    if (!pol)
        return;
    if (pol->L) {
        pol->mem_unlimited = true;
        lua_close(pol->L);
    }
    sb_text_index_free(pol->words);
    sb_src_free(&pol->src);
    sb_buf_free(&pol->log);
    sb_buf_free(&pol->render);
    sb_buf_free(&pol->tok_src);
    sb_buf_free(&pol->tok_norm);
    sb_tokens_free(&pol->tokens);
    free(pol->error_queue);
    free(pol);
}

const char *sb_policy_version(const struct sb_policy *pol)
{
    return pol->src.version;
}

const char *sb_policy_files_json(const struct sb_policy *pol)
{
    return pol->src.files_json;
}

void sb_policy_stats_get(const struct sb_policy *pol, struct sb_policy_stats *st)
{
    *st = pol->stats;
    st->mem_used = pol->mem_used;
    st->mem_peak = pol->mem_peak;
}

/* The value on top of the stack → d. Returns an error message, or NULL. */
static const char *convert(struct sb_policy *pol, struct sb_decision *d)
{
    lua_State *L = pol->L;
    int t = lua_gettop(L);
    if (!lua_istable(L, t))
        return lua_isnil(L, t) ? "decide returned nothing (every path must return a decision)"
                               : "decide returned something that is not a decision";
    const void *p = lua_topointer(L, t);
    int n = pol->n_built < SB_BUILT_MAX ? pol->n_built : SB_BUILT_MAX;
    for (int k = 0; k < n; k++) {
        const struct sb_built *b = &pol->built[(pol->n_built - 1 - k) % SB_BUILT_MAX];
        if (b->tbl != p)
            continue;
        d->action = b->action;
        d->reply = b->reply;
        d->message = b->message;
        d->queue = b->queue;
        d->priority = b->priority;
        memcpy(d->reasons, b->reasons, sizeof b->reasons);
        d->n_reasons = b->n_reasons;
        return NULL;
    }
    return "decide returned a table not built by acknowledge, move_to_private, escalate "
           "or ignore";
}

static uint64_t seed_of(const char *s)
{
    uint64_t h = 0x5b0a3d0c1e2f4a6bull;
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

enum sb_err sb_policy_decide(struct sb_policy *pol, const struct sb_post *post,
                             const struct sb_ctx *ctx, struct sb_decision *d)
{
    static const struct sb_ctx empty_ctx;
    int64_t t0 = sb_now_ns();
    lua_State *L = pol->L;
    sb_decision_reset(d);
    pol->gen++;
    pol->post = post;
    pol->ctx = ctx ? ctx : &empty_ctx;
    pol->rng = seed_of(post->id);
    sb_buf_reset(&pol->log);
    pol->stats.calls++;

    pol->dec = d;
    pol->n_built = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, pol->ref_decide);
    sb_postlua_push(L, pol);
    struct sb_call_err ce;
    enum sb_err e =
        sb_sandbox_call(pol, 2, 1, pol->opts.instr_budget, pol->opts.time_budget_ns, &ce);
    if (!e) {
        const char *bad = convert(pol, d);
        lua_settop(L, 0);
        if (bad) {
            e = SB_ERR_POLICY;
            sb_decision_reset(d);
            sb_decision_set_error(d, pol->error_queue, e, bad, "main.lua", 0, NULL);
            pol->stats.errors++;
        }
    } else {
        /* whatever the policy built is discarded (and may have filled the arena) */
        sb_decision_reset(d);
        if (sb_decision_set_error(d, pol->error_queue, e, ce.message, ce.file[0] ? ce.file : NULL,
                                  ce.line, ce.traceback[0] ? ce.traceback : NULL) != SB_OK)
            sb_decision_set_error(d, pol->error_queue, e, "policy failed", NULL, 0, NULL);
        pol->stats.errors++;
        if (e == SB_ERR_BUDGET)
            pol->stats.budget_kills++;
        if (e == SB_ERR_MEMLIMIT)
            pol->stats.mem_kills++;
    }
    /* sb.log lines join the trace */
    for (char *p = pol->log.data, *nl; pol->log.len && p && *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        char line[600];
        snprintf(line, sizeof line, "log: %s", p);
        sb_decision_add_reason(d, line);
    }
    pol->post = NULL;
    pol->ctx = NULL;
    pol->dec = NULL;
    pol->gen++;
    d->policy_version = pol->src.version;
    d->latency_ns = sb_now_ns() - t0;
    return e;
}
