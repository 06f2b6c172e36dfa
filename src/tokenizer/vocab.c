/* vocab.c: loads o200k_base.tiktoken ("base64(bytes) SP rank LF" per line, ranks in order)
 * after checking its SHA-256, into one byte blob plus an open-addressing hash table from
 * token bytes to rank. The special tokens' spellings are appended to the blob so that
 * every id 0..201087 decodes. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/sha256.h"
#include "tokenizer/tokenizer_internal.h"
#include "util.h"

/* The first min(n, 8) bytes of p, little-endian, zero-padded; no byte past p[n-1] read. */
static inline uint64_t head8(const uint8_t *p, size_t n) {
    uint64_t w;
    if (n >= 8) {
        memcpy(&w, p, 8);
        return w;
    }
    if (n >= 4) { /* two overlapping 4-byte loads */
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        return (uint64_t)lo | (uint64_t)hi << (8 * (n - 4));
    }
    if (n == 0) return 0;
    return (uint64_t)p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) | (uint64_t)p[n - 1] << (8 * (n - 1));
}

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

/* head = head8(p, n) */
static inline uint64_t hash_bytes(const uint8_t *p, size_t n, uint64_t head) {
    uint64_t h = (head ^ ((uint64_t)n << 56)) * 0x9e3779b97f4a7c15ull;
    for (size_t i = 8; i < n; i += 8) {
        uint64_t w = head8(p + i, n - i);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    return mix(h);
}

/* A slot matches when length and first 8 bytes agree and, for longer tokens, the 16-bit
 * tag and the remaining bytes do: tokens of up to 8 bytes (3/4 of the vocabulary, and most
 * lookups) are decided inside the slot, without touching the blob. */
int32_t vocab_rank(const struct gptoss_tokenizer *t, const uint8_t *p, size_t n) {
    if (n == 2) return t->rank2[p[0] | p[1] << 8];
    if (n == 1) return t->rank1[p[0]];
    uint64_t head = head8(p, n);
    uint64_t h = hash_bytes(p, n, head);
    uint16_t tag = (uint16_t)(h >> 48);
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        const vocab_slot *s = &t->slots[i];
        if (!s->rank1) return -1;
        if (s->len != n || s->key != head) continue;
        uint32_t r = s->rank1 - 1;
        if (n <= 8 || (s->tag == tag && !memcmp(t->blob + t->off[r] + 8, p + 8, n - 8)))
            return (int32_t)r;
    }
}

/* Inserts every ordinary rank. The slots are visited in random order, so the slot of the
 * rank 16 ahead is prefetched while this one is placed (the table is 8 MB). */
static gptoss_status build_table(struct gptoss_tokenizer *t) {
    uint64_t *h = malloc(sizeof(uint64_t) * O200K_N_RANKS);
    t->mask = (1u << 19) - 1; /* 524288 slots for 199998 ranks: load factor 0.38 */
    t->slots = calloc((size_t)t->mask + 1, sizeof *t->slots);
    if (!h || !t->slots) {
        free(h);
        return gptoss_error(GPTOSS_ERR_NOMEM, "tokenizer: out of memory");
    }
    t->rank2 = malloc(sizeof(int32_t) * 65536);
    if (!t->rank2) {
        free(h);
        return gptoss_error(GPTOSS_ERR_NOMEM, "tokenizer: out of memory");
    }
    memset(t->rank1, 0xff, sizeof t->rank1);
    memset(t->rank2, 0xff, sizeof(int32_t) * 65536);
    for (uint32_t r = 0; r < O200K_N_RANKS; r++) {
        const uint8_t *p = t->blob + t->off[r];
        size_t n = t->off[r + 1] - t->off[r];
        h[r] = hash_bytes(p, n, head8(p, n));
        if (n == 1) t->rank1[p[0]] = (int32_t)r;
        if (n == 2) t->rank2[p[0] | p[1] << 8] = (int32_t)r;
    }
    for (uint32_t r = 0; r < O200K_N_RANKS; r++) {
        if (r + 16 < O200K_N_RANKS) __builtin_prefetch(&t->slots[h[r + 16] & t->mask], 1);
        uint32_t i = (uint32_t)h[r] & t->mask;
        while (t->slots[i].rank1) i = (i + 1) & t->mask;
        const uint8_t *p = t->blob + t->off[r];
        size_t n = t->off[r + 1] - t->off[r];
        t->slots[i] = (vocab_slot){head8(p, n), r + 1, (uint16_t)n, (uint16_t)(h[r] >> 48)};
    }
    free(h);
    return GPTOSS_OK;
}

