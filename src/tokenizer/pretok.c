/* pretok.c: the o200k pre-tokenizer. Text is cut into pieces by tiktoken's o200k pattern:
 *
 *   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *   | [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *   | \p{N}{1,3}
 *   |  ?[^\s\p{L}\p{N}]+[\r\n/]*
 *   | \s*[\r\n]+
 *   | \s+(?!\S)
 *   | \s+
 *
 * The pattern is compiled with PCRE2 (UTF + UCP, JIT) and matched anchored at the current
 * position: every character starts some alternative, so consecutive anchored matches are
 * exactly the pattern's find-all. tiktoken's regex engine reads \s as Unicode White_Space;
 * PCRE2's UCP \s also takes U+180E, so \s is spelled \p{White_Space} here.
 *
 * Most text is ASCII, where the pattern is simple; a hand-written scanner handles a piece
 * when every byte it must look at is ASCII and hands the piece to PCRE2 otherwise. Tests
 * check the scanner against PCRE2 alone (ctx->force_pcre2) and both against tiktoken. */
#include <pthread.h>
#include <stdlib.h>

#include "tokenizer/tokenizer_internal.h"
#include "util.h"

static void cls_init(void);

/* tiktoken's regex engine reads \s as Unicode White_Space; PCRE2 with UCP does not (it
 * leaves out U+0085 and friends), so it gets the property spelled out. */
static const char O200K_PATTERN[] = O200K_PATTERN_WITH("\\p{White_Space}", "\\P{White_Space}");

static pthread_once_t cls_once = PTHREAD_ONCE_INIT;

gptoss_status pretok_init(struct gptoss_tokenizer *t) {
    pthread_once(&cls_once, cls_init);
    int err;
    PCRE2_SIZE eoff;
    t->re = pcre2_compile((PCRE2_SPTR)O200K_PATTERN, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &eoff, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "o200k pattern: PCRE2 at offset %zu: %s",
                            (size_t)eoff, (const char *)msg);
    }
    t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0;
    return GPTOSS_OK;
}

void pretok_free(struct gptoss_tokenizer *t) {
    pcre2_code_free(t->re);
    t->re = NULL;
}

void pretok_ctx_free(pretok_ctx *ctx) {
    pcre2_match_data_free(ctx->md);
    ctx->md = NULL;
}

/* ---- UTF-8 validity (RFC 3629: no overlongs, no surrogates, at most U+10FFFF) ---------- */

size_t utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) k = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else return i;
        if (i + k >= n) return i; /* truncated */
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80) return i;
        i += k + 1;
    }
    return n;
}

/* ---- the ASCII scanner ----------------------------------------------------------------- */

enum { C_UPPER, C_LOWER, C_DIGIT, C_CRLF, C_SPACE, C_PUNCT, C_HIGH };

/* classes of bytes: ASCII letters, digits, CR/LF, other White_Space, everything else
 * ASCII (neither \s nor \p{L} nor \p{N}), and non-ASCII (the scanner gives up) */
static uint8_t byte_class(uint8_t c) {
    if (c >= 0x80) return C_HIGH;
    if (c >= 'A' && c <= 'Z') return C_UPPER;
    if (c >= 'a' && c <= 'z') return C_LOWER;
    if (c >= '0' && c <= '9') return C_DIGIT;
    if (c == '\r' || c == '\n') return C_CRLF;
    if (c == ' ' || (c >= 0x09 && c <= 0x0c)) return C_SPACE;
    return C_PUNCT;
}

static uint8_t CLS[256];
static void cls_init(void) {
    for (int c = 0; c < 256; c++) CLS[c] = byte_class((uint8_t)c);
}

#define GIVE_UP ((size_t)-1)

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)? at e: the end after it. */
static size_t contraction(const uint8_t *s, size_t n, size_t e) {
    if (e + 1 >= n || s[e] != '\'') return e;
    uint8_t a = s[e + 1];
    if (a >= 0x80) return GIVE_UP; /* U+017F folds to 's' */
    a |= 0x20;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return e + 2;
    if (e + 2 < n) {
        uint8_t b = s[e + 2] | 0x20;
        if ((a == 'r' || a == 'v') && b == 'e') return e + 3;
        if (a == 'l' && b == 'l') return e + 3;
    }
    return e;
}

