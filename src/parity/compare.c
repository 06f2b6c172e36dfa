/* compare.c: two stage dumps compared name by name: max / mean / median |diff| over every
 * element, over the real tokens and over the last real token; exact equality for integer
 * tensors; issues for what cannot be compared. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"
#include "util.h"

static int is_integer_dtype(gptoss_dtype t) {
    return t == GPTOSS_DT_I64 || t == GPTOSS_DT_I32 || t == GPTOSS_DT_U8;
}

/* ---- statistics ------------------------------------------------------------------------- */

/* k-th smallest of a[0..n) (quickselect, reorders a). */
static double select_kth(double *a, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                double t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return a[k];
}

/* Median of a[0..n) (the mean of the two middle values when n is even); reorders a. */
static double median(double *a, int64_t n) {
    if (n == 0) return 0.0;
    int64_t k = n / 2;
    double hi = select_kth(a, n, k);
    if (n % 2) return hi;
    double lo = a[0];
    for (int64_t i = 1; i < k; i++)
        if (a[i] > lo) lo = a[i];
    return 0.5 * (lo + hi);
}

/* max, argmax (offset by base) and mean of d[0..n); the median is filled in later. */
static diff_stats max_mean(const double *d, int64_t n, int64_t base) {
    diff_stats s = {0.0, 0.0, 0.0, n ? base : -1, n};
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        sum += d[i];
        if (d[i] > s.max || isnan(d[i])) {
            s.max = d[i];
            s.argmax = base + i;
        }
    }
    s.mean = n ? sum / (double)n : 0.0;
    return s;
}

/* ---- issues ------------------------------------------------------------------------------ */

static gptoss_status add_issue(parity_result *r, parity_issue_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static gptoss_status add_issue(parity_result *r, parity_issue_kind kind, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    parity_issue *ni = realloc(r->issues, (r->n_issues + 1) * sizeof *ni);
    if (!ni) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    r->issues = ni;
    ni[r->n_issues].kind = kind;
    ni[r->n_issues].text = strdup(line);
    if (!ni[r->n_issues].text) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    r->n_issues++;
    return GPTOSS_OK;
}

int parity_issue_is_fatal(parity_issue_kind kind, int strict) {
    if (kind == ISSUE_MISSING_IN_REFERENCE || kind == ISSUE_EXTRA) return strict;
    return 1;
}

const char *parity_issue_kind_name(parity_issue_kind kind) {
    switch (kind) {
    case ISSUE_MISSING_IN_REFERENCE: return "missing_in_reference";
    case ISSUE_MISSING_IN_ENGINE: return "missing_in_engine";
    case ISSUE_EXTRA: return "extra";
    case ISSUE_SHAPE: return "shape";
    case ISSUE_DTYPE: return "dtype";
    case ISSUE_MISMATCH: return "mismatch";
    case ISSUE_NONFINITE: return "nonfinite";
    case ISSUE_TOKENS: return "tokens";
    }
    return "?";
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* "[7, 3]": the values of row `row` of an integer tensor (a few at most). */
static void row_str(char *buf, size_t cap, const dump_tensor *t, int64_t row, int64_t row_len) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int64_t j = 0; j < row_len && j < 8 && n < cap; j++)
        n += (size_t)snprintf(buf + n, cap - n, j ? ", %.0f" : "%.0f", dump_elem(t, row * row_len + j));
    if (n < cap) snprintf(buf + n, cap - n, row_len > 8 ? ", ...]" : "]");
}

/* ---- one tensor -------------------------------------------------------------------------- */

