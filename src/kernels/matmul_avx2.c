/* matmul_avx2.c: the kernels for AVX2 + FMA (compiled with -mavx2 -mfma). See kernels.h.
 *
 * Dense (BF16/F32) kernels work on tiles of R weight rows x C tokens: each weight vector
 * is loaded (and widened from bf16) once and used for C tokens; each (row, token) output
 * owns one 8-lane accumulator (BF16: two, for the even and the odd weights, so that one
 * token's matrix-vector product is not bound by FMA latency: 8 -> 13 GB/s per core),
 * reduced at the end in a fixed order. BF16 tiles are 2 rows x 2 tokens (4 rows would
 * spill), F32 tiles 4 x 3.
 *
 * The MXFP4 kernel decodes a 32-value block straight into four 8-float registers: two
 * byte shuffles look each 4-bit code up in the block scale's table of fp32 bytes 2 and 3
 * (gptoss_mxfp4_lut_hi16(): the decoded value, scale applied, has zero low bytes, so this is
 * exact, scale 255 included), one unpack pairs them into 16-bit high halves, and a shift or
 * a mask moves each half into place: no multiply, no lane-crossing shuffle but one. The
 * decoded lanes hold the values in the order {0,4,8,12,1,5,9,13} then {2,6,10,14,3,7,11,15}
 * within each group of 16, which prepare_x() applies to x once per token. */
#include <immintrin.h>
#include <string.h>

#include "hsum.h"
#include "kernels.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Tile loops have constant trip counts: unroll them so accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 8")
#define LANES 8
#define VEC __m256
#define VECI __m256i
#define MM(op) _mm256##op
#define BF16_ROWS 2 /* rows per BF16 tile when the matrix has more than one token */

/* 2*LANES bf16 weights in one load: the even ones (low halves of each 32-bit lane)
 * shifted up, the odd ones (high halves) masked; x is prepared to match: each group of
 * 2*LANES values holds the even-indexed ones, then the odd-indexed ones. */
ALWAYS_INLINE void load_bf16_pair(const uint16_t *w, VEC *even, VEC *odd) {
    VECI v = MM(_loadu_si256)((const VECI *)w);
    *even = MM(_castsi256_ps)(MM(_slli_epi32)(v, 16));
    *odd = MM(_castsi256_ps)(MM(_and_si256)(v, MM(_set1_epi32)((int)0xFFFF0000u)));
}

ALWAYS_INLINE VEC load_w(const void *w, int64_t i, int bf16) {
    if (bf16) {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    return _mm256_loadu_ps((const float *)w + i);
}

/* The BF16 columns [0, n2) of a tile, two vectors per weight load (x prepared): the even
 * weights into acc, the odd ones into odd (two independent FMA chains per output). */
ALWAYS_INLINE void tile_pairs(const gptoss_mm *m, int64_t o, int t, const int R, const int C,
                              VEC acc[4][3], VEC odd[4][3], int64_t n2) {
    const uint16_t *w[4];
    const float *x[3];
    UNROLL
    for (int r = 0; r < R; r++) w[r] = (const uint16_t *)m->w + (o + r) * m->ldw;
    UNROLL
    for (int c = 0; c < C; c++) x[c] = m->x + (t + c) * m->ldx;
    int64_t i = 0;
    for (; i < n2; i += 2 * LANES) {
        VEC xe[3], xo[3];
        if ((i & 31) == 0) /* the next tile's rows, one line each (see matmul_avx512.c) */
            UNROLL
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)(w[r] + i + R * m->ldw), _MM_HINT_T0);
        UNROLL
        for (int c = 0; c < C; c++) {
            xe[c] = MM(_loadu_ps)(x[c] + i);
            xo[c] = MM(_loadu_ps)(x[c] + i + LANES);
        }
        UNROLL
        for (int r = 0; r < R; r++) {
            VEC we, wo;
            load_bf16_pair(w[r] + i, &we, &wo);
            UNROLL
            for (int c = 0; c < C; c++) {
                acc[r][c] = MM(_fmadd_ps)(we, xe[c], acc[r][c]);
                odd[r][c] = MM(_fmadd_ps)(wo, xo[c], odd[r][c]);
            }
        }
    }
}

/* Finishes a tile from column i on (x as it is there): whole vectors, the zero-padded
 * tail, the fixed-order reduction, the bias. */
