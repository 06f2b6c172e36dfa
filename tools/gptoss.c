/* gptoss.c: the gptoss command, one binary with subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"synth", cmd_synth, "write a deterministic synthetic checkpoint (real format)"},
    {"inspect", cmd_inspect, "show a checkpoint's config, tensors and parameter count"},
    {"run", cmd_run, "run the forward pass; print the next-token candidates; dump stages"},
    {"generate", cmd_generate, "generate text from a prompt (KV cache, sampling, streaming)"},
    {"chat", cmd_chat, "an interactive harmony conversation"},
    {"tokenize", cmd_tokenize, "o200k_harmony encode/decode, harmony chat rendering"},
    {"parity", cmd_parity, "compare the engine with torch / hf / onnx / flax, stage by stage"},
    {"export-onnx", cmd_export_onnx, "write the model as an ONNX graph"},
    {"routing", cmd_routing, "expert-routing parity report"},
};

int cli_fail(const char *cmd, gptoss_status status) {
    const char *msg = gptoss_last_error();
    fprintf(stderr, "gptoss %s: %s\n", cmd, (msg && *msg) ? msg : gptoss_status_name(status));
    return status == GPTOSS_ERR_ARG ? 2 : 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gptoss %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'gptoss %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

/* All of standard input, NUL-terminated (the NUL is not counted in *len). */
char *cli_read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, stdin);
        if (n < cap - 1) {
            buf[n] = 0;
            break;
        }
        char *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    if (buf && ferror(stdin)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss <command> [options]   (gptoss <command> --help for details)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("gptoss %s\n", gptoss_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "gptoss: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
