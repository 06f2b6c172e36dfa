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