ALWAYS_INLINE void tile_finish(const gptoss_mm *m, int64_t o, int t, const int R, const int C,
                               const int bf16, VEC acc[4][3], int64_t i) {
    const size_t esz = bf16 ? 2 : 4;
    const char *w[4];
    const float *x[3];
    UNROLL
    for (int r = 0; r < R; r++) w[r] = (const char *)m->w + (size_t)((o + r) * m->ldw) * esz;
    UNROLL
    for (int c = 0; c < C; c++) x[c] = m->x + (t + c) * m->ldx;
    const int64_t n8 = m->in & ~(int64_t)7;
    for (; i < n8; i += LANES) { /* whole vectors, x as it is */
        UNROLL
        for (int r = 0; r < R; r++) {
            VEC wv = load_w(w[r], i, bf16);
            UNROLL
            for (int c = 0; c < C; c++) acc[r][c] = MM(_fmadd_ps)(wv, MM(_loadu_ps)(x[c] + i), acc[r][c]);
        }
    }
    if (n8 < m->in) { /* the last < 8 columns, zero-padded (adds exact zeros) */
        int n = (int)(m->in - n8);
        UNROLL
        for (int r = 0; r < R; r++) {
            _Alignas(32) uint8_t wb[32] = {0};
            memcpy(wb, w[r] + (size_t)n8 * esz, (size_t)n * esz);
            __m256 wv = load_w(wb, 0, bf16);
            UNROLL
            for (int c = 0; c < C; c++) {
                _Alignas(32) float xb[8] = {0};
                memcpy(xb, x[c] + n8, (size_t)n * 4);
                acc[r][c] = _mm256_fmadd_ps(wv, _mm256_load_ps(xb), acc[r][c]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++) {
            float s = gptoss_hsum8(acc[r][c]);
            m->y[(t + c) * m->ldy + o + r] = m->bias ? s + m->bias[o + r] : s;
        }
}

/* One tile: rows [o, o+R) x tokens [t, t+C). R, C, bf16 are constants after inlining. */
ALWAYS_INLINE void dense_tile(const gptoss_mm *m, int64_t o, int t, const int R, const int C,
                              const int bf16) {
    VEC acc[4][3], odd[4][3];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++) acc[r][c] = odd[r][c] = MM(_setzero_ps)();
    const int64_t n2 = bf16 ? m->in & ~(int64_t)(2 * LANES - 1) : 0;
    if (bf16) {
        tile_pairs(m, o, t, R, C, acc, odd, n2);
        UNROLL
        for (int r = 0; r < R; r++)
            UNROLL
            for (int c = 0; c < C; c++) acc[r][c] = MM(_add_ps)(acc[r][c], odd[r][c]);
    }
    tile_finish(m, o, t, R, C, bf16, acc, n2);
}

/* Tokens in tiles of 2 (BF16: 8 accumulators + 4 x + 2 weight registers at R = 2) or 3
 * (F32, R = 4: 12 accumulators). */
ALWAYS_INLINE void dense_rows(const gptoss_mm *m, int64_t o, const int R, const int bf16) {
    const int CT = bf16 ? 2 : 3;
    int t = 0;
    for (; t + CT <= m->T; t += CT) dense_tile(m, o, t, R, CT, bf16);
    if (m->T - t == 2) dense_tile(m, o, t, R, 2, bf16);
    if (m->T - t == 1) dense_tile(m, o, t, R, 1, bf16);
}

static void matmul_bf16(const gptoss_mm *m, int64_t o0, int64_t o1) {
    int64_t o = o0;
    if (m->T == 1) /* one row at a time, one stream (see matmul_avx512.c) */
        for (; o < o1; o++) dense_rows(m, o, 1, 1);
    for (; o + BF16_ROWS <= o1; o += BF16_ROWS) dense_rows(m, o, BF16_ROWS, 1);
    for (; o < o1; o++) dense_rows(m, o, 1, 1);
}

static void matmul_f32(const gptoss_mm *m, int64_t o0, int64_t o1) {
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4) dense_rows(m, o, 4, 0);
    for (; o < o1; o++) dense_rows(m, o, 1, 0);
}

/* ---- MXFP4 ---------------------------------------------------------------------------- */

/* out[0..4) = the 32 values of one block, scale applied, in prepare_x()'s order. */
ALWAYS_INLINE void decode_block(const uint8_t *b, const gptoss_mxfp4_hi16 *hi, __m256 out[4]) {
    const __m256i lut2 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)hi->b2));
    const __m256i lut3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)hi->b3));
    __m128i q = _mm_loadu_si128((const __m128i *)b);
    __m256i codes = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    codes = _mm256_and_si256(codes, _mm256_set1_epi8(0x0F));
    __m256i b2 = _mm256_shuffle_epi8(lut2, codes);
    __m256i b3 = _mm256_shuffle_epi8(lut3, codes);
    __m256i lo = _mm256_unpacklo_epi8(b2, b3); /* 16-bit high halves, values 0..15 */
    __m256i hi16 = _mm256_unpackhi_epi8(b2, b3); /* values 16..31 */
    const __m256i mask = _mm256_set1_epi32((int)0xFFFF0000u);
    out[0] = _mm256_castsi256_ps(_mm256_slli_epi32(lo, 16));
    out[1] = _mm256_castsi256_ps(_mm256_and_si256(lo, mask));
    out[2] = _mm256_castsi256_ps(_mm256_slli_epi32(hi16, 16));
    out[3] = _mm256_castsi256_ps(_mm256_and_si256(hi16, mask));
}

