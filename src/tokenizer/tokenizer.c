/* tokenizer.c: the o200k_harmony tokenizer's public API (include/gptoss.h).
 *
 * encode = for each piece of the o200k pattern: its rank if the piece is a token, else its
 * byte-pair merges. With allow_special, the text is first cut at every spelled special
 * token ("<|start|>", "<|reserved_200123|>", ...), which becomes its id, and the text in
 * between is encoded as above (tiktoken's allowed_special="all"); without it, specials are
 * ordinary text (tiktoken's encode_ordinary).
 * Text must be valid UTF-8 (as a Python str is): invalid input is an error naming the byte
 * offset, never a silent replacement. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util.h"

gptoss_status gptoss_tokenizer_open(const char *path, gptoss_tokenizer **out) {
    *out = NULL;
    struct gptoss_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return gptoss_error(GPTOSS_ERR_NOMEM, "tokenizer: out of memory");
    char *def = NULL;
    if (!path) path = def = gptoss_path_join(gptoss_home(), "data/o200k_base.tiktoken");
    gptoss_status st = path ? vocab_load(t, path) : GPTOSS_ERR_NOMEM;
    free(def);
    if (!st) st = pretok_init(t);
    if (st) {
        gptoss_tokenizer_close(t);
        return st;
    }
    *out = t;
    return GPTOSS_OK;
}

void gptoss_tokenizer_close(gptoss_tokenizer *t) {
    if (!t) return;
    vocab_free(t);
    pretok_free(t);
    free(t);
}

gptoss_status tok_encode_ordinary(const struct gptoss_tokenizer *t, pretok_ctx *ctx,
                                  const uint8_t *s, size_t n, idvec *out) {
    for (size_t i = 0; i < n;) {
        size_t e = pretok_next(t, ctx, s, n, i);
        if (e <= i) return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "text: pattern match failed at byte %zu", i);
        if (bpe_encode_piece(t, s + i, e - i, out))
            return gptoss_error(GPTOSS_ERR_NOMEM, "text: out of memory merging a piece of %zu bytes", e - i);
        i = e;
    }
    return GPTOSS_OK;
}

static const struct {
    const char *name;
    int32_t id;
} NAMED[] = {
    {"<|startoftext|>", 199998}, {"<|endoftext|>", 199999}, {"<|return|>", 200002},
    {"<|constrain|>", 200003},   {"<|channel|>", 200005},   {"<|start|>", 200006},
    {"<|end|>", 200007},         {"<|message|>", 200008},   {"<|call|>", 200012},
    {"<|endofprompt|>", 200018},
};

int32_t tok_special_id(const uint8_t *s, size_t n) {
    for (size_t k = 0; k < sizeof NAMED / sizeof NAMED[0]; k++)
        if (strlen(NAMED[k].name) == n && !memcmp(NAMED[k].name, s, n)) return NAMED[k].id;
    /* <|reserved_NNNNNN|> for every id 200000..201087 without a name (and 200018, which
     * has both spellings in tiktoken's o200k_harmony) */
    if (n != 19 || memcmp(s, "<|reserved_", 11) || memcmp(s + 17, "|>", 2)) return -1;
    int32_t id = 0;
    for (int k = 11; k < 17; k++) {
        if (s[k] < '0' || s[k] > '9') return -1;
        id = id * 10 + (s[k] - '0');
    }
    if (id < 200000 || id >= O200K_N_VOCAB) return -1;
    for (size_t k = 0; k < sizeof NAMED / sizeof NAMED[0]; k++)
        if (NAMED[k].id == id && id != 200018) return -1;
    return id;
}

/* The next special token in s[i..n): its start (n if none), *len and *id. */
static size_t find_special(const uint8_t *s, size_t n, size_t i, size_t *len, int32_t *id) {
    while (i + 1 < n) {
        const uint8_t *p = memmem(s + i, n - i, "<|", 2);
        if (!p) break;
        size_t a = (size_t)(p - s);
        size_t lim = n - a < 32 ? n - a : 32; /* every special is shorter than 32 bytes */
        const uint8_t *q = memmem(p + 2, lim - 2, "|>", 2);
        if (q) {
            size_t l = (size_t)(q - p) + 2;
            int32_t v = tok_special_id(p, l);
            if (v >= 0) {
                *len = l;
                *id = v;
                return a;
            }
        }
        i = a + 1;
    }
    return n;
}

gptoss_status gptoss_tokenizer_encode(const gptoss_tokenizer *t, const char *text, size_t len,
                                      int allow_special, int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    const uint8_t *s = (const uint8_t *)text;
    size_t bad = utf8_check(s, len);
    if (bad < len)
        return gptoss_error(GPTOSS_ERR_FORMAT, "text: invalid UTF-8 at byte %zu (0x%02x)", bad,
                            s[bad]);
    idvec out = {0};
    pretok_ctx ctx = {0};
    gptoss_status st = GPTOSS_OK;
    if (!allow_special) {
        st = tok_encode_ordinary(t, &ctx, s, len, &out);
    } else {
        for (size_t i = 0; i <= len && !st;) {
            size_t sl = 0;
            int32_t sid = -1;
            size_t a = find_special(s, len, i, &sl, &sid);
            st = tok_encode_ordinary(t, &ctx, s + i, a - i, &out);
            if (st || a == len) break;
            if (idvec_push(&out, sid)) st = gptoss_error(GPTOSS_ERR_NOMEM, "text: out of memory");
            i = a + sl;
        }
    }
    pretok_ctx_free(&ctx);
    if (st) {
        free(out.v);
        return st;
    }
    *ids = out.v ? out.v : malloc(sizeof(int32_t)); /* never NULL on success */
    if (!*ids) return gptoss_error(GPTOSS_ERR_NOMEM, "text: out of memory");
    *n_ids = out.n;
    return GPTOSS_OK;
}

const char *gptoss_tokenizer_token(const gptoss_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= O200K_N_VOCAB) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->off[id + 1] - t->off[id];
    return (const char *)t->blob + t->off[id];
}

gptoss_status gptoss_tokenizer_decode(const gptoss_tokenizer *t, const int32_t *ids, size_t n_ids,
                                      char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t k = 0; k < n_ids; k++) {
        if (ids[k] < 0 || ids[k] >= O200K_N_VOCAB)
            return gptoss_error(GPTOSS_ERR_RANGE, "token %zu: id %d is out of range 0..%d", k,
                                (int)ids[k], O200K_N_VOCAB - 1);
        total += t->off[ids[k] + 1] - t->off[ids[k]];
    }
    char *buf = malloc(total + 1);
    if (!buf) return gptoss_error(GPTOSS_ERR_NOMEM, "decode: out of memory");
    size_t pos = 0;
    for (size_t k = 0; k < n_ids; k++) {
        size_t l = t->off[ids[k] + 1] - t->off[ids[k]];
        memcpy(buf + pos, t->blob + t->off[ids[k]], l);
        pos += l;
    }
    buf[pos] = 0;
    *text = buf;
    *len = pos;
    return GPTOSS_OK;
}
