/* routing_report.c: the routing result as terminal text, markdown and JSON. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "routing.h"

static double pct(int64_t a, int64_t b) { return b ? 100.0 * (double)a / (double)b : 100.0; }

static const char *verdict(int pass) { return pass ? "PASS" : "FAIL"; }

/* "1.23e-07", or "n/a" for NaN. buf: 32 bytes. */
static const char *num(char *buf, double v) {
    if (isnan(v)) return "n/a";
    if (isinf(v)) return "inf";
    snprintf(buf, 32, "%.3g", v);
    return buf;
}

static void experts(FILE *f, const int64_t *e, int k) {
    fputc('[', f);
    for (int j = 0; j < k; j++) fprintf(f, "%s%lld", j ? "," : "", (long long)e[j]);
    fputc(']', f);
}

static void match_cell(FILE *f, const routing_layer *L) {
    fprintf(f, "%lld/%lld (%.2f%%)", (long long)L->order_matches, (long long)L->decisions,
            pct(L->order_matches, L->decisions));
    if (L->set_matches != L->order_matches)
        fprintf(f, "; as sets %lld/%lld", (long long)L->set_matches, (long long)L->decisions);
}

static void layer_table(FILE *f, const routing_result *r) {
    char b1[32], b2[32];
    fprintf(f, "| Layer | Expert Match | Mean Gate Diff | Max Gate Diff | Status |\n");
    fprintf(f, "|---|---|---|---|---|\n");
    for (int i = 0; i < r->n_layers; i++) {
        const routing_layer *L = &r->layers[i];
        fprintf(f, "| %d | ", i);
        match_cell(f, L);
        fprintf(f, " | %s | %s | %s |\n", num(b1, L->gate_diff_mean), num(b2, L->gate_diff_max),
                verdict(L->pass));
    }
}

static void summary_lines(FILE *f, const routing_result *r, const char *bullet) {
    char b1[32], b2[32], b3[32];
    fprintf(f, "%sdecisions: %lld (%d tokens x %d layers, top-%d of %d experts)\n", bullet,
            (long long)r->decisions, r->n_tokens, r->n_layers, r->k, r->n_experts);
    fprintf(f, "%sexpert-ID matches, order-sensitive: %lld (%.2f%%); as sets: %lld (%.2f%%)\n",
            bullet, (long long)r->order_matches, pct(r->order_matches, r->decisions),
            (long long)r->set_matches, pct(r->set_matches, r->decisions));
    fprintf(f, "%sgate weight |diff|: mean %s, max %s (must be < %s)\n", bullet,
            num(b1, r->gate_diff_mean), num(b2, r->gate_diff_max), num(b3, r->gate_tolerance));
    fprintf(f, "%sdisagreements: %zu, of which near-ties: %d\n", bullet, r->n_dis, r->near_ties);
}

static void disagreement_rows(FILE *f, const routing_result *r, int only_ties) {
    char b1[32], b2[32], b3[32];
    for (size_t i = 0; i < r->n_dis; i++) {
        const routing_disagreement *d = &r->dis[i];
        if (only_ties && !d->near_tie) continue;
        fprintf(f, "| %d | %d | ", d->layer, d->token);
        experts(f, d->a_experts, r->k);
        fputs(" | ", f);
        experts(f, d->b_experts, r->k);
        fprintf(f, " | %s | %s | %s | %s | %s |\n", d->set_equal ? "order" : "set",
                num(b1, d->a_margin), num(b2, d->b_margin), num(b3, d->rounding),
                d->near_tie ? "yes" : "no");
    }
}

static void disagreement_table(FILE *f, const routing_result *r, int only_ties) {
    fprintf(f, "| Layer | Token | Engine experts | Reference experts | Differs in | "
               "Engine margin | Reference margin | Rounding | Near-tie |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|\n");
    disagreement_rows(f, r, only_ties);
}

