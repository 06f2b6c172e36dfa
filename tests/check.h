/* check.h: CHECK(cond, fmt, ...) for the C tests. A failed check prints
 * "FAIL file:line: message" to stderr and counts in check_failures; the test's main returns
 * non-zero when any failed. A test that defines CHECK_STOP_AFTER N before including this
 * exits(1) once more than N checks failed (a broken kernel fails thousands). */
#ifndef GPTOSS_TESTS_CHECK_H
#define GPTOSS_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures;

#ifdef CHECK_STOP_AFTER
#define CHECK_COUNT_()                                        \
    do {                                                      \
        if (++check_failures > CHECK_STOP_AFTER) exit(1);     \
    } while (0)
#else
#define CHECK_COUNT_() check_failures++
#endif

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fprintf(stderr, "\n");                               \
            CHECK_COUNT_();                                      \
        }                                                        \
    } while (0)

#endif
