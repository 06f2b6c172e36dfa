/* bench_forward.c: the forward pass of one checkpoint, timed, with the machine's limits
 * measured in the same run:
 *
 *   bench_forward -m DIR [--tokens IDS] [--sequence-length N] [--threads N] [--reps N]
 *   bench_forward --bandwidth-only [--threads N]
 *
 * Prints one JSON object: wall seconds per forward (min and median of --reps after one
 * warm-up), CPU seconds per forward (all threads), peak RSS, the bytes of weights a forward
 * reads (the embedding rows used, every dense matrix, the packed experts the routing
 * selected, the unembedding), the floating-point operations it performs (2 per
 * multiply-add), and the two limits: memory bandwidth (a streaming read of a 1 GiB buffer
 * by every thread) and the FMA peak (independent fused multiply-adds on every thread, with
 * the widest vectors the CPU has). The fractions reported are bytes / bandwidth / time
 * (how close the forward comes to being memory-bound) and achieved GFLOP/s / peak; the
 * latter also per CPU-second (flops / CPU seconds of the forward over flops / CPU seconds
 * of the FMA loop), which stays meaningful when other processes share the cores.
 * --bandwidth-only prints the memory bandwidth alone, {"threads", "bandwidth_bytes_per_s"},
 * for the benchmarks that compare with another engine (bench_llamacpp.sh). */
#include <time.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine.h"
#include "gptoss.h"
#include "util.h"

static double cpu_seconds(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + (double)r.ru_stime.tv_sec +
           r.ru_stime.tv_usec * 1e-6;
}

/* ---- limits ------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *buf;
    size_t n;
    uint64_t sum;
    double flops, cpu; /* cpu: this thread's CPU seconds */
} probe;

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    return (uint64_t)_mm256_extract_epi64(a, 0) + (uint64_t)_mm256_extract_epi64(a, 3);
}

static void *read_main(void *arg) {
    probe *p = arg;
    if (__builtin_cpu_supports("avx2")) {
        p->sum = read_avx2(p->buf, p->n);
    } else {
        const uint64_t *q = (const uint64_t *)(const void *)p->buf;
        uint64_t s = 0;
        for (size_t i = 0; i < p->n / 8; i++) s += q[i];
        p->sum = s;
    }
    return NULL;
}

enum { FMA_ITERS = 20000000 };

__attribute__((target("avx512f"))) static double fma_avx512(void) {
    __m512 a[16], m = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < FMA_ITERS; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], m, b);
    }
    float s = 0;
    for (int i = 0; i < 16; i++) s += _mm512_reduce_add_ps(a[i]);
    return s != 12345.f ? 16.0 * 32 * FMA_ITERS : 0; /* keep the result alive */
}

__attribute__((target("avx2,fma"))) static double fma_avx2(void) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < FMA_ITERS; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, b);
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm256_cvtss_f32(a[i]);
    return s != 12345.f ? 12.0 * 16 * FMA_ITERS : 0;
}

static void *fma_main(void *arg) {
    probe *p = arg;
    double c0 = thread_cpu();
    const char *k = gptoss_kernels_select() ? gptoss_kernels_select()->name : "portable";
    if (!strcmp(k, "avx512")) p->flops = fma_avx512();
    else if (!strcmp(k, "avx2")) p->flops = fma_avx2();
    else p->flops = 0;
    p->cpu = thread_cpu() - c0;
    return NULL;
}

/* Runs fn on n threads at once; returns the wall seconds. */
static double on_threads(int n, void *(*fn)(void *), probe *ps) {
    pthread_t *th = calloc((size_t)n, sizeof *th);
    double t0 = gptoss_now();
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, fn, &ps[i]);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    free(th);
    return gptoss_now() - t0;
}

