/* reference_run.h: the glue `gptoss parity` and `gptoss routing` share: the token ids to
 * run, the engine's stage dump and a reference adapter's (each run or loaded from a file). */
#ifndef GPTOSS_TOOLS_REFERENCE_RUN_H
#define GPTOSS_TOOLS_REFERENCE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "parity/parity.h"

#include "args.h"

/* What both sides of a comparison need, from the command line. */
typedef struct {
    const char *against, *model, *prompt, *tokens;
    const char *engine_dump, *ref_dump, *save_eng, *save_ref; /* load / keep the dumps */
    long max_layers, seq_len, threads;
    int verbose, incremental; /* incremental: the engine runs token by token (decode path) */
    arg_extra extra;          /* pass-through adapter options */
} run_spec;

/* The options every comparison command has (--against, -m, --prompt, --tokens, --max-layers,
 * --sequence-length, --threads, --incremental, -v, the four dump options), bound to r: the
 * first RUN_SPEC_ARGS entries of a command's table. */
enum { RUN_SPEC_ARGS = 13 };
void run_spec_args(run_spec *r, arg_spec out[RUN_SPEC_ARGS]);
/* After parsing: the combinations they need (a reference unless its dump is given, a model
 * and ids unless both dumps are). Returns 0, or prints a usage error of cmd and returns 2. */
int run_spec_check(const char *cmd, run_spec *r, const char *references);

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

/* Both sides of a comparison, as `gptoss parity` and `gptoss routing` run them: the ids
 * (from --prompt / --tokens, else from the engine's dump), the engine's dump, then the
 * reference's (the engine's model is closed before the reference loads its copy). */
typedef struct {
    int32_t *ids;
    int n_ids, n_valid;
    char **strings; /* the real tokens' text, or NULL */
    char layout[16]; /* the checkpoint layout ("" when the engine side was a dump) */
    stage_dump eng, ref;
    double t_eng, t_ref;
} run_sides;

gptoss_status run_both_sides(const run_spec *r, run_sides *out);
void run_sides_free(run_sides *s);

#endif
