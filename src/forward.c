/* forward.c: the model over one chunk of tokens at positions pos0.. of a context:
 *
 *   x = embedding[tokens]
 *   per block: x += attention(rmsnorm(x), KV cache); x += moe(rmsnorm(x))
 *   logits = unembedding rmsnorm(x)      (the last position only, unless asked for all)
 *
 * Stage taps (stages.h, docs/stages.md) are emitted in the table's order for every block,
 * then final_normed and logits; without a tap nothing is copied. gptoss_forward(), the
 * one-shot prefill the parity tools use, is a context that holds exactly its tokens and runs
 * them as one chunk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

void tap_emit(const gptoss_tapper *tp, const gptoss_config *c, gptoss_stage_id id, int layer,
              int n, const void *data) {
    if (!tp || !tp->fn) return;
    char name[96];
    int64_t shape[4];
    gptoss_stage_name(name, sizeof name, id, layer);
    int ndim = gptoss_stage_shape(c, id, n, shape);
    tp->fn(tp->user, name, gptoss_stages[id].dtype, ndim, shape, data);
}

static void embed(const gptoss_mat *E, const int32_t *tokens, int n, int64_t H, float *x) {
    for (int t = 0; t < n; t++) { /* bf16 rows widened exactly; f32 copied */
        float *xt = x + (int64_t)t * H;
        if (E->dtype == GPTOSS_DT_BF16) {
            const uint16_t *row = (const uint16_t *)E->data + (int64_t)tokens[t] * E->stride;
            for (int64_t i = 0; i < H; i++) xt[i] = bf16_to_f32(row[i]);
        } else {
            memcpy(xt, (const float *)E->data + (int64_t)tokens[t] * E->stride, sizeof(float) * (size_t)H);
        }
    }
}

/* Copies n rows of `width` floats from src [rows, width] into the cache ring at pos0.. */
/* src [n, n_kv * d] into the cache layer [n_kv, rows, d] at positions pos0.. */
static void kv_store(float *cache, int rows, int64_t pos0, const float *src, int n, int n_kv, int d) {
    for (int t = 0; t < n; t++)
        for (int h = 0; h < n_kv; h++)
            memcpy(cache + ((int64_t)h * rows + (pos0 + t) % rows) * d, src + ((int64_t)t * n_kv + h) * d,
                   sizeof(float) * (size_t)d);
}

/* One clock *t runs through the forward pass: each phase ends with lap(), which adds the
 * time since *t to the context's phase p and restarts *t. */
static void lap(gptoss_context *ctx, gptoss_phase p, double *t) {
    double now = gptoss_now();
    ctx->seconds[p] += now - *t;
    *t = now;
}

static void attention_half(gptoss_context *ctx, int layer, int n, const gptoss_tapper *tp, double *t) {
    const gptoss_config *c = &ctx->model->cfg;
    const gptoss_block *blk = &ctx->model->blocks[layer];
    const gptoss_engine *e = &ctx->e;
    gptoss_workspace *w = &ctx->ws;
    const int H = c->hidden_size, d = c->head_dim, nh = c->num_attention_heads;
    const int nkv = c->num_key_value_heads;
    const int64_t pos0 = ctx->n;
    rmsnorm_forward(w->t, w->x, blk->attn_norm, n, H);
    tap_emit(tp, c, STAGE_ATTN_NORMED, layer, n, w->t);
    float *const qkv[3] = {w->q, w->k, w->v};
    const gptoss_mat *const wqkv[3] = {&blk->wq, &blk->wk, &blk->wv};
    const float *const bqkv[3] = {blk->bq, blk->bk, blk->bv};
    matmul_forward_n(e, 3, qkv, w->t, n, wqkv, bqkv);
    tap_emit(tp, c, STAGE_ATTN_Q, layer, n, w->q);
    tap_emit(tp, c, STAGE_ATTN_K, layer, n, w->k);
    tap_emit(tp, c, STAGE_ATTN_V, layer, n, w->v);
    rope_forward(w->q, n, nh, d, w->cos, w->sin);
    rope_forward(w->k, n, nkv, d, w->cos, w->sin);
    const gptoss_kv_layer *kv = &ctx->kv.layers[layer];
    kv_store(kv->k, kv->rows, pos0, w->k, n, nkv, d);
    kv_store(kv->v, kv->rows, pos0, w->v, n, nkv, d);
    lap(ctx, GPTOSS_PHASE_QKV, t);
    attention_forward(e, w->o, w->q, kv, pos0, n, nh, nkv, d, gptoss_layer_window(c, layer), blk->sinks,
                      w->scores);
    lap(ctx, GPTOSS_PHASE_ATTENTION, t);
    matmul_forward(e, w->proj, w->o, n, &blk->wo, blk->bo);
    tap_emit(tp, c, STAGE_ATTN_PROJECTED, layer, n, w->proj);
    for (int64_t i = 0; i < (int64_t)n * H; i++) w->x[i] += w->proj[i];
    tap_emit(tp, c, STAGE_POST_ATTENTION, layer, n, w->x);
    lap(ctx, GPTOSS_PHASE_ATTN_OUT, t);
}

