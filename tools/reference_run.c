/* reference_run.c: token ids, engine run and reference run for the comparison commands. */
#include "reference_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parity_report.h"
#include "util.h"

void run_spec_args(run_spec *r, arg_spec out[RUN_SPEC_ARGS]) {
    const arg_spec specs[RUN_SPEC_ARGS] = {
        {"--against", NULL, ARG_STR, &r->against, 0, 0},
        {"--model", "-m", ARG_STR, &r->model, 0, 0},
        {"--prompt", NULL, ARG_STR, &r->prompt, 0, 0},
        {"--tokens", NULL, ARG_STR, &r->tokens, 0, 0},
        {"--max-layers", NULL, ARG_INT, &r->max_layers, 1, 1e9},
        {"--sequence-length", NULL, ARG_INT, &r->seq_len, 0, 1e9},
        {"--threads", NULL, ARG_INT, &r->threads, 0, 4096},
        {"--incremental", NULL, ARG_FLAG, &r->incremental, 0, 0},
        {"--verbose", "-v", ARG_FLAG, &r->verbose, 0, 0},
        {"--engine-dump", NULL, ARG_STR, &r->engine_dump, 0, 0},
        {"--reference-dump", NULL, ARG_STR, &r->ref_dump, 0, 0},
        {"--save-engine-dump", NULL, ARG_STR, &r->save_eng, 0, 0},
        {"--save-reference-dump", NULL, ARG_STR, &r->save_ref, 0, 0},
    };
    memcpy(out, specs, sizeof specs);
}

int run_spec_check(const char *cmd, run_spec *r, const char *references) {
    int both = r->engine_dump && r->ref_dump;
    if (!r->against && !r->ref_dump) return cli_usage_error(cmd, "--against NAME is required (%s)", references);
    if (!r->against) r->against = "reference";
    if (!r->model && !both) return cli_usage_error(cmd, "-m DIR is required");
    if (r->prompt && r->tokens) return cli_usage_error(cmd, "give --prompt or --tokens, not both");
    if (!r->prompt && !r->tokens && !both) return cli_usage_error(cmd, "--prompt TEXT or --tokens IDS is required");
    if (r->incremental && r->engine_dump) return cli_usage_error(cmd, "--incremental runs the engine: not with --engine-dump");
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
    if (!s) s = tokens_pad(raw, n, (int)r->seq_len, ids, n_ids);
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
    gptoss_open_options oo = {.max_layers = (int)r->max_layers};
    gptoss_model *m = NULL;
    gptoss_status s = gptoss_model_open(r->model, &oo, &m);
    if (s) return s;
    if (layout) snprintf(layout, layout_cap, "%s", gptoss_model_layout(m));
    double t0 = gptoss_now();
    s = dump_from_engine(m, ids, n_ids, n_valid, (int)r->threads, r->incremental, d);
    *secs = gptoss_now() - t0;
    gptoss_model_close(m);
    if (!s && r->save_eng) s = dump_save(d, r->save_eng);
    return s;
}

gptoss_status run_reference_side(const run_spec *r, const int32_t *ids, int n_ids, int n_valid,
                                 stage_dump *d, double *secs) {
    if (r->ref_dump) return dump_load(r->ref_dump, d);
    adapter_options ao = {.name = r->against, .checkpoint = r->model, .tokens = ids,
                          .n_tokens = n_ids, .n_valid = n_valid, .max_layers = (int)r->max_layers,
                          .extra = r->extra.v, .n_extra = r->extra.n, .verbose = r->verbose};
    gptoss_status s = adapter_run(&ao, d, secs);
    if (!s && r->save_ref) s = dump_save(d, r->save_ref);
    return s;
}

/* Without --prompt/--tokens (two dumps given): the ids come from the engine's dump. */
static gptoss_status ids_from_dump(const stage_dump *d, int32_t **ids, int *n_ids, int *n_valid) {
    const dump_tensor *t = dump_get(d, "tokens"), *v = dump_get(d, "n_valid");
    if (!t || dump_numel(t) < 1) return gptoss_error(GPTOSS_ERR_MISSING, "engine dump: no tokens");
    *n_ids = (int)dump_numel(t);
    *n_valid = v && dump_numel(v) == 1 ? (int)dump_elem(v, 0) : *n_ids;
    if (*n_valid < 1 || *n_valid > *n_ids) *n_valid = *n_ids;
    *ids = malloc((size_t)*n_ids * sizeof **ids);
    if (!*ids) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < *n_ids; i++) (*ids)[i] = (int32_t)dump_elem(t, i);
    return GPTOSS_OK;
}

gptoss_status run_both_sides(const run_spec *r, run_sides *o) {
    memset(o, 0, sizeof *o);
    dump_init(&o->eng);
    dump_init(&o->ref);
    o->t_eng = o->t_ref = -1;
    gptoss_status s = GPTOSS_OK;
    if (r->prompt || r->tokens) s = run_make_ids(r, &o->ids, &o->n_ids, &o->n_valid, &o->strings);
    if (!s) s = run_engine_side(r, o->ids, o->n_ids, o->n_valid, &o->eng, o->layout, sizeof o->layout, &o->t_eng);
    if (!s && !o->ids) s = ids_from_dump(&o->eng, &o->ids, &o->n_ids, &o->n_valid);
    if (!s) s = run_reference_side(r, o->ids, o->n_ids, o->n_valid, &o->ref, &o->t_ref);
    return s;
}

void run_sides_free(run_sides *s) {
    run_free_strings(s->strings, s->n_valid);
    free(s->ids);
    dump_free(&s->eng);
    dump_free(&s->ref);
}
