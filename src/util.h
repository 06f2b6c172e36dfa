/* util.h: errors, bf16 conversion, atomic output files, small helpers shared by all of src/. */
#ifndef GPTOSS_UTIL_H
#define GPTOSS_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gptoss.h"

/* Records a one-line message for gptoss_last_error() and returns status. Convention for
 * messages: "<file or argument>: <problem>". */
gptoss_status gptoss_error(gptoss_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gptoss_clear_error(void);

/* ---- bf16 ---------------------------------------------------------------------------- */

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Round to nearest even (NaN stays NaN), as torch's .to(torch.bfloat16). */
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* ---- test data ------------------------------------------------------------------------ */

/* xorshift64: the next 32 pseudo-random bits of state *s (nonzero); the tests, the
 * benchmarks and the kernels' self-check draw their data from it. */
static inline uint32_t xorshift_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

/* ---- MXFP4 ----------------------------------------------------------------------------- */

/* The 16 FP4 (e2m1) values, low nibble first in each byte. */
extern const float gptoss_fp4_values[16];

/* ---- atomic output files ----------------------------------------------------------------
 * Output is written to "<path>.tmp.<pid>" and renamed over <path> on commit, so a failure
 * or an interrupt (SIGINT/SIGTERM/SIGHUP remove pending temporaries) never leaves a
 * half-written file nor touches an existing one. */
typedef struct gptoss_atomic_file {
    FILE *f;
    char *path;
    char *tmp_path;
} gptoss_atomic_file;

gptoss_status gptoss_atomic_open(gptoss_atomic_file *af, const char *path);
/* fflush + fsync + fclose + rename; on any failure the temporary is removed. */
gptoss_status gptoss_atomic_commit(gptoss_atomic_file *af);
void gptoss_atomic_abort(gptoss_atomic_file *af);

/* Same idea for a folder: writes into "<dir>.tmp.<pid>", then renames. */
gptoss_status gptoss_atomic_dir_begin(const char *dir, char **tmp_dir);
gptoss_status gptoss_atomic_dir_commit(const char *tmp_dir, const char *dir);
void gptoss_atomic_dir_abort(const char *tmp_dir);

/* Register/unregister a temporary path to be removed if the process is interrupted. */
void gptoss_cleanup_register(const char *path);
void gptoss_cleanup_unregister(const char *path);

/* ---- misc ---------------------------------------------------------------------------- */

/* The project's source folder (GPTOSS_HOME env, else the build's source dir). */
const char *gptoss_home(void);
/* Reads a whole file (NUL-terminated); NULL with an error set on failure. */
char *gptoss_read_file(const char *path, size_t *len);
/* Joins a and b with '/'; malloc'ed. */
char *gptoss_path_join(const char *a, const char *b);
/* Monotonic seconds. */
double gptoss_now(void);
/* Number of online CPUs. */
int gptoss_ncpu(void);
/* Peak resident set size of this process in bytes (from /proc/self/status VmHWM). */
size_t gptoss_peak_rss(void);

#endif
