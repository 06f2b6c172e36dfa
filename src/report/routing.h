/* routing.h: expert-routing agreement between two stage dumps, and its report.
 *
 * Side a is the engine, side b a reference. For every layer i and every compared token t
 * (a routing decision) the two top-k choices (block{i}.mlp_expert_indices) are compared in
 * order and as sets, and the gate weights (block{i}.mlp_expert_weights) expert by expert.
 * Every disagreement gets the margins that explain it, from each side's router logits
 * (block{i}.mlp_gate_logits), and is flagged as a near-tie when those margins are within
 * rounding (see routing_disagreement).
 *
 * Files: routing.c (comparison), routing_report.c (text, markdown, JSON),
 * routing_svg.c (expert load picture). */
#ifndef GPTOSS_ROUTING_H
#define GPTOSS_ROUTING_H

#include <stdint.h>
#include <stdio.h>

#include "parity/parity.h"

/* The baseline report's rule: 100% agreement and max gate diff < 0.01. */
#define ROUTING_DEFAULT_GATE_TOLERANCE 0.01
/* The most experts a dump may declare (gpt-oss-120b has 128). */
#define ROUTING_MAX_EXPERTS 65536

typedef struct routing_disagreement {
    int layer, token;
    int set_equal;            /* same experts, different order */
    int64_t *a_experts;       /* [k] each side's choice, in its order */
    int64_t *b_experts;
    /* The router-logit gap that decides what differs, on each side (NaN: no logits):
     * sets differ -> k-th minus (k+1)-th largest logit; order only -> the smallest gap
     * between two neighbours of the sorted top k. */
    double a_margin, b_margin;
    /* Rounding at this decision: the largest |a - b| over the token's router logits,
     * clamped to [16 * FLT_EPSILON * L, 1e-4 * max(1, L)], L = max |logit|. A near-tie:
     * both margins <= 2 * rounding, i.e. the rounding-sized difference between the two
     * sides' logits is enough to swap the choice (a larger logit difference is a
     * discrepancy, not rounding). */
    double rounding;
    int near_tie;
} routing_disagreement;

typedef struct routing_layer {
    int64_t decisions, order_matches, set_matches;
    double gate_diff_mean, gate_diff_max; /* |w_a(e) - w_b(e)| over the union of choices */
    int64_t gate_entries;                 /* (decision, expert) pairs in that union */
    double logit_diff_max;                /* max |router logit a - b| (NaN: no logits) */
    int64_t *load_a, *load_b;             /* [n_experts] decisions that chose expert e */
    int pass;
} routing_layer;

typedef struct routing_result {
    int n_layers, n_experts, k;
    int n_tokens;                 /* decisions per layer: tokens compared */
    int n_run, n_valid;           /* tokens run (padding included), real tokens */
    int32_t *token_ids;           /* [n_tokens] the ids compared */
    routing_layer *layers;        /* [n_layers] */
    routing_disagreement *dis;    /* every disagreement, by layer then token */
    size_t n_dis;
    int64_t decisions, order_matches, set_matches;
    double gate_diff_mean, gate_diff_max;
    double gate_tolerance;
    int near_ties;                /* disagreements flagged as near-ties */
    int pass;
} routing_result;

/* Compares the routing in dumps a and b over the first n_tokens real tokens (0: all of
 * n_valid) and the blocks present in both. A stage missing or malformed on either side
 * is an error (GPTOSS_ERR_MISSING / GPTOSS_ERR_FORMAT) naming it; the router logits are
 * optional (margins become NaN). */
gptoss_status routing_compare(const stage_dump *a, const stage_dump *b, int n_tokens,
                              double gate_tolerance, routing_result *r);
void routing_result_free(routing_result *r);

/* What the report shows besides the result. */
typedef struct routing_run {
    const char *against;       /* "torch", "flax", or a label */
    const char *model;         /* checkpoint folder, or NULL */
    const char *prompt;        /* or NULL */
    char **token_strings;      /* printable form of each compared id, or NULL */
    const char *timestamp;     /* YYYYmmdd-HHMMSS */
    const char *svg_name;      /* the picture's file name (beside the markdown), or NULL */
    double engine_s, reference_s; /* < 0: not run */
    const routing_result *result;
} routing_run;

void routing_print(FILE *f, const routing_run *run);     /* terminal summary */
void routing_markdown(FILE *f, const routing_run *run);  /* <ts>_summary.md */
/* The whole result as a cJSON object (caller owns); void * keeps cJSON out of here. */
void *routing_json(const routing_run *run);
/* Expert load per layer (a heatmap, engine vs reference). */
void routing_svg(FILE *f, const routing_run *run);

#endif
