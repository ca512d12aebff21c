/* replay.c — `switchboard replay`: JSONL platform events → map → dedupe → policy → durable
 * record, one decision JSON line per new post on stdout, a summary on stderr. Also
 * `switchboard migrate`. Depends on the mappers, the policy runtime and the store. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/cli.h"
#include "core/post.h"
#include "platforms/detect.h"
#include "policy/policy.h"
#include "run/pretty.h"
#include "store/store.h"
#include "util/json_arena.h"

#define LINE_MAX_BYTES (1u << 20)
#define KINDS_MAX 64

enum { STAGE_PARSE = 1, STAGE_MAP, STAGE_DECIDE, STAGE_ALL };

struct kind_count {
    const char *kind; /* static strings from the mappers */
    long n;
};

struct replay {
    struct sb_policy *pol;
    struct sb_store *store;
    const char *account;
    int parse_only, quiet, pretty;
    int stage; /* benchmark: stop after STAGE_PARSE, STAGE_MAP, STAGE_DECIDE, or run all */
    long events, posts, dups, updates, deletes, skipped, errors;
    long actions[SB_ACTION__COUNT];
    long policy_errors;
    struct kind_count kinds[KINDS_MAX];
    int nkinds;
    struct sb_event ev;
    struct sb_decision d;
    struct sb_buf out;
};

