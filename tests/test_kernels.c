/* test_kernels.c: every kernel set this CPU runs (portable, avx2, avx512) against plain
 * double-precision reference loops, and the split-independence the forward pass relies on.
 *
 * Bound: a dot product of n fp32 products summed in fp32 (in any order, FMA or not) is
 * within gamma_n * sum|w_i x_i| of the exact value, gamma_n = n*u/(1-n*u), u = 2^-24
 * (Higham, Accuracy and Stability, 3.1); the weights are exact in fp32 (bf16 widening and
 * MXFP4 decoding are exact), and the bias adds one more rounding. We allow
 * (n + 2) * u * (sum|w x| + |bias|) + 1e-30, which is that bound. A wrong weight, a wrong
 * x position or a dropped block gives errors orders of magnitude larger. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "util.h"

#define CHECK_STOP_AFTER 20
#include "check.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) { return xorshift_next(&rng); }
static float uniform(void) { return (float)(next_u32() % 2000001) / 1000000.0f - 1.0f; }

enum { BF16, F32, MXFP4 };
static const char *kind_name[] = {"bf16", "f32", "mxfp4"};

/* The weight W[o][i] exactly, from the formula of the format (not the kernels' tables). */
static double weight(int kind, const void *w, const uint8_t *scales, int64_t in, int64_t o,
                     int64_t i) {
    if (kind == BF16) return bf16_to_f32(((const uint16_t *)w)[o * in + i]);
    if (kind == F32) return ((const float *)w)[o * in + i];
    static const double fp4[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
    uint8_t byte = ((const uint8_t *)w)[o * (in / 2) + i / 2];
    int code = (i % 2 == 0) ? (byte & 15) : (byte >> 4);
    return ldexp(fp4[code], (int)scales[o * (in / 32) + i / 32] - 127);
}

/* Row o of W times x in float64: the exact sum, and the sum of the products' magnitudes
 * (*mag, for the error bound (in + 2) * 2^-24 * mag of a sequential fp32 sum). */
static double dot_exact(int kind, const void *w, const uint8_t *scales, int64_t in, int64_t o,
                        const float *x, double *mag) {
    double exact = 0;
    *mag = 0;
    for (int64_t i = 0; i < in; i++) {
        double p = weight(kind, w, scales, in, o, i) * x[i];
        exact += p;
        *mag += fabs(p);
    }
    return exact;
}

static void run_case(const gptoss_kernels *k, int kind, int64_t out, int64_t in, int T,
                     int with_bias) {
    size_t nw = (size_t)(out * in);
    void *w = NULL;
    uint8_t *scales = NULL;
    if (kind == BF16) {
        uint16_t *b = malloc(nw * 2);
        for (size_t i = 0; i < nw; i++) b[i] = f32_to_bf16(uniform());
        w = b;
    } else if (kind == F32) {
        float *f = malloc(nw * 4);
        for (size_t i = 0; i < nw; i++) f[i] = uniform();
        w = f;
    } else {
        uint8_t *b = malloc(nw / 2);
        for (size_t i = 0; i < nw / 2; i++) b[i] = (uint8_t)next_u32();
        scales = malloc(nw / 32);
        for (size_t i = 0; i < nw / 32; i++) scales[i] = (uint8_t)(127 - 8 + next_u32() % 12);
        if (nw / 32 > 2) { /* far scales: 2^-127 (a subnormal) and 2^40 */
            scales[0] = 0;
            scales[1] = 167;
        }
        w = b;
    }
    float *bias = malloc((size_t)out * 4);
    for (int64_t o = 0; o < out; o++) bias[o] = uniform();
    float *x = malloc((size_t)(T * in) * 4), *xp = malloc((size_t)(T * in) * 4);
    for (int64_t i = 0; i < T * in; i++) x[i] = uniform();
    for (int t = 0; t < T; t++) {
        if (kind == MXFP4) k->mxfp4_prepare_x(xp + t * in, x + t * in, in);
        else if (kind == BF16) k->bf16_prepare_x(xp + t * in, x + t * in, in);
        else memcpy(xp + t * in, x + t * in, (size_t)in * 4);
    }
    float *y = malloc((size_t)(T * out) * 4), *y2 = malloc((size_t)(T * out) * 4);
    gptoss_mm m = {.y = y, .ldy = out, .x = xp, .ldx = in, .T = T, .in = in,
                   .bias = with_bias ? bias : NULL, .w = w, .ldw = in, .scales = scales};
    void (*fn)(const gptoss_mm *, int64_t, int64_t) =
        kind == BF16 ? k->matmul_bf16 : kind == F32 ? k->matmul_f32 : k->matmul_mxfp4;
    fn(&m, 0, out);

    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int64_t o = 0; o < out; o++) {
            double mag, exact = dot_exact(kind, w, scales, in, o, x + t * in, &mag);
            if (with_bias) exact += bias[o], mag += fabs(bias[o]);
            double err = fabs(y[t * out + o] - exact);
            double bound = (double)(in + 2) * 0x1p-24 * mag + 1e-30;
            if (err / bound > worst) worst = err / bound;
            CHECK(err <= bound, "%s %s out=%lld in=%lld T=%d t=%d o=%lld: %.9g vs %.9g (err %.3g > %.3g)",
                  k->name, kind_name[kind], (long long)out, (long long)in, T, t, (long long)o,
                  y[t * out + o], exact, err, bound);
        }

    /* Any split of rows and tokens gives bit-identical outputs (what makes the logits
     * independent of the thread count). */
    memset(y2, 0, (size_t)(T * out) * 4);
    for (int t0 = 0; t0 < T;) {
        int nt = 1 + (int)(next_u32() % 3);
        if (t0 + nt > T) nt = T - t0;
        for (int64_t o0 = 0; o0 < out;) {
            int64_t n = 1 + (int64_t)(next_u32() % 6);
            if (o0 + n > out) n = out - o0;
            gptoss_mm part = m;
            part.y = y2 + t0 * out;
            part.x = xp + t0 * in;
            part.T = nt;
            fn(&part, o0, o0 + n);
            o0 += n;
        }
        t0 += nt;
    }
    CHECK(!memcmp(y, y2, (size_t)(T * out) * 4), "%s %s out=%lld in=%lld T=%d: split changes bits",
          k->name, kind_name[kind], (long long)out, (long long)in, T);
    printf("  %-8s %-5s out=%-3lld in=%-4lld T=%-2d bias=%d  worst err/bound %.3f\n", k->name,
           kind_name[kind], (long long)out, (long long)in, T, with_bias, worst);
    free(w);
    free(scales);
    free(bias);
    free(x);
    free(xp);
    free(y);
    free(y2);
}

