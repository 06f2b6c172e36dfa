/* parity.h: stage dumps, reference adapters and their comparison, shared by
 * `gptoss parity`, `gptoss routing` and `gptoss run --dump`.
 *
 * A stage dump is the set of named tensors of docs/stages.md (tokens, n_valid, logits,
 * final_normed, block{i}.<stage>) held in memory. The engine fills one through its taps
 * (dump_from_engine), a reference adapter fills one through a safetensors file
 * (adapter_run runs python/ref_<name>.py), and parity_compare compares two of them name by
 * name. Everything here is plain data, so other reports build on the same pieces.
 *
 * Files: dump.c (container, load, save), engine_dump.c (engine taps), adapter.c
 * (subprocess), compare.c (statistics), compare_json.c (JSON), tokens.c (ids and padding). */
#ifndef GPTOSS_PARITY_H
#define GPTOSS_PARITY_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"
#include "stages.h"

/* ---- stage names (docs/stages.md) ------------------------------------------------------ */

/* The per-block stages are the engine's table (stages.h): gptoss_stages[0 ..
 * GPTOSS_BLOCK_STAGES) = "input", "attn_normed", ..., "output", in forward order. */

/* ---- a dump: name -> (dtype, shape, data) -------------------------------------------------- */

typedef struct dump_tensor {
    char *name;
    gptoss_dtype dtype;
    int ndim;
    int64_t shape[GPTOSS_MAX_DIMS];
    void *data; /* owned, nbytes */
    size_t nbytes;
} dump_tensor;

typedef struct stage_dump {
    dump_tensor *tensors; /* in insertion order */
    size_t n, cap;
} stage_dump;

void dump_init(stage_dump *d);
void dump_free(stage_dump *d);
/* Copies the tensor in (replacing one of the same name). */
gptoss_status dump_put(stage_dump *d, const char *name, gptoss_dtype dtype, int ndim,
                       const int64_t *shape, const void *data);
/* Appends the rows (dimension 0) of data to the tensor of that name (or puts it when
 * absent): a tensor delivered chunk by chunk. */
gptoss_status dump_append_rows(stage_dump *d, const char *name, gptoss_dtype dtype, int ndim,
                               const int64_t *shape, const void *data);
const dump_tensor *dump_get(const stage_dump *d, const char *name);
int64_t dump_numel(const dump_tensor *t);
/* Blocks present: 1 + the largest i of any "block{i}." name (0 if none). */
int dump_n_blocks(const stage_dump *d);
/* The count held by a one-element tensor (n_valid): an integer in 0..2^31-1, whatever the
 * dtype; fallback when the tensor is absent or holds anything else. */
int64_t dump_count(const stage_dump *d, const char *name, int64_t fallback);
/* Element i (flat) of t as a double, whatever its dtype (integers exact up to 2^53). */
double dump_elem(const dump_tensor *t, int64_t i);
/* The tensor's values as a malloc'ed double array (any dtype); NULL + error on failure. */
double *dump_to_f64(const dump_tensor *t);
/* Reads a safetensors file completely into d (copies; the file is closed). */
gptoss_status dump_load(const char *path, stage_dump *d);
/* The same from a whole file held in memory; label names it in errors. */
gptoss_status dump_load_bytes(const char *label, const uint8_t *bytes, size_t size, stage_dump *d);
/* Writes d as a safetensors file, atomically. */
gptoss_status dump_save(const stage_dump *d, const char *path);

/* ---- tokens ------------------------------------------------------------------------------ */

#define GPTOSS_TOKEN_ENDOFTEXT 199999

/* Parses "1,2,3" (spaces allowed, at least one id, each in 0..2^31-1). *ids malloc'ed.
 * label names the argument in errors ("--tokens"). */
gptoss_status tokens_parse(const char *label, const char *text, int32_t **ids, int *n);
/* Parses ids separated by commas and/or white space ("1,2 3"; "" is no ids) into *ids
 * (malloc'ed, *n of them; any int32: the vocabulary check is the caller's), as `gptoss
 * tokenize --decode` and `--parse` read them. Every id tokens_parse accepts, this accepts
 * too. GPTOSS_ERR_ARG when text is not such a list; *ids NULL on failure. */
gptoss_status tokens_parse_loose(const char *text, int32_t **ids, size_t *n);
/* Pads ids to seq_len by appending <|endoftext|> (199999); seq_len <= 0 means no padding.
 * A prompt longer than seq_len is an error (GPTOSS_ERR_ARG), never silently cut.
 * *out malloc'ed with *n_out = max(n, seq_len) ids; the real ones are a prefix. */
gptoss_status tokens_pad(const int32_t *ids, int n, int seq_len, int32_t **out, int *n_out);

/* ---- the engine, tapped ------------------------------------------------------------------ */

/* Runs the forward pass on tokens[0..n_tokens) and stores every tap, plus "tokens" (I64
 * [S]) and "n_valid" (I64 [1]), into d. step 0: one prefill over all tokens
 * (gptoss_forward); step > 0: a context fed step tokens at a time (1: the decode path),
 * every chunk's stages appended. */
