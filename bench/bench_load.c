/* bench_load.c: in-process time of gptoss_model_open + gptoss_model_close on a checkpoint
 * folder (mmap, header validation, small-vector conversion), repeated; no process start.
 *
 *   bench_load DIR [--runs N] [--max-layers N]
 *
 * Prints min / median / max seconds, the mapped size and the peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "util.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: bench_load DIR [--runs N] [--max-layers N]\n");
        return argc < 2 ? 2 : 0;
    }
    int runs = 20;
    gptoss_open_options opt = {0};
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-layers")) opt.max_layers = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_load: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (runs < 1 || runs > 100000) {
        fprintf(stderr, "bench_load: --runs must be 1..100000\n");
        return 2;
    }
    double *t = malloc((size_t)runs * sizeof *t);
    size_t mapped = 0, n_tensors = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = gptoss_now();
        gptoss_model *m = NULL;
        if (gptoss_model_open(argv[1], &opt, &m) != GPTOSS_OK) {
            fprintf(stderr, "bench_load: %s\n", gptoss_last_error());
            free(t);
            return 1;
        }
        t[r] = gptoss_now() - t0;
        mapped = 0;
        for (size_t f = 0; f < m->n_files; f++) mapped += m->files[f]->size;
        n_tensors = m->n_tensors;
        gptoss_model_close(m);
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    printf("open+validate %s: min %.4f s, median %.4f s, max %.4f s over %d runs; %zu tensors, %.2f GB mapped, "
           "peak RSS %.0f MB\n",
           argv[1], t[0], t[runs / 2], t[runs - 1], runs, n_tensors, (double)mapped / 1e9,
           (double)gptoss_peak_rss() / 1e6);
    free(t);
    return 0;
}
