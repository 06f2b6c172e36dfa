/* model_internal.h: the loaded checkpoint as the forward pass and the exporter see it.
 *
 * Both checkpoint layouts (original/ and Hugging Face) load into this one structure.
 * Large matrices stay where they are in the mapped files, in their stored dtype (BF16 or
 * F32); MXFP4 experts stay packed. Only small vectors (norm scales, biases, sinks) are
 * converted to fp32 arrays owned by the model. */
#ifndef GPTOSS_MODEL_INTERNAL_H
#define GPTOSS_MODEL_INTERNAL_H

#include "gptoss.h"
#include "safetensors.h"

/* A row-major matrix [rows, cols] (stored W[out, in]); dtype BF16 or F32; row stride in
 * elements (== cols except for views). */
typedef struct gptoss_mat {
    gptoss_dtype dtype;
    const void *data;
    int64_t rows, cols, stride;
} gptoss_mat;

/* Packed MXFP4 weights of all experts, decoded shape [n_experts, rows, cols]:
 *   blocks [E, rows, cols/32, 16] u8, scales [E, rows, cols/32] u8 (exponent + 127). */
typedef struct gptoss_mxfp4 {
    int64_t n_experts, rows, cols;
    const uint8_t *blocks;
    const uint8_t *scales;
} gptoss_mxfp4;

typedef struct gptoss_block {
    const float *attn_norm;        /* [H] */
    gptoss_mat wq, wk, wv;         /* [n_heads*d, H], [n_kv*d, H], [n_kv*d, H] */
    const float *bq, *bk, *bv;     /* [n_heads*d], [n_kv*d], [n_kv*d] */
    const float *sinks;            /* [n_heads] */
    gptoss_mat wo;                 /* [H, n_heads*d] */
    const float *bo;               /* [H] */
    const float *mlp_norm;         /* [H] */
    gptoss_mat wgate;              /* [E, H] */
    const float *bgate;            /* [E] */
    gptoss_mxfp4 mlp1;             /* [E, 2I, H], rows interleaved glu/linear */
    const float *b1;               /* [E, 2I] */
    gptoss_mxfp4 mlp2;             /* [E, H, I] */
    const float *b2;               /* [E, H] */
} gptoss_block;

struct gptoss_model {
    gptoss_config cfg;
    int n_layers;                  /* blocks in use: min(cfg.num_hidden_layers, max_layers) */
    char layout[16];               /* "original" or "hf" */
    char *dir;
    gptoss_mat embedding;          /* [vocab, H] */
    gptoss_mat unembedding;        /* [vocab, H] */
    const float *norm;             /* [H] */
    gptoss_block *blocks;          /* [n_layers] */
    /* storage */
    st_file **files;
    size_t n_files;
    const gptoss_tensor **tensors; /* every tensor of every file, for inspect */
    size_t n_tensors;
    float *owned;                  /* one arena for all converted fp32 vectors */
};

/* The attention window of block `layer`: GPT-OSS alternates sliding-window blocks (even
 * layers, window = sliding_window) and full-attention blocks (odd layers, 0 = no window).
 * The one place this rule is written. */
static inline int gptoss_layer_window(const gptoss_config *c, int layer) {
    return layer % 2 == 0 ? c->sliding_window : 0;
}

/* The longest context the model's positions are meant for: initial_context_length times
 * the YaRN factor (131072 for gpt-oss). */
static inline int gptoss_max_context(const gptoss_config *c) {
    double n = (double)c->initial_context_length * (c->rope_scaling_factor > 1 ? c->rope_scaling_factor : 1);
    return n > 1e9 ? 1000000000 : (int)n;
}

/* Parses an original-format or HF config.json text. label names the file in errors.
 * *is_hf is set when HF names were found. Validates ranges (positive sizes, heads
 * divisible by kv heads, ...). */
gptoss_status gptoss_config_parse(const char *label, const char *json, size_t len,
                                  gptoss_config *cfg, int *is_hf);

#endif
