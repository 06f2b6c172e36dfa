/* check.h: CHECK(cond) and CHECK(cond, fmt, ...) for the C tests. A failed check prints
 * "FAIL file:line: message" (the condition's text when no message is given) to stderr and
 * counts in check_failures; the test's main returns non-zero when any failed. A test that defines CHECK_STOP_AFTER N before including this
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

/* CHECK picks CHECK_EXPR_ for one argument and CHECK_MSG_ for 2 to 20; both get the
 * arguments' text first. */
#define CHECK(...)                                                                       \
    CHECK_PICK_(__VA_ARGS__, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_,  \
                CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_,   \
                CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_,   \
                CHECK_MSG_, CHECK_MSG_, CHECK_EXPR_, _)                                   \
    (#__VA_ARGS__, __VA_ARGS__)
#define CHECK_PICK_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                    _17, _18, _19, _20, name, ...)                                         \
    name
#define CHECK_EXPR_(text, cond) CHECK_MSG_(text, cond, "%s", text)

#define CHECK_MSG_(text, cond, ...)                              \
    do {                                                         \
        if (!(cond)) {                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fprintf(stderr, "\n");                               \
            CHECK_COUNT_();                                      \
        }                                                        \
    } while (0)

#endif
