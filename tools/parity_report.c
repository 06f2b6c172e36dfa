/* parity_report.c: what `gptoss parity` prints and writes: the tokens, the logits
 * statistics, the stages sorted by max |diff|, the issues, and the verdict. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "parity_report.h"
#include "util.h"

/* ---- tokens ----------------------------------------------------------------------------- */

/* Length of the valid UTF-8 character at s; 0 if invalid or an ASCII control. */
static size_t utf8_char(const unsigned char *s, size_t len) {
    if (s[0] < 0x80) return s[0] >= 0x20 && s[0] != 0x7f;
    size_t n = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (n == 0 || n > len) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

char *token_repr(const char *bytes, size_t len) {
    char *out = malloc(len * 4 + 3), *p = out;
    if (!out) return NULL;
    const unsigned char *s = (const unsigned char *)bytes;
    *p++ = '\'';
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char(s + i, len - i);
        if (s[i] == '\'' || s[i] == '\\') {
            *p++ = '\\';
            *p++ = (char)s[i++];
        } else if (s[i] == '\n') {
            p += sprintf(p, "\\n"), i++;
        } else if (n) {
            memcpy(p, s + i, n), p += n, i += n;
        } else {
            p += sprintf(p, "\\x%02x", s[i++]);
        }
    }
    *p++ = '\'';
    *p = '\0';
    return out;
}

/* ---- verdict ---------------------------------------------------------------------------- */

static int add_line(char ***out, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int add_line(char ***out, int *n, const char *fmt, ...) {
    if (!out) return 1;
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char **nl = realloc(*out, (size_t)(*n + 1) * sizeof *nl);
    if (!nl) return 1;
    *out = nl;
    nl[(*n)++] = strdup(line);
    return 1;
}

int parity_within_reference_rounding(const parity_run *run, const stage_diff *d, double tol) {
    if (!run->engine_exact || !run->reference_exact) return 0;
    const stage_diff *e = parity_find(run->engine_exact, d->name);
    const stage_diff *r = parity_find(run->reference_exact, d->name);
    /* Mean, not max: the max of |diff| over a stage jumps from stage to stage with the one
     * element that rounding happened to amplify most (engine/reference max ratios 0.3-2.0
     * on deep), while the mean is stable (0.45-1.02 there). 1.25: which of two fp32
     * evaluations lands closer to the exact sums varies; a bug is orders of magnitude
     * beyond it. 10x the tolerance bounds what rounding is allowed to explain at all. */
    return e && r && e->all.mean <= 1.25 * r->all.mean && d->all.max <= 10 * tol;
}

int parity_failures(const parity_run *run, char ***out, int *n_out) {
    const parity_result *r = run->result;
    int count = 0, n = 0;
    if (out) *out = NULL;
    if (!parity_find(r, "logits")) count += add_line(out, &n, "logits: not compared");
    for (size_t i = 0; i < r->n_stages; i++) {
        const stage_diff *d = &r->stages[i];
        if (d->is_integer) continue; /* mismatches are issues */
        int is_logits = !strcmp(d->name, "logits");
        double tol = is_logits ? run->logits_tol : run->stage_tol;
        if (!(d->all.max <= tol) && !parity_within_reference_rounding(run, d, tol))
            count += add_line(out, &n, "%s: max |diff| %.3g > %s tolerance %.3g", d->name,
                              d->all.max, is_logits ? "logits" : "stage", tol);
    }
    for (size_t i = 0; i < r->n_issues; i++)
        if (parity_issue_is_fatal(r->issues[i].kind, run->strict))
            count += add_line(out, &n, "%s", r->issues[i].text);
    if (n_out) *n_out = n;
    return count;
}

/* ---- text ------------------------------------------------------------------------------- */

static void fmt_shape(char *buf, size_t cap, const stage_diff *d) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < d->ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)d->shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int by_max_desc(const void *pa, const void *pb) {
    const stage_diff *a = *(const stage_diff *const *)pa, *b = *(const stage_diff *const *)pb;
    double x = isnan(a->all.max) ? INFINITY : a->all.max, y = isnan(b->all.max) ? INFINITY : b->all.max;
    if (x != y) return x < y ? 1 : -1;
    return strcmp(a->name, b->name);
}

/* Float stages other than the logits, sorted by max |diff| over all positions. */
static const stage_diff **sorted_stages(const parity_result *r, size_t *n) {
    const stage_diff **v = malloc((r->n_stages + 1) * sizeof *v);
    *n = 0;
    if (!v) return NULL;
    for (size_t i = 0; i < r->n_stages; i++)
        if (!r->stages[i].is_integer && strcmp(r->stages[i].name, "logits")) v[(*n)++] = &r->stages[i];
    qsort(v, *n, sizeof *v, by_max_desc);
    return v;
}

