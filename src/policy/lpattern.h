/* lpattern.h — a budgeted Lua 5.4 pattern engine for the policy sandbox.
 *
 * Stock string.find/match/gmatch/gsub run entirely in C, where the VM instruction hook never
 * fires, so a backtracking pattern can hang a policy call. These replacements have the same
 * semantics (Lua 5.4 reference manual §6.4.1) but charge every matching step to a budget. */
#ifndef SB_LPATTERN_H
#define SB_LPATTERN_H

#include <lua.h>

/* Budget shared with the caller: the engine decrements steps by one per matching step (each
 * single-char test, each backtrack, each capture op). When a charge would take it below zero
 * the engine sets exhausted = 1 and steps = 0, and the Lua function raises
 * "pattern budget exceeded". */
struct sb_pattern_budget {
    long long steps;
    int exhausted;
};

/* Returns the budget of the policy call in progress on L, or NULL for unlimited. Called at the
 * start of every find/match/gsub call and of every gmatch iterator step. */
typedef struct sb_pattern_budget *(*sb_pattern_budget_fn)(lua_State *L);

/* Set find, match, gmatch and gsub in the table at stack index idx (the sandbox's copy of the
 * string library). get_budget may be NULL, meaning always unlimited. Note: `s:find(...)` goes
 * through the string metatable's __index, so the host must point that at the same table. */
void sb_lpattern_install(lua_State *L, int idx, sb_pattern_budget_fn get_budget);

#endif
