/* moe.c: the mixture-of-experts half of a block, as the reference's MLPBlock:
 *
 *   g   = Wgate t + bgate                      router logits [T, E]
 *   idx = top-k(g), by descending logit, ties to the lower index
 *   w   = softmax(g[idx])                      over the k selected logits
 *   h   = W1[e] t + b1[e]                      [2I], rows interleaved glu/linear
 *   a   = swiglu(h)                            [I]
 *   y   = W2[e] a + b2[e]                      [H]
 *   x  += sum_k w[k] y_k
 *
 * The (token, slot) pairs are sorted by expert so that each expert's packed MXFP4 weights
 * are read once for all the tokens routed to it; the expert matmuls run over the thread
 * pool as (expert, block of rows) tasks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

enum { ROWS_PER_TASK = 32 };

/* One MXFP4 layer (mlp1 or mlp2) for every active expert. */
typedef struct {
    const gptoss_engine *e;
    const gptoss_mxfp4 *w;
    const float *bias;    /* [E, rows] */
    const float *x;       /* [P, cols], kernel order, pairs sorted by expert */
    float *y;             /* [P, rows] */
    const int64_t *start; /* [E+1] first pair of each expert */
    const int *task_expert;
    const int64_t *task_row;
} expert_job;

static void expert_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const expert_job *j = ctx;
    const int ex = j->task_expert[task];
    const int64_t r0 = j->task_row[task];
    const int64_t rows = j->w->rows, cols = j->w->cols, p0 = j->start[ex];
    gptoss_mm mm = {
        .y = j->y + p0 * rows, .ldy = rows, .x = j->x + p0 * cols, .ldx = cols,
        .T = (int)(j->start[ex + 1] - p0), .in = cols, .bias = j->bias + ex * rows,
        .w = j->w->blocks + (size_t)(ex * rows * cols / 2), .ldw = cols / 2,
        .scales = j->w->scales + (size_t)(ex * rows * cols / 32),
    };
    int64_t r1 = r0 + ROWS_PER_TASK < rows ? r0 + ROWS_PER_TASK : rows;
    j->e->k->matmul_mxfp4(&mm, r0, r1);
}

static void run_experts(expert_job *j, int n_experts, int *task_expert, int64_t *task_row) {
    int64_t n = 0;
    for (int ex = 0; ex < n_experts; ex++) {
        if (j->start[ex + 1] == j->start[ex]) continue;
        for (int64_t r = 0; r < j->w->rows; r += ROWS_PER_TASK) {
            task_expert[n] = ex;
            task_row[n] = r;
            n++;
        }
    }
    j->task_expert = task_expert;
    j->task_row = task_row;
    gptoss_pool_run(j->e->pool, n, expert_task, j);
}

/* Top-k of g[E] by descending value, ties to the lower index; w = softmax of those. */
static void route(const float *g, int E, int k, int64_t *idx, float *w) {
    for (int s = 0; s < k; s++) {
        int best = -1;
        for (int ex = 0; ex < E; ex++) {
            int taken = 0;
            for (int u = 0; u < s; u++) taken |= idx[u] == ex;
            if (!taken && (best < 0 || g[ex] > g[best])) best = ex;
        }
        idx[s] = best;
    }
    float m = g[idx[0]], sum = 0;
    for (int s = 0; s < k; s++) {
        w[s] = expf(g[idx[s]] - m);
        sum += w[s];
    }
    float inv = 1.0f / sum;
    for (int s = 0; s < k; s++) w[s] *= inv;
}

/* a[I] = swiglu(h[2I]): glu = h[2i] (clamped above), lin = h[2i+1] (clamped both ways),
 * a = glu * sigmoid(1.702 glu) * (lin + 1), each step rounded as torch does. */
static void swiglu(float *a, const float *h, int64_t I, float limit) {
    const float alpha = 1.702f;
    for (int64_t i = 0; i < I; i++) {
        float glu = h[2 * i], lin = h[2 * i + 1];
        glu = glu > limit ? limit : glu;
        lin = lin > limit ? limit : lin < -limit ? -limit : lin;
        float z = alpha * glu;
        float sig = 1.0f / (1.0f + expf(-z));
        float out = glu * sig;
        a[i] = out * (lin + 1.0f);
    }
}

