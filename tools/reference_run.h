/* reference_run.h: the glue `gptoss parity` and `gptoss routing` share: the token ids to
 * run, the engine's stage dump and a reference adapter's (each run or loaded from a file). */
#ifndef GPTOSS_TOOLS_REFERENCE_RUN_H
#define GPTOSS_TOOLS_REFERENCE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "parity/parity.h"

/* What both sides of a comparison need, from the command line. */
typedef struct {
    const char *against, *model, *prompt, *tokens;
    const char *engine_dump, *ref_dump, *save_eng, *save_ref; /* load / keep the dumps */
    int max_layers, seq_len, threads, verbose;
    char **extra; /* pass-through adapter options */
    int n_extra;
} run_spec;

/* Parses an integer option value in [lo, 1e9]; a usage error of command cmd otherwise. */
int run_parse_int(const char *cmd, const char *opt, const char *v, int lo, int *out);

/* The ids to run (padded to seq_len) and, when a tokenizer is at hand, the printable
 * real tokens (*strings: n_valid strings, or NULL; free with run_free_strings). */
gptoss_status run_make_ids(const run_spec *r, int32_t **ids, int *n_ids, int *n_valid,
                           char ***strings);
void run_free_strings(char **v, int n);

/* The engine's dump: run (model opened, run, closed before the reference loads its copy)
 * or loaded from engine_dump. layout (may be NULL) receives the checkpoint layout. */
gptoss_status run_engine_side(const run_spec *r, const int32_t *ids, int n_ids, int n_valid,
                              stage_dump *d, char *layout, size_t layout_cap, double *secs);

/* The reference adapter's dump: run or loaded from ref_dump. */
gptoss_status run_reference_side(const run_spec *r, const int32_t *ids, int n_ids, int n_valid,
                                 stage_dump *d, double *secs);

#endif
