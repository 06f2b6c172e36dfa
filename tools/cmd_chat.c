/* cmd_chat.c: gptoss chat, an interactive harmony conversation. Each turn renders the whole
 * conversation (system, developer, the earlier turns with only their final answers, as
 * harmony keeps them), keeps the longest prefix the context already holds (rewind), runs the
 * rest, and streams the assistant's reply: the final channel as text, the analysis channel
 * hidden or dimmed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "generation.h"
#include "util.h"

static const char *HELP =
    "usage: gptoss chat -m DIR [--system TEXT] [--reasoning low|medium|high] [--show-reasoning]\n"
    "                   [-n N] [--temperature T] [--top-p P] [--seed S] [--threads N]\n"
    "                   [--context N]\n"
    "\n"
    "An interactive conversation in the harmony format: type a message, read the reply.\n"
    "Each line of standard input is one user message (a terminal or a pipe). The reply's final\n"
    "channel is printed as it is generated; its analysis channel (the reasoning) is hidden,\n"
    "or with --show-reasoning shown dimmed on a terminal ('[analysis] ' lines on a pipe).\n"
    "Earlier turns are kept as harmony keeps them: their analysis is dropped.\n"
    "\n"
    "  -m, --model DIR     checkpoint folder (original or Hugging Face layout)\n"
    "  --system TEXT       instructions (harmony's developer message)\n"
    "  --reasoning LEVEL   reasoning effort in the system message: low, medium (default), high\n"
    "  --show-reasoning    show the analysis channel\n"
    "  -n N                tokens per reply at most (default 2048)\n"
    "  --temperature T     default 1 (0 = greedy); --top-p P default 1; --seed S default random\n"
    "  --threads N         worker threads (default: all cores)\n"
    "  --context N         tokens the conversation may hold (default 32768)\n"
    "\n"
    "In the conversation: /reset clears it, /exit (or Ctrl-D, or the end of a pipe) leaves,\n"
    "Ctrl-C stops the reply being generated and keeps the conversation.\n";

typedef struct {
    const char *text; /* the user message, or the assistant's final answer */
    int assistant;
} turn;

typedef struct {
    turn *t;
    int n, cap;
} history;

static void history_clear(history *h) {
    for (int i = 0; i < h->n; i++) free((char *)h->t[i].text);
    h->n = 0;
}

static int history_add(history *h, const char *text, int assistant) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        turn *t = realloc(h->t, sizeof *t * (size_t)cap);
        if (!t) return -1;
        h->t = t;
        h->cap = cap;
    }
    char *copy = strdup(text);
    if (!copy) return -1;
    h->t[h->n++] = (turn){copy, assistant};
    return 0;
}

/* The prompt for the next reply: system, developer, the turns, <|start|>assistant. */
static gptoss_status render(const gptoss_tokenizer *tok, const char *instructions, const char *effort,
                            const history *h, int32_t **ids, size_t *n) {
    gptoss_harmony_system sys;
    gptoss_harmony_system_defaults(&sys);
    sys.reasoning_effort = effort;
    gptoss_harmony_message *msgs = calloc((size_t)h->n + 2, sizeof *msgs);
    if (!msgs) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    size_t k = 0;
    msgs[k++] = (gptoss_harmony_message){.role = "system", .system = &sys};
    if (instructions) msgs[k++] = (gptoss_harmony_message){.role = "developer", .instructions = instructions};
    for (int i = 0; i < h->n; i++)
        msgs[k++] = h->t[i].assistant
                        ? (gptoss_harmony_message){.role = "assistant", .channel = "final", .text = h->t[i].text}
                        : (gptoss_harmony_message){.role = "user", .text = h->t[i].text};
    gptoss_status st = gptoss_harmony_render(tok, msgs, k, "assistant", ids, n);
    free(msgs);
    return st;
}

/* Streams a reply: follows the harmony structure token by token (headers, then the content of
 * each message) and prints the final channel's text, and the analysis when shown. */
typedef struct {
    utf8_stream out;
    int show_reasoning, tty;
    int in_header, after_channel, dimmed;
    char channel[32];
    size_t channel_len;
    int printed_final;
} reply_view;

static void end_dim(reply_view *v) {
    if (!v->dimmed) return;
    utf8_stream_flush(&v->out);
    fputs(v->tty ? "\x1b[0m\n" : "\n", stdout);
    v->dimmed = 0;
}

