/* fuzz_sampler.c: libFuzzer target for the sampler (src/sampler.c). The input is the params
 * (temperature, top_k, top_p, min_p as raw bytes, then the seed: 24 bytes) followed by the
 * logits as raw little-endian floats (NaN, inf and denormals included). Each input is drawn
 * from three times. Never a crash: every call returns an id in range whose logit is finite,
 * or an error with a message; greedy and top-k 1 give the argmax (ties to the lower id). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gptoss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { HEAD = 24 };

/* The argmax of the finite-or--inf logits, ties to the lower id; -1 if there is none. */
static int argmax(const float *l, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (l[i] != -INFINITY && (best < 0 || l[i] > l[best])) best = i;
    return best;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEAD) return 0;
    gptoss_sampler_params p;
    memcpy(&p.temperature, data, 4);
    memcpy(&p.top_k, data + 4, 4);
    memcpy(&p.top_p, data + 8, 4);
    memcpy(&p.min_p, data + 12, 4);
    memcpy(&p.seed, data + 16, 8);
    if (data[0] & 1) p.temperature = (float)(data[1] % 4) * 0.5f; /* greedy often */
    int n = (int)((size - HEAD) / 4);
    float *logits = malloc((size_t)(n ? n : 1) * sizeof *logits);
    if (!logits) return 0;
    memcpy(logits, data + HEAD, (size_t)n * 4);
    gptoss_sampler *s = NULL;
    gptoss_status st = gptoss_sampler_create(&p, &s);
    if (st != GPTOSS_OK) {
        if (s || !gptoss_last_error()[0]) abort();
        free(logits);
        return 0;
    }
    int has_bad = 0;
    for (int i = 0; i < n; i++) has_bad |= isnan(logits[i]) || logits[i] == INFINITY;
    int best = has_bad ? -1 : argmax(logits, n);
    for (int r = 0; r < 3; r++) {
        int32_t tok = -1;
        st = gptoss_sampler_sample(s, logits, n, &tok);
        if (st != GPTOSS_OK) {
            if (!gptoss_last_error()[0] || best >= 0) abort(); /* valid logits must succeed */
            continue;
        }
        if (best < 0 || tok < 0 || tok >= n || !isfinite(logits[tok])) abort();
        if ((p.temperature == 0 || p.top_k == 1) && tok != best) abort();
    }
    gptoss_sampler_destroy(s);
    free(logits);
    return 0;
}
