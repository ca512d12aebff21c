/* test_sandbox.c — the sandbox escape and resource-exhaustion suite (docs/policy-api.md,
 * "The sandbox").
 *
 * Each attack is a tiny policy directory written into its own mkdtemp() directory, loaded with
 * small budgets (1e6 instructions, 50 ms, 16 MiB — 4 MiB for the memory bombs) and run in a
 * forked child, so that a hang or a crash in one attack is reported as that attack's failure
 * instead of taking the suite down: the parent kills a child that outlives its watchdog and
 * reports a signal as a crash. For every attack the child checks:
 *   - the attack call returns within WALL_LIMIT (2 s; the budget is 50 ms),
 *   - it is the failure escalation (queue "policy-errors", d.error set, no reply) with the
 *     expected error code and a message naming the thing at fault — or, for harmless tricks,
 *     the decision the policy meant,
 *   - memory never went past the cap (mem_peak <= cap + a little for the error report),
 *   - the SAME policy object then decides a normal post correctly (the state is not poisoned),
 *   - sb_policy_free() returns (no finalizer or close handler runs unbounded at close).
 * Attacks that must fail at load time check sb_policy_load's error instead.
 *
 * The "FIXED:" comments mark attacks that found real holes when this suite was written; each
 * stays as a regression test. Under valgrind (detected through LD_PRELOAD) or
 * ASan the time limits are scaled; SB_TEST_TIME_SCALE and SB_SANDBOX_JOBS (children at a time,
 * default 4) override, and SB_SANDBOX_ONLY=substring runs only the matching attacks. */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "policy/policy.h"
#include "t.h"

/* ---- harness helpers ------------------------------------------------------------------- */

static double g_scale = 1.0;       /* time scale: 1 normally, more under valgrind / ASan */
#define WALL_LIMIT (2.0 * g_scale) /* per call, the brief's bound (budget is 50 ms) */
#define WATCHDOG (4.0 * g_scale)   /* whole child: load + attack + normal + free */
#define MEM_CAP (16u << 20)
#define MEM_SMALL (4u << 20)
#define MEM_SLACK (256u << 10) /* the host's error report is allocated uncapped */

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double time_scale(void)
{
    const char *s = getenv("SB_TEST_TIME_SCALE");
    if (s && atof(s) > 0)
        return atof(s);
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload"))
        return 10.0;
#if defined(__SANITIZE_ADDRESS__)
    return 3.0;
#else
    return 1.0;
#endif
}

static void mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0700);
            *p = '/';
        }
    mkdir(tmp, 0700);
}

/* Write dir/rel (creating directories on the way); len (size_t)-1 means strlen. */
static void write_file_n(const char *dir, const char *rel, const char *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = 0;
    mkdirs(path);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        t_failures++;
        return;
    }
    fwrite(data, 1, len == (size_t)-1 ? strlen(data) : len, f);
    fclose(f);
}

static void write_file(const char *dir, const char *rel, const char *data)
{
    write_file_n(dir, rel, data, (size_t)-1);
}

/* A post filled by hand. Strings are literals; the arena only serves init/free. */
static const char *g_tags_a[] = {"support"};
static const char *g_tags_b[] = {"billing"};
static void make_post(struct sb_post *p, const char *id, const char *text)
{
    sb_post_init(p);
    p->platform = SB_PLATFORM_MASTODON;
    p->kind = SB_POST_MENTION;
    p->id = id;
    p->account = "brand";
    p->text = text;
    p->lang = "en";
    p->created_at = "2026-01-01T00:00:00.000Z";
    p->visibility = "public";
    p->thread = id;
    p->tags = g_tags_a;
    p->n_tags = 1;
    p->author.id = "1001";
    p->author.handle = "ana";
    p->author.name = "Ana";
    p->author.followers = 120;
}

static struct sb_policy_opts small_opts(size_t mem)
{
    struct sb_policy_opts o;
    memset(&o, 0, sizeof o);
    o.instr_budget = 1000000;
    o.time_budget_ns = 50 * 1000000LL;
    o.mem_cap = mem;
    if (mem == MEM_SMALL) {
        /* memory bombs: a roomier CPU budget so that the cap, not the clock, trips first even
         * on a loaded machine or under valgrind */
        o.instr_budget = 100000000;
        o.time_budget_ns = (int64_t)(500 * 1000000LL * g_scale);
    }
    return o;
}

/* Load dir with small budgets; checks success and the load's wall time. */
static struct sb_policy *load_ok(const char *dir, size_t mem)
{
    struct sb_policy_opts o = small_opts(mem);
    struct sb_policy *pol = NULL;
    struct sb_errbuf eb = {{0}};
    double t0 = now_s();
    enum sb_err e = sb_policy_load(dir, &o, &pol, &eb);
    double dt = now_s() - t0;
    CHECKF(e == SB_OK && pol, "load failed: %s (%s)", sb_strerror(e), eb.msg);
    CHECKF(dt < WALL_LIMIT, "load took %.3f s", dt);
    return e == SB_OK ? pol : NULL;
}

/* Decide on a post with this id/text; returns the code, fills d and the wall time. */
static enum sb_err decide_text(struct sb_policy *pol, const char *id, const char *text,
                               struct sb_decision *d, double *secs)
{
    struct sb_post p;
    make_post(&p, id, text);
    double t0 = now_s();
    enum sb_err e = sb_policy_decide(pol, &p, NULL, d);
    if (secs)
        *secs = now_s() - t0;
    sb_post_free(&p);
    return e;
}

static const char *str_or(const char *s)
{
    return s ? s : "(null)";
}

static void dump_decision(const struct sb_decision *d, enum sb_err rc)
{
    fprintf(stderr, "    got rc=%s action=%s queue=%s reply=%s", sb_strerror(rc),
            sb_action_name(d->action), str_or(d->queue), str_or(d->reply));
    if (d->error)
        fprintf(stderr, " error={%s, %s:%d, \"%s\"}", sb_strerror(d->error->code),
                str_or(d->error->file), d->error->line, str_or(d->error->message));
    for (int i = 0; i < d->n_reasons; i++)
        fprintf(stderr, " reason[%d]=\"%s\"", i, d->reasons[i]);
    fputc('\n', stderr);
}

/* d must be the failure escalation with code `code` (or `alt` when non-zero) and a message
 * containing `msg` (when non-NULL). */
static void expect_escalation(const struct sb_decision *d, enum sb_err rc, enum sb_err code,
                              enum sb_err alt, const char *msg)
{
    int before = t_failures;
    CHECKF(rc == code || (alt && rc == alt), "return code %s, expected %s%s%s", sb_strerror(rc),
           sb_strerror(code), alt ? " or " : "", alt ? sb_strerror(alt) : "");
    CHECKF(d->error != NULL, "no structured error attached to the escalation");
    CHECKF(d->action == SB_ACTION_ESCALATE, "action %s", sb_action_name(d->action));
    CHECKF(d->queue && !strcmp(d->queue, "policy-errors"), "queue %s", str_or(d->queue));
    CHECKF(d->reply == NULL && d->message == NULL, "a failing policy must not speak: reply=%s",
           str_or(d->reply));
    if (d->error) {
        CHECKF(d->error->code == rc, "d.error->code %s != returned %s", sb_strerror(d->error->code),
               sb_strerror(rc));
        CHECKF(d->error->message && d->error->message[0], "empty error message");
        if (msg)
            CHECKF(d->error->message && strstr(d->error->message, msg),
                   "message \"%s\" does not mention \"%s\"", str_or(d->error->message), msg);
    }
    if (t_failures != before)
        dump_decision(d, rc);
}

static int has_reason(const struct sb_decision *d, const char *sub)
{
    for (int i = 0; i < d->n_reasons; i++)
        if (strstr(d->reasons[i], sub))
            return 1;
    return 0;
}

/* The normal path every generic attack policy keeps: it uses string methods, table, math,
 * templates and the builders, so a poisoned shared library or state shows up here. */
#define NORMAL_LUA                                                                                 \
    "    local parts = {}\n"                                                                       \
    "    table.insert(parts, (\"o\"):rep(1))\n"                                                    \
    "    table.insert(parts, string.lower(\"K\"))\n"                                               \
    "    return acknowledge{ reply = table.concat(parts) .. \" {{author.name}}\",\n"               \
    "                        reason = \"normal \" .. math.floor(2.5) }\n"

