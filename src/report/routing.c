/* routing.c: routing agreement between two stage dumps (see routing.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "routing.h"
#include "util.h"

/* One layer's routing stages of one side, as doubles. */
typedef struct side {
    double *idx;    /* [S, k] */
    double *w;      /* [S, k] */
    double *logits; /* [S, E] or NULL */
} side;

static void side_free(side *s) {
    free(s->idx);
    free(s->w);
    free(s->logits);
}

static gptoss_status get2d(const stage_dump *d, const char *label, int layer, const char *stage,
                           int64_t rows, int64_t cols, int optional, double **out) {
    char name[64];
    snprintf(name, sizeof name, "block%d.%s", layer, stage);
    const dump_tensor *t = dump_get(d, name);
    *out = NULL;
    if (!t) {
        if (optional) return GPTOSS_OK;
        return gptoss_error(GPTOSS_ERR_MISSING, "%s dump: no %s", label, name);
    }
    if (t->ndim != 2 || t->shape[0] < rows || (cols > 0 && t->shape[1] != cols))
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s dump: %s has shape [%lld, %lld], want [>=%lld, %lld]",
                            label, name, (long long)t->shape[0],
                            (long long)(t->ndim > 1 ? t->shape[1] : -1), (long long)rows,
                            (long long)cols);
    *out = dump_to_f64(t);
    return *out ? GPTOSS_OK : GPTOSS_ERR_NOMEM;
}

static gptoss_status load_side(const stage_dump *d, const char *label, int layer, int64_t S,
                               int k, int E, side *s) {
    memset(s, 0, sizeof *s);
    gptoss_status st = get2d(d, label, layer, "mlp_expert_indices", S, k, 0, &s->idx);
    if (!st) st = get2d(d, label, layer, "mlp_expert_weights", S, k, 0, &s->w);
    if (!st) st = get2d(d, label, layer, "mlp_gate_logits", S, E, 1, &s->logits);
    for (int64_t i = 0; !st && i < S * k; i++)
        if (!(s->idx[i] >= 0 && s->idx[i] < E && s->idx[i] == floor(s->idx[i])))
            st = gptoss_error(GPTOSS_ERR_FORMAT, "%s dump: block%d.mlp_expert_indices: %g is not an expert (0..%d)",
                              label, layer, s->idx[i], E - 1);
    if (st) side_free(s);
    return st;
}

static int cmp_desc(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a < b) - (a > b);
}

/* The logit gap that decides the disagreement on one side (see routing.h). */
static double margin(const double *logits, int E, int k, int set_equal, double *scratch) {
    if (!logits) return NAN;
    memcpy(scratch, logits, (size_t)E * sizeof *scratch);
    qsort(scratch, (size_t)E, sizeof *scratch, cmp_desc);
    if (!set_equal) return k < E ? scratch[k - 1] - scratch[k] : INFINITY;
    double m = INFINITY;
    for (int j = 0; j + 1 < k; j++) m = fmin(m, scratch[j] - scratch[j + 1]);
    return m;
}

static int contains(const double *v, int k, double x) {
    for (int j = 0; j < k; j++)
        if (v[j] == x) return 1;
    return 0;
}

/* Gate weight of expert e on one side (0 if not chosen). */
static double weight_of(const double *idx, const double *w, int k, double e) {
    for (int j = 0; j < k; j++)
        if (idx[j] == e) return w[j];
    return 0.0;
}

static gptoss_status add_disagreement(routing_result *r, int layer, int token, int set_equal,
                                      const double *ia, const double *ib, double ma, double mb,
                                      double rounding) {
    if (r->n_dis % 64 == 0) {
        routing_disagreement *nd = realloc(r->dis, (r->n_dis + 64) * sizeof *nd);
        if (!nd) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
        r->dis = nd;
    }
    routing_disagreement *d = &r->dis[r->n_dis];
    memset(d, 0, sizeof *d);
    d->a_experts = malloc((size_t)r->k * sizeof *d->a_experts);
    d->b_experts = malloc((size_t)r->k * sizeof *d->b_experts);
    if (!d->a_experts || !d->b_experts) {
        free(d->a_experts);
        free(d->b_experts);
        return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    }
    r->n_dis++;
    d->layer = layer;
    d->token = token;
    d->set_equal = set_equal;
    for (int j = 0; j < r->k; j++) {
        d->a_experts[j] = (int64_t)ia[j];
        d->b_experts[j] = (int64_t)ib[j];
    }
    d->a_margin = ma;
    d->b_margin = mb;
    d->rounding = rounding;
    d->near_tie = ma <= 2 * rounding && mb <= 2 * rounding; /* false when NaN */
    if (d->near_tie) r->near_ties++;
    return GPTOSS_OK;
}

