/* matmul_avx512.c: the kernels for AVX-512 F/BW/VL/DQ (compiled with -mavx512*). See
 * kernels.h and matmul_avx2.c, whose dense structure this follows with 16-lane registers;
 * MXFP4 blocks are decoded by table permutes (see the MXFP4 section). */
#include <immintrin.h>
#include <string.h>

#include "hsum.h"
#include "kernels.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Tile loops have constant trip counts: unroll them so accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 8")
#define LANES 16
#define VEC __m512
#define VECI __m512i
#define MM(op) _mm512##op

/* Memory: a tile of R rows reads R streams, and this generation of cores follows them less
 * well than one; each loop therefore prefetches the same place in the next tile's rows
 * (the tile after this one, R rows on), and a BF16 matrix-vector product (T = 1, all
 * memory and no reuse) runs one row at a time, a single sequential stream per thread.
 * Measured (2 threads, out of cache): BF16 27.7 -> 33 GB/s, the machine's streaming read
 * being 34.8 GB/s. MXFP4 at T = 1 is bound by its decode instead (two permutes and two
 * dependent FMAs per block): it keeps the 2-row tile, whose two rows' FMA chains overlap
 * (in cache 13.6 -> 15.2 GB/s per core, out of cache on 2 threads 22 -> 24 GB/s). */

/* 2*LANES bf16 weights in one load: the even ones (low halves of each 32-bit lane)
 * shifted up, the odd ones (high halves) masked; x is prepared to match: each group of
 * 2*LANES values holds the even-indexed ones, then the odd-indexed ones. */
ALWAYS_INLINE void load_bf16_pair(const uint16_t *w, VEC *even, VEC *odd) {
    VECI v = MM(_loadu_si512)((const VECI *)w);
    *even = MM(_castsi512_ps)(MM(_slli_epi32)(v, 16));
    *odd = MM(_castsi512_ps)(MM(_and_si512)(v, MM(_set1_epi32)((int)0xFFFF0000u)));
}