static void on_reply_token(void *user, int32_t id) {
    reply_view *v = user;
    switch (id) {
    case GPTOSS_TOKEN_START: v->in_header = 1; v->channel_len = 0; v->channel[0] = 0; return;
    case GPTOSS_TOKEN_CHANNEL: v->after_channel = 1; v->channel_len = 0; v->channel[0] = 0; return;
    case GPTOSS_TOKEN_MESSAGE:
        v->in_header = v->after_channel = 0;
        if (!strcmp(v->channel, "analysis") && v->show_reasoning) {
            fputs(v->tty ? "\x1b[2m" : "[analysis] ", stdout);
            v->dimmed = 1;
        }
        return;
    case GPTOSS_TOKEN_END:
    case GPTOSS_TOKEN_RETURN:
    case GPTOSS_TOKEN_CALL:
        end_dim(v);
        v->channel[0] = 0;
        v->channel_len = 0;
        return;
    default: break;
    }
    if (v->in_header || v->after_channel) { /* the header: remember the channel's name */
        size_t len = 0;
        const char *b = v->after_channel ? gptoss_tokenizer_token(v->out.tok, id, &len) : NULL;
        if (b && v->channel_len + len < sizeof v->channel) {
            memcpy(v->channel + v->channel_len, b, len);
            v->channel_len += len;
            v->channel[v->channel_len] = 0;
        }
        return;
    }
    if (!strcmp(v->channel, "final") || (v->dimmed && !strcmp(v->channel, "analysis"))) {
        utf8_stream_put(&v->out, id);
        v->printed_final |= !strcmp(v->channel, "final");
    }
}

/* The reply's final answer, parsed from the generated ids ("" when none). malloc'ed. */
static char *final_answer(const gptoss_tokenizer *tok, const int32_t *ids, int n) {
    gptoss_harmony_parse_result r = {0};
    char *text = NULL;
    if (n > 0 && gptoss_harmony_parse(tok, ids, (size_t)n, "assistant", &r) == GPTOSS_OK)
        for (size_t i = 0; i < r.n_messages; i++)
            if (r.messages[i].channel && !strcmp(r.messages[i].channel, "final") && r.messages[i].content) {
                free(text);
                text = strdup(r.messages[i].content);
            }
    gptoss_harmony_parse_free(&r);
    return text ? text : strdup("");
}

