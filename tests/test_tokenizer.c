/* test_tokenizer.c: the o200k_harmony tokenizer without Python: known encodings, special
 * tokens, errors (bad ids, invalid UTF-8, missing/corrupt vocabulary), round trips of
 * random valid UTF-8, long inputs, and the ASCII scanner against PCRE2 alone.
 * tests/test_tokenizer_tiktoken.py compares with tiktoken itself on a large corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer/tokenizer_internal.h"
#include "util.h"

#include "check.h"

static gptoss_tokenizer *tok;

/* encode s, compare with want[0..nwant) */
static int encodes_to(const char *s, int allow_special, const int32_t *want, size_t nwant) {
    int32_t *ids;
    size_t n;
    if (gptoss_tokenizer_encode(tok, s, strlen(s), allow_special, &ids, &n)) return 0;
    int ok = n == nwant && (n == 0 || !memcmp(ids, want, n * sizeof *ids));
    if (!ok) {
        fprintf(stderr, "encode('%s') =", s);
        for (size_t k = 0; k < n; k++) fprintf(stderr, " %d", (int)ids[k]);
        fprintf(stderr, "\n");
    }
    free(ids);
    return ok;
}

static int round_trips(const char *s, size_t len) {
    int32_t *ids;
    size_t n, tlen;
    char *text;
    if (gptoss_tokenizer_encode(tok, s, len, 0, &ids, &n)) return 0;
    int ok = !gptoss_tokenizer_decode(tok, ids, n, &text, &tlen) && tlen == len &&
             !memcmp(text, s, len);
    free(ids);
    if (ok) free(text);
    return ok;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(uint32_t k) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng % k);
}

static size_t put_utf8(uint32_t c, char *o) {
    if (c < 0x80) return o[0] = (char)c, 1;
    if (c < 0x800) return o[0] = (char)(0xc0 | c >> 6), o[1] = (char)(0x80 | (c & 63)), 2;
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12), o[1] = (char)(0x80 | (c >> 6 & 63));
        return o[2] = (char)(0x80 | (c & 63)), 3;
    }
    o[0] = (char)(0xf0 | c >> 18), o[1] = (char)(0x80 | (c >> 12 & 63));
    o[2] = (char)(0x80 | (c >> 6 & 63)), o[3] = (char)(0x80 | (c & 63));
    return 4;
}

/* A random code point: mostly ASCII, some Latin/CJK/emoji/marks/anything valid. */
static uint32_t random_char(void) {
    static const uint32_t pick[] = {'a', 'Z', ' ', '\n', '\r', '\t', '\'', '0', '.', '/', 's',
                                    'T', 0xe9, 0x17f, 0x301, 0x4e16, 0x1f389, 0x200d, 0xa0,
                                    0x3000, 0x85, 0x180e, 0x2028, 0x663, 0x2167, 0x1c5, 0x2b0};
    switch (rnd(4)) {
    case 0: return pick[rnd(sizeof pick / sizeof pick[0])];
    case 1: return 0x20 + rnd(0x5f);
    case 2: return rnd(0x80);
    default: {
        uint32_t c = rnd(0x110000);
        return (c >= 0xd800 && c <= 0xdfff) ? 0xfffd : c;
    }
    }
}

static void test_known(void) {
    /* numerics doc section 4 */
    const int32_t france[] = {4827, 382, 290, 9029, 328, 10128, 30};
    CHECK(encodes_to("What is the capital of France?", 0, france, 7));
    CHECK(encodes_to("", 0, NULL, 0));
    /* specials: text by default, ids with allow_special; 200018 has two spellings */
    const int32_t start[] = {200006};
    CHECK(encodes_to("<|start|>", 1, start, 1));
    int32_t *ids;
    size_t n;
    CHECK(!gptoss_tokenizer_encode(tok, "<|start|>", 9, 0, &ids, &n));
    CHECK(n > 1);
    for (size_t k = 0; k < n; k++) CHECK(ids[k] < O200K_N_RANKS);
    free(ids);
    const int32_t mixed[] = {200006, 173781, 200008, 200018, 200018, 201087};
    CHECK(encodes_to("<|start|>assistant<|message|><|endofprompt|><|reserved_200018|>"
                     "<|reserved_201087|>", 1, mixed, 6));
    /* not specials: a named id spelled as reserved, out of range, unterminated */
    CHECK(!gptoss_tokenizer_encode(tok, "<|reserved_200006|><|reserved_201088|><|start", 44, 1,
                                   &ids, &n));
    for (size_t k = 0; k < n; k++) CHECK(ids[k] < O200K_N_RANKS);
    free(ids);
    size_t len;
    const char *p = gptoss_tokenizer_token(tok, 200018, &len);
    CHECK(p && len == 15 && !memcmp(p, "<|endofprompt|>", 15));
    p = gptoss_tokenizer_token(tok, 200000, &len);
    CHECK(p && len == 19 && !memcmp(p, "<|reserved_200000|>", 19));
    CHECK(!gptoss_tokenizer_token(tok, GPTOSS_N_VOCAB, &len) && len == 0);
    CHECK(!gptoss_tokenizer_token(tok, -1, NULL));
    for (int32_t id = 0; id < GPTOSS_N_VOCAB; id++) {
        p = gptoss_tokenizer_token(tok, id, &len);
        if (!p || !len) {
            CHECK(!"every id has bytes");
            break;
        }
    }
}

