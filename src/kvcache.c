/* kvcache.c: the KV cache's memory (see engine.h): one anonymous mapping, reserved once,
 * committed page by page as positions are written.
 *
 * Cost per token, fp32 keys and values: 2 * n_kv * head_dim * 4 bytes per full-attention
 * block (gpt-oss-20b: 12 blocks x 4 KiB = 48 KiB per token, 6 GiB at 131072 tokens, only as
 * far as the context is filled); sliding-window blocks hold a fixed ring of window + slack
 * positions each (slack >= chunk - 1, see engine.h). */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "engine.h"
#include "util.h"

static size_t row_bytes(const gptoss_config *c) {
    return (size_t)c->num_key_value_heads * (size_t)c->head_dim * sizeof(float);
}

static int layer_rows(const gptoss_config *c, int layer, int capacity, int slack) {
    int window = gptoss_layer_window(c, layer);
    if (window <= 0) return capacity;
    int64_t ring = (int64_t)window + slack;
    return ring < capacity ? (int)ring : capacity;
}

size_t kvcache_bytes_per_token(const gptoss_config *c, int n_layers) {
    size_t full = 0;
    for (int l = 0; l < n_layers; l++) full += gptoss_layer_window(c, l) > 0 ? 0 : 1;
    return 2 * full * row_bytes(c);
}

gptoss_status kvcache_create(gptoss_kvcache *kv, const gptoss_config *c, int n_layers,
                             int capacity, int slack) {
    *kv = (gptoss_kvcache){0};
    const size_t page = 4096, rb = row_bytes(c);
    size_t total = 0;
    for (int l = 0; l < n_layers; l++) {
        size_t half = (size_t)layer_rows(c, l, capacity, slack) * rb;
        half = (half + page - 1) / page * page;
        total += 2 * half;
    }
    kv->layers = calloc((size_t)n_layers, sizeof *kv->layers);
    if (!kv->layers) return gptoss_error(GPTOSS_ERR_NOMEM, "KV cache: out of memory");
    void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        free(kv->layers);
        kv->layers = NULL;
        return gptoss_error(GPTOSS_ERR_NOMEM,
                            "KV cache: cannot reserve %.2f GB of address space for %d tokens "
                            "(ask for a smaller context)", (double)total / 1e9, capacity);
    }
    kv->base = base;
    kv->bytes = total;
    char *p = base;
    for (int l = 0; l < n_layers; l++) {
        int rows = layer_rows(c, l, capacity, slack);
        size_t half = ((size_t)rows * rb + page - 1) / page * page;
        kv->layers[l] = (gptoss_kv_layer){.k = (float *)p, .v = (float *)(p + half), .rows = rows};
        p += 2 * half;
    }
    return GPTOSS_OK;
}

void kvcache_destroy(gptoss_kvcache *kv) {
    if (kv->base) munmap(kv->base, kv->bytes);
    free(kv->layers);
    *kv = (gptoss_kvcache){0};
}
