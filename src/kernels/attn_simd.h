/* attn_simd.h: the attention kernels (see kernels.h) written once for both vector widths.
 * Included by attn_avx2.c and attn_avx512.c after they define:
 *   LANES, VEC, VECI, LOAD, STORE, SET1, SET1_I, ZERO, ADD, SUB, MUL, FMA, MAX, ROUND,
 *   CVT_I, ADD_I, SLLI, CAST_F, BLEND_LT(a, b, c, d) (c where a < b, else d), HSUM, NAME(x).
 *
 * Every value is computed by the same operations whatever the segmentation of the keys (a
 * ring buffer may split them in two) or the position of an element in its vector, so a
 * query's result depends only on the query: the prefill and the decode path agree bit for
 * bit. */

/* s[j] = scale * (q . k_j): d a multiple of LANES, each dot product vectorised over d and
 * reduced in a fixed order. Returns the largest s[j] (-inf for n = 0). */
static float NAME(attn_scores)(float *s, const float *q, const float *k, int64_t ldk, int n, int d, float scale) {
    float m = -__builtin_inff();
    for (int j = 0; j < n; j++) {
        const float *kj = k + (int64_t)j * ldk;
        VEC acc = MUL(LOAD(q), LOAD(kj));
        for (int c = LANES; c < d; c += LANES) acc = FMA(LOAD(q + c), LOAD(kj + c), acc);
        float v = HSUM(acc) * scale;
        s[j] = v;
        m = v > m ? v : m;
    }
    return m;
}

/* exp(x) for x <= 0 (larger x is clamped at 88), Cephes' expf polynomial, error about
 * 1 ulp; x < -87 gives 0 (such a term is below 2^-125 of the softmax's largest, which is 1). */
static inline __attribute__((always_inline)) VEC NAME(vexp)(VEC x) {
    const VEC lo = SET1(-87.0f);
    VEC xc = MAX(lo, x); /* (a NaN stays NaN: MAX returns its second operand then) */
    xc = BLEND_LT(SET1(88.0f), xc, SET1(88.0f), xc); /* min(xc, 88) */
    VEC n = ROUND(MUL(xc, SET1(1.44269504088896341f)));
    VEC r = FMA(n, SET1(-0.693359375f), xc);
    r = FMA(n, SET1(2.12194440e-4f), r);
    VEC p = SET1(1.9875691500e-4f);
    p = FMA(p, r, SET1(1.3981999507e-3f));
    p = FMA(p, r, SET1(8.3334519073e-3f));
    p = FMA(p, r, SET1(4.1665795894e-2f));
    p = FMA(p, r, SET1(1.6666665459e-1f));
    p = FMA(p, r, SET1(5.0000001201e-1f));
    VEC y = ADD(FMA(p, MUL(r, r), r), SET1(1.0f));
    VECI e = SLLI(ADD_I(CVT_I(n), SET1_I(127)), 23);
    y = MUL(y, CAST_F(e));
    return BLEND_LT(x, lo, ZERO(), y); /* 0 where x < -87 */
}

/* x[j] = exp(x[j] - m); returns their sum (lane-wise, then a fixed-order reduction). */
static float NAME(exp_sum)(float *x, int n, float m) {
    VEC acc = ZERO(), mv = SET1(m);
    int j = 0;
    for (; j + LANES <= n; j += LANES) {
        VEC e = NAME(vexp)(SUB(LOAD(x + j), mv));
        STORE(x + j, e);
        acc = ADD(acc, e);
    }
    if (j < n) { /* the tail through the same vector code, padded with -inf (exp = 0) */
        float buf[LANES];
        for (int i = 0; i < LANES; i++) buf[i] = j + i < n ? x[j + i] : -__builtin_inff();
        VEC e = NAME(vexp)(SUB(LOAD(buf), mv));
        STORE(buf, e);
        for (int i = 0; j + i < n; i++) x[j + i] = buf[i];
        acc = ADD(acc, e);
    }
    return HSUM(acc);
}

/* o[0..d) += sum_j (p[j] * inv) v_j, j ascending (each element's sum in key order). */
static void NAME(attn_accum)(float *o, const float *p, float inv, const float *v, int64_t ldv, int n, int d) {
    for (int c = 0; c < d; c += 4 * LANES) {
        int nv = (d - c) / LANES < 4 ? (d - c) / LANES : 4;
        VEC acc[4];
        for (int u = 0; u < nv; u++) acc[u] = LOAD(o + c + u * LANES);
        for (int j = 0; j < n; j++) {
            VEC w = SET1(p[j] * inv);
            const float *vj = v + (int64_t)j * ldv + c;
            for (int u = 0; u < nv; u++) acc[u] = ADD(acc[u], MUL(w, LOAD(vj + u * LANES)));
        }
        for (int u = 0; u < nv; u++) STORE(o + c + u * LANES, acc[u]);
    }
}