ALWAYS_INLINE VEC load_w(const void *w, int64_t i, int bf16) {
    if (bf16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    return _mm512_loadu_ps((const float *)w + i);
}

/* The BF16 columns [0, n2) of a tile, two vectors per weight load (x prepared). */
ALWAYS_INLINE void tile_pairs(const gptoss_mm *m, int64_t o, int t, const int R, const int C,
                              VEC acc[4][4], int64_t n2) {
    const uint16_t *w[4];
    const float *x[4];
    UNROLL
    for (int r = 0; r < R; r++) w[r] = (const uint16_t *)m->w + (o + r) * m->ldw;
    UNROLL
    for (int c = 0; c < C; c++) x[c] = m->x + (t + c) * m->ldx;
    int64_t i = 0;
    for (; i < n2; i += 2 * LANES) {
        UNROLL
        for (int r = 0; r < R; r++) /* the same place in the next tile's rows */
            _mm_prefetch((const char *)(w[r] + i + R * m->ldw), _MM_HINT_T0);
        UNROLL
        for (int r = 0; r < R; r++) {
            VEC we, wo;
            load_bf16_pair(w[r] + i, &we, &wo);
            UNROLL
            for (int c = 0; c < C; c++) {
                acc[r][c] = MM(_fmadd_ps)(we, MM(_loadu_ps)(x[c] + i), acc[r][c]);
                acc[r][c] = MM(_fmadd_ps)(wo, MM(_loadu_ps)(x[c] + i + LANES), acc[r][c]);
            }
        }
    }
}

/* Finishes a tile from column i on (x as it is there): whole vectors, the zero-padded
 * tail, the fixed-order reduction, the bias. */
ALWAYS_INLINE void tile_finish(const gptoss_mm *m, int64_t o, int t, const int R, const int C,
                               const int bf16, VEC acc[4][4], int64_t i) {
    const size_t esz = bf16 ? 2 : 4;
    const char *w[4];
    const float *x[4];
    UNROLL
    for (int r = 0; r < R; r++) w[r] = (const char *)m->w + (size_t)((o + r) * m->ldw) * esz;
    UNROLL
    for (int c = 0; c < C; c++) x[c] = m->x + (t + c) * m->ldx;
    const int64_t n16 = m->in & ~(int64_t)15;
    for (; i < n16; i += LANES) { /* whole vectors, x as it is */
        UNROLL
        for (int r = 0; r < R; r++) {
            VEC wv = load_w(w[r], i, bf16);
            UNROLL
            for (int c = 0; c < C; c++) acc[r][c] = MM(_fmadd_ps)(wv, MM(_loadu_ps)(x[c] + i), acc[r][c]);
        }
    }
    if (n16 < m->in) { /* the last < 16 columns, zero-padded (adds exact zeros) */
        int n = (int)(m->in - n16);
        UNROLL
        for (int r = 0; r < R; r++) {
            _Alignas(64) uint8_t wb[64] = {0};
            memcpy(wb, w[r] + (size_t)n16 * esz, (size_t)n * esz);
            __m512 wv = load_w(wb, 0, bf16);
            UNROLL
            for (int c = 0; c < C; c++) {
                _Alignas(64) float xb[16] = {0};
                memcpy(xb, x[c] + n16, (size_t)n * 4);
                acc[r][c] = _mm512_fmadd_ps(wv, _mm512_load_ps(xb), acc[r][c]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++) {
            float s = gptoss_hsum16(acc[r][c]);
            m->y[(t + c) * m->ldy + o + r] = m->bias ? s + m->bias[o + r] : s;
        }
}

/* One tile: rows [o, o+R) x tokens [t, t+C). R, C, bf16 are constants after inlining. */
ALWAYS_INLINE void dense_tile(const gptoss_mm *m, int64_t o, int t, const int R, const int C,
                              const int bf16) {
    VEC acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++) acc[r][c] = MM(_setzero_ps)();
    const int64_t n2 = bf16 ? m->in & ~(int64_t)(2 * LANES - 1) : 0;
    if (bf16) tile_pairs(m, o, t, R, C, acc, n2);
    tile_finish(m, o, t, R, C, bf16, acc, n2);
}

ALWAYS_INLINE void dense_rows(const gptoss_mm *m, int64_t o, const int R, const int bf16) {
    int t = 0;
    for (; t + 4 <= m->T; t += 4) dense_tile(m, o, t, R, 4, bf16);
    switch (m->T - t) {
    case 3: dense_tile(m, o, t, R, 3, bf16); break;
    case 2: dense_tile(m, o, t, R, 2, bf16); break;
    case 1: dense_tile(m, o, t, R, 1, bf16); break;
    default: break;
    }
}

static void matmul_bf16(const gptoss_mm *m, int64_t o0, int64_t o1) {
    int64_t o = o0;
    if (m->T == 1) /* one row at a time: see "Memory" above */
        for (; o < o1; o++) dense_rows(m, o, 1, 1);
    for (; o + 4 <= o1; o += 4) dense_rows(m, o, 4, 1);
    for (; o < o1; o++) dense_rows(m, o, 1, 1);
}

static void matmul_f32(const gptoss_mm *m, int64_t o0, int64_t o1) {
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4) dense_rows(m, o, 4, 0);
    for (; o < o1; o++) dense_rows(m, o, 1, 0);
}

/* ---- MXFP4 ----------------------------------------------------------------------------
 * A block of 32 values is 16 bytes of codes and one scale byte s. The 16 bytes widened to
 * 16 dword lanes are the even elements' codes in their low 4 bits, and shifted right by 4
 * the odd elements'; vpermps reads only the low 4 bits of each index, so two permutes of
 * the scale's 16-entry table (gptoss_mxfp4_lut(), exact values, scale 255 included) decode
 * the block: x is prepared as each block's even elements, then its odd ones. */

ALWAYS_INLINE void decode_block(const uint8_t *b, const float *lut_row, __m512 out[2]) {
    __m512i codes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b));
    __m512 lut = _mm512_load_ps(lut_row);
    out[0] = _mm512_permutexvar_ps(codes, lut);
    out[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(codes, 4), lut);
}

