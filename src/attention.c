/* attention.c: causal grouped-query attention with per-head sinks and an optional
 * sliding window, as the reference's sdpa():
 *
 *   s_j = (q . k_j) * scale        for the visible keys j
 *   w   = softmax([s_j..., sink])  (max-subtracted; w_j = exp(s_j - M) * (1 / den),
 *                                   den = exp(sink - M) + sum_j exp(s_j - M))
 *   o   = sum_j w_j v_j            (the sink takes probability mass, adds no value)
 *
 * The rows run through the kernel set's attention kernels (kernels.h). Keys and values
 * come from the KV cache (a KV head's rows contiguous, position t in row t % rows). One
 * task per (group of query heads that share a KV head, block of queries): a group reads
 * each key and value row once, not once per head (gpt-oss: 8 query heads per KV head).
 * Every output row is written by one task, and a query's result does not depend on the
 * grouping (kernels.h). */
#include <math.h>

#include "engine.h"
#include "util.h"

enum { QBLOCK = 16 };

typedef struct {
    const gptoss_attn_kernels *ak;
    float *out;
    const float *q, *sinks;
    const gptoss_kv_layer *kv;
    int64_t pos0, keys; /* keys: scratch floats per query head of a group */
    int n, n_heads, n_kv, d, window, group;
    float scale;
    float *scores;
    int n_qblocks;
} attn_job;

static void attn_task(void *ctx, int64_t task, int thread) {
    const attn_job *j = ctx;
    const gptoss_attn_kernels *ak = j->ak;
    const int G = j->group, h0 = (int)(task / j->n_qblocks) * G, qb = (int)(task % j->n_qblocks);
    const int kv = h0 / (j->n_heads / j->n_kv), d = j->d;
    const int64_t rows = j->kv->rows, stride = d, lds = j->keys;
    const float *K = j->kv->k + (int64_t)kv * rows * d, *V = j->kv->v + (int64_t)kv * rows * d;
    float *p = j->scores + (int64_t)thread * ATTN_GROUP_MAX * lds;
    float m[ATTN_GROUP_MAX], m2[ATTN_GROUP_MAX], inv[ATTN_GROUP_MAX];
    int r1 = (qb + 1) * QBLOCK < j->n ? (qb + 1) * QBLOCK : j->n;
    for (int r = qb * QBLOCK; r < r1; r++) {
        const int64_t i = j->pos0 + r; /* the query's position */
        const float *qi = j->q + ((int64_t)r * j->n_heads + h0) * d; /* G heads, d apart */
        int64_t j0 = (j->window > 0 && i - j->window + 1 > 0) ? i - j->window + 1 : 0;
        /* keys j0..i live in rows j0 % rows.. of the ring: at most two runs of rows */
        const int n = (int)(i - j0 + 1), row0 = (int)(j0 % rows);
        const int n1 = n < rows - row0 ? n : (int)(rows - row0), n2 = n - n1;
        ak->scores(p, lds, qi, d, G, K + row0 * stride, stride, n1, d, j->scale, m);
        if (n2 > 0) {
            ak->scores(p + n1, lds, qi, d, G, K, stride, n2, d, j->scale, m2);
            for (int g = 0; g < G; g++) m[g] = m2[g] > m[g] ? m2[g] : m[g];
        }
        for (int g = 0; g < G; g++) {
            float sink = j->sinks[h0 + g], mg = sink > m[g] ? sink : m[g];
            float den = expf(sink - mg) + ak->exp_sum(p + g * lds, n, mg);
            inv[g] = 1.0f / den;
        }
        float *o = j->out + ((int64_t)r * j->n_heads + h0) * d;
        for (int c = 0; c < G * d; c++) o[c] = 0;
        ak->accum(o, d, p, lds, inv, G, V + row0 * stride, stride, n1, d);
        if (n2 > 0) ak->accum(o, d, p + n1, lds, inv, G, V, stride, n2, d);
    }
}

void attention_forward(const gptoss_engine *e, float *out, const float *q, const gptoss_kv_layer *kv,
                       int64_t pos0, int n, int n_heads, int n_kv, int d, int window,
                       const float *sinks, float *scores) {
    const gptoss_attn_kernels *ak = e->k->attn;
    if (d % ak->lanes) ak = &gptoss_attn_portable;
    const int n_qblocks = (n + QBLOCK - 1) / QBLOCK, per_kv = n_heads / n_kv;
    /* the largest group (a divisor of the heads per KV head) that still gives every thread
     * two tasks */
    int group = 1;
    for (int g = per_kv < ATTN_GROUP_MAX ? per_kv : ATTN_GROUP_MAX; g > 1; g--)
        if (per_kv % g == 0 && (int64_t)(n_heads / g) * n_qblocks >= 2 * (int64_t)gptoss_pool_threads(e->pool)) {
            group = g;
            break;
        }
    attn_job j = {.ak = ak, .out = out, .q = q, .sinks = sinks, .kv = kv, .pos0 = pos0,
                  .keys = window > 0 && window < pos0 + n ? window : pos0 + n, .n = n,
                  .n_heads = n_heads, .n_kv = n_kv, .d = d, .window = window, .group = group,
                  .scale = (float)(1.0 / sqrt((double)d)), .scores = scores, .n_qblocks = n_qblocks};
    gptoss_pool_run(e->pool, (int64_t)(n_heads / group) * n_qblocks, attn_task, &j);
}
