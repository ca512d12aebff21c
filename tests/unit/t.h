/* t.h — minimal unit-test harness: T_CHECK records failures and keeps going; main returns
 * the failure count so CTest sees a non-zero exit. Include once per test executable. */
#ifndef SB_T_H
#define SB_T_H

#include <stdio.h>
#include <string.h>

static int t_failures, t_checks;

#define T_CHECK(cond)                                                                              \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define T_STREQ(a, b)                                                                              \
    do {                                                                                           \
        const char *t_a = (a), *t_b = (b);                                                         \
        t_checks++;                                                                                \
        if (!t_a || !t_b || strcmp(t_a, t_b) != 0) {                                               \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed:\n  got:      %s\n  expected: %s\n", __FILE__, \
                    __LINE__, #a, #b, t_a ? t_a : "(null)", t_b ? t_b : "(null)");                 \
        }                                                                                          \
    } while (0)

#define T_INTEQ(a, b)                                                                              \
    do {                                                                                           \
        long long t_a = (long long)(a), t_b = (long long)(b);                                      \
        t_checks++;                                                                                \
        if (t_a != t_b) {                                                                          \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed: got %lld, expected %lld\n", __FILE__,         \
                    __LINE__, #a, #b, t_a, t_b);                                                   \
        }                                                                                          \
    } while (0)

#define T_RUN(fn)                                                                                  \
    do {                                                                                           \
        int t_before = t_failures;                                                                 \
        fn();                                                                                      \
        fprintf(stderr, "%s %s\n", t_failures == t_before ? "ok  " : "FAIL", #fn);                 \
    } while (0)

#define T_DONE()                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "%d checks, %d failures\n", t_checks, t_failures);                         \
        return t_failures ? 1 : 0;                                                                 \
    } while (0)

/* Path to ../shared/fixtures, passed by CMake as SB_FIXTURES. */
#ifndef SB_FIXTURES
#define SB_FIXTURES "../shared/fixtures"
#endif

#endif
