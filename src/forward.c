/* forward.c: gptoss_forward(), the whole model over T tokens at once (causal prefill):
 *
 *   x = embedding[tokens]
 *   per block: x += attention(rmsnorm(x)); x += moe(rmsnorm(x))
 *   logits = unembedding rmsnorm(x)
 *
 * Stage taps (docs/stages.md) are emitted in this order for every block: input,
 * attn_normed, attn_q, attn_k, attn_v, attn_projected, post_attention, mlp_normed,
 * mlp_gate_logits, mlp_expert_indices, mlp_expert_weights, mlp_dense_gate_weights,
 * mlp_prelinear_outputs, mlp_activated_outputs, mlp_expert_outputs, mlp_fused, output;
 * then final_normed and logits. Without a tap nothing is copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

void tap_emit(const gptoss_tapper *tp, int layer, const char *stage, gptoss_dtype dtype,
              const void *data, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    if (!tp || !tp->fn) return;
    char name[96];
    if (layer >= 0) snprintf(name, sizeof name, "block%d.%s", layer, stage);
    else snprintf(name, sizeof name, "%s", stage);
    int64_t shape[4] = {d0, d1, d2, d3};
    int ndim = 0;
    while (ndim < 4 && shape[ndim] > 0) ndim++;
    tp->fn(tp->user, name, dtype, ndim, shape, data);
}

typedef struct {
    float *x, *t, *q, *k, *v, *o, *proj, *cos, *sin;
} buffers;

static void free_buffers(buffers *b) {
    free(b->x);
    free(b->t);
    free(b->q);
    free(b->k);
    free(b->v);
    free(b->o);
    free(b->proj);
    free(b->cos);
    free(b->sin);
}

static gptoss_status attention_half(const gptoss_engine *e, const gptoss_config *c,
                                    const gptoss_block *blk, int layer, int T, buffers *b,
                                    const gptoss_tapper *tp) {
    const int H = c->hidden_size, d = c->head_dim, nh = c->num_attention_heads;
    const int nkv = c->num_key_value_heads;
    rmsnorm_forward(b->t, b->x, blk->attn_norm, T, H);
    tap_emit(tp, layer, "attn_normed", GPTOSS_DT_F32, b->t, T, H, 0, 0);
    matmul_forward(e, b->q, b->t, T, &blk->wq, blk->bq);
    matmul_forward(e, b->k, b->t, T, &blk->wk, blk->bk);
    matmul_forward(e, b->v, b->t, T, &blk->wv, blk->bv);
    tap_emit(tp, layer, "attn_q", GPTOSS_DT_F32, b->q, T, nkv, nh / nkv, d);
    tap_emit(tp, layer, "attn_k", GPTOSS_DT_F32, b->k, T, nkv, d, 0);
    tap_emit(tp, layer, "attn_v", GPTOSS_DT_F32, b->v, T, nkv, d, 0);
    rope_forward(b->q, T, nh, d, b->cos, b->sin);
    rope_forward(b->k, T, nkv, d, b->cos, b->sin);
    int window = layer % 2 == 0 ? c->sliding_window : 0;
    gptoss_status st =
        attention_forward(e, b->o, b->q, b->k, b->v, blk->sinks, T, nh, nkv, d, window);
    if (st) return st;
    matmul_forward(e, b->proj, b->o, T, &blk->wo, blk->bo);
    tap_emit(tp, layer, "attn_projected", GPTOSS_DT_F32, b->proj, T, H, 0, 0);
    for (int64_t i = 0; i < (int64_t)T * H; i++) b->x[i] += b->proj[i];
    tap_emit(tp, layer, "post_attention", GPTOSS_DT_F32, b->x, T, H, 0, 0);
    return GPTOSS_OK;
}

static gptoss_status run(const gptoss_engine *e, const gptoss_model *m, const int32_t *tokens,
                         int T, const gptoss_tapper *tp, float *logits) {
    const gptoss_config *c = &m->cfg;
    const int64_t H = c->hidden_size, d = c->head_dim;
    const int64_t nq = (int64_t)c->num_attention_heads * d, nkv = (int64_t)c->num_key_value_heads * d;
    buffers b = {
        .x = malloc(sizeof(float) * (size_t)(T * H)),
        .t = malloc(sizeof(float) * (size_t)(T * H)),
        .q = malloc(sizeof(float) * (size_t)(T * nq)),
        .k = malloc(sizeof(float) * (size_t)(T * nkv)),
        .v = malloc(sizeof(float) * (size_t)(T * nkv)),
        .o = malloc(sizeof(float) * (size_t)(T * nq)),
        .proj = malloc(sizeof(float) * (size_t)(T * H)),
        .cos = malloc(sizeof(float) * (size_t)(T * d / 2)),
        .sin = malloc(sizeof(float) * (size_t)(T * d / 2)),
    };
    gptoss_status st = GPTOSS_OK;
    if (!b.x || !b.t || !b.q || !b.k || !b.v || !b.o || !b.proj || !b.cos || !b.sin) {
        st = gptoss_error(GPTOSS_ERR_NOMEM, "forward: out of memory for %d tokens", T);
        goto done;
    }
    /* embedding (bf16 rows widened exactly; f32 copied) */
    for (int t = 0; t < T; t++) {
        const gptoss_mat *E = &m->embedding;
        float *xt = b.x + (int64_t)t * H;
        if (E->dtype == GPTOSS_DT_BF16) {
            const uint16_t *row = (const uint16_t *)E->data + (int64_t)tokens[t] * E->stride;
            for (int64_t i = 0; i < H; i++) xt[i] = bf16_to_f32(row[i]);
        } else {
            memcpy(xt, (const float *)E->data + (int64_t)tokens[t] * E->stride, sizeof(float) * (size_t)H);
        }
    }
    rope_table(c, T, b.cos, b.sin);
    for (int l = 0; l < m->n_layers; l++) {
        const gptoss_block *blk = &m->blocks[l];
        tap_emit(tp, l, "input", GPTOSS_DT_F32, b.x, T, H, 0, 0);
        if ((st = attention_half(e, c, blk, l, T, &b, tp))) goto done;
        rmsnorm_forward(b.t, b.x, blk->mlp_norm, T, (int)H);
        tap_emit(tp, l, "mlp_normed", GPTOSS_DT_F32, b.t, T, H, 0, 0);
        if ((st = moe_forward(e, b.x, b.t, T, c, blk, tp, l))) goto done;
        tap_emit(tp, l, "output", GPTOSS_DT_F32, b.x, T, H, 0, 0);
    }
    rmsnorm_forward(b.t, b.x, m->norm, T, (int)H);
    tap_emit(tp, -1, "final_normed", GPTOSS_DT_F32, b.t, T, H, 0, 0);
    matmul_forward(e, logits, b.t, T, &m->unembedding, NULL);
    tap_emit(tp, -1, "logits", GPTOSS_DT_F32, logits, T, c->vocab_size, 0, 0);
