/* cmd_parity.c: gptoss parity, the engine against a reference implementation, stage by
 * stage (the comparison lives in src/parity/, the report in parity_report.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parity/parity.h"
#include "parity_report.h"
#include "reference_run.h"
#include "util.h"

static const char *HELP =
    "usage: gptoss parity --against NAME -m DIR (--prompt TEXT | --tokens IDS)\n"
    "                     [--max-layers N] [--sequence-length N] [--top N]\n"
    "                     [--tolerance X] [--stage-tolerance Y] [--strict] [--json FILE]\n"
    "                     [--threads N] [--incremental] [--verbose] [--engine-dump FILE]\n"
    "                     [--reference-dump FILE] [--save-engine-dump FILE]\n"
    "                     [--save-reference-dump FILE] [--exact-check auto|always|never]\n"
    "                     [--exact-with NAME] [ADAPTER OPTIONS]\n"
    "\n"
    "Runs the engine and a reference implementation on the same token ids and compares\n"
    "every tensor of docs/stages.md (the 17 stages of every block, the final norm and the\n"
    "logits) name by name, at every position. The reference runs in its own process:\n"
    "python/ref_NAME.py with the Python of $GPTOSS_PYTHON (default: .venv/bin/python of\n"
    "the source tree), in fp32.\n"
    "\n"
    "  --against NAME         torch: the official gpt-oss PyTorch model (original layout)\n"
    "                         hf:    Hugging Face transformers' GptOssForCausalLM (HF layout)\n"
    "                         onnx:  ONNX Runtime on an exported graph (needs --onnx FILE)\n"
    "                         flax:  the Flax GPT-OSS of jax2onnx\n"
    "  -m, --model DIR        checkpoint folder, given to the engine and to the reference\n"
    "  --prompt TEXT          text, encoded with o200k_harmony (special tokens recognised)\n"
    "  --tokens IDS           token ids instead, comma-separated\n"
    "  --max-layers N         only the first N blocks on both sides (default: all)\n"
    "  --sequence-length N    pad to N tokens with <|endoftext|> (199999) after the real\n"
    "                         tokens, as the baseline report and `gptoss run` do (default\n"
    "                         32; 0: no padding). Padding positions are compared too\n"
    "  --top N                stages to list, largest max |diff| first (default 10;\n"
    "                         -1: all); the count of the rest is shown\n"
    "  --tolerance X          logits: max |diff| over all positions must be <= X (1e-5)\n"
    "  --stage-tolerance Y    every other float stage, same rule (1e-4)\n"
    "  --strict               also fail on stages the reference did not write\n"
    "  --json FILE            write everything (per-stage max/mean/median over all\n"
    "                         positions, the real tokens and the last real token, where\n"
    "                         the max is, issues, verdict) to FILE, atomically\n"
    "  --threads N            engine threads (default: all cores)\n"
    "  --incremental          run the engine token by token through its KV cache (the\n"
    "                         decode path) instead of one prefill\n"
    "  -v, --verbose          show the reference's progress (its stderr)\n"
    "  --engine-dump FILE     compare this dump (from `gptoss run --dump`) instead of\n"
    "                         running the engine\n"
    "  --reference-dump FILE  compare this dump instead of running the reference; with\n"
    "                         both, -m is optional and NAME only labels the report\n"
    "  --save-engine-dump FILE, --save-reference-dump FILE\n"
    "                         also keep the stage dumps compared (safetensors)\n"
    "  --exact-check WHEN     the exact check (default auto: only when a tolerance is\n"
    "                         exceeded; always; never): evaluates the same model in\n"
    "                         float64 (python/ref_<exact-with>.py --precision fp64) and\n"
    "                         measures how far each side is from it. A tensor over its\n"
    "                         tolerance passes when the engine's mean |diff| to the float64\n"
    "                         result is at most 1.25x the reference's, and its max |diff|\n"
    "                         to the reference within 10x the tolerance: then the\n"
    "                         difference is the reference's own fp32 rounding, which no\n"
    "                         engine can remove. The report shows both distances; with\n"
    "                         never, the tolerances alone decide\n"
    "  --exact-with NAME      the float64 evaluator (default: torch for the original\n"
    "                         layout, hf for the Hugging Face layout)\n"
    "  ADAPTER OPTIONS        any other --option [VALUE] is passed to the adapter as is\n"
    "                         (e.g. --onnx FILE for onnx, --mlp-chunk-mb MB for torch)\n"
    "\n"
    "Integer stages (expert indices) must be identical. A stage missing on either side,\n"
    "a shape mismatch, NaN/Inf on one side only and different token ids are listed under\n"
    "[issues]; all but a stage the reference did not write make the run fail.\n"
    "Exit status: 0 pass, 1 a tolerance exceeded / an issue / a failure, 2 bad arguments.\n";

typedef struct {
    run_spec run; /* the model, the tokens and both sides */
    const char *json, *exact_when, *exact_with;
    long top;
    int strict;
    double logits_tol, stage_tol;
} parity_opts;