/* base64 digit value + 1 for each byte; 0 = not a base64 digit */
static const uint8_t B64[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P']
    = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] =
    23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
    ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44,
    ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51,
    ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58,
    ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/* Decodes base64 s[0..n) (with '=' padding) to out; returns the byte count or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out) {
    if (n == 0 || n % 4) return -1;
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    long k = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (int j = 0; j < 4; j++) {
            int d = B64[(uint8_t)s[i + j]] - 1;
            if (d < 0) {
                if (i + 4 == n && s[i + j] == '=' && j >= 4 - (int)pad) d = 0;
                else return -1;
            }
            v = v << 6 | (uint32_t)d;
        }
        out[k++] = (uint8_t)(v >> 16);
        if (i + 4 < n || pad < 2) out[k++] = (uint8_t)(v >> 8);
        if (i + 4 < n || pad < 1) out[k++] = (uint8_t)v;
    }
    return k;
}

/* The spelling of special id (199998..201087). */
static int special_name(int32_t id, char *buf, size_t cap) {
    switch (id) {
    case 199998: return snprintf(buf, cap, "<|startoftext|>");
    case 199999: return snprintf(buf, cap, "<|endoftext|>");
    case 200002: return snprintf(buf, cap, "<|return|>");
    case 200003: return snprintf(buf, cap, "<|constrain|>");
    case 200005: return snprintf(buf, cap, "<|channel|>");
    case 200006: return snprintf(buf, cap, "<|start|>");
    case 200007: return snprintf(buf, cap, "<|end|>");
    case 200008: return snprintf(buf, cap, "<|message|>");
    case 200012: return snprintf(buf, cap, "<|call|>");
    case 200018: return snprintf(buf, cap, "<|endofprompt|>");
    default: return snprintf(buf, cap, "<|reserved_%d|>", (int)id);
    }
}

static gptoss_status parse_ranks(struct gptoss_tokenizer *t, const char *path, const char *text,
                                 size_t len) {
    /* decoded bytes never exceed the encoded text; specials add < 24 bytes each */
    t->blob = malloc(len + (size_t)(O200K_N_VOCAB - O200K_N_RANKS) * 24);
    t->off = malloc(sizeof(uint32_t) * (O200K_N_VOCAB + 1));
    if (!t->blob || !t->off) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
    const char *p = text, *end = text + len;
    uint32_t pos = 0;
    for (int32_t rank = 0; rank < O200K_N_RANKS; rank++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *sp = nl ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
        if (!sp) return gptoss_error(GPTOSS_ERR_FORMAT, "%s: line %d: malformed", path, rank + 1);
        long k = b64_decode(p, (size_t)(sp - p), t->blob + pos);
        long num = sp + 1 < nl ? 0 : -1;
        for (const char *d = sp + 1; d < nl && num >= 0; d++)
            num = (*d >= '0' && *d <= '9' && num < 1000000) ? num * 10 + (*d - '0') : -1;
        if (k <= 0 || num != rank)
            return gptoss_error(GPTOSS_ERR_FORMAT, "%s: line %d: malformed", path, rank + 1);
        t->off[rank] = pos;
        pos += (uint32_t)k;
        p = nl + 1;
    }
    for (int32_t id = O200K_N_RANKS; id < O200K_N_VOCAB; id++) {
        t->off[id] = pos;
        pos += (uint32_t)special_name(id, (char *)t->blob + pos, 24);
    }
    t->off[O200K_N_VOCAB] = pos;
    return GPTOSS_OK;
}

gptoss_status vocab_load(struct gptoss_tokenizer *t, const char *path) {
    size_t len = 0;
    char *text = gptoss_read_file(path, &len);
    if (!text) return GPTOSS_ERR_IO; /* message set by gptoss_read_file */
    uint8_t digest[32];
    char hex[65];
    sha256(text, len, digest);
    sha256_hex(digest, hex);
    if (strcmp(hex, O200K_SHA256)) {
        free(text);
        return gptoss_error(GPTOSS_ERR_FORMAT,
                            "%s: SHA-256 %s is not o200k_base's %s (corrupt or wrong file)",
                            path, hex, O200K_SHA256);
    }
    gptoss_status st = parse_ranks(t, path, text, len);
    free(text);
    if (st) return st;
    return build_table(t);
}

void vocab_free(struct gptoss_tokenizer *t) {
    free(t->blob);
    free(t->off);
    free(t->slots);
    free(t->rank2);
    t->rank2 = NULL;
    t->blob = NULL;
    t->off = NULL;
    t->slots = NULL;
}
