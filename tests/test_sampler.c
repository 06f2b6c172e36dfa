/* test_sampler.c: the sampler (src/sampler.c) against distributions computed here
 * independently: bad values, greedy with ties, seeded determinism, empirical frequencies
 * against the softmax (chi-squared), and the exact sets top-k / top-p / min-p keep, on
 * small vectors and on the real 201088-token vocabulary.
 *
 * Every draw comes from a fixed seed, so each run gives the same counts: the significance
 * level below is the chance that a correct sampler would have failed with an arbitrary
 * seed, and the power checks show that a wrong distribution does fail with this one. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gptoss.h"

#include "check.h"

#define VOCAB 201088
/* The chi-squared test's draws and its significance level: alpha = 0.001, critical values
 * for df = 1..20 (scipy.stats.chi2.ppf(0.999, df)). With 200000 draws every expected count
 * below is >= 5, the test's usual validity condition. */
#define DRAWS 200000
static const double chi2_crit_001[21] = {0,      10.828, 13.816, 16.266, 18.467, 20.515, 22.458,
                                         24.322, 26.124, 27.877, 29.588, 31.264, 32.909, 34.528,
                                         36.123, 37.697, 39.252, 40.790, 42.312, 43.820, 45.315};

static gptoss_sampler_params params(float t, int k, float p, float min_p, uint64_t seed) {
    gptoss_sampler_params sp;
    gptoss_sampler_defaults(&sp);
    sp.temperature = t;
    sp.top_k = k;
    sp.top_p = p;
    sp.min_p = min_p;
    sp.seed = seed;
    return sp;
}

/* ---- the expected distributions, computed independently (plain loops, float64) ------- */

/* Rank of every token: index r of order[] is the r-th most likely (higher logit, ties to
 * the lower id), by insertion sort. */
static void rank_order(const float *l, int n, int *order) {
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && (l[order[j - 1]] < l[i] || (l[order[j - 1]] == l[i] && order[j - 1] > i))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

/* The softmax of l / t over all n tokens. */
static void softmax(const float *l, int n, double t, double *p) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, l[i]);
    for (int i = 0; i < n; i++) s += (p[i] = exp((l[i] - mx) / t));
    for (int i = 0; i < n; i++) p[i] /= s;
}

/* The expected distribution after the filters: the softmax over the top-k set, then tokens
 * kept by top-p (shortest rank prefix reaching p) and min-p, renormalised. */
static void expected(const float *l, int n, gptoss_sampler_params sp, double *q) {
    int *order = malloc(n * sizeof *order);
    int *keep = calloc(n, sizeof *keep);
    rank_order(l, n, order);
    int k = sp.top_k > 0 && sp.top_k < n ? sp.top_k : n;
    float *lk = malloc(n * sizeof *lk);
    for (int i = 0; i < n; i++) lk[i] = -INFINITY;
    for (int r = 0; r < k; r++) lk[order[r]] = l[order[r]];
    softmax(lk, n, sp.temperature, q);
    double pmax = q[order[0]], acc = 0;
    for (int r = 0; r < k; r++) {
        int i = order[r];
        keep[i] = q[i] >= sp.min_p * pmax && (sp.top_p >= 1 || acc < sp.top_p);
        acc += q[i];
    }
    double s = 0;
    for (int i = 0; i < n; i++) s += keep[i] ? q[i] : 0;
    for (int i = 0; i < n; i++) q[i] = keep[i] ? q[i] / s : 0;
    free(order);
    free(keep);
    free(lk);
}

/* Draws `draws` tokens into counts[n]; 0 if every draw succeeded. */
static int draw(gptoss_sampler_params sp, const float *l, int n, int draws, long *counts) {
    gptoss_sampler *s = NULL;
    if (gptoss_sampler_create(&sp, &s)) return 1;
    memset(counts, 0, n * sizeof *counts);
    int bad = 0;
    for (int d = 0; d < draws; d++) {
        int32_t tok = -1;
        if (gptoss_sampler_sample(s, l, n, &tok) || tok < 0 || tok >= n) bad = 1;
        else counts[tok]++;
    }
    gptoss_sampler_destroy(s);
    return bad;
}

