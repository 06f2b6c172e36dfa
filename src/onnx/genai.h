/* genai.h: writes a loaded GPT-OSS model as a folder that onnxruntime-genai loads and
 * generates from: model.onnx (+ model.onnx.data), genai_config.json, tokenizer.json,
 * tokenizer_config.json.
 *
 * The decoder graph, with B batch, S new tokens, P cached positions, T = P + S:
 *   inputs   input_ids int64 [B, S], attention_mask int64 [B, T],
 *            past_key_values.{i}.key / .value float32 [B, nkv, P, d]
 *   outputs  logits float32 [B, S, vocab], present.{i}.key / .value float32 [B, nkv, T, d]
 * built from ONNX Runtime's fused CPU operators (com.microsoft): GroupQueryAttention with
 * the sinks (head_sink) and YaRN RoPE (cos/sin caches), its local window on the sliding
 * layers; MoE with the clamped SwiGLU; SkipSimplifiedLayerNormalization. */
#ifndef GPTOSS_ONNX_GENAI_H
#define GPTOSS_ONNX_GENAI_H

#include "model_internal.h"
#include "onnx/graph.h"

typedef enum gptoss_genai_weights {
    GPTOSS_GENAI_FP32 = 0, /* every weight fp32, MXFP4 decoded exactly (the default) */
    GPTOSS_GENAI_INT8,     /* compact: experts as QMoE 8-bit blocks of 32 with power-of-two
                            * scales (MXFP4 x 2 are the integers -12..12: stored exactly, but
                            * ONNX Runtime's CPU QMoE kernel computes approximately with them);
                            * qkv, attention out and unembedding re-quantized to 8-bit blocks
                            * of 32 (MatMulNBits, inexact); embedding, router, norms fp32 */
} gptoss_genai_weights;

typedef struct gptoss_genai_options {
    gptoss_genai_weights weights;
    int64_t context_length; /* RoPE cache and default max_length; 0 = the model's */
    int progress;
} gptoss_genai_options;

/* Writes the folder `dir`, which must not exist: everything goes to a temporary folder
 * beside it, renamed into place when complete (a failure or an interrupt leaves nothing).
 * stats may be NULL. */
gptoss_status gptoss_export_genai(const gptoss_model *m, const char *dir,
                                  const gptoss_genai_options *opts, ox_stats *stats);

#endif