/* The attention kernels of one set against double loops, on n keys of d dims at a row
 * stride, and their independence of where a key sits (one call, or two calls split at
 * every point: what a ring buffer does). Bounds: scores as a dot product (above) times the
 * scale (one more rounding); exp within 4 ulp (2^-21 relative) of exp(); the accumulated
 * output as a sum of n products with w = p*inv rounded once, per element. */
/* One query (G = 1) through the grouped kernels. */
static float scores1(const gptoss_attn_kernels *a, float *s, const float *q, const float *k, int64_t ld, int n,
                     int d, float scale) {
    float m;
    a->scores(s, n, q, d, 1, k, ld, n, d, scale, &m);
    return m;
}
static void accum1(const gptoss_attn_kernels *a, float *o, const float *p, float inv, const float *v, int64_t ld,
                   int n, int d) {
    a->accum(o, d, p, n, &inv, 1, v, ld, n, d);
}

/* G queries at once give, bit for bit, what each gives alone (G = 1): the grouping that
 * attention.c chooses from the thread count changes no result. */
static void attn_group_case(const gptoss_kernels *k, int n, int d, int G) {
    const gptoss_attn_kernels *a = k->attn;
    if (d % a->lanes) return;
    const int ld = d + 8;
    float *q = malloc(sizeof(float) * G * d), *kv = malloc(sizeof(float) * n * ld), m[8];
    float *s = malloc(sizeof(float) * G * n), *s1 = malloc(sizeof(float) * n), inv[8];
    float *o = calloc((size_t)G * d, sizeof(float)), *o1 = calloc(d, sizeof(float));
    for (int i = 0; i < G * d; i++) q[i] = 2 * uniform();
    for (int i = 0; i < n * ld; i++) kv[i] = 2 * uniform();
    a->scores(s, n, q, d, G, kv, ld, n, d, 0.125f, m);
    for (int g = 0; g < G; g++) {
        float m1 = scores1(a, s1, q + g * d, kv, ld, n, d, 0.125f);
        CHECK(!memcmp(s1, s + g * n, sizeof(float) * n) && m1 == m[g], "%s scores G=%d: query %d differs alone",
              k->name, G, g);
        inv[g] = 1.0f / (1.0f + g);
    }
    for (int i = 0; i < G * n; i++) s[i] = fabsf(uniform());
    a->accum(o, d, s, n, inv, G, kv, ld, n, d);
    for (int g = 0; g < G; g++) {
        for (int c = 0; c < d; c++) o1[c] = 0;
        accum1(a, o1, s + g * n, inv[g], kv, ld, n, d);
        CHECK(!memcmp(o1, o + g * d, sizeof(float) * d), "%s accum G=%d: query %d differs alone", k->name, G, g);
    }
    free(q), free(kv), free(s), free(s1), free(o), free(o1);
}