static void print_header(FILE *f, const parity_run *run) {
    const parity_result *r = run->result;
    fprintf(f, "gptoss parity: engine vs %s\n", run->against);
    if (run->model)
        fprintf(f, "  model:  %s (%s layout, %d block%s)\n", run->model,
                run->layout ? run->layout : "?", r->n_blocks, r->n_blocks == 1 ? "" : "s");
    if (run->prompt) fprintf(f, "  prompt: \"%s\"\n", run->prompt);
    if (run->token_strings) {
        fprintf(f, "  prompt tokens (%d): [", run->n_valid);
        for (int i = 0; i < run->n_valid; i++)
            fprintf(f, "%s%s", i ? ", " : "", run->token_strings[i]);
        fprintf(f, "]\n");
    }
    fprintf(f, "  ids:    [");
    for (int i = 0; i < run->n_valid; i++) fprintf(f, "%s%d", i ? ", " : "", (int)run->ids[i]);
    fprintf(f, "]");
    if (run->n_ids > run->n_valid)
        fprintf(f, " + %d x <|endoftext|> (%d): sequence length %d", run->n_ids - run->n_valid,
                GPTOSS_TOKEN_ENDOFTEXT, run->n_ids);
    fprintf(f, "\n");
    if (run->engine_s >= 0 || run->reference_s >= 0) {
        fprintf(f, "  time:  ");
        if (run->engine_s >= 0) fprintf(f, " engine %.2f s", run->engine_s);
        if (run->reference_s >= 0) fprintf(f, " %s %.2f s", run->against, run->reference_s);
        fprintf(f, "\n");
    }
}

static void print_logits(FILE *f, const parity_run *run) {
    const stage_diff *d = parity_find(run->result, "logits");
    if (!d) {
        fprintf(f, "\nlogits: not compared (see [issues])\n");
        return;
    }
    char sh[64], label[64];
    fmt_shape(sh, sizeof sh, d);
    const parity_result *r = run->result;
    fprintf(f, "\nlogits %s\n  %-26s %-12s %-12s %s\n", sh, "", "max |diff|", "mean |diff|",
            "median |diff|");
    const diff_stats *rows[3] = {&d->real, &d->last, &d->all};
    for (int i = 0; i < 3; i++) {
        if (i == 0) snprintf(label, sizeof label, "real tokens (%lld)", (long long)r->n_valid);
        if (i == 1) snprintf(label, sizeof label, "last real token (#%lld)", (long long)r->n_valid - 1);
        if (i == 2) snprintf(label, sizeof label, "all positions (%lld)", (long long)r->n_tokens);
        fprintf(f, "  %-26s %-12.3g %-12.3g %.3g\n", label, rows[i]->max, rows[i]->mean,
                rows[i]->median);
    }
}

/* The two mean distances to the float64 model of a stage ("-" where not compared). */
static void print_exact_pair(FILE *f, const parity_run *run, const char *name) {
    const stage_diff *e = parity_find(run->engine_exact, name);
    const stage_diff *r = parity_find(run->reference_exact, name);
    if (e) fprintf(f, "%-11.3g ", e->all.mean);
    else fprintf(f, "%-11s ", "-");
    if (r) fprintf(f, "%-11.3g ", r->all.mean);
    else fprintf(f, "%-11s ", "-");
}

/* Stages over their tolerance, and whether the exact check calls them the reference's
 * rounding. */
static void print_exact(FILE *f, const parity_run *run) {
    if (!run->engine_exact) return;
    fprintf(f, "\n[exact check] the same model in float64 (%s)", run->exact_label);
    if (run->exact_s >= 0) fprintf(f, ", %.2f s", run->exact_s);
    fprintf(f, "\n  e~r: engine vs reference; e~x, r~x: engine, reference vs float64 (mean |diff|)\n");
    fprintf(f, "  %-34s %-11s %-11s %-11s %s\n", "tensor", "max e~r", "mean e~x", "mean r~x",
            "verdict");
    const parity_result *r = run->result;
    int shown = 0;
    for (size_t i = 0; i < r->n_stages; i++) {
        const stage_diff *d = &r->stages[i];
        if (d->is_integer) continue;
        int is_logits = !strcmp(d->name, "logits");
        double tol = is_logits ? run->logits_tol : run->stage_tol;
        if (!is_logits && d->all.max <= tol) continue;
        fprintf(f, "  %-34s %-11.3g ", d->name, d->all.max);
        print_exact_pair(f, run, d->name);
        fprintf(f, "%s\n", d->all.max <= tol ? "within tolerance"
                          : parity_within_reference_rounding(run, d, tol)
                              ? "over tolerance; the reference's own fp32 rounding"
                              : "over tolerance: FAIL");
        shown++;
    }
    (void)shown;
}

