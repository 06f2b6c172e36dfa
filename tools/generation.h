/* generation.h: what `gptoss generate` and `gptoss chat` share: the prefill and decode loop
 * over a context and a sampler (interruptible between chunks and tokens, timed), the stop
 * tokens, and a UTF-8-safe text stream. */
#ifndef GPTOSS_TOOLS_GENERATION_H
#define GPTOSS_TOOLS_GENERATION_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gptoss.h"

/* Why a generation ended. */
typedef enum {
    GEN_STOP_TOKEN,   /* a stop token was generated (kept in the output) */
    GEN_LENGTH,       /* -n tokens were generated */
    GEN_INTERRUPTED,  /* SIGINT */
} gen_stop;
const char *gen_stop_name(gen_stop why); /* "stop_token", "length", "interrupted" */

/* <|return|>, <|call|>, <|endoftext|>: where a reply ends. */
#define GEN_DEFAULT_STOPS 3
extern const int32_t gen_default_stops[GEN_DEFAULT_STOPS];

typedef struct gen_timing {
    int prefill_tokens, decode_tokens;
    double prefill_s, decode_s;
    /* the context's phase timings (gptoss_context_timings) over the prefill, the decode */
    double prefill_phase_s[GPTOSS_PHASES], decode_phase_s[GPTOSS_PHASES];
} gen_timing;

/* Receives each generated token as it is sampled (stop token included). */
typedef void (*gen_token_fn)(void *user, int32_t id);

typedef struct gen_request {
    gptoss_context *ctx;
    gptoss_sampler *sampler;
    const int32_t *stops;
    int n_stops;
    int max_new;                         /* tokens to generate at most */
    volatile sig_atomic_t *interrupted;  /* set by a SIGINT handler; may be NULL */
    gen_token_fn on_token;
    void *user;
} gen_request;

/* Appends prompt[0..n) to the context chunk by chunk (stopping early, with *why =
 * GEN_INTERRUPTED, on an interrupt), then samples and appends up to max_new tokens. The
 * generated ids are appended to *out (malloc'ed, *n_out of them). */
gptoss_status gen_run(const gen_request *r, const int32_t *prompt, int n, int32_t **out, int *n_out,
                      gen_stop *why, gen_timing *timing);

/* SIGINT sets *flag instead of killing the process (a second SIGINT kills it). */
void gen_catch_sigint(volatile sig_atomic_t *flag);

/* Text of tokens as they come, never cutting a UTF-8 sequence: bytes of an incomplete
 * character wait for the next token; flush() writes what is left. */
typedef struct utf8_stream {
    const gptoss_tokenizer *tok;
    FILE *out;
    unsigned char pending[8];
    size_t n_pending;
} utf8_stream;
void utf8_stream_put(utf8_stream *s, int32_t id);
void utf8_stream_flush(utf8_stream *s);

#endif
