/* api.c — the console's JSON API (docs/console-api.md): sessions and login, cases and their
 * actions, queues, agents. Every route checks the session and the role; every state change
 * also checks the CSRF token and the Origin. Password checks (argon2id, tens of ms) run on
 * libuv's worker threads so the loop never waits for them. Depends on jansson for request
 * bodies, casework for the rules and the store. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/internal.h"
#include "util/log.h"

#define LIST_MAX 200
#define DETAIL_POSTS_MAX 50
#define DETAIL_EVENTS_MAX 200

/* ---- responses ------------------------------------------------------------------------------ */

void sb_console_json(struct sb_request *rq, int status, struct sb_buf *body)
{
    sb_server_respond(rq, status, "application/json", "Cache-Control: no-store\r\n", body->data,
                      body->len);
}

void sb_console_error(struct sb_request *rq, int status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct sb_buf b;
    sb_buf_init(&b, 4096);
    sb_buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":", code);
    sb_buf_json_str(&b, msg, strlen(msg));
    sb_buf_puts(&b, "}}");
    sb_console_json(rq, status, &b);
    sb_buf_free(&b);
}

static void store_failed(struct sb_request *rq, const struct sb_errbuf *eb)
{
    sb_log(SB_LOG_ERROR, "store_error", "\"route\":%s,\"detail\":%s", sb_log_q(sb_request_path(rq)),
           sb_log_q(eb->msg));
    sb_console_error(rq, 500, "internal", "the store failed; nothing was changed");
}

/* ---- sessions ------------------------------------------------------------------------------- */

enum sb_err sb_console_session(struct sb_console *cs, struct sb_request *rq,
                               struct api_session *out)
{
    char h[SB_SESSION_HASH_LEN + 1];
    if (!sb_auth_token_hash(sb_request_cookie(rq, "sb_session"), h))
        return SB_ERR_AUTH;
    if (sb_store_session_get(cs->store, h, sb_loop_now_ms(), &out->se, NULL) != SB_OK ||
        sb_store_agent_get(cs->store, out->se.agent_id, &out->agent, NULL) != SB_OK ||
        out->agent.disabled)
        return SB_ERR_AUTH;
    return SB_OK;
}

