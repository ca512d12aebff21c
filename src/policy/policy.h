/* policy.h — a loaded Lua policy: sandboxed, budgeted, deterministic (design §2).
 *
 * Lifecycle: sb_policy_load() reads a policy directory into memory (every .lua and word list,
 * hashed into the version), builds the sandbox and runs main.lua, which must return the
 * decide function. sb_policy_decide() is then called once per post on the owning thread; it
 * never fails to produce a decision: any policy failure becomes an escalation carrying the
 * structured error. A policy object is used by one thread at a time. */
#ifndef SB_POLICY_H
#define SB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/context.h"
#include "core/decision.h"
#include "core/post.h"
#include "util/err.h"

struct sb_policy;

struct sb_policy_opts {
    long long instr_budget;   /* VM instructions per call (0 = 1,000,000) */
    int64_t time_budget_ns;   /* wall time per call (0 = 50 ms) */
    size_t mem_cap;           /* bytes for the whole Lua state (0 = 16 MiB) */
    long long pattern_budget; /* pattern-matching steps per call (0 = 1,000,000) */
    const char *error_queue;  /* queue for failed decisions (NULL = "policy-errors") */
};

/* Load DIR (borrowed). On failure returns the error, fills eb, and *out stays NULL.
 * opts may be NULL for defaults. *out is new: free with sb_policy_free. */
enum sb_err sb_policy_load(const char *dir, const struct sb_policy_opts *opts,
                           struct sb_policy **out, struct sb_errbuf *eb);
void sb_policy_free(struct sb_policy *pol);

/* Hex hash of the directory's sources (borrowed, lives as long as pol). */
const char *sb_policy_version(const struct sb_policy *pol);
/* Files that went into the version, as a JSON array of relative paths (borrowed). */
const char *sb_policy_files_json(const struct sb_policy *pol);

/* Decide on one post. d must be initialised (sb_decision_init); it is reset first. Always fills
 * d. Returns SB_OK when the policy itself decided, or the failure code (SB_ERR_POLICY,
 * SB_ERR_BUDGET, SB_ERR_MEMLIMIT, ...) when d is the failure escalation. */
enum sb_err sb_policy_decide(struct sb_policy *pol, const struct sb_post *post,
                             const struct sb_ctx *ctx, struct sb_decision *d);

/* Run every *_test.lua under the policy directory. Writes a per-test report to `report`.
 * Returns SB_OK if all passed (and at least one test ran), SB_ERR_TEST otherwise. */
enum sb_err sb_policy_test_run(const char *dir, const struct sb_policy_opts *opts, FILE *report,
                               int *passed, int *failed, struct sb_errbuf *eb);

/* Compile every .lua file of the directory without running it (syntax lint). */
enum sb_err sb_policy_lint(const char *dir, FILE *report, struct sb_errbuf *eb);

/* Counters since load. */
struct sb_policy_stats {
    uint64_t calls, errors, budget_kills, mem_kills;
    size_t mem_used, mem_peak;
};
void sb_policy_stats_get(const struct sb_policy *pol, struct sb_policy_stats *st);

#endif
