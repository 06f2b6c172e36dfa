/* bench_tokenizer.c: o200k_harmony throughput, in process, one thread.
 *
 *   bench_tokenizer CORPUS [--runs N] [--ids OUT]
 *
 * Times gptoss_tokenizer_open (vocabulary load: read, SHA-256, parse, hash table, pattern
 * JIT) and gptoss_tokenizer_encode of the whole corpus (ordinary text), and the same
 * encoding with the ASCII scanner off (PCRE2 for every piece). N runs each after one
 * warm-up; prints one JSON line: min and median wall times, and min thread CPU times
 * (the work itself, which a busy machine does not inflate as much). --ids writes the ids (one per
 * line) for bench/bench_tokenizer.py to compare with tiktoken. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer_internal.h"
#include "util.h"

/* CPU seconds of this thread: on a busy machine, the work done, without the waits */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: bench_tokenizer CORPUS [--runs N] [--ids OUT]\n");
        return argc < 2 ? 2 : 0;
    }
    int runs = 5;
    const char *ids_out = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ids") && i + 1 < argc) ids_out = argv[++i];
        else {
            fprintf(stderr, "bench_tokenizer: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (runs < 1 || runs > 1000) runs = 5;
    size_t len;
    char *text = gptoss_read_file(argv[1], &len);
    if (!text) {
        fprintf(stderr, "bench_tokenizer: %s\n", gptoss_last_error());
        return 1;
    }
    double *load = calloc((size_t)runs + 1, sizeof *load), *enc = calloc((size_t)runs + 1, sizeof *enc),
           *pcre = calloc((size_t)runs + 1, sizeof *pcre), *cpu = calloc((size_t)runs + 1, sizeof *cpu),
           *lcpu = calloc((size_t)runs + 1, sizeof *lcpu);
    gptoss_tokenizer *tok = NULL;
    for (int r = 0; r <= runs; r++) { /* run 0 warms up */
        if (tok) gptoss_tokenizer_close(tok);
        double t0 = gptoss_now(), c0 = cpu_now();
        if (gptoss_tokenizer_open(NULL, &tok)) {
            fprintf(stderr, "bench_tokenizer: %s\n", gptoss_last_error());
            return 1;
        }
        load[r] = gptoss_now() - t0;
        lcpu[r] = cpu_now() - c0;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    for (int r = 0; r <= runs; r++) {
        free(ids);
        double t0 = gptoss_now(), c0 = cpu_now();
        if (gptoss_tokenizer_encode(tok, text, len, 0, &ids, &n)) {
            fprintf(stderr, "bench_tokenizer: %s: %s\n", argv[1], gptoss_last_error());
            return 1;
        }
        enc[r] = gptoss_now() - t0;
        cpu[r] = cpu_now() - c0;
    }
    for (int r = 0; r <= runs; r++) {
        idvec out = {0};
        pretok_ctx ctx = {.force_pcre2 = 1};
        double t0 = cpu_now();
        tok_encode_ordinary(tok, &ctx, (const uint8_t *)text, len, &out);
        pcre[r] = cpu_now() - t0;
        if (out.n != n || memcmp(out.v, ids, n * sizeof *ids)) {
            fprintf(stderr, "bench_tokenizer: the PCRE2-only encoding differs\n");
            return 1;
        }
        free(out.v);
        pretok_ctx_free(&ctx);
    }
    if (ids_out) {
        FILE *f = fopen(ids_out, "w");
        for (size_t k = 0; f && k < n; k++) fprintf(f, "%d\n", (int)ids[k]);
        if (!f || fclose(f)) {
            fprintf(stderr, "bench_tokenizer: %s: cannot write\n", ids_out);
            return 1;
        }
    }
    double mb = (double)len / 1e6;
    /* medians sort in place: take the minimums first */
    double lmin = load[1], lcmin = lcpu[1], emin = enc[1], cmin = cpu[1], pmin = pcre[1];
    for (int r = 1; r <= runs; r++) {
        lmin = load[r] < lmin ? load[r] : lmin;
        lcmin = lcpu[r] < lcmin ? lcpu[r] : lcmin;
        emin = enc[r] < emin ? enc[r] : emin;
        cmin = cpu[r] < cmin ? cpu[r] : cmin;
        pmin = pcre[r] < pmin ? pcre[r] : pmin;
    }
    printf("{\"bytes\": %zu, \"tokens\": %zu, \"runs\": %d, \"load_ms_min\": %.2f, \"load_ms_median\": %.2f, "
           "\"load_cpu_ms_min\": %.2f, \"encode_s_min\": %.4f, \"encode_s_median\": %.4f, "
           "\"encode_mb_s\": %.2f, \"encode_cpu_mb_s\": %.2f, \"pcre2_only_cpu_mb_s\": %.2f}\n",
           len, n, runs, lmin * 1e3, median(load + 1, runs) * 1e3, lcmin * 1e3, emin,
           median(enc + 1, runs), mb / emin, mb / cmin, mb / pmin);
    free(ids);
    free(text);
    free(load);
    free(enc);
    free(pcre);
    free(cpu);
    free(lcpu);
    gptoss_tokenizer_close(tok);
    return 0;
}