/* The MoE stages that exist only as views for the taps: the dense [n, E] routing matrix and
 * the per-(token, slot) expert tensors in token order. Copies are made only here. */
static gptoss_status tap_moe_views(const gptoss_config *c, const moe_workspace *m, int layer, int n,
                                   const gptoss_tapper *tp) {
    const int64_t E = c->num_experts, K = c->experts_per_token, H = c->hidden_size;
    const int64_t I = c->intermediate_size, P = (int64_t)n * K;
    int64_t width = 2 * I > H ? 2 * I : H;
    width = width > E ? width : E;
    float *v = calloc((size_t)(P * width), sizeof(float));
    if (!v) return gptoss_error(GPTOSS_ERR_NOMEM, "forward: out of memory for the stage taps");
    for (int64_t p = 0; p < P; p++) v[(p / K) * E + m->idx[p]] = m->wts[p];
    tap_emit(tp, c, STAGE_MLP_DENSE_GATE_WEIGHTS, layer, n, v);
    const struct {
        gptoss_stage_id id;
        const float *src;
        int64_t w;
    } views[3] = {{STAGE_MLP_PRELINEAR_OUTPUTS, m->h, 2 * I},
                  {STAGE_MLP_ACTIVATED_OUTPUTS, m->act, I},
                  {STAGE_MLP_EXPERT_OUTPUTS, m->y, H}};
    for (int s = 0; s < 3; s++) {
        for (int64_t p = 0; p < P; p++)
            memcpy(v + p * views[s].w, views[s].src + m->pair_pos[p] * views[s].w, sizeof(float) * (size_t)views[s].w);
        tap_emit(tp, c, views[s].id, layer, n, v);
    }
    free(v);
    return GPTOSS_OK;
}

static gptoss_status moe_half(gptoss_context *ctx, int layer, int n, const gptoss_tapper *tp, double *t) {
    const gptoss_config *c = &ctx->model->cfg;
    const gptoss_block *blk = &ctx->model->blocks[layer];
    gptoss_workspace *w = &ctx->ws;
    rmsnorm_forward(w->t, w->x, blk->mlp_norm, n, c->hidden_size);
    tap_emit(tp, c, STAGE_MLP_NORMED, layer, n, w->t);
    moe_route(&ctx->e, &w->moe, w->t, n, c, blk);
    tap_emit(tp, c, STAGE_MLP_GATE_LOGITS, layer, n, w->moe.gates);
    tap_emit(tp, c, STAGE_MLP_EXPERT_INDICES, layer, n, w->moe.idx);
    tap_emit(tp, c, STAGE_MLP_EXPERT_WEIGHTS, layer, n, w->moe.wts);
    lap(ctx, GPTOSS_PHASE_ROUTER, t);
    moe_experts(&ctx->e, &w->moe, w->t, n, c, blk);
    if (tp && tp->fn) {
        gptoss_status st = tap_moe_views(c, &w->moe, layer, n, tp);
        if (st) return st;
    }
    lap(ctx, GPTOSS_PHASE_EXPERTS, t);
    moe_combine(&w->moe, w->x, n, c);
    tap_emit(tp, c, STAGE_MLP_FUSED, layer, n, w->moe.fused);
    lap(ctx, GPTOSS_PHASE_COMBINE, t);
    return GPTOSS_OK;
}

