/* kernels.h: the hot loops of the forward pass, one implementation per instruction set
 * (portable C, AVX2+FMA, AVX-512), chosen at run time.
 *
 * Every kernel computes, for tokens t in [0, T) and output rows o in [o0, o1):
 *
 *     y[t*ldy + o] = bias[o] + sum_i W[o][i] * x[t*ldx + i]      (bias may be NULL)
 *
 * with W stored [out, in] as in the checkpoint: BF16, F32, or MXFP4 (packed blocks and
 * scales of one expert, decoded on the fly into registers). Products and sums are fp32.
 * Each output is computed by the same sequence of operations whatever o0/o1/T are, so the
 * result never depends on how the caller splits the work between threads.
 *
 * BF16 and MXFP4 kernels read x in a kernel-specific order (the order in which packed
 * weights widen most cheaply); bf16_prepare_x() / mxfp4_prepare_x() rewrite one row of x
 * into it, once per matmul. F32 kernels read x as it is. */
#ifndef GPTOSS_KERNELS_H
#define GPTOSS_KERNELS_H

#include <stdint.h>

typedef struct gptoss_mm {
    float *y;
    int64_t ldy;
    const float *x;
    int64_t ldx;
    int T;
    int64_t in;
    const float *bias;
    /* BF16 / F32: w is [out, in] with row stride ldw (elements).
     * MXFP4: blocks [out, in/32, 16] and scales [out, in/32] of one expert. */
    const void *w;
    int64_t ldw;
    const uint8_t *scales;
} gptoss_mm;

/* Attention rows (attention.c), for G queries at once (the query heads that share one KV
 * head read each key and value row once) and n keys or values at a row stride:
 *   scores:  s[g*lds + j] = scale * (q_g . k_j), q_g = q + g*ldq; m[g] = max_j of them
 *            (-inf for n = 0)
 *   exp_sum: x[j] = exp(x[j] - m); returns sum_j x[j]
 *   accum:   o_g[0..d) += sum_j (p_g[j] * inv[g]) v_j, in key order (o_g = o + g*ldo,
 *            p_g = p + g*ldp)
 * Each value is computed by the same operations wherever it sits (first key or last,
 * whatever n and G), so splitting the keys in two calls or the queries in groups changes
 * nothing. A set whose lanes do not divide head_dim is replaced by the portable one for
 * that model. */
typedef struct gptoss_attn_kernels {
    int lanes;
    void (*scores)(float *s, int64_t lds, const float *q, int64_t ldq, int G, const float *k, int64_t ldk, int n,
                   int d, float scale, float *m);
    float (*exp_sum)(float *x, int n, float m);
    void (*accum)(float *o, int64_t ldo, const float *p, int64_t ldp, const float *inv, int G, const float *v,
                  int64_t ldv, int n, int d);
} gptoss_attn_kernels;

extern const gptoss_attn_kernels gptoss_attn_portable;
extern const gptoss_attn_kernels gptoss_attn_avx2;
extern const gptoss_attn_kernels gptoss_attn_avx512;

typedef struct gptoss_kernels {
    const char *name; /* "portable", "avx2", "avx512" */
    const gptoss_attn_kernels *attn;
    void (*matmul_bf16)(const gptoss_mm *m, int64_t o0, int64_t o1);
    void (*matmul_f32)(const gptoss_mm *m, int64_t o0, int64_t o1);
    void (*matmul_mxfp4)(const gptoss_mm *m, int64_t o0, int64_t o1);
    /* xp[0..in) = x[0..in) reordered for matmul_bf16 (any in). */
    void (*bf16_prepare_x)(float *xp, const float *x, int64_t in);
    /* xp[0..in) = x[0..in) reordered for matmul_mxfp4 (in a multiple of 32). */
    void (*mxfp4_prepare_x)(float *xp, const float *x, int64_t in);
} gptoss_kernels;

extern const gptoss_kernels gptoss_kernels_portable;
extern const gptoss_kernels gptoss_kernels_avx2;
extern const gptoss_kernels gptoss_kernels_avx512;

/* The kernels named (NULL if unknown or this CPU lacks the instructions). */
const gptoss_kernels *gptoss_kernels_by_name(const char *name);
/* The best this CPU runs, or the one GPTOSS_KERNELS names (portable|avx2|avx512). NULL,
 * with an error set, when GPTOSS_KERNELS names an unknown or unsupported set. */
const gptoss_kernels *gptoss_kernels_select(void);

/* The decoded value of every (scale byte s, FP4 code) pair, exactly as the reference
 * decoder (mxfp4.c) gives it, scale 255 included: lut[s][code]. Rows are 64-byte aligned
 * (one AVX-512 register each). Built once, on first use; thread-safe. */
typedef float gptoss_mxfp4_lut_row[16] __attribute__((aligned(64)));
const gptoss_mxfp4_lut_row *gptoss_mxfp4_lut(void);

/* Bytes 2 and 3 (little-endian) of every entry of gptoss_mxfp4_lut(): hi[s].b2[code],
 * hi[s].b3[code]. Every decoded value has at most 2 mantissa bits (for the subnormal
 * scales too, and +-inf for scale 255), so its fp32 bytes 0 and 1 are zero and these two
 * bytes give it exactly. Built with the table of values, on first use. */
typedef struct gptoss_mxfp4_hi16 {
    uint8_t b2[16];
    uint8_t b3[16];
} gptoss_mxfp4_hi16;
const gptoss_mxfp4_hi16 *gptoss_mxfp4_lut_hi16(void);

#endif
