/*
 * gptoss.h: the public C API of libgptoss.
 *
 * GPT-OSS (gpt-oss-20b, gpt-oss-120b) inference, ONNX export and parity tooling.
 * Objects are opaque handles; every fallible call returns a gptoss_status and, on failure,
 * leaves a one-line message (naming the file or argument and the problem) that
 * gptoss_last_error() returns.
 */
#ifndef GPTOSS_H
#define GPTOSS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------------------ */

typedef enum gptoss_status {
    GPTOSS_OK = 0,
    GPTOSS_ERR_ARG,         /* a bad argument (API misuse, bad option value) */
    GPTOSS_ERR_IO,          /* a file could not be opened, read, written, renamed */
    GPTOSS_ERR_FORMAT,      /* a file is not what it should be (header, JSON, shapes) */
    GPTOSS_ERR_MISSING,     /* a required tensor, key or file is absent */
    GPTOSS_ERR_NOMEM,       /* allocation failed */
    GPTOSS_ERR_UNSUPPORTED, /* valid input this build does not handle */
    GPTOSS_ERR_RANGE,       /* a value out of range (token id, position, ...) */
    GPTOSS_ERR_EXTERNAL,    /* a helper process (reference adapter) failed */
} gptoss_status;

/* The message of the last failure on this thread ("" if none). */
const char *gptoss_last_error(void);
const char *gptoss_status_name(gptoss_status status);
const char *gptoss_version(void);

/* ---- tensors --------------------------------------------------------------------- */

typedef enum gptoss_dtype {
    GPTOSS_DT_BF16 = 0,
    GPTOSS_DT_F32,
    GPTOSS_DT_U8,
    GPTOSS_DT_I32,
    GPTOSS_DT_I64,
    GPTOSS_DT_F16,
} gptoss_dtype;

#define GPTOSS_MAX_DIMS 8

/* A tensor in a mapped checkpoint file (read-only, zero-copy). */
typedef struct gptoss_tensor {
    const char *name;
    gptoss_dtype dtype;
    int ndim;
    int64_t shape[GPTOSS_MAX_DIMS];
    const void *data; /* points into the mapping */
    size_t nbytes;
    const char *path; /* the file it lives in */
} gptoss_tensor;

size_t gptoss_dtype_size(gptoss_dtype dtype);
const char *gptoss_dtype_name(gptoss_dtype dtype); /* safetensors spelling: "BF16", ... */

/* ---- configuration ----------------------------------------------------------------- */

/* The model's hyper-parameters, in the original config.json's terms. */
typedef struct gptoss_config {
    int num_hidden_layers;
    int num_experts;
    int experts_per_token;
    int vocab_size;
    int hidden_size;
    int intermediate_size;
    float swiglu_limit;
    int head_dim;
    int num_attention_heads;
    int num_key_value_heads;
    int sliding_window;
    int initial_context_length;
    float rope_theta;
    float rope_scaling_factor;
    float rope_ntk_alpha;
    float rope_ntk_beta;
} gptoss_config;

/* ---- model (checkpoint) ------------------------------------------------------------ */

typedef struct gptoss_model gptoss_model;

typedef struct gptoss_open_options {
    int max_layers; /* 0 = all; else use only the first N blocks and touch no other */
    /* 1: bring every weight the forward pass reads in full (all but the embedding table,
     * whose rows are read one per token) into memory at open, so that no forward waits on
     * page faults; they stay file pages (shared, dropped under memory pressure). 0: each
     * page on first use. */
    int preload;
} gptoss_open_options;

/* Opens a checkpoint folder: the original layout (config.json + *.safetensors) or the
 * Hugging Face layout (config.json with HF names + model*.safetensors [+ index]). The
 * files are mapped, not read; MXFP4 experts stay packed. */
gptoss_status gptoss_model_open(const char *dir, const gptoss_open_options *options,
                                gptoss_model **out);
void gptoss_model_close(gptoss_model *model);
const gptoss_config *gptoss_model_config(const gptoss_model *model);
int gptoss_model_layers(const gptoss_model *model); /* blocks in use (max_layers applied) */
size_t gptoss_model_tensor_count(const gptoss_model *model);
const gptoss_tensor *gptoss_model_tensor(const gptoss_model *model, size_t index);
/* "original" or "hf" */
const char *gptoss_model_layout(const gptoss_model *model);

/* ---- forward pass ------------------------------------------------------------------ */

/* A tap receives every stage tensor of the forward pass (the names of the parity
 * report: "block0.attn_q", "logits", ...). Data is valid only during the call. */
