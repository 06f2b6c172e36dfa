/* cmd_routing.c: gptoss routing, the engine's expert routing against a reference's, every
 * token and every layer (comparison and reports in src/report/routing*.c; the engine run,
 * the adapters and the dumps are the parity machinery of src/parity/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "parity/parity.h"
#include "parity_report.h"
#include "reference_run.h"
#include "report/routing.h"
#include "util.h"

static const char *HELP =
    "usage: gptoss routing --against NAME -m DIR (--prompt TEXT | --tokens IDS)\n"
    "                      [--max-layers N] [--max-tokens N] [--sequence-length N]\n"
    "                      [--output-dir DIR] [--gate-tolerance X] [--json FILE]\n"
    "                      [--threads N] [--verbose] [--engine-dump FILE]\n"
    "                      [--reference-dump FILE] [--save-engine-dump FILE]\n"
    "                      [--save-reference-dump FILE] [ADAPTER OPTIONS]\n"
    "\n"
    "Runs the engine and a reference implementation on the same token ids and compares\n"
    "their mixture-of-experts routing for every token and every layer:\n"
    "  - expert-ID agreement, order-sensitive (the top-k lists equal position by position)\n"
    "    and as sets;\n"
    "  - gate weights, expert by expert over both choices: mean and max |diff|;\n"
    "  - for every disagreement, the router-logit margin that decides it on each side (k-th\n"
    "    minus (k+1)-th logit; for an order-only difference the smallest gap inside the\n"
    "    top k), flagged as a near-tie when both are within twice the rounding at that\n"
    "    token (the largest router-logit |diff| between the sides there, at least 16\n"
    "    float32 epsilons and at most 1e-4 relative of the largest logit): a tie that\n"
    "    may flip, not a bug.\n"
    "PASS needs 100% order-sensitive agreement and max gate |diff| < the gate tolerance.\n"
    "\n"
    "Writes, atomically, into the output folder: <YYYYmmdd-HHMMSS>_summary.md (prompt,\n"
    "result, | Layer | Expert Match | Mean Gate Diff | Max Gate Diff | Status | table,\n"
    "near-ties, disagreements), the same data as <stamp>_summary.json, and\n"
    "<stamp>_expert_load.svg, the tokens routed to each expert per layer.\n"
    "\n"
    "  --against NAME         torch: the official gpt-oss PyTorch model, fp32\n"
    "                         flax:  the Flax GPT-OSS of jax2onnx, fp32 (adapter option\n"
    "                                --window torch gives it the official sliding window)\n"
    "                         (any python/ref_NAME.py adapter works)\n"
    "  -m, --model DIR        checkpoint folder (original layout for torch and flax)\n"
    "  --prompt TEXT          text, encoded with o200k_harmony (special tokens recognised)\n"
    "  --tokens IDS           token ids instead, comma-separated\n"
    "  --max-layers N         only the first N blocks on both sides (default: all)\n"
    "  --max-tokens N         compare the first N tokens only (default: all real tokens)\n"
    "  --sequence-length N    pad the run to N tokens with <|endoftext|> as `gptoss parity`\n"
    "                         does (default 0: no padding); padding is never compared\n"
    "  --output-dir DIR       where the reports go (default artifacts/gpt_oss_routing)\n"
    "  --gate-tolerance X     max gate weight |diff| must be below X (default 0.01, the\n"
    "                         baseline's rule)\n"
    "  --json FILE            also write the JSON report to FILE\n"
    "  --threads N            engine threads (default: all cores)\n"
    "  --incremental          run the engine token by token through its KV cache (the\n"
    "                         decode path) instead of one prefill\n"
    "  -v, --verbose          show the reference's progress (its stderr)\n"
    "  --engine-dump FILE     use this stage dump (`gptoss run --dump`) instead of running\n"
    "                         the engine\n"
    "  --reference-dump FILE  use this stage dump instead of running the reference; with\n"
    "                         both, -m and the tokens are optional and NAME only labels\n"
    "  --save-engine-dump FILE, --save-reference-dump FILE\n"
    "                         keep the dumps compared (safetensors)\n"
    "  ADAPTER OPTIONS        any other --option [VALUE] goes to the adapter as is\n"
    "\n"
    "Exit status: 0 PASS, 1 FAIL or an error, 2 bad arguments.\n";

typedef struct {
    run_spec run; /* the model, the tokens and both sides */
    const char *json, *out_dir;
    long max_tokens;
    double gate_tol;
} routing_opts;

static int parse_args(int argc, char **argv, routing_opts *o) {
    *o = (routing_opts){.out_dir = "artifacts/gpt_oss_routing",
                        .gate_tol = ROUTING_DEFAULT_GATE_TOLERANCE};
    arg_spec specs[RUN_SPEC_ARGS + 4];
    run_spec_args(&o->run, specs);
    const arg_spec own[4] = {
        {"--json", NULL, ARG_STR, &o->json, 0, 0},
        {"--output-dir", NULL, ARG_STR, &o->out_dir, 0, 0},
        {"--max-tokens", NULL, ARG_INT, &o->max_tokens, 1, 1e9},
        {"--gate-tolerance", NULL, ARG_FLOAT, &o->gate_tol, 1e-30, 1e30},
    };
    memcpy(specs + RUN_SPEC_ARGS, own, sizeof own);
    int rc = args_parse("routing", HELP, argc, argv, specs, ARGS_N(specs), &o->run.extra);
    if (rc >= 0) return rc;
    if ((rc = run_spec_check("routing", &o->run, "torch, flax"))) return rc;
    return -1;
}

