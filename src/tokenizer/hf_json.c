/* hf_json.c: o200k_harmony as Hugging Face tokenizer files (tokenizer.json and
 * tokenizer_config.json with a harmony chat template), built from the vendored ranks.
 *
 * tokenizer.json is a byte-level BPE as transformers' TikTokenConverter writes it:
 *   - vocab: every ordinary token's bytes through GPT-2's byte-to-unicode map -> its rank;
 *   - merges: for each token in rank order, every split into two tokens, ordered by the
 *     ranks of the two halves; a merge's position is then its priority, so merging by
 *     priority merges by the rank of the result, as tiktoken does;
 *   - ignore_merges: a piece that is itself a token is that token (tiktoken's first
 *     lookup), whatever the merges would have made of it;
 *   - pre-tokenizer: a Split on the o200k pattern ("Isolated") then ByteLevel without its
 *     own regex; decoder ByteLevel;
 *   - added_tokens: the 1090 special and reserved ids 199998..201087, in id order.
 * Both files are written under temporary names and renamed when complete. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util.h"

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the others
 * (controls, space, 0x7f-0xa0, 0xad) for U+0100 + their index among them. */
static void byte_map(unsigned cp[256]) {
    int next = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        cp[b] = printable ? (unsigned)b : 0x100u + (unsigned)next++;
    }
}

static void put_cp(FILE *f, unsigned c) {
    if (c == '"' || c == '\\') {
        fputc('\\', f);
        fputc((int)c, f);
    } else if (c < 0x80) {
        fputc((int)c, f);
    } else if (c < 0x800) {
        fputc((int)(0xc0 | c >> 6), f);
        fputc((int)(0x80 | (c & 0x3f)), f);
    } else {
        fputc((int)(0xe0 | c >> 12), f);
        fputc((int)(0x80 | ((c >> 6) & 0x3f)), f);
        fputc((int)(0x80 | (c & 0x3f)), f);
    }
}

/* bytes p[0..n) as the byte-level string, without quotes */
static void put_bytes(FILE *f, const unsigned *map, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) put_cp(f, map[p[i]]);
}

/* a JSON string literal of plain text (UTF-8 passes through) */
static void put_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

typedef struct merge {
    int32_t left, right; /* ranks of the halves */
} merge;

static int merge_cmp(const void *a, const void *b) {
    const merge *x = a, *y = b;
    if (x->left != y->left) return x->left < y->left ? -1 : 1;
    return (x->right > y->right) - (x->right < y->right);
}

static const char *special_name(const gptoss_tokenizer *tok, int32_t id, char *buf, size_t cap) {
    size_t n = 0;
    const char *s = gptoss_tokenizer_token(tok, id, &n);
    if (n >= cap) n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = 0;
    return buf;
}

static void write_added_tokens(FILE *f, const gptoss_tokenizer *tok) {
    char name[64];
    fputs("  \"added_tokens\": [\n", f);
    for (int32_t id = O200K_N_RANKS; id < O200K_N_VOCAB; id++) {
        fprintf(f, "    {\"id\": %d, \"content\": ", (int)id);
        put_json_string(f, special_name(tok, id, name, sizeof name));
        fprintf(f, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                   "\"normalized\": false, \"special\": true}%s\n",
                id + 1 < O200K_N_VOCAB ? "," : "");
    }
    fputs("  ],\n", f);
}

static int write_merges(FILE *f, const gptoss_tokenizer *tok, const unsigned *map) {
    merge *local = malloc(256 * sizeof *local);
    if (!local) return -1;
    int first = 1;
    fputs("    \"merges\": [\n", f);
    for (int32_t r = 0; r < O200K_N_RANKS; r++) {
        size_t n;
        const uint8_t *p = (const uint8_t *)gptoss_tokenizer_token(tok, r, &n);
        size_t k = 0;
        for (size_t i = 1; i < n && k < 256; i++) {
            int32_t a = vocab_rank(tok, p, i), b = vocab_rank(tok, p + i, n - i);
            if (a >= 0 && b >= 0) local[k++] = (merge){a, b};
        }
        qsort(local, k, sizeof *local, merge_cmp);
        for (size_t j = 0; j < k; j++) {
            size_t na, nb;
            const uint8_t *pa = (const uint8_t *)gptoss_tokenizer_token(tok, local[j].left, &na);
            const uint8_t *pb = (const uint8_t *)gptoss_tokenizer_token(tok, local[j].right, &nb);
            fputs(first ? "      [\"" : ",\n      [\"", f);
            put_bytes(f, map, pa, na);
            fputs("\", \"", f);
            put_bytes(f, map, pb, nb);
            fputs("\"]", f);
            first = 0;
        }
    }
    fputs("\n    ]\n", f);
    free(local);
    return 0;
}

