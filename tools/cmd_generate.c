/* cmd_generate.c: gptoss generate, text generation from the command line: a prompt (text,
 * ids or a harmony conversation) is prefilled into a context, then tokens are sampled and
 * streamed until a stop token or -n tokens. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "generation.h"
#include "tokenizer/harmony_json.h"
#include "kernels/kernels.h"
#include "parity/parity.h"
#include "tokenizer/tokenizer_internal.h"
#include "util.h"

static const char *HELP =
    "usage: gptoss generate -m DIR (--prompt TEXT | --tokens IDS | --chat JSON) [-n N]\n"
    "                       [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--seed S]\n"
    "                       [--stop IDS] [--threads N] [--context N] [--max-layers N] [--lazy]\n"
    "                       [--timings] [--json]\n"
    "\n"
    "Generates text: the prompt is run through the model once (prefill, in chunks), then\n"
    "tokens are sampled one at a time (decode, with a KV cache) and their text is streamed to\n"
    "standard output as it comes (a UTF-8 character split across tokens is held until it is\n"
    "complete). Stops at <|return|>, <|call|>, <|endoftext|> (and --stop ids; the stop token\n"
    "is not printed) or after N tokens. Prefill and decode speeds go to standard error.\n"
    "\n"
    "  -m, --model DIR     checkpoint folder (original or Hugging Face layout)\n"
    "  --prompt TEXT       text, encoded with o200k_harmony (special tokens recognised)\n"
    "  --tokens IDS        token ids instead, comma-separated\n"
    "  --chat JSON         a harmony conversation ('-': read it from standard input), as for\n"
    "                      'gptoss tokenize --chat'; the prompt ends in <|start|>assistant\n"
    "  -n N                tokens to generate at most (default 256)\n"
    "  --temperature T     0 = greedy (the most likely token, ties to the lower id);\n"
    "                      default 1\n"
    "  --top-k K           sample among the K most likely tokens (0 = all; default 0)\n"
    "  --top-p P           ... among the fewest whose probability reaches P (default 1 = off)\n"
    "  --min-p P           ... among those at least P x the top probability (default 0)\n"
    "  --seed S            the sampler's seed (default: random, printed on standard error);\n"
    "                      the same seed gives the same tokens whatever the thread count\n"
    "  --stop IDS          more stop token ids, comma-separated\n"
    "  --threads N         worker threads (default: all cores)\n"
    "  --context N         tokens the context holds (default: the model's full context,\n"
    "                      131072 for gpt-oss; its KV cache memory is committed only as it\n"
    "                      fills). A prompt plus -n beyond it is an error\n"
    "  --max-layers N      run only the first N blocks (for tests on partial checkpoints)\n"
    "  --lazy              do not read the weights into memory before the prompt (by default\n"
    "                      every weight but the embedding table is, so that no token waits\n"
    "                      on the disk); each page is then read on first use\n"
    "  --timings           also print where the time went: milliseconds per token in each\n"
    "                      phase of the forward pass (qkv, attention, attn_out, router,\n"
    "                      experts, combine, unembedding, other), prefill and decode\n"
    "  --json              print no text while generating; at the end print one JSON object:\n"
    "                      {\"prompt_tokens\", \"tokens\", \"text\", \"stop\", \"seed\",\n"
    "                       \"timings\": {\"prefill_tokens\", \"prefill_s\", \"prefill_tok_s\",\n"
    "                                   \"decode_tokens\", \"decode_s\", \"decode_tok_s\",\n"
    "                                   \"prefill_phases_s\", \"decode_phases_s\"}}\n"
    "                      (the phases: seconds in each, by name)\n"
    "\n"
    "Exit status: 0; 1 on an error; 2 on a usage error; 130 when interrupted (Ctrl-C stops\n"
    "the generation; what was generated is printed, --json included).\n";

typedef struct {
    const char *model, *prompt, *tokens, *chat, *stop;
    long n, top_k, threads, context, max_layers;
    double temperature, top_p, min_p;
    uint64_t seed;
    int json, have_seed, lazy, timings;
} gen_args;

static uint64_t random_seed(void) {
    uint64_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &s, sizeof s) != (ssize_t)sizeof s) s = 0;
        close(fd);
    }
    return s ? s : (uint64_t)(gptoss_now() * 1e9);
}

/* The prompt's ids: --tokens as given, --prompt encoded, --chat rendered. */
static gptoss_status prompt_ids(const gen_args *a, const gptoss_tokenizer *tok, int32_t **ids, int *n) {
    if (a->tokens) return tokens_parse("--tokens", a->tokens, ids, n);
    size_t cnt = 0;
    gptoss_status st;
    if (a->prompt) {
        st = gptoss_tokenizer_encode(tok, a->prompt, strlen(a->prompt), 1, ids, &cnt);
    } else {
        size_t len = strlen(a->chat);
        char *in = NULL;
        const char *text = a->chat;
        if (!strcmp(a->chat, "-") && !(text = in = cli_read_stdin(&len)))
            return gptoss_error(GPTOSS_ERR_IO, "--chat -: cannot read standard input");
        cJSON *root = cJSON_ParseWithLength(text, len);
        harmony_conv conv = {0};
        char err[256];
        if (!root) st = gptoss_error(GPTOSS_ERR_FORMAT, "--chat: not valid JSON");
        else if (harmony_conv_from_json(root, &conv, err, sizeof err))
            st = gptoss_error(GPTOSS_ERR_FORMAT, "--chat: %s", err);
        else
            st = gptoss_harmony_render(tok, conv.messages, conv.n, "assistant", ids, &cnt);
        harmony_conv_free(&conv);
        cJSON_Delete(root);
        free(in);
    }
    if (!st && cnt == 0) st = gptoss_error(GPTOSS_ERR_ARG, "%s: the prompt encodes to no tokens", a->prompt ? "--prompt" : "--chat");
    *n = (int)cnt;
    return st;
}