/* Pearson's statistic of counts against q (over the tokens q gives mass; *df its degrees of
 * freedom); a token drawn where q is 0 makes it infinite. */
static double chi2(const long *counts, const double *q, int n, long draws, int *df) {
    double x = 0;
    int cats = 0;
    for (int i = 0; i < n; i++) {
        if (q[i] == 0) {
            if (counts[i]) return INFINITY;
            continue;
        }
        double e = q[i] * draws, d = counts[i] - e;
        x += d * d / e;
        cats++;
    }
    *df = cats - 1;
    return x;
}

/* Sampling with sp matches the expected distribution at alpha = 0.001. */
static void check_frequencies(const char *what, gptoss_sampler_params sp, const float *l, int n) {
    long counts[64];
    double q[64];
    int df;
    CHECK(n <= 64);
    CHECK(draw(sp, l, n, DRAWS, counts) == 0, "%s: a draw failed", what);
    expected(l, n, sp, q);
    for (int i = 0; i < n; i++)
        CHECK(q[i] == 0 || q[i] * DRAWS >= 5, "%s: token %d expects %.1f draws (< 5)", what, i,
              q[i] * DRAWS);
    double x = chi2(counts, q, n, DRAWS, &df);
    CHECK(df >= 0 && df <= 20, "%s: df %d", what, df); /* df 0: one token kept, x finite */
    if (df >= 1 && df <= 20)
        CHECK(x < chi2_crit_001[df], "%s: chi2 %.2f >= %.2f (df %d, alpha 0.001)", what, x,
              chi2_crit_001[df], df);
    printf("ok: %s: chi2 %.2f, df %d, critical %.2f\n", what, x, df, chi2_crit_001[df]);
}

/* ---- the tests -------------------------------------------------------------------------- */

static void test_bad_values(void) {
    struct {
        gptoss_sampler_params p;
        const char *name;
    } bad[] = {
        {params(-0.5f, 0, 1, 0, 0), "temperature"}, {params(NAN, 0, 1, 0, 0), "temperature"},
        {params(INFINITY, 0, 1, 0, 0), "temperature"}, {params(1, -1, 1, 0, 0), "top_k"},
        {params(1, 0, 0, 0, 0), "top_p"},           {params(1, 0, 1.5f, 0, 0), "top_p"},
        {params(1, 0, NAN, 0, 0), "top_p"},         {params(1, 0, -0.1f, 0, 0), "top_p"},
        {params(1, 0, 1, -0.1f, 0), "min_p"},       {params(1, 0, 1, 1.01f, 0), "min_p"},
        {params(1, 0, 1, NAN, 0), "min_p"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gptoss_sampler *s = (gptoss_sampler *)&bad[i];
        CHECK(gptoss_sampler_create(&bad[i].p, &s) == GPTOSS_ERR_ARG, "case %zu accepted", i);
        CHECK(s == NULL, "case %zu: *out not cleared", i);
        CHECK(strstr(gptoss_last_error(), bad[i].name) != NULL, "case %zu: '%s' does not name %s",
              i, gptoss_last_error(), bad[i].name);
        CHECK(!strchr(gptoss_last_error(), '\n'));
    }
    /* the edges that are allowed */
    gptoss_sampler_params ok[] = {params(0, 0, 1, 0, 0), params(1e-30f, 5, 1e-6f, 1, 0),
                                  params(100, 1, 1, 0, 0)};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        gptoss_sampler *s = NULL;
        CHECK(gptoss_sampler_create(&ok[i], &s) == GPTOSS_OK && s, "edge %zu rejected: %s", i,
              gptoss_last_error());
        gptoss_sampler_destroy(s);
    }
    gptoss_sampler_params d;
    gptoss_sampler_defaults(&d);
    CHECK(d.temperature == 1 && d.top_k == 0 && d.top_p == 1 && d.min_p == 0 && d.seed == 0);

    /* bad logits: NaN, +inf, all -inf, no vocabulary; greedy too */
    gptoss_sampler *s = NULL, *g = NULL;
    gptoss_sampler_params gp = params(0, 0, 1, 0, 0);
    CHECK(gptoss_sampler_create(&d, &s) == GPTOSS_OK);
    CHECK(gptoss_sampler_create(&gp, &g) == GPTOSS_OK);
    float l[4] = {0, 1, NAN, 2};
    int32_t tok = -7;
    for (int k = 0; k < 2; k++) {
        gptoss_sampler *x = k ? g : s;
        l[2] = NAN;
        CHECK(gptoss_sampler_sample(x, l, 4, &tok) == GPTOSS_ERR_ARG);
        CHECK(strstr(gptoss_last_error(), "logits[2] is NaN"), "%s", gptoss_last_error());
        l[2] = INFINITY;
        CHECK(gptoss_sampler_sample(x, l, 4, &tok) == GPTOSS_ERR_ARG);
        CHECK(strstr(gptoss_last_error(), "+inf"), "%s", gptoss_last_error());
        float all[3] = {-INFINITY, -INFINITY, -INFINITY};
        CHECK(gptoss_sampler_sample(x, all, 3, &tok) == GPTOSS_ERR_ARG);
        CHECK(gptoss_sampler_sample(x, l, 0, &tok) == GPTOSS_ERR_ARG);
        CHECK(gptoss_sampler_sample(x, NULL, 4, &tok) == GPTOSS_ERR_ARG);
        CHECK(tok == -7, "a failed draw wrote a token");
    }
    /* -inf logits are never drawn */
    float m[4] = {-INFINITY, 0, -INFINITY, 0};
    long counts[4];
    CHECK(draw(d, m, 4, 1000, counts) == 0 && counts[0] == 0 && counts[2] == 0 &&
          counts[1] > 400 && counts[3] > 400);
    gptoss_sampler_destroy(s);
    gptoss_sampler_destroy(g);
    gptoss_sampler_destroy(NULL);
}