gptoss_status forward_chunk(gptoss_context *ctx, const int32_t *tokens, int n, float *logits,
                            const gptoss_tapper *tp) {
    const gptoss_model *m = ctx->model;
    const gptoss_config *c = &m->cfg;
    gptoss_workspace *w = &ctx->ws;
    const int64_t H = c->hidden_size, V = c->vocab_size;
    double t = gptoss_now();
    embed(&m->embedding, tokens, n, H, w->x);
    rope_table_range(c, ctx->n, n, w->cos, w->sin);
    lap(ctx, GPTOSS_PHASE_OTHER, &t);
    for (int l = 0; l < m->n_layers; l++) {
        tap_emit(tp, c, STAGE_INPUT, l, n, w->x);
        lap(ctx, GPTOSS_PHASE_OTHER, &t);
        attention_half(ctx, l, n, tp, &t);
        gptoss_status st = moe_half(ctx, l, n, tp, &t);
        if (st) return st;
        tap_emit(tp, c, STAGE_OUTPUT, l, n, w->x);
        lap(ctx, GPTOSS_PHASE_OTHER, &t);
    }
    /* every position's logits when asked for, else the last one's only */
    int first = logits ? 0 : n - 1, rows = n - first;
    float *out = logits ? logits : ctx->logits;
    rmsnorm_forward(w->t, w->x + first * H, m->norm, rows, (int)H);
    tap_emit(tp, c, STAGE_FINAL_NORMED, -1, n, w->t);
    matmul_forward(&ctx->e, out, w->t, rows, &m->unembedding, NULL);
    tap_emit(tp, c, STAGE_LOGITS, -1, n, out);
    if (out != ctx->logits) memcpy(ctx->logits, out + (int64_t)(rows - 1) * V, sizeof(float) * (size_t)V);
    lap(ctx, GPTOSS_PHASE_UNEMBEDDING, &t);
    return GPTOSS_OK;
}

gptoss_status gptoss_forward(gptoss_model *model, const int32_t *tokens, int n_tokens,
                             const gptoss_forward_options *options, float *logits) {
    if (!model || !tokens || !logits || n_tokens <= 0)
        return gptoss_error(GPTOSS_ERR_ARG, "forward: no model, tokens or logits buffer");
    gptoss_context_options co = {.max_tokens = n_tokens, .chunk = n_tokens,
                                 .n_threads = options ? options->n_threads : 0};
    gptoss_context *ctx = NULL;
    gptoss_status st = gptoss_context_create(model, &co, &ctx);
    if (st) return st;
    gptoss_append_options ao = {.logits = logits, .tap = options ? options->tap : NULL,
                                .tap_user = options ? options->tap_user : NULL};
    st = gptoss_context_append(ctx, tokens, n_tokens, &ao);
    gptoss_context_destroy(ctx);
    return st;
}

void forward_stages(const gptoss_model *m, int T, forward_stage_fn fn, void *user) {
    char name[96];
    int64_t shape[4];
    for (int l = 0; l < m->n_layers; l++)
        for (int s = 0; s < GPTOSS_BLOCK_STAGES; s++) {
            gptoss_stage_name(name, sizeof name, (gptoss_stage_id)s, l);
            int ndim = gptoss_stage_shape(&m->cfg, (gptoss_stage_id)s, T, shape);
            fn(user, name, gptoss_stages[s].dtype, ndim, shape);
        }
    for (int s = GPTOSS_BLOCK_STAGES; s < GPTOSS_STAGES; s++) {
        int ndim = gptoss_stage_shape(&m->cfg, (gptoss_stage_id)s, T, shape);
        fn(user, gptoss_stages[s].name, gptoss_stages[s].dtype, ndim, shape);
    }
}