static void print_json(const gen_args *a, const gptoss_tokenizer *tok, const int32_t *prompt, int n_prompt,
                       const int32_t *gen, int n_gen, gen_stop why, const gen_timing *tm) {
    cJSON *o = cJSON_CreateObject(), *p = cJSON_AddArrayToObject(o, "prompt_tokens");
    for (int i = 0; i < n_prompt; i++) cJSON_AddItemToArray(p, cJSON_CreateNumber(prompt[i]));
    cJSON *g = cJSON_AddArrayToObject(o, "tokens");
    for (int i = 0; i < n_gen; i++) cJSON_AddItemToArray(g, cJSON_CreateNumber(gen[i]));
    int n_text = n_gen - (why == GEN_STOP_TOKEN); /* the stop token is not text */
    char *text = NULL;
    size_t len = 0;
    char *valid = NULL; /* JSON needs UTF-8: a character cut by -n becomes U+FFFD */
    if (n_text > 0 && gptoss_tokenizer_decode(tok, gen, (size_t)n_text, &text, &len) == GPTOSS_OK)
        valid = utf8_lossy((const uint8_t *)text, len);
    cJSON_AddStringToObject(o, "text", valid ? valid : "");
    free(valid);
    free(text);
    cJSON_AddStringToObject(o, "stop", gen_stop_name(why));
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)a->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    cJSON *t = cJSON_AddObjectToObject(o, "timings");
    cJSON_AddNumberToObject(t, "prefill_tokens", tm->prefill_tokens);
    cJSON_AddNumberToObject(t, "prefill_s", tm->prefill_s);
    cJSON_AddNumberToObject(t, "prefill_tok_s", tm->prefill_s > 0 ? tm->prefill_tokens / tm->prefill_s : 0);
    cJSON_AddNumberToObject(t, "decode_tokens", tm->decode_tokens);
    cJSON_AddNumberToObject(t, "decode_s", tm->decode_s);
    cJSON_AddNumberToObject(t, "decode_tok_s", tm->decode_s > 0 ? tm->decode_tokens / tm->decode_s : 0);
    cJSON *pp = cJSON_AddObjectToObject(t, "prefill_phases_s"), *dp = cJSON_AddObjectToObject(t, "decode_phases_s");
    for (int ph = 0; ph < GPTOSS_PHASES; ph++) {
        cJSON_AddNumberToObject(pp, gptoss_phase_name((gptoss_phase)ph), tm->prefill_phase_s[ph]);
        cJSON_AddNumberToObject(dp, gptoss_phase_name((gptoss_phase)ph), tm->decode_phase_s[ph]);
    }
    char *s = cJSON_PrintUnformatted(o);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

