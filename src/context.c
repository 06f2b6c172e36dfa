/* context.c: gptoss_context (see gptoss.h): creation of its state once (thread pool,
 * workspace for one chunk, KV cache), appending tokens chunk by chunk, rewinding. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

enum { DEFAULT_CHUNK = 128 };

/* Every buffer of the workspace for chunks of C tokens, as one list so that allocation
 * and release cannot drift apart. */
typedef struct {
    void **ptr;
    size_t bytes;
} ws_buf;

static size_t ws_list(gptoss_context *ctx, ws_buf *out) {
    const gptoss_config *c = &ctx->model->cfg;
    const size_t C = (size_t)ctx->chunk, H = (size_t)c->hidden_size, d = (size_t)c->head_dim;
    const size_t nq = (size_t)c->num_attention_heads * d, nkv = (size_t)c->num_key_value_heads * d;
    const size_t E = (size_t)c->num_experts, P = C * (size_t)c->experts_per_token;
    const size_t I = (size_t)c->intermediate_size, f = sizeof(float), i64 = sizeof(int64_t);
    const size_t threads = (size_t)gptoss_pool_threads(ctx->e.pool);
    gptoss_workspace *w = &ctx->ws;
    moe_workspace *m = &w->moe;
    const ws_buf list[] = {
        {(void **)&ctx->e.xprep, C * (H > nq ? H : nq) * f},
        {(void **)&w->x, C * H * f}, {(void **)&w->t, C * H * f},
        {(void **)&w->q, C * nq * f}, {(void **)&w->o, C * nq * f},
        {(void **)&w->k, C * nkv * f}, {(void **)&w->v, C * nkv * f},
        {(void **)&w->proj, C * H * f},
        {(void **)&w->cos, C * d / 2 * f}, {(void **)&w->sin, C * d / 2 * f},
        {(void **)&w->scores, threads * ATTN_GROUP_MAX * (size_t)ctx->capacity * f},
        {(void **)&m->gates, C * E * f}, {(void **)&m->idx, P * i64}, {(void **)&m->wts, P * f},
        {(void **)&m->start, (E + 1) * i64}, {(void **)&m->fill, E * i64},
        {(void **)&m->pair_pos, P * i64},
        {(void **)&m->xin, P * H * f}, {(void **)&m->h, P * 2 * I * f},
        {(void **)&m->act, P * I * f}, {(void **)&m->act_in, P * I * f},
        {(void **)&m->y, P * H * f}, {(void **)&m->fused, C * H * f},
        {(void **)&m->task_expert, (size_t)moe_max_tasks(c) * sizeof(int)},
        {(void **)&m->task_row, (size_t)moe_max_tasks(c) * i64},
        {(void **)&ctx->logits, (size_t)c->vocab_size * f},
    };
    const size_t n = sizeof list / sizeof list[0];
    if (out) memcpy(out, list, sizeof list);
    return n;
}

enum { WS_MAX = 32 };

void gptoss_context_destroy(gptoss_context *ctx) {
    if (!ctx) return;
    ws_buf list[WS_MAX];
    if (ctx->e.pool) {
        size_t n = ws_list(ctx, list);
        for (size_t i = 0; i < n; i++) free(*list[i].ptr);
        gptoss_pool_destroy(ctx->e.pool);
    }
    kvcache_destroy(&ctx->kv);
    free(ctx->tokens);
    free(ctx);
}

