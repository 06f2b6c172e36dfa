/* fuzz_tokens.c: libFuzzer target for tokens_parse, the token-id list of `gptoss run
 * --tokens` and of the parity and routing commands. The input is the argument's text (cut
 * at its first NUL, as argv would be). A list parses into ids in 0..2^31-1, written back
 * as "a,b,c" it parses into the same ids; anything else is refused with a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity/parity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int32_t *ids;
    int n;
    if (tokens_parse("--tokens", text, &ids, &n)) {
        if (ids || n || !gptoss_last_error()[0]) abort();
        free(text);
        return 0;
    }
    if (n < 1) abort();
    char *back = malloc((size_t)n * 12 + 1), *p = back;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0) abort();
        p += sprintf(p, i ? ",%d" : "%d", (int)ids[i]);
    }
    int32_t *again;
    int m;
    if (tokens_parse("--tokens", back, &again, &m) || m != n || memcmp(again, ids, (size_t)n * sizeof *ids))
        abort();
    free(again);
    free(back);
    free(ids);
    free(text);
    return 0;
}