/* Rows [o, o+R) x tokens [t, t+C), two accumulators (even, odd elements) per output. */
ALWAYS_INLINE void mxfp4_tile(const gptoss_mm *m, const gptoss_mxfp4_lut_row *lut, int64_t o, int t,
                              const int R, const int C) {
    const int64_t nb = m->in / 32;
    const uint8_t *blocks[2], *scales[2];
    const float *x[4];
    __m512 a0[2][4], a1[2][4];
    UNROLL
    for (int r = 0; r < R; r++) {
        blocks[r] = (const uint8_t *)m->w + (o + r) * nb * 16;
        scales[r] = m->scales + (o + r) * nb;
        UNROLL
        for (int c = 0; c < C; c++) a0[r][c] = a1[r][c] = _mm512_setzero_ps();
    }
    UNROLL
    for (int c = 0; c < C; c++) x[c] = m->x + (t + c) * m->ldx;
    for (int64_t g = 0; g < nb; g++) {
        if ((g & 3) == 0) { /* the same place in the next tile's rows */
            UNROLL
            for (int r = 0; r < R; r++) {
                _mm_prefetch((const char *)(blocks[r] + g * 16 + R * nb * 16), _MM_HINT_T0);
                if ((g & 63) == 0) _mm_prefetch((const char *)(scales[r] + g + R * nb), _MM_HINT_T0);
            }
        }
        UNROLL
        for (int r = 0; r < R; r++) {
            __m512 w[2];
            decode_block(blocks[r] + g * 16, lut[scales[r][g]], w);
            UNROLL
            for (int c = 0; c < C; c++) {
                const float *xb = x[c] + g * 32;
                a0[r][c] = _mm512_fmadd_ps(w[0], _mm512_loadu_ps(xb), a0[r][c]);
                a1[r][c] = _mm512_fmadd_ps(w[1], _mm512_loadu_ps(xb + 16), a1[r][c]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int c = 0; c < C; c++) {
            float s = gptoss_hsum16(_mm512_add_ps(a0[r][c], a1[r][c]));
            m->y[(t + c) * m->ldy + o + r] = m->bias ? s + m->bias[o + r] : s;
        }
}

ALWAYS_INLINE void mxfp4_rows(const gptoss_mm *m, const gptoss_mxfp4_lut_row *lut, int64_t o, const int R) {
    int t = 0;
    for (; t + 4 <= m->T; t += 4) mxfp4_tile(m, lut, o, t, R, 4);
    switch (m->T - t) {
    case 3: mxfp4_tile(m, lut, o, t, R, 3); break;
    case 2: mxfp4_tile(m, lut, o, t, R, 2); break;
    case 1: mxfp4_tile(m, lut, o, t, R, 1); break;
    default: break;
    }
}

static void matmul_mxfp4(const gptoss_mm *m, int64_t o0, int64_t o1) {
    const gptoss_mxfp4_lut_row *lut = gptoss_mxfp4_lut();
    int64_t o = o0; /* two rows at a time even for T = 1: see "Memory" above */
    for (; o + 2 <= o1; o += 2) mxfp4_rows(m, lut, o, 2);
    for (; o < o1; o++) mxfp4_rows(m, lut, o, 1);
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
    for (int64_t i = 0; i < in; i += 32)
        for (int p = 0; p < 16; p++) {
            xp[i + p] = x[i + 2 * p];
            xp[i + 16 + p] = x[i + 2 * p + 1];
        }
}

const gptoss_kernels gptoss_kernels_avx512 = {
    .name = "avx512",
    .attn = &gptoss_attn_avx512,
    .matmul_bf16 = matmul_bf16,
    .matmul_f32 = matmul_f32,
    .matmul_mxfp4 = matmul_mxfp4,
    .bf16_prepare_x = bf16_prepare_x,
    .mxfp4_prepare_x = prepare_x,
};
