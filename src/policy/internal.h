/* internal.h — what the policy runtime's files share (not a public header).
 * sandbox.c: state, allocator, budgets, the one door into Lua, require/load.
 * post_lua.c: post and ctx as read-only userdata. api_sb.c: `sb` library and builders.
 * source.c: reading a policy directory. policy.c: load and decide. testrun.c: the harness. */
#ifndef SB_POLICY_INTERNAL_H
#define SB_POLICY_INTERNAL_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/context.h"
#include "core/decision.h"
#include "core/post.h"
#include "policy/lpattern.h"
#include "policy/policy.h"
#include "policy/text.h"
#include "util/buf.h"

/* One file of the policy directory, read at load time (no I/O during calls). */
struct sb_src_file {
    char *path; /* relative, '/'-separated */
    char *data;
    size_t len;
};

struct sb_src {
    struct sb_src_file *files;
    size_t n;
    char version[17];
    char *files_json;
};

enum sb_err sb_src_read(const char *dir, struct sb_src *src, struct sb_errbuf *eb);
void sb_src_free(struct sb_src *src);
const struct sb_src_file *sb_src_find(const struct sb_src *src, const char *path);

/* Structured failure of one entry into Lua. */
struct sb_call_err {
    enum sb_err code;
    char message[1024];
    char file[256];
    int line;
    char traceback[4096];
};

/* What a builder call produced (strings live in the current decision's arena). The decide
 * function's return value is matched against these by table identity; the tables are
 * anchored in the registry so a collected table's address cannot be reused within a call. */
#define SB_BUILT_MAX 8
struct sb_built {
    const void *tbl;
    enum sb_action action;
    const char *reply, *message, *queue;
    enum sb_priority priority;
    const char *reasons[SB_DECISION_REASONS_MAX];
    int n_reasons;
};

/* Interned key strings the builders compare by pointer (Lua short strings are unique). */
enum sb_key { K_REPLY, K_MESSAGE, K_QUEUE, K_PRIORITY, K_REASON, K_VARS, K__COUNT };

struct sb_policy {
    lua_State *L;
    struct sb_src src;
    struct sb_policy_opts opts;
    char *error_queue;

    /* memory accounting (the allocator's ud is this struct) */
    size_t mem_used, mem_peak, mem_cap;
    bool mem_unlimited; /* while the error handler builds its report */

    /* per-call budget state */
    bool in_call;
    long long instr_left;
    int64_t deadline_ns;
    enum sb_err killed; /* SB_OK, or why the call is being torn down */
    struct sb_pattern_budget pat;
    uint64_t gen; /* call generation: userdata from an older call refuse access */

    /* per-call data */
    const struct sb_post *post;
    const struct sb_ctx *ctx;
    uint64_t rng;
    struct sb_buf log;       /* sb.log lines of this call, '\n'-separated */
    struct sb_decision *dec; /* the decision being filled (builders write into its arena) */
    struct sb_built built[SB_BUILT_MAX];
    int n_built;
    const char *keys[K__COUNT];
    struct sb_buf render;
    void *post_ud, *ctx_ud, *author_ud; /* the persistent views, re-armed each call */
    const char *fkeys[32];              /* interned field names of the views (post_lua.c) */
    uint64_t slot_gen[32];              /* per field: the call generation its cached value is for */

    /* text cache: the last string tokenized, its normalization and tokens */
    struct sb_buf tok_src, tok_norm;
    struct sb_tokens tokens;
    bool tok_valid;

    struct sb_text_index *words;
    int ref_env;     /* registry: the policy's _ENV proxy */
    int ref_decide;  /* registry: the decide function */
    int ref_anchor;  /* registry: array anchoring this call's builder tables */
    int ref_post;    /* registry: the post view */
    int ref_ctx;     /* registry: the ctx view */
    int ref_author;  /* registry: the post.author view */
    int ref_fkeys;   /* registry: keeps the interned field names alive */
    int ref_slots;   /* registry: per-field values made during the current call */
    int ref_keys;    /* registry: keeps the interned builder keys alive */
    int ref_loaded;  /* registry: require cache */
    int ref_wordtab; /* registry: name → word list userdata */

    struct sb_policy_stats stats;
};

/* The policy owning a state (stored in the state's extra space). */
static inline struct sb_policy *sb_pol(lua_State *L)
{
    return *(struct sb_policy **)lua_getextraspace(L);
}

int64_t sb_now_ns(void);

/* sandbox.c */
enum sb_err sb_sandbox_new(struct sb_policy *pol, struct sb_errbuf *eb);
/* Push a table that proxies `base` read-only (base at index idx). */
void sb_sandbox_readonly(lua_State *L, int idx, const char *what);
/* The one door: call the function below nargs arguments with the budget armed; on failure
 * fill err and leave nothing on the stack; on success leave nresults values. */
enum sb_err sb_sandbox_call(struct sb_policy *pol, int nargs, int nresults, long long instr,
                            int64_t time_ns, struct sb_call_err *err);
/* Load a chunk of policy text with the policy _ENV; pushes the function. */
enum sb_err sb_sandbox_load(struct sb_policy *pol, const char *name, const char *src, size_t len,
                            struct sb_call_err *err);

/* post_lua.c */
/* Create the metatables and the two persistent views (refs in pol). */
void sb_postlua_open(lua_State *L, struct sb_policy *pol);
/* Push the post and ctx views armed for the current call generation. */
void sb_postlua_push(lua_State *L, struct sb_policy *pol);

/* api_sb.c: pushes the `sb` table (raw; caller wraps it read-only) and registers the
 * builders into the table at index g. */
void sb_api_open(lua_State *L, int g);
/* Tokens of the string at index idx, via the per-policy cache. NULL on memory failure. */
struct sb_tokens *sb_api_tokens(lua_State *L, int idx);
/* Per-call deterministic random integer in [m, n]. */
lua_Integer sb_api_random(struct sb_policy *pol, lua_Integer m, lua_Integer n);

#endif
