/* threadpool.h: a small persistent pthread pool running parallel-for loops.
 *
 *   gptoss_pool *p = gptoss_pool_create(0);      // 0 = one thread per core
 *   gptoss_pool_run(p, n_tasks, fn, ctx);  // fn(ctx, task, thread) for task in [0, n_tasks)
 *   gptoss_pool_destroy(p);
 *
 * The calling thread works too; tasks are handed out one at a time from an atomic counter,
 * so which thread runs a task varies from run to run: a task must write only its own
 * outputs and never depend on another task's result. */
#ifndef GPTOSS_THREADPOOL_H
#define GPTOSS_THREADPOOL_H

#include <stdint.h>

typedef struct gptoss_pool gptoss_pool;
/* thread: 0 for the caller, 1..n_threads-1 for the workers (to index per-thread scratch). */
typedef void (*gptoss_task_fn)(void *ctx, int64_t task, int thread);

/* NULL when threads cannot be created (an error is set). */
gptoss_pool *gptoss_pool_create(int n_threads);
void gptoss_pool_destroy(gptoss_pool *pool);
int gptoss_pool_threads(const gptoss_pool *pool);
/* Runs fn(ctx, i, thread) for every i in [0, n_tasks) and returns when all are done. */
void gptoss_pool_run(gptoss_pool *pool, int64_t n_tasks, gptoss_task_fn fn, void *ctx);

#endif
