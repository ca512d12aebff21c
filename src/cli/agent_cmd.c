/* agent_cmd.c — `switchboard agent`: add agents, change their password, role or queues,
 * disable them, list them. The password is read from the terminal with echo off (twice), or as
 * one line from standard input when it is not a terminal; it is never echoed, logged or put
 * on the command line. */
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "console/auth.h"
#include "run/config.h"
#include "store/cases.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: switchboard agent add NAME [--role agent|supervisor|admin] [--queues a,b]\n"
            "       switchboard agent passwd NAME\n"
            "       switchboard agent set NAME [--role R] [--queues a,b] [--enable|--disable]\n"
            "       switchboard agent list\n"
            "  each takes -c switchboard.lua (the store it names; default ./switchboard.lua if\n"
            "  present) or --db URL. The password is prompted for (no echo), or read as one\n"
            "  line from standard input when that is not a terminal.\n");
}

/* One line from fd 0, echo off when it is a terminal. */
static int read_secret(const char *prompt, char *out, size_t cap)
{
    int tty = isatty(0);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        fflush(stderr);
        tcgetattr(0, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    int ok = fgets(out, (int)cap, stdin) != NULL;
    if (tty) {
        tcsetattr(0, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!ok)
        return -1;
    size_t n = strlen(out);
    if (n && out[n - 1] != '\n' && !feof(stdin))
        return -2; /* longer than the buffer */
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = 0;
    return 0;
}

static int new_password(char hash[SB_PWHASH_MAX])
{
    char a[SB_PASSWORD_MAX + 2], b[SB_PASSWORD_MAX + 2];
    int rc = 1;
    if (read_secret("Password: ", a, sizeof a)) {
        fprintf(stderr, "switchboard agent: no password given (or longer than %d bytes)\n",
                SB_PASSWORD_MAX);
        goto out;
    }
    if (isatty(0)) {
        if (read_secret("Again: ", b, sizeof b) || strcmp(a, b) != 0) {
            fprintf(stderr, "switchboard agent: the passwords differ\n");
            goto out;
        }
    }
    struct sb_errbuf eb;
    if (sb_auth_hash_password(a, hash, &eb)) {
        fprintf(stderr, "switchboard agent: %s\n", eb.msg);
        goto out;
    }
    rc = 0;
out:
    sb_auth_wipe(a, sizeof a);
    sb_auth_wipe(b, sizeof b);
    return rc;
}

/* "support, billing" → "support,billing"; every name must be a configured queue when a config
 * was given. */
static int parse_queues(const char *in, const struct sb_config *cfg, char *out, size_t cap)
{
    char buf[SB_AGENT_QUEUES_MAX];
    if (strlen(in) >= sizeof buf) {
        fprintf(stderr, "switchboard agent: queue list too long\n");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", in);
    size_t at = 0;
    out[0] = 0;
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (cfg && !sb_config_queue(cfg, t)) {
            fprintf(stderr, "switchboard agent: no queue named '%s' in %s\n", t, cfg->path);
            return -1;
        }
        at += (size_t)snprintf(out + at, cap - at, "%s%s", at ? "," : "", t);
    }
    return 0;
}

int sb_cli_agent(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    const char *sub = argv[1], *name = NULL, *cfg_path = NULL, *db = NULL, *role = NULL,
               *queues = NULL;
    int enable = -1;
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            cfg_path = argv[++i];
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (!strcmp(argv[i], "--queues") && i + 1 < argc)
            queues = argv[++i];
        else if (!strcmp(argv[i], "--enable"))
            enable = 1;
        else if (!strcmp(argv[i], "--disable"))
            enable = 0;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else {
            usage();
            return 2;
        }
    }
    struct sb_config cfg;
    int have_cfg = 0;
    struct sb_errbuf eb = {{0}};
    if (!cfg_path && !db && access("switchboard.lua", R_OK) == 0)
        cfg_path = "switchboard.lua";
    if (cfg_path) {
        if (sb_config_load(cfg_path, &cfg, &eb)) {
            fprintf(stderr, "switchboard agent: %s: %s\n", cfg_path, eb.msg);
            return 2;
        }
        have_cfg = 1;
        if (!db)
            db = cfg.store;
    }
    if (!db)
        db = "switchboard.db";
    int rc = 1;
    struct sb_store *s = NULL;
    struct sb_agent a;
    memset(&a, 0, sizeof a);
    if (strcmp(sub, "list") && (!name || !*name || strlen(name) >= SB_AGENT_NAME_MAX ||
                                strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "0123456789._-") != strlen(name))) {
        fprintf(stderr, "switchboard agent: a name is 1-63 of letters, digits, '.', '_', '-'\n");
        rc = 2;
        goto out;
    }
    int r = role ? sb_role_from_name(role) : SB_ROLE_AGENT;
    if (r < 0) {
        fprintf(stderr, "switchboard agent: role is agent, supervisor or admin\n");
        rc = 2;
        goto out;
    }
    if (queues && parse_queues(queues, have_cfg ? &cfg : NULL, a.queues, sizeof a.queues)) {
        rc = 2;
        goto out;
    }
    if (sb_store_open(db, &s, &eb)) {
        fprintf(stderr, "switchboard agent: store %s: %s\n", db, eb.msg);
        goto out;
    }
    if (!strcmp(sub, "list")) {
        struct sb_agent *v = calloc(1000, sizeof *v);
        size_t n = 0;
        if (!v || sb_store_agent_list(s, 1000, v, &n, &eb)) {
            fprintf(stderr, "switchboard agent: %s\n", v ? eb.msg : "out of memory");
            free(v);
            goto out;
        }
        printf("%-6s %-24s %-11s %-9s %s\n", "id", "name", "role", "state", "queues");
        for (size_t i = 0; i < n; i++)
            printf("%-6lld %-24s %-11s %-9s %s\n", (long long)v[i].id, v[i].name,
                   sb_role_name(v[i].role), v[i].disabled ? "disabled" : "active",
                   v[i].queues[0] ? v[i].queues : "(every queue)");
        free(v);
        rc = 0;
    } else if (!strcmp(sub, "add")) {
        snprintf(a.name, sizeof a.name, "%s", name);
        a.role = (enum sb_role)r;
        if (new_password(a.pw_hash))
            goto out;
        int64_t id;
        enum sb_err e = sb_store_agent_add(s, &a, &id, &eb);
        if (e == SB_ERR_DUP)
            fprintf(stderr, "switchboard agent: '%s' exists (use: agent passwd / agent set)\n",
                    name);
        else if (e)
            fprintf(stderr, "switchboard agent: %s\n", eb.msg);
        else {
            printf("agent %s added (id %lld, role %s, queues %s)\n", name, (long long)id,
                   sb_role_name(a.role), a.queues[0] ? a.queues : "every queue");
            rc = 0;
        }
    } else if (!strcmp(sub, "passwd") || !strcmp(sub, "set")) {
        struct sb_agent cur;
        if (sb_store_agent_by_name(s, name, &cur, &eb)) {
            fprintf(stderr, "switchboard agent: no agent named '%s'\n", name);
            goto out;
        }
        if (!strcmp(sub, "passwd") && new_password(cur.pw_hash))
            goto out;
        if (role)
            cur.role = (enum sb_role)r;
        if (queues)
            memcpy(cur.queues, a.queues, sizeof cur.queues);
        if (enable >= 0)
            cur.disabled = !enable;
        if (sb_store_agent_update(s, &cur, &eb)) {
            fprintf(stderr, "switchboard agent: %s\n", eb.msg);
            goto out;
        }
        /* a new password or a disabled agent ends every open session */
        if (!strcmp(sub, "passwd") || enable == 0)
            sb_store_session_delete_agent(s, cur.id, &eb);
        printf("agent %s updated\n", name);
        rc = 0;
    } else {
        usage();
        rc = 2;
    }
out:
    sb_auth_wipe(a.pw_hash, sizeof a.pw_hash);
    if (s && sb_store_flush(s, &eb) && rc == 0) {
        fprintf(stderr, "switchboard agent: %s\n", eb.msg);
        rc = 1;
    }
    sb_store_close(s);
    if (have_cfg)
        sb_config_free(&cfg);
    return rc;
}