static double bandwidth(int n_threads) {
    const size_t total = (size_t)1 << 30, per = total / (size_t)n_threads & ~(size_t)127;
    uint8_t *buf = aligned_alloc(64, total);
    if (!buf) return 0;
    memset(buf, 1, total);
    probe *ps = calloc((size_t)n_threads, sizeof *ps);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < n_threads; i++) ps[i] = (probe){.buf = buf + per * (size_t)i, .n = per};
        double t = on_threads(n_threads, read_main, ps);
        double bw = (double)per * n_threads / t;
        best = bw > best ? bw : best;
    }
    free(ps);
    free(buf);
    return best;
}

/* The FMA peak of n threads by wall time, and per CPU-second (*per_cpu_s). */
static double fma_peak(int n_threads, double *per_cpu_s) {
    probe *ps = calloc((size_t)n_threads, sizeof *ps);
    double t = on_threads(n_threads, fma_main, ps), flops = 0, cpu = 0;
    for (int i = 0; i < n_threads; i++) {
        flops += ps[i].flops;
        cpu += ps[i].cpu;
    }
    free(ps);
    *per_cpu_s = cpu > 0 ? flops / cpu : 0;
    return flops / t;
}

/* ---- what a forward reads and computes ----------------------------------------------- */

typedef struct {
    int n_layers, E;
    unsigned char used[256][256]; /* [layer][expert] selected by some token */
} routing;

static void routing_tap(void *user, const char *name, gptoss_dtype dtype, int ndim,
                        const int64_t *shape, const void *data) {
    routing *r = user;
    int layer;
    if (sscanf(name, "block%d.mlp_expert_indices", &layer) != 1 || !strstr(name, "indices")) return;
    const int64_t *idx = data;
    for (int64_t i = 0; i < shape[0] * shape[1]; i++)
        if (layer < 256 && idx[i] < 256) r->used[layer][idx[i]] = 1;
}

static double mat_bytes(const gptoss_mat *m) { return (double)m->rows * m->cols * gptoss_dtype_size(m->dtype); }

