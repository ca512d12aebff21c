/* policy_cmd.c — `switchboard policy test|check|try`: the policy author's tools. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/post.h"
#include "platforms/detect.h"
#include "policy/policy.h"

#define TRY_INPUT_MAX (1u << 20)

static int cmd_test(const char *dir)
{
    int passed, failed;
    struct sb_errbuf eb = {{0}};
    enum sb_err e = sb_policy_test_run(dir, NULL, stdout, &passed, &failed, &eb);
    if (e) {
        fprintf(stderr, "switchboard policy test: %s\n", eb.msg[0] ? eb.msg : sb_strerror(e));
        return 1;
    }
    return 0;
}

static int cmd_check(const char *dir)
{
    struct sb_errbuf eb = {{0}};
    printf("compiling %s\n", dir);
    enum sb_err e = sb_policy_lint(dir, stdout, &eb);
    if (e) {
        fprintf(stderr, "switchboard policy check: %s\n", eb.msg);
        return 1;
    }
    struct sb_policy *pol;
    e = sb_policy_load(dir, NULL, &pol, &eb);
    if (e) {
        fprintf(stderr, "switchboard policy check: cannot load: %s\n", eb.msg);
        return 1;
    }
    printf("loaded policy %s (%s)\n", sb_policy_version(pol), sb_policy_files_json(pol));
    sb_policy_free(pol);
    return cmd_test(dir);
}

static int cmd_try(const char *dir, const char *post_path, long long now)
{
    struct sb_errbuf eb = {{0}};
    struct sb_buf in;
    sb_buf_init(&in, TRY_INPUT_MAX);
    struct sb_policy *pol = NULL;
    struct sb_event ev;
    struct sb_decision d;
    int rc = 1;
    json_t *root = NULL;
    if (sb_event_init(&ev) || sb_decision_init(&d)) {
        fprintf(stderr, "switchboard: out of memory\n");
        return 1;
    }
    if (sb_cli_slurp(post_path, &in))
        goto done;
    json_error_t je;
    root = json_loadb(in.data, in.len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fprintf(stderr, "switchboard policy try: %s: %s at line %d column %d: %s\n", post_path,
                json_error_code(&je) == json_error_invalid_utf8 ? "invalid UTF-8"
                                                                : "malformed JSON",
                je.line, je.column, je.text);
        goto done;
    }
    enum sb_err e = sb_platform_map_json(root, &ev, &eb);
    if (e) {
        fprintf(stderr, "switchboard policy try: %s: %s: %s\n", post_path, sb_strerror(e), eb.msg);
        goto done;
    }
    if (ev.type == SB_EVENT_SKIP || ev.type == SB_EVENT_DELETE) {
        struct sb_buf o;
        sb_buf_init(&o, 0);
        sb_buf_printf(&o, "{\"event\":\"%s\",", ev.type == SB_EVENT_SKIP ? "skip" : "delete");
        if (ev.type == SB_EVENT_SKIP) {
            sb_buf_puts(&o, "\"kind\":");
            sb_buf_json_str(&o, ev.skip_kind, strlen(ev.skip_kind));
        } else {
            sb_buf_puts(&o, "\"post_id\":");
            sb_buf_json_str(&o, ev.post.id, strlen(ev.post.id));
        }
        sb_buf_puts(&o, ",\"decision\":null}");
        puts(o.data);
        sb_buf_free(&o);
        fprintf(stderr, "switchboard policy try: not a post (%s): nothing to decide\n",
                ev.type == SB_EVENT_SKIP ? ev.skip_kind : "a deletion");
        rc = 0;
        goto done;
    }
    e = sb_policy_load(dir, NULL, &pol, &eb);
    if (e) {
        fprintf(stderr, "switchboard policy try: cannot load %s: %s\n", dir, eb.msg);
        goto done;
    }
    struct sb_ctx ctx = {0};
    ctx.now = now >= 0 ? now : ev.post.created_ms / 1000;
    ctx.business_hours = true;
    e = sb_policy_decide(pol, &ev.post, &ctx, &d);
    struct sb_buf o;
    sb_buf_init(&o, 0);
    sb_buf_puts(&o, "{\"post\":");
    sb_post_to_json(&ev.post, &o);
    sb_buf_puts(&o, ",\"decision\":");
    sb_decision_to_json(&d, &o);
    sb_buf_putc(&o, '}');
    puts(o.data);
    sb_buf_free(&o);
    if (e)
        fprintf(stderr, "switchboard policy try: the policy failed (%s): %s\n", sb_strerror(e),
                d.error && d.error->message ? d.error->message : "");
    rc = 0;
done:
    json_decref(root);
    sb_policy_free(pol);
    sb_event_free(&ev);
    sb_decision_free(&d);
    sb_buf_free(&in);
    return rc;
}

int sb_cli_policy(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: switchboard policy test|check|try DIR [--post FILE|-] "
                        "[--now UNIX_SECONDS]\n");
        return 2;
    }
    const char *sub = argv[1], *dir = argv[2];
    if (!strcmp(sub, "test"))
        return cmd_test(dir);
    if (!strcmp(sub, "check"))
        return cmd_check(dir);
    if (!strcmp(sub, "try")) {
        const char *post = NULL;
        long long now = -1;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "--post") && i + 1 < argc)
                post = argv[++i];
            else if (!strcmp(argv[i], "--now") && i + 1 < argc)
                now = atoll(argv[++i]);
            else {
                fprintf(stderr, "switchboard policy try: unexpected argument '%s'\n", argv[i]);
                return 2;
            }
        }
        if (!post) {
            fprintf(stderr, "usage: switchboard policy try DIR --post FILE|-\n");
            return 2;
        }
        return cmd_try(dir, post, now);
    }
    fprintf(stderr, "switchboard policy: unknown subcommand '%s' (test, check, try)\n", sub);
    return 2;
}
