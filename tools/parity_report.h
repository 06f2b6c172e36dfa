/* parity_report.h: the text and JSON report of `gptoss parity` (tools/parity_report.c). */
#ifndef GPTOSS_PARITY_REPORT_H
#define GPTOSS_PARITY_REPORT_H

#include <stdio.h>

#include "parity/parity.h"

typedef struct parity_run {
    const char *against;       /* "torch", "hf", ... (or the label of a loaded dump) */
    const char *model;         /* checkpoint folder, or NULL */
    const char *layout;        /* "original" / "hf", or NULL */
    const char *prompt;        /* or NULL when --tokens was given */
    const int32_t *ids;        /* every id run, padding included */
    int n_ids, n_valid;
    char **token_strings;      /* printable form of each real id (NULL: no tokenizer) */
    int sequence_length, max_layers;
    double logits_tol, stage_tol;
    int strict, top;
    double engine_s, reference_s; /* < 0: not run (loaded from a file) */
    const parity_result *result;
    /* The exact check (NULL when not run): both sides against the same model evaluated in
     * float64 by exact_label ("torch fp64"). A stage over its tolerance still passes when
     * the engine is, on average, about as close to the float64 result as the reference
     * (mean |diff| at most 1.25x the reference's: then the difference is the reference's
     * own fp32 rounding) and within 10x the tolerance. */
    const parity_result *engine_exact, *reference_exact;
    const char *exact_label;
    double exact_s;
} parity_run;

/* The rule above for one stage: 1 when d (over tolerance) is the reference's rounding. */
int parity_within_reference_rounding(const parity_run *run, const stage_diff *d, double tol);

/* The verdict: failures counted and, when out is not NULL, described one per line. */
int parity_failures(const parity_run *run, char ***out, int *n_out);
void parity_print(FILE *f, const parity_run *run);
/* Writes the JSON report atomically. */
gptoss_status parity_write_json(const char *path, const parity_run *run);
/* 'What' style quoting of a token's bytes (\xNN for bytes that are not printable UTF-8). */
char *token_repr(const char *bytes, size_t len);

#endif