bool sb_console_agent_in_queue(const struct sb_agent *a, const char *queue)
{
    if (a->role >= SB_ROLE_SUPERVISOR || !a->queues[0])
        return true;
    size_t n = strlen(queue);
    for (const char *p = a->queues; p && *p;) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == n && strncmp(p, queue, n) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

bool sb_console_may_see(const struct sb_agent *a, const struct sb_case *c)
{
    return c->st.assignee == a->id || sb_console_agent_in_queue(a, c->queue);
}

static struct sb_actor actor_of(const struct sb_agent *a)
{
    return (struct sb_actor){a->id, a->role};
}

/* ---- login (argon2id off the loop) --------------------------------------------------------- */

struct login_job {
    uv_work_t work;
    struct sb_console *cs;
    struct sb_request *rq; /* NULL once the client is gone */
    struct sb_agent agent;
    bool known, ok;
    char password[SB_PASSWORD_MAX + 1];
    char name[SB_AGENT_NAME_MAX];
    char peer[64];
};

/* For unknown names the check still runs, against this: the answer takes as long either way. */
static char dummy_hash[SB_PWHASH_MAX];

static void login_work(uv_work_t *w)
{
    struct login_job *j = w->data;
    j->ok = sb_auth_verify_password(j->password, j->known ? j->agent.pw_hash : dummy_hash) &&
            j->known && !j->agent.disabled;
}

static void set_cookie(struct sb_console *cs, char *out, size_t cap, const char *token, int max_age)
{
    bool secure = strncmp(cs->cfg->console.origin, "https://", 8) == 0;
    snprintf(out, cap,
             "Set-Cookie: sb_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s\r\n",
             token, max_age, secure ? "; Secure" : "");
}

enum sb_err sb_console_auth_prepare(struct sb_errbuf *eb)
{
    if (dummy_hash[0])
        return SB_OK;
    char pw[SB_TOKEN_LEN + 1], h[SB_SESSION_HASH_LEN + 1], c[SB_CSRF_LEN + 1];
    sb_auth_new_session(pw, h, c); /* a random password nobody knows */
    return sb_auth_hash_password(pw, dummy_hash, eb);
}

static void login_done(uv_work_t *w, int status)
{
    struct login_job *j = w->data;
    struct sb_console *cs = j->cs;
    sb_auth_wipe(j->password, sizeof j->password);
    struct sb_request *rq = j->rq;
    cs->jobs--;
    if (cs->closing) {
        free(j);
        sb_console_maybe_free(cs);
        return;
    }
    if (!rq || status != 0) {
        if (rq)
            sb_console_error(rq, 500, "internal", "the password check was cancelled");
        free(j);
        return;
    }
    sb_request_set_ud(rq, NULL);
    int64_t now = sb_loop_now_ms();
    if (!j->ok) {
        sb_limiter_fail(&cs->by_peer, j->peer, now);
        sb_limiter_fail(&cs->by_name, j->name, now);
        sb_log(SB_LOG_WARN, "login_failed", "\"agent\":%s,\"peer\":%s", sb_log_q(j->name),
               sb_log_q(j->peer));
        sb_console_error(rq, 401, "bad_credentials", "wrong name or password");
        free(j);
        return;
    }
    sb_limiter_success(&cs->by_name, j->name);
    struct sb_session se = {0};
    char token[SB_TOKEN_LEN + 1];
    sb_auth_new_session(token, se.token_hash, se.csrf);
    se.agent_id = j->agent.id;
    se.created_at = now;
    int max_age = cs->cfg->console.session_hours * 3600;
    se.expires_at = now + (int64_t)max_age * 1000;
    struct sb_errbuf eb;
    if (sb_store_session_add(cs->store, &se, &eb)) {
        store_failed(rq, &eb);
        free(j);
        return;
    }
    sb_log(SB_LOG_INFO, "login", "\"agent\":%s,\"peer\":%s", sb_log_q(j->name), sb_log_q(j->peer));
    char cookie[256];
    set_cookie(cs, cookie, sizeof cookie, token, max_age);
    struct sb_buf b;
    sb_buf_init(&b, 0);
    sb_buf_puts(&b, "{\"agent\":");
    sb_view_agent(&b, &j->agent);
    sb_buf_printf(&b, ",\"csrf\":\"%s\"}", se.csrf);
    char headers[400];
    snprintf(headers, sizeof headers, "%sCache-Control: no-store\r\n", cookie);
    sb_server_respond(rq, 200, "application/json", headers, b.data, b.len);
    sb_buf_free(&b);
    free(j);
}

void sb_console_api_gone(struct sb_console *cs, struct sb_request *rq)
{
    struct login_job *j = sb_request_ud(rq);
    if (j)
        j->rq = NULL; /* the work finishes and frees itself */
}

static json_t *body_json(struct sb_request *rq)
{
    size_t n;
    const char *body = sb_request_body(rq, &n);
    json_error_t jerr;
    json_t *j = json_loadb(body ? body : "", n, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        sb_console_error(rq, 400, "invalid", "the body is not JSON: %s (at %d)", jerr.text,
                         jerr.position);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        sb_console_error(rq, 400, "invalid", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* A string field: NULL when absent; *bad set when present but not a string. */
static const char *jstr(json_t *o, const char *k, bool *bad)
{
    json_t *v = json_object_get(o, k);
    if (v && !json_is_string(v) && !json_is_null(v))
        *bad = true;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void login(struct sb_console *cs, struct sb_request *rq)
{
    int64_t now = sb_loop_now_ms();
    const char *peer = sb_request_peer(rq);
    int64_t wait = sb_limiter_check(&cs->by_peer, peer, now);
    json_t *j = body_json(rq);
    if (!j)
        return;
    bool bad = false;
    const char *name = jstr(j, "name", &bad), *pw = jstr(j, "password", &bad);
    if (bad || !name || !pw || !*name || strlen(name) >= SB_AGENT_NAME_MAX ||
        strlen(pw) > SB_PASSWORD_MAX) {
        json_decref(j);
        sb_console_error(rq, 400, "invalid", "login needs a name and a password (strings)");
        return;
    }
    int64_t wait_name = sb_limiter_check(&cs->by_name, name, now);
    if (wait_name > wait)
        wait = wait_name;
    if (wait > 0) {
        json_decref(j);
        char h[64];
        snprintf(h, sizeof h, "Retry-After: %lld\r\n", (long long)wait);
        struct sb_buf b;
        sb_buf_init(&b, 1024);
        sb_buf_printf(&b,
                      "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many failed "
                      "logins; try again in %lld s\",\"retry_after\":%lld}}",
                      (long long)wait, (long long)wait);
        sb_server_respond(rq, 429, "application/json", h, b.data, b.len);
        sb_buf_free(&b);
        return;
    }
    struct login_job *job = calloc(1, sizeof *job);
    if (!job) {
        json_decref(j);
        sb_console_error(rq, 500, "internal", "out of memory");
        return;
    }
    job->cs = cs;
    job->rq = rq;
    job->work.data = job;
    snprintf(job->name, sizeof job->name, "%s", name);
    snprintf(job->password, sizeof job->password, "%s", pw);
    snprintf(job->peer, sizeof job->peer, "%s", peer);
    job->known = sb_store_agent_by_name(cs->store, name, &job->agent, NULL) == SB_OK;
    json_decref(j);
    sb_request_set_ud(rq, job);
    cs->jobs++;
    if (uv_queue_work(sb_loop_uv(cs->loop), &job->work, login_work, login_done) != 0) {
        cs->jobs--;
        sb_request_set_ud(rq, NULL);
        sb_auth_wipe(job->password, sizeof job->password);
        free(job);
        sb_console_error(rq, 500, "internal", "cannot check the password now");
    }
}

static void logout(struct sb_console *cs, struct sb_request *rq, struct api_session *s)
{
    struct sb_errbuf eb;
    if (sb_store_session_delete(cs->store, s->se.token_hash, &eb)) {
        store_failed(rq, &eb);
        return;
    }
    sb_live_end_sessions(cs, s->se.token_hash);
    char cookie[256];
    set_cookie(cs, cookie, sizeof cookie, "", 0);
    const char body[] = "{\"ok\":true}";
    sb_server_respond(rq, 200, "application/json", cookie, body, sizeof body - 1);
}

static void me(struct sb_console *cs, struct sb_request *rq, struct api_session *s)
{
    struct sb_buf b;
    sb_buf_init(&b, 0);
    sb_buf_puts(&b, "{\"agent\":");
    sb_view_agent(&b, &s->agent);
    sb_buf_printf(&b, ",\"csrf\":\"%s\",\"queues\":[", s->se.csrf);
    int first = 1;
    for (int i = 0; i < cs->cfg->n_queues; i++) {
        /* every queue: an agent may transfer a case to any of them */
        if (!first)
            sb_buf_putc(&b, ',');
        first = 0;
        sb_view_queue(&b, &cs->cfg->queues[i], NULL);
    }
    sb_buf_puts(&b, "]}");
    sb_console_json(rq, 200, &b);
    sb_buf_free(&b);
}

/* ---- cases --------------------------------------------------------------------------------- */

static void list_cases(struct sb_console *cs, struct sb_request *rq, struct api_session *s)
{
    struct sb_case_filter f = {.owner = SB_CASE_HUMAN};
    const char *owner = sb_request_arg(rq, "owner");
    if (owner && strcmp(owner, "all") == 0)
        f.owner = -1;
    else if (owner && (f.owner = sb_case_owner_from_name(owner)) < 0) {
        sb_console_error(rq, 400, "invalid", "owner is human, closed, policy or all");
        return;
    }
    const char *queue = sb_request_arg(rq, "queue");
    char queues[SB_AGENT_QUEUES_MAX] = "";
    if (queue && *queue) {
        if (strlen(queue) >= sizeof queues) {
            sb_console_error(rq, 400, "invalid", "queue list too long");
            return;
        }
        snprintf(queues, sizeof queues, "%s", queue);
        for (char *save = NULL, *t = strtok_r(queues, ",", &save); t;
             t = strtok_r(NULL, ",", &save))
            if (!sb_console_agent_in_queue(&s->agent, t)) {
                sb_console_error(rq, 403, "forbidden", "you are not in queue '%s'", t);
                return;
            }
        snprintf(queues, sizeof queues, "%s", queue);
    } else if (s->agent.role < SB_ROLE_SUPERVISOR) {
        snprintf(queues, sizeof queues, "%s", s->agent.queues);
    }
    f.queues = queues;
    const char *assignee = sb_request_arg(rq, "assignee");
    if (assignee && strcmp(assignee, "me") == 0) {
        f.assignee = s->agent.id;
        f.queues = NULL; /* mine, wherever they are */
    } else if (assignee && strcmp(assignee, "unclaimed") == 0) {
        f.assignee = -1;
    } else if (assignee && *assignee) {
        struct sb_agent a;
        if (sb_store_agent_by_name(cs->store, assignee, &a, NULL) != SB_OK) {
            sb_console_error(rq, 404, "not_found", "no agent named '%s'", assignee);
            return;
        }
        f.assignee = a.id;
    }
    long limit = 50;
    const char *l = sb_request_arg(rq, "limit");
    if (l) {
        char *end;
        limit = strtol(l, &end, 10);
        if (*end || limit < 1 || limit > LIST_MAX) {
            sb_console_error(rq, 400, "invalid", "limit is 1 to %d", LIST_MAX);
            return;
        }
    }
    const char *after = sb_request_arg(rq, "after");
    if (after && *after) {
        long long p, d, id;
        char tail;
        if (sscanf(after, "%lld.%lld.%lld%c", &p, &d, &id, &tail) != 3) {
            sb_console_error(rq, 400, "invalid", "after is the 'next' of a previous page");
            return;
        }
        f.after_set = true;
        f.after_priority = (int)p;
        f.after_due = d;
        f.after_id = id;
    }
    struct sb_case *cases = malloc(sizeof *cases * (size_t)limit);
    size_t n = 0;
    struct sb_errbuf eb;
    if (!cases) {
        sb_console_error(rq, 500, "internal", "out of memory");
        return;
    }
    if (sb_store_case_list(cs->store, &f, (size_t)limit, cases, &n, &eb)) {
        free(cases);
        store_failed(rq, &eb);
        return;
    }
    int64_t now = sb_loop_now_ms();
    struct sb_buf b;
    sb_buf_init(&b, 0);
    sb_buf_puts(&b, "{\"cases\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_buf_putc(&b, ',');
        sb_view_case(cs, &b, &cases[i], now);
    }
    sb_buf_puts(&b, "],\"next\":");
    if (n == (size_t)limit)
        sb_buf_printf(&b, "\"%d.%lld.%lld\"", (int)cases[n - 1].st.priority,
                      (long long)sb_case_list_due(&cases[n - 1]), (long long)cases[n - 1].id);
    else
        sb_buf_puts(&b, "null");
    sb_buf_putc(&b, '}');
    sb_console_json(rq, 200, &b);
    sb_buf_free(&b);
    free(cases);
}

/* The case named in the path, if the agent may see it (else an error is sent). */
static bool load_case(struct sb_console *cs, struct sb_request *rq, struct api_session *s,
                      int64_t id, struct sb_case *c)
{
    struct sb_errbuf eb;
    enum sb_err e = sb_store_case_get(cs->store, id, c, &eb);
    if (e == SB_ERR_NOTFOUND) {
        sb_console_error(rq, 404, "not_found", "no case %lld", (long long)id);
        return false;
    }
    if (e) {
        store_failed(rq, &eb);
        return false;
    }
    if (!sb_console_may_see(&s->agent, c)) {
        sb_console_error(rq, 403, "forbidden", "case %lld is in queue '%s', which is not yours",
                         (long long)id, c->queue);
        return false;
    }
    return true;
}

static void case_detail(struct sb_console *cs, struct sb_request *rq, struct api_session *s,
                        int64_t id)
{
    struct sb_case c;
    if (!load_case(cs, rq, s, id, &c))
        return;
    struct sb_case_event *evs = malloc(sizeof *evs * DETAIL_EVENTS_MAX);
    struct sb_post_view *pv = malloc(sizeof *pv);
    struct sb_outbox_entry *ob = malloc(sizeof *ob * 8);
    struct sb_buf b;
    sb_buf_init(&b, 0);
    size_t n_ev = 0;
    struct sb_errbuf eb;
    if (!evs || !pv || !ob) {
        sb_console_error(rq, 500, "internal", "out of memory");
        goto out;
    }
    if (sb_store_case_events(cs->store, c.id, DETAIL_EVENTS_MAX, evs, &n_ev, &eb)) {
        store_failed(rq, &eb);
        goto out;
    }
    int64_t now = sb_loop_now_ms();
    sb_buf_puts(&b, "{\"case\":");
    sb_view_case(cs, &b, &c, now);
    /* the posts of the case: each escalated or joined post once, oldest first */
    int64_t rows[DETAIL_POSTS_MAX];
    size_t n_rows = 0;
    for (size_t i = 0; i < n_ev && n_rows < DETAIL_POSTS_MAX; i++) {
        if (!evs[i].post_rowid)
            continue;
        size_t k = 0;
        while (k < n_rows && rows[k] != evs[i].post_rowid)
            k++;
        if (k == n_rows)
            rows[n_rows++] = evs[i].post_rowid;
    }
    sb_buf_puts(&b, ",\"posts\":[");
    struct sb_post_view author = {0};
    for (size_t i = 0; i < n_rows; i++) {
        if (sb_store_post_view(cs->store, rows[i], pv, &eb))
            continue;
        if (i)
            sb_buf_putc(&b, ',');
        sb_view_post(&b, pv);
        if (i == 0)
            author = *pv;
    }
    sb_buf_puts(&b, "],\"events\":[");
    for (size_t i = 0; i < n_ev; i++) {
        if (i)
            sb_buf_putc(&b, ',');
        sb_view_event(cs, &b, &evs[i]);
    }
    sb_buf_puts(&b, "],\"replies\":[");
    int first = 1;
    for (size_t i = 0; i < n_rows; i++) {
        size_t m = 0;
        if (sb_store_outbox_for_post(cs->store, rows[i], 8, ob, &m, &eb))
            continue;
        for (size_t k = 0; k < m; k++) {
            if (!first)
                sb_buf_putc(&b, ',');
            first = 0;
            sb_view_reply(&b, &ob[k]);
        }
    }
    struct sb_author_history h = {0};
    sb_store_author_history(cs->store, c.platform, c.author_id, now - 86400000LL, 0, &h, NULL);
    sb_buf_puts(&b, "],\"author\":{\"id\":");
    sb_view_str(&b, c.author_id);
    sb_buf_puts(&b, ",\"handle\":");
    sb_view_str(&b, c.author_handle);
    sb_buf_puts(&b, ",\"name\":");
    sb_view_str(&b, author.author_name);
    sb_buf_printf(&b,
                  ",\"followers\":%lld,\"verified\":%s,\"bot\":%s,\"history\":{\"posts\":%lld,"
                  "\"answered\":%lld,\"escalated\":%lld}}",
                  (long long)author.author_followers, author.author_verified ? "true" : "false",
                  author.author_bot ? "true" : "false", (long long)h.posts, (long long)h.answered,
                  (long long)h.escalated);
    size_t max, pmax;
    bool g, pg;
    sb_casework_limit(&c, false, &max, &g);
    sb_casework_limit(&c, true, &pmax, &pg);
    sb_buf_printf(&b,
                  ",\"limit\":{\"max\":%zu,\"unit\":\"%s\"},"
                  "\"limit_private\":{\"max\":%zu,\"unit\":\"%s\"}}",
                  max, g ? "graphemes" : "characters", pmax, pg ? "graphemes" : "characters");
    sb_console_json(rq, 200, &b);
out:
    sb_buf_free(&b);
    free(evs);
    free(pv);
    free(ob);
}

static void case_action(struct sb_console *cs, struct sb_request *rq, struct api_session *s,
                        int64_t id, const char *verb)
{
    static const struct {
        const char *verb;
        enum sb_case_event_kind kind;
    } verbs[] = {{"claim", SB_CASE_EV_CLAIMED},        {"unclaim", SB_CASE_EV_UNCLAIMED},
                 {"reply", SB_CASE_EV_REPLY},          {"note", SB_CASE_EV_NOTE},
                 {"transfer", SB_CASE_EV_TRANSFERRED}, {"resolve", SB_CASE_EV_RESOLVED},
                 {"reopen", SB_CASE_EV_REOPENED},      {"release", SB_CASE_EV_RELEASED}};
    struct sb_case_request req = {.kind = SB_CASE_EV__COUNT};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(verb, verbs[i].verb) == 0)
            req.kind = verbs[i].kind;
    if (req.kind == SB_CASE_EV__COUNT) {
        sb_console_error(rq, 404, "not_found", "no action '%s' on cases", verb);
        return;
    }
    struct sb_case c;
    if (!load_case(cs, rq, s, id, &c))
        return;
    size_t blen;
    sb_request_body(rq, &blen);
    json_t *j = blen ? body_json(rq) : json_object();
    if (!j)
        return;
    bool bad = false;
    req.text = jstr(j, "text", &bad);
    req.request_id = jstr(j, "request_id", &bad);
    req.to_queue = jstr(j, "queue", &bad);
    const char *to_agent = jstr(j, "agent", &bad);
    json_t *priv = json_object_get(j, "private");
    if (priv && !json_is_boolean(priv))
        bad = true;
    req.private_reply = json_is_true(priv);
    if (bad) {
        json_decref(j);
        sb_console_error(rq, 400, "invalid",
                         "text, request_id, queue and agent are strings; private is a boolean");
        return;
    }
    struct sb_agent target;
    if (req.kind == SB_CASE_EV_TRANSFERRED) {
        if (to_agent && *to_agent) {
            if (sb_store_agent_by_name(cs->store, to_agent, &target, NULL) != SB_OK ||
                target.disabled) {
                json_decref(j);
                sb_console_error(rq, 404, "not_found", "no agent named '%s'", to_agent);
                return;
            }
            const char *q = req.to_queue && *req.to_queue ? req.to_queue : c.queue;
            if (!sb_console_agent_in_queue(&target, q)) {
                json_decref(j);
                sb_console_error(rq, 400, "invalid", "%s is not in queue '%s'", target.name, q);
                return;
            }
            req.to_agent = target.id;
            req.to_agent_name = target.name;
        } else if (!req.to_queue || !*req.to_queue) {
            json_decref(j);
            sb_console_error(rq, 400, "invalid", "transfer needs a queue or an agent");
            return;
        }
    }
    struct sb_case_outcome *out = malloc(sizeof *out);
    if (!out) {
        json_decref(j);
        sb_console_error(rq, 500, "internal", "out of memory");
        return;
    }
    struct sb_errbuf eb = {{0}};
    struct sb_actor act = actor_of(&s->agent);
    enum sb_err e =
        sb_casework_act(cs->cw, id, &act, s->agent.name, &req, sb_loop_now_ms(), out, &eb);
    json_decref(j);
    if (e == SB_ERR_INVAL)
        sb_console_error(rq, 400, "invalid", "%s", eb.msg);
    else if (e == SB_ERR_CONFLICT)
        sb_console_error(rq, 409, "conflict", "%s", eb.msg);
    else if (e == SB_ERR_NOTFOUND)
        sb_console_error(rq, 404, "not_found", "no case %lld", (long long)id);
    else if (e)
        store_failed(rq, &eb);
    else if (out->refusal == SB_CASE_CLAIMED)
        sb_console_error(rq, 409, "claimed", "case %lld is claimed by %s", (long long)id,
                         out->holder[0] ? out->holder : "another agent");
    else if (out->refusal == SB_CASE_FORBIDDEN)
        sb_console_error(rq, 403, "forbidden", "%s (case %lld)",
                         sb_case_refusal_message(out->refusal), (long long)id);
    else if (out->refusal != SB_CASE_OK)
        sb_console_error(rq, 409, "wrong_state", "%s (case %lld is %s%s)",
                         sb_case_refusal_message(out->refusal), (long long)id,
                         sb_case_owner_name(out->c.st.owner),
                         out->c.st.assignee ? ", claimed" : "");
    else {
        struct sb_buf b;
        sb_buf_init(&b, 0);
        sb_buf_puts(&b, "{\"case\":");
        sb_view_case(cs, &b, &out->c, sb_loop_now_ms());
        if (req.kind == SB_CASE_EV_REPLY) {
            struct sb_outbox_entry *ob = malloc(sizeof *ob);
            if (ob && out->outbox_id &&
                sb_store_outbox_get(cs->store, out->outbox_id, ob, NULL) == SB_OK) {
                sb_buf_puts(&b, ",\"reply\":");
                sb_view_reply(&b, ob);
            }
            free(ob);
            sb_buf_printf(&b, ",\"repeated\":%s", out->repeated ? "true" : "false");
            if (!out->repeated && cs->metrics)
                cs->metrics->agent_replies++;
        } else if (req.kind == SB_CASE_EV_NOTE) {
            sb_buf_puts(&b, ",\"event\":");
            sb_view_event(cs, &b, &out->ev);
        }
        sb_buf_putc(&b, '}');
        sb_console_json(rq, req.kind == SB_CASE_EV_REPLY ? 202 : 200, &b);
        sb_buf_free(&b);
        sb_log(SB_LOG_INFO, "case_action", "\"case\":%lld,\"action\":\"%s\",\"agent\":%s",
               (long long)id, sb_case_event_name(req.kind), sb_log_q(s->agent.name));
    }
    free(out);
}

/* ---- queues and agents ---------------------------------------------------------------------- */

size_t sb_console_queue_stats(struct sb_console *cs, struct sb_queue_stats *st, size_t max)
{
    if (cs->have_stats) {
        size_t n = cs->n_stats < max ? cs->n_stats : max;
        memcpy(st, cs->stats, n * sizeof *st);
        return n;
    }
    size_t n = 0;
    struct sb_errbuf eb;
    if (sb_store_queue_stats(cs->store, sb_loop_now_ms(), max, st, &n, &eb)) {
        sb_log(SB_LOG_ERROR, "store_error", "\"detail\":%s", sb_log_q(eb.msg));
        return 0;
    }
    return n;
}

void sb_console_queues_json(struct sb_console *cs, const struct sb_agent *a,
                            const struct sb_queue_stats *st, size_t n, struct sb_buf *b)
{
    sb_buf_puts(b, "[");
    int first = 1;
    /* configured queues first (with zeros when empty), then any other queue with cases */
    for (int i = 0; i < cs->cfg->n_queues; i++) {
        const struct sb_queue_conf *q = &cs->cfg->queues[i];
        if (!sb_console_agent_in_queue(a, q->name))
            continue;
        struct sb_queue_stats zero = {0};
        const struct sb_queue_stats *s = &zero;
        snprintf(zero.queue, sizeof zero.queue, "%s", q->name);
        for (size_t k = 0; k < n; k++)
            if (strcmp(st[k].queue, q->name) == 0)
                s = &st[k];
        if (!first)
            sb_buf_putc(b, ',');
        first = 0;
        sb_view_queue(b, q, s);
    }
    for (size_t k = 0; k < n; k++) {
        if (sb_config_queue(cs->cfg, st[k].queue) || !sb_console_agent_in_queue(a, st[k].queue))
            continue;
        if (!first)
            sb_buf_putc(b, ',');
        first = 0;
        sb_view_queue(b, NULL, &st[k]);
    }
    sb_buf_puts(b, "]");
}

static void online_json(struct sb_console *cs, struct sb_buf *b)
{
    sb_buf_putc(b, '[');
    int first = 1;
    for (struct live_conn *lc = cs->conns; lc; lc = lc->next) {
        if (!sb_live_first_console(cs, lc))
            continue; /* listed at its first console */
        if (!first)
            sb_buf_putc(b, ',');
        first = 0;
        sb_buf_printf(b, "{\"id\":%lld,\"name\":", (long long)lc->agent.id);
        sb_view_str(b, lc->agent.name);
        sb_buf_printf(b, ",\"role\":\"%s\",\"consoles\":%d}", sb_role_name(lc->agent.role),
                      sb_live_consoles_of(cs, lc->agent.id));
    }
    sb_buf_putc(b, ']');
}

static void queues(struct sb_console *cs, struct sb_request *rq, struct api_session *s)
{
    struct sb_buf b;
    sb_buf_init(&b, 0);
    struct sb_queue_stats st[SB_CONSOLE_QUEUES_MAX];
    size_t n = sb_console_queue_stats(cs, st, SB_CONSOLE_QUEUES_MAX);
    sb_buf_puts(&b, "{\"queues\":");
    sb_console_queues_json(cs, &s->agent, st, n, &b);
    sb_buf_puts(&b, ",\"agents\":");
    online_json(cs, &b);
    sb_buf_putc(&b, '}');
    sb_console_json(rq, 200, &b);
    sb_buf_free(&b);
}

static void agents(struct sb_console *cs, struct sb_request *rq, struct api_session *s)
{
    if (s->agent.role < SB_ROLE_SUPERVISOR) {
        sb_console_error(rq, 403, "forbidden", "only supervisors and admins list agents");
        return;
    }
    size_t max = 500, n = 0;
    struct sb_agent *list = malloc(sizeof *list * max);
    struct sb_errbuf eb;
    if (!list || sb_store_agent_list(cs->store, max, list, &n, &eb)) {
        free(list);
        sb_console_error(rq, 500, "internal", "cannot list agents");
        return;
    }
    struct sb_buf b;
    sb_buf_init(&b, 0);
    sb_buf_puts(&b, "{\"agents\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_buf_putc(&b, ',');
        sb_view_agent(&b, &list[i]);
        b.len--; /* reopen the object */
        sb_buf_printf(&b, ",\"disabled\":%s,\"online\":%d}", list[i].disabled ? "true" : "false",
                      sb_live_consoles_of(cs, list[i].id));
    }
    sb_buf_puts(&b, "]}");
    sb_console_json(rq, 200, &b);
    sb_buf_free(&b);
    free(list);
}

/* ---- routing ------------------------------------------------------------------------------ */

/* A state change must come from the console itself: the session's CSRF token in a header (a
 * cross-site form cannot set one), JSON (a cross-site form cannot send it without a CORS
 * preflight we never grant), and no foreign Origin. */
static bool csrf_ok(struct sb_console *cs, struct sb_request *rq, const struct api_session *s)
{
    const char *origin = sb_request_header(rq, "origin");
    if (origin && strcmp(origin, cs->cfg->console.origin) != 0) {
        sb_console_error(rq, 403, "csrf", "requests from %s are not accepted", origin);
        return false;
    }
    if (s && !sb_auth_secret_eq(sb_request_header(rq, "x-csrf-token"), s->se.csrf)) {
        sb_console_error(rq, 403, "csrf", "missing or wrong X-CSRF-Token");
        return false;
    }
    size_t n;
    sb_request_body(rq, &n);
    const char *ct = sb_request_header(rq, "content-type");
    if (n && (!ct || strncmp(ct, "application/json", 16) != 0)) {
        sb_console_error(rq, 400, "invalid", "the body must be application/json");
        return false;
    }
    return true;
}

void sb_console_api(struct sb_console *cs, struct sb_request *rq)
{
    const char *m = sb_request_method(rq), *path = sb_request_path(rq);
    bool post = strcmp(m, "POST") == 0, get = strcmp(m, "GET") == 0;
    if (!post && !get) {
        sb_console_error(rq, 405, "method", "%s is not allowed here", m);
        return;
    }
    if (strcmp(path, "/api/login") == 0) {
        if (!post)
            sb_console_error(rq, 405, "method", "login is a POST");
        else if (csrf_ok(cs, rq, NULL))
            login(cs, rq);
        return;
    }
    struct api_session s;
    if (sb_console_session(cs, rq, &s) != SB_OK) {
        sb_console_error(rq, 401, "unauthenticated", "sign in first");
        return;
    }
    if (post && !csrf_ok(cs, rq, &s))
        return;
    long long id = 0;
    char verb[32] = "";
    int used = 0;
    if (strcmp(path, "/api/logout") == 0 && post)
        logout(cs, rq, &s);
    else if (strcmp(path, "/api/me") == 0 && get)
        me(cs, rq, &s);
    else if (strcmp(path, "/api/cases") == 0 && get)
        list_cases(cs, rq, &s);
    else if (strcmp(path, "/api/queues") == 0 && get)
        queues(cs, rq, &s);
    else if (strcmp(path, "/api/agents") == 0 && get)
        agents(cs, rq, &s);
    else if (sscanf(path, "/api/cases/%lld%n", &id, &used) == 1 && path[used] == 0 && get && id > 0)
        case_detail(cs, rq, &s, id);
    else if (sscanf(path, "/api/cases/%lld/%31[a-z]%n", &id, verb, &used) == 2 && path[used] == 0 &&
             id > 0) {
        if (!post)
            sb_console_error(rq, 405, "method", "case actions are POSTs");
        else
            case_action(cs, rq, &s, id, verb);
    } else
        sb_console_error(rq, 404, "not_found", "no route %s %s", m, path);
}
