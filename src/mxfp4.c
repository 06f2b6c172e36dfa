/* mxfp4.c: see mxfp4.h. */
#include "mxfp4.h"

#include <math.h>

#include "util.h"

float mxfp4_scale(uint8_t scale) { return ldexpf(1.0f, (int)scale - 127); }

void mxfp4_decode_row(float *out, const uint8_t *blocks, const uint8_t *scales, int64_t cols) {
    for (int64_t g = 0; g < cols / 32; g++) {
        float s = mxfp4_scale(scales[g]);
        const uint8_t *b = blocks + g * 16;
        float *o = out + g * 32;
        if (scales[g] == 255) { /* 2^128 is not a float: scale each value exactly */
            for (int k = 0; k < 16; k++) {
                o[2 * k] = ldexpf(gptoss_fp4_values[b[k] & 0x0F], 128);
                o[2 * k + 1] = ldexpf(gptoss_fp4_values[b[k] >> 4], 128);
            }
            continue;
        }
        for (int k = 0; k < 16; k++) {
            o[2 * k] = gptoss_fp4_values[b[k] & 0x0F] * s;
            o[2 * k + 1] = gptoss_fp4_values[b[k] >> 4] * s;
        }
    }
}
