/* test_context.c: the context (KV cache, chunked prefill, decode, rewind) against the
 * one-shot forward pass, on the random model of random_model.h (3 blocks, sliding window 3,
 * so a 40-token sequence crosses the window many times):
 *   - every position's logits and every stage tensor are bit-identical to gptoss_forward()
 *     whatever the chunk size (1 = token by token, the decode path), the way the tokens are
 *     split between append calls, the thread count and the kernel set;
 *   - rewinding (by less than a chunk, and by more, which runs the sequence again) leaves a
 *     state bit-identical to having appended only the kept tokens;
 *   - capacity, vocabulary and option errors are refused and leave the context usable;
 *   - the phase timings grow with every append, the forward pass's phases all run, and
 *     their sum stays within the wall time of the appends. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_STOP_AFTER 20
#include "check.h"
#include "random_model.h"

enum { T = 40 };

/* ---- every stage tensor, concatenated over the chunks that delivered it ---------------- */

typedef struct {
    char name[96];
    size_t row_bytes, rows;
    unsigned char *data; /* [T rows] */
} stage_buf;

typedef struct {
    stage_buf s[3 * 17 + 2];
    int n, bad;
} collector;

static void declare(void *u, const char *name, gptoss_dtype dt, int ndim, const int64_t *shape) {
    collector *c = u;
    stage_buf *b = &c->s[c->n++];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->row_bytes = gptoss_dtype_size(dt);
    for (int i = 1; i < ndim; i++) b->row_bytes *= (size_t)shape[i];
    b->data = calloc((size_t)shape[0], b->row_bytes);
    b->rows = 0;
}

static void collect(void *u, const char *name, gptoss_dtype dt, int ndim, const int64_t *shape,
                    const void *data) {
    (void)dt;
    (void)ndim;
    collector *c = u;
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->s[i].name, name)) {
            stage_buf *b = &c->s[i];
            if (b->rows + (size_t)shape[0] > T) break;
            memcpy(b->data + b->rows * b->row_bytes, data, (size_t)shape[0] * b->row_bytes);
            b->rows += (size_t)shape[0];
            return;
        }
    c->bad++;
}

static void collector_init(collector *c, gptoss_model *m) {
    memset(c, 0, sizeof *c);
    forward_stages(m, T, declare, c);
}

static void collector_free(collector *c) {
    for (int i = 0; i < c->n; i++) free(c->s[i].data);
}

/* The first stage whose bytes differ, or NULL when all are complete and identical. */
static const char *collector_diff(const collector *a, const collector *b) {
    if (a->n != b->n || a->bad || b->bad) return "stage lists";
    for (int i = 0; i < a->n; i++)
        if (a->s[i].rows != T || b->s[i].rows != T || memcmp(a->s[i].data, b->s[i].data, T * a->s[i].row_bytes))
            return a->s[i].name;
    return NULL;
}

/* ---- runs -------------------------------------------------------------------------------- */

/* Appends tok[from..to) in pieces of `piece` tokens (the last may be shorter), every
 * position's logits into lg + from * V. */
static int append_pieces(gptoss_context *ctx, const int32_t *tok, int from, int to, int piece, float *lg,
                         collector *col) {
    for (int p = from; p < to; p += piece) {
        int n = to - p < piece ? to - p : piece;
        gptoss_append_options ao = {.logits = lg + (size_t)p * V, .tap = col ? collect : NULL, .tap_user = col};
        if (gptoss_context_append(ctx, tok + p, n, &ao) != GPTOSS_OK) return -1;
    }
    return 0;
}

