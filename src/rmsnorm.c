/* rmsnorm.c: RMSNorm, as the reference: t * rsqrt(mean(t^2) + eps), then * scale. */
#include <math.h>

#include "engine.h"

void rmsnorm_forward(float *out, const float *x, const float *scale, int T, int H) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (int64_t)t * H;
        float *ot = out + (int64_t)t * H;
        double ss = 0; /* the mean of squares, rounded once to fp32 */
        for (int i = 0; i < H; i++) ss += (double)xt[i] * xt[i];
        float mean = (float)(ss / H);
        float r = 1.0f / sqrtf(mean + 1e-5f);
        for (int i = 0; i < H; i++) {
            float v = xt[i] * r;
            ot[i] = v * scale[i];
        }
    }
}
