/* sampler.c: the next token from a logits vector (API in include/gptoss.h).
 *
 * The pipeline, exactly (T = temperature, l = the logits, n = n_vocab):
 *
 *  0. Checks: no logit is NaN or +inf, and at least one is finite (-inf means "never").
 *  1. T == 0: greedy, the argmax, ties to the lower id. No random number is drawn.
 *  2. Rank order: token a ranks before b when l[a] > l[b], or l[a] == l[b] and a < b (a
 *     total order, so every step below is deterministic). Every filter keeps a prefix of
 *     this order, so the filters commute.
 *  3. top-k (0 < k < n): the candidates are the first k tokens in rank order (found by a
 *     quickselect, O(n), no sort); otherwise every token is a candidate.
 *  4. Softmax in float64 over the candidates: w[i] = exp((l[i] - l_max) / T) (the
 *     difference is taken in float64 first, so a tiny T gives 0, never inf - inf),
 *     p[i] = w[i] / S, S = the float64 sum of w over the candidates.
 *  5. min-p (> 0): drop the candidates with w[i] < min_p, i.e. p[i] < min_p * p_max
 *     (the top token's w is exactly 1, so it always stays).
 *  6. top-p (< 1): keep the shortest rank-order prefix of the candidates whose weight
 *     reaches top_p * S (S still step 4's: the mass is measured against the top-k set,
 *     before min-p), i.e. whose probability reaches top_p; all of them if none does. It is
 *     found without sorting, by a quickselect that partitions on rank and descends into
 *     the side holding the boundary by the weight of the higher side (O(n) expected); the
 *     sums are float64, so the boundary is exact up to their rounding (~1e-16 relative).
 *  7. Renormalise and draw: u = (53 random bits) * 2^-53 in [0, 1), from xoshiro256**
 *     seeded by splitmix64(seed), one draw per call; target = u * (the sum of the kept
 *     w in id order); the token is the first kept one, walking ids upwards, whose running
 *     sum of w exceeds target (the last kept one if rounding leaves it unreached).
 *
 * The result depends on nothing but the params, the logits and the number of earlier
 * draws. Cost at a 201088 vocabulary: a pass to check, n exp() (k with top-k), O(n)
 * expected selections, two passes over the weights to draw.
 */
#include <math.h>
#include <stdlib.h>

#include "util.h"

/* One candidate: its logit beside its id, so the comparisons need no context. */
typedef struct cand {
    float logit;
    int32_t id;
    double w; /* exp((logit - l_max) / T), set in step 4 */
} cand;

struct gptoss_sampler {
    gptoss_sampler_params p;
    uint64_t rng[4]; /* xoshiro256** */
    cand *cands;     /* [cap] */
    double *weights; /* [cap], by id: w of a kept token, else 0 */
    size_t cap;
};

