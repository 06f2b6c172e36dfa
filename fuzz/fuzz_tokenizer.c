/* fuzz_tokenizer.c: libFuzzer target for the o200k_harmony tokenizer and harmony parser.
 * The first input byte picks what the rest is:
 *   0: text, encoded as ordinary text. Valid UTF-8 must encode, decode back to itself,
 *      and be cut into the same pieces by the ASCII scanner and by PCRE2 alone; invalid
 *      UTF-8 must be refused with GPTOSS_ERR_FORMAT.
 *   1: text with special tokens recognised: the same round trip.
 *   2: ids (little-endian uint32, some out of range) for gptoss_harmony_parse and decode:
 *      no crash, errors only with a message, parsed strings well formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gptoss_tokenizer *tok;

static void text_case(const uint8_t *s, size_t n, int allow_special) {
    int32_t *ids;
    size_t nid;
    gptoss_status st = gptoss_tokenizer_encode(tok, (const char *)s, n, allow_special, &ids, &nid);
    if (utf8_check(s, n) < n) {
        if (st != GPTOSS_ERR_FORMAT || !gptoss_last_error()[0]) abort();
        return;
    }
    if (st) abort();
    char *back;
    size_t blen;
    if (gptoss_tokenizer_decode(tok, ids, nid, &back, &blen) || blen != n || memcmp(back, s, n)) abort();
    free(back);
    free(ids);
    if (allow_special) return;
    pretok_ctx fast = {0}, slow = {.force_pcre2 = 1};
    for (size_t i = 0; i < n;) {
        size_t a = pretok_next(tok, &fast, s, n, i), b = pretok_next(tok, &slow, s, n, i);
        if (a != b || a <= i || a > n) abort();
        i = a;
    }
    pretok_ctx_free(&fast);
    pretok_ctx_free(&slow);
}

static void ids_case(const uint8_t *s, size_t n) {
    size_t nid = n / 4;
    int32_t *ids = malloc((nid + 1) * sizeof *ids);
    int bad = 0;
    for (size_t k = 0; k < nid; k++) {
        uint32_t v;
        memcpy(&v, s + 4 * k, 4);
        ids[k] = (int32_t)(v % (O200K_N_VOCAB + 16)); /* a few ids out of range */
        bad |= ids[k] >= O200K_N_VOCAB;
    }
    char *text;
    size_t len;
    gptoss_status st = gptoss_tokenizer_decode(tok, ids, nid, &text, &len);
    if ((st != GPTOSS_OK) != bad) abort();
    if (!st) free(text);
    gptoss_harmony_parse_result r;
    st = gptoss_harmony_parse(tok, ids, nid, (n & 1) ? "assistant" : NULL, &r);
    if (st) {
        if (!gptoss_last_error()[0] || r.messages || r.n_messages) abort();
    } else {
        for (size_t k = 0; k < r.n_messages; k++) {
            const gptoss_harmony_parsed *m = &r.messages[k];
            if (!m->role || !m->content) abort();
            size_t cl = strlen(m->content);
            if (utf8_check((const uint8_t *)m->content, cl) != cl) abort();
        }
        if (r.n_used > nid) abort();
        gptoss_harmony_parse_free(&r);
    }
    free(ids);
}

/* The vocabulary loads once, before the first input (and its time limit). */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (gptoss_tokenizer_open(NULL, &tok)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    switch (data[0] % 3) {
    case 0: text_case(data + 1, size - 1, 0); break;
    case 1: text_case(data + 1, size - 1, 1); break;
    default: ids_case(data + 1, size - 1); break;
    }
    return 0;
}
