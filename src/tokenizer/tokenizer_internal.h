/* tokenizer_internal.h: the o200k_harmony tokenizer's data, shared by src/tokenizer/.
 *
 *   vocab.c     loads o200k_base.tiktoken (SHA-256 checked) into a byte blob + hash table
 *   pretok.c    splits text into pieces with the o200k pattern (ASCII scanner + PCRE2)
 *   bpe.c       byte-pair merges one piece with a min-heap over a linked list
 *   tokenizer.c the public encode/decode API and the special tokens
 *   harmony.c   the harmony chat format: render and parse
 */
#ifndef GPTOSS_TOKENIZER_INTERNAL_H
#define GPTOSS_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "gptoss.h"

#define O200K_N_RANKS 199998   /* ordinary tokens 0..199997 */
#define O200K_N_VOCAB 201088   /* with the special and reserved ids */
#define O200K_SHA256 "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

/* tiktoken's o200k pre-tokenizer pattern with white space spelled WS and its complement
 * NWS (string literals): "\\s" / "\\S" as tiktoken and Hugging Face tokenizers write them,
 * "\\p{White_Space}" / "\\P{White_Space}" for PCRE2. */
#define O200K_PATTERN_WITH(WS, NWS) \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?" \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?" \
    "|\\p{N}{1,3}" \
    "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*" \
    "|" WS "*[\\r\\n]+" \
    "|" WS "+(?!" NWS ")" \
    "|" WS "+"

/* A hash-table slot: the token's first 8 bytes (zero-padded), rank + 1 (0 = empty), its
 * length and 16 bits of its hash. 16 bytes. */
typedef struct vocab_slot {
    uint64_t key;
    uint32_t rank1;
    uint16_t len, tag;
} vocab_slot;

struct gptoss_tokenizer {
    /* bytes of every id 0..O200K_N_VOCAB-1: blob[off[id] .. off[id+1]) */
    uint8_t *blob;
    uint32_t *off;
    /* open addressing (linear probing) over the ordinary ranks */
    vocab_slot *slots;
    /* rank of every 1- and 2-byte token by its bytes (b0 | b1 << 8), else -1: the first
     * merges of every piece look these up, from a table that stays in cache (256 KB) */
    int32_t rank1[256];
    int32_t *rank2;
    uint32_t mask;
    /* the o200k pre-tokenizer pattern */
    pcre2_code *re;
    int jit; /* 1 when the pattern was JIT-compiled */
};

/* ---- vocab.c ---- */
gptoss_status vocab_load(struct gptoss_tokenizer *t, const char *path);
void vocab_free(struct gptoss_tokenizer *t);
/* rank of bytes p[0..n), or -1 when it is not an ordinary token. */
int32_t vocab_rank(const struct gptoss_tokenizer *t, const uint8_t *p, size_t n);

/* ---- pretok.c ---- */
gptoss_status pretok_init(struct gptoss_tokenizer *t);
void pretok_free(struct gptoss_tokenizer *t);
/* The end of the piece that starts at s[i] (i < n), within s[0..n) which is valid UTF-8.
 * ctx holds the PCRE2 match data; NULL-initialise it and free with pretok_ctx_free. */
typedef struct pretok_ctx {
    pcre2_match_data *md;
    int force_pcre2; /* testing: never take the ASCII scanner */
} pretok_ctx;
size_t pretok_next(const struct gptoss_tokenizer *t, pretok_ctx *ctx, const uint8_t *s,
                   size_t n, size_t i);
void pretok_ctx_free(pretok_ctx *ctx);
/* Offset of the first invalid UTF-8 byte in s[0..n), or n when it is all valid. */
size_t utf8_check(const uint8_t *s, size_t n);
/* bytes -> NUL-terminated UTF-8 text with one U+FFFD for each maximal invalid subpart (as
 * Rust's from_utf8_lossy, which openai-harmony uses); malloc'ed, NULL when out of memory. */
char *utf8_lossy(const uint8_t *s, size_t n);

/* ---- bpe.c ---- */
/* A growable id list. */
typedef struct idvec {
    int32_t *v;
    size_t n, cap;
} idvec;
int idvec_push(idvec *iv, int32_t id); /* 0 on success, -1 on allocation failure */
/* Appends the ranks of one piece (whole-piece hit or merged). -1 on allocation failure. */
int bpe_encode_piece(const struct gptoss_tokenizer *t, const uint8_t *p, size_t n, idvec *out);

/* ---- tokenizer.c ---- */
/* Encodes ordinary text s[0..n) (valid UTF-8, no special handling) onto out. */
gptoss_status tok_encode_ordinary(const struct gptoss_tokenizer *t, pretok_ctx *ctx,
                                  const uint8_t *s, size_t n, idvec *out);
/* The id of the special token spelled s[0..n) ("<|start|>"), or -1. */
int32_t tok_special_id(const uint8_t *s, size_t n);

#endif