static gptoss_status compare_one(parity_result *r, const dump_tensor *a, const dump_tensor *b,
                                 const char *al, const char *bl) {
    char sa[128], sb[128];
    shape_str(sa, sizeof sa, a->ndim, a->shape);
    shape_str(sb, sizeof sb, b->ndim, b->shape);
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]))
        return add_issue(r, ISSUE_SHAPE, "%s: shape %s in %s, %s in %s", a->name, sa, al, sb, bl);
    int ia = is_integer_dtype(a->dtype), ib = is_integer_dtype(b->dtype);
    if (ia != ib)
        return add_issue(r, ISSUE_DTYPE, "%s: %s in %s, %s in %s", a->name,
                         gptoss_dtype_name(a->dtype), al, gptoss_dtype_name(b->dtype), bl);

    stage_diff sd;
    memset(&sd, 0, sizeof sd);
    sd.name = a->name;
    sd.is_integer = ia;
    sd.dtype = a->dtype;
    sd.ndim = a->ndim;
    memcpy(sd.shape, a->shape, sizeof sd.shape);
    sd.first_mismatch = -1;

    int64_t n = dump_numel(a);
    int token_axis = a->ndim >= 1 && a->shape[0] == r->n_tokens && r->n_tokens > 0;
    int64_t row = token_axis ? n / a->shape[0] : n;
    int64_t n_real = token_axis ? row * r->n_valid : n;
    int64_t last0 = token_axis ? row * (r->n_valid - 1) : 0, n_last = token_axis ? row : n;

    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    double *tmp = malloc((size_t)(n_last ? n_last : 1) * sizeof *tmp);
    if (!d || !tmp) {
        free(d);
        free(tmp);
        return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", a->name);
    }
    for (int64_t i = 0; i < n; i++) {
        double x = dump_elem(a, i), y = dump_elem(b, i);
        if (fabs(y) > sd.ref_absmax) sd.ref_absmax = fabs(y);
        if (isfinite(x) && isfinite(y)) {
            d[i] = fabs(x - y);
        } else if ((isnan(x) && isnan(y)) || x == y) {
            d[i] = 0.0;
        } else {
            d[i] = INFINITY;
            sd.nonfinite++;
        }
        if (ia && d[i] != 0.0) {
            if (sd.first_mismatch < 0) sd.first_mismatch = i;
            sd.mismatches++;
        }
    }
    gptoss_status s = GPTOSS_OK;
    sd.all = max_mean(d, n, 0);
    sd.real = max_mean(d, n_real, 0);
    sd.last = max_mean(d + last0, n_last, last0);
    memcpy(tmp, d + last0, (size_t)n_last * sizeof *d);
    sd.last.median = median(tmp, n_last);
    sd.real.median = median(d, n_real); /* reorders the real prefix only */
    sd.all.median = median(d, n);
    free(tmp);
    free(d);

    if (sd.mismatches) {
        int64_t t = sd.first_mismatch / row;
        char ra[128], rb[128];
        row_str(ra, sizeof ra, a, t, row);
        row_str(rb, sizeof rb, b, t, row);
        s = add_issue(r, ISSUE_MISMATCH, "%s: %lld of %lld values differ, first at token %lld: %s %s, %s %s",
                      a->name, (long long)sd.mismatches, (long long)n, (long long)t, al, ra, bl, rb);
    }
    if (!s && sd.nonfinite && !ia)
        s = add_issue(r, ISSUE_NONFINITE, "%s: %lld values are NaN/Inf on one side only", a->name,
                      (long long)sd.nonfinite);
    if (s) return s;
    stage_diff *ns = realloc(r->stages, (r->n_stages + 1) * sizeof *ns);
    if (!ns) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    r->stages = ns;
    ns[r->n_stages++] = sd;
    return GPTOSS_OK;
}

/* ---- tokens ------------------------------------------------------------------------------ */

static gptoss_status compare_tokens(parity_result *r, const stage_dump *a, const stage_dump *b,
                                    const char *al, const char *bl) {
    const dump_tensor *ta = dump_get(a, "tokens"), *tb = dump_get(b, "tokens");
    const dump_tensor *vb = dump_get(b, "n_valid");
    const dump_tensor *logits = dump_get(a, "logits");
    r->n_tokens = ta ? dump_numel(ta) : logits && logits->ndim ? logits->shape[0] : 0;
    r->n_valid = dump_count(a, "n_valid", r->n_tokens);
    if (r->n_valid < 1 || r->n_valid > r->n_tokens) r->n_valid = r->n_tokens;
    if (!ta || !tb)
        return add_issue(r, ISSUE_TOKENS, "tokens: not written by %s", !ta ? al : bl);
    if (dump_numel(ta) != dump_numel(tb))
        return add_issue(r, ISSUE_TOKENS, "tokens: %s ran %lld ids, %s %lld", al,
                         (long long)dump_numel(ta), bl, (long long)dump_numel(tb));
    for (int64_t i = 0; i < dump_numel(ta); i++)
        if (dump_elem(ta, i) != dump_elem(tb, i))
            return add_issue(r, ISSUE_TOKENS, "tokens: differ at position %lld: %s %.0f, %s %.0f",
                             (long long)i, al, dump_elem(ta, i), bl, dump_elem(tb, i));
    if (vb && dump_count(b, "n_valid", -1) != r->n_valid)
        return add_issue(r, ISSUE_TOKENS, "n_valid: %s %lld, %s %.0f", al, (long long)r->n_valid,
                         bl, dump_numel(vb) == 1 ? dump_elem(vb, 0) : -1.0);
    return GPTOSS_OK;
}

