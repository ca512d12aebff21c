/* main.c — the switchboard command line: dispatches to the commands in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "run/config.h"
#include "run/service.h"
#include "util/json_arena.h"

#ifndef SB_VERSION
#define SB_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
    fputs("usage: switchboard <command> [options]\n"
          "\n"
          "  policy test DIR                 run the policy's *_test.lua tests\n"
          "  policy check DIR                compile, load and test a policy directory\n"
          "  policy try DIR --post FILE|-    print the decision for one post (JSON)\n"
          "  replay [--policy DIR] [--db PATH] [--account ID] FILE...\n"
          "                                  run JSONL platform events through the policy and\n"
          "                                  record everything in the store\n"
          "  run [-c switchboard.lua] [--check]\n"
          "                                  run the service on the configured accounts (--check:\n"
          "                                  validate the configuration and exit)\n"
          "  outbox [list|requeue|cancel|sent] [--db PATH] [--state STATE]\n"
          "                                  see and act on undelivered replies (dead letters)\n"
          "  agent add|passwd|set|list [NAME] [--role R] [--queues a,b] [-c FILE]\n"
          "                                  manage the agents who sign in to the console\n"
          "  migrate [--db PATH]             create or upgrade the database\n"
          "  version                         print the version\n"
          "\n"
          "See README.md and docs/ for details.\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    sb_json_arena_install();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "policy"))
        return sb_cli_policy(argc - 1, argv + 1);
    if (!strcmp(cmd, "replay"))
        return sb_cli_replay(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) {
        const char *path = "switchboard.lua";
        int check = 0;
        for (int i = 2; i < argc; i++) {
            if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
                path = argv[++i];
            else if (!strcmp(argv[i], "--check"))
                check = 1;
        }
        struct sb_config cfg;
        struct sb_errbuf eb;
        if (sb_config_load(path, &cfg, &eb)) {
            fprintf(stderr, "switchboard run: %s: %s\n", path, eb.msg);
            return 2;
        }
        if (check) { /* validate and summarize, secrets left out */
            printf("%s: store %s, policy %s%s%s\n", path, cfg.store, cfg.policy,
                   cfg.dry_run ? ", dry run" : "", cfg.paused ? ", paused" : "");
            for (int i = 0; i < cfg.n_accounts; i++)
                printf("  account %s: %s %s\n", cfg.accounts[i].name,
                       sb_platform_name(cfg.accounts[i].platform),
                       cfg.accounts[i].base_url ? cfg.accounts[i].base_url
                                                : cfg.accounts[i].pds_url);
            for (int i = 0; i < cfg.n_queues; i++)
                printf("  queue %s: first response %llds, next response %llds%s\n",
                       cfg.queues[i].name, (long long)cfg.queues[i].first_response,
                       (long long)cfg.queues[i].next_response,
                       cfg.queues[i].hours.enabled ? ", business hours" : "");
            if (cfg.console.enabled)
                printf("  console on %s (origin %s)\n", cfg.console.listen, cfg.console.origin);
            sb_config_free(&cfg);
            return 0;
        }
        int rc = sb_service_run(&cfg);
        sb_config_free(&cfg);
        return rc;
    }
    if (!strcmp(cmd, "agent"))
        return sb_cli_agent(argc - 1, argv + 1);
    if (!strcmp(cmd, "outbox"))
        return sb_cli_outbox(argc - 1, argv + 1);
    if (!strcmp(cmd, "migrate"))
        return sb_cli_migrate(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("switchboard %s\n", SB_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "switchboard: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
