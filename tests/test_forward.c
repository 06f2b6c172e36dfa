/* test_forward.c: the forward pass on a small random model built in memory (no checkpoint
 * files), against an independent double-precision implementation of the numerics written
 * here straight from the model's definition, for every kernel set the CPU runs; plus the
 * properties the engine promises:
 *   - logits are bit-identical for any thread count;
 *   - real positions are bit-identical with and without padding appended after them;
 *   - taps follow forward_stages() (names, dtypes, shapes, order) and change nothing;
 *   - bad token ids are refused with an error, not a crash. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

#define CHECK_STOP_AFTER 20
#include "check.h"

#include "random_model.h"

/* ---- the reference, in double, from the definition ------------------------------------ */

static double mat_at(const gptoss_mat *w, int64_t r, int64_t c) {
    if (w->dtype == GPTOSS_DT_BF16) return bf16_to_f32(((const uint16_t *)w->data)[r * w->stride + c]);
    return ((const float *)w->data)[r * w->stride + c];
}
static double mx_at(const gptoss_mxfp4 *w, int e, int64_t r, int64_t c) {
    static const double fp4[16] = {0, .5, 1, 1.5, 2, 3, 4, 6, -0., -.5, -1, -1.5, -2, -3, -4, -6};
    int64_t row = (int64_t)e * w->rows + r;
    uint8_t byte = w->blocks[row * (w->cols / 2) + c / 2];
    return ldexp(fp4[c % 2 ? byte >> 4 : byte & 15], w->scales[row * (w->cols / 32) + c / 32] - 127);
}
static void ref_linear(double *y, const double *x, const gptoss_mat *w, const float *b) {
    for (int64_t o = 0; o < w->rows; o++) {
        double s = b ? b[o] : 0;
        for (int64_t i = 0; i < w->cols; i++) s += mat_at(w, o, i) * x[i];
        y[o] = s;
    }
}
static void ref_rms(double *y, const double *x, const float *scale) {
    double ss = 0;
    for (int i = 0; i < H; i++) ss += x[i] * x[i];
    double r = 1 / sqrt(ss / H + 1e-5);
    for (int i = 0; i < H; i++) y[i] = x[i] * r * scale[i];
}