int main(int argc, char **argv) {
    const char *dir = NULL, *tokens = "4827,382,290,9029,328,10128,30";
    int seq = 32, threads = 0, reps = 3, bandwidth_only = 0;
    static const char *USAGE = "usage: bench_forward -m DIR [--tokens IDS] [--sequence-length N] [--threads N] [--reps N]\n"
                               "       bench_forward --bandwidth-only [--threads N]\n";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bandwidth-only")) {
            bandwidth_only = 1;
            continue;
        }
        if (i + 1 == argc) {
            fprintf(stderr, "bench_forward: %s needs a value\n%s", argv[i], USAGE);
            return 2;
        }
        if (!strcmp(argv[i], "-m")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--tokens")) tokens = argv[i + 1];
        else if (!strcmp(argv[i], "--sequence-length")) seq = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_forward: unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (bandwidth_only) {
        if (threads <= 0) threads = gptoss_ncpu();
        printf("{\"threads\": %d, \"bandwidth_bytes_per_s\": %.4g}\n", threads, bandwidth(threads));
        return 0;
    }
    if (!dir || seq < 1 || reps < 1) {
        fputs(USAGE, stderr);
        return 2;
    }
    int32_t ids[4096];
    int n = 0;
    for (const char *p = tokens; *p && n < 4096;) {
        ids[n++] = (int32_t)strtol(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    if (seq < n) seq = n;
    for (int i = n; i < seq && i < 4096; i++) ids[i] = 199999;
    if (threads <= 0) threads = gptoss_ncpu();

    gptoss_model *m = NULL;
    if (gptoss_model_open(dir, NULL, &m)) {
        fprintf(stderr, "bench_forward: %s\n", gptoss_last_error());
        return 1;
    }
    const gptoss_config *c = gptoss_model_config(m);
    float *logits = malloc(sizeof(float) * (size_t)seq * (size_t)c->vocab_size);
    routing *r = calloc(1, sizeof *r);
    gptoss_forward_options o = {.n_threads = threads, .tap = routing_tap, .tap_user = r};
    double t0 = gptoss_now();
    if (gptoss_forward(m, ids, seq, &o, logits)) { /* warm-up: pages in, routing seen */
        fprintf(stderr, "bench_forward: %s\n", gptoss_last_error());
        return 1;
    }
    double first = gptoss_now() - t0;
    o.tap = NULL;
    double *wall = malloc(sizeof(double) * (size_t)reps), cpu = 0;
    for (int i = 0; i < reps; i++) {
        double c0 = cpu_seconds();
        t0 = gptoss_now();
        gptoss_forward(m, ids, seq, &o, logits);
        wall[i] = gptoss_now() - t0;
        cpu += cpu_seconds() - c0;
    }
    for (int i = 0; i < reps; i++) /* sort */
        for (int j = i + 1; j < reps; j++)
            if (wall[j] < wall[i]) {
                double t = wall[i];
                wall[i] = wall[j];
                wall[j] = t;
            }
    size_t rss = gptoss_peak_rss();

    /* bytes and flops of one forward */
    const int64_t H = c->hidden_size, I = c->intermediate_size, K = c->experts_per_token;
    double bytes = (double)seq * H * gptoss_dtype_size(m->embedding.dtype) + mat_bytes(&m->unembedding);
    double flops = 2.0 * seq * (double)m->unembedding.rows * m->unembedding.cols;
    for (int l = 0; l < m->n_layers; l++) {
        const gptoss_block *b = &m->blocks[l];
        const gptoss_mat *mats[] = {&b->wq, &b->wk, &b->wv, &b->wo, &b->wgate};
        for (int i = 0; i < 5; i++) {
            bytes += mat_bytes(mats[i]);
            flops += 2.0 * seq * (double)mats[i]->rows * mats[i]->cols;
        }
        for (int e = 0; e < c->num_experts && e < 256; e++)
            if (r->used[l][e]) bytes += (2.0 * I * H + (double)H * I) * (0.5 + 1.0 / 32);
        flops += 2.0 * seq * K * (2.0 * I * H + (double)H * I);
        int window = l % 2 == 0 ? c->sliding_window : 0;
        for (int i = 0; i < seq; i++) {
            int keys = window > 0 && i + 1 > window ? window : i + 1;
            flops += 4.0 * c->head_dim * keys * c->num_attention_heads;
        }
    }
    double peak_cpu = 0, bw = bandwidth(threads), peak = fma_peak(threads, &peak_cpu);
    double med = wall[reps / 2];
    const gptoss_kernels *k = gptoss_kernels_select();
    printf("{\"checkpoint\": \"%s\", \"tokens\": %d, \"layers\": %d, \"kernels\": \"%s\", "
           "\"threads\": %d,\n \"first_forward_s\": %.4f, \"wall_min_s\": %.4f, \"wall_median_s\": %.4f, "
           "\"cpu_s_per_forward\": %.4f, \"peak_rss_bytes\": %zu,\n \"weight_bytes_read\": %.0f, "
           "\"gflop\": %.3f, \"gflops_achieved\": %.2f,\n \"bandwidth_bytes_per_s\": %.4g, "
           "\"fma_peak_gflops\": %.2f, \"fma_peak_gflop_per_cpu_s\": %.2f,\n"
           " \"memory_bound_fraction\": %.4f, \"compute_fraction\": %.4f, "
           "\"compute_fraction_per_cpu_s\": %.4f}\n",
           dir, seq, m->n_layers, k ? k->name : "?", threads, first, wall[0], med, cpu / reps, rss, bytes,
           flops / 1e9, flops / med / 1e9, bw, peak / 1e9, peak_cpu / 1e9, bytes / bw / med, flops / med / peak,
           (flops / (cpu / reps)) / peak_cpu);
    free(wall);
    free(r);
    free(logits);
    gptoss_model_close(m);
    return 0;
}
