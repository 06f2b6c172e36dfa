/* threadpool.c: see threadpool.h.
 *
 * Workers wait for the generation counter to move, then claim task indices from a shared
 * atomic counter until none are left; the caller waits for the busy count to reach zero.
 * Both wait by spinning briefly first (a decode step runs a few hundred short parallel
 * loops, and a sleep + wake-up costs tens of microseconds each time), then sleep on a
 * condition variable. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util.h"

typedef struct {
    struct gptoss_pool *pool;
    int index;
} worker_arg;

struct gptoss_pool {
    int n_threads; /* including the caller */
    pthread_t *workers;
    worker_arg *args;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint_fast64_t generation; /* bumped for every run (under mu) */
    atomic_int busy;                 /* workers still inside the current run */
    int quit;
    /* the current run */
    gptoss_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_int_fast64_t next;
};

static void work(gptoss_pool *p, int thread) {
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n_tasks) return;
        p->fn(p->ctx, i, thread);
    }
}

/* Rounds of waiting before sleeping: each a few pause instructions then sched_yield(), so
 * a waiting thread hands its core to any thread that has work (the machine may run more
 * threads than cores) and otherwise sees the change within about a microsecond. */
enum { SPIN = 200 };

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    for (int i = 0; i < 16; i++) __builtin_ia32_pause();
#endif
    sched_yield();
}

static void *worker_main(void *arg) {
    gptoss_pool *p = ((worker_arg *)arg)->pool;
    int thread = ((worker_arg *)arg)->index;
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN && atomic_load(&p->generation) == seen; i++) cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (!p->quit && atomic_load(&p->generation) == seen) pthread_cond_wait(&p->wake, &p->mu);
        int quit = p->quit;
        seen = atomic_load(&p->generation);
        pthread_mutex_unlock(&p->mu);
        if (quit) break;
        work(p, thread);
        if (atomic_fetch_sub(&p->busy, 1) == 1) { /* the last one out wakes the caller */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

gptoss_pool *gptoss_pool_create(int n_threads) {
    if (n_threads <= 0) n_threads = gptoss_ncpu();
    if (n_threads <= 0) n_threads = 1;
    gptoss_pool *p = calloc(1, sizeof *p);
    if (!p) {
        gptoss_error(GPTOSS_ERR_NOMEM, "thread pool: out of memory");
        return NULL;
    }
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    atomic_init(&p->generation, 0);
    atomic_init(&p->busy, 0);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        p->args = calloc((size_t)n_threads - 1, sizeof *p->args);
        if (!p->workers || !p->args) {
            gptoss_pool_destroy(p);
            gptoss_error(GPTOSS_ERR_NOMEM, "thread pool: out of memory");
            return NULL;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            p->args[i] = (worker_arg){p, i + 1};
            if (pthread_create(&p->workers[i], NULL, worker_main, &p->args[i]) != 0) {
                p->n_threads = i + 1; /* the ones started, plus the caller */
                gptoss_pool_destroy(p);
                gptoss_error(GPTOSS_ERR_NOMEM, "thread pool: cannot start %d threads", n_threads);
                return NULL;
            }
        }
    }
    return p;
}

void gptoss_pool_destroy(gptoss_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    if (p->workers)
        for (int i = 0; i < p->n_threads - 1; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
    free(p->args);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int gptoss_pool_threads(const gptoss_pool *p) { return p->n_threads; }

void gptoss_pool_run(gptoss_pool *p, int64_t n_tasks, gptoss_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int64_t i = 0; i < n_tasks; i++) fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->busy, p->n_threads - 1);
    atomic_fetch_add(&p->generation, 1); /* publishes the run to spinning workers */
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    work(p, 0);
    for (int i = 0; i < SPIN && atomic_load(&p->busy) > 0; i++) cpu_relax();
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->busy) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
