/* cmd_run.c: gptoss run, the forward pass from the command line: top-K next-token
 * candidates, and optionally every stage tensor dumped to a safetensors file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine.h"
#include "parity/parity.h"
#include "safetensors.h"
#include "util.h"

static const char *HELP =
    "usage: gptoss run -m DIR (--prompt TEXT | --tokens IDS) [--max-layers N]\n"
    "                  [--sequence-length N] [--top K] [--threads N] [--dump FILE]\n"
    "\n"
    "Runs the GPT-OSS forward pass (causal prefill over all tokens at once, fp32\n"
    "activations, weights as stored: BF16 and packed MXFP4) and prints the top-K\n"
    "next-token candidates after the last real token: rank, id, logit, probability\n"
    "(softmax over the whole vocabulary) and the token's text.\n"
    "\n"
    "  -m, --model DIR        checkpoint folder (original or Hugging Face layout)\n"
    "  --prompt TEXT          text, encoded with o200k_harmony (special tokens such as\n"
    "                         <|start|> are recognised)\n"
    "  --tokens IDS           token ids instead, comma-separated (e.g. 4827,382,290)\n"
    "  --max-layers N         run only the first N blocks (then the final norm and the\n"
    "                         unembedding), touching no other block's weights\n"
    "  --sequence-length N    pad to N tokens by appending <|endoftext|> (199999) after the\n"
    "                         real tokens. Attention is causal, so padding placed after the\n"
    "                         real tokens never changes their results: the candidates and\n"
    "                         the real positions' stages are those of the unpadded run\n"
    "  --top K                candidates to print (default 10)\n"
    "  --threads N            worker threads (default: all cores); results do not depend\n"
    "                         on it\n"
    "  --dump FILE            write a safetensors file with tokens (I64 [S], padding\n"
    "                         included), n_valid (I64 [1]), logits [S, vocab] and every\n"
    "                         stage tensor of docs/stages.md (block{i}.attn_q, ...);\n"
    "                         written to a temporary name and renamed when complete\n"
    "\n"
    "The kernels (AVX-512, AVX2 or portable C) are chosen from the CPU; the environment\n"
    "variable GPTOSS_KERNELS=portable|avx2|avx512 forces one.\n";

/* ---- --dump: declare every stage, then stream them as the forward pass taps them ---- */

typedef struct {
    char name[96];
    gptoss_dtype dtype;
    int ndim;
    int64_t shape[4];
} stage_decl;

typedef struct {
    st_writer *w;
    stage_decl *decl;
    size_t n, cap, next;
    gptoss_status st;
} dump_ctx;

static void declare_stage(void *user, const char *name, gptoss_dtype dtype, int ndim,
                          const int64_t *shape) {
    dump_ctx *d = user;
    if (d->st) return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        stage_decl *nd = realloc(d->decl, cap * sizeof *nd);
        if (!nd) {
            d->st = gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
            return;
        }
        d->decl = nd;
        d->cap = cap;
    }
    stage_decl *s = &d->decl[d->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->dtype = dtype;
    s->ndim = ndim;
    memcpy(s->shape, shape, sizeof(int64_t) * (size_t)ndim);
    d->st = st_writer_add(d->w, name, dtype, ndim, shape);
}

static void dump_tap(void *user, const char *name, gptoss_dtype dtype, int ndim,
                     const int64_t *shape, const void *data) {
    dump_ctx *d = user;
    if (d->st) return;
    const stage_decl *s = d->next < d->n ? &d->decl[d->next] : NULL;
    if (!s || strcmp(s->name, name) || s->dtype != dtype || s->ndim != ndim ||
        memcmp(s->shape, shape, sizeof(int64_t) * (size_t)ndim)) {
        d->st = gptoss_error(GPTOSS_ERR_FORMAT, "stage '%s' emitted out of the declared order", name);
        return;
    }
    size_t nbytes = gptoss_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) nbytes *= (size_t)shape[i];
    d->st = st_writer_write(d->w, data, nbytes);
    d->next++;
}

/* ---- arguments ---------------------------------------------------------------------- */

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void print_token_text(const gptoss_tokenizer *tok, int32_t id) {
    size_t len = 0;
    const char *p = tok ? gptoss_tokenizer_token(tok, id, &len) : NULL;
    if (!p) {
        printf("?");
        return;
    }
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c == '\t') printf("\\t");
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('"');
}