static int parse_args(int argc, char **argv, parity_opts *o) {
    *o = (parity_opts){.run.seq_len = 32, .top = 10, .logits_tol = 1e-5, .stage_tol = 1e-4};
    arg_spec specs[RUN_SPEC_ARGS + 7];
    run_spec_args(&o->run, specs);
    const arg_spec own[7] = {
        {"--json", NULL, ARG_STR, &o->json, 0, 0},
        {"--top", NULL, ARG_INT, &o->top, -1, 1e9},
        {"--tolerance", NULL, ARG_FLOAT, &o->logits_tol, 0, 1e30},
        {"--stage-tolerance", NULL, ARG_FLOAT, &o->stage_tol, 0, 1e30},
        {"--strict", NULL, ARG_FLAG, &o->strict, 0, 0},
        {"--exact-check", NULL, ARG_STR, &o->exact_when, 0, 0},
        {"--exact-with", NULL, ARG_STR, &o->exact_with, 0, 0},
    };
    memcpy(specs + RUN_SPEC_ARGS, own, sizeof own);
    int rc = args_parse("parity", HELP, argc, argv, specs, ARGS_N(specs), &o->run.extra);
    if (rc >= 0) return rc;
    if ((rc = run_spec_check("parity", &o->run, "torch, hf, onnx, flax"))) return rc;
    if (!o->exact_when) o->exact_when = "auto";
    if (strcmp(o->exact_when, "auto") && strcmp(o->exact_when, "always") && strcmp(o->exact_when, "never"))
        return cli_usage_error("parity", "--exact-check '%s': expected auto, always or never",
                               o->exact_when);
    return -1;
}

/* Any float tensor over its tolerance? */
static int over_tolerance(const parity_result *r, double logits_tol, double stage_tol) {
    for (size_t i = 0; i < r->n_stages; i++) {
        const stage_diff *d = &r->stages[i];
        double tol = strcmp(d->name, "logits") ? stage_tol : logits_tol;
        if (!d->is_integer && !(d->all.max <= tol)) return 1;
    }
    return 0;
}

/* The exact check: the float64 evaluation, and both sides compared with it. */
static gptoss_status exact_side(const parity_opts *o, const char *layout, const int32_t *ids,
                                int n_ids, int n_valid, const stage_dump *eng,
                                const stage_dump *ref, parity_result *ee, parity_result *re,
                                char *label, size_t label_cap, double *secs) {
    const char *with = o->exact_with ? o->exact_with : !strcmp(layout, "hf") ? "hf" : "torch";
    char *extra[] = {"--precision", "fp64"};
    adapter_options ao = {.name = with, .checkpoint = o->run.model, .tokens = ids, .n_tokens = n_ids,
                          .n_valid = n_valid, .max_layers = o->run.max_layers, .extra = extra,
                          .n_extra = 2, .verbose = o->run.verbose};
    snprintf(label, label_cap, "%s fp64", with);
    stage_dump x;
    dump_init(&x);
    gptoss_status s = adapter_run(&ao, &x, secs);
    if (!s) s = parity_compare(eng, &x, "engine", label, ee);
    if (!s) s = parity_compare(ref, &x, o->run.against, label, re);
    dump_free(&x);
    return s;
}

int cmd_parity(int argc, char **argv) {
    parity_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) {
        free(o.run.extra.v);
        return rc;
    }
    run_sides sd;
    parity_result res = {0}, res_ee = {0}, res_re = {0};
    double t_exact = -1;
    char exact_label[64] = "";
    int exact = 0;
    gptoss_status s = run_both_sides(&o.run, &sd);
    if (!s) s = parity_compare(&sd.eng, &sd.ref, "engine", o.run.against, &res);
    if (!s && o.run.model && (!strcmp(o.exact_when, "always") ||
                          (!strcmp(o.exact_when, "auto") &&
                           over_tolerance(&res, o.logits_tol, o.stage_tol)))) {
        gptoss_status xs = exact_side(&o, sd.layout, sd.ids, sd.n_ids, sd.n_valid, &sd.eng, &sd.ref, &res_ee, &res_re,
                                      exact_label, sizeof exact_label, &t_exact);
        if (xs) fprintf(stderr, "gptoss parity: exact check unavailable: %s\n", gptoss_last_error());
        exact = !xs;
    }
    if (s) {
        rc = cli_fail("parity", s);
    } else {
        parity_run run = {.against = o.run.against, .model = o.run.model, .layout = *sd.layout ? sd.layout : NULL,
                          .prompt = o.run.prompt, .ids = sd.ids, .n_ids = sd.n_ids, .n_valid = sd.n_valid,
                          .token_strings = sd.strings, .sequence_length = o.run.seq_len,
                          .max_layers = o.run.max_layers, .logits_tol = o.logits_tol,
                          .stage_tol = o.stage_tol, .strict = o.strict, .top = o.top,
                          .engine_s = sd.t_eng, .reference_s = sd.t_ref, .result = &res,
                          .engine_exact = exact ? &res_ee : NULL,
                          .reference_exact = exact ? &res_re : NULL,
                          .exact_label = exact_label, .exact_s = t_exact};
        parity_print(stdout, &run);
        fflush(stdout);
        rc = parity_failures(&run, NULL, NULL) ? 1 : 0;
        if (o.json && (s = parity_write_json(o.json, &run))) rc = cli_fail("parity", s);
    }
    parity_result_free(&res);
    parity_result_free(&res_ee);
    parity_result_free(&res_re);
    run_sides_free(&sd);
    free(o.run.extra.v);
    return rc;
}