/* ---- two dumps --------------------------------------------------------------------------- */

static int in_contract(const char *name, int n_blocks) {
    if (!strcmp(name, "logits") || !strcmp(name, "final_normed") || !strcmp(name, "tokens") ||
        !strcmp(name, "n_valid"))
        return 1;
    int blk, len = 0;
    if (sscanf(name, "block%d.%n", &blk, &len) != 1 || len == 0 || blk < 0 || blk >= n_blocks)
        return 0;
    for (int i = 0; i < GPTOSS_BLOCK_STAGES; i++)
        if (!strcmp(name + len, gptoss_stages[i].name)) return 1;
    return 0;
}

static gptoss_status compare_name(parity_result *r, const stage_dump *a, const stage_dump *b,
                                  const char *name, const char *al, const char *bl) {
    const dump_tensor *ta = dump_get(a, name), *tb = dump_get(b, name);
    if (ta && tb) return compare_one(r, ta, tb, al, bl);
    gptoss_status s = GPTOSS_OK;
    if (!ta) s = add_issue(r, ISSUE_MISSING_IN_ENGINE, "%s: missing in %s", name, al);
    if (!s && !tb) s = add_issue(r, ISSUE_MISSING_IN_REFERENCE, "%s: missing in %s", name, bl);
    return s;
}

gptoss_status parity_compare(const stage_dump *a, const stage_dump *b, const char *al,
                             const char *bl, parity_result *r) {
    memset(r, 0, sizeof *r);
    int na = dump_n_blocks(a), nb = dump_n_blocks(b);
    r->n_blocks = na > nb ? na : nb;
    gptoss_status s = compare_tokens(r, a, b, al, bl);
    char name[64];
    for (int i = 0; i < r->n_blocks && !s; i++)
        for (int j = 0; j < GPTOSS_BLOCK_STAGES && !s; j++) {
            snprintf(name, sizeof name, "block%d.%s", i, gptoss_stages[j].name);
            s = compare_name(r, a, b, name, al, bl);
        }
    if (!s) s = compare_name(r, a, b, "final_normed", al, bl);
    if (!s) s = compare_name(r, a, b, "logits", al, bl);
    /* Names outside the contract: compared when both sides have them, else reported. */
    for (size_t i = 0; i < a->n && !s; i++) {
        const char *nm = a->tensors[i].name;
        if (in_contract(nm, r->n_blocks)) continue;
        s = dump_get(b, nm) ? compare_one(r, &a->tensors[i], dump_get(b, nm), al, bl)
                            : add_issue(r, ISSUE_EXTRA, "%s: only in %s", nm, al);
    }
    for (size_t i = 0; i < b->n && !s; i++) {
        const char *nm = b->tensors[i].name;
        if (!in_contract(nm, r->n_blocks) && !dump_get(a, nm))
            s = add_issue(r, ISSUE_EXTRA, "%s: only in %s", nm, bl);
    }
    if (s) parity_result_free(r);
    return s;
}

void parity_result_free(parity_result *r) {
    for (size_t i = 0; i < r->n_issues; i++) free(r->issues[i].text);
    free(r->issues);
    free(r->stages);
    memset(r, 0, sizeof *r);
}

const stage_diff *parity_find(const parity_result *r, const char *name) {
    for (size_t i = 0; i < r->n_stages; i++)
        if (!strcmp(r->stages[i].name, name)) return &r->stages[i];
    return NULL;
}