static void print_stages(FILE *f, const parity_run *run) {
    size_t n;
    const stage_diff **v = sorted_stages(run->result, &n);
    if (!v) return;
    size_t top = run->top < 0 ? n : (size_t)run->top;
    if (top > n) top = n;
    fprintf(f, "\nstages: %zu compared, sorted by max |diff| over all positions", n);
    if (top < n) fprintf(f, " (top %zu)", top);
    fprintf(f, "\n  %-34s %-11s %-11s %-11s %-10s ", "tensor", "max", "mean", "max(real)",
            "scale");
    if (run->engine_exact) fprintf(f, "%-11s %-11s ", "mean e~x", "mean r~x");
    fprintf(f, "shape\n");
    for (size_t i = 0; i < top; i++) {
        char sh[96];
        fmt_shape(sh, sizeof sh, v[i]);
        fprintf(f, "  %-34s %-11.3g %-11.3g %-11.3g %-10.3g ", v[i]->name, v[i]->all.max,
                v[i]->all.mean, v[i]->real.max, v[i]->ref_absmax);
        if (run->engine_exact) print_exact_pair(f, run, v[i]->name);
        fprintf(f, "%s\n", sh);
    }
    if (top < n)
        fprintf(f, "  ... and %zu more, each with max |diff| <= %.3g\n", n - top, v[top]->all.max);
    free((void *)v);

    /* Expert routing: integer stages compared for equality. */
    int64_t total = 0, differing = 0;
    int blocks = 0;
    for (size_t i = 0; i < run->result->n_stages; i++) {
        const stage_diff *d = &run->result->stages[i];
        if (!d->is_integer) continue;
        int64_t cnt = 1;
        for (int k = 0; k < d->ndim; k++) cnt *= d->shape[k];
        total += cnt;
        differing += d->mismatches;
        blocks++;
    }
    if (blocks)
        fprintf(f, "\nexpert indices: %s (%d block%s, %lld selections%s)\n",
                differing ? "DIFFER" : "identical", blocks, blocks == 1 ? "" : "s",
                (long long)total, differing ? ", see [issues]" : "");
}

void parity_print(FILE *f, const parity_run *run) {
    const parity_result *r = run->result;
    print_header(f, run);
    print_logits(f, run);
    print_stages(f, run);
    print_exact(f, run);
    fprintf(f, "\n[issues]\n");
    if (!r->n_issues) fprintf(f, "  none\n");
    /* Non-fatal "missing in the reference" issues are folded into one line when there are
     * many (a graph exported without debug outputs lacks every stage); --json has them all. */
    size_t n_missing = 0;
    for (size_t i = 0; i < r->n_issues; i++)
        n_missing += r->issues[i].kind == ISSUE_MISSING_IN_REFERENCE &&
                     !parity_issue_is_fatal(r->issues[i].kind, run->strict);
    int fold = n_missing > 3;
    size_t shown_missing = 0;
    for (size_t i = 0; i < r->n_issues; i++) {
        int fatal = parity_issue_is_fatal(r->issues[i].kind, run->strict);
        if (fold && !fatal && r->issues[i].kind == ISSUE_MISSING_IN_REFERENCE) {
            if (shown_missing++ < 3) fprintf(f, "  %s (reported, not fatal)\n", r->issues[i].text);
            continue;
        }
        fprintf(f, "  %s%s\n", r->issues[i].text, fatal ? "" : " (reported, not fatal)");
    }
    if (fold)
        fprintf(f, "  ... and %zu more stages missing in the reference (listed in --json)\n",
                n_missing - 3);
    char **why = NULL;
    int n = 0, count = parity_failures(run, &why, &n);
    const stage_diff *lg = parity_find(r, "logits");
    size_t ns;
    const stage_diff **v = sorted_stages(r, &ns);
    if (!count) {
        fprintf(f, "\nPASS: logits max |diff| %.3g %s %.3g over all %lld positions",
                lg ? lg->all.max : 0.0, lg && lg->all.max > run->logits_tol ? ">" : "<=",
                run->logits_tol, (long long)r->n_tokens);
        int rounding = 0;
        for (size_t i = 0; i < r->n_stages; i++) {
            const stage_diff *d = &r->stages[i];
            double tol = strcmp(d->name, "logits") ? run->stage_tol : run->logits_tol;
            rounding += !d->is_integer && !(d->all.max <= tol);
        }
        if (v && ns && !rounding)
            fprintf(f, "; every stage <= %.3g (largest %.3g, %s)", run->stage_tol, v[0]->all.max,
                    v[0]->name);
        if (rounding)
            fprintf(f, "\n      (%d tensor%s over tolerance, each the reference's own fp32 rounding: "
                       "see [exact check])", rounding, rounding == 1 ? "" : "s");
        fprintf(f, "\n");
    } else {
        fprintf(f, "\nFAIL: %d problem%s (tolerances: logits %.3g, stages %.3g)\n", count,
                count == 1 ? "" : "s", run->logits_tol, run->stage_tol);
        for (int i = 0; i < n; i++) fprintf(f, "  %s\n", why[i]);
    }
    free((void *)v);
    for (int i = 0; i < n; i++) free(why[i]);
    free(why);
}

