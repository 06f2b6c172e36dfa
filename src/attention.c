/* attention.c: causal grouped-query attention with per-head sinks and an optional
 * sliding window, as the reference's sdpa():
 *
 *   s_j = (q . k_j) * scale        for the visible keys j
 *   w   = softmax([s_j..., sink])  (max-subtracted; w_j = exp(s_j - M) * (1 / den),
 *                                   den = exp(sink - M) + sum_j exp(s_j - M))
 *   o   = sum_j w_j v_j            (the sink takes probability mass, adds no value)
 *
 * The rows of a query run through the kernel set's attention kernels (kernels.h).
 * Keys and values come from the KV cache (position t in row t % rows). One task per
 * (query head, block of queries); every output row is written by one task. */
#include <math.h>

#include "engine.h"
#include "util.h"

enum { QBLOCK = 16 };

typedef struct {
    const gptoss_attn_kernels *ak;
    float *out;
    const float *q, *sinks;
    const gptoss_kv_layer *kv;
    int64_t pos0, keys; /* keys: scratch floats per thread */
    int n, n_heads, n_kv, d, window;
    float scale;
    float *scores;
    int n_qblocks;
} attn_job;

static void attn_task(void *ctx, int64_t task, int thread) {
    const attn_job *j = ctx;
    const gptoss_attn_kernels *ak = j->ak;
    const int hq = (int)(task / j->n_qblocks), qb = (int)(task % j->n_qblocks);
    const int kv = hq / (j->n_heads / j->n_kv), d = j->d;
    const int64_t rows = j->kv->rows, stride = (int64_t)j->n_kv * d;
    const float *K = j->kv->k + (int64_t)kv * d, *V = j->kv->v + (int64_t)kv * d;
    float *p = j->scores + (int64_t)thread * j->keys;
    int r1 = (qb + 1) * QBLOCK < j->n ? (qb + 1) * QBLOCK : j->n;
    for (int r = qb * QBLOCK; r < r1; r++) {
        const int64_t i = j->pos0 + r; /* the query's position */
        const float *qi = j->q + ((int64_t)r * j->n_heads + hq) * d;
        int64_t j0 = (j->window > 0 && i - j->window + 1 > 0) ? i - j->window + 1 : 0;
        /* keys j0..i live in rows j0 % rows.. of the ring: at most two runs of rows */
        const int n = (int)(i - j0 + 1), row0 = (int)(j0 % rows);
        const int n1 = n < rows - row0 ? n : (int)(rows - row0), n2 = n - n1;
        float m = ak->scores(p, qi, K + row0 * stride, stride, n1, d, j->scale);
        if (n2 > 0) {
            float m2 = ak->scores(p + n1, qi, K, stride, n2, d, j->scale);
            m = m2 > m ? m2 : m;
        }
        float sink = j->sinks[hq];
        m = sink > m ? sink : m;
        float den = expf(sink - m) + ak->exp_sum(p, n, m);
        float inv = 1.0f / den;
        float *o = j->out + ((int64_t)r * j->n_heads + hq) * d;
        for (int c = 0; c < d; c++) o[c] = 0;
        ak->accum(o, p, inv, V + row0 * stride, stride, n1, d);
        if (n2 > 0) ak->accum(o, p + n1, inv, V, stride, n2, d);
    }
}

void attention_forward(const gptoss_engine *e, float *out, const float *q, const gptoss_kv_layer *kv,
                       int64_t pos0, int n, int n_heads, int n_kv, int d, int window,
                       const float *sinks, float *scores) {
    const gptoss_attn_kernels *ak = e->k->attn;
    if (d % ak->lanes) ak = &gptoss_attn_portable;
    attn_job j = {.ak = ak, .out = out, .q = q, .sinks = sinks, .kv = kv, .pos0 = pos0,
                  .keys = window > 0 && window < pos0 + n ? window : pos0 + n, .n = n,
                  .n_heads = n_heads, .n_kv = n_kv, .d = d, .window = window,
                  .scale = (float)(1.0 / sqrt((double)d)), .scores = scores,
                  .n_qblocks = (n + QBLOCK - 1) / QBLOCK};
    gptoss_pool_run(e->pool, (int64_t)n_heads * j.n_qblocks, attn_task, &j);
}
