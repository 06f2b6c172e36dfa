/* bench_kernels.c: the matrix kernels alone, one thread, every kernel set this CPU runs:
 *
 *   bench_kernels [--reps N] [--kernels portable,avx2,avx512]
 *
 * For each set and each weight format (MXFP4 as the experts store it, BF16 as attention and
 * the unembedding do) it times a matrix-vector product (T = 1, decode) and a 4-token product
 * (prefill's typical expert tile) on the gpt-oss-20b shapes (MXFP4: the first expert matrix,
 * 5760 x 2880; BF16: the output projection, 2880 x 4096), twice:
 *   - in cache: the first 64 rows, again and again (what the arithmetic costs);
 *   - from memory: 16 such matrices in turn (over 130 MB, past any cache here).
 * Prints one JSON line per measurement: weight bytes read per second (GB/s), ns per 32
 * weights (one MXFP4 block), GFLOP/s, the best of --reps (default 9), and the speed-up over
 * the portable set measured in the same run (when it runs). The maximum difference of the
 * outputs from the portable set's is printed too, so a fast but wrong kernel shows at once.
 * The kernel figures in the README's speed section come from here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "util.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) { return xorshift_next(&rng); }

enum { MXFP4, BF16 };
enum { NMAT = 16, HOT_ROWS = 64, TMAX = 4 };

typedef struct {
    int fmt;
    int64_t out, in;
    size_t mat_bytes;  /* weights (+ scales) of one matrix */
    uint8_t *w;        /* NMAT matrices, back to back */
    uint8_t *scales;   /* MXFP4: NMAT scale arrays */
} weights;

static void *xalloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void weights_init(weights *W, int fmt, int64_t out, int64_t in) {
    W->fmt = fmt, W->out = out, W->in = in;
    size_t wb = fmt == MXFP4 ? (size_t)(out * in / 2) : (size_t)(out * in * 2);
    size_t sb = fmt == MXFP4 ? (size_t)(out * in / 32) : 0;
    W->mat_bytes = wb + sb;
    W->w = xalloc(wb * NMAT);
    W->scales = sb ? xalloc(sb * NMAT) : NULL;
    if (fmt == MXFP4) {
        for (size_t i = 0; i < wb * NMAT; i++) W->w[i] = (uint8_t)next_u32();
        for (size_t i = 0; i < sb * NMAT; i++) W->scales[i] = (uint8_t)(120 + next_u32() % 8);
    } else {
        uint16_t *h = (uint16_t *)W->w;
        for (size_t i = 0; i < wb / 2 * NMAT; i++)
            h[i] = f32_to_bf16((float)(next_u32() % 2001) / 1000.0f - 1.0f);
    }
}

static gptoss_mm matrix(const weights *W, int i, int64_t out, const float *xp, float *y, int T) {
    gptoss_mm m = {.y = y, .ldy = out, .x = xp, .ldx = W->in, .T = T, .in = W->in};
    if (W->fmt == MXFP4) {
        m.w = W->w + (size_t)i * (size_t)(W->out * W->in / 2);
        m.ldw = W->in / 2;
        m.scales = W->scales + (size_t)i * (size_t)(W->out * W->in / 32);
    } else {
        m.w = W->w + (size_t)i * (size_t)(W->out * W->in * 2);
        m.ldw = W->in;
    }
    return m;
}

/* Best seconds of reps for one pass: hot = the first HOT_ROWS rows of matrix 0, 200 times;
 * cold = all rows of each of the NMAT matrices once. Returns the weight bytes of a pass. */
static double time_pass(const gptoss_kernels *k, const weights *W, const float *xp, float *y, int T, int hot,
                        int reps, double *best) {
    void (*fn)(const gptoss_mm *, int64_t, int64_t) = W->fmt == MXFP4 ? k->matmul_mxfp4 : k->matmul_bf16;
    const double row_bytes = (double)W->mat_bytes / (double)W->out;
    double bytes = hot ? 200.0 * HOT_ROWS * row_bytes : (double)NMAT * (double)W->mat_bytes;
    *best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = gptoss_now();
        if (hot) {
            gptoss_mm m = matrix(W, 0, HOT_ROWS, xp, y, T);
            for (int i = 0; i < 200; i++) fn(&m, 0, HOT_ROWS);
        } else {
            for (int i = 0; i < NMAT; i++) {
                gptoss_mm m = matrix(W, i, W->out, xp, y, T);
                fn(&m, 0, W->out);
            }
        }
        double dt = gptoss_now() - t0;
        if (dt < *best) *best = dt;
    }
    return bytes;
}