typedef void (*gptoss_tap_fn)(void *user, const char *name, gptoss_dtype dtype, int ndim,
                              const int64_t *shape, const void *data);

typedef struct gptoss_forward_options {
    int n_threads;       /* 0 = all cores */
    gptoss_tap_fn tap;   /* NULL = no taps, no cost */
    void *tap_user;
} gptoss_forward_options;

/* logits: [n_tokens, vocab_size] floats (caller-allocated), every position. */
gptoss_status gptoss_forward(gptoss_model *model, const int32_t *tokens, int n_tokens,
                             const gptoss_forward_options *options, float *logits);

/* ---- context: a running sequence with its KV cache ------------------------------------
 * A context owns everything a sequence needs, created once and reused: the thread pool, a
 * workspace sized for one prefill chunk, the KV cache (fp32 keys and values; full-attention
 * blocks hold every position, sliding-window blocks a ring of the last window + slack),
 * and the last position's logits. Appending runs new tokens through the model in chunks, so
 * memory stays bounded at any prompt length; appending one token is the decode step. The
 * results do not depend on the chunking or the thread count: every position's logits and
 * stages are bit-identical to one prefill over the whole sequence (gptoss_forward).
 *
 *   gptoss_context *ctx;  gptoss_context_create(model, NULL, &ctx);
 *   gptoss_context_append(ctx, prompt, n, NULL);              // prefill
 *   for (;;) { gptoss_context_sample(ctx, sampler, &tok);      // decode
 *              gptoss_context_append(ctx, &tok, 1, NULL); }
 *
 * The model must stay open while a context uses it. A context is used by one thread at a
 * time; several contexts may share one model. */

typedef struct gptoss_context gptoss_context;

typedef struct gptoss_context_options {
    int max_tokens; /* capacity; 0 = the model's full context (initial_context_length x
                       rope scaling factor: 131072 for gpt-oss) */
    int n_threads;  /* 0 = all cores */
    int chunk;      /* prefill chunk in tokens; 0 = 128 */
    int cheap_rewind; /* rewinds by up to this many tokens (at least chunk - 1) stay cheap:
                         the sliding-window rings keep that many more positions (gpt-oss-20b:
                         48 KiB per position); see gptoss_context_rewind */
} gptoss_context_options;

gptoss_status gptoss_context_create(gptoss_model *model, const gptoss_context_options *options,
                                    gptoss_context **out);
void gptoss_context_destroy(gptoss_context *ctx);
int gptoss_context_length(const gptoss_context *ctx);   /* tokens held */
int gptoss_context_capacity(const gptoss_context *ctx); /* tokens it can hold */
const int32_t *gptoss_context_tokens(const gptoss_context *ctx);
/* Bytes of KV cache one more token costs (the full-attention blocks' keys and values). */
size_t gptoss_context_bytes_per_token(const gptoss_context *ctx);

typedef struct gptoss_append_options {
    float *logits;     /* non-NULL: [n, vocab_size] logits of every appended position */
    gptoss_tap_fn tap; /* stage tensors of the appended positions, chunk by chunk: each
                          tensor is [chunk_len, ...] for the positions that follow the ones
                          the previous calls delivered */
    void *tap_user;
} gptoss_append_options;

/* Runs tokens[0..n) through the model after the tokens held. GPTOSS_ERR_RANGE when a token
 * is outside the vocabulary or the context would exceed its capacity (nothing is appended
 * then). On another failure the context is reset. */
gptoss_status gptoss_context_append(gptoss_context *ctx, const int32_t *tokens, int n,
                                    const gptoss_append_options *options);
/* [vocab_size] logits after the last token held; NULL when the context is empty. */
const float *gptoss_context_logits(const gptoss_context *ctx);
/* Keeps the first n_tokens tokens (n_tokens <= length); the state is then bit-identical to
 * having appended only those. The last kept token is run again for its logits. A rewind by
 * up to max(chunk - 1, cheap_rewind) tokens costs that one token; a longer one runs the kept
 * sequence again (the sliding-window rings no longer hold the window it needs). */
gptoss_status gptoss_context_rewind(gptoss_context *ctx, int n_tokens);
void gptoss_context_reset(gptoss_context *ctx);

/* Where the time goes: wall seconds spent in each phase of the forward pass, summed over
 * every append (and rewind) since the context was created. Snapshot it before and after a
 * call to time that call. Reading the clock costs about 10 us per token of the full model. */
