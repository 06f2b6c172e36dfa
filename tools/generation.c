/* generation.c: the prefill + decode loop and the text stream (see generation.h). */
#include "generation.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

const int32_t gen_default_stops[GEN_DEFAULT_STOPS] = {GPTOSS_TOKEN_RETURN, GPTOSS_TOKEN_CALL, 199999};

const char *gen_stop_name(gen_stop why) {
    switch (why) {
    case GEN_STOP_TOKEN: return "stop_token";
    case GEN_LENGTH: return "length";
    case GEN_INTERRUPTED: return "interrupted";
    }
    return "?";
}

static volatile sig_atomic_t *g_flag;

static void on_sigint(int sig) {
    (void)sig;
    if (g_flag && !*g_flag) {
        *g_flag = 1;
        return;
    }
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
}

void gen_catch_sigint(volatile sig_atomic_t *flag) {
    g_flag = flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

static int is_stop(const gen_request *r, int32_t id) {
    for (int i = 0; i < r->n_stops; i++)
        if (r->stops[i] == id) return 1;
    return 0;
}

gptoss_status gen_run(const gen_request *r, const int32_t *prompt, int n, int32_t **out, int *n_out,
                      gen_stop *why, gen_timing *timing) {
    *why = GEN_LENGTH;
    const int step = 128; /* prefill pieces: an interrupt is seen between them */
    double ph0[GPTOSS_PHASES], ph1[GPTOSS_PHASES];
    gptoss_context_timings(r->ctx, ph0);
    double t0 = gptoss_now();
    gptoss_status st = GPTOSS_OK;
    int done = 0;
    while (done < n && !st) {
        if (r->interrupted && *r->interrupted) {
            *why = GEN_INTERRUPTED;
            break;
        }
        int len = n - done < step ? n - done : step;
        st = gptoss_context_append(r->ctx, prompt + done, len, NULL);
        done += len;
    }
    timing->prefill_tokens += done;
    timing->prefill_s += gptoss_now() - t0;
    gptoss_context_timings(r->ctx, ph1);
    for (int p = 0; p < GPTOSS_PHASES; p++) timing->prefill_phase_s[p] += ph1[p] - ph0[p];
    if (st || *why == GEN_INTERRUPTED) return st;

    int32_t *ids = realloc(*out, sizeof(int32_t) * ((size_t)*n_out + (size_t)r->max_new + 1));
    if (!ids) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    *out = ids;
    t0 = gptoss_now();
    for (int i = 0; i < r->max_new; i++) {
        if (r->interrupted && *r->interrupted) {
            *why = GEN_INTERRUPTED;
            break;
        }
        int32_t id;
        st = gptoss_context_sample(r->ctx, r->sampler, &id);
        if (st) break;
        ids[(*n_out)++] = id;
        if (r->on_token) r->on_token(r->user, id);
        if (is_stop(r, id)) {
            *why = GEN_STOP_TOKEN;
            break;
        }
        if (i + 1 == r->max_new) break; /* the last token needs no forward pass */
        st = gptoss_context_append(r->ctx, &id, 1, NULL);
        if (st) break;
        timing->decode_tokens++;
    }
    timing->decode_s += gptoss_now() - t0;
    gptoss_context_timings(r->ctx, ph0);
    for (int p = 0; p < GPTOSS_PHASES; p++) timing->decode_phase_s[p] += ph0[p] - ph1[p];
    return st;
}

/* The length of the UTF-8 sequence a lead byte starts (1 for anything else). */
static size_t seq_len(unsigned char b) {
    if (b >= 0xF0 && b <= 0xF4) return 4;
    if (b >= 0xE0) return b <= 0xEF ? 3 : 1;
    if (b >= 0xC2) return 2;
    return 1;
}

void utf8_stream_put(utf8_stream *s, int32_t id) {
    size_t len = 0;
    const char *bytes = gptoss_tokenizer_token(s->tok, id, &len);
    if (!bytes) return;
    size_t n = s->n_pending + len;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) return;
    memcpy(buf, s->pending, s->n_pending);
    memcpy(buf + s->n_pending, bytes, len);
    /* keep an incomplete character at the end (its lead byte within the last 3 bytes) */
    size_t cut = n;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char b = buf[n - back];
        if ((b & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        if (seq_len(b) > back) cut = n - back;
        break;
    }
    fwrite(buf, 1, cut, s->out);
    fflush(s->out);
    s->n_pending = n - cut;
    memcpy(s->pending, buf + cut, s->n_pending);
    free(buf);
}

void utf8_stream_flush(utf8_stream *s) {
    if (s->n_pending) fwrite(s->pending, 1, s->n_pending, s->out);
    s->n_pending = 0;
    fflush(s->out);
}
