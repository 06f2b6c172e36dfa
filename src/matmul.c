/* matmul.c: dense layers over the thread pool: x is put in the kernel's order once, then
 * the rows of W are split into tasks, each running the selected kernel on its rows for
 * every token. Layers that read the same x (the attention's q, k and v) run as one job, so
 * the threads stream their rows back to back without waiting for each other in between. */
#include "engine.h"

enum { MATMUL_MAX = 3 }; /* layers in one job */

typedef struct {
    gptoss_mm mm[MATMUL_MAX];
    void (*fn[MATMUL_MAX])(const gptoss_mm *, int64_t, int64_t);
    int64_t rows[MATMUL_MAX], first_task[MATMUL_MAX + 1], chunk;
    int n;
} matmul_job;

static void matmul_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    int l = 0;
    while (task >= j->first_task[l + 1]) l++;
    int64_t o0 = (task - j->first_task[l]) * j->chunk, o1 = o0 + j->chunk;
    j->fn[l](&j->mm[l], o0, o1 < j->rows[l] ? o1 : j->rows[l]);
}

void matmul_forward_n(const gptoss_engine *e, int n, float *const y[], const float *x, int T,
                      const gptoss_mat *const W[], const float *const bias[]) {
    matmul_job j = {.n = n};
    const float *xb = x; /* x in the BF16 kernel's order, made once for all the layers */
    int64_t total = 0;
    for (int l = 0; l < n; l++) {
        const gptoss_mat *w = W[l];
        const int bf16 = w->dtype == GPTOSS_DT_BF16;
        if (bf16 && xb == x) {
            for (int t = 0; t < T; t++)
                e->k->bf16_prepare_x(e->xprep + (int64_t)t * w->cols, x + (int64_t)t * w->cols, w->cols);
            xb = e->xprep;
        }
        j.mm[l] = (gptoss_mm){.y = y[l], .ldy = w->rows, .x = bf16 ? xb : x, .ldx = w->cols, .T = T,
                              .in = w->cols, .bias = bias[l], .w = w->data, .ldw = w->stride};
        j.fn[l] = bf16 ? e->k->matmul_bf16 : e->k->matmul_f32;
        j.rows[l] = w->rows;
        total += w->rows;
    }
    /* ~16 tasks per thread for balance, at least 16 rows each (a multiple of the 4-row
     * tile); the split never changes the results (see kernels.h). */
    int64_t per = total / (16 * (int64_t)gptoss_pool_threads(e->pool));
    j.chunk = per < 16 ? 16 : (per + 3) & ~(int64_t)3;
    j.first_task[0] = 0;
    for (int l = 0; l < n; l++) j.first_task[l + 1] = j.first_task[l] + (j.rows[l] + j.chunk - 1) / j.chunk;
    gptoss_pool_run(e->pool, j.first_task[n], matmul_task, &j);
}

void matmul_forward(const gptoss_engine *e, float *y, const float *x, int T, const gptoss_mat *W,
                    const float *bias) {
    matmul_forward_n(e, 1, &y, x, T, &W, &bias);
}