/* --timings: milliseconds per token in each phase, prefill and decode, to standard error. */
static void print_phases(const gen_timing *tm) {
    fprintf(stderr, "gptoss generate: time per token by phase (ms; %% of the forward pass)\n");
    fprintf(stderr, "  %-12s %18s %18s\n", "phase", "prefill", "decode");
    double sp = 0, sd = 0;
    for (int ph = 0; ph < GPTOSS_PHASES; ph++) {
        sp += tm->prefill_phase_s[ph];
        sd += tm->decode_phase_s[ph];
    }
    const double np = tm->prefill_tokens > 0 ? tm->prefill_tokens : 1, nd = tm->decode_tokens > 0 ? tm->decode_tokens : 1;
    for (int ph = 0; ph <= GPTOSS_PHASES; ph++) {
        double p = ph < GPTOSS_PHASES ? tm->prefill_phase_s[ph] : sp;
        double d = ph < GPTOSS_PHASES ? tm->decode_phase_s[ph] : sd;
        fprintf(stderr, "  %-12s %10.3f (%4.1f%%) %10.3f (%4.1f%%)\n",
                ph < GPTOSS_PHASES ? gptoss_phase_name((gptoss_phase)ph) : "total", 1e3 * p / np,
                sp > 0 ? 100 * p / sp : 0, 1e3 * d / nd, sd > 0 ? 100 * d / sd : 0);
    }
}

static void stream_token(void *user, int32_t id) {
    utf8_stream *s = user;
    for (int i = 0; i < GEN_DEFAULT_STOPS; i++)
        if (gen_default_stops[i] == id) return;
    utf8_stream_put(s, id);
}

