/* log.h — one structured line per event (JSON on stderr), never a secret.
 * sb_log(SB_LOG_INFO, "decided", "\"post_id\":%s,\"action\":\"%s\"", ...) writes
 * {"ts":"…","level":"info","event":"decided","post_id":…}. Callers escape strings with
 * sb_log_q (a quoted JSON string in a rotating static buffer, for use inside one call). */
#ifndef SB_LOG_H
#define SB_LOG_H

enum sb_log_level { SB_LOG_DEBUG = 0, SB_LOG_INFO, SB_LOG_WARN, SB_LOG_ERROR };

void sb_log_set_level(enum sb_log_level min);
void sb_log(enum sb_log_level lvl, const char *event, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* s as a quoted, escaped JSON string (at most 512 bytes of it; NULL → null). The result lives
 * until 8 further calls on this thread. */
const char *sb_log_q(const char *s);

#endif