/* A random vector of n logits, std ~3 like the real model's (a small LCG, reproducible). */
static void random_logits(float *l, int n, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < n; i++) {
        double u = 0;
        for (int j = 0; j < 4; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            u += (double)(x >> 11) * 0x1.0p-53;
        }
        l[i] = (float)((u - 2) * 5.2); /* Irwin-Hall(4): std 1/sqrt(3) */
    }
}

static void test_greedy(float *big) {
    gptoss_sampler_params gp = params(0, 3, 0.5f, 0.5f, 42); /* filters do not matter */
    gptoss_sampler *g = NULL;
    CHECK(gptoss_sampler_create(&gp, &g) == GPTOSS_OK);
    int32_t tok = -1;
    float ties[5] = {1, 3, -2, 3, 3};
    CHECK(gptoss_sampler_sample(g, ties, 5, &tok) == GPTOSS_OK && tok == 1, "ties: %d", tok);
    float neg[3] = {-INFINITY, -5, -5};
    CHECK(gptoss_sampler_sample(g, neg, 3, &tok) == GPTOSS_OK && tok == 1, "-inf: %d", tok);
    int best = 0;
    for (int i = 1; i < VOCAB; i++)
        if (big[i] > big[best]) best = i;
    big[VOCAB - 1] = big[best]; /* a tie at the end: the lower id still wins */
    for (int r = 0; r < 3; r++) {
        CHECK(gptoss_sampler_sample(g, big, VOCAB, &tok) == GPTOSS_OK && tok == best,
              "argmax %d, got %d", best, tok);
    }
    gptoss_sampler_destroy(g);
}

