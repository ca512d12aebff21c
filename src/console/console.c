/* console.c — the console's listener (see console.h): routes /api/ to api.c, /ws to live.c,
 * serves /metrics, /healthz, /readyz and the static web app, read once at start from
 * console.web. Every response carries the security headers (a strict CSP: no inline script or
 * style, no framing). */
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console/internal.h"
#include "util/log.h"

#define STATIC_MAX_FILES 64
#define STATIC_MAX_BYTES (4u << 20)
#define TICK_MS 1000
#define QUEUES_EVERY_TICKS 5    /* queue stats (ticking ages) at least this often */
#define SESSIONS_EVERY_TICKS 30 /* consoles whose session ended are closed */
#define PURGE_EVERY_TICKS 600   /* expired sessions */

static const char security_headers[] =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n";

static const char *ctype_of(const char *name)
{
    static const char *const map[][2] = {{".html", "text/html; charset=utf-8"},
                                         {".js", "text/javascript; charset=utf-8"},
                                         {".mjs", "text/javascript; charset=utf-8"},
                                         {".css", "text/css; charset=utf-8"},
                                         {".svg", "image/svg+xml"},
                                         {".png", "image/png"},
                                         {".ico", "image/x-icon"},
                                         {".json", "application/json"},
                                         {".txt", "text/plain; charset=utf-8"}};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    return NULL; /* anything else is not served */
}

/* The web directory: as configured, or (relative and not found) next to the binary's
 * directory (`build/switchboard` finds `web/` from any working directory), or the source tree
 * the binary was built from. */
static bool find_web(const char *conf, char *out, size_t cap)
{
    struct stat st;
    if (stat(conf, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(out, cap, "%s", conf);
        return true;
    }
    if (conf[0] == '/')
        return false;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *dir = dirname(exe);
        snprintf(out, cap, "%s/../%s", dir, conf);
        if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
            return true;
    }
#ifdef SB_WEB_FALLBACK
    if (strcmp(conf, "web") == 0 && stat(SB_WEB_FALLBACK, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(out, cap, "%s", SB_WEB_FALLBACK);
        return true;
    }
#endif
    return false;
}

static enum sb_err load_static(struct sb_console *cs, struct sb_errbuf *eb)
{
    char dir[PATH_MAX];
    if (!find_web(cs->cfg->console.web, dir, sizeof dir))
        return sb_errf(eb, SB_ERR_IO, "console: web directory '%s' not found",
                       cs->cfg->console.web);
    DIR *d = opendir(dir);
    if (!d)
        return sb_errf(eb, SB_ERR_IO, "console: cannot read %s", dir);
    cs->files = calloc(STATIC_MAX_FILES, sizeof *cs->files);
    enum sb_err e = cs->files ? SB_OK : SB_ERR_NOMEM;
    size_t total = 0;
    struct dirent *de;
    while (!e && (de = readdir(d))) {
        const char *ct = ctype_of(de->d_name);
        if (de->d_name[0] == '.' || !ct)
            continue;
        if (cs->n_files == STATIC_MAX_FILES || strlen(de->d_name) > 100) {
            e = sb_errf(eb, SB_ERR_TOOBIG, "console: too many or too long files in %s", dir);
            break;
        }
        char path[PATH_MAX + 128];
        int pn = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (pn < 0 || (size_t)pn >= sizeof path)
            continue;
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        struct static_file *sf = &cs->files[cs->n_files];
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (len < 0 || total + (size_t)len > STATIC_MAX_BYTES) {
            fclose(f);
            e = sb_errf(eb, SB_ERR_TOOBIG, "console: %s is over the size limit", path);
            break;
        }
        sf->data = malloc((size_t)len + 1);
        if (!sf->data || fread(sf->data, 1, (size_t)len, f) != (size_t)len) {
            fclose(f);
            free(sf->data);
            sf->data = NULL;
            e = sb_errf(eb, SB_ERR_IO, "console: cannot read %s", path);
            break;
        }
        fclose(f);
        sf->len = (size_t)len;
        sf->ctype = ct;
        if (snprintf(sf->path, sizeof sf->path, "/%s", de->d_name) >= (int)sizeof sf->path) {
            free(sf->data);
            sf->data = NULL;
            continue;
        }
        total += (size_t)len;
        cs->n_files++;
    }
    closedir(d);
    return e;
}

static void serve_static(struct sb_console *cs, struct sb_request *rq)
{
    const char *path = sb_request_path(rq);
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < cs->n_files; i++)
        if (strcmp(cs->files[i].path, path) == 0) {
            sb_server_respond(rq, 200, cs->files[i].ctype, "Cache-Control: no-cache\r\n",
                              cs->files[i].data, cs->files[i].len);
            return;
        }
    sb_console_error(rq, 404, "not_found", "no such page");
}

