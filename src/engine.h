/* engine.h: the forward pass's internals: the context's state (workspace, KV cache) and
 * the ops the forward pass chains.
 *
 * Every op is `<op>_forward(out, in, ...)` over n tokens at once, fp32 activations,
 * weights as stored (see model_internal.h). Shapes are given as [n, ...] row-major. Each
 * output row is computed by the same sequence of operations whatever n, the position of
 * the chunk, or the thread count are: a prompt run as one chunk, in chunks, or one token at
 * a time gives the same bits. */
#ifndef GPTOSS_ENGINE_H
#define GPTOSS_ENGINE_H

#include "gptoss.h"
#include "kernels/kernels.h"
#include "model_internal.h"
#include "stages.h"
#include "threadpool.h"

/* ---- what the ops run with ------------------------------------------------------------ */

typedef struct gptoss_engine {
    const gptoss_kernels *k;
    gptoss_pool *pool;
    float *xprep; /* [C, max dense input width]: x in the BF16 kernel's order */
} gptoss_engine;

/* The MoE's buffers for C tokens (P = C * experts_per_token (token, slot) pairs). */
typedef struct moe_workspace {
    float *gates;         /* [C, E] router logits */
    int64_t *idx;         /* [P] selected experts, by token then slot */
    float *wts;           /* [P] their routing weights */
    int64_t *start;       /* [E+1] first sorted pair of each expert */
    int64_t *fill;        /* [E] scratch for the sort */
    int64_t *pair_pos;    /* [P] (token, slot) -> position in expert order */
    float *xin;           /* [P, H] inputs in expert order, kernel order */
    float *h;             /* [P, 2I] mlp1 outputs, expert order */
    float *act;           /* [P, I] swiglu, expert order */
    float *act_in;        /* [P, I] the same in kernel order */
    float *y;             /* [P, H] mlp2 outputs, expert order */
    float *fused;         /* [C, H] weighted sums */
    int *task_expert;     /* [max tasks] */
    int64_t *task_row;    /* [max tasks] first row of each task */
} moe_workspace;

/* Activations of one chunk of up to C tokens, sized once when the context is made. */
typedef struct gptoss_workspace {
    int C;
    float *x, *t;         /* [C, H] residual stream, normed */
    float *q, *o;         /* [C, n_heads * d] */
    float *k, *v;         /* [C, n_kv * d] */
    float *proj;          /* [C, H] */
    float *cos, *sin;     /* [C, d/2] RoPE of the chunk's positions */
    float *scores;        /* [threads, max keys] attention scratch */
    moe_workspace moe;
} gptoss_workspace;

/* ---- the KV cache ----------------------------------------------------------------------
 * Per block, keys (after RoPE) and values in fp32, [n_kv, rows, d] each (a KV head's rows
 * are contiguous: attention streams them); position p lives in row p % rows. Full-attention blocks have rows = capacity (no wrap); sliding-window blocks
 * keep a ring of window + slack rows: slack >= chunk - 1 lets a chunk's queries see their
 * whole window while the chunk writes its own keys, and a rewind by up to `slack` tokens
 * finds the window it needs still there. The memory is one anonymous mapping reserved
 * at creation and committed by the kernel page by page as positions are written, so a
 * context of 131072 tokens costs only what it holds (each head's rows fill from its start). */
typedef struct gptoss_kv_layer {
    float *k, *v;
    int rows;
} gptoss_kv_layer;

typedef struct gptoss_kvcache {
    gptoss_kv_layer *layers; /* [n_layers] */
    void *base;
    size_t bytes;
} gptoss_kvcache;

gptoss_status kvcache_create(gptoss_kvcache *kv, const gptoss_config *c, int n_layers,
                             int capacity, int slack);
void kvcache_destroy(gptoss_kvcache *kv);
/* Bytes per token of the full-attention blocks, and the fixed bytes of the rings. */
size_t kvcache_bytes_per_token(const gptoss_config *c, int n_layers);

struct gptoss_context {
    gptoss_model *model;
    gptoss_engine e;
    int capacity, chunk;
    int n;                /* tokens held */
    int32_t *tokens;      /* [capacity] */
    gptoss_workspace ws;
    gptoss_kvcache kv;
    float *logits;        /* [vocab] after the last token */
    int have_logits;
    double seconds[GPTOSS_PHASES]; /* gptoss_context_timings() */
};

