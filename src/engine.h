/* engine.h: the forward pass's internals: the per-call context and the ops it chains.
 *
 * Every op is `<op>_forward(out, in, ...)` over T tokens at once, fp32 activations,
 * weights as stored (see model_internal.h). Shapes are given as [T, ...] row-major. */
#ifndef GPTOSS_ENGINE_H
#define GPTOSS_ENGINE_H

#include "gptoss.h"
#include "kernels/kernels.h"
#include "model_internal.h"
#include "threadpool.h"

typedef struct gptoss_engine {
    const gptoss_kernels *k;
    gptoss_pool *pool;
    float *xprep; /* [T, max dense input width]: x in the BF16 kernel's order */
} gptoss_engine;

/* Emits one stage tensor to the caller's tap, if any ("block{layer}.{stage}", or just
 * {stage} when layer < 0). dims: up to 4, unused ones 0. */
typedef struct gptoss_tapper {
    gptoss_tap_fn fn;
    void *user;
} gptoss_tapper;
void tap_emit(const gptoss_tapper *tp, int layer, const char *stage, gptoss_dtype dtype,
              const void *data, int64_t d0, int64_t d1, int64_t d2, int64_t d3);

/* y [T, W.rows] = x [T, W.cols] W^T + bias (bias [W.rows] or NULL); rows split over threads. */
void matmul_forward(const gptoss_engine *e, float *y, const float *x, int T, const gptoss_mat *W,
                    const float *bias);

/* out [T, H] = x * rsqrt(mean(x^2) + 1e-5) * scale. out may be x. */
void rmsnorm_forward(float *out, const float *x, const float *scale, int T, int H);

/* cos, sin [T, head_dim/2]: YaRN RoPE tables for positions 0..T-1, concentration included. */
void rope_table(const gptoss_config *c, int T, float *cos_t, float *sin_t);
/* x [T, n_heads, d] rotated in place (halves [0, d/2) and [d/2, d)). */
void rope_forward(float *x, int T, int n_heads, int d, const float *cos_t, const float *sin_t);

/* out [T, n_heads*d] = causal attention with per-head sinks; q [T, n_heads, d],
 * k, v [T, n_kv, d], sinks [n_heads]; window > 0 limits query i to keys (i-window, i]. */
gptoss_status attention_forward(const gptoss_engine *e, float *out, const float *q, const float *k,
                       const float *v, const float *sinks, int T, int n_heads, int n_kv, int d,
                       int window);

/* x [T, H] += MoE(normed [T, H]) of one block; taps its stages. */
gptoss_status moe_forward(const gptoss_engine *e, float *x, const float *normed, int T,
                          const gptoss_config *c, const gptoss_block *b, const gptoss_tapper *tp,
                          int layer);

/* Lists every stage tensor gptoss_forward() taps for T tokens, in the order it emits them
 * (what a streaming writer declares before the forward pass runs). */
typedef void (*forward_stage_fn)(void *user, const char *name, gptoss_dtype dtype, int ndim,
                                 const int64_t *shape);
void forward_stages(const gptoss_model *m, int T, forward_stage_fn fn, void *user);

#endif