gptoss_status dump_from_engine(gptoss_model *model, const int32_t *tokens, int n_tokens,
                               int n_valid, int n_threads, int step, stage_dump *d);

/* ---- reference adapters ---------------------------------------------------------------- */

typedef struct adapter_options {
    const char *name;       /* "torch" runs <home>/python/ref_torch.py; [a-z0-9_]+ */
    const char *checkpoint; /* --checkpoint */
    const int32_t *tokens;  /* --tokens, every id run (padding included) */
    int n_tokens;
    int n_valid;            /* --n-valid */
    int max_layers;         /* --max-layers N (not passed when 0: all blocks) */
    char *const *extra;     /* further arguments passed through as given ("--onnx", "F") */
    int n_extra;
    int verbose;            /* the adapter's stderr goes to ours (else only its last line
                               is kept, for the error message); GPTOSS_VERBOSE=1 is set */
} adapter_options;

/* The reference Python: $GPTOSS_PYTHON, else <gptoss_home()>/.venv/bin/python. malloc'ed;
 * NULL with an error when it is not executable. */
char *adapter_python(void);
/* <gptoss_home()>/python/ref_<name>.py, malloc'ed; NULL with an error if the name is not
 * [a-z0-9_]+ or the file is missing. */
char *adapter_script(const char *name);
/* Runs the adapter (no shell) into a temporary file, loads it into out, removes the file:
 *   python ref_<name>.py --checkpoint DIR --tokens IDS --n-valid N [--max-layers N]
 *          --out TMP [extra...]
 * A failure is GPTOSS_ERR_EXTERNAL with a one-line message ending in the adapter's last
 * line on stderr. *seconds (if not NULL) gets the adapter's wall time. */
gptoss_status adapter_run(const adapter_options *o, stage_dump *out, double *seconds);

/* ---- comparison --------------------------------------------------------------------------- */

typedef struct diff_stats {
    double max, mean, median; /* of |a - b| */
    int64_t argmax;           /* flat index of the max (-1 if no element) */
    int64_t count;            /* elements */
} diff_stats;

typedef struct stage_diff {
    const char *name;         /* owned by the first dump */
    int is_integer;           /* compared for equality (expert indices) */
    gptoss_dtype dtype;
    int ndim;
    int64_t shape[GPTOSS_MAX_DIMS];
    diff_stats all;           /* every element */
    diff_stats real;          /* rows < n_valid when the first axis is the token axis */
    diff_stats last;          /* row n_valid - 1 (the next-token row), idem */
    double ref_absmax;        /* max |b|: the scale of the tensor */
    int64_t mismatches;       /* integer tensors: differing elements */
    int64_t first_mismatch;   /* flat index, -1 if none */
    int64_t nonfinite;        /* elements where a side is NaN/Inf and the two differ */
} stage_diff;

typedef enum parity_issue_kind {
    ISSUE_MISSING_IN_REFERENCE, /* a contract stage the reference did not write */
    ISSUE_MISSING_IN_ENGINE,    /* a contract stage the engine did not write */
    ISSUE_EXTRA,                /* a name outside the contract, on one side only */
    ISSUE_SHAPE,                /* shapes differ: not compared */
    ISSUE_DTYPE,                /* integer on one side, float on the other */
    ISSUE_MISMATCH,             /* integer tensor differs (expert indices) */
    ISSUE_NONFINITE,            /* NaN/Inf on one side only */
    ISSUE_TOKENS,               /* the two did not run the same ids */
} parity_issue_kind;

typedef struct parity_issue {
    parity_issue_kind kind;
    char *text;                 /* one line: "block0.attn_q: shape [..] vs [..]" */
} parity_issue;

typedef struct parity_result {
    stage_diff *stages;         /* compared tensors, contract order (logits included) */
    size_t n_stages;
    parity_issue *issues;
    size_t n_issues;
    int64_t n_tokens, n_valid;
    int n_blocks;
} parity_result;

/* Compares dump a (the engine) with dump b (a reference) name by name. Names are the
 * contract's for the blocks present in either dump; a name on one side only, a shape
 * mismatch, an integer mismatch, NaN/Inf on one side are issues (a_label / b_label name
 * the sides in their text). Fails only on allocation errors. */
gptoss_status parity_compare(const stage_dump *a, const stage_dump *b, const char *a_label,
                             const char *b_label, parity_result *r);
void parity_result_free(parity_result *r);
const stage_diff *parity_find(const parity_result *r, const char *name);
/* 1 for issues that make a run fail regardless of tolerances (every kind except
 * ISSUE_MISSING_IN_REFERENCE and ISSUE_EXTRA, which are reported only; strict makes
 * those fail too). */
int parity_issue_is_fatal(parity_issue_kind kind, int strict);
const char *parity_issue_kind_name(parity_issue_kind kind);

/* cJSON object of a diff_stats / stage_diff / the whole result (caller owns). Declared with
 * void * to keep cJSON out of this header: the return value is a cJSON *. */
void *diff_stats_json(const diff_stats *s, const stage_diff *where);
void *stage_diff_json(const stage_diff *d);
void *parity_result_json(const parity_result *r);

#endif