/* The rounding at one decision: the largest router-logit |a - b| there, at least 16 float32
 * epsilons of the largest logit, at most 1e-4 of it (or 1e-4 when the logits are below 1):
 * a larger logit difference is not rounding but a discrepancy upstream (1e-4 is the
 * stage tolerance of the parity check), so it cannot excuse a disagreement. */
static double rounding_at(double logit_diff, double logit_absmax) {
    double floor = 16 * FLT_EPSILON * logit_absmax, cap = 1e-4 * fmax(1.0, logit_absmax);
    return fmin(fmax(logit_diff, floor), cap);
}

/* One layer: decisions, matches, gate diffs, loads, disagreements. */
static gptoss_status compare_layer(routing_result *r, int layer, const side *a, const side *b,
                                   double *scratch) {
    routing_layer *L = &r->layers[layer];
    int k = r->k, E = r->n_experts;
    double gsum = 0;
    int64_t gn = 0;
    L->logit_diff_max = (a->logits && b->logits) ? 0 : NAN;
    for (int t = 0; t < r->n_tokens; t++) {
        const double *ia = a->idx + (int64_t)t * k, *ib = b->idx + (int64_t)t * k;
        const double *wa = a->w + (int64_t)t * k, *wb = b->w + (int64_t)t * k;
        int order = 1, set = 1;
        for (int j = 0; j < k; j++) {
            order &= ia[j] == ib[j];
            set &= contains(ib, k, ia[j]);
            L->load_a[(int)ia[j]]++;
            L->load_b[(int)ib[j]]++;
        }
        L->decisions++;
        L->order_matches += order;
        L->set_matches += set;
        /* Gate weights expert by expert over the union of both choices. */
        for (int j = 0; j < 2 * k; j++) {
            double e = j < k ? ia[j] : ib[j - k];
            if (j >= k && contains(ia, k, e)) continue;
            double dw = fabs(weight_of(ia, wa, k, e) - weight_of(ib, wb, k, e));
            gsum += dw;
            gn++;
            L->gate_diff_max = fmax(L->gate_diff_max, dw);
        }
        const double *la = a->logits ? a->logits + (int64_t)t * E : NULL;
        const double *lb = b->logits ? b->logits + (int64_t)t * E : NULL;
        double dmax = 0, amax = 0;
        for (int e = 0; la && lb && e < E; e++) {
            dmax = fmax(dmax, fabs(la[e] - lb[e]));
            amax = fmax(amax, fmax(fabs(la[e]), fabs(lb[e])));
        }
        if (la && lb) L->logit_diff_max = fmax(L->logit_diff_max, dmax);
        if (order) continue;
        double rounding = (la && lb) ? rounding_at(dmax, amax) : NAN;
        gptoss_status s = add_disagreement(r, layer, t, set, ia, ib, margin(la, E, k, set, scratch),
                                           margin(lb, E, k, set, scratch), rounding);
        if (s) return s;
    }
    L->gate_entries = gn;
    L->gate_diff_mean = gn ? gsum / (double)gn : 0;
    L->pass = L->order_matches == L->decisions && L->gate_diff_max < r->gate_tolerance;
    return GPTOSS_OK;
}

/* Shapes shared by both sides: tokens run, experts, k, layers. */
static gptoss_status geometry(const stage_dump *a, const stage_dump *b, routing_result *r) {
    const dump_tensor *ta = dump_get(a, "block0.mlp_expert_indices");
    const dump_tensor *tb = dump_get(b, "block0.mlp_expert_indices");
    const dump_tensor *ga = dump_get(a, "block0.mlp_gate_logits");
    const dump_tensor *gb = dump_get(b, "block0.mlp_gate_logits");
    if (!ta || !tb)
        return gptoss_error(GPTOSS_ERR_MISSING, "%s dump: no block0.mlp_expert_indices",
                            ta ? "reference" : "engine");
    if (ta->ndim != 2 || tb->ndim != 2 || ta->shape[1] != tb->shape[1] || ta->shape[1] < 1 ||
        ta->shape[0] > INT32_MAX || tb->shape[0] > INT32_MAX)
        return gptoss_error(GPTOSS_ERR_FORMAT, "block0.mlp_expert_indices: shapes differ or are not [S, k]");
    if (!ga && !gb)
        return gptoss_error(GPTOSS_ERR_MISSING, "neither dump has block0.mlp_gate_logits (the expert count)");
    const dump_tensor *g = ga ? ga : gb;
    if (g->ndim != 2 || g->shape[1] < ta->shape[1] || g->shape[1] > ROUTING_MAX_EXPERTS)
        return gptoss_error(GPTOSS_ERR_FORMAT, "block0.mlp_gate_logits: not [S, E] with k <= E <= %d",
                            ROUTING_MAX_EXPERTS);
    r->k = (int)ta->shape[1];
    r->n_experts = (int)g->shape[1];
    r->n_run = (int)(ta->shape[0] < tb->shape[0] ? ta->shape[0] : tb->shape[0]);
    int na = dump_n_blocks(a), nb = dump_n_blocks(b);
    r->n_layers = na < nb ? na : nb;
    int64_t va = dump_count(a, "n_valid", ta->shape[0]), vb = dump_count(b, "n_valid", tb->shape[0]);
    r->n_valid = (int)(va < vb ? va : vb);
    if (r->n_valid < 1 || r->n_valid > r->n_run) r->n_valid = r->n_run;
    return GPTOSS_OK;
}

