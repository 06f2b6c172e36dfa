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
 * pool as (expert, block of rows) tasks. The buffers are the context's (moe_workspace),
 * sized once; the stage taps are emitted by forward.c between the steps. */
#include <math.h>

#include "engine.h"
#include "util.h"

/* An expert's rows are split into tasks of at least MIN_ROWS_PER_TASK rows (a multiple of
 * the kernels' 2-row tile), TASKS_PER_THREAD per thread: long runs of consecutive rows
 * stream from memory (decode), enough tasks balance uneven token counts (prefill). */
enum { MIN_ROWS_PER_TASK = 32, TASKS_PER_THREAD = 2 };

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
    int64_t rows_per_task;
} expert_job;

static void expert_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const expert_job *j = ctx;
    const int ex = j->task_expert[task];
    const int64_t rows = j->w->rows, cols = j->w->cols, p0 = j->start[ex], r0 = j->task_row[task];
    const int64_t r1 = r0 + j->rows_per_task < rows ? r0 + j->rows_per_task : rows;
    gptoss_mm mm = {
        .y = j->y + p0 * rows, .ldy = rows, .x = j->x + p0 * cols, .ldx = cols,
        .T = (int)(j->start[ex + 1] - p0), .in = cols, .bias = j->bias + ex * rows,
        .w = j->w->blocks + (size_t)(ex * rows * cols / 2), .ldw = cols / 2,
        .scales = j->w->scales + (size_t)(ex * rows * cols / 32),
    };
    j->e->k->matmul_mxfp4(&mm, r0, r1);
}

static void run_experts(expert_job *j, int n_experts, int *task_expert, int64_t *task_row) {
    const int64_t rows = j->w->rows;
    int64_t per = rows / (TASKS_PER_THREAD * (int64_t)gptoss_pool_threads(j->e->pool));
    per = per < MIN_ROWS_PER_TASK ? MIN_ROWS_PER_TASK : (per + 1) & ~(int64_t)1;
    int64_t n = 0;
    for (int ex = 0; ex < n_experts; ex++) {
        if (j->start[ex + 1] == j->start[ex]) continue;
        for (int64_t r = 0; r < rows; r += per) {
            task_expert[n] = ex;
            task_row[n] = r;
            n++;
        }
    }
    j->task_expert = task_expert;
    j->task_row = task_row;
    j->rows_per_task = per;
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

/* swiglu and mlp2's input order for one (token, slot) pair per task. */
typedef struct {
    const gptoss_engine *e;
    moe_workspace *ws;
    int64_t I;
    float limit;
} act_job;

static void act_task(void *ctx, int64_t q, int thread) {
    (void)thread;
    const act_job *j = ctx;
    moe_workspace *ws = j->ws;
    swiglu(ws->act + q * j->I, ws->h + q * 2 * j->I, j->I, j->limit);
    j->e->k->mxfp4_prepare_x(ws->act_in + q * j->I, ws->act + q * j->I, j->I);
}

int64_t moe_max_tasks(const gptoss_config *c) {
    const int64_t rows = 2 * (int64_t)c->intermediate_size > c->hidden_size ? 2 * (int64_t)c->intermediate_size
                                                                             : c->hidden_size;
    return (int64_t)c->num_experts * ((rows + MIN_ROWS_PER_TASK - 1) / MIN_ROWS_PER_TASK);
}

void moe_route(const gptoss_engine *e, moe_workspace *ws, const float *normed, int n,
               const gptoss_config *c, const gptoss_block *b) {
    const int E = c->num_experts, K = c->experts_per_token;
    matmul_forward(e, ws->gates, normed, n, &b->wgate, b->bgate);
    for (int t = 0; t < n; t++)
        route(ws->gates + (int64_t)t * E, E, K, ws->idx + (int64_t)t * K, ws->wts + (int64_t)t * K);
}

void moe_experts(const gptoss_engine *e, moe_workspace *ws, const float *normed, int n,
                 const gptoss_config *c, const gptoss_block *b) {
    const int E = c->num_experts, K = c->experts_per_token;
    const int64_t H = c->hidden_size, I = c->intermediate_size, P = (int64_t)n * K;
    /* sort the pairs by expert (stable: by token, then slot) and gather their inputs */
    for (int ex = 0; ex <= E; ex++) ws->start[ex] = 0;
    for (int64_t p = 0; p < P; p++) ws->start[ws->idx[p] + 1]++;
    for (int ex = 0; ex < E; ex++) ws->start[ex + 1] += ws->start[ex];
    for (int ex = 0; ex < E; ex++) ws->fill[ex] = 0;
    for (int64_t p = 0; p < P; p++) {
        int64_t pos = ws->start[ws->idx[p]] + ws->fill[ws->idx[p]]++;
        ws->pair_pos[p] = pos;
        e->k->mxfp4_prepare_x(ws->xin + pos * H, normed + (p / K) * H, H);
    }
    /* mlp1, swiglu, mlp2 */
    expert_job j1 = {.e = e, .w = &b->mlp1, .bias = b->b1, .x = ws->xin, .y = ws->h, .start = ws->start};
    run_experts(&j1, E, ws->task_expert, ws->task_row);
    act_job ja = {.e = e, .ws = ws, .I = I, .limit = c->swiglu_limit};
    gptoss_pool_run(e->pool, P, act_task, &ja);
    expert_job j2 = {.e = e, .w = &b->mlp2, .bias = b->b2, .x = ws->act_in, .y = ws->y, .start = ws->start};
    run_experts(&j2, E, ws->task_expert, ws->task_row);
}

void moe_combine(moe_workspace *ws, float *x, int n, const gptoss_config *c) {
    const int K = c->experts_per_token;
    const int64_t H = c->hidden_size;
    for (int t = 0; t < n; t++) {
        float *f = ws->fused + (int64_t)t * H;
        for (int64_t i = 0; i < H; i++) f[i] = 0;
        for (int s = 0; s < K; s++) {
            int64_t p = (int64_t)t * K + s;
            const float *yp = ws->y + ws->pair_pos[p] * H;
            float w = ws->wts[p];
            for (int64_t i = 0; i < H; i++) {
                float prod = w * yp[i];
                f[i] += prod;
            }
        }
    }
    for (int64_t i = 0; i < (int64_t)n * H; i++) x[i] += ws->fused[i];
}
