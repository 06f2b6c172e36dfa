/* tokens.c: the ids a run uses: parsing --tokens, padding to --sequence-length. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"
#include "util.h"

gptoss_status tokens_parse(const char *label, const char *text, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = text; *p; p++) cap += *p == ',';
    int32_t *out = malloc(cap * sizeof *out);
    if (!out) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", label);
    int count = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ') p++;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) {
            free(out);
            return gptoss_error(GPTOSS_ERR_ARG,
                                "%s: '%s' is not a comma-separated list of token ids", label,
                                text);
        }
        out[count++] = (int32_t)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == '\0') break;
        if (*p != ',') {
            free(out);
            return gptoss_error(GPTOSS_ERR_ARG,
                                "%s: '%s' is not a comma-separated list of token ids", label,
                                text);
        }
        p++;
    }
    *ids = out;
    *n = count;
    return GPTOSS_OK;
}

static int is_separator(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

gptoss_status tokens_parse_loose(const char *text, int32_t **ids, size_t *n) {
    size_t cap = 16, count = 0;
    int32_t *out = malloc(cap * sizeof *out);
    *ids = NULL;
    *n = 0;
    if (!out) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory reading token ids");
    for (const char *p = text;;) {
        while (is_separator(*p)) p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX || (*end && !is_separator(*end))) {
            free(out);
            return gptoss_error(GPTOSS_ERR_ARG, "not a list of integer ids");
        }
        if (count == cap) {
            int32_t *grown = realloc(out, (cap *= 2) * sizeof *out);
            if (!grown) {
                free(out);
                return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory: %zu bytes for token ids", cap * sizeof *out);
            }
            out = grown;
        }
        out[count++] = (int32_t)v;
        p = end;
    }
    *ids = out;
    *n = count;
    return GPTOSS_OK;
}

gptoss_status tokens_pad(const int32_t *ids, int n, int seq_len, int32_t **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    if (n <= 0) return gptoss_error(GPTOSS_ERR_ARG, "no tokens to run");
    if (seq_len > 0 && n > seq_len)
        return gptoss_error(GPTOSS_ERR_ARG,
                            "--sequence-length %d: the prompt has %d tokens, more than that",
                            seq_len, n);
    int total = seq_len > n ? seq_len : n;
    int32_t *p = malloc((size_t)total * sizeof *p);
    if (!p) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    memcpy(p, ids, (size_t)n * sizeof *p);
    for (int i = n; i < total; i++) p[i] = GPTOSS_TOKEN_ENDOFTEXT;
    *out = p;
    *n_out = total;
    return GPTOSS_OK;
}
