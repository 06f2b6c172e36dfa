/* hsum.h: the horizontal sums of the SIMD kernels, in one fixed order (halves, then
 * quarters, ...) that the matmul and attention kernels of one instruction set share.
 * Include after <immintrin.h> in a file compiled for AVX2 (gptoss_hsum8) or AVX-512
 * (gptoss_hsum16 as well). */
#ifndef GPTOSS_HSUM_H
#define GPTOSS_HSUM_H

#include <immintrin.h>

/* ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) */
static inline __attribute__((always_inline)) float gptoss_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#ifdef __AVX512F__
/* the two 8-lane halves added, then gptoss_hsum8 */
static inline __attribute__((always_inline)) float gptoss_hsum16(__m512 v) {
    return gptoss_hsum8(_mm256_add_ps(_mm512_castps512_ps256(v),
                                      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}
#endif

#endif