static void test_errors(void) {
    int32_t *ids = NULL;
    size_t n;
    char *text;
    size_t len;
    const int32_t bad[] = {1, 201088};
    CHECK(gptoss_tokenizer_decode(tok, bad, 2, &text, &len) == GPTOSS_ERR_RANGE);
    CHECK(strstr(gptoss_last_error(), "201088") != NULL);
    const int32_t neg[] = {-5};
    CHECK(gptoss_tokenizer_decode(tok, neg, 1, &text, &len) == GPTOSS_ERR_RANGE);
    /* invalid UTF-8: an error naming the offset of the first bad byte */
    const char *inv[] = {"ab\xff", "ab\xc3", "ab\xc0\xaf", "ab\xed\xa0\x80", "ab\xf4\x90\x80\x80",
                         "ab\x80"};
    for (size_t k = 0; k < sizeof inv / sizeof inv[0]; k++) {
        CHECK(gptoss_tokenizer_encode(tok, inv[k], strlen(inv[k]), 0, &ids, &n) ==
              GPTOSS_ERR_FORMAT);
        CHECK(strstr(gptoss_last_error(), "byte 2") != NULL);
        CHECK(ids == NULL);
    }
    /* missing and corrupt vocabulary files */
    gptoss_tokenizer *t2 = NULL;
    CHECK(gptoss_tokenizer_open("/nonexistent/o200k_base.tiktoken", &t2) == GPTOSS_ERR_IO && !t2);
    char path[] = "/tmp/gptoss_test_tokenizer_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    char *vocab_path = gptoss_path_join(gptoss_home(), "data/o200k_base.tiktoken");
    size_t vlen;
    char *v = gptoss_read_file(vocab_path, &vlen);
    CHECK(v != NULL);
    if (v && fd >= 0) {
        v[1000] ^= 1;
        CHECK(write(fd, v, vlen) == (ssize_t)vlen);
        CHECK(gptoss_tokenizer_open(path, &t2) == GPTOSS_ERR_FORMAT && !t2);
        CHECK(strstr(gptoss_last_error(), "SHA-256") != NULL);
    }
    if (fd >= 0) close(fd);
    unlink(path);
    free(v);
    free(vocab_path);
}

static void test_round_trips(void) {
    char buf[4 * 64];
    for (int it = 0; it < 3000; it++) {
        size_t len = 0, nchar = rnd(64);
        for (size_t k = 0; k < nchar; k++) len += put_utf8(random_char(), buf + len);
        CHECK(round_trips(buf, len));
    }
    /* long inputs: one huge piece of white space, one huge BPE piece, NUL bytes */
    size_t big = 1 << 20;
    char *s = malloc(big);
    memset(s, ' ', big);
    CHECK(round_trips(s, big));
    for (size_t k = 0; k < 100000; k++) s[k] = "ab"[k % 3 == 0];
    CHECK(round_trips(s, 100000));
    memset(s, 0, 1000);
    CHECK(round_trips(s, 1000));
    free(s);
}

/* The ASCII scanner must cut exactly where PCRE2 alone cuts. */
static void test_scanner(void) {
    char buf[4 * 48];
    pretok_ctx fast = {0}, slow = {.force_pcre2 = 1};
    long pieces = 0;
    for (int it = 0; it < 20000; it++) {
        size_t len = 0, nchar = rnd(48);
        for (size_t k = 0; k < nchar; k++) len += put_utf8(random_char(), buf + len);
        const uint8_t *s = (const uint8_t *)buf;
        for (size_t i = 0; i < len;) {
            size_t a = pretok_next(tok, &fast, s, len, i), b = pretok_next(tok, &slow, s, len, i);
            if (a != b) {
                fprintf(stderr, "scanner %zu vs pcre2 %zu at %zu in '%.*s'\n", a, b, i, (int)len, buf);
                check_failures++;
                break;
            }
            CHECK(a > i);
            if (a <= i) break;
            i = a;
            pieces++;
        }
    }
    CHECK(pieces > 100000);
    pretok_ctx_free(&fast);
    pretok_ctx_free(&slow);
}

int main(void) {
    double t0 = gptoss_now();
    gptoss_status st = gptoss_tokenizer_open(NULL, &tok);
    if (st) {
        fprintf(stderr, "open: %s\n", gptoss_last_error());
        return 1;
    }
    printf("vocabulary loaded in %.1f ms\n", (gptoss_now() - t0) * 1e3);
    test_known();
    test_errors();
    test_round_trips();
    test_scanner();
    gptoss_tokenizer_close(tok);
    if (check_failures) fprintf(stderr, "%d failures\n", check_failures);
    return check_failures ? 1 : 0;
}
