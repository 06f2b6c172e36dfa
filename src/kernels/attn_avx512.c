/* attn_avx512.c: the attention kernels with 16-lane AVX-512 registers (attn_simd.h). */
#include <immintrin.h>

#include "hsum.h"
#include "kernels.h"

#define LANES 16
#define VEC __m512
#define VECI __m512i
#define LOAD(p) _mm512_loadu_ps(p)
#define STORE(p, v) _mm512_storeu_ps(p, v)
#define SET1(x) _mm512_set1_ps(x)
#define SET1_I(x) _mm512_set1_epi32(x)
#define ZERO() _mm512_setzero_ps()
#define ADD(a, b) _mm512_add_ps(a, b)
#define SUB(a, b) _mm512_sub_ps(a, b)
#define MUL(a, b) _mm512_mul_ps(a, b)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define MAX(a, b) _mm512_max_ps(a, b)
#define ROUND(a) _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define CVT_I(a) _mm512_cvtps_epi32(a)
#define ADD_I(a, b) _mm512_add_epi32(a, b)
#define SLLI(a, n) _mm512_slli_epi32(a, n)
#define CAST_F(a) _mm512_castsi512_ps(a)
#define BLEND_LT(a, b, c, d) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), d, c)
#define HSUM(v) gptoss_hsum16(v)
#define NAME(x) x##_avx512

#include "attn_simd.h"

const gptoss_attn_kernels gptoss_attn_avx512 = {
    .lanes = LANES,
    .scores = attn_scores_avx512,
    .exp_sum = exp_sum_avx512,
    .accum = attn_accum_avx512,
};