static void test_determinism(const float *big) {
    float *copy = malloc(VOCAB * sizeof *copy);
    memcpy(copy, big, VOCAB * sizeof *copy);
    gptoss_sampler_params sets[] = {params(1, 0, 1, 0, 7), params(0.8f, 40, 0.9f, 0.05f, 7),
                                    params(1.2f, 0, 0.95f, 0, 7), params(1, 0, 1, 0.1f, 7)};
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
        gptoss_sampler *a = NULL, *b = NULL, *c = NULL;
        gptoss_sampler_params other = sets[k];
        other.seed = 8;
        CHECK(gptoss_sampler_create(&sets[k], &a) == GPTOSS_OK);
        CHECK(gptoss_sampler_create(&sets[k], &b) == GPTOSS_OK);
        CHECK(gptoss_sampler_create(&other, &c) == GPTOSS_OK);
        int same = 1, differs = 0;
        for (int i = 0; i < 12; i++) {
            int32_t ta = -1, tb = -2, tc = -3;
            CHECK(gptoss_sampler_sample(a, big, VOCAB, &ta) == GPTOSS_OK);
            if (i % 3 == 0) { /* another sampler drawing in between changes nothing */
                int32_t junk;
                CHECK(gptoss_sampler_sample(c, copy, 100, &junk) == GPTOSS_OK);
            }
            CHECK(gptoss_sampler_sample(b, big, VOCAB, &tb) == GPTOSS_OK);
            CHECK(gptoss_sampler_sample(c, big, VOCAB, &tc) == GPTOSS_OK);
            same &= ta == tb && ta >= 0 && ta < VOCAB;
            differs |= ta != tc;
        }
        CHECK(same, "params set %zu: the same seed gave different tokens", k);
        CHECK(differs, "params set %zu: seeds 7 and 8 gave the same 12 tokens", k);
        gptoss_sampler_destroy(a);
        gptoss_sampler_destroy(b);
        gptoss_sampler_destroy(c);
    }
    CHECK(!memcmp(copy, big, VOCAB * sizeof *copy), "the logits were modified");
    free(copy);
}

/* 16 fixed logits: probabilities from 0.23 down to 0.002 at temperature 0.7. */
static const float L16[16] = {2.1f,  1.7f,  1.5f,  1.2f,  0.9f,  0.8f,  0.3f,  0.0f,
                              -0.2f, -0.4f, -0.7f, -0.9f, -1.1f, -1.3f, -1.4f, -1.5f};

static void test_frequencies(void) {
    check_frequencies("T=0.7", params(0.7f, 0, 1, 0, 1), L16, 16);
    check_frequencies("T=1.3", params(1.3f, 0, 1, 0, 2), L16, 16);
    /* power: the T=0.7 counts judged against T=0.77 (10 % off) and against a top-k that
     * keeps one token too many must fail */
    long counts[16];
    double q[16];
    int df;
    CHECK(draw(params(0.7f, 0, 1, 0, 1), L16, 16, DRAWS, counts) == 0);
    expected(L16, 16, params(0.77f, 0, 1, 0, 0), q);
    double x = chi2(counts, q, 16, DRAWS, &df);
    CHECK(x > chi2_crit_001[df], "a 10%% wrong temperature passes: chi2 %.2f", x);
    printf("ok: power: T=0.7 draws against T=0.77: chi2 %.1f > %.2f\n", x, chi2_crit_001[df]);
    CHECK(draw(params(0.7f, 6, 1, 0, 1), L16, 16, DRAWS, counts) == 0);
    expected(L16, 16, params(0.7f, 7, 1, 0, 0), q);
    x = chi2(counts, q, 16, DRAWS, &df);
    CHECK(x > chi2_crit_001[df], "top-k 6 judged as top-k 7 passes: chi2 %.2f", x);
    printf("ok: power: top-k 6 draws against top-k 7: chi2 %.1f > %.2f\n", x, chi2_crit_001[df]);
    /* the filters: kept set exact (a drawn token outside it makes chi2 infinite) and the
     * renormalised mass */
    check_frequencies("top-k 5", params(0.7f, 5, 1, 0, 3), L16, 16);
    check_frequencies("top-k 1", params(0.7f, 1, 1, 0, 3), L16, 16);
    check_frequencies("top-k 16 (= off)", params(0.7f, 16, 1, 0, 3), L16, 16);
    check_frequencies("top-p 0.6", params(0.7f, 0, 0.6f, 0, 4), L16, 16);
    check_frequencies("top-p 0.9", params(1.0f, 0, 0.9f, 0, 4), L16, 16);
    check_frequencies("min-p 0.1", params(0.7f, 0, 1, 0.1f, 5), L16, 16);
    check_frequencies("min-p 0.3", params(1.0f, 0, 1, 0.3f, 5), L16, 16);
    check_frequencies("top-k 8 + top-p 0.8", params(0.9f, 8, 0.8f, 0, 6), L16, 16);
    check_frequencies("top-k 10 + top-p 0.9 + min-p 0.05", params(0.9f, 10, 0.9f, 0.05f, 6), L16, 16);
    /* the expected sets themselves, by hand (T = 0.7): probabilities 0.350 0.198 0.149
     * 0.097 0.063 0.055 0.027 ...; top-p 0.6 keeps 3 (0.548 < 0.6 <= 0.696), min-p 0.1
     * keeps those >= 0.0350: 6 */
    double q7[16];
    expected(L16, 16, params(0.7f, 0, 0.6f, 0, 0), q7);
    CHECK(q7[2] > 0 && q7[3] == 0, "top-p 0.6 set");
    expected(L16, 16, params(0.7f, 0, 1, 0.1f, 0), q7);
    CHECK(q7[5] > 0 && q7[6] == 0, "min-p 0.1 set");
}