void routing_print(FILE *f, const routing_run *run) {
    const routing_result *r = run->result;
    fprintf(f, "routing: engine vs %s", run->against);
    if (run->model) fprintf(f, ", model %s", run->model);
    fputc('\n', f);
    if (run->prompt) fprintf(f, "prompt: \"%s\"\n", run->prompt);
    fprintf(f, "tokens (%d compared of %d run):", r->n_tokens, r->n_run);
    for (int t = 0; t < r->n_tokens; t++)
        if (run->token_strings) fprintf(f, " %s", run->token_strings[t]);
        else fprintf(f, " %d", r->token_ids[t]);
    fputs("\n\n", f);
    layer_table(f, r);
    fputc('\n', f);
    summary_lines(f, r, "");
    if (r->n_dis) {
        fputc('\n', f);
        disagreement_table(f, r, 0);
    }
    fprintf(f, "\nresult: %s\n", verdict(r->pass));
}

void routing_markdown(FILE *f, const routing_run *run) {
    const routing_result *r = run->result;
    fprintf(f, "# Expert routing parity: engine vs %s\n\n", run->against);
    fprintf(f, "- run: %s\n", run->timestamp ? run->timestamp : "");
    if (run->model) fprintf(f, "- model: `%s`\n", run->model);
    if (run->prompt) fprintf(f, "- prompt: \"%s\"\n", run->prompt);
    fprintf(f, "- tokens compared: %d of %d run:", r->n_tokens, r->n_run);
    for (int t = 0; t < r->n_tokens; t++) {
        fprintf(f, " %d", r->token_ids[t]);
        if (run->token_strings) fprintf(f, " `%s`", run->token_strings[t]);
        fputc(t + 1 < r->n_tokens ? ',' : '\n', f);
    }
    if (run->engine_s >= 0) fprintf(f, "- engine: %.2f s\n", run->engine_s);
    if (run->reference_s >= 0) fprintf(f, "- reference (%s): %.2f s\n", run->against, run->reference_s);
    fprintf(f, "\n**Result: %s** (100%% order-sensitive expert-ID agreement and max gate weight "
               "|diff| < %g)\n\n",
            verdict(r->pass), r->gate_tolerance);
    summary_lines(f, r, "- ");
    fputs("\n## Per layer\n\n", f);
    layer_table(f, r);
    fputs("\n## Near-ties\n\n", f);
    fputs("A disagreement is a near-tie when, on both sides, the router-logit gap that decides\n"
          "it (k-th minus (k+1)-th logit; for an order-only difference, the smallest gap\n"
          "inside the top k) is at most twice the rounding at that token: the largest\n"
          "|engine - reference| router-logit difference there, at least 16 float32 epsilons\n"
          "and at most 1e-4 (relative, beyond 1) of the largest logit: a larger logit\n"
          "difference is a discrepancy, not rounding. A near-tie can flip between two\n"
          "correct implementations; any other disagreement points at a bug.\n\n",
          f);
    if (!r->near_ties) fputs("None.\n", f);
    else disagreement_table(f, r, 1);
    if (r->n_dis > (size_t)r->near_ties) {
        fputs("\n## All disagreements\n\n", f);
        disagreement_table(f, r, 0);
    }
    if (run->svg_name)
        fprintf(f, "\n## Expert load\n\nTokens routed to each expert, per layer (engine; cells "
                   "outlined where the reference's count differs).\n\n![expert load](%s)\n",
                run->svg_name);
}

static void add_num(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else if (isnan(v)) cJSON_AddNullToObject(o, key);
    else cJSON_AddStringToObject(o, key, v > 0 ? "inf" : "-inf");
}

