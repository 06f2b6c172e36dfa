/* mxfp4.h: the plain reference decoder of MXFP4 rows (what the SIMD kernels must equal).
 *
 * One row of `cols` values (cols a multiple of 32) is cols/32 groups; group g has 16 bytes
 * blocks[g*16 .. g*16+15] of 4-bit codes, low nibble first, and one scale byte scales[g]:
 *   value[g*32 + j] = FP4[code_j] * 2^(scales[g] - 127)
 * computed exactly as the official loader does (torch.ldexp into bf16): every such value is
 * exact in fp32 and bf16 for scales 0..254, so FP4 x mxfp4_scale(s) is exact. Scale 255 is
 * the one exception: 2^128 is not a float, and the loader gives FP4 x 2^128 rounded (0 stays
 * 0, +-0.5 gives +-2^127, the rest +-inf), which a multiply by mxfp4_scale(255) = inf would
 * not (0 x inf = NaN, 0.5 x inf = inf). */
#ifndef GPTOSS_MXFP4_H
#define GPTOSS_MXFP4_H

#include <stdint.h>

/* 2^(scale - 127) in fp32 (scale 0 is the subnormal 2^-127; scale 255 gives inf, see above). */
float mxfp4_scale(uint8_t scale);

/* out[cols] <- decoded row; blocks [cols/32][16], scales [cols/32]. */
void mxfp4_decode_row(float *out, const uint8_t *blocks, const uint8_t *scales, int64_t cols);

#endif
