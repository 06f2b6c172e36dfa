/* engine_dump.c: the engine's forward pass with every tap stored into a stage dump. */
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
    if (c->status == GPTOSS_OK) c->status = dump_put(c->d, name, dtype, ndim, shape, data);
}

gptoss_status dump_from_engine(gptoss_model *model, const int32_t *tokens, int n_tokens,
                               int n_valid, int n_threads, stage_dump *d) {
    if (n_tokens <= 0 || n_valid < 1 || n_valid > n_tokens)
        return gptoss_error(GPTOSS_ERR_ARG, "dump_from_engine: %d real tokens of %d", n_valid,
                            n_tokens);
    const gptoss_config *cfg = gptoss_model_config(model);
    size_t n_logits = (size_t)n_tokens * (size_t)cfg->vocab_size;
    float *logits = malloc(n_logits * sizeof *logits);
    if (!logits)
        return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory: %zu bytes for %d x %d logits",
                            n_logits * sizeof *logits, n_tokens, cfg->vocab_size);
    tap_ctx ctx = {d, GPTOSS_OK};
    gptoss_forward_options fo = {.n_threads = n_threads, .tap = store_tap, .tap_user = &ctx};
    gptoss_status s = gptoss_forward(model, tokens, n_tokens, &fo, logits);
    if (!s) s = ctx.status;
    int64_t *ids = s ? NULL : malloc((size_t)n_tokens * sizeof *ids);
    if (!s && !ids) s = gptoss_error(GPTOSS_ERR_NOMEM, "tokens: out of memory");
    if (!s) {
        for (int i = 0; i < n_tokens; i++) ids[i] = tokens[i];
        int64_t shape[2] = {n_tokens, cfg->vocab_size}, one = 1, nv = n_valid;
        s = dump_put(d, "tokens", GPTOSS_DT_I64, 1, shape, ids);
        if (!s) s = dump_put(d, "n_valid", GPTOSS_DT_I64, 1, &one, &nv);
        if (!s) s = dump_put(d, "logits", GPTOSS_DT_F32, 2, shape, logits);
    }
    free(ids);
    free(logits);
    return s;
}