static cJSON *int_array(const int64_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static cJSON *layer_json(const routing_result *r, int i) {
    const routing_layer *L = &r->layers[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layer", i);
    cJSON_AddNumberToObject(o, "decisions", (double)L->decisions);
    cJSON_AddNumberToObject(o, "order_matches", (double)L->order_matches);
    cJSON_AddNumberToObject(o, "set_matches", (double)L->set_matches);
    add_num(o, "gate_diff_mean", L->gate_diff_mean);
    add_num(o, "gate_diff_max", L->gate_diff_max);
    add_num(o, "router_logit_diff_max", L->logit_diff_max);
    cJSON_AddStringToObject(o, "status", verdict(L->pass));
    cJSON_AddItemToObject(o, "load_engine", int_array(L->load_a, r->n_experts));
    cJSON_AddItemToObject(o, "load_reference", int_array(L->load_b, r->n_experts));
    return o;
}

static cJSON *disagreement_json(const routing_result *r, const routing_disagreement *d) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layer", d->layer);
    cJSON_AddNumberToObject(o, "token", d->token);
    cJSON_AddStringToObject(o, "differs_in", d->set_equal ? "order" : "set");
    cJSON_AddItemToObject(o, "engine_experts", int_array(d->a_experts, r->k));
    cJSON_AddItemToObject(o, "reference_experts", int_array(d->b_experts, r->k));
    add_num(o, "engine_margin", d->a_margin);
    add_num(o, "reference_margin", d->b_margin);
    add_num(o, "rounding", d->rounding);
    cJSON_AddBoolToObject(o, "near_tie", d->near_tie);
    return o;
}

void *routing_json(const routing_run *run) {
    const routing_result *r = run->result;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "against", run->against);
    if (run->model) cJSON_AddStringToObject(o, "model", run->model);
    if (run->prompt) cJSON_AddStringToObject(o, "prompt", run->prompt);
    if (run->timestamp) cJSON_AddStringToObject(o, "timestamp", run->timestamp);
    cJSON *ids = cJSON_AddArrayToObject(o, "tokens");
    for (int t = 0; ids && t < r->n_tokens; t++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(r->token_ids[t]));
    if (run->token_strings) {
        cJSON *ts = cJSON_AddArrayToObject(o, "token_strings");
        for (int t = 0; ts && t < r->n_tokens; t++)
            cJSON_AddItemToArray(ts, cJSON_CreateString(run->token_strings[t]));
    }
    cJSON_AddNumberToObject(o, "tokens_run", r->n_run);
    cJSON_AddNumberToObject(o, "layers", r->n_layers);
    cJSON_AddNumberToObject(o, "experts", r->n_experts);
    cJSON_AddNumberToObject(o, "experts_per_token", r->k);
    cJSON_AddNumberToObject(o, "decisions", (double)r->decisions);
    cJSON_AddNumberToObject(o, "order_matches", (double)r->order_matches);
    cJSON_AddNumberToObject(o, "set_matches", (double)r->set_matches);
    cJSON_AddNumberToObject(o, "order_match_rate", pct(r->order_matches, r->decisions) / 100);
    cJSON_AddNumberToObject(o, "set_match_rate", pct(r->set_matches, r->decisions) / 100);
    add_num(o, "gate_diff_mean", r->gate_diff_mean);
    add_num(o, "gate_diff_max", r->gate_diff_max);
    add_num(o, "gate_tolerance", r->gate_tolerance);
    cJSON_AddNumberToObject(o, "near_ties", r->near_ties);
    if (run->engine_s >= 0) cJSON_AddNumberToObject(o, "engine_seconds", run->engine_s);
    if (run->reference_s >= 0) cJSON_AddNumberToObject(o, "reference_seconds", run->reference_s);
    cJSON_AddStringToObject(o, "result", verdict(r->pass));
    cJSON *layers = cJSON_AddArrayToObject(o, "per_layer");
    for (int i = 0; layers && i < r->n_layers; i++) cJSON_AddItemToArray(layers, layer_json(r, i));
    cJSON *dis = cJSON_AddArrayToObject(o, "disagreements");
    for (size_t i = 0; dis && i < r->n_dis; i++) cJSON_AddItemToArray(dis, disagreement_json(r, &r->dis[i]));
    if (run->svg_name) cJSON_AddStringToObject(o, "expert_load_svg", run->svg_name);
    return o;
}
