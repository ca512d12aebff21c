/* outbox_cmd.c — `switchboard outbox`: the dead letters and entries to reconcile, visible and
 * actionable from the command line (the agent console will show the same). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

#define LIST_MAX 200

static void usage(void)
{
    fprintf(
        stderr,
        "usage: switchboard outbox [list] [--db PATH] [--state STATE|any] [--limit N]\n"
        "       switchboard outbox requeue ID [--db PATH]   (verified not applied: send again)\n"
        "       switchboard outbox cancel ID [--db PATH]    (never send it)\n"
        "       switchboard outbox sent ID REMOTE_ID [--db PATH] (verified applied)\n"
        "STATE: pending, sending, sent, retry, dead, reconcile, cancelled\n");
}

static int list(struct sb_store *s, int state, int limit)
{
    struct sb_outbox_entry *v = calloc((size_t)limit, sizeof *v);
    size_t n = 0;
    struct sb_errbuf eb = {{0}};
    if (!v || sb_store_outbox_list(s, (enum sb_outbox_state)state, (size_t)limit, v, &n, &eb)) {
        fprintf(stderr, "switchboard outbox: %s\n", v ? eb.msg : "out of memory");
        free(v);
        return 1;
    }
    printf("%-6s %-10s %-9s %-14s %-15s %-22s %-4s %-6s %s\n", "id", "state", "platform", "account",
           "kind", "target", "try", "status", "last error");
    for (size_t i = 0; i < n; i++) {
        const struct sb_outbox_entry *e = &v[i];
        printf("%-6lld %-10s %-9s %-14s %-15s %-22.22s %-4d %-6d %s\n", (long long)e->id,
               sb_store_outbox_state_name(e->state), sb_platform_name(e->platform), e->account,
               sb_effect_kind_name(e->kind), e->target_id, e->attempts, e->last_status,
               e->last_error);
    }
    int64_t total = 0;
    sb_store_outbox_count(s, (enum sb_outbox_state)state, &total, &eb);
    printf("%zu shown of %lld\n", n, (long long)total);
    free(v);
    return 0;
}

int sb_cli_outbox(int argc, char **argv)
{
    const char *db = "switchboard.db", *sub = "list", *id = NULL, *remote = NULL;
    int state = SB_OUTBOX_ANY, limit = 50;
    int i = 1;
    if (i < argc && argv[i][0] != '-')
        sub = argv[i++];
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "--state") && i + 1 < argc) {
            const char *st = argv[++i];
            state = !strcmp(st, "any") ? SB_OUTBOX_ANY : sb_store_outbox_state_from_name(st);
            if (state == -1 && strcmp(st, "any")) {
                fprintf(stderr, "switchboard outbox: unknown state '%s'\n", st);
                return 2;
            }
        } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            limit = atoi(argv[++i]);
            if (limit < 1 || limit > LIST_MAX)
                limit = LIST_MAX;
        } else if (argv[i][0] != '-' && !id)
            id = argv[i];
        else if (argv[i][0] != '-' && !remote)
            remote = argv[i];
        else {
            usage();
            return 2;
        }
    }
    struct sb_errbuf eb = {{0}};
    struct sb_store *s;
    if (sb_store_open(db, &s, &eb)) {
        fprintf(stderr, "switchboard outbox: %s: %s\n", db, eb.msg);
        return 1;
    }
    int rc = 0;
    enum sb_err e = SB_OK;
    if (!strcmp(sub, "list")) {
        rc = list(s, state, limit);
    } else if (!strcmp(sub, "requeue") && id) {
        e = sb_store_outbox_requeue(s, atoll(id), 0, &eb);
    } else if (!strcmp(sub, "cancel") && id) {
        e = sb_store_outbox_fail(s, atoll(id), SB_OUTBOX_CANCELLED, 0, "cancelled by an operator",
                                 &eb);
    } else if (!strcmp(sub, "sent") && id && remote) {
        e = sb_store_outbox_sent(s, atoll(id), remote, NULL, 0, &eb);
    } else {
        usage();
        rc = 2;
    }
    if (e) {
        fprintf(stderr, "switchboard outbox %s %s: %s\n", sub, id ? id : "", eb.msg);
        rc = 1;
    } else if (rc == 0 && strcmp(sub, "list")) {
        printf("outbox entry %s: %s\n", id, sub);
    }
    sb_store_close(s);
    return rc;
}
