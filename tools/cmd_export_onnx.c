/* cmd_export_onnx.c: gptoss export-onnx, the model as a portable ONNX graph. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "onnx/export.h"
#include "onnx/genai.h"
#include "util.h"

static const char *CMD = "export-onnx";

static void help(FILE *f) {
    fprintf(f,
        "usage: gptoss export-onnx -m DIR -o OUT.onnx [options]          (--target parity)\n"
        "       gptoss export-onnx -m DIR -o OUTDIR --target genai [--weights fp32|int8]\n"
        "\n"
        "--target genai writes folder OUTDIR (which must not exist) that onnxruntime-genai loads\n"
        "and generates from: model.onnx + model.onnx.data (a decoder with a KV cache, dynamic\n"
        "batch and sequence, ONNX Runtime's fused CPU operators GroupQueryAttention with the\n"
        "sinks and the sliding window, MoE with the clamped SwiGLU), genai_config.json,\n"
        "tokenizer.json and tokenizer_config.json (o200k_harmony with a harmony chat template).\n"
        "Everything is written into a temporary folder beside OUTDIR and renamed at the end.\n"
        "  --weights fp32             every weight fp32, MXFP4 experts decoded exactly (default)\n"
        "  --weights int8             compact and inexact: experts as 8-bit blocks with\n"
        "                             power-of-two scales (QMoE; they store MXFP4 exactly, but\n"
        "                             ONNX Runtime's CPU QMoE computes approximately with them),\n"
        "                             qkv, attention out and unembedding re-quantized to 8 bits\n"
        "                             (MatMulNBits); logits about 1 to 2 from the engine's\n"
        "  --context-length N         RoPE cache length and default max_length (default: the\n"
        "                             model's, initial_context_length x rope scaling factor)\n"
        "\n"
        "--target parity (the default when -o names a .onnx file):\n"
        "Writes the model in checkpoint folder DIR (original or Hugging Face layout) as an\n"
        "ONNX graph of standard ai.onnx operators only, that ONNX Runtime's CPU provider runs\n"
        "and onnx.checker.check_model(full_check=True) accepts:\n"
        "  input  input_ids  int64   [S]\n"
        "  output logits     float32 [S, vocab]   (every position)\n"
        "Attention sinks, the sliding window of even layers, YaRN RoPE (cos/sin tables) and the\n"
        "top-k mixture of experts are exact. Weights are initializers; tensors of 1 KiB or more\n"
        "go to one external data file OUT.onnx.data beside the model (4096-aligned offsets);\n"
        "when OUT.onnx already exists and uses that name, OUT.onnx.2.data (and back), so\n"
        "that renaming the model replaces the pair at once; the old data file is then removed.\n"
        "Both files are written under temporary names and renamed when complete: a failure,\n"
        "a full disk, an interrupt or a crash leaves no partial output and an existing pair\n"
        "intact.\n"
        "\n"
        "options:\n"
        "  -m, --model DIR            checkpoint folder (config.json + *.safetensors)\n"
        "  -o, --output PATH          the .onnx file (parity) or the folder (genai) to write\n"
        "  --target parity|genai      default: parity when PATH ends in .onnx, else genai\n"
        "  --max-layers N             export only the first N blocks\n"
        "  --sequence-length N        static S (default 32)\n"
        "  --emit-hidden-states       one more output per block: block{i}.output [S, H]\n"
        "  --emit-block-debug         every stage tensor of docs/stages.md as an output\n"
        "                             (block{i}.attn_q, ..., final_normed)\n"
        "  --opset N                  ai.onnx opset, %d to %d (default %d)\n"
        "  --packed-weights           keep BF16 matrices and packed MXFP4 experts, decoded in the\n"
        "                             graph: a file ~3.4x smaller, but ONNX Runtime decodes it\n"
        "                             into fp32 copies at load (slow, about twice the fp32 model\n"
        "                             in memory at 20b sizes)\n"
        "  --float-weights            every weight fp32, experts decoded here (the default):\n"
        "                             ONNX Runtime maps the data file and runs from it\n"
        "  --external-threshold B     bytes from which a tensor goes external (default 1024)\n"
        "  -q, --quiet                no progress or summary\n"
        "  -h, --help                 this text\n",
        GPTOSS_ONNX_MIN_OPSET, GPTOSS_ONNX_MAX_OPSET, GPTOSS_ONNX_DEFAULT_OPSET);
}

int cmd_export_onnx(int argc, char **argv) {
    const char *model_dir = NULL, *out = NULL;
    long max_layers = 0, seq = 32, opset = GPTOSS_ONNX_DEFAULT_OPSET, threshold = 1024, ctx = 0;
    int quiet = 0, parity_only = 0, packed = 0, floats = 0;
    const char *target = NULL, *weights = NULL, *genai_only = NULL;
    gptoss_onnx_options o = {0};
    const arg_spec specs[] = {
        {"--model", "-m", ARG_STR, &model_dir, 0, 0},
        {"--output", "-o", ARG_STR, &out, 0, 0},
        {"--target", NULL, ARG_STR, &target, 0, 0},
        {"--weights", NULL, ARG_STR, &weights, 0, 0},
        {"--context-length", NULL, ARG_INT, &ctx, 1, 1 << 24},
        {"--max-layers", NULL, ARG_INT, &max_layers, 1, 1 << 20},
        {"--sequence-length", NULL, ARG_INT, &seq, 1, 1 << 20},
        {"--opset", NULL, ARG_INT, &opset, GPTOSS_ONNX_MIN_OPSET, GPTOSS_ONNX_MAX_OPSET},
        {"--external-threshold", NULL, ARG_INT, &threshold, 1, 1099511627776.0},
        {"--emit-hidden-states", NULL, ARG_FLAG, &o.emit_hidden_states, 0, 0},
        {"--emit-block-debug", NULL, ARG_FLAG, &o.emit_block_debug, 0, 0},
        {"--packed-weights", NULL, ARG_FLAG, &packed, 0, 0},
        {"--float-weights", NULL, ARG_FLAG, &floats, 0, 0},
        {"--quiet", "-q", ARG_FLAG, &quiet, 0, 0},
    };
    char *text = NULL; /* the help states the opset range */
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) help(f), fclose(f);
    int rc = args_parse(CMD, text ? text : "", argc, argv, specs, ARGS_N(specs), NULL);
    free(text);
    if (rc >= 0) return rc;
    if (packed && floats) return cli_usage_error(CMD, "--packed-weights and --float-weights exclude each other");
    o.packed_weights = packed;
    if (weights) genai_only = "--weights";
    if (!model_dir) return cli_usage_error(CMD, "-m DIR is required");
    if (!out) return cli_usage_error(CMD, "-o OUT.onnx (or -o OUTDIR --target genai) is required");
    if (ctx) genai_only = "--context-length";
    parity_only = seq != 32 || o.emit_hidden_states || o.emit_block_debug || o.packed_weights ||
                  opset != GPTOSS_ONNX_DEFAULT_OPSET || threshold != 1024;
    if (!target) {
        size_t n = strlen(out);
        target = n > 5 && !strcmp(out + n - 5, ".onnx") ? "parity" : "genai";
    }
    if (strcmp(target, "parity") && strcmp(target, "genai"))
        return cli_usage_error(CMD, "--target %s: choose parity or genai", target);
    if (!strcmp(target, "parity") && genai_only)
        return cli_usage_error(CMD, "--weights and --context-length are for --target genai");
    if (!strcmp(target, "genai") && parity_only)
        return cli_usage_error(CMD, "--sequence-length, --emit-*, --packed-weights, --opset and "
                                    "--external-threshold are for --target parity");
    gptoss_genai_options go = {.context_length = ctx, .progress = !quiet};
    if (weights && !strcmp(weights, "int8")) go.weights = GPTOSS_GENAI_INT8;
    else if (weights && strcmp(weights, "fp32"))
        return cli_usage_error(CMD, "--weights %s: choose fp32 or int8", weights);
    o.sequence_length = (int)seq;
    o.opset = (int)opset;
    o.external_threshold = (size_t)threshold;
    o.progress = !quiet;

    /* A file-size limit must surface as a write error (cleaned up), not kill us. */
    signal(SIGXFSZ, SIG_IGN);

    double t0 = gptoss_now();
    gptoss_open_options oo = {.max_layers = (int)max_layers};
    gptoss_model *m = NULL;
    gptoss_status st = gptoss_model_open(model_dir, &oo, &m);
    if (st != GPTOSS_OK) return cli_fail(CMD, st);
    ox_stats stats = {0};
    int genai = !strcmp(target, "genai");
    st = genai ? gptoss_export_genai(m, out, &go, &stats) : gptoss_export_onnx(m, out, &o, &stats);
    int layers = gptoss_model_layers(m);
    gptoss_model_close(m);
    if (st != GPTOSS_OK) return cli_fail(CMD, st);
    if (!quiet && genai) {
        printf("%s: onnxruntime-genai folder, %d blocks, %s weights\n", out, layers,
               go.weights == GPTOSS_GENAI_INT8 ? "int8" : "fp32");
        printf("  %zu nodes, %zu initializers (%zu external), model %.1f KB, data %.1f MB\n",
               stats.nodes, stats.initializers, stats.external, stats.model_bytes / 1e3,
               stats.data_bytes / 1e6);
        printf("  %.2f s, peak RSS %.1f MB\n", gptoss_now() - t0, gptoss_peak_rss() / 1e6);
    } else if (!quiet) {
        printf("%s: %d blocks, S=%ld, opset %ld, %s weights\n", out, layers, seq, opset,
               o.packed_weights ? "packed" : "float");
        printf("  %zu nodes, %zu initializers (%zu external), model %.1f KB, data %.1f MB\n",
               stats.nodes, stats.initializers, stats.external, stats.model_bytes / 1e3,
               stats.data_bytes / 1e6);
        printf("  %.2f s, peak RSS %.1f MB\n", gptoss_now() - t0, gptoss_peak_rss() / 1e6);
    }
    return 0;
}