/* ---- the forward pass over one chunk --------------------------------------------------- */

/* Emits stage tensors to the caller's tap, if any. */
typedef struct gptoss_tapper {
    gptoss_tap_fn fn;
    void *user;
} gptoss_tapper;
void tap_emit(const gptoss_tapper *tp, const gptoss_config *c, gptoss_stage_id id, int layer,
              int n, const void *data);

/* Runs tokens[0..n) at positions ctx->n .. ctx->n + n - 1 through the model (n <= chunk),
 * writing their keys and values into the cache. logits: [n, vocab] for every position, or
 * NULL (required with a tap: the logits are a stage); the last position's logits always
 * land in ctx->logits. Does not advance ctx->n. */
gptoss_status forward_chunk(gptoss_context *ctx, const int32_t *tokens, int n, float *logits,
                            const gptoss_tapper *tp);

/* Lists every stage tensor a forward pass over T tokens taps, in the order it emits them
 * (what a streaming writer declares before the forward pass runs). */
typedef void (*forward_stage_fn)(void *user, const char *name, gptoss_dtype dtype, int ndim,
                                 const int64_t *shape);
void forward_stages(const gptoss_model *m, int T, forward_stage_fn fn, void *user);

/* ---- the ops ----------------------------------------------------------------------------- */

/* y [n, W.rows] = x [n, W.cols] W^T + bias (bias [W.rows] or NULL); rows split over threads. */
void matmul_forward(const gptoss_engine *e, float *y, const float *x, int n, const gptoss_mat *W,
                    const float *bias);
/* The same for up to 3 layers that read the same x (same cols), as one job over the pool:
 * y[l] = x W[l]^T + bias[l]. Results are those of matmul_forward() on each. */
void matmul_forward_n(const gptoss_engine *e, int n_layers, float *const y[], const float *x, int n,
                      const gptoss_mat *const W[], const float *const bias[]);

/* out [n, H] = x * rsqrt(mean(x^2) + 1e-5) * scale. out may be x. */
void rmsnorm_forward(float *out, const float *x, const float *scale, int n, int H);

/* cos, sin [n, head_dim/2]: YaRN RoPE tables for positions pos0 .. pos0+n-1, concentration
 * included (rope_table: pos0 = 0). */
void rope_table_range(const gptoss_config *c, int64_t pos0, int n, float *cos_t, float *sin_t);
void rope_table(const gptoss_config *c, int n, float *cos_t, float *sin_t);
/* x [n, n_heads, d] rotated in place (halves [0, d/2) and [d/2, d)). */
void rope_forward(float *x, int n, int n_heads, int d, const float *cos_t, const float *sin_t);

/* out [n, n_heads*d] = causal attention with per-head sinks of the queries q [n, n_heads, d]
 * at positions pos0.., over the keys and values of positions 0 .. pos0+n-1 in the cache layer
 * (the chunk's own already written); window > 0 limits query i to keys (i-window, i].
 * scores: [threads, ATTN_GROUP_MAX, pos0 + n] scratch. */
enum { ATTN_GROUP_MAX = 8 }; /* query heads one task runs against a KV head's rows */
void attention_forward(const gptoss_engine *e, float *out, const float *q, const gptoss_kv_layer *kv,
                       int64_t pos0, int n, int n_heads, int n_kv, int d, int window,
                       const float *sinks, float *scores);

/* The MoE of one block over n tokens, step by step (ws sized for n):
 *   moe_route:   gates = Wgate t + bgate; idx, wts = top-k, softmax over the k
 *   moe_experts: pairs grouped by expert; h = W1 t + b1; act = swiglu(h); y = W2 act + b2
 *   moe_combine: fused = sum_k w_k y_k (slot order), x += fused */
void moe_route(const gptoss_engine *e, moe_workspace *ws, const float *normed, int n,
               const gptoss_config *c, const gptoss_block *b);
void moe_experts(const gptoss_engine *e, moe_workspace *ws, const float *normed, int n,
                 const gptoss_config *c, const gptoss_block *b);
void moe_combine(moe_workspace *ws, float *x, int n, const gptoss_config *c);

/* Sizes of the MoE task lists (for the workspace). */
int64_t moe_max_tasks(const gptoss_config *c);

#endif
