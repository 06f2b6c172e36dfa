/* engine_dump.c: the engine's forward pass with every tap stored into a stage dump, run as
 * one prefill or fed through a context a few tokens at a time. */
#include <stdlib.h>

#include "parity.h"
#include "util.h"

typedef struct {
    stage_dump *d;
    gptoss_status status; /* the first failure of a tap (taps cannot return one) */
} tap_ctx;

static void store_tap(void *user, const char *name, gptoss_dtype dtype, int ndim,
                      const int64_t *shape, const void *data) {
    tap_ctx *c = user;
    if (c->status == GPTOSS_OK) c->status = dump_append_rows(c->d, name, dtype, ndim, shape, data);
}

static gptoss_status run_stepped(gptoss_model *model, const int32_t *tokens, int n_tokens, int n_threads,
                                 int step, tap_ctx *tc) {
    gptoss_context_options co = {.max_tokens = n_tokens, .chunk = step, .n_threads = n_threads};
    gptoss_context *ctx = NULL;
    gptoss_status s = gptoss_context_create(model, &co, &ctx);
    gptoss_append_options ao = {.tap = store_tap, .tap_user = tc};
    for (int p = 0; !s && p < n_tokens; p += step) {
        s = gptoss_context_append(ctx, tokens + p, n_tokens - p < step ? n_tokens - p : step, &ao);
        if (!s) s = tc->status;
    }
    gptoss_context_destroy(ctx);
    return s;
}

gptoss_status dump_from_engine(gptoss_model *model, const int32_t *tokens, int n_tokens,
                               int n_valid, int n_threads, int step, stage_dump *d) {
    if (n_tokens <= 0 || n_valid < 1 || n_valid > n_tokens || step < 0)
        return gptoss_error(GPTOSS_ERR_ARG, "dump_from_engine: %d real tokens of %d", n_valid,
                            n_tokens);
    int64_t *ids = malloc((size_t)n_tokens * sizeof *ids);
    if (!ids) return gptoss_error(GPTOSS_ERR_NOMEM, "tokens: out of memory");
    for (int i = 0; i < n_tokens; i++) ids[i] = tokens[i];
    int64_t shape = n_tokens, one = 1, nv = n_valid;
    gptoss_status s = dump_put(d, "tokens", GPTOSS_DT_I64, 1, &shape, ids);
    if (!s) s = dump_put(d, "n_valid", GPTOSS_DT_I64, 1, &one, &nv);
    free(ids);
    tap_ctx tc = {d, GPTOSS_OK};
    if (!s && step > 0) s = run_stepped(model, tokens, n_tokens, n_threads, step, &tc);
    if (!s && step == 0) {
        const gptoss_config *cfg = gptoss_model_config(model);
        size_t bytes = (size_t)n_tokens * (size_t)cfg->vocab_size * sizeof(float);
        float *logits = malloc(bytes);
        if (!logits)
            return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory: %zu bytes for %d x %d logits", bytes, n_tokens,
                                cfg->vocab_size);
        gptoss_forward_options fo = {.n_threads = n_threads, .tap = store_tap, .tap_user = &tc};
        s = gptoss_forward(model, tokens, n_tokens, &fo, logits);
        if (!s) s = tc.status;
        free(logits);
    }
    return s;
}
