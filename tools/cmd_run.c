/* cmd_run.c: gptoss run, the forward pass from the command line: top-K next-token
 * candidates, and optionally every stage tensor dumped to a safetensors file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "engine.h"
#include "parity/parity.h"
#include "util.h"

static const char *HELP =
    "usage: gptoss run -m DIR (--prompt TEXT | --tokens IDS) [--max-layers N]\n"
    "                  [--sequence-length N] [--top K] [--threads N] [--dump FILE]\n"
    "                  [--incremental [--step N]]\n"
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
    "                         written to a temporary name and renamed when complete.\n"
    "                         Without --dump only the last position's logits are computed\n"
    "  --incremental          feed the tokens through a context one at a time (the decode\n"
    "                         path, with its KV cache) instead of one prefill; --dump then\n"
    "                         holds the stages of the decode path. The results are the same\n"
    "                         bits either way\n"
    "  --step N               --incremental: N tokens per step (default 1)\n"
    "\n"
    "The kernels (AVX-512, AVX2 or portable C) are chosen from the CPU; the environment\n"
    "variable GPTOSS_KERNELS=portable|avx2|avx512 forces one.\n";

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

/* The logits after the last real token: from a dump of every stage (one prefill, or the
 * decode path), or from a context that computes only that row. *logits malloc'ed [vocab]. */
static gptoss_status forward(gptoss_model *m, const int32_t *ids, int S, int n_valid, long threads, long step,
                             const char *dump, float **logits) {
    const int V = gptoss_model_config(m)->vocab_size;
    if (!(*logits = malloc(sizeof(float) * (size_t)V))) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    gptoss_status st;
    if (dump) {
        stage_dump d;
        dump_init(&d);
        st = dump_from_engine(m, ids, S, n_valid, (int)threads, (int)step, &d);
        if (!st) st = dump_save(&d, dump);
        const dump_tensor *lg = st ? NULL : dump_get(&d, "logits");
        if (lg) memcpy(*logits, (const float *)lg->data + (size_t)(n_valid - 1) * (size_t)V, sizeof(float) * (size_t)V);
        dump_free(&d);
        return st;
    }
    gptoss_context_options co = {.max_tokens = n_valid, .n_threads = (int)threads, .chunk = (int)step};
    gptoss_context *ctx = NULL;
    if ((st = gptoss_context_create(m, &co, &ctx))) return st;
    for (int p = 0; !st && p < n_valid; p += step ? (int)step : n_valid) {
        int len = step && n_valid - p > step ? (int)step : n_valid - p;
        st = gptoss_context_append(ctx, ids + p, len, NULL);
    }
    if (!st) memcpy(*logits, gptoss_context_logits(ctx), sizeof(float) * (size_t)V);
    gptoss_context_destroy(ctx);
    return st;
}

int cmd_run(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *tokens = NULL, *dump = NULL;
    long max_layers = 0, seq_len = 0, top = 10, threads = 0, step = 0;
    int incremental = 0;
    const arg_spec specs[] = {
        {"--model", "-m", ARG_STR, &model, 0, 0},
        {"--prompt", NULL, ARG_STR, &prompt, 0, 0},
        {"--tokens", NULL, ARG_STR, &tokens, 0, 0},
        {"--dump", NULL, ARG_STR, &dump, 0, 0},
        {"--max-layers", NULL, ARG_INT, &max_layers, 1, 1000000},
        {"--sequence-length", NULL, ARG_INT, &seq_len, 1, 1 << 20},
        {"--top", NULL, ARG_INT, &top, 1, 1000000},
        {"--threads", NULL, ARG_INT, &threads, 1, 4096},
        {"--incremental", NULL, ARG_FLAG, &incremental, 0, 0},
        {"--step", NULL, ARG_INT, &step, 1, 1 << 20},
    };
    int rc = args_parse("run", HELP, argc, argv, specs, ARGS_N(specs), NULL);
    if (rc >= 0) return rc;
    if (!model) return cli_usage_error("run", "-m DIR is required");
    if (!prompt == !tokens) return cli_usage_error("run", "give exactly one of --prompt and --tokens");
    if (step && !incremental) return cli_usage_error("run", "--step needs --incremental");
    if (incremental && !step) step = 1;

    gptoss_tokenizer *tok = NULL;
    gptoss_status tst = gptoss_tokenizer_open(NULL, &tok);
    if (tst && prompt) return cli_fail("run", tst);

    int32_t *ids = NULL;
    int n_valid = 0;
    if (tokens) {
        if (tokens_parse("--tokens", tokens, &ids, &n_valid)) {
            gptoss_tokenizer_close(tok);
            return cli_usage_error("run", "--tokens %s: want comma-separated non-negative ids", tokens);
        }
    } else {
        size_t n = 0;
        gptoss_status st = gptoss_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &n);
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
    int S = seq_len ? (int)seq_len : n_valid;
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
    gptoss_open_options oo = {.max_layers = (int)max_layers};
    gptoss_status st = gptoss_model_open(model, &oo, &m);
    float *logits = NULL;
    double t0 = gptoss_now();
    if (!st) st = forward(m, ids, S, n_valid, threads, step, dump, &logits);
    double dt = gptoss_now() - t0;
    rc = 0;
    if (st) {
        rc = cli_fail("run", st);
    } else {
        const gptoss_config *c = gptoss_model_config(m);
        const gptoss_kernels *k = gptoss_kernels_select();
        printf("model: %s (%s layout, %d of %d blocks)\n", model, gptoss_model_layout(m),
               gptoss_model_layers(m), c->num_hidden_layers);
        printf("tokens: %d real", n_valid);
        if (S > n_valid) printf(" + %d padding%s", S - n_valid, dump ? "" : " (not run: it cannot change the real ones)");
        printf("; kernels: %s; threads: %d; forward: %.3f s%s%s\n", k ? k->name : "?",
               threads ? (int)threads : gptoss_ncpu(), dt, incremental ? " (incremental)" : "",
               dump ? " (with dump)" : "");
        printf("next-token candidates after position %d (", n_valid - 1);
        print_token_text(tok, ids[n_valid - 1]);
        printf("):\n");
        print_top(tok, logits, c->vocab_size, (int)top);
        if (dump) printf("dump: %s\n", dump);
    }
    free(logits);
    free(ids);
    gptoss_model_close(m);
    gptoss_tokenizer_close(tok);
    return rc;
}
