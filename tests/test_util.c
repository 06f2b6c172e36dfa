/* test_util.c: bf16 rounding, atomic files. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#include "check.h"

int main(void) {
    /* bf16: exact values round-trip; ties go to even. */
    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80);        /* tie, even stays */
    CHECK(f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);        /* tie, odd rounds up */
    CHECK(f32_to_bf16(-2.5f) == 0xc020);

    /* atomic: an aborted write leaves the existing file untouched. */
    char path[] = "/tmp/gptoss_test_util_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "old", 3) == 3);
    close(fd);
    gptoss_atomic_file af;
    CHECK(gptoss_atomic_open(&af, path) == GPTOSS_OK);
    fputs("new", af.f);
    gptoss_atomic_abort(&af);
    size_t n = 0;
    char *s = gptoss_read_file(path, &n);
    CHECK(s && n == 3 && !memcmp(s, "old", 3));
    free(s);
    CHECK(gptoss_atomic_open(&af, path) == GPTOSS_OK);
    fputs("new!", af.f);
    CHECK(gptoss_atomic_commit(&af) == GPTOSS_OK);
    s = gptoss_read_file(path, &n);
    CHECK(s && n == 4 && !memcmp(s, "new!", 4));
    free(s);
    unlink(path);

    /* errors name the file */
    CHECK(gptoss_read_file("/nonexistent/x", NULL) == NULL);
    CHECK(strstr(gptoss_last_error(), "/nonexistent/x") != NULL);

    printf("test_util: %s\n", check_failures ? "FAIL" : "ok");
    return check_failures ? 1 : 0;
}
