/* compare_json.c: a parity_result as JSON (cJSON), for --json reports. */
#include <cjson/cJSON.h>
#include <math.h>

#include "parity.h"

/* JSON has no Inf/NaN: those become strings. */
static void add_number(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddStringToObject(o, key, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

static cJSON *shape_json(int ndim, const int64_t *shape) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < ndim; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)shape[i]));
    return a;
}

/* The multi-index of flat index i in the stage's shape. */
static cJSON *index_json(const stage_diff *d, int64_t i) {
    int64_t idx[GPTOSS_MAX_DIMS];
    for (int k = d->ndim - 1; k >= 0; k--) {
        idx[k] = d->shape[k] ? i % d->shape[k] : 0;
        i = d->shape[k] ? i / d->shape[k] : 0;
    }
    return shape_json(d->ndim, idx);
}

void *diff_stats_json(const diff_stats *s, const stage_diff *where) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    add_number(o, "max", s->max);
    add_number(o, "mean", s->mean);
    add_number(o, "median", s->median);
    cJSON_AddNumberToObject(o, "count", (double)s->count);
    if (where && s->argmax >= 0) cJSON_AddItemToObject(o, "argmax", index_json(where, s->argmax));
    return o;
}

void *stage_diff_json(const stage_diff *d) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddItemToObject(o, "shape", shape_json(d->ndim, d->shape));
    cJSON_AddStringToObject(o, "dtype", gptoss_dtype_name(d->dtype));
    if (d->is_integer) {
        cJSON_AddNumberToObject(o, "mismatches", (double)d->mismatches);
        if (d->first_mismatch >= 0)
            cJSON_AddItemToObject(o, "first_mismatch", index_json(d, d->first_mismatch));
    } else {
        cJSON_AddItemToObject(o, "all", diff_stats_json(&d->all, d));
        cJSON_AddItemToObject(o, "real", diff_stats_json(&d->real, d));
        cJSON_AddItemToObject(o, "last_real", diff_stats_json(&d->last, d));
        add_number(o, "ref_absmax", d->ref_absmax);
        cJSON_AddNumberToObject(o, "nonfinite", (double)d->nonfinite);
    }
    return o;
}

void *parity_result_json(const parity_result *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "n_tokens", (double)r->n_tokens);
    cJSON_AddNumberToObject(o, "n_valid", (double)r->n_valid);
    cJSON_AddNumberToObject(o, "n_blocks", r->n_blocks);
    cJSON *st = cJSON_AddArrayToObject(o, "stages");
    for (size_t i = 0; st && i < r->n_stages; i++)
        cJSON_AddItemToArray(st, stage_diff_json(&r->stages[i]));
    cJSON *is = cJSON_AddArrayToObject(o, "issues");
    for (size_t i = 0; is && i < r->n_issues; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "kind", parity_issue_kind_name(r->issues[i].kind));
        cJSON_AddStringToObject(e, "text", r->issues[i].text);
        cJSON_AddItemToArray(is, e);
    }
    return o;
}