typedef struct {
    const char *model, *prompt, *tokens, *dump;
    long max_layers, seq_len, top, threads;
} run_args;

static int parse_args(int argc, char **argv, run_args *a) {
    const char *cmd = "run";
    *a = (run_args){.top = 10};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (i + 1 >= argc) return cli_usage_error(cmd, "%s: missing value (or unknown option)", o);
        const char *v = argv[++i];
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "--prompt")) a->prompt = v;
        else if (!strcmp(o, "--tokens")) a->tokens = v;
        else if (!strcmp(o, "--dump")) a->dump = v;
        else if (!strcmp(o, "--max-layers")) {
            if (parse_int(v, 1, 1000000, &a->max_layers))
                return cli_usage_error(cmd, "--max-layers %s: want a positive integer", v);
        } else if (!strcmp(o, "--sequence-length")) {
            if (parse_int(v, 1, 1 << 20, &a->seq_len))
                return cli_usage_error(cmd, "--sequence-length %s: want an integer in 1..1048576", v);
        } else if (!strcmp(o, "--top")) {
            if (parse_int(v, 1, 1000000, &a->top))
                return cli_usage_error(cmd, "--top %s: want a positive integer", v);
        } else if (!strcmp(o, "--threads")) {
            if (parse_int(v, 1, 4096, &a->threads))
                return cli_usage_error(cmd, "--threads %s: want an integer in 1..4096", v);
        } else {
            return cli_usage_error(cmd, "%s: unknown option", o);
        }
    }
    if (!a->model) return cli_usage_error(cmd, "-m DIR is required");
    if (!a->prompt == !a->tokens) return cli_usage_error(cmd, "give exactly one of --prompt and --tokens");
    return -1; /* go on */
}

/* ---- the command -------------------------------------------------------------------- */

static int write_dump(const char *path, gptoss_model *m, const int32_t *ids, int S, int n_valid,
                      const gptoss_forward_options *base, float *logits) {
    dump_ctx d = {0};
    gptoss_status st = st_writer_open(path, &d.w);
    if (st) return cli_fail("run", st);
    const int64_t s_shape[1] = {S}, one[1] = {1};
    if (!(st = st_writer_add(d.w, "tokens", GPTOSS_DT_I64, 1, s_shape)) &&
        !(st = st_writer_add(d.w, "n_valid", GPTOSS_DT_I64, 1, one))) {
        forward_stages(m, S, declare_stage, &d);
        st = d.st;
    }
    if (!st) st = st_writer_metadata(d.w, "producer", "gptoss run");
    if (!st) st = st_writer_begin(d.w);
    if (!st) {
        int64_t *t64 = malloc(sizeof(int64_t) * (size_t)S);
        if (!t64) st = gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
        for (int i = 0; !st && i < S; i++) t64[i] = ids[i];
        int64_t nv = n_valid;
        if (!st) st = st_writer_write(d.w, t64, sizeof(int64_t) * (size_t)S);
        if (!st) st = st_writer_write(d.w, &nv, sizeof nv);
        free(t64);
    }
    if (!st) {
        gptoss_forward_options o = *base;
        o.tap = dump_tap;
        o.tap_user = &d;
        st = gptoss_forward(m, ids, S, &o, logits);
        if (!st) st = d.st;
        if (!st && d.next != d.n)
            st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: %zu of %zu stages were emitted", path, d.next, d.n);
    }
    if (!st) {
        st = st_writer_finish(d.w);
    } else {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", gptoss_last_error());
        st_writer_abort(d.w);
        gptoss_error(st, "%s", msg);
    }
    free(d.decl);
    return st ? cli_fail("run", st) : 0;
}

typedef struct {
    int32_t id;
    float logit;
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

static void print_top(const gptoss_tokenizer *tok, const float *row, int V, int top) {
    double m = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++) m = row[i] > m ? row[i] : m;
    for (int i = 0; i < V; i++) sum += exp((double)row[i] - m);
    if (top > V) top = V;
    cand *c = malloc(sizeof *c * (size_t)V);
    if (!c) return;
    for (int i = 0; i < V; i++) c[i] = (cand){i, row[i]};
    qsort(c, (size_t)V, sizeof *c, cand_cmp);
    printf("%4s  %7s  %12s  %10s  %s\n", "rank", "id", "logit", "prob", "text");
    for (int r = 0; r < top; r++) {
        printf("%4d  %7d  %12.6f  %10.6f  ", r + 1, c[r].id, c[r].logit,
               exp((double)c[r].logit - m) / sum);
        print_token_text(tok, c[r].id);
        putchar('\n');
    }
    free(c);
}