int cmd_chat(int argc, char **argv) {
    const char *model = NULL, *system = NULL, *effort = "medium";
    long n_max = 2048, threads = 0, context = 32768;
    double temperature = 1.0, top_p = 1.0;
    uint64_t seed = UINT64_MAX;
    int show = 0;
    const arg_spec specs[] = {
        {"--model", "-m", ARG_STR, &model, 0, 0},
        {"--system", NULL, ARG_STR, &system, 0, 0},
        {"--reasoning", NULL, ARG_STR, &effort, 0, 0},
        {"--show-reasoning", NULL, ARG_FLAG, &show, 0, 0},
        {"-n", NULL, ARG_INT, &n_max, 1, 1e9},
        {"--temperature", NULL, ARG_FLOAT, &temperature, 0, 1e6},
        {"--top-p", NULL, ARG_FLOAT, &top_p, 1e-9, 1},
        {"--seed", NULL, ARG_U64, &seed, 0, 0},
        {"--threads", NULL, ARG_INT, &threads, 1, 4096},
        {"--context", NULL, ARG_INT, &context, 1, 1e9},
    };
    int rc = args_parse("chat", HELP, argc, argv, specs, ARGS_N(specs), NULL);
    if (rc >= 0) return rc;
    if (!model) return cli_usage_error("chat", "-m DIR is required");
    rc = 0;
    if (strcmp(effort, "low") && strcmp(effort, "medium") && strcmp(effort, "high"))
        return cli_usage_error("chat", "--reasoning %s: want low, medium or high", effort);
    if (seed == UINT64_MAX) seed = (uint64_t)(gptoss_now() * 1e9) ^ (uint64_t)getpid();

    gptoss_tokenizer *tok = NULL;
    gptoss_model *m = NULL;
    gptoss_context *ctx = NULL;
    gptoss_sampler *sampler = NULL;
    history h = {0};
    char *line = NULL;
    size_t line_cap = 0;
    gptoss_status st = gptoss_tokenizer_open(NULL, &tok);
    gptoss_open_options oo = {.preload = 1}; /* no reply waits on the disk */
    if (!st) st = gptoss_model_open(model, &oo, &m);
    if (!st) {
        /* a reply is rewound away at the next turn (its analysis is dropped): keep rewinds
         * of a reply's length cheap */
        gptoss_context_options co = {.max_tokens = (int)context, .n_threads = (int)threads,
                                     .cheap_rewind = (int)(n_max < 4096 ? n_max : 4096)};
        st = gptoss_context_create(m, &co, &ctx);
    }
    gptoss_sampler_params sp;
    gptoss_sampler_defaults(&sp);
    sp.temperature = (float)temperature;
    sp.top_p = (float)top_p;
    sp.seed = seed;
    if (!st) st = gptoss_sampler_create(&sp, &sampler);
    if (st) {
        rc = cli_fail("chat", st);
        goto done;
    }
    const int tty_in = isatty(STDIN_FILENO), tty_out = isatty(STDOUT_FILENO);
    static volatile sig_atomic_t interrupted;
    gen_catch_sigint(&interrupted);
    if (tty_in) fprintf(stderr, "gptoss chat: /reset clears the conversation, /exit or Ctrl-D leaves\n");
    for (;;) {
        if (tty_in) fputs("> ", stdout), fflush(stdout);
        errno = 0;
        ssize_t len = getline(&line, &line_cap, stdin);
        if (len < 0) {
            if (errno == EINTR && interrupted) { /* Ctrl-C at the prompt: a new prompt */
                interrupted = 0;
                clearerr(stdin);
                fputs("\n", stdout);
                continue;
            }
            if (tty_in) fputs("\n", stdout);
            break; /* Ctrl-D or the end of the pipe */
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            history_clear(&h);
            gptoss_context_reset(ctx);
            fprintf(stderr, "(conversation cleared)\n");
            continue;
        }
        if (history_add(&h, line, 0)) {
            rc = cli_fail("chat", gptoss_error(GPTOSS_ERR_NOMEM, "out of memory"));
            break;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        if ((st = render(tok, system, effort, &h, &ids, &n))) {
            rc = cli_fail("chat", st);
            break;
        }
        if ((int64_t)n + 1 > gptoss_context_capacity(ctx)) {
            fprintf(stderr, "gptoss chat: the conversation (%zu tokens) fills the context of %d tokens; "
                            "/reset to start again\n", n, gptoss_context_capacity(ctx));
            free(ids);
            h.n--;
            free((char *)h.t[h.n].text);
            continue;
        }
        /* keep what the context already holds of this prompt */
        int keep = 0, held = gptoss_context_length(ctx);
        const int32_t *have = gptoss_context_tokens(ctx);
        while (keep < held && keep < (int)n && have[keep] == ids[keep]) keep++;
        if (keep == (int)n) keep--; /* at least one token to run, for the logits */
        if ((st = gptoss_context_rewind(ctx, keep))) {
            free(ids);
            rc = cli_fail("chat", st);
            break;
        }
        int room = gptoss_context_capacity(ctx) - (int)n;
        reply_view view = {.out = {.tok = tok, .out = stdout}, .show_reasoning = show, .tty = tty_out};
        gen_request req = {.ctx = ctx, .sampler = sampler, .stops = gen_default_stops,
                           .n_stops = GEN_DEFAULT_STOPS, .max_new = (int)(n_max < room ? n_max : room),
                           .interrupted = &interrupted, .on_token = on_reply_token, .user = &view};
        int32_t *gen = NULL;
        int n_gen = 0;
        gen_stop why;
        gen_timing tm = {0};
        st = gen_run(&req, ids + keep, (int)n - keep, &gen, &n_gen, &why, &tm);
        free(ids);
        end_dim(&view);
        utf8_stream_flush(&view.out);
        fputs("\n", stdout);
        fflush(stdout);
        if (st) {
            free(gen);
            rc = cli_fail("chat", st);
            break;
        }
        if (why == GEN_INTERRUPTED) {
            interrupted = 0;
            fprintf(stderr, "(stopped)\n");
        } else if (why == GEN_LENGTH) {
            fprintf(stderr, "(the reply reached -n %ld tokens)\n", n_max);
        }
        char *answer = final_answer(tok, gen, n_gen);
        free(gen);
        if (!answer || history_add(&h, answer, 1)) {
            free(answer);
            rc = cli_fail("chat", gptoss_error(GPTOSS_ERR_NOMEM, "out of memory"));
            break;
        }
        free(answer);
    }
done:
    free(line);
    history_clear(&h);
    free(h.t);
    gptoss_sampler_destroy(sampler);
    gptoss_context_destroy(ctx);
    gptoss_model_close(m);
    gptoss_tokenizer_close(tok);
    return rc;
}
