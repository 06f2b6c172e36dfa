/* attn_portable.c: the attention kernels in plain C (see kernels.h): one scalar sum per
 * dot product, libm's expf, key order everywhere. */
#include <math.h>

#include "kernels.h"

static float attn_scores(float *s, const float *q, const float *k, int64_t ldk, int n, int d, float scale) {
    float m = -INFINITY;
    for (int j = 0; j < n; j++) {
        const float *kj = k + (int64_t)j * ldk;
        float acc = 0;
        for (int c = 0; c < d; c++) acc += q[c] * kj[c];
        acc *= scale;
        s[j] = acc;
        m = acc > m ? acc : m;
    }
    return m;
}

static float exp_sum(float *x, int n, float m) {
    float sum = 0;
    for (int j = 0; j < n; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
    return sum;
}

static void attn_accum(float *o, const float *p, float inv, const float *v, int64_t ldv, int n, int d) {
    for (int j = 0; j < n; j++) {
        float w = p[j] * inv;
        const float *vj = v + (int64_t)j * ldv;
        for (int c = 0; c < d; c++) o[c] += w * vj[c];
    }
}

const gptoss_attn_kernels gptoss_attn_portable = {
    .lanes = 1,
    .scores = attn_scores,
    .exp_sum = exp_sum,
    .accum = attn_accum,
};
