/* bench_onnx_engine.c: the C engine's side of bench/bench_onnx.sh.
 *
 *   bench_onnx_engine -m DIR [--max-layers N] [--sequence-length S] [--reps R] [--threads T]
 *                     [--logits FILE]
 *
 * Opens the checkpoint, runs gptoss_forward on S token ids (the same ids bench_onnx.sh
 * gives ONNX Runtime: i * 7919 % vocab), one warm-up then R timed runs, and prints
 *   engine_load_s=<open time> engine_median_s=<median forward time> engine_min_s=<min>
 * for the script to put next to ONNX Runtime's figures; --logits FILE also writes the
 * logits [S, vocab] as raw little-endian float32, for the script's parity check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptoss.h"
#include "util.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *dir = NULL, *logits_path = NULL;
    int max_layers = 0, S = 32, reps = 5, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--max-layers")) max_layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--sequence-length")) S = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--logits")) logits_path = argv[i + 1];
    }
    if (!dir || S < 1 || reps < 1 || reps > 1000) {
        fprintf(stderr, "usage: bench_onnx_engine -m DIR [--max-layers N] [--sequence-length S] [--reps R] [--threads T]\n");
        return 2;
    }
    double t0 = gptoss_now();
    gptoss_open_options oo = {.max_layers = max_layers};
    gptoss_model *m = NULL;
    if (gptoss_model_open(dir, &oo, &m) != GPTOSS_OK) {
        fprintf(stderr, "bench_onnx_engine: %s\n", gptoss_last_error());
        return 1;
    }
    double load = gptoss_now() - t0;
    int vocab = gptoss_model_config(m)->vocab_size;
    int32_t *ids = malloc((size_t)S * sizeof *ids);
    float *logits = malloc((size_t)S * (size_t)vocab * sizeof *logits);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!ids || !logits || !t) return 1;
    for (int i = 0; i < S; i++) ids[i] = (int32_t)((int64_t)i * 7919 % vocab);
    gptoss_forward_options fo = {.n_threads = threads};
    int rc = 0;
    for (int r = -1; r < reps && !rc; r++) {
        double s = gptoss_now();
        if (gptoss_forward(m, ids, S, &fo, logits) != GPTOSS_OK) {
            fprintf(stderr, "bench_onnx_engine: %s\n", gptoss_last_error());
            rc = 1;
        }
        if (r >= 0) t[r] = gptoss_now() - s;
    }
    if (!rc) {
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        printf("engine_load_s=%.3f engine_median_s=%.4f engine_min_s=%.4f\n", load, t[reps / 2], t[0]);
        FILE *f = logits_path ? fopen(logits_path, "wb") : NULL;
        if (logits_path && (!f || fwrite(logits, sizeof(float), (size_t)S * (size_t)vocab, f) != (size_t)S * (size_t)vocab)) {
            fprintf(stderr, "bench_onnx_engine: %s: cannot write\n", logits_path);
            rc = 1;
        }
        if (f && fclose(f) != 0) rc = 1;
    }
    free(ids);
    free(logits);
    free(t);
    gptoss_model_close(m);
    return rc;
}