/* Letters from j (s[j] is an ASCII letter): upper* lower+ or upper+ lower*, then an
 * optional contraction. */
static size_t letters(const uint8_t *s, size_t n, size_t j) {
    while (j < n && CLS[s[j]] == C_UPPER) j++;
    while (j < n && CLS[s[j]] == C_LOWER) j++;
    if (j < n && s[j] >= 0x80) return GIVE_UP;
    return contraction(s, n, j);
}

/* \s*[\r\n]+ | \s+(?!\S) | \s+ from i (s[i] is ASCII white space). */
static size_t spaces(const uint8_t *s, size_t n, size_t i) {
    size_t j = i, last_nl = GIVE_UP;
    for (; j < n; j++) {
        uint8_t c = CLS[s[j]];
        if (c == C_CRLF) last_nl = j;
        else if (c != C_SPACE) break;
    }
    if (j < n && s[j] >= 0x80) return GIVE_UP; /* maybe more white space */
    if (last_nl != GIVE_UP) return last_nl + 1;
    if (j == n) return n;
    return j - i >= 2 ? j - 1 : i + 1;
}

/* [^\s\p{L}\p{N}]+[\r\n/]* from j (s[j] is ASCII punctuation). */
static size_t punct(const uint8_t *s, size_t n, size_t j) {
    while (j < n && CLS[s[j]] == C_PUNCT) j++;
    if (j < n && s[j] >= 0x80) return GIVE_UP;
    while (j < n && (s[j] == '\r' || s[j] == '\n' || s[j] == '/')) j++;
    return j;
}

static size_t ascii_next(const uint8_t *s, size_t n, size_t i) {
    uint8_t c = CLS[s[i]];
    uint8_t c1 = i + 1 < n ? CLS[s[i + 1]] : C_CRLF;
    switch (c) {
    case C_UPPER:
    case C_LOWER: return letters(s, n, i);
    case C_DIGIT: {
        size_t j = i + 1;
        while (j < n && j < i + 3 && CLS[s[j]] == C_DIGIT) j++;
        if (j < n && j < i + 3 && s[j] >= 0x80) return GIVE_UP;
        return j;
    }
    case C_PUNCT:
        if (c1 == C_HIGH) return GIVE_UP;
        if (c1 == C_UPPER || c1 == C_LOWER) return letters(s, n, i + 1);
        return punct(s, n, i);
    case C_SPACE:
        if (c1 == C_HIGH) return GIVE_UP;
        if (c1 == C_UPPER || c1 == C_LOWER) return letters(s, n, i + 1);
        if (s[i] == ' ' && c1 == C_PUNCT) return punct(s, n, i + 1);
        return spaces(s, n, i);
    case C_CRLF: return spaces(s, n, i);
    default: return GIVE_UP;
    }
}

/* ---- PCRE2 ------------------------------------------------------------------------------ */

static size_t pcre2_next(const struct gptoss_tokenizer *t, pretok_ctx *ctx, const uint8_t *s,
                         size_t n, size_t i) {
    if (!ctx->md) {
        ctx->md = pcre2_match_data_create_from_pattern(t->re, NULL);
        if (!ctx->md) return 0;
    }
    int rc = t->jit ? pcre2_jit_match(t->re, s, n, i, PCRE2_NO_UTF_CHECK, ctx->md, NULL)
                    : PCRE2_ERROR_JIT_BADOPTION;
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) /* JIT stack exhausted: use the interpreter */
        rc = pcre2_match(t->re, s, n, i, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, ctx->md, NULL);
    if (rc < 0) return 0;
    size_t end = pcre2_get_ovector_pointer(ctx->md)[1];
    return end > i ? end : 0;
}

size_t pretok_next(const struct gptoss_tokenizer *t, pretok_ctx *ctx, const uint8_t *s,
                   size_t n, size_t i) {
    if (!ctx->force_pcre2 && s[i] < 0x80) {
        size_t e = ascii_next(s, n, i);
        if (e != GIVE_UP) return e;
    }
    return pcre2_next(t, ctx, s, n, i);
}