int main(int argc, char **argv) {
    int reps = 9;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_kernels [--reps N] [--kernels portable,avx2,avx512]\n");
            return 2;
        }
    }
    if (reps < 1) {
        fprintf(stderr, "bench_kernels: --reps must be at least 1\n");
        return 2;
    }
    weights Ws[2];
    weights_init(&Ws[MXFP4], MXFP4, 5760, 2880);
    weights_init(&Ws[BF16], BF16, 2880, 4096);
    const char *names[3] = {"portable", "avx2", "avx512"};
    for (int f = 0; f < 2; f++) {
        const weights *W = &Ws[f];
        float *x = xalloc(sizeof(float) * TMAX * (size_t)W->in);
        float *xp = xalloc(sizeof(float) * TMAX * (size_t)W->in);
        float *y = xalloc(sizeof(float) * TMAX * (size_t)W->out);
        float *y_ref = xalloc(sizeof(float) * TMAX * (size_t)W->out);
        for (int64_t i = 0; i < TMAX * W->in; i++) x[i] = (float)(next_u32() % 2001) / 1000.0f - 1.0f;
        for (int T = 1; T <= TMAX; T += TMAX - 1) {
            double portable_s[2] = {0, 0}; /* [hot] */
            for (int s = 0; s < 3; s++) {
                if (only && !strstr(only, names[s])) continue;
                const gptoss_kernels *k = gptoss_kernels_by_name(names[s]);
                if (!k) continue;
                for (int t = 0; t < T; t++)
                    (f == MXFP4 ? k->mxfp4_prepare_x : k->bf16_prepare_x)(xp + t * W->in, x + t * W->in, W->in);
                /* correctness against the portable set, on matrix 0 */
                const gptoss_kernels *p = &gptoss_kernels_portable;
                float *xr = xalloc(sizeof(float) * TMAX * (size_t)W->in);
                for (int t = 0; t < T; t++)
                    (f == MXFP4 ? p->mxfp4_prepare_x : p->bf16_prepare_x)(xr + t * W->in, x + t * W->in, W->in);
                gptoss_mm mr = matrix(W, 0, W->out, xr, y_ref, T), mk = matrix(W, 0, W->out, xp, y, T);
                (f == MXFP4 ? p->matmul_mxfp4 : p->matmul_bf16)(&mr, 0, W->out);
                (f == MXFP4 ? k->matmul_mxfp4 : k->matmul_bf16)(&mk, 0, W->out);
                double maxdiff = 0;
                for (int64_t i = 0; i < T * W->out; i++) maxdiff = fmax(maxdiff, fabs((double)y[i] - y_ref[i]));
                free(xr);
                for (int hot = 1; hot >= 0; hot--) {
                    double best, bytes = time_pass(k, W, xp, y, T, hot, reps, &best);
                    double weights_n = bytes / ((double)W->mat_bytes / (double)(W->out * W->in));
                    if (s == 0) portable_s[hot] = best;
                    char speedup[48] = "";
                    if (portable_s[hot] > 0)
                        snprintf(speedup, sizeof speedup, ", \"speedup_vs_portable\": %.2f", portable_s[hot] / best);
                    printf("{\"kernels\": \"%s\", \"format\": \"%s\", \"T\": %d, \"where\": \"%s\", "
                           "\"GB_per_s\": %.2f, \"ns_per_32_weights\": %.3f, \"GFLOP_per_s\": %.1f%s, "
                           "\"max_diff_vs_portable\": %.3g}\n",
                           names[s], f == MXFP4 ? "mxfp4" : "bf16", T, hot ? "cache" : "memory", bytes / best / 1e9,
                           best / (weights_n / 32) * 1e9, 2.0 * weights_n * T / best / 1e9, speedup, maxdiff);
                    fflush(stdout);
                }
            }
        }
        free(x), free(xp), free(y), free(y_ref);
    }
    return 0;
}