static void reference(const gptoss_model *m, const int32_t *tok, int T, double *logits) {
    static double x[64][H], t[64][H], q[64][NH * D], k[64][NKV * D], v[64][NKV * D], o[64][NH * D];
    const double conc = 0.1 * log(32.0) + 1.0;
    const double low = (D / 2) * log(4096 / (32 * 2 * M_PI)) / log(150000.0);
    const double high = (D / 2) * log(4096 / (1 * 2 * M_PI)) / log(150000.0);
    for (int p = 0; p < T; p++)
        for (int i = 0; i < H; i++) x[p][i] = mat_at(&m->embedding, tok[p], i);
    for (int l = 0; l < L; l++) {
        const gptoss_block *b = &m->blocks[l];
        for (int p = 0; p < T; p++) {
            ref_rms(t[p], x[p], b->attn_norm);
            ref_linear(q[p], t[p], &b->wq, b->bq);
            ref_linear(k[p], t[p], &b->wk, b->bk);
            ref_linear(v[p], t[p], &b->wv, b->bv);
            for (int i = 0; i < D / 2; i++) { /* YaRN RoPE on q and k */
                double freq = pow(150000.0, 2.0 * i / D);
                double ramp = fmin(fmax((i - low) / (high - low), 0), 1);
                double inv = (1 / (32 * freq)) * ramp + (1 / freq) * (1 - ramp);
                double c = cos(p * inv) * conc, s = sin(p * inv) * conc;
                for (int h = 0; h < NH + NKV; h++) {
                    double *z = h < NH ? q[p] + h * D : k[p] + (h - NH) * D;
                    double a = z[i], bb = z[i + D / 2];
                    z[i] = a * c - bb * s;
                    z[i + D / 2] = bb * c + a * s;
                }
            }
        }
        for (int p = 0; p < T; p++)
            for (int h = 0; h < NH; h++) {
                int kv = h / (NH / NKV), j0 = (l % 2 == 0 && p - WIN + 1 > 0) ? p - WIN + 1 : 0;
                double s[64], mx = b->sinks[h];
                for (int j = j0; j <= p; j++) {
                    s[j] = 0;
                    for (int c = 0; c < D; c++) s[j] += q[p][h * D + c] * k[j][kv * D + c];
                    s[j] /= sqrt((double)D);
                    mx = fmax(mx, s[j]);
                }
                double den = exp(b->sinks[h] - mx);
                for (int j = j0; j <= p; j++) den += exp(s[j] - mx);
                for (int c = 0; c < D; c++) {
                    double acc = 0;
                    for (int j = j0; j <= p; j++) acc += exp(s[j] - mx) / den * v[j][kv * D + c];
                    o[p][h * D + c] = acc;
                }
            }
        for (int p = 0; p < T; p++) {
            double y[H];
            ref_linear(y, o[p], &b->wo, b->bo);
            for (int i = 0; i < H; i++) x[p][i] += y[i];
            ref_rms(t[p], x[p], b->mlp_norm);
            double g[E];
            ref_linear(g, t[p], &b->wgate, b->bgate);
            int idx[K];
            for (int s2 = 0; s2 < K; s2++) {
                int best = -1;
                for (int e = 0; e < E; e++) {
                    int taken = 0;
                    for (int u = 0; u < s2; u++) taken |= idx[u] == e;
                    if (!taken && (best < 0 || g[e] > g[best])) best = e;
                }
                idx[s2] = best;
            }
            double den = 0;
            for (int s2 = 0; s2 < K; s2++) den += exp(g[idx[s2]] - g[idx[0]]);
            for (int s2 = 0; s2 < K; s2++) {
                int e = idx[s2];
                double w = exp(g[e] - g[idx[0]]) / den, hh[2 * I], a[I];
                for (int r = 0; r < 2 * I; r++) {
                    hh[r] = b->b1[e * 2 * I + r];
                    for (int c = 0; c < H; c++) hh[r] += mx_at(&b->mlp1, e, r, c) * t[p][c];
                }
                for (int r = 0; r < I; r++) {
                    double glu = fmin(hh[2 * r], 7.0), lin = fmin(fmax(hh[2 * r + 1], -7.0), 7.0);
                    a[r] = glu / (1 + exp(-1.702 * glu)) * (lin + 1);
                }
                for (int r = 0; r < H; r++) {
                    double yy = b->b2[e * H + r];
                    for (int c = 0; c < I; c++) yy += mx_at(&b->mlp2, e, r, c) * a[c];
                    x[p][r] += w * yy;
                }
            }
        }
    }
    for (int p = 0; p < T; p++) {
        ref_rms(t[p], x[p], m->norm);
        ref_linear(logits + (int64_t)p * V, t[p], &m->unembedding, NULL);
    }
}

/* ---- taps ------------------------------------------------------------------------------ */

typedef struct {
    char name[96];
    gptoss_dtype dtype;
    int ndim;
    int64_t shape[4];
} stage;
typedef struct {
    stage s[128];
    int n, got, bad;
} tap_log;