typedef enum gptoss_phase {
    GPTOSS_PHASE_QKV,         /* norm, q/k/v projections, RoPE, KV cache write */
    GPTOSS_PHASE_ATTENTION,   /* scores, softmax with sinks, weighted sums of the values */
    GPTOSS_PHASE_ATTN_OUT,    /* output projection, residual */
    GPTOSS_PHASE_ROUTER,      /* norm, router, top-k */
    GPTOSS_PHASE_EXPERTS,     /* expert inputs, mlp1, swiglu, mlp2 */
    GPTOSS_PHASE_COMBINE,     /* routing-weighted sum of the experts, residual */
    GPTOSS_PHASE_UNEMBEDDING, /* final norm, logits */
    GPTOSS_PHASE_OTHER,       /* embedding, RoPE tables, the block input/output taps */
    GPTOSS_PHASES
} gptoss_phase;
const char *gptoss_phase_name(gptoss_phase phase); /* "qkv", "attention", ... */
void gptoss_context_timings(const gptoss_context *ctx, double seconds[GPTOSS_PHASES]);

typedef struct gptoss_sampler gptoss_sampler; /* see the sampler section */
/* Draws the next token from the logits after the last token held (the sampler section).
 * GPTOSS_ERR_ARG when the context is empty. */
gptoss_status gptoss_context_sample(gptoss_context *ctx, gptoss_sampler *sampler, int32_t *token);

/* ---- tokenizer (o200k_harmony) ----------------------------------------------------- */

typedef struct gptoss_tokenizer gptoss_tokenizer;

#define GPTOSS_N_VOCAB 201088 /* ids 0..201087: 199998 ordinary, then specials/reserved */

/* path NULL = the vendored data/o200k_base.tiktoken under gptoss_home(). The file's SHA-256
 * is always checked. A tokenizer is read-only once open: share it between threads. */
gptoss_status gptoss_tokenizer_open(const char *path, gptoss_tokenizer **out);
void gptoss_tokenizer_close(gptoss_tokenizer *tok);
/* allow_special: recognise <|start|> and friends; else they are text. *ids is malloc'ed.
 * text must be valid UTF-8: otherwise GPTOSS_ERR_FORMAT naming the first bad byte. */
gptoss_status gptoss_tokenizer_encode(const gptoss_tokenizer *tok, const char *text,
                                      size_t len, int allow_special, int32_t **ids,
                                      size_t *n_ids);
/* The bytes of ids, concatenated, into *text (malloc'ed, NUL-terminated, *len bytes; may
 * be invalid UTF-8 when a multi-byte character is split). An id outside 0..201087 is
 * GPTOSS_ERR_RANGE. */
gptoss_status gptoss_tokenizer_decode(const gptoss_tokenizer *tok, const int32_t *ids,
                                      size_t n_ids, char **text, size_t *len);
/* The bytes of one token (not NUL-terminated); NULL for an id out of range. */
const char *gptoss_tokenizer_token(const gptoss_tokenizer *tok, int32_t id, size_t *len);

/* Writes the tokenizer as Hugging Face files into folder dir: tokenizer.json (byte-level
 * BPE with the o200k pattern and the 1090 special ids in id order; it encodes as
 * gptoss_tokenizer_encode with allow_special) and tokenizer_config.json (special tokens,
 * model_max_length, a chat template rendering harmony). Each file is written atomically. */
gptoss_status gptoss_tokenizer_write_hf(const gptoss_tokenizer *tok, const char *dir,
                                        int64_t model_max_length);

/* ---- harmony chat format (as PyPI openai-harmony renders and parses it) --------------
 * A message is <|start|>{role}[ to={recipient}][<|channel|>{channel}][ {content_type}]
 * <|message|>{content}<|end|> (<|call|> for an assistant message with a recipient); each
 * text part is encoded on its own, as harmony does. */

#define GPTOSS_TOKEN_RETURN 200002    /* <|return|>: the reply is complete */
#define GPTOSS_TOKEN_CONSTRAIN 200003 /* <|constrain|> */
#define GPTOSS_TOKEN_CHANNEL 200005   /* <|channel|> */
#define GPTOSS_TOKEN_START 200006     /* <|start|> */
#define GPTOSS_TOKEN_END 200007       /* <|end|>: end of one message */
#define GPTOSS_TOKEN_MESSAGE 200008   /* <|message|> */
#define GPTOSS_TOKEN_CALL 200012      /* <|call|>: a tool call, the reply stops */

/* The system message's content (harmony's SystemContent). NULL fields are left out. */
typedef struct gptoss_harmony_system {
    const char *model_identity;   /* "You are ChatGPT, a large language model trained by OpenAI." */
    const char *knowledge_cutoff; /* "2024-06" */
    const char *current_date;     /* "2025-06-28" (harmony: conversation_start_date) */
    const char *reasoning_effort; /* "low" | "medium" | "high" */
    const char *const *channels;  /* NULL-terminated valid channels; NULL = no channel line */
    int channel_required;         /* adds "Channel must be included for every message." */
} gptoss_harmony_system;