static void expect_normal(struct sb_policy *pol, const char *what)
{
    struct sb_decision d;
    sb_decision_init(&d);
    double dt = 0;
    enum sb_err rc = decide_text(pol, "900", "normal", &d, &dt);
    int before = t_failures;
    CHECKF(rc == SB_OK, "%s: the normal post after the attack failed: %s (%s)", what,
           sb_strerror(rc), d.error ? str_or(d.error->message) : "");
    CHECKF(d.error == NULL, "%s: normal decision carries an error", what);
    CHECKF(d.action == SB_ACTION_ACKNOWLEDGE, "%s: normal action %s", what,
           sb_action_name(d.action));
    CHECKF(d.reply && !strcmp(d.reply, "ok Ana"), "%s: normal reply %s", what, str_or(d.reply));
    CHECKF(d.n_reasons >= 1 && !strcmp(d.reasons[0], "normal 2"), "%s: normal reason", what);
    CHECKF(dt < WALL_LIMIT, "%s: normal call took %.3f s", what, dt);
    if (t_failures != before)
        dump_decision(&d, rc);
    sb_decision_free(&d);
}

static void check_stats(struct sb_policy *pol, size_t cap, enum sb_err rc)
{
    struct sb_policy_stats st;
    sb_policy_stats_get(pol, &st);
    CHECKF(st.mem_peak <= cap + MEM_SLACK, "memory peak %zu bytes is over the %zu-byte cap",
           st.mem_peak, cap);
    if (rc == SB_ERR_BUDGET)
        CHECKF(st.budget_kills >= 1, "budget kill not counted");
    if (rc == SB_ERR_MEMLIMIT)
        CHECKF(st.mem_kills >= 1, "memory kill not counted");
}

static void free_timed(struct sb_policy *pol)
{
    double t0 = now_s();
    sb_policy_free(pol);
    CHECKF(now_s() - t0 < WALL_LIMIT, "sb_policy_free took %.3f s", now_s() - t0);
}

/* ---- the attack table -------------------------------------------------------------------- */

enum kind {
    K_FAILS,      /* the attack call escalates with code (or alt) and msg */
    K_OK,         /* harmless: the call succeeds; msg is a substring of some reason */
    K_LOAD_FAILS, /* sb_policy_load fails with code (or alt) and msg; body is main.lua */
    K_CUSTOM,     /* custom(dir) does everything */
};

#define F_MEM4 1u /* 4 MiB memory cap and a roomy CPU budget: the cap must trip first */

struct attack {
    const char *name;
    enum kind kind;
    enum sb_err code, alt;
    const char *msg;
    const char *pre;  /* module-level Lua before `return function(post, ctx)` */
    const char *body; /* the attack, inside decide (or the whole main.lua for K_LOAD_FAILS) */
    unsigned flags;
    const char *file, *file_src; /* one extra file in the policy directory */
    void (*custom)(const char *dir);
};

#define FAILS(n, c, m, b)                                                                          \
    {                                                                                              \
        .name = n, .kind = K_FAILS, .code = c, .msg = m, .body = b                                 \
    }
#define FAILS2(n, c, a, m, b)                                                                      \
    {                                                                                              \
        .name = n, .kind = K_FAILS, .code = c, .alt = a, .msg = m, .body = b                       \
    }
#define FAILS_PRE(n, c, m, p, b)                                                                   \
    {                                                                                              \
        .name = n, .kind = K_FAILS, .code = c, .msg = m, .pre = p, .body = b                       \
    }
#define FAILS_MEM(n, m, b)                                                                         \
    {                                                                                              \
        .name = n, .kind = K_FAILS, .code = SB_ERR_MEMLIMIT, .msg = m, .body = b, .flags = F_MEM4  \
    }
#define OK(n, m, b)                                                                                \
    {                                                                                              \
        .name = n, .kind = K_OK, .msg = m, .body = b                                               \
    }
#define OK_PRE(n, m, p, b)                                                                         \
    {                                                                                              \
        .name = n, .kind = K_OK, .msg = m, .pre = p, .body = b                                     \
    }
#define LOAD_FAILS(n, c, a, m, src)                                                                \
    {                                                                                              \
        .name = n, .kind = K_LOAD_FAILS, .code = c, .alt = a, .msg = m, .body = src                \
    }
#define FAILS_FILE(n, c, m, b, f, fs)                                                              \
    {                                                                                              \
        .name = n, .kind = K_FAILS, .code = c, .msg = m, .body = b, .file = f, .file_src = fs      \
    }
#define CUSTOM(n, fn)                                                                              \
    {                                                                                              \
        .name = n, .kind = K_CUSTOM, .custom = fn                                                  \
    }

#define POL SB_ERR_POLICY
#define BUD SB_ERR_BUDGET
#define MEM SB_ERR_MEMLIMIT

static char *generic_main(const struct attack *a)
{
    const char *pre = a->pre ? a->pre : "";
    size_t n = strlen(pre) + strlen(a->body) + 1024;
    char *s = malloc(n);
    snprintf(s, n,
             "%s\n"
             "return function(post, ctx)\n"
             "  if post.text ~= \"attack\" then\n" NORMAL_LUA "  end\n"
             "%s\n"
             "end\n",
             pre, a->body);
    return s;
}

static void run_generic(const struct attack *a, const char *dir)
{
    size_t cap = (a->flags & F_MEM4) ? MEM_SMALL : MEM_CAP;
    if (a->file)
        write_file(dir, a->file, a->file_src);
    if (a->kind == K_LOAD_FAILS) {
        write_file(dir, "main.lua", a->body);
        struct sb_policy_opts o = small_opts(cap);
        struct sb_policy *pol = NULL;
        struct sb_errbuf eb = {{0}};
        double t0 = now_s();
        enum sb_err e = sb_policy_load(dir, &o, &pol, &eb);
        double dt = now_s() - t0;
        CHECKF(e == a->code || (a->alt && e == a->alt), "load returned %s (%s), expected %s",
               sb_strerror(e), eb.msg, sb_strerror(a->code));
        CHECKF(pol == NULL, "a failed load must not hand out a policy");
        CHECKF(dt < WALL_LIMIT, "load took %.3f s", dt);
        if (a->msg)
            CHECKF(strstr(eb.msg, a->msg), "load error \"%s\" does not mention \"%s\"", eb.msg,
                   a->msg);
        if (pol)
            free_timed(pol);
        return;
    }
    char *src = generic_main(a);
    write_file(dir, "main.lua", src);
    free(src);
    struct sb_policy *pol = load_ok(dir, cap);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    double dt = 0;
    enum sb_err rc = decide_text(pol, "1", "attack", &d, &dt);
    CHECKF(dt < WALL_LIMIT, "attack call took %.3f s (budget 50 ms)", dt);
    if (a->kind == K_FAILS) {
        expect_escalation(&d, rc, a->code, a->alt, a->msg);
    } else {
        int before = t_failures;
        CHECKF(rc == SB_OK && !d.error, "harmless trick failed: %s (%s)", sb_strerror(rc),
               d.error ? str_or(d.error->message) : "");
        if (a->msg)
            CHECKF(has_reason(&d, a->msg), "no reason mentions \"%s\"", a->msg);
        if (t_failures != before)
            dump_decision(&d, rc);
    }
    check_stats(pol, cap, rc);
    sb_decision_free(&d);
    expect_normal(pol, a->name);
    free_timed(pol);
}

/* ---- custom attacks ------------------------------------------------------------------------ */

/* Paths: every attack gets BASE (removed by the parent); the policy is BASE/policy and
 * BASE/outside holds files a policy must never reach. */
static void policy_dir(const char *base, char *out, size_t n)
{
    snprintf(out, n, "%s/policy", base);
    mkdirs(out);
}

static void outside_dir(const char *base, char *out, size_t n)
{
    snprintf(out, n, "%s/outside", base);
    mkdirs(out);
}

