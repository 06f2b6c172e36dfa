/* stages.c: the stage table (see stages.h). */
#include "stages.h"

#include <stdio.h>

const gptoss_stage gptoss_stages[GPTOSS_STAGES] = {
    [STAGE_INPUT] = {"input", GPTOSS_DT_F32},
    [STAGE_ATTN_NORMED] = {"attn_normed", GPTOSS_DT_F32},
    [STAGE_ATTN_Q] = {"attn_q", GPTOSS_DT_F32},
    [STAGE_ATTN_K] = {"attn_k", GPTOSS_DT_F32},
    [STAGE_ATTN_V] = {"attn_v", GPTOSS_DT_F32},
    [STAGE_ATTN_PROJECTED] = {"attn_projected", GPTOSS_DT_F32},
    [STAGE_POST_ATTENTION] = {"post_attention", GPTOSS_DT_F32},
    [STAGE_MLP_NORMED] = {"mlp_normed", GPTOSS_DT_F32},
    [STAGE_MLP_GATE_LOGITS] = {"mlp_gate_logits", GPTOSS_DT_F32},
    [STAGE_MLP_EXPERT_INDICES] = {"mlp_expert_indices", GPTOSS_DT_I64},
    [STAGE_MLP_EXPERT_WEIGHTS] = {"mlp_expert_weights", GPTOSS_DT_F32},
    [STAGE_MLP_DENSE_GATE_WEIGHTS] = {"mlp_dense_gate_weights", GPTOSS_DT_F32},
    [STAGE_MLP_PRELINEAR_OUTPUTS] = {"mlp_prelinear_outputs", GPTOSS_DT_F32},
    [STAGE_MLP_ACTIVATED_OUTPUTS] = {"mlp_activated_outputs", GPTOSS_DT_F32},
    [STAGE_MLP_EXPERT_OUTPUTS] = {"mlp_expert_outputs", GPTOSS_DT_F32},
    [STAGE_MLP_FUSED] = {"mlp_fused", GPTOSS_DT_F32},
    [STAGE_OUTPUT] = {"output", GPTOSS_DT_F32},
    [STAGE_FINAL_NORMED] = {"final_normed", GPTOSS_DT_F32},
    [STAGE_LOGITS] = {"logits", GPTOSS_DT_F32},
};

int gptoss_stage_shape(const gptoss_config *c, gptoss_stage_id id, int64_t T, int64_t shape[4]) {
    const int64_t H = c->hidden_size, d = c->head_dim, E = c->num_experts;
    const int64_t K = c->experts_per_token, I = c->intermediate_size;
    const int64_t nkv = c->num_key_value_heads, g = c->num_attention_heads / nkv;
    shape[0] = T;
    switch (id) {
    case STAGE_ATTN_Q: shape[1] = nkv, shape[2] = g, shape[3] = d; return 4;
    case STAGE_ATTN_K:
    case STAGE_ATTN_V: shape[1] = nkv, shape[2] = d; return 3;
    case STAGE_MLP_GATE_LOGITS:
    case STAGE_MLP_DENSE_GATE_WEIGHTS: shape[1] = E; return 2;
    case STAGE_MLP_EXPERT_INDICES:
    case STAGE_MLP_EXPERT_WEIGHTS: shape[1] = K; return 2;
    case STAGE_MLP_PRELINEAR_OUTPUTS: shape[1] = K, shape[2] = 2 * I; return 3;
    case STAGE_MLP_ACTIVATED_OUTPUTS: shape[1] = K, shape[2] = I; return 3;
    case STAGE_MLP_EXPERT_OUTPUTS: shape[1] = K, shape[2] = H; return 3;
    case STAGE_LOGITS: shape[1] = c->vocab_size; return 2;
    default: shape[1] = H; return 2; /* [T, H]: the residual stream and its norms */
    }
}

void gptoss_stage_name(char *buf, size_t cap, gptoss_stage_id id, int layer) {
    if (id < GPTOSS_BLOCK_STAGES) snprintf(buf, cap, "block%d.%s", layer, gptoss_stages[id].name);
    else snprintf(buf, cap, "%s", gptoss_stages[id].name);
}
