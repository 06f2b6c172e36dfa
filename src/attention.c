/* attention.c: causal grouped-query attention with per-head sinks and an optional
 * sliding window, as the reference's sdpa():
 *
 *   s_j = (q . k_j) * scale        for the visible keys j
 *   w   = softmax([s_j..., sink])  (max-subtracted; w_j = exp(s_j - M) * (1 / den))
 *   o   = sum_j w_j v_j            (the sink takes probability mass, adds no value)
 *
 * One task per (query head, block of queries); every output row is written by one task. */
#include <math.h>
#include <stdlib.h>

#include "engine.h"
#include "util.h"

enum { QBLOCK = 16 };

typedef struct {
    float *out;
    const float *q, *k, *v, *sinks;
    int T, n_heads, n_kv, d, window;
    float scale;
    float *scratch; /* [n_threads][T] */
    int n_qblocks;
} attn_job;

static void attn_task(void *ctx, int64_t task, int thread) {
    const attn_job *j = ctx;
    const int hq = (int)(task / j->n_qblocks), qb = (int)(task % j->n_qblocks);
    const int kv = hq / (j->n_heads / j->n_kv), d = j->d;
    float *p = j->scratch + (int64_t)thread * j->T;
    int i1 = (qb + 1) * QBLOCK < j->T ? (qb + 1) * QBLOCK : j->T;
    for (int i = qb * QBLOCK; i < i1; i++) {
        const float *qi = j->q + ((int64_t)i * j->n_heads + hq) * d;
        int j0 = (j->window > 0 && i - j->window + 1 > 0) ? i - j->window + 1 : 0;
        float sink = j->sinks[hq], m = sink;
        for (int t = j0; t <= i; t++) {
            const float *kt = j->k + ((int64_t)t * j->n_kv + kv) * d;
            float s = 0;
            for (int c = 0; c < d; c++) s += qi[c] * kt[c];
            s *= j->scale;
            p[t] = s;
            if (s > m) m = s;
        }
        float den = expf(sink - m);
        for (int t = j0; t <= i; t++) {
            p[t] = expf(p[t] - m);
            den += p[t];
        }
        float inv = 1.0f / den;
        float *o = j->out + ((int64_t)i * j->n_heads + hq) * d;
        for (int c = 0; c < d; c++) o[c] = 0;
        for (int t = j0; t <= i; t++) {
            float w = p[t] * inv;
            const float *vt = j->v + ((int64_t)t * j->n_kv + kv) * d;
            for (int c = 0; c < d; c++) o[c] += w * vt[c];
        }
    }
}

gptoss_status attention_forward(const gptoss_engine *e, float *out, const float *q, const float *k,
                       const float *v, const float *sinks, int T, int n_heads, int n_kv, int d,
                       int window) {
    attn_job j = {.out = out, .q = q, .k = k, .v = v, .sinks = sinks, .T = T,
                  .n_heads = n_heads, .n_kv = n_kv, .d = d, .window = window,
                  .scale = (float)(1.0 / sqrt((double)d)),
                  .n_qblocks = (T + QBLOCK - 1) / QBLOCK};
    int64_t n_tasks = (int64_t)n_heads * j.n_qblocks;
    j.scratch = malloc((size_t)gptoss_pool_threads(e->pool) * (size_t)T * sizeof(float));
    if (!j.scratch) return gptoss_error(GPTOSS_ERR_NOMEM, "attention: out of memory");
    gptoss_pool_run(e->pool, n_tasks, attn_task, &j);
    free(j.scratch);
    return GPTOSS_OK;
}