static void metrics(struct sb_console *cs, struct sb_request *rq)
{
    struct sb_queue_stats st[SB_CONSOLE_QUEUES_MAX];
    size_t n = sb_console_queue_stats(cs, st, SB_CONSOLE_QUEUES_MAX);
    int64_t pending = 0, k;
    static const enum sb_outbox_state waiting[] = {SB_OUTBOX_PENDING, SB_OUTBOX_RETRY,
                                                   SB_OUTBOX_SENDING};
    for (int i = 0; i < 3; i++)
        if (sb_store_outbox_count(cs->store, waiting[i], &k, NULL) == SB_OK)
            pending += k;
    struct sb_metrics_gauges g = {.queues = st,
                                  .n_queues = n,
                                  .now_ms = sb_loop_now_ms(),
                                  .consoles = cs->n_conns,
                                  .agents_online = sb_live_agents_online(cs),
                                  .outbox_pending = pending};
    struct sb_buf b;
    sb_buf_init(&b, 0);
    struct sb_metrics zero = {0};
    sb_metrics_render(cs->metrics ? cs->metrics : &zero, &g, &b);
    sb_server_respond(rq, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.data, b.len);
    sb_buf_free(&b);
}

static void on_request(void *ud, struct sb_request *rq)
{
    struct sb_console *cs = ud;
    const char *path = sb_request_path(rq), *m = sb_request_method(rq);
    if (strncmp(path, "/api/", 5) == 0) {
        sb_console_api(cs, rq);
        return;
    }
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        sb_console_error(rq, 405, "method", "%s is not allowed here", m);
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        sb_server_respond(rq, 200, "text/plain; charset=utf-8", NULL, "ok\n", 3);
    } else if (strcmp(path, "/readyz") == 0) {
        char why[256] = "";
        bool ok = cs->ready ? cs->ready(cs->ready_ud, why, sizeof why) : true;
        char body[300];
        int n = snprintf(body, sizeof body, "%s%s\n", ok ? "ready" : "not ready: ", ok ? "" : why);
        sb_server_respond(rq, ok ? 200 : 503, "text/plain; charset=utf-8", NULL, body,
                          (size_t)n < sizeof body ? (size_t)n : sizeof body - 1);
    } else if (strcmp(path, "/metrics") == 0) {
        metrics(cs, rq);
    } else if (strcmp(path, "/ws") == 0) {
        sb_console_error(rq, 400, "invalid", "/ws is a WebSocket");
    } else {
        serve_static(cs, rq);
    }
}

static void on_gone(void *ud, struct sb_request *rq)
{
    sb_console_api_gone(ud, rq);
}

static void *ws_accept(void *ud, struct sb_request *rq, struct sb_conn *c)
{
    return sb_live_accept(ud, rq, c);
}

static void ws_text(void *ud, void *conn_ud, struct sb_conn *c, const char *data, size_t len)
{
    sb_live_text(ud, conn_ud, data, len);
}

static void ws_closed(void *ud, void *conn_ud, struct sb_conn *c)
{
    sb_live_closed(ud, conn_ud);
}

static void stats_work(uv_work_t *w)
{
    struct sb_console *cs = w->data;
    struct sb_errbuf eb = {{0}};
    cs->n_job = 0;
    cs->stats_err = sb_store_queue_stats(cs->reader, cs->stats_now, SB_CONSOLE_QUEUES_MAX, cs->job,
                                         &cs->n_job, &eb);
    if (snprintf(cs->stats_msg, sizeof cs->stats_msg, "%s", eb.msg) < 0)
        cs->stats_msg[0] = 0;
}

static void stats_done(uv_work_t *w, int status)
{
    struct sb_console *cs = w->data;
    cs->jobs--;
    cs->stats_busy = false;
    if (cs->closing) {
        sb_console_maybe_free(cs);
        return;
    }
    if (status != 0 || cs->stats_err) {
        sb_log(SB_LOG_ERROR, "store_error", "\"what\":\"queue statistics\",\"detail\":%s",
               sb_log_q(status ? "cancelled" : cs->stats_msg));
        return;
    }
    memcpy(cs->stats, cs->job, cs->n_job * sizeof cs->job[0]);
    cs->n_stats = cs->n_job;
    cs->have_stats = true;
    sb_live_queues(cs);
}