int cmd_generate(int argc, char **argv) {
    gen_args a = {.n = 256, .temperature = 1.0, .top_p = 1.0};
    const arg_spec specs[] = {
        {"--model", "-m", ARG_STR, &a.model, 0, 0},
        {"--prompt", NULL, ARG_STR, &a.prompt, 0, 0},
        {"--tokens", NULL, ARG_STR, &a.tokens, 0, 0},
        {"--chat", NULL, ARG_STR, &a.chat, 0, 0},
        {"-n", NULL, ARG_INT, &a.n, 1, 1e9},
        {"--temperature", NULL, ARG_FLOAT, &a.temperature, 0, 1e6},
        {"--top-k", NULL, ARG_INT, &a.top_k, 0, 1e9},
        {"--top-p", NULL, ARG_FLOAT, &a.top_p, 1e-9, 1},
        {"--min-p", NULL, ARG_FLOAT, &a.min_p, 0, 1},
        {"--seed", NULL, ARG_U64, &a.seed, 0, 0},
        {"--stop", NULL, ARG_STR, &a.stop, 0, 0},
        {"--threads", NULL, ARG_INT, &a.threads, 1, 4096},
        {"--context", NULL, ARG_INT, &a.context, 1, 1e9},
        {"--max-layers", NULL, ARG_INT, &a.max_layers, 1, 1e6},
        {"--lazy", NULL, ARG_FLAG, &a.lazy, 0, 0},
        {"--timings", NULL, ARG_FLAG, &a.timings, 0, 0},
        {"--json", NULL, ARG_FLAG, &a.json, 0, 0},
    };
    a.seed = UINT64_MAX; /* "not given" (a seed of 2^64-1 is given as such: rare, harmless) */
    int rc = args_parse("generate", HELP, argc, argv, specs, ARGS_N(specs), NULL);
    if (rc >= 0) return rc;
    if (!a.model) return cli_usage_error("generate", "-m DIR is required");
    if (!!a.prompt + !!a.tokens + !!a.chat != 1)
        return cli_usage_error("generate", "give exactly one of --prompt, --tokens and --chat");
    if (a.seed == UINT64_MAX) a.seed = random_seed();

    int32_t *stops = NULL, *prompt = NULL, *gen = NULL;
    int n_stops = 0, n_prompt = 0, n_gen = 0;
    gptoss_tokenizer *tok = NULL;
    gptoss_model *m = NULL;
    gptoss_context *ctx = NULL;
    gptoss_sampler *sampler = NULL;
    gptoss_status st = GPTOSS_OK;
    if (a.stop && (st = tokens_parse("--stop", a.stop, &stops, &n_stops))) goto fail;
    int32_t *all_stops = realloc(stops, sizeof(int32_t) * (size_t)(n_stops + GEN_DEFAULT_STOPS));
    if (!all_stops) {
        st = gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    stops = all_stops;
    memcpy(stops + n_stops, gen_default_stops, sizeof gen_default_stops);
    n_stops += GEN_DEFAULT_STOPS;

    if ((st = gptoss_tokenizer_open(NULL, &tok))) goto fail;
    if ((st = prompt_ids(&a, tok, &prompt, &n_prompt))) goto fail;
    gptoss_open_options oo = {.max_layers = (int)a.max_layers, .preload = !a.lazy};
    if ((st = gptoss_model_open(a.model, &oo, &m))) goto fail;
    gptoss_context_options co = {.max_tokens = (int)a.context, .n_threads = (int)a.threads};
    if ((st = gptoss_context_create(m, &co, &ctx))) goto fail;
    if ((int64_t)n_prompt + a.n > gptoss_context_capacity(ctx)) {
        st = gptoss_error(GPTOSS_ERR_RANGE, "the prompt (%d tokens) plus -n %ld exceeds the context of %d tokens",
                          n_prompt, a.n, gptoss_context_capacity(ctx));
        goto fail;
    }
    gptoss_sampler_params sp;
    gptoss_sampler_defaults(&sp);
    sp.temperature = (float)a.temperature;
    sp.top_k = (int)a.top_k;
    sp.top_p = (float)a.top_p;
    sp.min_p = (float)a.min_p;
    sp.seed = a.seed;
    if ((st = gptoss_sampler_create(&sp, &sampler))) goto fail;

    static volatile sig_atomic_t interrupted;
    gen_catch_sigint(&interrupted);
    utf8_stream out = {.tok = tok, .out = stdout};
    gen_request req = {.ctx = ctx, .sampler = sampler, .stops = stops, .n_stops = n_stops,
                       .max_new = (int)a.n, .interrupted = &interrupted,
                       .on_token = a.json ? NULL : stream_token, .user = &out};
    gen_stop why;
    gen_timing tm = {0};
    fprintf(stderr, "gptoss generate: %d prompt tokens, seed %llu, kernels %s\n", n_prompt,
            (unsigned long long)a.seed, gptoss_kernels_select()->name);
    st = gen_run(&req, prompt, n_prompt, &gen, &n_gen, &why, &tm);
    if (st) goto fail;
    if (a.json) print_json(&a, tok, prompt, n_prompt, gen, n_gen, why, &tm);
    else {
        utf8_stream_flush(&out);
        printf("\n");
    }
    fprintf(stderr, "gptoss generate: prefill %d tokens in %.3f s (%.2f tok/s); decode %d tokens in %.3f s "
                    "(%.2f tok/s); stop: %s\n",
            tm.prefill_tokens, tm.prefill_s, tm.prefill_s > 0 ? tm.prefill_tokens / tm.prefill_s : 0,
            tm.decode_tokens, tm.decode_s, tm.decode_s > 0 ? tm.decode_tokens / tm.decode_s : 0, gen_stop_name(why));
    if (a.timings) print_phases(&tm);
    rc = why == GEN_INTERRUPTED ? 130 : 0;
    goto done;
fail:
    rc = cli_fail("generate", st);
done:
    gptoss_sampler_destroy(sampler);
    gptoss_context_destroy(ctx);
    gptoss_model_close(m);
    gptoss_tokenizer_close(tok);
    free(stops);
    free(prompt);
    free(gen);
    return rc;
}
