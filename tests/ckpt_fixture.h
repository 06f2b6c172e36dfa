/* ckpt_fixture.h: writes small (or sparse, full-size) GPT-OSS checkpoints for the C tests,
 * independently of the library: a hand-rolled safetensors writer and config.json text.
 * Header-only (static functions); include it in one test file. */
#ifndef GPTOSS_TEST_CKPT_FIXTURE_H
#define GPTOSS_TEST_CKPT_FIXTURE_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

typedef struct {
    int layers, experts, top_k, vocab, hidden, inter, heads, kv_heads, head_dim, window;
} geom;

__attribute__((unused)) static const geom GEOM_TINY = {2, 4, 2, 100, 64, 64, 4, 2, 16, 8};
__attribute__((unused)) static const geom GEOM_20B = {24, 32, 4, 201088, 2880, 2880, 64, 8, 64, 128};

typedef struct {
    char name[96];
    const char *dtype;
    int ndim;
    int64_t shape[4];
} tdesc;

typedef struct {
    tdesc t[512];
    int n;
} tlist;

__attribute__((format(printf, 5, 6))) static inline void add(tlist *l, const char *dtype, int ndim, const int64_t *shape,
                                                      const char *fmt, ...) {
    tdesc *d = &l->t[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->name, sizeof d->name, fmt, ap);
    va_end(ap);
    d->dtype = dtype;
    d->ndim = ndim;
    memcpy(d->shape, shape, (size_t)ndim * sizeof *shape);
}
#define S(...) ((const int64_t[]){__VA_ARGS__})

/* The tensors of a checkpoint of geometry g in the original or the HF layout. */
static inline void tensors_for_geom(tlist *l, const geom *g, int hf) {
    int64_t h = g->hidden, e = g->experts, i2 = 2 * (int64_t)g->inter, in = g->inter, v = g->vocab;
    int64_t q = (int64_t)g->heads * g->head_dim, kv = (int64_t)g->kv_heads * g->head_dim;
    l->n = 0;
    add(l, "BF16", 2, S(v, h), hf ? "model.embed_tokens.weight" : "embedding.weight");
    add(l, "BF16", 2, S(v, h), hf ? "lm_head.weight" : "unembedding.weight");
    add(l, "F32", 1, S(h), hf ? "model.norm.weight" : "norm.scale");
    for (int b = 0; b < g->layers; b++) {
        if (!hf) {
            add(l, "BF16", 1, S(h), "block.%d.attn.norm.scale", b);
            add(l, "BF16", 2, S(q + 2 * kv, h), "block.%d.attn.qkv.weight", b);
            add(l, "BF16", 1, S(q + 2 * kv), "block.%d.attn.qkv.bias", b);
            add(l, "BF16", 1, S(g->heads), "block.%d.attn.sinks", b);
            add(l, "BF16", 2, S(h, q), "block.%d.attn.out.weight", b);
            add(l, "BF16", 1, S(h), "block.%d.attn.out.bias", b);
            add(l, "BF16", 1, S(h), "block.%d.mlp.norm.scale", b);
            add(l, "BF16", 2, S(e, h), "block.%d.mlp.gate.weight", b);
            add(l, "BF16", 1, S(e), "block.%d.mlp.gate.bias", b);
            add(l, "U8", 4, S(e, i2, h / 32, 16), "block.%d.mlp.mlp1_weight.blocks", b);
            add(l, "U8", 3, S(e, i2, h / 32), "block.%d.mlp.mlp1_weight.scales", b);
            add(l, "BF16", 2, S(e, i2), "block.%d.mlp.mlp1_bias", b);
            add(l, "U8", 4, S(e, h, in / 32, 16), "block.%d.mlp.mlp2_weight.blocks", b);
            add(l, "U8", 3, S(e, h, in / 32), "block.%d.mlp.mlp2_weight.scales", b);
            add(l, "BF16", 2, S(e, h), "block.%d.mlp.mlp2_bias", b);
        } else {
            const char *p = "model.layers";
            add(l, "BF16", 1, S(h), "%s.%d.input_layernorm.weight", p, b);
            add(l, "BF16", 2, S(q, h), "%s.%d.self_attn.q_proj.weight", p, b);
            add(l, "BF16", 2, S(kv, h), "%s.%d.self_attn.k_proj.weight", p, b);
            add(l, "BF16", 2, S(kv, h), "%s.%d.self_attn.v_proj.weight", p, b);
            add(l, "BF16", 1, S(q), "%s.%d.self_attn.q_proj.bias", p, b);
            add(l, "BF16", 1, S(kv), "%s.%d.self_attn.k_proj.bias", p, b);
            add(l, "BF16", 1, S(kv), "%s.%d.self_attn.v_proj.bias", p, b);
            add(l, "BF16", 1, S(g->heads), "%s.%d.self_attn.sinks", p, b);
            add(l, "BF16", 2, S(h, q), "%s.%d.self_attn.o_proj.weight", p, b);
            add(l, "BF16", 1, S(h), "%s.%d.self_attn.o_proj.bias", p, b);
            add(l, "BF16", 1, S(h), "%s.%d.post_attention_layernorm.weight", p, b);
            add(l, "BF16", 2, S(e, h), "%s.%d.mlp.router.weight", p, b);
            add(l, "BF16", 1, S(e), "%s.%d.mlp.router.bias", p, b);
            add(l, "U8", 4, S(e, i2, h / 32, 16), "%s.%d.mlp.experts.gate_up_proj_blocks", p, b);
            add(l, "U8", 3, S(e, i2, h / 32), "%s.%d.mlp.experts.gate_up_proj_scales", p, b);
            add(l, "BF16", 2, S(e, i2), "%s.%d.mlp.experts.gate_up_proj_bias", p, b);
            add(l, "U8", 4, S(e, h, in / 32, 16), "%s.%d.mlp.experts.down_proj_blocks", p, b);
            add(l, "U8", 3, S(e, h, in / 32), "%s.%d.mlp.experts.down_proj_scales", p, b);
            add(l, "BF16", 2, S(e, h), "%s.%d.mlp.experts.down_proj_bias", p, b);
        }
    }
}