int cmd_run(int argc, char **argv) {
    run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;

    gptoss_tokenizer *tok = NULL;
    gptoss_status tst = gptoss_tokenizer_open(NULL, &tok);
    if (tst && a.prompt) return cli_fail("run", tst);

    int32_t *ids = NULL;
    int n_valid = 0;
    if (a.tokens) {
        if (tokens_parse("--tokens", a.tokens, &ids, &n_valid)) {
            gptoss_tokenizer_close(tok);
            return cli_usage_error("run", "--tokens %s: want comma-separated non-negative ids", a.tokens);
        }
    } else {
        size_t n = 0;
        gptoss_status st = gptoss_tokenizer_encode(tok, a.prompt, strlen(a.prompt), 1, &ids, &n);
        if (st) {
            gptoss_tokenizer_close(tok);
            return cli_fail("run", st);
        }
        if (n == 0) {
            free(ids);
            gptoss_tokenizer_close(tok);
            return cli_usage_error("run", "--prompt: the prompt encodes to no tokens");
        }
        n_valid = (int)n;
    }
    int S = a.seq_len ? (int)a.seq_len : n_valid;
    if (S < n_valid) {
        free(ids);
        gptoss_tokenizer_close(tok);
        return cli_usage_error("run", "--sequence-length %d: shorter than the %d real tokens", S, n_valid);
    }
    int32_t *all = NULL;
    gptoss_status ps = tokens_pad(ids, n_valid, S, &all, &S);
    free(ids);
    if (ps) {
        gptoss_tokenizer_close(tok);
        return cli_fail("run", ps);
    }
    ids = all;

    gptoss_model *m = NULL;
    gptoss_open_options oo = {.max_layers = (int)a.max_layers};
    gptoss_status st = gptoss_model_open(a.model, &oo, &m);
    float *logits = NULL;
    if (!st) {
        const gptoss_config *c = gptoss_model_config(m);
        logits = malloc(sizeof(float) * (size_t)S * (size_t)c->vocab_size);
        if (!logits) st = gptoss_error(GPTOSS_ERR_NOMEM, "out of memory: %zu bytes for %d x %d logits",
                                         sizeof(float) * (size_t)S * (size_t)c->vocab_size, S, c->vocab_size);
    }
    rc = 0;
    if (st) {
        rc = cli_fail("run", st);
    } else {
        const gptoss_config *c = gptoss_model_config(m);
        gptoss_forward_options fo = {.n_threads = (int)a.threads};
        const gptoss_kernels *k = gptoss_kernels_select();
        double t0 = gptoss_now();
        if (a.dump) {
            rc = write_dump(a.dump, m, ids, S, n_valid, &fo, logits);
        } else {
            st = gptoss_forward(m, ids, S, &fo, logits);
            if (st) rc = cli_fail("run", st);
        }
        double dt = gptoss_now() - t0;
        if (rc == 0) {
            printf("model: %s (%s layout, %d of %d blocks)\n", a.model, gptoss_model_layout(m),
                   gptoss_model_layers(m), c->num_hidden_layers);
            printf("tokens: %d real", n_valid);
            if (S > n_valid) printf(" + %d padding", S - n_valid);
            printf("; kernels: %s; threads: %d; forward: %.3f s%s\n", k ? k->name : "?",
                   a.threads ? (int)a.threads : gptoss_ncpu(), dt, a.dump ? " (with dump)" : "");
            printf("next-token candidates after position %d (", n_valid - 1);
            print_token_text(tok, ids[n_valid - 1]);
            printf("):\n");
            print_top(tok, logits + (size_t)(n_valid - 1) * (size_t)c->vocab_size, c->vocab_size,
                      (int)a.top);
            if (a.dump) printf("dump: %s\n", a.dump);
        }
    }
    free(logits);
    free(ids);
    gptoss_model_close(m);
    gptoss_tokenizer_close(tok);
    return rc;
}