gptoss_status moe_forward(const gptoss_engine *e, float *x, const float *normed, int T,
                          const gptoss_config *c, const gptoss_block *b, const gptoss_tapper *tp,
                          int layer) {
    const int E = c->num_experts, K = c->experts_per_token;
    const int64_t H = c->hidden_size, I = c->intermediate_size, P = (int64_t)T * K;
    const int64_t max_tasks = (int64_t)E * ((2 * I + ROWS_PER_TASK - 1) / ROWS_PER_TASK + 1);
    gptoss_status st = GPTOSS_OK;
    float *gates = malloc(sizeof(float) * (size_t)(T * E));
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)P);
    float *wts = malloc(sizeof(float) * (size_t)P);
    int64_t *start = calloc((size_t)E + 1, sizeof(int64_t));
    int64_t *pair_pos = malloc(sizeof(int64_t) * (size_t)P); /* (t, s) -> sorted position */
    float *xin = malloc(sizeof(float) * (size_t)(P * H));    /* kernel order */
    float *h = malloc(sizeof(float) * (size_t)(P * 2 * I));
    float *act = malloc(sizeof(float) * (size_t)(P * I));
    float *act_in = malloc(sizeof(float) * (size_t)(P * I)); /* kernel order */
    float *y = malloc(sizeof(float) * (size_t)(P * H));
    float *fused = malloc(sizeof(float) * (size_t)(T * H));
    int *task_expert = malloc(sizeof(int) * (size_t)max_tasks);
    int64_t *task_row = malloc(sizeof(int64_t) * (size_t)max_tasks);
    if (!gates || !idx || !wts || !start || !pair_pos || !xin || !h || !act || !act_in || !y ||
        !fused || !task_expert || !task_row) {
        st = gptoss_error(GPTOSS_ERR_NOMEM, "moe: out of memory for %d tokens", T);
        goto done;
    }

    /* router */
    matmul_forward(e, gates, normed, T, &b->wgate, b->bgate);
    tap_emit(tp, layer, "mlp_gate_logits", GPTOSS_DT_F32, gates, T, E, 0, 0);
    for (int t = 0; t < T; t++)
        route(gates + (int64_t)t * E, E, K, idx + (int64_t)t * K, wts + (int64_t)t * K);
    tap_emit(tp, layer, "mlp_expert_indices", GPTOSS_DT_I64, idx, T, K, 0, 0);
    tap_emit(tp, layer, "mlp_expert_weights", GPTOSS_DT_F32, wts, T, K, 0, 0);
    if (tp && tp->fn) { /* the routing as a dense [T, E] matrix: built only for the tap */
        float *dense = calloc((size_t)(T * E), sizeof(float));
        if (!dense) {
            st = gptoss_error(GPTOSS_ERR_NOMEM, "moe: out of memory for the taps");
            goto done;
        }
        for (int64_t p = 0; p < P; p++) dense[(p / K) * E + idx[p]] = wts[p];
        tap_emit(tp, layer, "mlp_dense_gate_weights", GPTOSS_DT_F32, dense, T, E, 0, 0);
        free(dense);
    }

    /* sort the pairs by expert (stable: by token, then slot) and gather their inputs */
    for (int64_t p = 0; p < P; p++) start[idx[p] + 1]++;
    for (int ex = 0; ex < E; ex++) start[ex + 1] += start[ex];
    {
        int64_t *fill = calloc((size_t)E, sizeof(int64_t));
        if (!fill) {
            st = gptoss_error(GPTOSS_ERR_NOMEM, "moe: out of memory");
            goto done;
        }
        for (int64_t p = 0; p < P; p++) {
            int64_t pos = start[idx[p]] + fill[idx[p]]++;
            pair_pos[p] = pos;
            e->k->mxfp4_prepare_x(xin + pos * H, normed + (p / K) * H, H);
        }
        free(fill);
    }

    /* experts: mlp1, swiglu, mlp2 */
    expert_job j1 = {.e = e, .w = &b->mlp1, .bias = b->b1, .x = xin, .y = h, .start = start};
    run_experts(&j1, E, task_expert, task_row);
    for (int64_t q = 0; q < P; q++) {
        swiglu(act + q * I, h + q * 2 * I, I, c->swiglu_limit);
        e->k->mxfp4_prepare_x(act_in + q * I, act + q * I, I);
    }
    expert_job j2 = {.e = e, .w = &b->mlp2, .bias = b->b2, .x = act_in, .y = y, .start = start};
    run_experts(&j2, E, task_expert, task_row);

    if (tp && tp->fn) { /* the per-(token, slot) views, in token order: copies only here */
        float *v = malloc(sizeof(float) * (size_t)(P * 2 * I));
        if (!v) {
            st = gptoss_error(GPTOSS_ERR_NOMEM, "moe: out of memory for the taps");
            goto done;
        }
        for (int64_t p = 0; p < P; p++) memcpy(v + p * 2 * I, h + pair_pos[p] * 2 * I, sizeof(float) * (size_t)(2 * I));
        tap_emit(tp, layer, "mlp_prelinear_outputs", GPTOSS_DT_F32, v, T, K, 2 * I, 0);
        for (int64_t p = 0; p < P; p++) memcpy(v + p * I, act + pair_pos[p] * I, sizeof(float) * (size_t)I);
        tap_emit(tp, layer, "mlp_activated_outputs", GPTOSS_DT_F32, v, T, K, I, 0);
        free(v);
        v = malloc(sizeof(float) * (size_t)(P * H));
        if (!v) {
            st = gptoss_error(GPTOSS_ERR_NOMEM, "moe: out of memory for the taps");
            goto done;
        }
        for (int64_t p = 0; p < P; p++) memcpy(v + p * H, y + pair_pos[p] * H, sizeof(float) * (size_t)H);
        tap_emit(tp, layer, "mlp_expert_outputs", GPTOSS_DT_F32, v, T, K, H, 0);
        free(v);
    }

    /* weighted sum over the k experts, then the residual */
    for (int t = 0; t < T; t++) {
        float *f = fused + (int64_t)t * H;
        for (int64_t i = 0; i < H; i++) f[i] = 0;
        for (int s = 0; s < K; s++) {
            int64_t p = (int64_t)t * K + s;
            const float *yp = y + pair_pos[p] * H;
            float w = wts[p];
            for (int64_t i = 0; i < H; i++) {
                float prod = w * yp[i];
                f[i] += prod;
            }
        }
    }
    tap_emit(tp, layer, "mlp_fused", GPTOSS_DT_F32, fused, T, H, 0, 0);
    for (int64_t i = 0; i < T * H; i++) x[i] += fused[i];

done:
    free(gates);
    free(idx);
    free(wts);
    free(start);
    free(pair_pos);
    free(xin);
    free(h);
    free(act);
    free(act_in);
    free(y);
    free(fused);
    free(task_expert);
    free(task_row);
    return st;
}
