/* reference_run.c: token ids, engine run and reference run for the comparison commands. */
#include "reference_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parity_report.h"
#include "util.h"

int run_parse_int(const char *cmd, const char *opt, const char *v, int lo, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > 1000000000)
        return cli_usage_error(cmd, "%s '%s': expected an integer >= %d", opt, v, lo);
    *out = (int)x;
    return 0;
}

gptoss_status run_make_ids(const run_spec *r, int32_t **ids, int *n_ids, int *n_valid,
                           char ***strings) {
    int32_t *raw = NULL;
    int n = 0;
    gptoss_status s = GPTOSS_OK;
    gptoss_tokenizer *tok = NULL;
    *strings = NULL;
    if (r->tokens) s = tokens_parse("--tokens", r->tokens, &raw, &n);
    if (!s) s = gptoss_tokenizer_open(NULL, &tok);
    if (s && r->tokens && raw) s = GPTOSS_OK; /* ids given: the token strings are a luxury */
    if (!s && r->prompt) {
        size_t cnt = 0;
        s = gptoss_tokenizer_encode(tok, r->prompt, strlen(r->prompt), 1, &raw, &cnt);
        n = (int)cnt;
        if (!s && n == 0) s = gptoss_error(GPTOSS_ERR_ARG, "--prompt: encodes to no tokens");
    }
    if (!s) s = tokens_pad(raw, n, r->seq_len, ids, n_ids);
    if (!s) {
        *n_valid = n;
        *strings = tok ? calloc((size_t)n, sizeof **strings) : NULL;
        for (int i = 0; *strings && i < n; i++) {
            size_t len = 0;
            const char *b = gptoss_tokenizer_token(tok, raw[i], &len);
            (*strings)[i] = b ? token_repr(b, len) : strdup("<out of range>");
        }
    }
    gptoss_tokenizer_close(tok);
    free(raw);
    return s;
}

void run_free_strings(char **v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

gptoss_status run_engine_side(const run_spec *r, const int32_t *ids, int n_ids, int n_valid,
                              stage_dump *d, char *layout, size_t layout_cap, double *secs) {
    if (r->engine_dump) return dump_load(r->engine_dump, d);
    gptoss_open_options oo = {.max_layers = r->max_layers};
    gptoss_model *m = NULL;
    gptoss_status s = gptoss_model_open(r->model, &oo, &m);
    if (s) return s;
    if (layout) snprintf(layout, layout_cap, "%s", gptoss_model_layout(m));
    double t0 = gptoss_now();
    s = dump_from_engine(m, ids, n_ids, n_valid, r->threads, 0, d);
    *secs = gptoss_now() - t0;
    gptoss_model_close(m);
    if (!s && r->save_eng) s = dump_save(d, r->save_eng);
    return s;
}

gptoss_status run_reference_side(const run_spec *r, const int32_t *ids, int n_ids, int n_valid,
                                 stage_dump *d, double *secs) {
    if (r->ref_dump) return dump_load(r->ref_dump, d);
    adapter_options ao = {.name = r->against, .checkpoint = r->model, .tokens = ids,
                          .n_tokens = n_ids, .n_valid = n_valid, .max_layers = r->max_layers,
                          .extra = r->extra, .n_extra = r->n_extra, .verbose = r->verbose};
    gptoss_status s = adapter_run(&ao, d, secs);
    if (!s && r->save_ref) s = dump_save(d, r->save_ref);
    return s;
}
