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

#ifdef __cplusplus
}
#endif
#endif /* GPTOSS_H */
