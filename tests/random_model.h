/* random_model.h: a small random GPT-OSS model built in memory (no checkpoint files), for
 * the engine tests: 3 blocks (sliding window 3 on blocks 0 and 2), 4 experts top-2, hidden
 * 64, 4 heads / 2 kv of 16, vocabulary 300, BF16 and F32 matrices, MXFP4 experts. Each test
 * program includes it once; free_model() releases everything it allocated. */
#ifndef GPTOSS_TESTS_RANDOM_MODEL_H
#define GPTOSS_TESTS_RANDOM_MODEL_H

#include <stdlib.h>

#include "engine.h"
#include "util.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t next_u32(void) { return xorshift_next(&rng); }
static float normal(float std, float mean) { /* sum of uniforms, good enough */
    float s = 0;
    for (int i = 0; i < 4; i++) s += (float)(next_u32() % 1000001) / 1000000.0f - 0.5f;
    return mean + std * s * 1.7320508f;
}

/* ---- a random model in memory --------------------------------------------------------- */

enum { H = 64, D = 16, NH = 4, NKV = 2, E = 4, K = 2, I = 32, V = 300, L = 3, WIN = 3 };

static void *keep[256];
static int n_keep;
static void *alloc(size_t n) {
    void *p = calloc(1, n);
    keep[n_keep++] = p;
    return p;
}
static gptoss_mat bf16_mat(int64_t rows, int64_t cols, float std) {
    uint16_t *w = alloc(sizeof(uint16_t) * (size_t)(rows * cols));
    for (int64_t i = 0; i < rows * cols; i++) w[i] = f32_to_bf16(normal(std, 0));
    return (gptoss_mat){GPTOSS_DT_BF16, w, rows, cols, cols};
}
static float *vec(int64_t n, float std, float mean) {
    float *v = alloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = bf16_to_f32(f32_to_bf16(normal(std, mean)));
    return v;
}
static gptoss_mxfp4 mxfp4(int64_t rows, int64_t cols) {
    uint8_t *b = alloc((size_t)(E * rows * cols / 2)), *s = alloc((size_t)(E * rows * cols / 32));
    for (int64_t i = 0; i < E * rows * cols / 2; i++) b[i] = (uint8_t)next_u32();
    for (int64_t i = 0; i < E * rows * cols / 32; i++) s[i] = (uint8_t)(121 + next_u32() % 4);
    return (gptoss_mxfp4){E, rows, cols, b, s};
}

static gptoss_model make_model(void) {
    gptoss_model m = {0};
    m.cfg = (gptoss_config){.num_hidden_layers = L, .num_experts = E, .experts_per_token = K,
                            .vocab_size = V, .hidden_size = H, .intermediate_size = I,
                            .swiglu_limit = 7.0f, .head_dim = D, .num_attention_heads = NH,
                            .num_key_value_heads = NKV, .sliding_window = WIN,
                            .initial_context_length = 4096, .rope_theta = 150000.0f,
                            .rope_scaling_factor = 32.0f, .rope_ntk_alpha = 1.0f,
                            .rope_ntk_beta = 32.0f};
    m.n_layers = L;
    m.embedding = bf16_mat(V, H, 1.0f);
    /* the unembedding in F32, to run the F32 kernels too */
    float *u = alloc(sizeof(float) * V * H);
    for (int i = 0; i < V * H; i++) u[i] = bf16_to_f32(f32_to_bf16(normal(0.1f, 0)));
    m.unembedding = (gptoss_mat){GPTOSS_DT_F32, u, V, H, H};
    m.norm = vec(H, 0.1f, 1.0f);
    m.blocks = alloc(sizeof(gptoss_block) * L);
    for (int l = 0; l < L; l++) {
        gptoss_block *b = &m.blocks[l];
        b->attn_norm = vec(H, 0.1f, 1.0f);
        gptoss_mat qkv = bf16_mat((NH + 2 * NKV) * D, H, 0.15f); /* views, as the loader */
        b->wq = b->wk = b->wv = qkv;
        b->wq.rows = NH * D;
        b->wk.rows = b->wv.rows = NKV * D;
        b->wk.data = (const uint16_t *)qkv.data + NH * D * H;
        b->wv.data = (const uint16_t *)qkv.data + (NH + NKV) * D * H;
        b->bq = vec(NH * D, 0.1f, 0);
        b->bk = vec(NKV * D, 0.1f, 0);
        b->bv = vec(NKV * D, 0.1f, 0);
        b->sinks = vec(NH, 1.0f, 0);
        b->wo = bf16_mat(H, NH * D, 0.1f);
        b->bo = vec(H, 0.05f, 0);
        b->mlp_norm = vec(H, 0.1f, 1.0f);
        b->wgate = bf16_mat(E, H, 0.3f);
        b->bgate = vec(E, 0.1f, 0);
        b->mlp1 = mxfp4(2 * I, H);
        b->b1 = vec(E * 2 * I, 0.5f, 0);
        b->mlp2 = mxfp4(H, I);
        b->b2 = vec(E * H, 0.1f, 0);
    }
    return m;
}


static void free_model(void) {
    for (int i = 0; i < n_keep; i++) free(keep[i]);
    n_keep = 0;
}

#endif
