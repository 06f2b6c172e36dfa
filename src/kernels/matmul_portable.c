/* matmul_portable.c: the kernels in plain C (any CPU). See kernels.h.
 *
 * Each output is one dot product accumulated in 8 interleaved fp32 partial sums (lane
 * j takes the products i = j mod 8), then summed pairwise: the same shape as the SIMD
 * kernels, which keeps the rounding error of long rows small. */
#include <string.h>

#include "kernels.h"
#include "util.h"

#define LANES 8

static float reduce8(const float a[LANES]) {
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

static float bf16_at(const uint16_t *w, int64_t i) { return bf16_to_f32(w[i]); }

static void matmul_bf16(const gptoss_mm *m, int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; o++) {
        const uint16_t *w = (const uint16_t *)m->w + o * m->ldw;
        for (int t = 0; t < m->T; t++) {
            const float *x = m->x + t * m->ldx;
            float acc[LANES] = {0};
            for (int64_t i = 0; i < m->in; i++) acc[i % LANES] += bf16_at(w, i) * x[i];
            float s = reduce8(acc);
            m->y[t * m->ldy + o] = m->bias ? s + m->bias[o] : s;
        }
    }
}

static void matmul_f32(const gptoss_mm *m, int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; o++) {
        const float *w = (const float *)m->w + o * m->ldw;
        for (int t = 0; t < m->T; t++) {
            const float *x = m->x + t * m->ldx;
            float acc[LANES] = {0};
            for (int64_t i = 0; i < m->in; i++) acc[i % LANES] += w[i] * x[i];
            float s = reduce8(acc);
            m->y[t * m->ldy + o] = m->bias ? s + m->bias[o] : s;
        }
    }
}

/* Decodes one row of an expert: 32 values per (16 bytes, 1 scale) block, low nibble
 * first, in natural order (portable x needs no reordering). */
static void decode_row(float *w, const uint8_t *blocks, const uint8_t *scales, int64_t in) {
    const gptoss_mxfp4_lut_row *lut = gptoss_mxfp4_lut();
    for (int64_t g = 0; g < in / 32; g++) {
        const float *v = lut[scales[g]];
        for (int j = 0; j < 16; j++) {
            uint8_t b = blocks[g * 16 + j];
            w[g * 32 + 2 * j] = v[b & 15];
            w[g * 32 + 2 * j + 1] = v[b >> 4];
        }
    }
}

static void matmul_mxfp4(const gptoss_mm *m, int64_t o0, int64_t o1) {
    enum { CHUNK = 1024, TT = 8 }; /* decode a row piecewise, reuse it for TT tokens */
    float row[CHUNK];
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *blocks = (const uint8_t *)m->w + o * (m->in / 2);
        const uint8_t *scales = m->scales + o * (m->in / 32);
        for (int t0 = 0; t0 < m->T; t0 += TT) {
            int nt = m->T - t0 < TT ? m->T - t0 : TT;
            float acc[TT][LANES];
            memset(acc, 0, sizeof acc);
            for (int64_t c0 = 0; c0 < m->in; c0 += CHUNK) {
                int64_t n = m->in - c0 < CHUNK ? m->in - c0 : CHUNK;
                decode_row(row, blocks + c0 / 2, scales + c0 / 32, n);
                for (int t = 0; t < nt; t++) {
                    const float *x = m->x + (t0 + t) * m->ldx + c0;
                    for (int64_t i = 0; i < n; i++) acc[t][i % LANES] += row[i] * x[i];
                }
            }
            for (int t = 0; t < nt; t++) {
                float s = reduce8(acc[t]);
                m->y[(t0 + t) * m->ldy + o] = m->bias ? s + m->bias[o] : s;
            }
        }
    }
}

static void prepare_x(float *xp, const float *x, int64_t in) { memcpy(xp, x, (size_t)in * 4); }

const gptoss_kernels gptoss_kernels_portable = {
    .name = "portable",
    .attn = &gptoss_attn_portable,
    .matmul_bf16 = matmul_bf16,
    .matmul_f32 = matmul_f32,
    .matmul_mxfp4 = matmul_mxfp4,
    .bf16_prepare_x = prepare_x,
    .mxfp4_prepare_x = prepare_x,
};
