/* fuzz_config.c: libFuzzer target for gptoss_config_parse (config.json in either format).
 * The input is the file's bytes, not NUL-terminated. */
#include <stdint.h>
#include <stdlib.h>

#include "model_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gptoss_config cfg;
    int is_hf;
    gptoss_status st = gptoss_config_parse("fuzz/config.json", (const char *)data, size, &cfg, &is_hf);
    if (st == GPTOSS_OK) {
        /* what a valid config promises */
        if (cfg.num_attention_heads % cfg.num_key_value_heads || cfg.experts_per_token > cfg.num_experts ||
            cfg.hidden_size % 32 || cfg.intermediate_size % 32 || cfg.num_hidden_layers < 1)
            abort();
    } else if (!gptoss_last_error()[0]) {
        abort();
    }
    return 0;
}