static void declare(void *u, const char *name, gptoss_dtype dt, int ndim, const int64_t *shape) {
    tap_log *t = u;
    stage *s = &t->s[t->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->dtype = dt;
    s->ndim = ndim;
    memcpy(s->shape, shape, sizeof(int64_t) * (size_t)ndim);
}
static void on_tap(void *u, const char *name, gptoss_dtype dt, int ndim, const int64_t *shape,
                   const void *data) {
    tap_log *t = u;
    const stage *s = t->got < t->n ? &t->s[t->got] : NULL;
    if (!s || strcmp(s->name, name) || s->dtype != dt || s->ndim != ndim ||
        memcmp(s->shape, shape, sizeof(int64_t) * (size_t)ndim)) {
        fprintf(stderr, "tap %d: got %s\n", t->got, name);
        t->bad++;
    }
    (void)data;
    t->got++;
}

/* ---- main ------------------------------------------------------------------------------ */

int main(void) {
    gptoss_model m = make_model();
    enum { T = 11, NV = 8 };
    int32_t tok[T];
    for (int i = 0; i < T; i++) tok[i] = (int32_t)(next_u32() % (V - 1));
    tok[NV] = tok[NV + 1] = tok[NV + 2] = V - 1; /* "padding" after NV real tokens */

    double *ref = malloc(sizeof(double) * T * V);
    reference(&m, tok, T, ref);
    double ref_max = 0;
    for (int i = 0; i < T * V; i++) ref_max = fmax(ref_max, fabs(ref[i]));

    const char *names[] = {"portable", "avx2", "avx512"};
    float *lg = malloc(sizeof(float) * T * V), *lg2 = malloc(sizeof(float) * T * V);
    for (int n = 0; n < 3; n++) {
        if (!gptoss_kernels_by_name(names[n])) {
            printf("%s: not supported by this CPU, skipped\n", names[n]);
            continue;
        }
        setenv("GPTOSS_KERNELS", names[n], 1);
        gptoss_forward_options o = {.n_threads = 1};
        CHECK(gptoss_forward(&m, tok, T, &o, lg) == GPTOSS_OK, "%s: forward: %s", names[n], gptoss_last_error());
        /* fp32 engine vs double reference: every op is a short fp32 sum (<= 128 terms,
         * relative error ~1e-6) and the 3 blocks amplify little; 2e-4 of the largest logit
         * is ~100x that. A wrong op (RoPE half, window, sink, routing, SwiGLU clamp) moves
         * logits by >1e-2 of their range. */
        double worst = 0;
        for (int i = 0; i < T * V; i++) worst = fmax(worst, fabs(lg[i] - ref[i]));
        printf("%-8s max |logit - double reference| = %.3g (max |logit| %.3g)\n", names[n], worst, ref_max);
        CHECK(worst <= 2e-4 * ref_max, "%s: logits differ from the reference by %.3g", names[n], worst);

        for (int th = 2; th <= 5; th++) {
            o.n_threads = th;
            CHECK(gptoss_forward(&m, tok, T, &o, lg2) == GPTOSS_OK, "forward");
            CHECK(!memcmp(lg, lg2, sizeof(float) * T * V), "%s: %d threads change the logits", names[n], th);
        }
        o.n_threads = 2;
        CHECK(gptoss_forward(&m, tok, NV, &o, lg2) == GPTOSS_OK, "forward");
        CHECK(!memcmp(lg, lg2, sizeof(float) * NV * V), "%s: padding changes the real positions", names[n]);

        tap_log tl = {0};
        forward_stages(&m, T, declare, &tl);
        CHECK(tl.n == 17 * L + 2, "%d stages declared", tl.n);
        o.tap = on_tap;
        o.tap_user = &tl;
        CHECK(gptoss_forward(&m, tok, T, &o, lg2) == GPTOSS_OK, "forward with taps");
        CHECK(tl.got == tl.n && tl.bad == 0, "%s: %d of %d taps, %d out of order", names[n], tl.got, tl.n, tl.bad);
        CHECK(!memcmp(lg, lg2, sizeof(float) * T * V), "%s: taps change the logits", names[n]);
    }
    unsetenv("GPTOSS_KERNELS");

    int32_t bad[2] = {1, V};
    gptoss_forward_options o = {0};
    CHECK(gptoss_forward(&m, bad, 2, &o, lg) == GPTOSS_ERR_RANGE && strstr(gptoss_last_error(), "vocabulary"),
          "token id out of range accepted: %s", gptoss_last_error());
    bad[1] = -1;
    CHECK(gptoss_forward(&m, bad, 2, &o, lg) == GPTOSS_ERR_RANGE, "negative token id accepted");
    setenv("GPTOSS_KERNELS", "nonsense", 1);
    CHECK(gptoss_forward(&m, tok, T, &o, lg) != GPTOSS_OK && strstr(gptoss_last_error(), "GPTOSS_KERNELS"),
          "unknown GPTOSS_KERNELS accepted");
    unsetenv("GPTOSS_KERNELS");

    free(ref);
    free(lg);
    free(lg2);
    free_model();
    if (check_failures) {
        fprintf(stderr, "%d failures\n", check_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
