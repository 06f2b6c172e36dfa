/* fuzz_chat.c: libFuzzer target for the conversation JSON of `gptoss tokenize --chat`
 * (harmony_conv_from_json) and its harmony rendering. The input is the JSON text, not
 * NUL-terminated. A conversation is accepted or refused with a message; an accepted one
 * renders (or is refused with a message) into ids of the vocabulary, both as a completion
 * prompt and as is, and the plain rendering parses back without a crash. */
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer/harmony_json.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gptoss_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (gptoss_tokenizer_open(NULL, &tok)) abort();
    return 0;
}

static void render(const harmony_conv *conv, const char *next_role) {
    int32_t *ids;
    size_t n;
    if (gptoss_harmony_render(tok, conv->messages, conv->n, next_role, &ids, &n)) {
        if (!gptoss_last_error()[0]) abort();
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!gptoss_tokenizer_token(tok, ids[i], &(size_t){0})) abort();
    if (!next_role) {
        gptoss_harmony_parse_result r;
        if (!gptoss_harmony_parse(tok, ids, n, NULL, &r)) {
            if (r.n_used > n) abort();
            gptoss_harmony_parse_free(&r);
        } else if (!gptoss_last_error()[0]) {
            abort();
        }
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (!root) return 0;
    harmony_conv conv;
    char err[256] = "";
    if (harmony_conv_from_json(root, &conv, err, sizeof err)) {
        if (!err[0]) abort();
    } else {
        render(&conv, "assistant");
        render(&conv, NULL);
    }
    harmony_conv_free(&conv);
    cJSON_Delete(root);
    return 0;
}