/* harmony's SystemContent.new(): the identity above, cutoff 2024-06, effort medium, no date,
 * channels analysis/commentary/final required. */
void gptoss_harmony_system_defaults(gptoss_harmony_system *sys);

typedef struct gptoss_harmony_message {
    const char *role;         /* "system" | "developer" | "user" | "assistant" | "tool" */
    const char *name;         /* author name; a tool message's tool ("functions.get"); or NULL */
    const char *recipient;    /* "functions.get" for a tool call; NULL (or "all") = none */
    const char *channel;      /* "analysis" | "commentary" | "final" | NULL */
    const char *content_type; /* e.g. "<|constrain|>json"; NULL */
    /* the content, rendered in this order (each NULL = absent): */
    const gptoss_harmony_system *system; /* system messages */
    const char *instructions;            /* developer messages: "# Instructions\n\n..." */
    const char *text;                    /* plain text */
} gptoss_harmony_message;

/* Renders messages to ids like openai-harmony's render_conversation (with its default
 * auto_drop_analysis: when the last assistant message is on the final channel, analysis
 * messages before the first final message are left out). next_role non-NULL appends
 * <|start|>{next_role} (render_conversation_for_completion; "assistant" for a prompt). */
gptoss_status gptoss_harmony_render(const gptoss_tokenizer *tok,
                                    const gptoss_harmony_message *messages, size_t n_messages,
                                    const char *next_role, int32_t **ids, size_t *n_ids);

/* A parsed message; every string malloc'ed, NUL-terminated, NULL when absent. */
typedef struct gptoss_harmony_parsed {
    char *role, *name, *recipient, *channel, *content_type;
    char *content; /* UTF-8; invalid byte sequences become U+FFFD */
} gptoss_harmony_parsed;

typedef struct gptoss_harmony_parse_result {
    gptoss_harmony_parsed *messages;
    size_t n_messages;
    int32_t stop_token; /* GPTOSS_TOKEN_RETURN or GPTOSS_TOKEN_CALL, or -1: ids ran out */
    size_t n_used;      /* ids consumed, the stop token included */
} gptoss_harmony_parse_result;

/* Parses generated ids back into messages (openai-harmony's
 * parse_messages_from_completion_tokens, strict): role non-NULL = the ids continue a
 * prompt that ended in <|start|>{role}; NULL = they begin with <|start|>. Stops after
 * <|return|> or <|call|>; a message cut off by the end of ids keeps what it has; a header
 * cut off is an error. */
gptoss_status gptoss_harmony_parse(const gptoss_tokenizer *tok, const int32_t *ids,
                                   size_t n_ids, const char *role,
                                   gptoss_harmony_parse_result *out);
void gptoss_harmony_parse_free(gptoss_harmony_parse_result *result);

/* ---- sampler ----------------------------------------------------------------------- */

/* Draws the next token from a logits vector (src/sampler.c documents the exact pipeline).
 * A sampler holds its own random state: the same params and the same sequence of logits
 * give the same tokens on every machine and thread count. */
typedef struct gptoss_sampler gptoss_sampler;
typedef struct gptoss_sampler_params {
    float temperature; /* 0 = greedy: the argmax, ties to the lower id */
    int top_k;         /* keep the k most likely tokens; 0 = off */
    float top_p;       /* keep the smallest set whose probability reaches p; 1 = off */
    float min_p;       /* drop tokens below min_p * the top probability; 0 = off */
    uint64_t seed;
} gptoss_sampler_params;
void gptoss_sampler_defaults(gptoss_sampler_params *p); /* 1, 0, 1, 0, seed 0 */
/* GPTOSS_ERR_ARG with a one-line message naming the bad value (temperature < 0 or
   not finite, top_k < 0, top_p outside (0, 1], min_p outside [0, 1]). */
gptoss_status gptoss_sampler_create(const gptoss_sampler_params *p, gptoss_sampler **out);
void gptoss_sampler_destroy(gptoss_sampler *s);
/* Draws one token from logits[n_vocab] (not modified). GPTOSS_ERR_ARG for n_vocab < 1, a
 * NaN or +inf logit, or logits that are all -inf. */
gptoss_status gptoss_sampler_sample(gptoss_sampler *s, const float *logits, int n_vocab,
                                    int32_t *token);

#ifdef __cplusplus
}
#endif
#endif /* GPTOSS_H */
