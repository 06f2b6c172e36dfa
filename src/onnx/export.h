/* export.h: writes a loaded GPT-OSS model as an ONNX graph (standard ai.onnx ops only).
 *
 * Graph: input `input_ids` int64 [S] -> output `logits` float32 [S, vocab], static S.
 * Weights are initializers streamed from the mapped checkpoint; large ones go to one
 * external data file "<out>.data" beside the model (4096-aligned). Two weight modes:
 *   float (default): every weight fp32, MXFP4 experts decoded here. ONNX Runtime maps the
 *                    data file and computes straight from it: quick to load, little
 *                    private memory; the file is the size of the fp32 model.
 *   packed:          dense matrices keep their stored dtype (BF16, cast in the graph) and
 *                    MXFP4 experts stay packed uint8, decoded in the graph (a table lookup
 *                    times a power-of-two scale): a file ~3.4x smaller, but ONNX Runtime
 *                    folds the decoding at session creation into private fp32 copies,
 *                    which takes minutes and about twice the fp32 model in memory at 20b
 *                    sizes.
 * Both compute the same fp32 arithmetic on the same (exact) weight values. */
#ifndef GPTOSS_ONNX_EXPORT_H
#define GPTOSS_ONNX_EXPORT_H

#include "model_internal.h"
#include "onnx/graph.h"

#define GPTOSS_ONNX_DEFAULT_OPSET 21
#define GPTOSS_ONNX_MIN_OPSET 17
#define GPTOSS_ONNX_MAX_OPSET 26

typedef struct gptoss_onnx_options {
    int sequence_length;        /* S; 0 = 32 */
    int opset;                  /* 0 = GPTOSS_ONNX_DEFAULT_OPSET */
    int emit_hidden_states;     /* one output block{i}.output per block */
    int emit_block_debug;       /* every stage tensor of docs/stages.md */
    int packed_weights;         /* 1 = BF16 + packed MXFP4 decoded in the graph; 0 = all fp32 */
    size_t external_threshold;  /* 0 = 1024 bytes */
    int progress;               /* progress lines on stderr for long exports */
} gptoss_onnx_options;

/* Exports the model's blocks in use (gptoss_model_layers). stats may be NULL. */
gptoss_status gptoss_export_onnx(const gptoss_model *m, const char *path,
                                 const gptoss_onnx_options *opts, ox_stats *stats);

/* Whether [p, p + n) lies in one of the checkpoint's file mappings (the graph writer then
 * drops those pages once written). */
int gptoss_onnx_in_mapping(const gptoss_model *m, const void *p, size_t n);

/* The IR version that goes with an opset (0 if unsupported). */
int gptoss_onnx_ir_version(int opset);

#endif
