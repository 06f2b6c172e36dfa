/* stages.h: the stage tensors of the forward pass (docs/stages.md), in one table.
 *
 * The engine's taps, the stage list a dump writer declares, and the parity tools all read
 * this table, so a stage's name, dtype, shape and place in the order are written once.
 * Per block the stages come in forward order (input ... output); then the two model-level
 * stages final_normed and logits. Shapes are [T, ...] for T tokens. */
#ifndef GPTOSS_STAGES_H
#define GPTOSS_STAGES_H

#include <stdint.h>

#include "gptoss.h"

typedef enum gptoss_stage_id {
    STAGE_INPUT,
    STAGE_ATTN_NORMED,
    STAGE_ATTN_Q,
    STAGE_ATTN_K,
    STAGE_ATTN_V,
    STAGE_ATTN_PROJECTED,
    STAGE_POST_ATTENTION,
    STAGE_MLP_NORMED,
    STAGE_MLP_GATE_LOGITS,
    STAGE_MLP_EXPERT_INDICES,
    STAGE_MLP_EXPERT_WEIGHTS,
    STAGE_MLP_DENSE_GATE_WEIGHTS,
    STAGE_MLP_PRELINEAR_OUTPUTS,
    STAGE_MLP_ACTIVATED_OUTPUTS,
    STAGE_MLP_EXPERT_OUTPUTS,
    STAGE_MLP_FUSED,
    STAGE_OUTPUT,
    GPTOSS_BLOCK_STAGES, /* the number of per-block stages */
    STAGE_FINAL_NORMED = GPTOSS_BLOCK_STAGES,
    STAGE_LOGITS,
    GPTOSS_STAGES
} gptoss_stage_id;

typedef struct gptoss_stage {
    const char *name; /* "attn_q" (per block: "block{i}.attn_q" in dumps) */
    gptoss_dtype dtype;
} gptoss_stage;

extern const gptoss_stage gptoss_stages[GPTOSS_STAGES];

/* The shape of stage `id` for T tokens under config c; returns ndim (1..4). */
int gptoss_stage_shape(const gptoss_config *c, gptoss_stage_id id, int64_t T, int64_t shape[4]);

/* The dump name of stage id of block `layer` ("block3.attn_q"), or of a model-level
 * stage ("logits"). */
void gptoss_stage_name(char *buf, size_t cap, gptoss_stage_id id, int layer);

#endif