static int write_tokenizer_json(FILE *f, const gptoss_tokenizer *tok) {
    unsigned map[256];
    byte_map(map);
    fputs("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n", f);
    write_added_tokens(f, tok);
    fputs("  \"normalizer\": null,\n"
          "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [\n"
          "    {\"type\": \"Split\", \"pattern\": {\"Regex\": ", f);
    put_json_string(f, O200K_PATTERN_WITH("\\s", "\\S"));
    fputs("}, \"behavior\": \"Isolated\", \"invert\": false},\n"
          "    {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}\n"
          "  ]},\n"
          "  \"post_processor\": null,\n"
          "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n"
          "  \"model\": {\n"
          "    \"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"continuing_subword_prefix\": null,\n"
          "    \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": true,\n"
          "    \"vocab\": {\n", f);
    for (int32_t r = 0; r < O200K_N_RANKS; r++) {
        size_t n;
        const uint8_t *p = (const uint8_t *)gptoss_tokenizer_token(tok, r, &n);
        fputs("      \"", f);
        put_bytes(f, map, p, n);
        fprintf(f, "\": %d%s\n", (int)r, r + 1 < O200K_N_RANKS ? "," : "");
    }
    fputs("    },\n", f);
    if (write_merges(f, tok, map)) return -1;
    fputs("  }\n}\n", f);
    return 0;
}

/* The harmony chat template: each message as <|start|>{role}[<|channel|>{channel}]
 * <|message|>{content}<|end|>, an assistant prompt <|start|>assistant at the end. Messages
 * are rendered as given (no implied system message), as openai-harmony's
 * render_conversation_for_completion renders text messages, including its
 * auto_drop_analysis: when the last assistant message is on the final channel, analysis
 * messages before the first final one are left out. */
static const char gptoss_harmony_chat_template[] =
    "{%- set ns = namespace(last_is_final=false, first_final=-1) -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- set ns.last_is_final = message['channel'] == 'final' -%}"
    "{%- endif -%}"
    "{%- if message['channel'] == 'final' and ns.first_final < 0 -%}"
    "{%- set ns.first_final = loop.index0 -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- for message in messages -%}"
    "{%- if not (ns.last_is_final and loop.index0 < ns.first_final and message['channel'] == 'analysis') -%}"
    "<|start|>{{ message['role'] }}"
    "{%- if message['channel'] -%}<|channel|>{{ message['channel'] }}{%- endif -%}"
    "<|message|>{{ message['content'] }}<|end|>"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|start|>assistant{%- endif -%}";

static int write_tokenizer_config(FILE *f, const gptoss_tokenizer *tok, int64_t max_length) {
    char name[64];
    fputs("{\n  \"added_tokens_decoder\": {\n", f);
    for (int32_t id = O200K_N_RANKS; id < O200K_N_VOCAB; id++) {
        fprintf(f, "    \"%d\": {\"content\": ", (int)id);
        put_json_string(f, special_name(tok, id, name, sizeof name));
        fprintf(f, ", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, "
                   "\"single_word\": false, \"special\": true}%s\n",
                id + 1 < O200K_N_VOCAB ? "," : "");
    }
    fputs("  },\n  \"bos_token\": \"<|startoftext|>\",\n  \"eos_token\": \"<|return|>\",\n"
          "  \"pad_token\": \"<|endoftext|>\",\n  \"clean_up_tokenization_spaces\": false,\n"
          "  \"model_input_names\": [\"input_ids\", \"attention_mask\"],\n", f);
    fprintf(f, "  \"model_max_length\": %lld,\n", (long long)max_length);
    fputs("  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n  \"chat_template\": ", f);
    put_json_string(f, gptoss_harmony_chat_template);
    fputs("\n}\n", f);
    return 0;
}

static gptoss_status write_one(const char *dir, const char *name, const gptoss_tokenizer *tok,
                               int64_t max_length,
                               int (*fn)(FILE *, const gptoss_tokenizer *, int64_t)) {
    char *path = gptoss_path_join(dir, name);
    if (!path) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
    gptoss_atomic_file af = {0};
    gptoss_status st = gptoss_atomic_open(&af, path);
    if (st == GPTOSS_OK) {
        if (fn(af.f, tok, max_length) || ferror(af.f)) {
            gptoss_atomic_abort(&af);
            st = gptoss_error(GPTOSS_ERR_IO, "%s: write failed", path);
        } else {
            st = gptoss_atomic_commit(&af);
        }
    }
    free(path);
    return st;
}

static int tokenizer_json_fn(FILE *f, const gptoss_tokenizer *tok, int64_t max_length) {
    (void)max_length;
    return write_tokenizer_json(f, tok);
}

gptoss_status gptoss_tokenizer_write_hf(const gptoss_tokenizer *tok, const char *dir,
                                        int64_t model_max_length) {
    gptoss_status st = write_one(dir, "tokenizer.json", tok, model_max_length, tokenizer_json_fn);
    if (st != GPTOSS_OK) return st;
    return write_one(dir, "tokenizer_config.json", tok, model_max_length, write_tokenizer_config);
}