/* ---- random numbers ---------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1), 53 bits. */
static double uniform01(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

/* ---- params --------------------------------------------------------------------------------- */

void gptoss_sampler_defaults(gptoss_sampler_params *p) {
    p->temperature = 1.0f;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->min_p = 0.0f;
    p->seed = 0;
}

static gptoss_status check_params(const gptoss_sampler_params *p) {
    if (!(isfinite(p->temperature) && p->temperature >= 0))
        return gptoss_error(GPTOSS_ERR_ARG, "temperature %g: must be finite and >= 0",
                            (double)p->temperature);
    if (p->top_k < 0)
        return gptoss_error(GPTOSS_ERR_ARG, "top_k %d: must be >= 0 (0 = off)", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return gptoss_error(GPTOSS_ERR_ARG, "top_p %g: must be in (0, 1] (1 = off)",
                            (double)p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return gptoss_error(GPTOSS_ERR_ARG, "min_p %g: must be in [0, 1] (0 = off)",
                            (double)p->min_p);
    return GPTOSS_OK;
}

gptoss_status gptoss_sampler_create(const gptoss_sampler_params *p, gptoss_sampler **out) {
    if (!p || !out) return gptoss_error(GPTOSS_ERR_ARG, "gptoss_sampler_create: NULL argument");
    *out = NULL;
    gptoss_status st = check_params(p);
    if (st) return st;
    gptoss_sampler *s = calloc(1, sizeof *s);
    if (!s) return gptoss_error(GPTOSS_ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    *out = s;
    return GPTOSS_OK;
}

void gptoss_sampler_destroy(gptoss_sampler *s) {
    if (!s) return;
    free(s->cands);
    free(s->weights);
    free(s);
}

/* ---- rank order, selection ---------------------------------------------------------------- */

/* a ranks before b: higher logit, ties to the lower id. */
static int before(cand a, cand b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

static void swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Reorders c[0..n) so that c[0..m) are the m first in rank order (in any order); 0 < m < n.
 * Quickselect with a median-of-three pivot; the order is total, so no two are equal. */
static void select_top(cand *c, size_t n, size_t m) {
    size_t lo = 0, hi = n - 1; /* the m-th (index m - 1) lies in c[lo..hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (before(c[mid], c[lo])) swap(&c[mid], &c[lo]);
        if (before(c[hi], c[lo])) swap(&c[hi], &c[lo]);
        if (before(c[hi], c[mid])) swap(&c[hi], &c[mid]);
        cand pivot = c[mid]; /* median of three */
        swap(&c[mid], &c[hi]);
        size_t store = lo;
        for (size_t i = lo; i < hi; i++)
            if (before(c[i], pivot)) swap(&c[i], &c[store++]);
        swap(&c[store], &c[hi]); /* pivot at its rank: store */
        if (store == m - 1) return;
        if (store < m - 1) lo = store + 1;
        else hi = store - 1;
    }
}

/* Step 6: c[0..m) with weights; reorders it so that c[0..r) is the shortest rank-order
 * prefix whose weight reaches need, and returns r (m if none does). Quickselect on rank:
 * after a partition around a pivot, the side before the pivot either holds the boundary or
 * is kept whole, and the search continues on the other side with what it still needs. */
static size_t top_p_select(cand *c, size_t m, double need) {
    size_t lo = 0, hi = m; /* the boundary is in c[lo..hi); c[0..lo) is kept */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (before(c[mid], c[lo])) swap(&c[mid], &c[lo]);
        if (before(c[last], c[lo])) swap(&c[last], &c[lo]);
        if (before(c[last], c[mid])) swap(&c[last], &c[mid]);
        cand pivot = c[mid];
        swap(&c[mid], &c[last]);
        size_t store = lo;
        double upper = 0; /* weight of c[lo..store): all rank before the pivot */
        for (size_t i = lo; i < last; i++)
            if (before(c[i], pivot)) {
                upper += c[i].w;
                swap(&c[i], &c[store++]);
            }
        swap(&c[store], &c[last]);
        if (upper >= need) {
            hi = store; /* the boundary is before the pivot */
        } else if (upper + pivot.w >= need) {
            return store + 1; /* the pivot is the last one kept */
        } else {
            need -= upper + pivot.w;
            lo = store + 1;
        }
    }
    if (hi - lo == 1 && c[lo].w >= need) return lo + 1;
    return m;
}

/* ---- the pipeline ----------------------------------------------------------------------------- */

/* Step 0 and the argmax (ties to the lower id). */
static gptoss_status scan_logits(const float *logits, int n, int32_t *argmax) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        float v = logits[i];
        if (isnan(v)) return gptoss_error(GPTOSS_ERR_ARG, "logits[%d] is NaN", i);
        if (v == INFINITY) return gptoss_error(GPTOSS_ERR_ARG, "logits[%d] is +inf", i);
        if (v != -INFINITY && (best < 0 || v > logits[best])) best = i;
    }
    if (best < 0) return gptoss_error(GPTOSS_ERR_ARG, "logits: all %d are -inf", n);
    *argmax = best;
    return GPTOSS_OK;
}

static gptoss_status reserve(gptoss_sampler *s, size_t n) {
    if (s->cap >= n) return GPTOSS_OK;
    free(s->cands);
    free(s->weights);
    s->cands = malloc(n * sizeof *s->cands);
    s->weights = malloc(n * sizeof *s->weights);
    s->cap = s->cands && s->weights ? n : 0;
    if (!s->cap) return gptoss_error(GPTOSS_ERR_NOMEM, "sampler: out of memory for %zu tokens", n);
    return GPTOSS_OK;
}

/* Steps 3-6: the kept tokens' weights into w[n] (0 for the others). */
static void keep(const gptoss_sampler_params *p, cand *c, double *w, const float *logits, int n,
                 float top) {
    double t = p->temperature, S = 0;
    size_t m = (size_t)n;
    for (int i = 0; i < n; i++) c[i] = (cand){logits[i], i, 0};
    if (p->top_k > 0 && p->top_k < n) {
        m = (size_t)p->top_k;
        select_top(c, (size_t)n, m);
        for (int i = 0; i < n; i++) w[i] = 0;
    }
    for (size_t i = 0; i < m; i++) S += (w[c[i].id] = c[i].w = exp(((double)c[i].logit - top) / t));
    if (p->min_p > 0) {
        size_t kept = 0;
        for (size_t i = 0; i < m; i++) {
            if (c[i].w >= p->min_p) c[kept++] = c[i];
            else w[c[i].id] = 0;
        }
        m = kept;
    }
    if (p->top_p < 1) {
        size_t r = top_p_select(c, m, p->top_p * S);
        for (size_t i = r; i < m; i++) w[c[i].id] = 0;
    }
}

gptoss_status gptoss_sampler_sample(gptoss_sampler *s, const float *logits, int n_vocab,
                                    int32_t *token) {
    if (!s || !logits || !token)
        return gptoss_error(GPTOSS_ERR_ARG, "gptoss_sampler_sample: NULL argument");
    if (n_vocab < 1) return gptoss_error(GPTOSS_ERR_ARG, "n_vocab %d: must be >= 1", n_vocab);
    int32_t best = 0;
    gptoss_status st = scan_logits(logits, n_vocab, &best);
    if (st) return st;
    if (s->p.temperature == 0) {
        *token = best;
        return GPTOSS_OK;
    }
    if ((st = reserve(s, (size_t)n_vocab))) return st;
    double *w = s->weights, kept = 0, acc = 0;
    keep(&s->p, s->cands, w, logits, n_vocab, logits[best]);
    /* step 7 */
    int last = best;
    for (int i = 0; i < n_vocab; i++) kept += w[i];
    double target = uniform01(s->rng) * kept;
    for (int i = 0; i < n_vocab; i++) {
        if (w[i] == 0) continue;
        last = i;
        acc += w[i];
        if (acc > target) {
            *token = i;
            return GPTOSS_OK;
        }
    }
    *token = last;
    return GPTOSS_OK;
}