gptoss_status gptoss_context_create(gptoss_model *model, const gptoss_context_options *options,
                                    gptoss_context **out) {
    *out = NULL;
    if (!model) return gptoss_error(GPTOSS_ERR_ARG, "context: no model");
    const gptoss_config *c = &model->cfg;
    gptoss_context_options o = options ? *options : (gptoss_context_options){0};
    const int full = gptoss_max_context(c);
    if (o.max_tokens < 0 || o.max_tokens > full)
        return gptoss_error(GPTOSS_ERR_RANGE, "context: %d tokens: the model's context holds 1..%d", o.max_tokens, full);
    if (o.cheap_rewind < 0) return gptoss_error(GPTOSS_ERR_ARG, "context: cheap_rewind %d: want >= 0", o.cheap_rewind);
    if (o.chunk < 0) return gptoss_error(GPTOSS_ERR_ARG, "context: chunk %d: want a positive size", o.chunk);
    if (o.n_threads < 0) return gptoss_error(GPTOSS_ERR_ARG, "context: %d threads", o.n_threads);
    const gptoss_kernels *k = gptoss_kernels_select();
    if (!k) return GPTOSS_ERR_ARG; /* the error names GPTOSS_KERNELS */

    gptoss_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return gptoss_error(GPTOSS_ERR_NOMEM, "context: out of memory");
    ctx->model = model;
    ctx->capacity = o.max_tokens ? o.max_tokens : full;
    ctx->chunk = o.chunk ? o.chunk : DEFAULT_CHUNK;
    if (ctx->chunk > ctx->capacity) ctx->chunk = ctx->capacity;
    ctx->e.k = k;
    ctx->e.pool = gptoss_pool_create(o.n_threads);
    if (!ctx->e.pool) {
        free(ctx);
        return GPTOSS_ERR_NOMEM; /* the pool set the error */
    }
    gptoss_status st = GPTOSS_OK;
    ws_buf list[WS_MAX];
    size_t n = ws_list(ctx, list);
    for (size_t i = 0; i < n && !st; i++)
        /* cache-line aligned: a 64-byte vector load that straddles two lines costs two
         * (the MXFP4 kernel ran at 58 instead of 80 GFLOP/s per core on a 16-byte offset) */
        if (!(*list[i].ptr = aligned_alloc(64, (list[i].bytes + 63) & ~(size_t)63)))
            st = gptoss_error(GPTOSS_ERR_NOMEM, "context: out of memory for a %d-token workspace (%zu bytes)",
                              ctx->chunk, list[i].bytes);
    if (!st && !(ctx->tokens = malloc(sizeof(int32_t) * (size_t)ctx->capacity)))
        st = gptoss_error(GPTOSS_ERR_NOMEM, "context: out of memory for %d tokens", ctx->capacity);
    int slack = o.cheap_rewind > ctx->chunk - 1 ? o.cheap_rewind : ctx->chunk - 1;
    if (!st) st = kvcache_create(&ctx->kv, c, model->n_layers, ctx->capacity, slack);
    if (st) {
        gptoss_context_destroy(ctx);
        return st;
    }
    *out = ctx;
    return GPTOSS_OK;
}

int gptoss_context_length(const gptoss_context *ctx) { return ctx->n; }
int gptoss_context_capacity(const gptoss_context *ctx) { return ctx->capacity; }
const int32_t *gptoss_context_tokens(const gptoss_context *ctx) { return ctx->tokens; }
size_t gptoss_context_bytes_per_token(const gptoss_context *ctx) {
    return kvcache_bytes_per_token(&ctx->model->cfg, ctx->model->n_layers);
}
const float *gptoss_context_logits(const gptoss_context *ctx) { return ctx->have_logits ? ctx->logits : NULL; }

const char *gptoss_phase_name(gptoss_phase phase) {
    static const char *const names[GPTOSS_PHASES] = {"qkv",     "attention", "attn_out",    "router",
                                                     "experts", "combine",   "unembedding", "other"};
    return (int)phase >= 0 && phase < GPTOSS_PHASES ? names[phase] : "unknown";
}

void gptoss_context_timings(const gptoss_context *ctx, double seconds[GPTOSS_PHASES]) {
    for (int p = 0; p < GPTOSS_PHASES; p++) seconds[p] = ctx ? ctx->seconds[p] : 0;
}

void gptoss_context_reset(gptoss_context *ctx) {
    ctx->n = 0;
    ctx->have_logits = 0;
}