static int is_token_id(double v) { return v >= 0 && v <= INT32_MAX && v == floor(v); }

/* The two dumps must have run the same ids. */
static gptoss_status same_tokens(const stage_dump *a, const stage_dump *b, routing_result *r) {
    const dump_tensor *ta = dump_get(a, "tokens"), *tb = dump_get(b, "tokens");
    r->token_ids = calloc((size_t)r->n_tokens + 1, sizeof *r->token_ids);
    if (!r->token_ids) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    for (int t = 0; t < r->n_tokens; t++) {
        int has_a = ta && dump_numel(ta) > t, has_b = tb && dump_numel(tb) > t;
        double x = has_a ? dump_elem(ta, t) : -1;
        double y = has_b ? dump_elem(tb, t) : x;
        if ((has_a && !is_token_id(x)) || (has_b && !is_token_id(y)))
            return gptoss_error(GPTOSS_ERR_FORMAT, "tokens: position %d holds %g, not a token id", t,
                                has_a && !is_token_id(x) ? x : y);
        if (ta && tb && x != y)
            return gptoss_error(GPTOSS_ERR_FORMAT, "the dumps ran different tokens (position %d: %.0f vs %.0f)",
                                t, x, y);
        r->token_ids[t] = (int32_t)(ta ? x : y);
    }
    return GPTOSS_OK;
}

gptoss_status routing_compare(const stage_dump *a, const stage_dump *b, int n_tokens,
                              double gate_tolerance, routing_result *r) {
    memset(r, 0, sizeof *r);
    r->gate_tolerance = gate_tolerance;
    gptoss_status s = geometry(a, b, r);
    if (s) return s;
    r->n_tokens = (n_tokens > 0 && n_tokens < r->n_valid) ? n_tokens : r->n_valid;
    if (r->n_layers < 1) return gptoss_error(GPTOSS_ERR_MISSING, "no blocks in common");
    s = same_tokens(a, b, r);
    r->layers = calloc((size_t)r->n_layers, sizeof *r->layers);
    double *scratch = malloc((size_t)r->n_experts * sizeof *scratch);
    if (!s && (!r->layers || !scratch)) s = gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && i < r->n_layers; i++) {
        routing_layer *L = &r->layers[i];
        L->load_a = calloc((size_t)r->n_experts, sizeof *L->load_a);
        L->load_b = calloc((size_t)r->n_experts, sizeof *L->load_b);
        if (!L->load_a || !L->load_b) s = gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
        side sa, sb;
        if (!s) s = load_side(a, "engine", i, r->n_tokens, r->k, r->n_experts, &sa);
        if (!s) {
            s = load_side(b, "reference", i, r->n_tokens, r->k, r->n_experts, &sb);
            if (!s) {
                s = compare_layer(r, i, &sa, &sb, scratch);
                side_free(&sb);
            }
            side_free(&sa);
        }
        if (s) break;
        r->decisions += L->decisions;
        r->order_matches += L->order_matches;
        r->set_matches += L->set_matches;
        r->gate_diff_max = fmax(r->gate_diff_max, L->gate_diff_max);
    }
    free(scratch);
    if (s) {
        routing_result_free(r);
        return s;
    }
    double sum = 0;
    int64_t entries = 0;
    for (int i = 0; i < r->n_layers; i++) {
        sum += r->layers[i].gate_diff_mean * (double)r->layers[i].gate_entries;
        entries += r->layers[i].gate_entries;
    }
    r->gate_diff_mean = entries ? sum / (double)entries : 0;
    r->pass = r->order_matches == r->decisions && r->gate_diff_max < gate_tolerance;
    return GPTOSS_OK;
}

void routing_result_free(routing_result *r) {
    for (int i = 0; r->layers && i < r->n_layers; i++) {
        free(r->layers[i].load_a);
        free(r->layers[i].load_b);
    }
    for (size_t i = 0; i < r->n_dis; i++) {
        free(r->dis[i].a_experts);
        free(r->dis[i].b_experts);
    }
    free(r->layers);
    free(r->dis);
    free(r->token_ids);
    memset(r, 0, sizeof *r);
}