static void timings_case(gptoss_model *m, const int32_t *tok) {
    for (int p = 0; p < GPTOSS_PHASES; p++)
        for (int q = 0; q < p; q++)
            CHECK(strcmp(gptoss_phase_name((gptoss_phase)p), gptoss_phase_name((gptoss_phase)q)) &&
                      strcmp(gptoss_phase_name((gptoss_phase)p), "unknown"),
                  "phase names %d, %d", p, q);
    CHECK(!strcmp(gptoss_phase_name(GPTOSS_PHASES), "unknown"), "a phase past the last has a name");
    gptoss_context_options co = {.max_tokens = T, .chunk = 8};
    gptoss_context *ctx = NULL;
    CHECK(gptoss_context_create(m, &co, &ctx) == GPTOSS_OK, "context: %s", gptoss_last_error());
    if (!ctx) return;
    double s0[GPTOSS_PHASES], s1[GPTOSS_PHASES], sum = 0;
    gptoss_context_timings(ctx, s0);
    for (int p = 0; p < GPTOSS_PHASES; p++) CHECK(s0[p] == 0, "a new context has %g s in %s", s0[p], gptoss_phase_name((gptoss_phase)p));
    double t = gptoss_now();
    CHECK(gptoss_context_append(ctx, tok, 20, NULL) == GPTOSS_OK, "append: %s", gptoss_last_error());
    for (int i = 20; i < 24; i++) CHECK(gptoss_context_append(ctx, tok + i, 1, NULL) == GPTOSS_OK, "decode append");
    t = gptoss_now() - t;
    gptoss_context_timings(ctx, s1);
    for (int p = 0; p < GPTOSS_PHASES; p++) {
        sum += s1[p];
        /* every phase but "other" (which may take less than the clock resolution) ran */
        CHECK(p == GPTOSS_PHASE_OTHER ? s1[p] >= 0 : s1[p] > 0, "%s: %g s after 24 tokens",
              gptoss_phase_name((gptoss_phase)p), s1[p]);
    }
    CHECK(sum <= t, "the phases sum to %g s, more than the %g s the appends took", sum, t);
    CHECK(gptoss_context_append(ctx, tok + 24, 1, NULL) == GPTOSS_OK, "decode append");
    gptoss_context_timings(ctx, s0);
    for (int p = 0; p < GPTOSS_PHASES; p++)
        CHECK(s0[p] >= s1[p], "%s went back: %g -> %g", gptoss_phase_name((gptoss_phase)p), s1[p], s0[p]);
    CHECK(s0[GPTOSS_PHASE_EXPERTS] > s1[GPTOSS_PHASE_EXPERTS], "one more token added no expert time");
    gptoss_context_destroy(ctx);
}

