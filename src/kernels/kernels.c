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

/* +0 +0.5 +1 +1.5 +2 +3 +4 +6, then the same negated (sign bit in byte 3). */
const uint8_t gptoss_fp4_byte2[16] = {0x00, 0x00, 0x80, 0xC0, 0x00, 0x40, 0x80, 0xC0,
                                      0x00, 0x00, 0x80, 0xC0, 0x00, 0x40, 0x80, 0xC0};
const uint8_t gptoss_fp4_byte3[16] = {0x00, 0x3F, 0x3F, 0x3F, 0x40, 0x40, 0x40, 0x40,
                                      0x80, 0xBF, 0xBF, 0xBF, 0xC0, 0xC0, 0xC0, 0xC0};

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

static void build_lut(void) {
    for (int s = 0; s < 256; s++) {
        uint8_t blocks[16], scale = (uint8_t)s;
        for (int k = 0; k < 8; k++) blocks[k] = (uint8_t)(2 * k | (2 * k + 1) << 4); /* codes 0..15 */
        for (int k = 8; k < 16; k++) blocks[k] = 0;
        float row[32];
        mxfp4_decode_row(row, blocks, &scale, 32);
        for (int code = 0; code < 16; code++) g_lut[s][code] = row[code];
    }
}

const gptoss_mxfp4_lut_row *gptoss_mxfp4_lut(void) {
    pthread_once(&g_lut_once, build_lut);
    return g_lut;
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

/* 2^(s-127) for every scale byte s (2^-127 is a subnormal; 2^128 overflows to +inf as in
 * torch.ldexp(x, 128) computed in fp32). */
const float gptoss_e8m0_table[256] = {
    0x1p-127f, 0x1p-126f, 0x1p-125f, 0x1p-124f, 0x1p-123f, 0x1p-122f, 0x1p-121f, 0x1p-120f,
    0x1p-119f, 0x1p-118f, 0x1p-117f, 0x1p-116f, 0x1p-115f, 0x1p-114f, 0x1p-113f, 0x1p-112f,
    0x1p-111f, 0x1p-110f, 0x1p-109f, 0x1p-108f, 0x1p-107f, 0x1p-106f, 0x1p-105f, 0x1p-104f,
    0x1p-103f, 0x1p-102f, 0x1p-101f, 0x1p-100f, 0x1p-99f, 0x1p-98f, 0x1p-97f, 0x1p-96f,
    0x1p-95f, 0x1p-94f, 0x1p-93f, 0x1p-92f, 0x1p-91f, 0x1p-90f, 0x1p-89f, 0x1p-88f,
    0x1p-87f, 0x1p-86f, 0x1p-85f, 0x1p-84f, 0x1p-83f, 0x1p-82f, 0x1p-81f, 0x1p-80f,
    0x1p-79f, 0x1p-78f, 0x1p-77f, 0x1p-76f, 0x1p-75f, 0x1p-74f, 0x1p-73f, 0x1p-72f,
    0x1p-71f, 0x1p-70f, 0x1p-69f, 0x1p-68f, 0x1p-67f, 0x1p-66f, 0x1p-65f, 0x1p-64f,
    0x1p-63f, 0x1p-62f, 0x1p-61f, 0x1p-60f, 0x1p-59f, 0x1p-58f, 0x1p-57f, 0x1p-56f,
    0x1p-55f, 0x1p-54f, 0x1p-53f, 0x1p-52f, 0x1p-51f, 0x1p-50f, 0x1p-49f, 0x1p-48f,
    0x1p-47f, 0x1p-46f, 0x1p-45f, 0x1p-44f, 0x1p-43f, 0x1p-42f, 0x1p-41f, 0x1p-40f,
    0x1p-39f, 0x1p-38f, 0x1p-37f, 0x1p-36f, 0x1p-35f, 0x1p-34f, 0x1p-33f, 0x1p-32f,
    0x1p-31f, 0x1p-30f, 0x1p-29f, 0x1p-28f, 0x1p-27f, 0x1p-26f, 0x1p-25f, 0x1p-24f,
    0x1p-23f, 0x1p-22f, 0x1p-21f, 0x1p-20f, 0x1p-19f, 0x1p-18f, 0x1p-17f, 0x1p-16f,
    0x1p-15f, 0x1p-14f, 0x1p-13f, 0x1p-12f, 0x1p-11f, 0x1p-10f, 0x1p-9f, 0x1p-8f,
    0x1p-7f, 0x1p-6f, 0x1p-5f, 0x1p-4f, 0x1p-3f, 0x1p-2f, 0x1p-1f, 0x1p0f,
    0x1p1f, 0x1p2f, 0x1p3f, 0x1p4f, 0x1p5f, 0x1p6f, 0x1p7f, 0x1p8f,
    0x1p9f, 0x1p10f, 0x1p11f, 0x1p12f, 0x1p13f, 0x1p14f, 0x1p15f, 0x1p16f,
    0x1p17f, 0x1p18f, 0x1p19f, 0x1p20f, 0x1p21f, 0x1p22f, 0x1p23f, 0x1p24f,
    0x1p25f, 0x1p26f, 0x1p27f, 0x1p28f, 0x1p29f, 0x1p30f, 0x1p31f, 0x1p32f,
    0x1p33f, 0x1p34f, 0x1p35f, 0x1p36f, 0x1p37f, 0x1p38f, 0x1p39f, 0x1p40f,
    0x1p41f, 0x1p42f, 0x1p43f, 0x1p44f, 0x1p45f, 0x1p46f, 0x1p47f, 0x1p48f,
    0x1p49f, 0x1p50f, 0x1p51f, 0x1p52f, 0x1p53f, 0x1p54f, 0x1p55f, 0x1p56f,
    0x1p57f, 0x1p58f, 0x1p59f, 0x1p60f, 0x1p61f, 0x1p62f, 0x1p63f, 0x1p64f,
    0x1p65f, 0x1p66f, 0x1p67f, 0x1p68f, 0x1p69f, 0x1p70f, 0x1p71f, 0x1p72f,
    0x1p73f, 0x1p74f, 0x1p75f, 0x1p76f, 0x1p77f, 0x1p78f, 0x1p79f, 0x1p80f,
    0x1p81f, 0x1p82f, 0x1p83f, 0x1p84f, 0x1p85f, 0x1p86f, 0x1p87f, 0x1p88f,
    0x1p89f, 0x1p90f, 0x1p91f, 0x1p92f, 0x1p93f, 0x1p94f, 0x1p95f, 0x1p96f,
    0x1p97f, 0x1p98f, 0x1p99f, 0x1p100f, 0x1p101f, 0x1p102f, 0x1p103f, 0x1p104f,
    0x1p105f, 0x1p106f, 0x1p107f, 0x1p108f, 0x1p109f, 0x1p110f, 0x1p111f, 0x1p112f,
    0x1p113f, 0x1p114f, 0x1p115f, 0x1p116f, 0x1p117f, 0x1p118f, 0x1p119f, 0x1p120f,
    0x1p121f, 0x1p122f, 0x1p123f, 0x1p124f, 0x1p125f, 0x1p126f, 0x1p127f, INFINITY,
};
