/* cmd_synth.c: gptoss synth, a deterministic synthetic checkpoint in the real format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "synth.h"
#include "util.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: gptoss synth --preset NAME [--seed S] [--format original|hf] [--shards N]\n"
            "                    [--threads N] [--quiet] -o DIR\n"
            "\n"
            "Writes a synthetic GPT-OSS checkpoint with the real tensor names, shapes and dtypes\n"
            "(MXFP4 experts, BF16 elsewhere) into DIR:\n"
            "  original  config.json (the official ModelConfig keys), dtypes.json, model.safetensors;\n"
            "            with --shards N: model--0000i-of-0000N.safetensors (1-based) + index\n"
            "  hf        config.json (Hugging Face gpt_oss), model-0000i-of-0000M.safetensors\n"
            "            (i = 0..M, M = N-1: gpt-oss-20b's own naming) + model.safetensors.index.json;\n"
            "            default 3 shards as published; --shards 1 gives model.safetensors alone\n"
            "\n"
            "The same preset and seed give byte-identical files, whatever --threads; both formats\n"
            "of one preset and seed hold the same values. Values keep activations realistic:\n"
            "routing spreads over every expert, the SwiGLU clamp bites a few percent of elements,\n"
            "sinks differ per head, MXFP4 scales span 5 exponents. Writing streams (memory stays\n"
            "far below the file size) and is atomic: DIR appears (or is replaced) only when\n"
            "complete; a failure or an interrupt leaves it as it was.\n"
            "\n"
            "presets:\n");
    for (const synth_preset *p = synth_presets; p->name; p++) fprintf(f, "  %-8s %s\n", p->name, p->about);
    fprintf(f,
            "  (tiny, small and deep use a sliding window of 8 tokens so that 32-token tests cross\n"
            "   it; the 20b presets keep the real config, window 128)\n"
            "\n"
            "options:\n"
            "  --preset NAME     one of the presets above (required)\n"
            "  --seed S          unsigned 64-bit seed (default 0)\n"
            "  --format F        original (default) or hf\n"
            "  --shards N        number of .safetensors files (default: original 1, hf 3)\n"
            "  --threads N       generator threads (default: all cores)\n"
            "  --quiet           no progress lines on stderr\n"
            "  -o, --output DIR  the checkpoint folder to create or replace (required)\n");
}

int cmd_synth(int argc, char **argv) {
    const char *cmd = "synth", *preset = NULL, *out = NULL, *format = "original";
    synth_options opt = {.progress = 1};
    long shards = 0, threads = 0;
    int quiet = 0;
    const arg_spec specs[] = {
        {"--preset", NULL, ARG_STR, &preset, 0, 0},
        {"--seed", NULL, ARG_U64, &opt.seed, 0, 0},
        {"--format", NULL, ARG_STR, &format, 0, 0},
        {"--shards", NULL, ARG_INT, &shards, 1, 99999},
        {"--threads", NULL, ARG_INT, &threads, 1, 1024},
        {"--quiet", NULL, ARG_FLAG, &quiet, 0, 0},
        {"--output", "-o", ARG_STR, &out, 0, 0},
    };
    char *text = NULL; /* the help lists the presets */
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) help(f), fclose(f);
    int rc = args_parse(cmd, text ? text : "", argc, argv, specs, ARGS_N(specs), NULL);
    free(text);
    if (rc >= 0) return rc;
    opt.progress = !quiet;
    opt.shards = (int)shards;
    opt.threads = (int)threads;
    if (preset && !synth_find_preset(preset)) return cli_usage_error(cmd, "--preset: unknown preset '%s'", preset);
    if (!strcmp(format, "original")) opt.layout = SYNTH_ORIGINAL;
    else if (!strcmp(format, "hf")) opt.layout = SYNTH_HF;
    else return cli_usage_error(cmd, "--format: '%s' is not original or hf", format);
    if (out && !*out) return cli_usage_error(cmd, "-o: empty path");
    if (!preset) return cli_usage_error(cmd, "--preset is required");
    if (!out) return cli_usage_error(cmd, "-o DIR is required");

    const synth_preset *p = synth_find_preset(preset);
    double t0 = gptoss_now();
    gptoss_status st = synth_write(out, &p->config, &opt);
    if (st != GPTOSS_OK) return cli_fail(cmd, st);
    if (opt.progress)
        fprintf(stderr, "gptoss synth: wrote %s (%s, %s, seed %llu) in %.1f s, peak RSS %.0f MB\n", out, preset,
                opt.layout == SYNTH_HF ? "hf" : "original", (unsigned long long)opt.seed, gptoss_now() - t0,
                (double)gptoss_peak_rss() / 1e6);
    return 0;
}