gptoss_status gptoss_context_append(gptoss_context *ctx, const int32_t *tokens, int n,
                                    const gptoss_append_options *options) {
    if (!ctx || (!tokens && n > 0) || n < 0) return gptoss_error(GPTOSS_ERR_ARG, "context: no tokens to append");
    const gptoss_config *c = &ctx->model->cfg;
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return gptoss_error(GPTOSS_ERR_RANGE, "token %d at position %d is outside the vocabulary [0, %d)",
                                tokens[t], ctx->n + t, c->vocab_size);
    if (n > ctx->capacity - ctx->n)
        return gptoss_error(GPTOSS_ERR_RANGE, "context: %d + %d tokens exceed its capacity of %d tokens", ctx->n, n,
                            ctx->capacity);
    float *all = options ? options->logits : NULL;
    gptoss_tapper tp = {options ? options->tap : NULL, options ? options->tap_user : NULL};
    float *tap_logits = NULL; /* the logits stage needs every row of a tapped chunk */
    if (tp.fn && !all) {
        tap_logits = malloc(sizeof(float) * (size_t)(n < ctx->chunk ? n : ctx->chunk) * (size_t)c->vocab_size);
        if (!tap_logits) return gptoss_error(GPTOSS_ERR_NOMEM, "context: out of memory for the tapped logits");
    }
    gptoss_status st = GPTOSS_OK;
    for (int done = 0; done < n && !st; ) {
        int len = n - done < ctx->chunk ? n - done : ctx->chunk;
        float *lg = all ? all + (size_t)done * (size_t)c->vocab_size : tap_logits;
        st = forward_chunk(ctx, tokens + done, len, lg, &tp);
        if (st) break;
        memcpy(ctx->tokens + ctx->n, tokens + done, sizeof(int32_t) * (size_t)len);
        ctx->n += len;
        ctx->have_logits = 1;
        done += len;
    }
    free(tap_logits);
    if (st) gptoss_context_reset(ctx);
    return st;
}

gptoss_status gptoss_context_rewind(gptoss_context *ctx, int n_tokens) {
    if (n_tokens < 0 || n_tokens > ctx->n)
        return gptoss_error(GPTOSS_ERR_RANGE, "context: cannot rewind to %d tokens (it holds %d)", n_tokens, ctx->n);
    if (n_tokens == ctx->n) return GPTOSS_OK;
    /* A sliding-window ring of `rows` rows still holds positions (n - rows, n); the next
     * query needs (n_tokens - window, n_tokens). When a ring has lost some of them (a rewind
     * by more than max(chunk - 1, cheap_rewind) tokens), the sequence is run again from the start: exact, at the
     * cost of one prefill. Either way the last token's logits are recomputed. */
    int lost = 0;
    for (int l = 0; l < ctx->model->n_layers; l++) {
        int w = gptoss_layer_window(&ctx->model->cfg, l), rows = ctx->kv.layers[l].rows;
        if (w > 0 && rows < ctx->capacity && ctx->n - rows > n_tokens - w) lost = 1;
    }
    int keep = lost ? 0 : n_tokens - 1;
    ctx->n = keep;
    ctx->have_logits = 0;
    if (n_tokens == 0) return GPTOSS_OK;
    /* append writes ctx->tokens[keep..]: run the tokens from a copy */
    int32_t *again = malloc(sizeof(int32_t) * (size_t)(n_tokens - keep));
    if (!again) {
        gptoss_context_reset(ctx);
        return gptoss_error(GPTOSS_ERR_NOMEM, "context: out of memory");
    }
    memcpy(again, ctx->tokens + keep, sizeof(int32_t) * (size_t)(n_tokens - keep));
    gptoss_status st = gptoss_context_append(ctx, again, n_tokens - keep, NULL);
    free(again);
    return st;
}

gptoss_status gptoss_context_sample(gptoss_context *ctx, gptoss_sampler *sampler, int32_t *token) {
    if (!ctx->have_logits) return gptoss_error(GPTOSS_ERR_ARG, "context: nothing to sample from (no tokens)");
    return gptoss_sampler_sample(sampler, ctx->logits, ctx->model->cfg.vocab_size, token);
}
