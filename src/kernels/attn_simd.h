/* attn_simd.h: the attention kernels (see kernels.h) written once for both vector widths.
 * Included by attn_avx2.c and attn_avx512.c after they define:
 *   LANES, VEC, VECI, LOAD, STORE, SET1, SET1_I, ZERO, ADD, SUB, MUL, FMA, MAX, ROUND,
 *   CVT_I, ADD_I, SLLI, CAST_F, BLEND_LT(a, b, c, d) (c where a < b, else d), HSUM, NAME(x).
 *
 * Every value is computed by the same operations whatever the segmentation of the keys (a
 * ring buffer may split them in two) or the position of an element in its vector, so a
 * query's result depends only on the query: the prefill and the decode path agree bit for
 * bit. */

/* s[g*lds + j] = scale * (q_g . k_j): d a multiple of LANES, each dot product vectorised
 * over d and reduced in a fixed order; k_j is read from memory once for the G queries. */
static void NAME(attn_scores)(float *s, int64_t lds, const float *q, int64_t ldq, int G, const float *k,
                              int64_t ldk, int n, int d, float scale, float *m) {
    for (int g = 0; g < G; g++) m[g] = -__builtin_inff();
    for (int j = 0; j < n; j++) {
        const float *kj = k + (int64_t)j * ldk;
        for (int g = 0; g < G; g++) {
            const float *qg = q + g * ldq;
            VEC acc = MUL(LOAD(qg), LOAD(kj));
            for (int c = LANES; c < d; c += LANES) acc = FMA(LOAD(qg + c), LOAD(kj + c), acc);
            float v = HSUM(acc) * scale;
            s[g * lds + j] = v;
            m[g] = v > m[g] ? v : m[g];
        }
    }
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

/* Columns [c, c+LANES) of GN queries' outputs: GN accumulators, each value row read once. */
static inline __attribute__((always_inline)) void NAME(accum_cols)(float *o, int64_t ldo, const float *p, int64_t ldp,
                                                                   const float *inv, const int GN, const float *v,
                                                                   int64_t ldv, int n, int c) {
    VEC acc[8];
    for (int g = 0; g < GN; g++) acc[g] = LOAD(o + g * ldo + c);
    for (int j = 0; j < n; j++) {
        VEC vj = LOAD(v + (int64_t)j * ldv + c);
        for (int g = 0; g < GN; g++) acc[g] = ADD(acc[g], MUL(SET1(p[g * ldp + j] * inv[g]), vj));
    }
    for (int g = 0; g < GN; g++) STORE(o + g * ldo + c, acc[g]);
}

/* o_g[0..d) += sum_j (p_g[j] * inv[g]) v_j, j ascending (each element's sum in key order),
 * for groups of up to 8 queries, one vector of columns at a time. */
static void NAME(attn_accum)(float *o, int64_t ldo, const float *p, int64_t ldp, const float *inv, int G,
                             const float *v, int64_t ldv, int n, int d) {
    for (int g = 0; g < G;) {
        const int gn = G - g >= 8 ? 8 : G - g >= 4 ? 4 : G - g >= 2 ? 2 : 1;
        for (int c = 0; c < d; c += LANES) {
            float *og = o + g * ldo;
            const float *pg = p + g * ldp;
            switch (gn) {
            case 8: NAME(accum_cols)(og, ldo, pg, ldp, inv + g, 8, v, ldv, n, c); break;
            case 4: NAME(accum_cols)(og, ldo, pg, ldp, inv + g, 4, v, ldv, n, c); break;
            case 2: NAME(accum_cols)(og, ldo, pg, ldp, inv + g, 2, v, ldv, n, c); break;
            default: NAME(accum_cols)(og, ldo, pg, ldp, inv + g, 1, v, ldv, n, c); break;
            }
        }
        g += gn;
    }
}
