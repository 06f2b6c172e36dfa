/* mxfp4.h: the plain reference decoder of MXFP4 rows (what the SIMD kernels must equal).
 *
 * One row of `cols` values (cols a multiple of 32) is cols/32 groups; group g has 16 bytes
 * blocks[g*16 .. g*16+15] of 4-bit codes, low nibble first, and one scale byte scales[g]:
 *   value[g*32 + j] = FP4[code_j] * 2^(scales[g] - 127)
 * computed exactly as the official loader does (the FP4 value times the fp32 power of two;
 * scale 255 gives 2^128 = inf, as there). */
#ifndef GPTOSS_MXFP4_H
#define GPTOSS_MXFP4_H

#include <stdint.h>

/* 2^(scale - 127) in fp32 (scale 0 is the subnormal 2^-127, scale 255 is inf). */
float mxfp4_scale(uint8_t scale);

/* out[cols] <- decoded row; blocks [cols/32][16], scales [cols/32]. */
void mxfp4_decode_row(float *out, const uint8_t *blocks, const uint8_t *scales, int64_t cols);

#endif