/* d.error->line points at the `error` call on line 3 of main.lua. */
static void c_error_line(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(dir, "main.lua",
               "return function(post)\n"
               "  if post.text == \"attack\" then\n"
               "    error(\"boom\")\n"
               "  end\n"
               "  return acknowledge{ reply = \"ok {{author.name}}\", reason = \"normal 2\" }\n"
               "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = decide_text(pol, "1", "attack", &d, NULL);
    expect_escalation(&d, rc, POL, 0, "boom");
    if (d.error) {
        T_INTEQ(d.error->line, 3);
        T_STREQ(d.error->file, "main.lua");
        CHECKF(strstr(d.error->message, "main.lua:3:"), "message %s", d.error->message);
        CHECKF(d.error->traceback && strstr(d.error->traceback, "main.lua:3"),
               "traceback lacks main.lua:3: %s", str_or(d.error->traceback));
    }
    sb_decision_free(&d);
    expect_normal(pol, "error line");
    free_timed(pol);
}

/* An error inside a required module is reported at the module's file and line. */
static void c_error_module_line(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(dir, "lib/m.lua",
               "local M = {}\n"
               "function M.explode() error(\"deep trouble\") end\n"
               "return M\n");
    write_file(dir, "main.lua",
               "local m = require \"lib.m\"\n"
               "return function(post)\n"
               "  if post.text == \"attack\" then m.explode() end\n"
               "  return acknowledge{ reply = \"ok {{author.name}}\", reason = \"normal 2\" }\n"
               "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = decide_text(pol, "1", "attack", &d, NULL);
    expect_escalation(&d, rc, POL, 0, "deep trouble");
    if (d.error) {
        T_STREQ(d.error->file, "lib/m.lua");
        T_INTEQ(d.error->line, 2);
    }
    sb_decision_free(&d);
    expect_normal(pol, "module error line");
    free_timed(pol);
}

/* Symlinks in the policy directory (to a file or a directory outside it) are not policy
 * files: require and sb.words cannot reach through them, and they are not in the version. */
static void c_symlink_escape(const char *base)
{
    char dir[512], out[512], target[1100], link[1100];
    policy_dir(base, dir, sizeof dir);
    outside_dir(base, out, sizeof out);
    write_file(out, "secret.lua", "return \"SECRET\"\n");
    write_file(out, "list.txt", "secret phrase\n");
    snprintf(target, sizeof target, "%s/secret.lua", out);
    snprintf(link, sizeof link, "%s/evil.lua", dir);
    T_INTEQ(symlink(target, link), 0);
    snprintf(link, sizeof link, "%s/ext", dir);
    T_INTEQ(symlink(out, link), 0);
    mkdirs(strcat(strcpy(target, dir), "/words"));
    snprintf(target, sizeof target, "%s/list.txt", out);
    snprintf(link, sizeof link, "%s/words/x.txt", dir);
    T_INTEQ(symlink(target, link), 0);
    snprintf(link, sizeof link, "%s/passwd.lua", dir);
    T_INTEQ(symlink("/etc/passwd", link), 0);
    write_file(dir, "main.lua",
               "return function(post)\n"
               "  if post.text ~= \"attack\" then\n" NORMAL_LUA "  end\n"
               "  local out = {}\n"
               "  for _, name in ipairs{ \"evil\", \"ext.secret\", \"passwd\" } do\n"
               "    local ok, e = pcall(require, name)\n"
               "    out[#out + 1] = tostring(ok) .. \":\" .. tostring(e)\n"
               "  end\n"
               "  local ok, e = pcall(sb.words, \"x\")\n"
               "  out[#out + 1] = tostring(ok) .. \":\" .. tostring(e)\n"
               "  return ignore{ reason = out }\n"
               "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    const char *files = sb_policy_files_json(pol);
    CHECKF(!strstr(files, "evil") && !strstr(files, "secret") && !strstr(files, "passwd") &&
               !strstr(files, "x.txt"),
           "symlinked files went into the policy: %s", files);
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = decide_text(pol, "1", "attack", &d, NULL);
    CHECKF(rc == SB_OK && d.n_reasons == 4, "rc %s, %d reasons", sb_strerror(rc), d.n_reasons);
    for (int i = 0; i < d.n_reasons && i < 3; i++)
        CHECKF(!strncmp(d.reasons[i], "false:", 6) && strstr(d.reasons[i], "not found"),
               "require through a symlink: %s", d.reasons[i]);
    if (d.n_reasons == 4)
        CHECKF(!strncmp(d.reasons[3], "false:", 6) && strstr(d.reasons[3], "no word list"),
               "sb.words through a symlink: %s", d.reasons[3]);
    CHECKF(!has_reason(&d, "SECRET") && !has_reason(&d, "root:"), "leaked outside content");
    sb_decision_free(&d);
    expect_normal(pol, "symlinks");
    free_timed(pol);
}

/* main.lua itself a symlink to a valid policy outside: the directory has no main.lua. */
static void c_symlink_main(const char *base)
{
    char dir[512], out[512], target[1100], link[1100];
    policy_dir(base, dir, sizeof dir);
    outside_dir(base, out, sizeof out);
    write_file(out, "main.lua", "return function() return ignore{} end\n");
    snprintf(target, sizeof target, "%s/main.lua", out);
    snprintf(link, sizeof link, "%s/main.lua", dir);
    T_INTEQ(symlink(target, link), 0);
    struct sb_policy_opts o = small_opts(MEM_CAP);
    struct sb_policy *pol = NULL;
    struct sb_errbuf eb = {{0}};
    enum sb_err e = sb_policy_load(dir, &o, &pol, &eb);
    CHECKF(e == SB_ERR_POLICY && !pol, "symlinked main.lua loaded: %s", sb_strerror(e));
    CHECKF(strstr(eb.msg, "main.lua"), "message %s", eb.msg);
    if (pol)
        sb_policy_free(pol);
}

/* A directory with no regular policy file at all (here: nothing but a dangling symlink) is
 * refused with a clear error. (UBSan, until fixed: source.c calls qsort(NULL, 0, ...) when the
 * walk found no file — undefined behaviour, aborts the sanitizer build.) */
static void c_empty_dir(const char *base)
{
    char dir[512], link[1100];
    policy_dir(base, dir, sizeof dir);
    snprintf(link, sizeof link, "%s/main.lua", dir);
    T_INTEQ(symlink("/nonexistent/main.lua", link), 0);
    struct sb_policy_opts o = small_opts(MEM_CAP);
    struct sb_policy *pol = NULL;
    struct sb_errbuf eb = {{0}};
    enum sb_err e = sb_policy_load(dir, &o, &pol, &eb);
    CHECKF(e == SB_ERR_POLICY && !pol, "empty directory: %s", sb_strerror(e));
    CHECKF(strstr(eb.msg, "main.lua"), "message %s", eb.msg);
    if (pol)
        sb_policy_free(pol);
}

static void files_loop(const char *dir)
{
    write_file(dir, "a.lua", "local b = require \"b\"\nreturn { name = \"a\" }\n");
    write_file(dir, "b.lua", "local a = require \"a\"\nreturn { name = \"b\" }\n");
}

/* require loop at load time: a clear load error, not a stack overflow. */
static void c_require_loop_load(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    files_loop(dir);
    write_file(dir, "main.lua", "require \"a\"\nreturn function() return ignore{} end\n");
    struct sb_policy_opts o = small_opts(MEM_CAP);
    struct sb_policy *pol = NULL;
    struct sb_errbuf eb = {{0}};
    double t0 = now_s();
    enum sb_err e = sb_policy_load(dir, &o, &pol, &eb);
    CHECKF(e == SB_ERR_POLICY && !pol, "require loop loaded: %s", sb_strerror(e));
    CHECKF(strstr(eb.msg, "loop") && strstr(eb.msg, "'a'"), "message %s", eb.msg);
    CHECKF(now_s() - t0 < WALL_LIMIT, "slow");
    if (pol)
        sb_policy_free(pol);
}

/* The same loop required lazily inside decide. */
static void c_require_loop_call(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    files_loop(dir);
    struct attack a = {.name = "loop", .body = "  return require \"a\""};
    char *src = generic_main(&a);
    write_file(dir, "main.lua", src);
    free(src);
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = decide_text(pol, "1", "attack", &d, NULL);
    expect_escalation(&d, rc, POL, 0, "loop");
    sb_decision_free(&d);
    expect_normal(pol, "lazy require loop");
    free_timed(pol);
}

/* FIXED: a module whose top level raised leaves its "loading" marker behind, so requiring it
 * again claims a require loop instead of reporting (or retrying) the module's own error. */
static void c_require_failed_retry(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(dir, "bad.lua", "error(\"bad module\")\n");
    struct attack a = {.name = "retry",
                       .body = "  local ok1, e1 = pcall(require, \"bad\")\n"
                               "  local ok2, e2 = pcall(require, \"bad\")\n"
                               "  return ignore{ reason = { tostring(e1), tostring(e2) } }"};
    char *src = generic_main(&a);
    write_file(dir, "main.lua", src);
    free(src);
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = decide_text(pol, "1", "attack", &d, NULL);
    CHECKF(rc == SB_OK && d.n_reasons == 2, "rc %s", sb_strerror(rc));
    if (d.n_reasons == 2) {
        CHECKF(strstr(d.reasons[0], "bad module"), "first require: %s", d.reasons[0]);
        CHECKF(strstr(d.reasons[1], "bad module") && !strstr(d.reasons[1], "loop"),
               "second require of a failed module is misreported: \"%s\"", d.reasons[1]);
    }
    sb_decision_free(&d);
    expect_normal(pol, "require retry");
    free_timed(pol);
}

/* FIXED: a budget kill while a module's top level runs (lazy require inside decide) leaves the
 * loading marker in the require cache: every later call fails with "requires itself (loop)".
 * The state is poisoned until the policy is reloaded. */
static void c_require_after_kill(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(dir, "flag.lua", "return { on = false }\n");
    write_file(dir, "slow.lua",
               "local flag = require \"flag\"\n"
               "if flag.on then while true do end end\n"
               "return { n = 2 }\n");
    write_file(
        dir, "main.lua",
        "local flag = require \"flag\"\n"
        "return function(post)\n"
        "  flag.on = post.text == \"attack\"\n"
        "  local m = require \"slow\"\n"
        "  return acknowledge{ reply = \"ok {{author.name}}\", reason = \"normal \" .. m.n }\n"
        "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = decide_text(pol, "1", "attack", &d, NULL);
    expect_escalation(&d, rc, BUD, 0, "budget");
    sb_decision_free(&d);
    expect_normal(pol, "require after a budget kill");
    free_timed(pol);
}

/* A real precompiled chunk (made by the host's Lua) cannot get in: not through load(), not as
 * a module file, not as main.lua. */
struct dump_buf {
    char *p;
    size_t n, cap;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    struct dump_buf *b = ud;
    if (b->n + sz > b->cap)
        return 1;
    memcpy(b->p + b->n, p, sz);
    b->n += sz;
    return 0;
}

static size_t make_bytecode(char *out, size_t cap)
{
    lua_State *L = luaL_newstate();
    struct dump_buf b = {out, 0, cap};
    if (luaL_loadstring(L, "return acknowledge{ reply = \"pwned\" }") != LUA_OK ||
        lua_dump(L, dump_writer, &b, 0) != 0)
        b.n = 0;
    lua_close(L);
    return b.n;
}

static void c_bytecode(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    char bc[4096];
    size_t n = make_bytecode(bc, sizeof bc);
    CHECKF(n > 4 && bc[0] == 27, "could not make a chunk");
    /* as a Lua string literal of decimal escapes */
    char lit[4096 * 4 + 16], *w = lit;
    *w++ = '"';
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "\\%u", (unsigned char)bc[i]);
    *w++ = '"';
    *w = 0;
    char body[sizeof lit + 512];
    snprintf(body, sizeof body,
             "  local chunk = %s\n"
             "  local f, e = load(chunk)\n"
             "  local g, e2 = load(chunk, \"=x\", \"b\")\n"
             "  local ok, e3 = pcall(require, \"bin\")\n"
             "  return ignore{ reason = { tostring(f) .. \":\" .. tostring(e),\n"
             "                            tostring(g) .. \":\" .. tostring(e2),\n"
             "                            tostring(ok) .. \":\" .. tostring(e3) } }",
             lit);
    struct attack a = {.name = "bytecode", .body = body};
    char *src = generic_main(&a);
    write_file(dir, "main.lua", src);
    free(src);
    write_file_n(dir, "bin.lua", bc, n);
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (pol) {
        struct sb_decision d;
        sb_decision_init(&d);
        enum sb_err rc = decide_text(pol, "1", "attack", &d, NULL);
        CHECKF(rc == SB_OK && d.n_reasons == 3, "rc %s", sb_strerror(rc));
        for (int i = 0; i < d.n_reasons && i < 3; i++)
            CHECKF(!strncmp(d.reasons[i], "nil:", 4) || !strncmp(d.reasons[i], "false:", 6),
                   "binary chunk accepted: %s", d.reasons[i]);
        CHECKF(d.n_reasons == 3 && strstr(d.reasons[0], "binary") &&
                   strstr(d.reasons[1], "binary") && strstr(d.reasons[2], "binary"),
               "messages should say binary chunks are refused");
        CHECKF(!d.reply, "bytecode ran");
        sb_decision_free(&d);
        expect_normal(pol, "bytecode");
        free_timed(pol);
    }
    /* main.lua as bytecode */
    char dir2[600];
    snprintf(dir2, sizeof dir2, "%s/policy2", base);
    mkdirs(dir2);
    write_file_n(dir2, "main.lua", bc, n);
    struct sb_policy_opts o = small_opts(MEM_CAP);
    struct sb_errbuf eb = {{0}};
    pol = NULL;
    enum sb_err e = sb_policy_load(dir2, &o, &pol, &eb);
    CHECKF(e == SB_ERR_POLICY && !pol && strstr(eb.msg, "binary"), "binary main.lua: %s %s",
           sb_strerror(e), eb.msg);
    if (pol)
        sb_policy_free(pol);
}

/* `post` kept in a module-level upvalue and read in a later call. Documented behaviour: the
 * views are re-armed each call, so a kept `post` (and `post.author`) reads the CURRENT post —
 * never the previous call's (freed) strings. Mutating a list from an earlier call (post.tags)
 * does not leak into the next call. An error "used outside the decide() call" would also be
 * safe and is accepted. */
static void c_post_upvalue(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(dir, "main.lua",
               "local kept, kept_author, kept_tags\n"
               "return function(post)\n"
               "  if post.text == \"first\" then\n"
               "    kept, kept_author, kept_tags = post, post.author, post.tags\n"
               "    kept_tags[1] = \"evil\"\n"
               "    return ignore{ reason = \"kept\" }\n"
               "  end\n"
               "  return ignore{ reason = { kept.id, kept_author.id, kept.text, post.tags[1],\n"
               "                            tostring(rawequal(kept, post)) } }\n"
               "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = decide_text(pol, "1", "first", &d, NULL);
    T_INTEQ(rc, SB_OK);
    struct sb_post p;
    make_post(&p, "2", "second");
    p.author.id = "2002";
    p.tags = g_tags_b;
    rc = sb_policy_decide(pol, &p, NULL, &d);
    sb_post_free(&p);
    if (rc == SB_OK) {
        CHECKF(d.n_reasons == 5, "%d reasons", d.n_reasons);
        if (d.n_reasons == 5) {
            T_STREQ(d.reasons[0], "2");
            T_STREQ(d.reasons[1], "2002");
            T_STREQ(d.reasons[2], "second");
            T_STREQ(d.reasons[3], "billing");
            T_STREQ(d.reasons[4], "true");
        }
    } else {
        expect_escalation(&d, rc, POL, 0, "outside the decide");
    }
    sb_decision_free(&d);
    free_timed(pol);
}

/* A decision built and then mutated: the recorded decision is what the builder saw. */
static void c_mutated_decision(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    struct attack a = {
        .name = "mutate",
        .body = "  local d = acknowledge{ reply = \"hi {{author.name}}\", reason = \"orig\" }\n"
                "  d.reply = \"@everyone pwned\"\n"
                "  d.reason = \"changed\"\n"
                "  d.queue = \"root\"\n"
                "  d.action = \"escalate\"\n"
                "  return d"};
    char *src = generic_main(&a);
    write_file(dir, "main.lua", src);
    free(src);
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = decide_text(pol, "1", "attack", &d, NULL);
    T_INTEQ(rc, SB_OK);
    T_INTEQ(d.action, SB_ACTION_ACKNOWLEDGE);
    T_STREQ(d.reply, "hi Ana");
    CHECKF(d.queue == NULL, "queue %s", str_or(d.queue));
    CHECKF(d.n_reasons == 1 && !strcmp(d.reasons[0], "orig"), "reasons changed");
    sb_decision_free(&d);
    expect_normal(pol, "mutated decision");
    free_timed(pol);
}

/* A decision built in an earlier call and returned later is not this call's decision. */
static void c_previous_call_decision(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(dir, "main.lua",
               "local saved\n"
               "return function(post)\n"
               "  if post.text == \"first\" then\n"
               "    saved = acknowledge{ reply = \"old\" }\n"
               "    return ignore{ reason = \"first\" }\n"
               "  end\n"
               "  return saved\n"
               "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_decision d;
    sb_decision_init(&d);
    T_INTEQ(decide_text(pol, "1", "first", &d, NULL), SB_OK);
    enum sb_err rc = decide_text(pol, "2", "second", &d, NULL);
    expect_escalation(&d, rc, POL, 0, "not built by");
    sb_decision_free(&d);
    free_timed(pol);
}

static size_t utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int k = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        if (!k)
            return 0;
        for (int i = 1; i < k; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += k;
    }
    return 1;
}

/* An extremely long reply is cut to the platform limit (Mastodon 500) with "…" — not an
 * error; multi-byte text is cut on a character boundary. */
static void c_long_reply(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(
        dir, "main.lua",
        "return function(post)\n"
        "  if post.text == \"ascii\" then return acknowledge{ reply = (\"x\"):rep(8000) } end\n"
        "  return acknowledge{ reply = (\"\\u{1F44D}\\u{1F3FD}\"):rep(900) }\n"
        "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    const char *texts[] = {"ascii", "emoji"};
    for (int i = 0; i < 2; i++) {
        struct sb_decision d;
        sb_decision_init(&d);
        enum sb_err rc = decide_text(pol, "1", texts[i], &d, NULL);
        CHECKF(rc == SB_OK && d.reply, "%s: %s (%s)", texts[i], sb_strerror(rc),
               d.error ? str_or(d.error->message) : "");
        if (d.reply) {
            size_t n = strlen(d.reply);
            CHECKF(utf8_count(d.reply) <= 500, "%s: %zu characters", texts[i], utf8_count(d.reply));
            CHECKF(utf8_count(d.reply) > 400, "%s: cut too short", texts[i]);
            CHECKF(n >= 3 && !strcmp(d.reply + n - 3, "\xE2\x80\xA6"), "%s: no ellipsis", texts[i]);
            CHECKF(utf8_ok(d.reply), "%s: invalid UTF-8 after the cut", texts[i]);
        }
        sb_decision_free(&d);
    }
    free_timed(pol);
}

/* Template injection: a display name or a var that looks like a template is not expanded a
 * second time; '@' and '#' are neutralised (zero-width space after them); bidi controls
 * dropped. Checked on the rendered bytes. */
static void c_template_injection(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(dir, "main.lua",
               "return function(post)\n"
               "  return acknowledge{ reply = \"Hi {{author.name}}, see {{x}}\",\n"
               "                      vars = { x = \"{{post.id}} @here\" } }\n"
               "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    struct sb_post p;
    make_post(&p, "1", "attack");
    p.author.name = "{{author.id}} @everyone #ad\xE2\x80\xAE!";
    struct sb_decision d;
    sb_decision_init(&d);
    enum sb_err rc = sb_policy_decide(pol, &p, NULL, &d);
    T_INTEQ(rc, SB_OK);
    T_STREQ(d.reply, "Hi {{author.id}} @\xE2\x80\x8B"
                     "everyone #\xE2\x80\x8B"
                     "ad!, see "
                     "{{post.id}} @\xE2\x80\x8B"
                     "here");
    CHECKF(!d.reply || !strstr(d.reply, "1001"), "author.id expanded a second time");
    sb_decision_free(&d);
    sb_post_free(&p);
    free_timed(pol);
}

/* FIXED (memory safety): numeric template vars are converted to strings on the Lua stack and
 * popped before rendering; a GC step during the conversions frees them and the renderer reads
 * freed memory (ASan: heap-use-after-free in put_user; normal build: wrong values in the
 * public reply). Every call must render exactly the numbers it was given. */
static void c_numeric_vars(const char *base)
{
    char dir[512];
    policy_dir(base, dir, sizeof dir);
    write_file(dir, "main.lua",
               "local tpl = \"{{v1}} {{v2}} {{v3}} {{v4}} {{v5}} {{v6}} {{v7}} {{v8}} "
               "{{v9}} {{v10}} {{v11}} {{v12}} {{v13}} {{v14}} {{v15}} {{v16}}\"\n"
               "return function(post)\n"
               "  local base = tonumber(post.id) * 1000000\n"
               "  local v = {}\n"
               "  for k = 1, 16 do v[\"v\" .. k] = base + k end\n"
               "  return acknowledge{ reply = tpl, vars = v }\n"
               "end\n");
    struct sb_policy *pol = load_ok(dir, MEM_CAP);
    if (!pol)
        return;
    int bad = 0;
    for (int i = 1; i <= 200; i++) {
        char id[16], want[600];
        size_t o = 0;
        snprintf(id, sizeof id, "%d", i);
        for (int k = 1; k <= 16; k++)
            o += (size_t)snprintf(want + o, sizeof want - o, "%s%lld", k > 1 ? " " : "",
                                  (long long)i * 1000000 + k);
        struct sb_decision d;
        sb_decision_init(&d);
        enum sb_err rc = decide_text(pol, id, "attack", &d, NULL);
        if (rc != SB_OK || !d.reply || strcmp(d.reply, want)) {
            if (bad++ == 0)
                fprintf(stderr, "  call %d rendered \"%s\"\n  expected      \"%s\"\n", i,
                        str_or(d.reply), want);
        }
        sb_decision_free(&d);
    }
    CHECKF(bad == 0, "%d of 200 replies rendered the wrong (freed) var values", bad);
    free_timed(pol);
}

/* ---- the list ------------------------------------------------------------------------------ */

#define UNDEF(g)                                                                                   \
    FAILS("global " g " is unavailable", POL, "undefined global '" g "'", "  local x = " g)

static const struct attack attacks[] = {
    /* -- metatable tricks and shared tables -- */
    FAILS("getmetatable('').__index = {}", POL, "boolean", "  getmetatable(\"\").__index = {}"),
    FAILS("getmetatable('').__index.rep = f", POL, "boolean",
          "  getmetatable(\"\").__index.rep = function() return \"\" end"),
    OK("string metatable is hidden", "mt=false",
       "  return ignore{ reason = \"mt=\" .. tostring(getmetatable(\"\")) }"),
    FAILS("setmetatable(string, {})", POL, "protected metatable", "  setmetatable(string, {})"),
    FAILS("setmetatable(table, {})", POL, "protected metatable", "  setmetatable(table, {})"),
    FAILS("setmetatable(math, {})", POL, "protected metatable", "  setmetatable(math, {})"),
    FAILS("setmetatable(utf8, nil)", POL, "protected metatable", "  setmetatable(utf8, nil)"),
    FAILS("setmetatable(sb, {})", POL, "protected metatable", "  setmetatable(sb, {})"),
    FAILS("setmetatable(_ENV, {})", POL, "protected metatable",
          "  setmetatable(_ENV, { __index = function() return 1 end })"),
    FAILS("setmetatable('', {})", POL, "table expected", "  setmetatable(\"\", {})"),
    FAILS("setmetatable(post, {})", POL, "table expected", "  setmetatable(post, {})"),
    FAILS("rawset is absent", POL, "undefined global 'rawset'", "  rawset(string, \"rep\", nil)"),
    OK("rawget on the proxies sees nothing", "raw=nil,nil,function",
       "  return ignore{ reason = \"raw=\" .. tostring(rawget(string, \"rep\")) .. \",\" ..\n"
       "    tostring(rawget(_ENV, \"string\")) .. \",\" .. type(string.rep) }"),
    FAILS("string.rep = nil", POL, "string is read-only (cannot set 'rep')", "  string.rep = nil"),
    FAILS("table.insert = f", POL, "table is read-only (cannot set 'insert')",
          "  table.insert = print"),
    FAILS("math.pi = 3", POL, "math is read-only (cannot set 'pi')", "  math.pi = 3"),
    FAILS("utf8.char = f", POL, "utf8 is read-only", "  utf8.char = print"),
    FAILS("sb.log = nil", POL, "sb is read-only (cannot set 'log')", "  sb.log = nil"),
    FAILS("_ENV.x = 1", POL, "read-only (cannot set 'x')", "  _ENV.x = 1"),
    FAILS("new global", POL, "read-only (cannot set 'sneaky')", "  sneaky = 1"),
    FAILS("overwrite a global builder", POL, "cannot set 'acknowledge'",
          "  acknowledge = function() end"),
    FAILS("read an undefined global", POL, "undefined global 'undefined_thing'",
          "  local y = undefined_thing"),
    UNDEF("_G"),
    UNDEF("debug"),
    UNDEF("io"),
    UNDEF("os"),
    UNDEF("package"),
    UNDEF("dofile"),
    UNDEF("loadfile"),
    UNDEF("collectgarbage"),
    UNDEF("coroutine"),
    UNDEF("loadstring"),
    UNDEF("setfenv"),
    FAILS("string.dump is absent", POL, "dump", "  string.dump(function() end)"),
    FAILS("(''):dump() is absent", POL, "dump", "  return (\"\").dump(function() end)"),
    FAILS("math.randomseed is absent", POL, "randomseed", "  math.randomseed(42)"),
    /* FIXED: pairs() on a read-only proxy returns (next, BACKING TABLE, nil): the policy gets
     * the writable table behind string/table/math/sb/_ENV. */
    FAILS("pairs(_ENV) must not hand out the writable globals", POL, NULL,
          "  local _, G = pairs(_ENV)\n"
          "  if type(G) == \"table\" then G.sneaky = 1 end\n"
          "  return ignore{ reason = \"sneaky=\" .. tostring(sneaky) }"),
    OK("pairs(string) must not hand out the writable library", "rep=function",
       "  local _, raw = pairs(string)\n"
       "  pcall(function() raw.rep = nil end)\n"
       "  return ignore{ reason = \"rep=\" .. type(string.rep) }"),
    OK("pairs(string) iterates the library read-only", "n=",
       "  local n = 0\n"
       "  for k, v in pairs(string) do n = n + 1 end\n"
       "  return ignore{ reason = \"n=\" .. n }"),

    /* -- bytecode -- */
    FAILS("load(string.dump(f))", POL, "dump",
          "  local f = function() return 1 end\n  return load(string.dump(f))()"),
    FAILS("load(src, name, 'b')", POL, "binary chunks are not allowed",
          "  assert(load(\"return 1\", \"=x\", \"b\"))"),
    FAILS("load(src, name, 'bt')", POL, "binary chunks are not allowed",
          "  assert(load(\"return 1\", \"=x\", \"bt\"))"),
    FAILS("load('\\27Lua...')", POL, "binary chunk",
          "  assert(load(\"\\27LuaT\\0\\25\\147\\r\\n\\26\\n\" .. (\"\\0\"):rep(64)))"),
    FAILS("load('\\27Lua...', name, 't')", POL, "binary chunk",
          "  assert(load(\"\\27LuaT\\0\\25\\147\\r\\n\\26\\n\", \"=x\", \"t\"))"),
    FAILS("load(function reader)", POL, "only string chunks",
          "  local done = false\n"
          "  assert(load(function() if done then return nil end done = true return \"return 1\" "
          "end))"),
    FAILS("load() chunks get the sandbox _ENV", POL, "undefined global 'debug'",
          "  return assert(load(\"return debug\"))()"),
    FAILS("load() with an explicit nil env", POL, "_ENV",
          "  return assert(load(\"return next\", \"=c\", \"t\", nil))()"),
    CUSTOM("real precompiled chunk via load/require/main.lua", c_bytecode),

    /* -- require escapes -- */
    FAILS("require '../../etc/passwd'", POL, "invalid module name",
          "  require \"../../etc/passwd\""),
    FAILS("require '/etc/passwd'", POL, "invalid module name", "  require \"/etc/passwd\""),
    FAILS("require 'a..b'", POL, "invalid module name", "  require \"a..b\""),
    FAILS("require '.hidden'", POL, "invalid module name", "  require \".hidden\""),
    FAILS("require of a 300-char name", POL, "invalid module name", "  require((\"a\"):rep(300))"),
    FAILS("require of a missing module", POL, "not found in the policy directory",
          "  require \"lib.nope\""),
    CUSTOM("require loop at load", c_require_loop_load),
    CUSTOM("require loop inside decide", c_require_loop_call),
    CUSTOM("symlinks out of the policy dir (module, dir, words, /etc/passwd)", c_symlink_escape),
    CUSTOM("main.lua is a symlink", c_symlink_main),
    CUSTOM("policy directory without any regular file", c_empty_dir),
    CUSTOM("re-require of a module that raised", c_require_failed_retry),
    CUSTOM("lazy require killed by the budget poisons later calls", c_require_after_kill),

    /* -- CPU -- */
    FAILS("while true do end", BUD, "budget", "  while true do end"),
    FAILS("for i=1,math.huge", BUD, "budget", "  for i = 1, math.huge do end"),
    FAILS("goto loop", BUD, "budget", "  ::top:: goto top"),
    FAILS("loop of pcall(loop)", BUD, "budget",
          "  while true do pcall(function() while true do end end) end"),
    /* FIXED: an error raised by the budget hook calls the xpcall message handler with hooks
     * disabled (Lua sets allowhook = 0 while a hook runs), so a looping handler spins
     * forever. Hangs the process. */
    FAILS("xpcall handler loops (after error)", BUD, "budget",
          "  xpcall(function() error(\"x\") end, function() while true do end end)\n"
          "  return ignore{}"),
    FAILS("xpcall(loop, looping handler)", BUD, "budget",
          "  xpcall(function() while true do end end, function() while true do end end)\n"
          "  return ignore{}"),
    FAILS("xpcall handler re-raises forever", BUD, "budget",
          "  local function h(m) error(m) end\n"
          "  while true do xpcall(function() while true do end end, h) end"),
    FAILS("tail-call loop", BUD, "budget", "  local function f() return f() end\n  return f()"),
    /* stack overflow: the memory cap (or Lua's own "stack overflow") stops it, not a crash */
    {.name = "deep non-tail recursion",
     .kind = K_FAILS,
     .code = MEM,
     .alt = POL,
     .body = "  local function f() return 1 + f() end\n  return f()",
     .flags = F_MEM4},
    FAILS("loop in a table.sort comparator", BUD, "budget",
          "  local t = { 3, 2, 1, 5, 4 }\n"
          "  table.sort(t, function(a, b) while true do end end)"),
    FAILS("loop in an __index metamethod", BUD, "budget",
          "  local t = setmetatable({}, { __index = function(t, k) while true do end end })\n"
          "  return t.x"),
    FAILS("loop in __close on normal exit", BUD, "budget",
          "  do local x <close> = setmetatable({}, { __close = function() while true do end end }) "
          "end\n"
          "  return ignore{}"),
    /* FIXED: the door's message handler turns the hook off (and uncaps memory) before Lua
     * unwinds, and unwinding runs pending __close handlers: a __close after any error or
     * budget kill runs unbudgeted. Hangs the process. */
    FAILS2("loop in __close during error unwinding", BUD, POL, NULL,
           "  local x <close> = setmetatable({}, { __close = function() while true do end end })\n"
           "  error(\"boom\")"),
    FAILS("loop in __close after a budget kill", BUD, "budget",
          "  local x <close> = setmetatable({}, { __close = function() while true do end end })\n"
          "  while true do end"),
    /* the budget may trip before the cap: either way the cap holds (checked for every attack) */
    FAILS2("memory bomb in __close during error unwinding (cap holds)", MEM, BUD, NULL,
           "  local x <close> = setmetatable({}, { __close = function()\n"
           "    local t = {} for i = 1, 3e6 do t[i] = i end end })\n"
           "  error(\"boom\")"),
    LOAD_FAILS(
        "loop in __close at load time", BUD, POL, NULL,
        "local x <close> = setmetatable({}, { __close = function() while true do end end })\n"
        "error(\"boom\")\n"),
    FAILS("setmetatable with __gc is refused", POL, "__gc",
          "  setmetatable({}, { __gc = function() while true do end end })"),
    FAILS("setmetatable with __gc = false is refused", POL, "__gc",
          "  setmetatable({}, { __gc = false })"),
    OK_PRE("__gc added after setmetatable never runs", "gc-later", "local keep = {}",
           "  local mt = {}\n"
           "  local t = setmetatable({}, mt)\n"
           "  mt.__gc = function() while true do end end\n"
           "  keep[#keep + 1] = t\n"
           "  return ignore{ reason = \"gc-later\" }"),
    OK_PRE(
        "__gc inherited through __index never runs", "gc-index", "local keep = {}",
        "  local mt = setmetatable({}, { __index = { __gc = function() while true do end end } })\n"
        "  keep[#keep + 1] = setmetatable({}, mt)\n"
        "  return ignore{ reason = \"gc-index\" }"),
    FAILS("error object with a looping __tostring", POL, "error object is a table value",
          "  error(setmetatable({}, { __tostring = function() while true do end end }))"),
    FAILS2("string.rep('x', 1e9)", POL, MEM, "string.rep", "  return (\"x\"):rep(1e9)"),
    FAILS("string.rep('', 1e12)", POL, "string.rep", "  return string.rep(\"\", 1e12)"),
    FAILS("string.rep('', 1e12, '')", POL, "string.rep", "  return string.rep(\"\", 1e12, \"\")"),
    FAILS("('x'):rep(2^20):rep(2^10)", MEM, "memory", "  return (\"x\"):rep(2^20):rep(2^10)"),
    FAILS_MEM("table.concat of a huge result", "memory",
              "  local s = (\"x\"):rep(1000)\n"
              "  local t = {}\n"
              "  for i = 1, 100000 do t[i] = s end\n"
              "  return table.concat(t)"),
    FAILS("table.move with a huge range", POL, "table.move", "  table.move({}, 1, 1e12, 2)"),
    FAILS("table.move with a wrapping range", POL, NULL,
          "  table.move({}, math.mininteger, math.maxinteger, 1)"),
    FAILS("table.unpack({}, 1, 1e8)", POL, "over the sandbox limit", "  table.unpack({}, 1, 1e8)"),
    OK("utf8.char with 100000 arguments", "len=400000",
       "  local s = (\"\\u{10FFFF}\"):rep(100000)\n"
       "  return ignore{ reason = \"len=\" .. #utf8.char(utf8.codepoint(s, 1, -1)) }"),
    FAILS("string.format('%99999999d', 1)", POL, "invalid conversion",
          "  return string.format(\"%99999999d\", 1)"),
    /* FIXED: the deadline is checked only every 1000 VM instructions, so instructions that are
     * expensive C calls overshoot it by orders of magnitude: 25 s for table.sort, 10 s for
     * load() of a big source, with a 50 ms budget. */
    FAILS_PRE("CPU amplification: table.sort of 400k items in a loop", BUD, "budget",
              "local big = {}\nfor i = 1, 400000 do big[i] = i end",
              "  while true do table.sort(big) end"),
    FAILS_PRE("CPU amplification: load() of a 1.2 MB source in a loop", BUD, "budget",
              "local src = (\"a=1 \"):rep(300000)", "  while true do load(src) end"),
    /* FIXED: table.concat/insert/remove/sort loop in C over a caller-chosen range/length and
     * read elements through metamethods; with C functions as the metamethods no VM
     * instruction ever runs, so neither budget nor deadline is ever checked: a hang. */
    /* refused before any work: the range is over the sandbox's limit for table functions */
    FAILS("table.concat over a C __index (no VM instructions)", POL, "over the sandbox limit",
          "  return table.concat(setmetatable({}, { __index = table.concat }), \"\", 1, "
          "math.maxinteger)"),
    FAILS("table.insert with a huge __len and C accessors", POL, "over the sandbox limit",
          "  local e = setmetatable({}, { __index = table.concat })\n"
          "  local t = setmetatable({}, { __len = function() return math.maxinteger - 1 end,\n"
          "                               __index = e, __newindex = rawequal })\n"
          "  table.insert(t, 1, \"x\")"),
    LOAD_FAILS("top-level infinite loop fails the load", BUD, 0, "budget", "while true do end\n"),
    LOAD_FAILS("top-level pattern bomb fails the load", BUD, 0, "budget",
               "local _ = (\"a\"):rep(30000):find(\".-.-.-.-b\")\nreturn function() end\n"),

    /* -- memory (4 MiB cap so the cap trips before the instruction budget) -- */
    FAILS_MEM("t[i] = i up to 1e9", NULL, "  local t = {}\n  for i = 1, 1e9 do t[i] = i end"),
    FAILS_MEM("string doubling", "memory", "  local s = \"x\"\n  while true do s = s .. s end"),
    FAILS_MEM("memory bomb in pcall that keeps going", "memory",
              "  while true do\n"
              "    pcall(function() local s = \"x\" while true do s = s .. s end end)\n"
              "  end"),
    FAILS_MEM("table of fresh strings", NULL,
              "  local t = {}\n  for i = 1, 1e7 do t[i] = tostring(i) .. \"-\" end"),
    FAILS_MEM("huge table constructor via load of generated source", "memory",
              "  local f = assert(load(\"return {\" .. (\"1,\"):rep(500000) .. \"}\"))\n"
              "  return f()"),
    LOAD_FAILS("top-level memory bomb fails the load", MEM, 0, NULL,
               "local s = \"x\" while true do s = s .. s end\n"),

    /* -- patterns (the budgeted engine) -- */
    FAILS("('a'):rep(30000):find('.-.-.-.-b')", BUD, "pattern budget",
          "  return (\"a\"):rep(30000):find(\".-.-.-.-b\")"),
    FAILS("string.find(s, '.-.-.-.-b')", BUD, "pattern budget",
          "  return string.find((\"a\"):rep(30000), \".-.-.-.-b\")"),
    FAILS("s:match('.-.-.-.-b')", BUD, "pattern budget",
          "  local s = (\"a\"):rep(30000)\n  return s:match(\".-.-.-.-b\")"),
    FAILS("string.match(s, '.-.-.-.-b')", BUD, "pattern budget",
          "  return string.match((\"a\"):rep(30000), \".-.-.-.-b\")"),
    FAILS("string.gmatch(s, '.-.-.-.-b')", BUD, "pattern budget",
          "  for m in string.gmatch((\"a\"):rep(30000), \".-.-.-.-b\") do end"),
    FAILS("s:gsub('.-.-.-.-b', '')", BUD, "pattern budget",
          "  return ((\"a\"):rep(30000)):gsub(\".-.-.-.-b\", \"\")"),
    FAILS("gsub with a looping replacement function", BUD, "budget",
          "  return string.gsub(\"abc\", \"%w\", function(c) while true do end end)"),
    FAILS("%b() on a long unbalanced string", BUD, "pattern budget",
          "  return ((\"(\"):rep(100000)):find(\"%b()\")"),
    FAILS("plain find worst case", BUD, "pattern budget",
          "  return ((\"a\"):rep(1000000)):find((\"a\"):rep(500000) .. \"b\", 1, true)"),
    FAILS("pattern bombs caught by pcall in a loop", BUD, "budget",
          "  local s = (\"a\"):rep(30000)\n"
          "  for i = 1, 1000 do pcall(string.find, s, \".-.-.-.-b\") end\n"
          "  return ignore{}"),

    /* -- post / ctx -- */
    FAILS("post.text = 'x'", POL, "post is read-only", "  post.text = \"x\""),
    FAILS("post.author.bot = true", POL, "post.author is read-only", "  post.author.bot = true"),
    FAILS("ctx.now = 0", POL, "ctx is read-only", "  ctx.now = 0"),
    FAILS("post.nonexistent", POL, "post has no field 'nonexistent'", "  return post.nonexistent"),
    FAILS("post.author.password", POL, "post.author has no field 'password'",
          "  return post.author.password"),
    FAILS("post[{}]", POL, NULL, "  return post[{}]"),
    OK("rawequal(post, post)", "eq=true",
       "  return ignore{ reason = \"eq=\" .. tostring(rawequal(post, post)) }"),
    OK("getmetatable(post) is hidden", "mt=false",
       "  return ignore{ reason = \"mt=\" .. tostring(getmetatable(post)) .. \",\" ..\n"
       "    tostring(getmetatable(post.author)) .. \",\" .. tostring(getmetatable(ctx)) }"),
    FAILS("rawlen(post)", POL, "rawlen", "  return rawlen(post)"),
    FAILS("rawget(post, 'text')", POL, "rawget", "  return rawget(post, \"text\")"),
    FAILS("pairs(post)", POL, "table expected", "  for k in pairs(post) do end"),
    FAILS("next(post)", POL, "next", "  return next(post)"),
    FAILS_FILE("word list method called on post", POL, "expected a word list",
               "  local list = sb.words(\"x\")\n  return list.find(post, \"hello\")", "words/x.txt",
               "hello\n"),
    CUSTOM("post kept in an upvalue and read in a later call", c_post_upvalue),

    /* -- returned garbage and builders -- */
    FAILS("return nil", POL, "returned nothing", "  return nil"),
    FAILS("return 42", POL, "not a decision", "  return 42"),
    FAILS("return 'acknowledge'", POL, "not a decision", "  return \"acknowledge\""),
    FAILS("return {action='acknowledge'}", POL, "not built by",
          "  return { action = \"acknowledge\", reply = \"hi\" }"),
    FAILS("return a table with a metatable", POL, "not built by",
          "  return setmetatable({}, { __index = acknowledge{ reply = \"hi\" } })"),
    FAILS("return the 1st of more than 8 built decisions", POL, "not built by",
          "  local first = ignore{ reason = \"first\" }\n"
          "  for i = 1, 10 do ignore{ reason = \"x\" .. i } end\n"
          "  return first"),
    CUSTOM("decision mutated after building", c_mutated_decision),
    CUSTOM("decision built in an earlier call", c_previous_call_decision),
    LOAD_FAILS("builder called at load time", POL, 0, "can only be used inside the decide function",
               "local d = ignore{ reason = \"early\" }\nreturn function() return d end\n"),
    FAILS("builder with an unknown field", POL, "unknown field 'bogus'",
          "  return acknowledge{ reply = \"hi\", bogus = 1 }"),
    FAILS("builder: reply of the wrong type", POL, "field 'reply' must be a string",
          "  return acknowledge{ reply = 42 }"),
    FAILS("builder: queue of the wrong type", POL, "field 'queue' must be a string",
          "  return escalate{ queue = {} }"),
    FAILS("builder: bad priority", POL, "priority must be",
          "  return escalate{ queue = \"q\", priority = \"whenever\" }"),
    FAILS("builder: reason of the wrong type", POL, "reason must be",
          "  return ignore{ reason = 5 }"),
    FAILS("builder: non-string in the reason list", POL, "reason[2] must be a string",
          "  return ignore{ reason = { \"a\", {} } }"),
    FAILS("builder: vars of the wrong type", POL, "vars must be",
          "  return acknowledge{ reply = \"hi\", vars = \"x\" }"),
    FAILS("builder: missing required field", POL, "field 'message' is required",
          "  return move_to_private{ reply = \"hi\" }"),
    FAILS("builder: argument with a metatable", POL, "plain table",
          "  return acknowledge(setmetatable({ reply = \"hi\" }, {}))"),
    FAILS("builder: not a table", POL, "expects a table", "  return acknowledge(\"hi\")"),
    /* FIXED: the 1 MiB decision arena is shared by builder copies and the failure report; when
     * builders fill it, sb_decision_set_error cannot allocate and the "escalation" comes back
     * as action=acknowledge with no error and no queue: the failure is silently dropped. */
    FAILS("builders fill the decision arena", POL, "decision too large",
          "  local big = (\"x\"):rep(1000)\n"
          "  local r = {}\n"
          "  for i = 1, 16 do r[i] = big end\n"
          "  for i = 1, 100 do ignore{ reason = r } end\n"
          "  return ignore{}"),
    CUSTOM("extremely long reply is cut, not an error", c_long_reply),
    FAILS("template with an unknown field", POL, "unknown field 'author.nickname'",
          "  return acknowledge{ reply = \"Hi {{author.nickname}}\" }"),
    FAILS("template with an unclosed field", POL, "unclosed",
          "  return acknowledge{ reply = \"Hi {{author.name\" }"),
    CUSTOM("template injection via author name and vars", c_template_injection),
    CUSTOM("numeric template vars (use after free)", c_numeric_vars),

    /* -- error reporting -- */
    CUSTOM("error('boom') on line 3 reports main.lua:3", c_error_line),
    CUSTOM("error in a module reports the module's file and line", c_error_module_line),
    LOAD_FAILS("syntax error names main.lua and the line", POL, 0,
               "main.lua:2:", "return function()\n  local = 1\nend\n"),
    LOAD_FAILS("main.lua returning a number", POL, 0, "must return the decide function",
               "return 42\n"),
};

/* ---- runner: one forked child per attack, a few at a time, each with a watchdog ------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void run_child(const struct attack *a, const char *base)
{
    if (a->kind == K_CUSTOM) {
        a->custom(base);
    } else {
        char dir[512];
        policy_dir(base, dir, sizeof dir);
        run_generic(a, dir);
    }
}

struct slot {
    pid_t pid;
    const struct attack *a;
    FILE *log;
    double start;
    char base[64];
};

static int g_ok, g_failed;

static void finish(struct slot *s, int status, int timed_out)
{
    double dt = now_s() - s->start;
    char line[4096];
    int checks = 0, fails = 0, have_stats = 0;
    fflush(s->log);
    rewind(s->log);
    while (fgets(line, sizeof line, s->log)) {
        if (sscanf(line, "#stats %d %d", &checks, &fails) == 2) {
            have_stats = 1;
            continue;
        }
        fputs(line, stderr);
    }
    fclose(s->log);
    const char *why = NULL;
    char buf[128];
    if (timed_out) {
        snprintf(buf, sizeof buf, "HANG: killed after %.1f s (budget is 50 ms)", dt);
        why = buf;
        fails++;
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, sizeof buf, "CRASH: signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
        why = buf;
        fails++;
    } else if (WIFEXITED(status) && !have_stats) {
        snprintf(buf, sizeof buf, "child exited with %d before finishing", WEXITSTATUS(status));
        why = buf;
        fails++;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != (fails > 100 ? 100 : fails)) {
        snprintf(buf, sizeof buf, "child exit status %d (sanitizer/valgrind error?)",
                 WEXITSTATUS(status));
        why = buf;
        fails++;
    }
    t_checks += checks + 1;
    t_failures += fails;
    if (fails)
        g_failed++;
    else
        g_ok++;
    fprintf(stderr, "%s %s%s%s\n", fails ? "FAIL" : "ok  ", s->a->name, why ? " — " : "",
            why ? why : "");
    nftw(s->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    s->pid = 0;
}

int main(void)
{
    g_scale = time_scale();
    int jobs = getenv("SB_SANDBOX_JOBS") ? atoi(getenv("SB_SANDBOX_JOBS")) : 4;
    if (jobs < 1)
        jobs = 1;
    if (jobs > 16)
        jobs = 16;
    const char *only = getenv("SB_SANDBOX_ONLY"); /* substring filter on attack names */
    size_t n = sizeof attacks / sizeof *attacks;
    struct slot slots[16];
    memset(slots, 0, sizeof slots);
    size_t next = 0;
    int active = 0;
    double t0 = now_s();
    fprintf(stderr, "%zu attacks, %d at a time, time scale %.0f\n", n, jobs, g_scale);
    while (next < n || active > 0) {
        for (int i = 0; i < jobs && next < n; i++) {
            if (slots[i].pid)
                continue;
            const struct attack *a = &attacks[next++];
            if (only && !strstr(a->name, only)) {
                i--;
                continue;
            }
            struct slot *s = &slots[i];
            s->a = a;
            snprintf(s->base, sizeof s->base, "/tmp/sb_sandbox_XXXXXX");
            if (!mkdtemp(s->base)) {
                perror("mkdtemp");
                return 1;
            }
            s->log = tmpfile();
            s->start = now_s();
            fflush(stdout);
            fflush(stderr);
            pid_t pid = fork();
            if (pid < 0) {
                perror("fork");
                return 1;
            }
            if (pid == 0) {
                dup2(fileno(s->log), 2);
                dup2(fileno(s->log), 1);
                t_checks = t_failures = 0;
                run_child(a, s->base);
                fprintf(stderr, "#stats %d %d\n", t_checks, t_failures);
                fflush(stderr);
                exit(t_failures > 100 ? 100 : t_failures);
            }
            s->pid = pid;
            active++;
        }
        for (int i = 0; i < jobs; i++) {
            struct slot *s = &slots[i];
            if (!s->pid)
                continue;
            int status = 0;
            pid_t r = waitpid(s->pid, &status, WNOHANG);
            if (r == s->pid) {
                finish(s, status, 0);
                active--;
            } else if (now_s() - s->start > WATCHDOG) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &status, 0);
                finish(s, status, 1);
                active--;
            }
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "%d attacks passed, %d failed (%.1f s)\n", g_ok, g_failed, now_s() - t0);
    T_DONE();
}
