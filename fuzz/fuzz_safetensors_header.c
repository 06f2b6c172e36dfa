/* fuzz_safetensors_header.c: libFuzzer target for st_parse_header.
 * Input: 8 bytes little-endian "size of the data section" (taken modulo 2^40), then the
 * header JSON, exactly as long as the rest of the input (not NUL-terminated, as in a
 * mapped file). Any input must give GPTOSS_OK or an error, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 8) return 0;
    uint64_t data_size = 0;
    for (int i = 7; i >= 0; i--) data_size = data_size << 8 | data[i];
    data_size &= ((uint64_t)1 << 40) - 1;
    gptoss_tensor *t = NULL;
    size_t n = 0;
    gptoss_status st = st_parse_header("fuzz", (const char *)data + 8, size - 8, (size_t)data_size, &t, &n);
    if (st == GPTOSS_OK) {
        /* what a valid header promises */
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
            if (t[i].ndim < 0 || t[i].ndim > GPTOSS_MAX_DIMS || (uintptr_t)t[i].data + t[i].nbytes > data_size) abort();
            total += t[i].nbytes;
        }
        if (total != data_size) abort();
        st_free_tensors(t, n);
    } else if (t != NULL || n != 0 || !gptoss_last_error()[0]) {
        abort();
    }
    return 0;
}
