/* fuzz_tokens.c: libFuzzer target for the token-id lists given on the command line:
 * tokens_parse (`gptoss run --tokens`, the parity and routing commands) and
 * tokens_parse_loose (`gptoss tokenize --decode` and `--parse`). The input is the
 * argument's text (cut at its first NUL, as argv would be). Each parser accepts a list,
 * whose ids written back out parse into the same ids, or refuses it with a message;
 * what tokens_parse accepts, tokens_parse_loose accepts with the same ids. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity/parity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ids written as "a<sep>b<sep>c"; malloc'ed */
static char *write_ids(const int32_t *ids, size_t n, const char *sep) {
    char *s = malloc(n * 13 + 1), *p = s;
    if (!s) abort();
    *p = 0;
    for (size_t i = 0; i < n; i++) p += sprintf(p, "%s%d", i ? sep : "", (int)ids[i]);
    return s;
}

/* tokens_parse: a list of ids in 0..2^31-1; returns the count, -1 if refused */
static int strict(const char *text, int32_t **ids) {
    int n;
    if (tokens_parse("--tokens", text, ids, &n)) {
        if (*ids || n || !gptoss_last_error()[0]) abort();
        return -1;
    }
    if (n < 1) abort();
    for (int i = 0; i < n; i++)
        if ((*ids)[i] < 0) abort();
    char *back = write_ids(*ids, (size_t)n, ",");
    int32_t *again;
    int m;
    if (tokens_parse("--tokens", back, &again, &m) || m != n || memcmp(again, *ids, (size_t)n * sizeof **ids))
        abort();
    free(again);
    free(back);
    return n;
}

/* tokens_parse_loose: any int32 ids; returns the count, -1 if refused */
static long loose(const char *text, int32_t **ids) {
    size_t n;
    if (tokens_parse_loose(text, ids, &n)) {
        if (*ids || n || !gptoss_last_error()[0]) abort();
        return -1;
    }
    char *back = write_ids(*ids, n, " \t,\n");
    int32_t *again;
    size_t m;
    if (tokens_parse_loose(back, &again, &m) || m != n || (n && memcmp(again, *ids, n * sizeof **ids))) abort();
    free(again);
    free(back);
    return (long)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int32_t *a = NULL, *b = NULL;
    int na = strict(text, &a);
    long nb = loose(text, &b);
    if (na >= 0 && (nb != na || memcmp(a, b, (size_t)na * sizeof *a))) abort();
    free(a);
    free(b);
    free(text);
    return 0;
}
