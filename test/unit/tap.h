/* A minimal TAP producer for unit tests: meson runs each test binary with
 * protocol 'tap' and counts every "ok"/"not ok" line. */
#ifndef DYNTHRIFT_TAP_H
#define DYNTHRIFT_TAP_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int tap_count_, tap_failed_;

#define TAP_CHECK(cond, ...)                                                  \
    do {                                                                      \
        bool tap_ok_ = (cond); /* evaluated once: it may have effects */      \
        ++tap_count_;                                                         \
        if (!tap_ok_)                                                         \
            ++tap_failed_;                                                    \
        printf("%s %d - ", tap_ok_ ? "ok" : "not ok", tap_count_);           \
        printf(__VA_ARGS__);                                                  \
        printf("\n");                                                         \
        if (!tap_ok_)                                                         \
            printf("# failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
        fflush(stdout);                                                       \
    } while (0)

#define TAP_STREQ(a, b, ...)                                                  \
    do {                                                                      \
        const char *tap_a_ = (a), *tap_b_ = (b);                              \
        bool tap_eq_ = tap_a_ && tap_b_ && strcmp(tap_a_, tap_b_) == 0;       \
        TAP_CHECK(tap_eq_, __VA_ARGS__);                                      \
        if (!tap_eq_)                                                         \
            printf("#   got:      '%s'\n#   expected: '%s'\n",                \
                   tap_a_ ? tap_a_ : "(null)", tap_b_ ? tap_b_ : "(null)");   \
    } while (0)

static inline int tap_done(void) {
    printf("1..%d\n", tap_count_);
    return tap_failed_ ? 1 : 0;
}

#endif