static void count_kind(struct replay *r, const char *kind)
{
    for (int i = 0; i < r->nkinds; i++)
        if (!strcmp(r->kinds[i].kind, kind)) {
            r->kinds[i].n++;
            return;
        }
    if (r->nkinds < KINDS_MAX)
        r->kinds[r->nkinds++] = (struct kind_count){kind, 1};
    else
        r->kinds[KINDS_MAX - 1].n++;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void line_error(struct replay *r, const char *file, long line, const char *what,
                       const char *detail)
{
    r->errors++;
    fprintf(stderr, "replay: %s:%ld: %s%s%s\n", file, line, what, detail ? ": " : "",
            detail ? detail : "");
}

static void one_line(struct replay *r, const char *file, long lineno, const char *s, size_t n)
{
    json_error_t je;
    json_t *root = json_loadb(s, n, 0, &je);
    if (!root) {
        sb_json_arena_reset();
        char msg[300];
        snprintf(msg, sizeof msg, "column %d: %s", je.column, je.text);
        line_error(r, file, lineno,
                   json_error_code(&je) == json_error_invalid_utf8 ? "utf8: invalid UTF-8"
                                                                   : "malformed JSON",
                   msg);
        return;
    }
    r->events++;
    if (r->parse_only) {
        json_decref(root);
        sb_json_arena_reset();
        return;
    }
    struct sb_errbuf eb = {{0}};
    enum sb_err e = sb_platform_map_json(root, &r->ev, &eb);
    json_decref(root);
    sb_json_arena_reset(); /* the mapper copied what it needs into the post's arena */
    if (e) {
        line_error(r, file, lineno, sb_strerror(e), eb.msg);
        return;
    }
    struct sb_post *p = &r->ev.post;
    if (r->stage == STAGE_MAP)
        return;
    if (r->stage == STAGE_DECIDE) {
        if (r->ev.type == SB_EVENT_POST || r->ev.type == SB_EVENT_UPDATE) {
            struct sb_ctx c = {.now = p->created_ms / 1000, .business_hours = true};
            sb_policy_decide(r->pol, p, &c, &r->d);
            r->posts++;
            r->actions[r->d.action]++;
        }
        return;
    }
    switch (r->ev.type) {
    case SB_EVENT_SKIP:
        r->skipped++;
        count_kind(r, r->ev.skip_kind);
        return;
    case SB_EVENT_DELETE:
        r->deletes++;
        e = sb_store_post_mark_deleted(r->store, p->platform, p->id, &eb);
        if (e && e != SB_ERR_NOTFOUND)
            line_error(r, file, lineno, "store", eb.msg);
        if (r->pretty)
            printf("\n[%s] post %s deleted by its author%s\n", sb_platform_name(p->platform), p->id,
                   e ? " (never seen here)" : ": marked deleted");
        return;
    case SB_EVENT_UPDATE:
    case SB_EVENT_POST:
        break;
    }
    if (!p->account && r->account)
        p->account = r->account;
    int64_t rowid;
    e = sb_store_post_insert(r->store, p, s, n, &rowid, &eb);
    if (e == SB_ERR_DUP) {
        if (r->ev.type == SB_EVENT_UPDATE)
            r->updates++;
        else
            r->dups++;
        if (r->pretty)
            printf("\n[%s] post %s delivered again: already decided, nothing new\n",
                   sb_platform_name(p->platform), p->id);
        return;
    }
    if (e) {
        line_error(r, file, lineno, "store", eb.msg);
        return;
    }
    r->posts++;
    struct sb_ctx ctx = {0};
    ctx.now = p->created_ms / 1000;
    ctx.business_hours = true;
    /* the author's previous 24 hours, as of the post's own time (deterministic for a file),
     * looked up only if the policy reads ctx.history */
    struct sb_store_history_src hs = {r->store, p, p->created_ms - 86400000LL, rowid};
    ctx.history_fn = sb_store_ctx_history;
    ctx.history_ud = &hs;
    if (sb_policy_decide(r->pol, p, &ctx, &r->d) != SB_OK)
        r->policy_errors++;
    r->actions[r->d.action]++;
    e = sb_store_decision_insert(r->store, rowid, &r->d, now_ms(), &eb);
    if (e) {
        line_error(r, file, lineno, "store", eb.msg);
        return;
    }
    if (r->quiet)
        return;
    if (r->pretty) {
        sb_pretty_decision(stdout, p, &r->d);
        return;
    }
    sb_buf_reset(&r->out);
    sb_buf_puts(&r->out, "{\"platform\":\"");
    sb_buf_puts(&r->out, sb_platform_name(p->platform));
    sb_buf_puts(&r->out, "\",\"post_id\":");
    sb_buf_json_str(&r->out, p->id, strlen(p->id));
    sb_buf_puts(&r->out, ",\"decision\":");
    sb_decision_to_json(&r->d, &r->out);
    sb_buf_puts(&r->out, "}\n");
    fwrite(r->out.data, 1, r->out.len, stdout);
}

static void summary(struct replay *r, double secs)
{
    FILE *f = stderr;
    if (r->parse_only || !r->pol) {
        fprintf(f, "replay (%s only): %ld events, %ld errors, %.3f s, %.0f events/s\n",
                r->parse_only ? "parse" : "parse+map", r->events, r->errors, secs,
                secs > 0 ? (double)r->events / secs : 0);
        return;
    }
    fprintf(f,
            "replay: %ld events: %ld new posts, %ld already recorded, %ld edits of recorded "
            "posts, %ld deletes, %ld skipped, %ld errors\n",
            r->events, r->posts, r->dups, r->updates, r->deletes, r->skipped, r->errors);
    fprintf(f, "  decisions:");
    for (int a = 0; a < SB_ACTION__COUNT; a++)
        fprintf(f, " %s %ld%s", sb_action_name((enum sb_action)a), r->actions[a],
                a + 1 < SB_ACTION__COUNT ? "," : "\n");
    if (r->policy_errors)
        fprintf(f, "  policy errors: %ld (escalated with the error attached)\n", r->policy_errors);
    if (r->nkinds) {
        fprintf(f, "  skipped by kind:");
        for (int i = 0; i < r->nkinds; i++)
            fprintf(f, " %s %ld%s", r->kinds[i].kind, r->kinds[i].n,
                    i + 1 < r->nkinds ? "," : "\n");
    }
    if (r->posts == 0 && r->dups > 0)
        fprintf(f, "  nothing new: all %ld posts were already recorded\n", r->dups);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(f, "  policy %s; %.3f s, %.0f events/s, %.0f new posts/s, peak RSS %ld KiB\n",
            sb_policy_version(r->pol), secs, secs > 0 ? (double)r->events / secs : 0,
            secs > 0 ? (double)r->posts / secs : 0, ru.ru_maxrss);
}

int sb_cli_replay(int argc, char **argv)
{
    struct replay r;
    memset(&r, 0, sizeof r);
    const char *policy = "policies", *db = "switchboard.db";
    int first_file = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--policy") && i + 1 < argc)
            policy = argv[++i];
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "--account") && i + 1 < argc)
            r.account = argv[++i];
        else if (!strcmp(argv[i], "--quiet"))
            r.quiet = 1;
        else if (!strcmp(argv[i], "--pretty"))
            r.pretty = 1;
        else if (!strcmp(argv[i], "--parse-only"))
            r.parse_only = 1;
        else if (!strcmp(argv[i], "--stage") && i + 1 < argc) {
            /* for scripts/bench: how much of the pipeline to run */
            const char *st = argv[++i];
            r.stage = !strcmp(st, "parse")    ? STAGE_PARSE
                      : !strcmp(st, "map")    ? STAGE_MAP
                      : !strcmp(st, "decide") ? STAGE_DECIDE
                                              : STAGE_ALL;
            r.parse_only = r.stage == STAGE_PARSE;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "switchboard replay: unknown option '%s'\n", argv[i]);
            return 2;
        } else {
            first_file = i;
            break;
        }
    }
    if (!first_file) {
        fprintf(stderr, "usage: switchboard replay [--policy DIR] [--db PATH] [--account ID] "
                        "[--quiet|--pretty] FILE...\n");
        return 2;
    }
    struct sb_errbuf eb = {{0}};
    if (sb_event_init(&r.ev) || sb_decision_init(&r.d)) {
        fprintf(stderr, "switchboard replay: out of memory\n");
        return 1;
    }
    sb_buf_init(&r.out, 0);
    if (!r.parse_only && r.stage != STAGE_MAP) {
        if (sb_policy_load(policy, NULL, &r.pol, &eb)) {
            fprintf(stderr, "switchboard replay: cannot load policy %s: %s\n", policy, eb.msg);
            goto done;
        }
        if (r.stage != STAGE_DECIDE && sb_store_open(db, &r.store, &eb)) {
            fprintf(stderr, "switchboard replay: cannot open store %s: %s\n", db, eb.msg);
            goto done;
        }
        /* Replay is idempotent (dedupe), so a large batch only decides how much a crash
         * would redo; the live service keeps the store's default. */
        if (r.store) {
            sb_store_set_batch(r.store, 8192);
            sb_store_policy_version_record(r.store, sb_policy_version(r.pol),
                                           sb_policy_files_json(r.pol), &eb);
        }
    }
    /* One document at a time: jansson allocates from an arena reset after each line. */
    if (sb_json_arena_begin() != 0) {
        fprintf(stderr, "switchboard replay: out of memory\n");
        goto done;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = first_file; i < argc; i++) {
        struct sb_lines lr;
        if (sb_lines_open(&lr, argv[i], LINE_MAX_BYTES)) {
            fprintf(stderr, "switchboard replay: cannot open %s\n", argv[i]);
            r.errors++;
            continue;
        }
        int k;
        while ((k = sb_lines_next(&lr)) == 1) {
            if (lr.oversized) {
                line_error(&r, argv[i], lr.lineno, "line longer than 1 MiB", "skipped");
                continue;
            }
            const char *s = lr.line.data;
            size_t n = lr.line.len;
            while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
                n--;
            if (n == 0)
                continue;
            one_line(&r, argv[i], lr.lineno, s, n);
        }
        if (k < 0) {
            fprintf(stderr, "switchboard replay: %s: read error\n", argv[i]);
            r.errors++;
        }
        sb_lines_close(&lr);
    }
    if (r.store && sb_store_flush(r.store, &eb)) {
        fprintf(stderr, "switchboard replay: could not commit to the store: %s\n", eb.msg);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fflush(stdout);
    summary(&r, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    rc = 0;
done:
    sb_json_arena_end();
    sb_store_close(r.store);
    sb_policy_free(r.pol);
    sb_event_free(&r.ev);
    sb_decision_free(&r.d);
    sb_buf_free(&r.out);
    return rc;
}

int sb_cli_migrate(int argc, char **argv)
{
    const char *db = "switchboard.db";
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
    struct sb_errbuf eb = {{0}};
    struct sb_store *s;
    if (sb_store_open(db, &s, &eb)) {
        fprintf(stderr, "switchboard migrate: %s: %s\n", db, eb.msg);
        return 1;
    }
    printf("%s: schema version %d\n", db, sb_store_schema_version(s));
    sb_store_close(s);
    return 0;
}