done:
    free_buffers(&b);
    return st;
}

gptoss_status gptoss_forward(gptoss_model *model, const int32_t *tokens, int n_tokens,
                             const gptoss_forward_options *options, float *logits) {
    if (!model || !tokens || !logits || n_tokens <= 0)
        return gptoss_error(GPTOSS_ERR_ARG, "forward: no model, tokens or logits buffer");
    for (int t = 0; t < n_tokens; t++)
        if (tokens[t] < 0 || tokens[t] >= model->cfg.vocab_size)
            return gptoss_error(GPTOSS_ERR_RANGE, "forward: token %d at position %d is outside the vocabulary [0, %d)",
                                tokens[t], t, model->cfg.vocab_size);
    gptoss_engine e = {.k = gptoss_kernels_select()};
    if (!e.k) return GPTOSS_ERR_ARG; /* the error names GPTOSS_KERNELS */
    const gptoss_config *c = &model->cfg;
    int64_t width = c->hidden_size > (int64_t)c->num_attention_heads * c->head_dim
                        ? c->hidden_size
                        : (int64_t)c->num_attention_heads * c->head_dim;
    e.xprep = malloc(sizeof(float) * (size_t)n_tokens * (size_t)width);
    if (!e.xprep) return gptoss_error(GPTOSS_ERR_NOMEM, "forward: out of memory for %d tokens", n_tokens);
    e.pool = gptoss_pool_create(options ? options->n_threads : 0);
    if (!e.pool) {
        free(e.xprep);
        return GPTOSS_ERR_NOMEM;
    }
    gptoss_tapper tp = {options ? options->tap : NULL, options ? options->tap_user : NULL};
    gptoss_status st = run(&e, model, tokens, n_tokens, &tp, logits);
    gptoss_pool_destroy(e.pool);
    free(e.xprep);
    return st;
}

void forward_stages(const gptoss_model *m, int T, forward_stage_fn fn, void *user) {
    const gptoss_config *c = &m->cfg;
    const int64_t H = c->hidden_size, d = c->head_dim, E = c->num_experts;
    const int64_t K = c->experts_per_token, I = c->intermediate_size;
    const int64_t nkv = c->num_key_value_heads, g = c->num_attention_heads / nkv;
    const struct {
        const char *name;
        gptoss_dtype dtype;
        int64_t shape[4];
    } stages[] = {
        {"input", GPTOSS_DT_F32, {T, H}},
        {"attn_normed", GPTOSS_DT_F32, {T, H}},
        {"attn_q", GPTOSS_DT_F32, {T, nkv, g, d}},
        {"attn_k", GPTOSS_DT_F32, {T, nkv, d}},
        {"attn_v", GPTOSS_DT_F32, {T, nkv, d}},
        {"attn_projected", GPTOSS_DT_F32, {T, H}},
        {"post_attention", GPTOSS_DT_F32, {T, H}},
        {"mlp_normed", GPTOSS_DT_F32, {T, H}},
        {"mlp_gate_logits", GPTOSS_DT_F32, {T, E}},
        {"mlp_expert_indices", GPTOSS_DT_I64, {T, K}},
        {"mlp_expert_weights", GPTOSS_DT_F32, {T, K}},
        {"mlp_dense_gate_weights", GPTOSS_DT_F32, {T, E}},
        {"mlp_prelinear_outputs", GPTOSS_DT_F32, {T, K, 2 * I}},
        {"mlp_activated_outputs", GPTOSS_DT_F32, {T, K, I}},
        {"mlp_expert_outputs", GPTOSS_DT_F32, {T, K, H}},
        {"mlp_fused", GPTOSS_DT_F32, {T, H}},
        {"output", GPTOSS_DT_F32, {T, H}},
    };
    char name[96];
    for (int l = 0; l < m->n_layers; l++)
        for (size_t s = 0; s < sizeof stages / sizeof stages[0]; s++) {
            int ndim = 0;
            while (ndim < 4 && stages[s].shape[ndim] > 0) ndim++;
            snprintf(name, sizeof name, "block%d.%s", l, stages[s].name);
            fn(user, name, stages[s].dtype, ndim, stages[s].shape);
        }
    const int64_t fin[2] = {T, H}, lg[2] = {T, c->vocab_size};
    fn(user, "final_normed", GPTOSS_DT_F32, 2, fin);
    fn(user, "logits", GPTOSS_DT_F32, 2, lg);
}
