/* log.c — structured log lines (see log.h). Depends on util/buf. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

static enum sb_log_level min_level = SB_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

void sb_log_set_level(enum sb_log_level min)
{
    min_level = min;
}

void sb_log(enum sb_log_level lvl, const char *event, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[4096];
    int n = snprintf(line, sizeof line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"event\":\"%s\"",
                     when, ts.tv_nsec / 1000000, names[lvl], event);
    if (fmt && *fmt && n > 0 && (size_t)n < sizeof line - 2) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(line + n, sizeof line - (size_t)n - 2, fmt, ap);
        va_end(ap);
        if (k > 0)
            n += k < (int)(sizeof line - (size_t)n - 2) ? k : (int)(sizeof line - (size_t)n - 3);
    }
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '}';
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}

const char *sb_log_q(const char *s)
{
    static _Thread_local char ring[8][600];
    static _Thread_local int at;
    char *out = ring[at++ & 7];
    if (!s)
        return strcpy(out, "null");
    struct sb_buf b;
    sb_buf_init(&b, 590);
    size_t n = strlen(s);
    if (n > 512) {
        n = 512;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* never split a UTF-8 sequence */
    }
    if (sb_buf_json_str(&b, s, n) != SB_OK || !b.data) {
        sb_buf_free(&b);
        return strcpy(out, "\"(unprintable)\"");
    }
    snprintf(out, 600, "%s", b.data);
    sb_buf_free(&b);
    return out;
}