/* ---- JSON ------------------------------------------------------------------------------- */

gptoss_status parity_write_json(const char *path, const parity_run *run) {
    const parity_result *r = run->result;
    cJSON *o = parity_result_json(r);
    if (!o) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
    cJSON_AddStringToObject(o, "against", run->against);
    if (run->model) cJSON_AddStringToObject(o, "model", run->model);
    if (run->layout) cJSON_AddStringToObject(o, "layout", run->layout);
    if (run->prompt) cJSON_AddStringToObject(o, "prompt", run->prompt);
    cJSON *ids = cJSON_AddArrayToObject(o, "tokens");
    for (int i = 0; i < run->n_ids; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(run->ids[i]));
    if (run->token_strings) {
        cJSON *ts = cJSON_AddArrayToObject(o, "token_strings");
        for (int i = 0; i < run->n_valid; i++)
            cJSON_AddItemToArray(ts, cJSON_CreateString(run->token_strings[i]));
    }
    cJSON_AddNumberToObject(o, "sequence_length", run->sequence_length);
    cJSON_AddNumberToObject(o, "max_layers", run->max_layers);
    cJSON *tol = cJSON_AddObjectToObject(o, "tolerance");
    cJSON_AddNumberToObject(tol, "logits", run->logits_tol);
    cJSON_AddNumberToObject(tol, "stages", run->stage_tol);
    cJSON_AddBoolToObject(tol, "strict", run->strict);
    cJSON *tm = cJSON_AddObjectToObject(o, "seconds");
    if (run->engine_s >= 0) cJSON_AddNumberToObject(tm, "engine", run->engine_s);
    if (run->reference_s >= 0) cJSON_AddNumberToObject(tm, "reference", run->reference_s);
    const stage_diff *lg = parity_find(r, "logits");
    if (lg) cJSON_AddItemToObject(o, "logits", stage_diff_json(lg));
    size_t ns;
    const stage_diff **v = sorted_stages(r, &ns);
    cJSON *sorted = cJSON_AddArrayToObject(o, "stages_by_max");
    for (size_t i = 0; v && i < ns; i++) cJSON_AddItemToArray(sorted, cJSON_CreateString(v[i]->name));
    free((void *)v);
    if (run->engine_exact) {
        cJSON *ex = cJSON_AddObjectToObject(o, "exact_check");
        cJSON_AddStringToObject(ex, "yardstick", run->exact_label);
        cJSON *es = cJSON_AddArrayToObject(ex, "stages");
        for (size_t i = 0; i < r->n_stages; i++) {
            const stage_diff *d = &r->stages[i];
            const stage_diff *e = parity_find(run->engine_exact, d->name);
            const stage_diff *x = parity_find(run->reference_exact, d->name);
            if (d->is_integer || !e || !x) continue;
            double t = strcmp(d->name, "logits") ? run->stage_tol : run->logits_tol;
            cJSON *it = cJSON_CreateObject();
            cJSON_AddStringToObject(it, "name", d->name);
            cJSON_AddNumberToObject(it, "engine_vs_reference", d->all.max);
            cJSON_AddItemToObject(it, "engine_vs_exact", diff_stats_json(&e->all, NULL));
            cJSON_AddItemToObject(it, "reference_vs_exact", diff_stats_json(&x->all, NULL));
            cJSON_AddBoolToObject(it, "within_tolerance", d->all.max <= t);
            cJSON_AddBoolToObject(it, "reference_rounding",
                                  !(d->all.max <= t) && parity_within_reference_rounding(run, d, t));
            cJSON_AddItemToArray(es, it);
        }
    }
    char **why = NULL;
    int n = 0, count = parity_failures(run, &why, &n);
    cJSON *fl = cJSON_AddArrayToObject(o, "failures");
    for (int i = 0; i < n; i++) {
        cJSON_AddItemToArray(fl, cJSON_CreateString(why[i]));
        free(why[i]);
    }
    free(why);
    cJSON_AddBoolToObject(o, "pass", count == 0);

    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
    gptoss_atomic_file af;
    gptoss_status s = gptoss_atomic_open(&af, path);
    if (!s) {
        if (fputs(text, af.f) < 0 || fputc('\n', af.f) < 0) {
            gptoss_atomic_abort(&af);
            s = gptoss_error(GPTOSS_ERR_IO, "%s: write failed", path);
        } else {
            s = gptoss_atomic_commit(&af);
        }
    }
    free(text);
    return s;
}
