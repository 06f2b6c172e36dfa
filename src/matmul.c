/* matmul.c: a dense layer over the thread pool: x is put in the kernel's order once, then
 * rows of W are split into tasks, each running the selected kernel on its rows for every
 * token. */
#include "engine.h"

typedef struct {
    gptoss_mm mm;
    void (*fn)(const gptoss_mm *, int64_t, int64_t);
    int64_t rows, chunk;
} matmul_job;

static void matmul_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    int64_t o0 = task * j->chunk, o1 = o0 + j->chunk;
    j->fn(&j->mm, o0, o1 < j->rows ? o1 : j->rows);
}

void matmul_forward(const gptoss_engine *e, float *y, const float *x, int T, const gptoss_mat *W,
                    const float *bias) {
    if (W->dtype == GPTOSS_DT_BF16) { /* reorder x once for all rows */
        for (int t = 0; t < T; t++)
            e->k->bf16_prepare_x(e->xprep + (int64_t)t * W->cols, x + (int64_t)t * W->cols, W->cols);
        x = e->xprep;
    }
    matmul_job j = {
        .mm = {.y = y, .ldy = W->rows, .x = x, .ldx = W->cols, .T = T, .in = W->cols,
               .bias = bias, .w = W->data, .ldw = W->stride},
        .fn = W->dtype == GPTOSS_DT_BF16 ? e->k->matmul_bf16 : e->k->matmul_f32,
        .rows = W->rows,
    };
    /* ~16 tasks per thread for balance, at least 16 rows each (a multiple of the 4-row
     * tile); the split never changes the results (see kernels.h). */
    int64_t per = W->rows / (16 * (int64_t)gptoss_pool_threads(e->pool));
    j.chunk = per < 16 ? 16 : (per + 3) & ~(int64_t)3;
    gptoss_pool_run(e->pool, (W->rows + j.chunk - 1) / j.chunk, matmul_task, &j);
}
