/* attn_avx2.c: the attention kernels with 8-lane AVX2 registers (attn_simd.h). */
#include <immintrin.h>

#include "hsum.h"
#include "kernels.h"

#define LANES 8
#define VEC __m256
#define VECI __m256i
#define LOAD(p) _mm256_loadu_ps(p)
#define STORE(p, v) _mm256_storeu_ps(p, v)
#define SET1(x) _mm256_set1_ps(x)
#define SET1_I(x) _mm256_set1_epi32(x)
#define ZERO() _mm256_setzero_ps()
#define ADD(a, b) _mm256_add_ps(a, b)
#define SUB(a, b) _mm256_sub_ps(a, b)
#define MUL(a, b) _mm256_mul_ps(a, b)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define MAX(a, b) _mm256_max_ps(a, b)
#define ROUND(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define CVT_I(a) _mm256_cvtps_epi32(a)
#define ADD_I(a, b) _mm256_add_epi32(a, b)
#define SLLI(a, n) _mm256_slli_epi32(a, n)
#define CAST_F(a) _mm256_castsi256_ps(a)
#define BLEND_LT(a, b, c, d) _mm256_blendv_ps(d, c, _mm256_cmp_ps(a, b, _CMP_LT_OQ))
#define HSUM(v) gptoss_hsum8(v)
#define NAME(x) x##_avx2

#include "attn_simd.h"

const gptoss_attn_kernels gptoss_attn_avx2 = {
    .lanes = LANES,
    .scores = attn_scores_avx2,
    .exp_sum = exp_sum_avx2,
    .accum = attn_accum_avx2,
};
