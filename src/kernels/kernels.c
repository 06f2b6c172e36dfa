/* kernels.c: run-time choice of the kernel set (CPUID + GPTOSS_KERNELS). */
#include "kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxfp4.h"
#include "util.h"

static int cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi2"); /* every such CPU has F16C too */
#else
    return 0;
#endif
}

static int cpu_has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

const gptoss_kernels *gptoss_kernels_by_name(const char *name) {
    if (!strcmp(name, "portable")) return &gptoss_kernels_portable;
    if (!strcmp(name, "avx2")) return cpu_has_avx2() ? &gptoss_kernels_avx2 : NULL;
    if (!strcmp(name, "avx512")) return cpu_has_avx512() ? &gptoss_kernels_avx512 : NULL;
    return NULL;
}

/* ---- self-check of the automatic choice ------------------------------------------------
 * A kernel set picked automatically is first run on one small problem per kernel and
 * compared with the portable kernels; a set that disagrees is never used (the next one down
 * is, with a one-line warning). This guards users against a kernel path that the machines
 * the tests run on could not execute. GPTOSS_KERNELS=... skips the check (tests use it). */
static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static float unit(uint32_t *s) { return (float)(lcg(s) & 0xffff) / 32768.0f - 1.0f; }

static int kernels_agree(const gptoss_kernels *k) {
    enum { T = 3, IN = 96, OUT = 5 };
    uint32_t seed = 12345;
    float x[T * IN], xp_ref[T * IN], xp_k[T * IN], bias[OUT], f32w[OUT * IN];
    uint16_t bf16w[OUT * IN];
    uint8_t blocks[OUT * IN / 2], scales[OUT * IN / 32];
    for (int i = 0; i < T * IN; i++) x[i] = unit(&seed);
    for (int i = 0; i < OUT; i++) bias[i] = unit(&seed);
    for (int i = 0; i < OUT * IN; i++) {
        f32w[i] = unit(&seed);
        bf16w[i] = f32_to_bf16(unit(&seed));
    }
    for (int i = 0; i < OUT * IN / 2; i++) blocks[i] = (uint8_t)lcg(&seed);
    for (int i = 0; i < OUT * IN / 32; i++) scales[i] = (uint8_t)(122 + lcg(&seed) % 8);
    const gptoss_kernels *ref = &gptoss_kernels_portable;
    for (int kind = 0; kind < 3; kind++) {
        float y_ref[T * OUT], y_k[T * OUT];
        for (int t = 0; t < T; t++) {
            const float *xt = x + t * IN;
            if (kind == 0) {
                ref->bf16_prepare_x(xp_ref + t * IN, xt, IN);
                k->bf16_prepare_x(xp_k + t * IN, xt, IN);
            } else if (kind == 2) {
                ref->mxfp4_prepare_x(xp_ref + t * IN, xt, IN);
                k->mxfp4_prepare_x(xp_k + t * IN, xt, IN);
            } else {
                memcpy(xp_ref + t * IN, xt, sizeof(float) * IN);
                memcpy(xp_k + t * IN, xt, sizeof(float) * IN);
            }
        }
        gptoss_mm m = {.ldy = OUT, .ldx = IN, .T = T, .in = IN, .bias = bias, .ldw = IN};
        if (kind == 0) m.w = bf16w;
        if (kind == 1) m.w = f32w;
        if (kind == 2) {
            m.w = blocks;
            m.ldw = IN / 2;
            m.scales = scales;
        }
        gptoss_mm mr = m, mk = m;
        mr.x = xp_ref, mr.y = y_ref;
        mk.x = xp_k, mk.y = y_k;
        void (*fr)(const gptoss_mm *, int64_t, int64_t) =
            kind == 0 ? ref->matmul_bf16 : kind == 1 ? ref->matmul_f32 : ref->matmul_mxfp4;
        void (*fk)(const gptoss_mm *, int64_t, int64_t) =
            kind == 0 ? k->matmul_bf16 : kind == 1 ? k->matmul_f32 : k->matmul_mxfp4;
        fr(&mr, 0, OUT);
        fk(&mk, 0, OUT);
        /* Sums of 96 products of magnitude <= 6 * 2^3: fp32 reordering error is far
         * below 1e-3; a wrong lane order or decode is far above it. */
        for (int i = 0; i < T * OUT; i++)
            if (!(fabsf(y_ref[i] - y_k[i]) <= 1e-3f * (1.0f + fabsf(y_ref[i])))) return 0;
    }
    return 1;
}

static pthread_once_t g_lut_once = PTHREAD_ONCE_INIT;
static gptoss_mxfp4_lut_row g_lut[256];
static gptoss_mxfp4_hi16 g_hi16[256];

static void build_lut(void) {
    for (int s = 0; s < 256; s++) {
        uint8_t blocks[16], scale = (uint8_t)s;
        for (int k = 0; k < 8; k++) blocks[k] = (uint8_t)(2 * k | (2 * k + 1) << 4); /* codes 0..15 */
        for (int k = 8; k < 16; k++) blocks[k] = 0;
        float row[32];
        mxfp4_decode_row(row, blocks, &scale, 32);
        for (int code = 0; code < 16; code++) {
            uint32_t bits;
            g_lut[s][code] = row[code];
            memcpy(&bits, &row[code], 4);
            g_hi16[s].b2[code] = (uint8_t)(bits >> 16);
            g_hi16[s].b3[code] = (uint8_t)(bits >> 24);
        }
    }
}

const gptoss_mxfp4_lut_row *gptoss_mxfp4_lut(void) {
    pthread_once(&g_lut_once, build_lut);
    return g_lut;
}

const gptoss_mxfp4_hi16 *gptoss_mxfp4_lut_hi16(void) {
    pthread_once(&g_lut_once, build_lut);
    return g_hi16;
}

static pthread_once_t g_auto_once = PTHREAD_ONCE_INIT;
static const gptoss_kernels *g_auto;

static void choose_auto(void) {
    g_auto = &gptoss_kernels_portable;
    const gptoss_kernels *candidates[2] = {cpu_has_avx512() ? &gptoss_kernels_avx512 : NULL,
                                           cpu_has_avx2() ? &gptoss_kernels_avx2 : NULL};
    for (int i = 0; i < 2; i++) {
        if (!candidates[i]) continue;
        if (kernels_agree(candidates[i])) {
            g_auto = candidates[i];
            return;
        }
        fprintf(stderr, "gptoss: warning: %s kernels failed their self-check; not used\n",
                candidates[i]->name);
    }
}

const gptoss_kernels *gptoss_kernels_select(void) {
    const char *env = getenv("GPTOSS_KERNELS");
    if (env && *env) {
        const gptoss_kernels *k = gptoss_kernels_by_name(env);
        if (!k) {
            if (strcmp(env, "portable") && strcmp(env, "avx2") && strcmp(env, "avx512"))
                gptoss_error(GPTOSS_ERR_ARG,
                             "GPTOSS_KERNELS=%s: unknown (portable, avx2 or avx512)", env);
            else
                gptoss_error(GPTOSS_ERR_UNSUPPORTED, "GPTOSS_KERNELS=%s: this CPU lacks %s",
                             env, env);
        }
        return k;
    }
    pthread_once(&g_auto_once, choose_auto);
    return g_auto;
}