int main(void) {
    gptoss_model m = make_model();
    int32_t tok[T];
    for (int i = 0; i < T; i++) tok[i] = (int32_t)(next_u32() % V);
    float *ref = malloc(sizeof(float) * T * V), *lg = malloc(sizeof(float) * T * V);

    const char *names[] = {"portable", "avx2", "avx512"};
    for (int kn = 0; kn < 3; kn++) {
        if (!gptoss_kernels_by_name(names[kn])) {
            printf("%s: not supported by this CPU, skipped\n", names[kn]);
            continue;
        }
        setenv("GPTOSS_KERNELS", names[kn], 1);
        collector one, inc;
        collector_init(&one, &m);
        gptoss_forward_options fo = {.n_threads = 1, .tap = collect, .tap_user = &one};
        CHECK(gptoss_forward(&m, tok, T, &fo, ref) == GPTOSS_OK, "forward: %s", gptoss_last_error());

        /* chunk sizes around the window (3) and the sequence, pieces that straddle chunks */
        const int chunks[] = {1, 2, 3, 4, 7, 16, 40};
        const int pieces[] = {1, 5, 40};
        for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++)
            for (size_t pi = 0; pi < sizeof pieces / sizeof pieces[0]; pi++)
                for (int threads = 1; threads <= 3; threads += 2) {
                    gptoss_context_options co = {.max_tokens = T, .chunk = chunks[ci], .n_threads = threads};
                    gptoss_context *ctx = NULL;
                    CHECK(gptoss_context_create(&m, &co, &ctx) == GPTOSS_OK, "create: %s", gptoss_last_error());
                    if (!ctx) continue;
                    int tapped = ci % 2 == 0 && pi == 0;
                    if (tapped) collector_init(&inc, &m);
                    memset(lg, 0xff, sizeof(float) * T * V);
                    CHECK(append_pieces(ctx, tok, 0, T, pieces[pi], lg, tapped ? &inc : NULL) == 0, "append: %s",
                          gptoss_last_error());
                    CHECK(!memcmp(lg, ref, sizeof(float) * T * V),
                          "%s: chunk %d, pieces of %d, %d threads: logits differ from the one-shot forward",
                          names[kn], chunks[ci], pieces[pi], threads);
                    const float *last = gptoss_context_logits(ctx);
                    CHECK(last && !memcmp(last, ref + (size_t)(T - 1) * V, sizeof(float) * V),
                          "%s: chunk %d: the last logits differ", names[kn], chunks[ci]);
                    CHECK(gptoss_context_length(ctx) == T && !memcmp(gptoss_context_tokens(ctx), tok, sizeof tok),
                          "tokens held");
                    if (tapped) {
                        const char *d = collector_diff(&one, &inc);
                        CHECK(!d, "%s: chunk %d: stage %s differs from the one-shot forward", names[kn], chunks[ci], d);
                        collector_free(&inc);
                    }
                    gptoss_context_destroy(ctx);
                }
        collector_free(&one);

        /* decode without asking for logits: only the last position's are computed */
        gptoss_context_options co = {.max_tokens = T, .chunk = 4, .n_threads = 2};
        gptoss_context *ctx = NULL;
        CHECK(gptoss_context_create(&m, &co, &ctx) == GPTOSS_OK, "create");
        CHECK(gptoss_context_logits(ctx) == NULL, "an empty context has logits");
        for (int i = 0; i < T; i++) {
            CHECK(gptoss_context_append(ctx, tok + i, 1, NULL) == GPTOSS_OK, "append one");
            CHECK(!memcmp(gptoss_context_logits(ctx), ref + (size_t)i * V, sizeof(float) * V),
                  "%s: decode step %d differs", names[kn], i);
        }
        /* rewinds: by 2 (< chunk: the ring still holds the window), by 20 (runs again) */
        const int back[] = {38, 18, 0, 33};
        for (int r = 0; r < 4; r++) {
            CHECK(gptoss_context_rewind(ctx, back[r]) == GPTOSS_OK, "rewind to %d: %s", back[r], gptoss_last_error());
            CHECK(gptoss_context_length(ctx) == back[r], "length after rewind");
            if (back[r] > 0)
                CHECK(!memcmp(gptoss_context_logits(ctx), ref + (size_t)(back[r] - 1) * V, sizeof(float) * V),
                      "%s: logits after a rewind to %d differ", names[kn], back[r]);
            else
                CHECK(gptoss_context_logits(ctx) == NULL, "logits after a rewind to 0");
            memset(lg, 0, sizeof(float) * T * V);
            CHECK(append_pieces(ctx, tok, back[r], T, 3, lg, NULL) == 0, "append after rewind");
            CHECK(!memcmp(lg + (size_t)back[r] * V, ref + (size_t)back[r] * V, sizeof(float) * (T - back[r]) * V),
                  "%s: positions after a rewind to %d differ", names[kn], back[r]);
        }
        gptoss_context_destroy(ctx);
        /* cheap_rewind: a rewind by 20 with a ring that keeps 20 more positions */
        co = (gptoss_context_options){.max_tokens = T, .chunk = 2, .cheap_rewind = 20};
        CHECK(gptoss_context_create(&m, &co, &ctx) == GPTOSS_OK, "create");
        CHECK(append_pieces(ctx, tok, 0, T, 7, lg, NULL) == 0, "append");
        CHECK(gptoss_context_rewind(ctx, T - 20) == GPTOSS_OK, "rewind");
        CHECK(append_pieces(ctx, tok, T - 20, T, 1, lg, NULL) == 0 && !memcmp(lg, ref, sizeof(float) * T * V),
              "%s: positions after a cheap rewind differ", names[kn]);
        gptoss_context_destroy(ctx);
    }
    unsetenv("GPTOSS_KERNELS");

    /* errors */
    gptoss_context_options co = {.max_tokens = 8};
    gptoss_context *ctx = NULL;
    CHECK(gptoss_context_create(&m, &co, &ctx) == GPTOSS_OK, "create");
    CHECK(gptoss_context_append(ctx, tok, 9, NULL) == GPTOSS_ERR_RANGE && strstr(gptoss_last_error(), "capacity"),
          "9 tokens into 8: %s", gptoss_last_error());
    CHECK(gptoss_context_length(ctx) == 0, "a refused append changed the context");
    int32_t bad[2] = {1, V};
    CHECK(gptoss_context_append(ctx, bad, 2, NULL) == GPTOSS_ERR_RANGE && strstr(gptoss_last_error(), "vocabulary"),
          "out-of-vocabulary id: %s", gptoss_last_error());
    CHECK(gptoss_context_append(ctx, tok, 8, NULL) == GPTOSS_OK, "the context is usable after errors");
    CHECK(gptoss_context_rewind(ctx, 9) == GPTOSS_ERR_RANGE, "rewind past the end accepted");
    gptoss_context_destroy(ctx);
    co.max_tokens = 4096 * 32 + 1;
    CHECK(gptoss_context_create(&m, &co, &ctx) == GPTOSS_ERR_RANGE, "a context beyond the model's 131072 accepted");
    co = (gptoss_context_options){.chunk = -1};
    CHECK(gptoss_context_create(&m, &co, &ctx) == GPTOSS_ERR_ARG, "negative chunk accepted");
    co = (gptoss_context_options){0}; /* the full 131072 tokens: reserved, not committed */
    CHECK(gptoss_context_create(&m, &co, &ctx) == GPTOSS_OK && gptoss_context_capacity(ctx) == 131072,
          "full context: %s", gptoss_last_error());
    CHECK(gptoss_context_bytes_per_token(ctx) == 2 * 1 * NKV * D * sizeof(float), "bytes per token %zu",
          gptoss_context_bytes_per_token(ctx));
    gptoss_context_destroy(ctx);

    timings_case(&m, tok);

    free(ref);
    free(lg);
    free_model();
    if (check_failures) {
        fprintf(stderr, "%d failures\n", check_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