/* mkdir -p */
static gptoss_status make_dirs(const char *path) {
    char *p = strdup(path);
    if (!p) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    gptoss_status s = GPTOSS_OK;
    for (char *c = p + 1; !s; c++) {
        int end = !*c;
        if (*c == '/' || end) {
            *c = 0;
            if (mkdir(p, 0777) && errno != EEXIST)
                s = gptoss_error(GPTOSS_ERR_IO, "%s: cannot create: %s", p, strerror(errno));
            if (end) break;
            *c = '/';
        }
    }
    free(p);
    return s;
}

typedef enum { OUT_MD, OUT_JSON, OUT_SVG, OUT_EXTRA_JSON, OUT_N } out_kind;

/* Writes every report to a temporary file first and renames them only when all are
 * complete, so a failure leaves neither a partial file nor a partial set. */
static gptoss_status write_reports(const routing_run *run, char *const paths[OUT_N]) {
    gptoss_atomic_file af[OUT_N];
    memset(af, 0, sizeof af);
    char *json = NULL;
    cJSON *j = routing_json(run);
    if (j) json = cJSON_Print(j);
    cJSON_Delete(j);
    gptoss_status s = json ? GPTOSS_OK : gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    for (int k = 0; !s && k < OUT_N; k++) {
        if (!paths[k] || (s = gptoss_atomic_open(&af[k], paths[k]))) continue;
        if (k == OUT_MD) routing_markdown(af[k].f, run);
        else if (k == OUT_SVG) routing_svg(af[k].f, run);
        else fprintf(af[k].f, "%s\n", json);
        if (fflush(af[k].f) || ferror(af[k].f))
            s = gptoss_error(GPTOSS_ERR_IO, "%s: write failed: %s", paths[k], strerror(errno));
    }
    /* The markdown names the picture: it is renamed last. */
    static const out_kind order[OUT_N] = {OUT_SVG, OUT_JSON, OUT_EXTRA_JSON, OUT_MD};
    for (int i = 0; i < OUT_N; i++) {
        gptoss_atomic_file *f = &af[order[i]];
        if (!f->f) continue;
        if (s) gptoss_atomic_abort(f);
        else s = gptoss_atomic_commit(f);
    }
    free(json);
    return s;
}

static int report(const routing_opts *o, routing_run *run) {
    char stamp[32], *paths[OUT_N] = {0}, svg_name[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(svg_name, sizeof svg_name, "%s_expert_load.svg", stamp);
    run->timestamp = stamp;
    run->svg_name = svg_name;
    gptoss_status s = make_dirs(o->out_dir);
    char name[96];
    snprintf(name, sizeof name, "%s_summary.md", stamp);
    paths[OUT_MD] = gptoss_path_join(o->out_dir, name);
    snprintf(name, sizeof name, "%s_summary.json", stamp);
    paths[OUT_JSON] = gptoss_path_join(o->out_dir, name);
    paths[OUT_SVG] = gptoss_path_join(o->out_dir, svg_name);
    paths[OUT_EXTRA_JSON] = o->json ? strdup(o->json) : NULL;
    if (!s && (!paths[OUT_MD] || !paths[OUT_JSON] || !paths[OUT_SVG] || (o->json && !paths[OUT_EXTRA_JSON])))
        s = gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    routing_print(stdout, run);
    fflush(stdout);
    if (!s) s = write_reports(run, paths);
    if (!s) printf("report: %s\n", paths[OUT_MD]);
    for (int k = 0; k < OUT_N; k++) free(paths[k]);
    if (s) return cli_fail("routing", s);
    return run->result->pass ? 0 : 1;
}

/* Without --prompt/--tokens (two dumps given) the ids come from the engine's dump. */
int cmd_routing(int argc, char **argv) {
    routing_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) {
        free(o.run.extra.v);
        return rc;
    }
    run_sides sd;
    routing_result res = {0};
    gptoss_status s = run_both_sides(&o.run, &sd);
    if (!s) s = routing_compare(&sd.eng, &sd.ref, (int)o.max_tokens, o.gate_tol, &res);
    if (s) {
        rc = cli_fail("routing", s);
    } else {
        routing_run run = {.against = o.run.against, .model = o.run.model, .prompt = o.run.prompt,
                           .token_strings = sd.strings && res.n_tokens <= sd.n_valid ? sd.strings : NULL,
                           .engine_s = sd.t_eng, .reference_s = sd.t_ref, .result = &res};
        rc = report(&o, &run);
    }
    routing_result_free(&res);
    run_sides_free(&sd);
    free(o.run.extra.v);
    return rc;
}