static void attn_case(const gptoss_kernels *k, int n, int d) {
    const gptoss_attn_kernels *a = k->attn;
    if (d % a->lanes) return;
    const int ld = d + 8;
    float *q = malloc(sizeof(float) * d), *kv = malloc(sizeof(float) * n * ld);
    float *s = malloc(sizeof(float) * n), *s2 = malloc(sizeof(float) * n), *o = calloc(d, sizeof(float));
    float *o2 = calloc(d, sizeof(float));
    for (int i = 0; i < d; i++) q[i] = 2 * uniform();
    for (int i = 0; i < n * ld; i++) kv[i] = 2 * uniform();
    const float scale = 0.125f;
    float m = scores1(a, s, q, kv, ld, n, d, scale), mref = -INFINITY;
    for (int j = 0; j < n; j++) {
        double dot = 0, mag = 0;
        for (int c = 0; c < d; c++) dot += (double)q[c] * kv[j * ld + c], mag += fabs((double)q[c] * kv[j * ld + c]);
        double bound = (d + 2) * 0x1p-24 * mag * scale + 1e-30;
        CHECK(fabs(s[j] - dot * scale) <= bound, "%s scores n=%d d=%d j=%d: %.9g vs %.9g", k->name, n, d, j, s[j],
              dot * scale);
        mref = s[j] > mref ? s[j] : mref;
    }
    CHECK(m == mref, "%s scores: max %g, want %g", k->name, m, mref);
    for (int cut = 0; cut <= n; cut += n / 5 + 1) { /* split anywhere: the same bits */
        float m1 = scores1(a, s2, q, kv, ld, cut, d, scale);
        float m2 = scores1(a, s2 + cut, q, kv + cut * ld, ld, n - cut, d, scale);
        CHECK(!memcmp(s, s2, sizeof(float) * n) && (m1 > m2 ? m1 : m2) == m, "%s scores split at %d", k->name, cut);
    }
    for (int j = 0; j < n; j++) s[j] = s2[j] = -40 * fabsf(uniform()); /* softmax inputs */
    float sum = a->exp_sum(s, n, 0.5f);
    double sref = 0;
    for (int j = 0; j < n; j++) {
        double e = exp((double)(s2[j] - 0.5f)); /* the kernel's argument: x - m rounded to fp32 */
        CHECK(fabs(s[j] - e) <= 0x1p-21 * e, "%s exp(%g): %.9g vs %.9g", k->name, s2[j] - 0.5f, s[j], e);
        sref += e;
    }
    CHECK(fabs(sum - sref) <= (n + 2) * 0x1p-21 * sref, "%s exp_sum n=%d: %.9g vs %.9g", k->name, n, sum, sref);
    if (n > 1) { /* an element's exp does not depend on its place */
        float one[1] = {s2[n - 1]};
        a->exp_sum(one, 1, 0.5f);
        CHECK(one[0] == s[n - 1], "%s exp of the last element differs alone", k->name);
    }
    const float inv = 1.0f / sum;
    accum1(a, o, s, inv, kv, ld, n, d);
    for (int c = 0; c < d; c++) {
        double ref = 0, mag = 0;
        for (int j = 0; j < n; j++) {
            double w = (float)(s[j] * inv);
            ref += w * kv[j * ld + c], mag += fabs(w * kv[j * ld + c]);
        }
        CHECK(fabs(o[c] - ref) <= (n + 2) * 0x1p-24 * mag + 1e-30, "%s accum n=%d c=%d: %.9g vs %.9g", k->name, n, c,
              o[c], ref);
    }
    int cut = n / 3;
    accum1(a, o2, s, inv, kv, ld, cut, d);
    accum1(a, o2, s + cut, inv, kv + cut * ld, ld, n - cut, d);
    CHECK(!memcmp(o, o2, sizeof(float) * d), "%s accum split at %d", k->name, cut);
    free(q), free(kv), free(s), free(s2), free(o), free(o2);
}