void sb_console_refresh_stats(struct sb_console *cs)
{
    cs->queues_dirty = false;
    if (!cs->reader) {
        struct sb_errbuf eb;
        size_t n = 0;
        if (sb_store_queue_stats(cs->store, sb_loop_now_ms(), SB_CONSOLE_QUEUES_MAX, cs->stats, &n,
                                 &eb) == SB_OK) {
            cs->n_stats = n;
            cs->have_stats = true;
        }
        sb_live_queues(cs);
        return;
    }
    if (cs->stats_busy) {
        cs->queues_dirty = true; /* again when this one is back */
        return;
    }
    cs->stats_now = sb_loop_now_ms();
    cs->stats_work.data = cs;
    if (uv_queue_work(sb_loop_uv(cs->loop), &cs->stats_work, stats_work, stats_done) == 0) {
        cs->stats_busy = true;
        cs->jobs++;
    }
}

void sb_console_maybe_free(struct sb_console *cs)
{
    if (cs->jobs == 0 && cs->tick_closed) {
        sb_store_close(cs->reader);
        free(cs);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct sb_console *cs = t->data;
    cs->ticks++;
    if (cs->queues_dirty || cs->ticks % QUEUES_EVERY_TICKS == 0)
        sb_console_refresh_stats(cs);
    if (cs->ticks % SESSIONS_EVERY_TICKS == 0)
        sb_live_end_sessions(cs, NULL);
    if (cs->ticks % PURGE_EVERY_TICKS == 0)
        sb_store_session_purge(cs->store, sb_loop_now_ms(), NULL, NULL);
}

enum sb_err sb_console_new(struct sb_loop *l, struct sb_store *s, const struct sb_config *cfg,
                           struct sb_casework *cw, struct sb_metrics *m, sb_console_ready_fn ready,
                           void *ready_ud, struct sb_console **out, struct sb_errbuf *eb)
{
    *out = NULL;
    if (sb_auth_init())
        return sb_errf(eb, SB_ERR_IO, "libsodium cannot initialise");
    struct sb_console *cs = calloc(1, sizeof *cs);
    if (!cs)
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    cs->loop = l;
    cs->store = s;
    cs->cfg = cfg;
    cs->cw = cw;
    cs->metrics = m;
    cs->ready = ready;
    cs->ready_ud = ready_ud;
    /* 5 failures per name and 20 per address in 5 minutes (an office shares one address) */
    sb_limiter_init(&cs->by_name, 5, 300000);
    sb_limiter_init(&cs->by_peer, 20, 300000);
    enum sb_err e = load_static(cs, eb);
    if (!e)
        e = sb_console_auth_prepare(eb);
    if (!e) {
        struct sb_server_opts o = {.listen = cfg->console.listen,
                                   .ws_path = "/ws",
                                   .origin = cfg->console.origin,
                                   .extra_headers = security_headers};
        struct sb_server_handlers h = {.on_request = on_request,
                                       .on_request_gone = on_gone,
                                       .ws_accept = ws_accept,
                                       .ws_text = ws_text,
                                       .ws_closed = ws_closed};
        e = sb_server_new(l, &o, &h, cs, &cs->srv, eb);
    }
    if (e) {
        sb_console_free(cs);
        return e;
    }
    snprintf(cs->url, sizeof cs->url, "%s/", cfg->console.origin);
    uv_timer_init(sb_loop_uv(l), &cs->tick);
    cs->tick.data = cs;
    uv_timer_start(&cs->tick, on_tick, TICK_MS, TICK_MS);
    /* a reader of its own for the statistics, unless the store lives in this process only */
    if (!strstr(cfg->store, ":memory:") && sb_store_open(cfg->store, &cs->reader, eb) != SB_OK) {
        sb_log(SB_LOG_WARN, "console",
               "\"detail\":%s,\"effect\":\"queue statistics are computed on the loop\"",
               sb_log_q(eb->msg));
        cs->reader = NULL;
    }
    sb_console_refresh_stats(cs); /* ctx.queues from the start */
    sb_casework_listen(cw, sb_live_case, cs);
    *out = cs;
    return SB_OK;
}

const char *sb_console_url(const struct sb_console *cs)
{
    return cs->url;
}

int sb_console_port(const struct sb_console *cs)
{
    return sb_server_port(cs->srv);
}

static void free_console(uv_handle_t *h)
{
    struct sb_console *cs = h->data;
    cs->tick_closed = true;
    sb_console_maybe_free(cs);
}

void sb_console_free(struct sb_console *cs)
{
    if (!cs)
        return;
    cs->closing = 1;
    sb_server_free(cs->srv); /* closes every console: ws_closed frees them */
    while (cs->conns)
        sb_live_closed(cs, cs->conns);
    for (size_t i = 0; i < cs->n_files; i++)
        free(cs->files[i].data);
    free(cs->files);
    if (cs->tick.data) {
        uv_timer_stop(&cs->tick);
        uv_close((uv_handle_t *)&cs->tick, free_console);
    } else {
        cs->tick_closed = true;
        sb_console_maybe_free(cs);
    }
}