/* One row o x tokens [t, t+C), two accumulators per token. */
ALWAYS_INLINE void mxfp4_tile(const gptoss_mm *m, int64_t o, int t, const int C,
                              const gptoss_mxfp4_hi16 *hi) {
    const int64_t nb = m->in / 32;
    const uint8_t *blocks = (const uint8_t *)m->w + o * nb * 16;
    const uint8_t *scales = m->scales + o * nb;
    const float *x[4];
    __m256 a0[4], a1[4];
    UNROLL
    for (int c = 0; c < C; c++) {
        x[c] = m->x + (t + c) * m->ldx;
        a0[c] = _mm256_setzero_ps();
        a1[c] = _mm256_setzero_ps();
    }
    for (int64_t g = 0; g < nb; g++) {
        __m256 w[4];
        if ((g & 3) == 0) { /* the same place in the next row (see matmul_avx512.c) */
            _mm_prefetch((const char *)(blocks + g * 16 + nb * 16), _MM_HINT_T0);
            if ((g & 63) == 0) _mm_prefetch((const char *)(scales + g + nb), _MM_HINT_T0);
        }
        decode_block(blocks + g * 16, &hi[scales[g]], w);
        UNROLL
        for (int c = 0; c < C; c++) {
            const float *xb = x[c] + g * 32;
            a0[c] = _mm256_fmadd_ps(w[0], _mm256_loadu_ps(xb), a0[c]);
            a1[c] = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(xb + 8), a1[c]);
            a0[c] = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(xb + 16), a0[c]);
            a1[c] = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(xb + 24), a1[c]);
        }
    }
    UNROLL
    for (int c = 0; c < C; c++) {
        float s = gptoss_hsum8(_mm256_add_ps(a0[c], a1[c]));
        m->y[(t + c) * m->ldy + o] = m->bias ? s + m->bias[o] : s;
    }
}

static void matmul_mxfp4(const gptoss_mm *m, int64_t o0, int64_t o1) {
    const gptoss_mxfp4_hi16 *hi = gptoss_mxfp4_lut_hi16();
    for (int64_t o = o0; o < o1; o++) {
        int t = 0;
        for (; t + 4 <= m->T; t += 4) mxfp4_tile(m, o, t, 4, hi);
        switch (m->T - t) {
        case 3: mxfp4_tile(m, o, t, 3, hi); break;
        case 2: mxfp4_tile(m, o, t, 2, hi); break;
        case 1: mxfp4_tile(m, o, t, 1, hi); break;
        default: break;
        }
    }
}

static void bf16_prepare_x(float *xp, const float *x, int64_t in) {
    const int64_t n2 = in & ~(int64_t)(2 * LANES - 1);
    for (int64_t i = 0; i < n2; i += 2 * LANES)
        for (int p = 0; p < LANES; p++) {
            xp[i + p] = x[i + 2 * p];
            xp[i + LANES + p] = x[i + 2 * p + 1];
        }
    memcpy(xp + n2, x + n2, sizeof(float) * (size_t)(in - n2));
}

static void prepare_x(float *xp, const float *x, int64_t in) {
    static const int perm[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    for (int64_t i = 0; i < in; i += 16)
        for (int p = 0; p < 16; p++) xp[i + p] = x[i + perm[p]];
}

const gptoss_kernels gptoss_kernels_avx2 = {
    .name = "avx2",
    .attn = &gptoss_attn_avx2,
    .matmul_bf16 = matmul_bf16,
    .matmul_f32 = matmul_f32,
    .matmul_mxfp4 = matmul_mxfp4,
    .bf16_prepare_x = bf16_prepare_x,
    .mxfp4_prepare_x = prepare_x,
};