/* Scale byte 255: 2^128 is not a float, and the reference scales each value exactly
 * (ldexp): codes +-0 stay 0, +-0.5 give +-2^127, the others +-inf. Row 0's scale-255 block
 * holds only zeros, row 1's one 0.5 (both finite, checked against the formula), row 2's one
 * 1.0 (infinite). For T = 1 and 5. */
static void scale_255_case(const gptoss_kernels *k, int T) {
    enum { IN = 96, OUT = 3 };
    uint8_t w[OUT * IN / 2], sc[OUT * IN / 32];
    float x[5 * IN], xp[5 * IN], y[5 * OUT];
    for (size_t i = 0; i < sizeof w; i++) w[i] = (uint8_t)next_u32();
    for (size_t i = 0; i < sizeof sc; i++) sc[i] = (uint8_t)(124 + next_u32() % 6);
    for (int i = 0; i < 16; i++) {
        w[0 * IN / 2 + 16 + i] = i % 3 ? 0x00 : 0x88; /* +0 and -0 codes */
        w[1 * IN / 2 + 16 + i] = i == 5 ? 0x10 : 0x00; /* one 0.5 */
        w[2 * IN / 2 + 16 + i] = i == 9 ? 0x02 : 0x00; /* one 1.0 */
    }
    for (int o = 0; o < OUT; o++) sc[o * 3 + 1] = 255;
    for (int i = 0; i < T * IN; i++) x[i] = uniform() * 0x1p-100f; /* 2^127 x stays finite */
    for (int t = 0; t < T; t++) k->mxfp4_prepare_x(xp + t * IN, x + t * IN, IN);
    gptoss_mm mm = {.y = y, .ldy = OUT, .x = xp, .ldx = IN, .T = T, .in = IN, .w = w, .ldw = IN / 2, .scales = sc};
    k->matmul_mxfp4(&mm, 0, OUT);
    for (int t = 0; t < T; t++) {
        for (int o = 0; o < 2; o++) {
            double mag, exact = dot_exact(MXFP4, w, sc, IN, o, x + t * IN, &mag);
            float got = y[t * OUT + o];
            CHECK(isfinite(got) && fabs(got - exact) <= (IN + 2) * 0x1p-24 * mag,
                  "%s scale 255, row %d, T=%d: %.9g, want %.9g", k->name, o, T, got, exact);
        }
        CHECK(isinf(y[t * OUT + 2]), "%s scale 255, code 1.0, T=%d: %.9g, want +-inf", k->name, T, y[t * OUT + 2]);
    }
}

/* The decoding tables hold every (scale byte, code) pair exactly: the fp32 value of the
 * formula, bit for bit (+-inf past the float range, as ldexp in fp32), and its low two
 * bytes zero, so bytes 2 and 3 alone (the AVX2 kernel's table) give it. */