static inline tdesc *tfind(tlist *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->t[i].name, name)) return &l->t[i];
    return NULL;
}

static inline void tremove(tlist *l, const char *name) {
    tdesc *d = tfind(l, name);
    if (d) *d = l->t[--l->n];
}

static inline size_t elem_size(const char *dt) { return !strcmp(dt, "U8") ? 1 : !strcmp(dt, "F32") ? 4 : 2; }
static inline size_t tbytes(const tdesc *d) {
    size_t n = elem_size(d->dtype);
    for (int i = 0; i < d->ndim; i++) n *= (size_t)d->shape[i];
    return n;
}

/* Value of element i of a float tensor: (i % 97 + salt) / 64, salt = length of its name. */
static inline float fval(size_t i, int salt) { return (float)((int)(i % 97) + salt) / 64.0f; }
/* Byte i of a U8 tensor: scales run over all 256 values (0 and 255 included), blocks a pattern. */
static inline uint8_t u8val(size_t i, int salt, int is_scale) {
    return is_scale ? (uint8_t)(i * 37 + (size_t)salt) : (uint8_t)(i * 31 + (size_t)salt);
}

static inline void write_raw(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

/* Writes a valid safetensors file holding the tensors of l. sparse: header only, then the
 * file is extended to its full size with zeros (no disk blocks used). */
static inline void write_st_file(const char *path, const tlist *l, int sparse) {
    char *hdr = malloc(1 << 17);
    size_t k = 0, off = 0;
    k += (size_t)sprintf(hdr + k, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < l->n; i++) {
        const tdesc *d = &l->t[i];
        k += (size_t)sprintf(hdr + k, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", d->name, d->dtype);
        for (int j = 0; j < d->ndim; j++) k += (size_t)sprintf(hdr + k, "%s%lld", j ? "," : "", (long long)d->shape[j]);
        k += (size_t)sprintf(hdr + k, "],\"data_offsets\":[%zu,%zu]}", off, off + tbytes(d));
        off += tbytes(d);
    }
    hdr[k++] = '}';
    while ((8 + k) % 8) hdr[k++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)k >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hdr, 1, k, f);
    for (int i = 0; i < l->n && !sparse; i++) {
        const tdesc *d = &l->t[i];
        size_t es = elem_size(d->dtype), cnt = tbytes(d) / es;
        int salt = (int)strlen(d->name);
        int is_scale = strstr(d->name, "scales") != NULL;
        for (size_t j = 0; j < cnt; j++) {
            if (es == 1) {
                fputc(u8val(j, salt, is_scale), f);
            } else if (es == 2) {
                uint16_t h = f32_to_bf16(fval(j, salt));
                fwrite(&h, 2, 1, f);
            } else {
                float v = fval(j, salt);
                fwrite(&v, 4, 1, f);
            }
        }
    }
    fflush(f);
    if (sparse && ftruncate(fileno(f), (off_t)(8 + k + off)) != 0) abort();
    fclose(f);
    free(hdr);
}

/* config.json text for geometry g (original keys, or the HF spelling). */
static inline const char *config_text(const geom *g, int hf) {
    static char buf[2048];
    if (!hf)
        snprintf(buf, sizeof buf,
                 "{\"num_hidden_layers\": %d, \"num_experts\": %d, \"experts_per_token\": %d, \"vocab_size\": %d,"
                 " \"hidden_size\": %d, \"intermediate_size\": %d, \"swiglu_limit\": 7.0, \"head_dim\": %d,"
                 " \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"sliding_window\": %d,"
                 " \"initial_context_length\": 4096, \"rope_theta\": 150000, \"rope_scaling_factor\": 32.0,"
                 " \"rope_ntk_alpha\": 1.0, \"rope_ntk_beta\": 32.0}",
                 g->layers, g->experts, g->top_k, g->vocab, g->hidden, g->inter, g->head_dim, g->heads, g->kv_heads,
                 g->window);
    else
        snprintf(buf, sizeof buf,
                 "{\"architectures\": [\"GptOssForCausalLM\"], \"model_type\": \"gpt_oss\", \"num_hidden_layers\": %d,"
                 " \"num_local_experts\": %d, \"num_experts_per_tok\": %d, \"experts_per_token\": %d,"
                 " \"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, \"swiglu_limit\": 7.0,"
                 " \"head_dim\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d,"
                 " \"sliding_window\": %d, \"initial_context_length\": 4096, \"rope_theta\": 150000,"
                 " \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 32.0,"
                 " \"beta_fast\": 32.0, \"beta_slow\": 1.0, \"original_max_position_embeddings\": 4096,"
                 " \"truncate\": false}}",
                 g->layers, g->experts, g->top_k, g->top_k, g->vocab, g->hidden, g->inter, g->head_dim, g->heads,
                 g->kv_heads, g->window);
    return buf;
}

static inline void write_text_file(const char *dir, const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_raw(p, text, strlen(text));
}

/* A whole checkpoint folder (dir must exist): config.json + model.safetensors. */
static inline void write_checkpoint(const char *dir, const geom *g, int hf, int sparse) {
    static tlist l;
    tensors_for_geom(&l, g, hf);
    write_text_file(dir, "config.json", config_text(g, hf));
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_st_file(p, &l, sparse);
}

#endif
