/* attn_portable.c: the attention kernels in plain C (see kernels.h): one scalar sum per
 * dot product, libm's expf, key order everywhere. */
#include <math.h>

#include "kernels.h"

static void attn_scores(float *s, int64_t lds, const float *q, int64_t ldq, int G, const float *k, int64_t ldk,
                        int n, int d, float scale, float *m) {
    for (int g = 0; g < G; g++) m[g] = -INFINITY;
    for (int j = 0; j < n; j++) {
        const float *kj = k + (int64_t)j * ldk;
        for (int g = 0; g < G; g++) {
            const float *qg = q + g * ldq;
            float acc = 0;
            for (int c = 0; c < d; c++) acc += qg[c] * kj[c];
            acc *= scale;
            s[g * lds + j] = acc;
            m[g] = acc > m[g] ? acc : m[g];
        }
    }
}

static float exp_sum(float *x, int n, float m) {
    float sum = 0;
    for (int j = 0; j < n; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
    return sum;
}

static void attn_accum(float *o, int64_t ldo, const float *p, int64_t ldp, const float *inv, int G, const float *v,
                       int64_t ldv, int n, int d) {
    for (int j = 0; j < n; j++) {
        const float *vj = v + (int64_t)j * ldv;
        for (int g = 0; g < G; g++) {
            float w = p[g * ldp + j] * inv[g], *og = o + g * ldo;
            for (int c = 0; c < d; c++) og[c] += w * vj[c];
        }
    }
}

const gptoss_attn_kernels gptoss_attn_portable = {
    .lanes = 1,
    .scores = attn_scores,
    .exp_sum = exp_sum,
    .accum = attn_accum,
};