static void tables_case(void) {
    const gptoss_mxfp4_lut_row *lut = gptoss_mxfp4_lut();
    const gptoss_mxfp4_hi16 *hi = gptoss_mxfp4_lut_hi16();
    static const double fp4[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
    for (int sc = 0; sc < 256; sc++)
        for (int code = 0; code < 16; code++) {
            float want = (float)ldexp(fp4[code], sc - 127);
            uint32_t wb, lb, hb = (uint32_t)hi[sc].b3[code] << 24 | (uint32_t)hi[sc].b2[code] << 16;
            memcpy(&wb, &want, 4);
            memcpy(&lb, &lut[sc][code], 4);
            CHECK(lb == wb && hb == wb, "scale %d code %d: table %08x, bytes 2-3 %08x, want %08x", sc,
                  code, lb, hb, wb);
        }
}

/* Every scale byte through the kernel: row s of a one-block matrix has scale s. Token 0's x
 * is about 2^-100 and token 1's about 2^100, so each row's products are normal floats for
 * one of them (rows 127..252 for token 0, 0..127 for token 1), checked there against the
 * formula with the bound of run_case. From scale 253 on, the decoded weights themselves
 * overflow fp32 (6 x 2^126), as in the reference; scale 255 has its own case above. */
static void all_scales_case(const gptoss_kernels *k) {
    enum { IN = 32, OUT = 256, T = 2 };
    uint8_t w[OUT * IN / 2], sc[OUT];
    float x[T * IN], xp[T * IN], y[T * OUT];
    for (size_t i = 0; i < sizeof w; i++) w[i] = (uint8_t)next_u32();
    for (int o = 0; o < OUT; o++) sc[o] = (uint8_t)o;
    for (int i = 0; i < IN; i++) {
        x[i] = uniform() * 0x1p-100f;
        x[IN + i] = uniform() * 0x1p100f;
    }
    for (int t = 0; t < T; t++) k->mxfp4_prepare_x(xp + t * IN, x + t * IN, IN);
    gptoss_mm mm = {.y = y, .ldy = OUT, .x = xp, .ldx = IN, .T = T, .in = IN, .w = w, .ldw = IN / 2, .scales = sc};
    k->matmul_mxfp4(&mm, 0, OUT);
    for (int t = 0; t < T; t++)
        for (int o = t ? 0 : 127; o <= (t ? 127 : 252); o++) {
            double mag, exact = dot_exact(MXFP4, w, sc, IN, o, x + t * IN, &mag);
            float got = y[t * OUT + o];
            CHECK(fabs(got - exact) <= (IN + 2) * 0x1p-24 * mag, "%s scale %d, T=%d: %.9g, want %.9g",
                  k->name, o, t, got, exact);
        }
}

int main(void) {
    const char *names[] = {"portable", "avx2", "avx512"};
    int ran = 0;
    for (int n = 0; n < 3; n++) {
        const gptoss_kernels *k = gptoss_kernels_by_name(names[n]);
        if (!k) {
            printf("%s: not supported by this CPU, skipped\n", names[n]);
            continue;
        }
        ran++;
        static const int Ts[] = {1, 2, 3, 4, 5, 7, 9};
        static const int64_t dense_in[] = {8, 16, 37, 64, 72, 200, 2880};
        static const int64_t mx_in[] = {32, 64, 96, 2880};
        for (size_t a = 0; a < sizeof Ts / sizeof Ts[0]; a++) {
            for (size_t b = 0; b < sizeof dense_in / sizeof dense_in[0]; b++) {
                int64_t in = dense_in[b], out = in > 1000 ? 9 : 13;
                run_case(k, BF16, out, in, Ts[a], (int)(a % 2));
                run_case(k, F32, out, in, Ts[a], (int)((a + 1) % 2));
            }
            for (size_t b = 0; b < sizeof mx_in / sizeof mx_in[0]; b++)
                run_case(k, MXFP4, mx_in[b] > 1000 ? 7 : 11, mx_in[b], Ts[a], (int)(a % 2));
        }
        scale_255_case(k, 1);
        all_scales_case(k);
        scale_255_case(k, 5);
        static const int keys[] = {1, 2, 7, 16, 17, 33, 200};
        for (size_t a = 0; a < sizeof keys / sizeof keys[0]; a++) {
            attn_case(k, keys[a], 16);
            attn_case(k, keys[a], 64);
            attn_group_case(k, keys[a], 64, 8);
            attn_group_case(k, keys[a], 16, 3);
            attn_group_case(k, keys[a], 64, 5);
        }
    }
    tables_case();
    /* The selector honours GPTOSS_KERNELS and refuses unknown names. */
    setenv("GPTOSS_KERNELS", "portable", 1);
    const gptoss_kernels *sel = gptoss_kernels_select();
    CHECK(sel && !strcmp(sel->name, "portable"), "GPTOSS_KERNELS=portable not honoured");
    setenv("GPTOSS_KERNELS", "sse9", 1);
    CHECK(gptoss_kernels_select() == NULL && strstr(gptoss_last_error(), "sse9"),
          "unknown GPTOSS_KERNELS accepted");
    unsetenv("GPTOSS_KERNELS");
    CHECK(gptoss_kernels_select() != NULL, "no default kernels");
    CHECK(ran >= 1, "no kernel set ran");
    if (check_failures) {
        fprintf(stderr, "%d failures\n", check_failures);
        return 1;
    }
    printf("ok: %d kernel sets\n", ran);
    return 0;
}