/* On the full vocabulary: a head of H tokens with descending logits well above a flat tail
 * (each tail token ~e^-42 of the top one: 201088 of them weigh ~1e-13 together); top-k = H,
 * a top-p that the H-th reaches and a min-p between the H-th and the next must each keep
 * exactly the head: every head token is drawn, the first dropped one (almost as likely as
 * the last kept) never, nor any of the tail. */
static void test_big_vocab_sets(void) {
    enum { H = 15, N = 300 };
    float *l = malloc(VOCAB * sizeof *l);
    long *counts = malloc(VOCAB * sizeof *counts);
    random_logits(l, VOCAB, 99);
    for (int i = 0; i < VOCAB; i++) l[i] = l[i] * 0.1f - 40; /* the tail: ~e^-40 each */
    int *head = malloc((H + 1) * sizeof *head); /* head[r]: the id of rank r; head[H] first out */
    for (int r = 0; r <= H; r++) {
        head[r] = (int)(((int64_t)r * 7919 + 123) % VOCAB);
        l[head[r]] = 2.0f - 0.001f * r;
    }
    /* expected probabilities of the head, by rank, at T = 1 over the whole vocabulary */
    double mx = 2.0, s = 0, p[H + 1];
    for (int i = 0; i < VOCAB; i++) s += exp(l[i] - mx);
    for (int r = 0; r <= H; r++) p[r] = exp(l[head[r]] - mx) / s;
    double cum = 0;
    for (int r = 0; r < H; r++) cum += p[r];
    float top_p = (float)(cum - 0.25 * p[H - 1]); /* reached at rank H - 1, not before */
    CHECK((double)top_p > cum - p[H - 1] && (double)top_p < cum, "top_p %.9g", top_p);
    float min_p = (float)(0.5 * (p[H - 1] + p[H]) / p[0]); /* between ranks H - 1 and H */
    CHECK((double)min_p * p[0] < p[H - 1] && (double)min_p * p[0] > p[H]);
    struct {
        const char *what;
        gptoss_sampler_params sp;
    } cases[] = {{"top-k", params(1, H, 1, 0, 11)},
                 {"top-p", params(1, 0, top_p, 0, 12)},
                 {"min-p", params(1, 0, 1, min_p, 13)}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        CHECK(draw(cases[c].sp, l, VOCAB, N, counts) == 0, "%s: a draw failed", cases[c].what);
        long in_head = 0;
        for (int r = 0; r < H; r++) in_head += counts[head[r]];
        CHECK(in_head == N, "%s: %ld of %d draws outside the head", cases[c].what, N - in_head, N);
        /* each head token expects N / H ~ 20 draws: P(none) ~ e^-20 */
        int missing = 0;
        for (int r = 0; r < H; r++) missing += counts[head[r]] == 0;
        CHECK(missing == 0, "%s: %d head tokens never drawn", cases[c].what, missing);
        CHECK(counts[head[H]] == 0, "%s: the first dropped token was drawn", cases[c].what);
        printf("ok: %s on %d tokens keeps exactly the %d-token head (%d draws)\n", cases[c].what,
               VOCAB, H, N);
    }
    free(head);
    free(l);
    free(counts);
}

int main(void) {
    float *big = malloc(VOCAB * sizeof *big);
    random_logits(big, VOCAB, 1);
    test_bad_values();
    test_greedy(big);
    test_determinism(big);
    test_frequencies();
    test_big_vocab_sets();
    free(big);
    if (!check_failures) printf("ok: sampler\n");
    return check_failures != 0;
}
