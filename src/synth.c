/* synth.c: synthetic checkpoints: presets, the tensor plan of both layouts, config files,
 * and the streaming, multi-threaded, atomic writer.
 *
 * Value scales (see plan_layer): with RMSNorm'ed inputs of unit size, every
 * projection is drawn with std ~ c / sqrt(fan_in), so the presets behave alike whatever
 * their width:
 *   q, k, v          std 1          attention logits std ~ 1.8 (x conc^2), sinks in [-2, 4)
 *   attention out    std ~ 0.25     small biases: tokens stay distinct through 24 layers
 *   router logits    std ~ 1.5      routing spreads over every expert
 *   W1 t + b1        std ~ 3        the SwiGLU clamp (limit 7) bites a few percent
 *   logits           std ~ 3        neither flat nor one-hot
 * MXFP4 scales take 5 exponents around a centre chosen for the target weight size. */
#include "synth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "model_internal.h"
#include "safetensors.h"
#include "util.h"

/* ---- presets ------------------------------------------------------------------------- */

#define REAL_ROPE .initial_context_length = 4096, .rope_theta = 150000.0f, \
                  .rope_scaling_factor = 32.0f, .rope_ntk_alpha = 1.0f, .rope_ntk_beta = 32.0f
/* gpt-oss-20b and gpt-oss-120b differ only in depth (24 / 36) and experts (32 / 128). */
#define GPT_OSS(layers, experts)                                                             \
    {.num_hidden_layers = layers, .num_experts = experts, .experts_per_token = 4,            \
     .vocab_size = 201088, .hidden_size = 2880, .intermediate_size = 2880,                   \
     .swiglu_limit = 7.0f, .head_dim = 64, .num_attention_heads = 64,                        \
     .num_key_value_heads = 8, .sliding_window = 128, REAL_ROPE}
#define SMALL(layers, experts, k, hidden, heads, kv)                                       \
    {.num_hidden_layers = layers, .num_experts = experts, .experts_per_token = k,           \
     .vocab_size = 201088, .hidden_size = hidden, .intermediate_size = hidden,              \
     .swiglu_limit = 7.0f, .head_dim = 64, .num_attention_heads = heads,                    \
     .num_key_value_heads = kv, .sliding_window = 8, REAL_ROPE}

const synth_preset synth_presets[] = {
    {"tiny", "2 layers, 4 experts top-2, hidden 64, 4 heads / 2 kv, window 8 (~52 MB)",
     SMALL(2, 4, 2, 64, 4, 2)},
    {"small", "4 layers, 8 experts top-4, hidden 128, 8 heads / 2 kv, window 8 (~105 MB)",
     SMALL(4, 8, 4, 128, 8, 2)},
    {"deep", "24 layers, 32 experts top-4, hidden 64, 4 heads / 2 kv, window 8 (~59 MB)",
     SMALL(24, 32, 4, 64, 4, 2)},
    {"20b-2l", "gpt-oss-20b geometry, first 2 layers (~3.3 GB)", GPT_OSS(2, 32)},
    {"20b", "gpt-oss-20b geometry, all 24 layers (~13.8 GB)", GPT_OSS(24, 32)},
    {"120b-2l", "gpt-oss-120b geometry, first 2 layers (~5.8 GB)", GPT_OSS(2, 128)},
    {NULL, NULL, {0}},
};

const synth_preset *synth_find_preset(const char *name) {
    for (const synth_preset *p = synth_presets; p->name; p++)
        if (!strcmp(p->name, name)) return p;
    return NULL;
}

/* ---- the plan: every output tensor and where its values come from ---------------------- */

typedef struct synth_tensor {
    char name[96];          /* in the output layout */
    gptoss_dtype dtype;
    int ndim;
    int64_t shape[4];
    uint64_t nbytes;
    uint64_t key;           /* stream of the source tensor (original-layout name) */
    uint64_t first_byte;    /* where this tensor starts inside its source */
    synth_gen gen;
    int shard;
} synth_tensor;

typedef struct synth_plan {
    synth_tensor *t;
    size_t n, cap;
    uint64_t total;
} synth_plan;

static synth_tensor *plan_add(synth_plan *p, gptoss_dtype dt, int ndim, const int64_t *shape) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        synth_tensor *t = realloc(p->t, cap * sizeof *t);
        if (!t) return NULL;
        p->t = t;
        p->cap = cap;
    }
    synth_tensor *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    t->nbytes = gptoss_dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->nbytes *= (uint64_t)shape[i];
    }
    p->total += t->nbytes;
    return t;
}

static synth_gen normal(double std) { return (synth_gen){.dist = SYNTH_NORMAL, .a = 0, .b = std}; }
static synth_gen uniform(double lo, double hi) { return (synth_gen){.dist = SYNTH_UNIFORM, .a = lo, .b = hi}; }
static synth_gen fp4_scales(double rms) {
    synth_gen g = {.dist = SYNTH_FP4_SCALES};
    synth_fp4_scales_for_rms(rms, &g.e0, &g.q);
    return g;
}

/* A tensor of the original layout (named so in the HF layout by hf_name). */
static int add_source(synth_plan *p, uint64_t seed, synth_layout layout, const char *name,
                      const char *hf_name, gptoss_dtype dt, int ndim, const int64_t *shape,
                      synth_gen gen) {
    synth_tensor *t = plan_add(p, dt, ndim, shape);
    if (!t) return 0;
    snprintf(t->name, sizeof t->name, "%s", layout == SYNTH_HF ? hf_name : name);
    t->key = synth_key(seed, name);
    t->gen = gen;
    return 1;
}

/* HF q/k/v: rows [r0, r0 + rows) of the original qkv weight (cols > 0) or bias (cols 0). */
static int add_slice(synth_plan *p, uint64_t seed, const char *src, const char *name, int64_t r0,
                     int64_t rows, int64_t cols, synth_gen gen) {
    int64_t shape[2] = {rows, cols};
    synth_tensor *t = plan_add(p, GPTOSS_DT_BF16, cols ? 2 : 1, shape);
    if (!t) return 0;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->key = synth_key(seed, src);
    t->first_byte = (uint64_t)r0 * (uint64_t)(cols ? cols : 1) * 2;
    t->gen = gen;
    return 1;
}

static int plan_layer(synth_plan *p, const gptoss_config *c, uint64_t seed, synth_layout L, int l) {
    const int64_t H = c->hidden_size, I = c->intermediate_size, E = c->num_experts, D = c->head_dim;
    const int64_t nq = c->num_attention_heads, nkv = c->num_key_value_heads;
    const int64_t qkv = D * (nq + 2 * nkv), G = H / 32, G2 = I / 32;
    char o[96], h[96], src[96];
    int ok = 1;
#define NAMES(orig, hf) (snprintf(o, sizeof o, "block.%d." orig, l), snprintf(h, sizeof h, "model.layers.%d." hf, l))
#define SRC(dt, nd, gen, ...) (ok = ok && add_source(p, seed, L, o, h, dt, nd, (int64_t[]){__VA_ARGS__}, gen))

    NAMES("attn.norm.scale", "input_layernorm.weight");
    SRC(GPTOSS_DT_BF16, 1, uniform(0.75, 1.25), H);
    /* q, k, v: std 1 for unit inputs; the HF layout splits the rows. */
    synth_gen wqkv = normal(1.0 / sqrt((double)H)), bqkv = normal(0.05);
    if (L == SYNTH_ORIGINAL) {
        NAMES("attn.qkv.weight", "");
        SRC(GPTOSS_DT_BF16, 2, wqkv, qkv, H);
        NAMES("attn.qkv.bias", "");
        SRC(GPTOSS_DT_BF16, 1, bqkv, qkv);
    } else {
        const char *part[3] = {"q", "k", "v"};
        const int64_t r0[3] = {0, nq * D, (nq + nkv) * D}, rows[3] = {nq * D, nkv * D, nkv * D};
        for (int i = 0; i < 3 && ok; i++) {
            snprintf(src, sizeof src, "block.%d.attn.qkv.weight", l);
            snprintf(h, sizeof h, "model.layers.%d.self_attn.%s_proj.weight", l, part[i]);
            ok = add_slice(p, seed, src, h, r0[i], rows[i], H, wqkv);
            snprintf(src, sizeof src, "block.%d.attn.qkv.bias", l);
            snprintf(h, sizeof h, "model.layers.%d.self_attn.%s_proj.bias", l, part[i]);
            ok = ok && add_slice(p, seed, src, h, r0[i], rows[i], 0, bqkv);
        }
    }
    NAMES("attn.sinks", "self_attn.sinks");
    SRC(GPTOSS_DT_BF16, 1, uniform(-2.0, 4.0), nq);
    NAMES("attn.out.weight", "self_attn.o_proj.weight");
    SRC(GPTOSS_DT_BF16, 2, normal(0.6 / sqrt((double)(nq * D))), H, nq * D);
    NAMES("attn.out.bias", "self_attn.o_proj.bias");
    SRC(GPTOSS_DT_BF16, 1, normal(0.02), H);

    NAMES("mlp.norm.scale", "post_attention_layernorm.weight");
    SRC(GPTOSS_DT_BF16, 1, uniform(0.75, 1.25), H);
    NAMES("mlp.gate.weight", "mlp.router.weight");
    SRC(GPTOSS_DT_BF16, 2, normal(1.5 / sqrt((double)H)), E, H);
    NAMES("mlp.gate.bias", "mlp.router.bias");
    SRC(GPTOSS_DT_BF16, 1, normal(0.3), E);
    /* W1 t: std 3 for unit inputs. */
    NAMES("mlp.mlp1_weight.blocks", "mlp.experts.gate_up_proj_blocks");
    SRC(GPTOSS_DT_U8, 4, (synth_gen){.dist = SYNTH_FP4_CODES}, E, 2 * I, G, 16);
    NAMES("mlp.mlp1_weight.scales", "mlp.experts.gate_up_proj_scales");
    SRC(GPTOSS_DT_U8, 3, fp4_scales(3.0 / sqrt((double)H)), E, 2 * I, G);
    NAMES("mlp.mlp1_bias", "mlp.experts.gate_up_proj_bias");
    SRC(GPTOSS_DT_BF16, 2, normal(0.5), E, 2 * I);
    /* W2 a: the clamped SwiGLU of std-3 inputs has rms ~ 6; expert outputs std ~ 0.5. */
    NAMES("mlp.mlp2_weight.blocks", "mlp.experts.down_proj_blocks");
    SRC(GPTOSS_DT_U8, 4, (synth_gen){.dist = SYNTH_FP4_CODES}, E, H, G2, 16);
    NAMES("mlp.mlp2_weight.scales", "mlp.experts.down_proj_scales");
    SRC(GPTOSS_DT_U8, 3, fp4_scales(0.5 / 6.0 / sqrt((double)I)), E, H, G2);
    NAMES("mlp.mlp2_bias", "mlp.experts.down_proj_bias");
    SRC(GPTOSS_DT_BF16, 2, normal(0.1), E, H);
#undef NAMES
#undef SRC
    return ok;
}

static gptoss_status plan_build(synth_plan *p, const gptoss_config *c, uint64_t seed, synth_layout L) {
    const int64_t H = c->hidden_size, V = c->vocab_size;
    int ok = add_source(p, seed, L, "embedding.weight", "model.embed_tokens.weight", GPTOSS_DT_BF16, 2,
                        (int64_t[]){V, H}, normal(1.0));
    for (int l = 0; l < c->num_hidden_layers && ok; l++) ok = plan_layer(p, c, seed, L, l);
    ok = ok && add_source(p, seed, L, "norm.scale", "model.norm.weight", GPTOSS_DT_BF16, 1, (int64_t[]){H},
                          uniform(0.75, 1.25));
    ok = ok && add_source(p, seed, L, "unembedding.weight", "lm_head.weight", GPTOSS_DT_BF16, 2,
                          (int64_t[]){V, H}, normal(3.0 / sqrt((double)H)));
    return ok ? GPTOSS_OK : gptoss_error(GPTOSS_ERR_NOMEM, "synth: out of memory");
}

/* Consecutive tensors, split near equal fractions of the bytes; no shard is empty. */
static void plan_shard(synth_plan *p, int shards) {
    uint64_t acc = 0;
    int prev = 0;
    for (size_t i = 0; i < p->n; i++) {
        int s = p->total ? (int)(acc * (uint64_t)shards / p->total) : 0;
        int need = shards - (int)(p->n - i); /* the tensors left must fill the shards left */
        if (s > prev + 1) s = prev + 1;
        if (s > shards - 1) s = shards - 1;
        if (s < need) s = need;
        if (s < prev) s = prev;
        p->t[i].shard = s;
        prev = s;
        acc += p->t[i].nbytes;
    }
}

/* ---- config files -------------------------------------------------------------------- */

/* Numbers as JSON text: integers plainly, floats always with a decimal point. */
static int add_int(cJSON *o, const char *k, long long v) {
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return cJSON_AddRawToObject(o, k, b) != NULL;
}
static int add_float(cJSON *o, const char *k, double v) {
    char b[40];
    if (v == (double)(long long)v)
        snprintf(b, sizeof b, "%.1f", v);
    else
        snprintf(b, sizeof b, "%.9g", v);
    return cJSON_AddRawToObject(o, k, b) != NULL;
}

/* The official ModelConfig's keys, and only those. */
static cJSON *config_original(const gptoss_config *c) {
    cJSON *o = cJSON_CreateObject();
    int ok = o && add_int(o, "num_hidden_layers", c->num_hidden_layers) &&
             add_int(o, "num_experts", c->num_experts) && add_int(o, "experts_per_token", c->experts_per_token) &&
             add_int(o, "vocab_size", c->vocab_size) && add_int(o, "hidden_size", c->hidden_size) &&
             add_int(o, "intermediate_size", c->intermediate_size) &&
             add_float(o, "swiglu_limit", c->swiglu_limit) && add_int(o, "head_dim", c->head_dim) &&
             add_int(o, "num_attention_heads", c->num_attention_heads) &&
             add_int(o, "num_key_value_heads", c->num_key_value_heads) &&
             add_int(o, "sliding_window", c->sliding_window) &&
             add_int(o, "initial_context_length", c->initial_context_length) &&
             add_float(o, "rope_theta", c->rope_theta) &&
             add_float(o, "rope_scaling_factor", c->rope_scaling_factor) &&
             add_float(o, "rope_ntk_alpha", c->rope_ntk_alpha) && add_float(o, "rope_ntk_beta", c->rope_ntk_beta);
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
}

/* The Hugging Face config of gpt-oss (same keys as the published one). */
static cJSON *config_hf(const gptoss_config *c) {
    cJSON *o = cJSON_CreateObject(), *a = NULL, *q = NULL, *r = NULL;
    const char *no_convert[] = {"model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens",
                                "lm_head"};
    int ok = o && (a = cJSON_AddArrayToObject(o, "architectures")) &&
             cJSON_AddItemToArray(a, cJSON_CreateString("GptOssForCausalLM")) &&
             cJSON_AddBoolToObject(o, "attention_bias", 1) && add_float(o, "attention_dropout", 0.0) &&
             add_int(o, "eos_token_id", 200002) && add_int(o, "experts_per_token", c->experts_per_token) &&
             add_int(o, "head_dim", c->head_dim) && cJSON_AddStringToObject(o, "hidden_act", "silu") &&
             add_int(o, "hidden_size", c->hidden_size) &&
             add_int(o, "initial_context_length", c->initial_context_length) &&
             add_float(o, "initializer_range", 0.02) && add_int(o, "intermediate_size", c->intermediate_size) &&
             (a = cJSON_AddArrayToObject(o, "layer_types"));
    for (int l = 0; ok && l < c->num_hidden_layers; l++)
        ok = cJSON_AddItemToArray(a, cJSON_CreateString(gptoss_layer_window(c, l) > 0 ? "sliding_attention" : "full_attention"));
    ok = ok &&
         add_int(o, "max_position_embeddings",
                 (long long)((double)c->initial_context_length * c->rope_scaling_factor)) &&
         cJSON_AddStringToObject(o, "model_type", "gpt_oss") &&
         add_int(o, "num_attention_heads", c->num_attention_heads) &&
         add_int(o, "num_experts_per_tok", c->experts_per_token) &&
         add_int(o, "num_hidden_layers", c->num_hidden_layers) &&
         add_int(o, "num_key_value_heads", c->num_key_value_heads) &&
         add_int(o, "num_local_experts", c->num_experts) && cJSON_AddBoolToObject(o, "output_router_logits", 0) &&
         add_int(o, "pad_token_id", 199999) && (q = cJSON_AddObjectToObject(o, "quantization_config")) &&
         (a = cJSON_AddArrayToObject(q, "modules_to_not_convert"));
    for (int i = 0; ok && i < 4; i++) ok = cJSON_AddItemToArray(a, cJSON_CreateString(no_convert[i]));
    ok = ok && cJSON_AddStringToObject(q, "quant_method", "mxfp4") && add_float(o, "rms_norm_eps", 1e-5) &&
         (r = cJSON_AddObjectToObject(o, "rope_scaling")) && add_float(r, "beta_fast", c->rope_ntk_beta) &&
         add_float(r, "beta_slow", c->rope_ntk_alpha) && add_float(r, "factor", c->rope_scaling_factor) &&
         add_int(r, "original_max_position_embeddings", c->initial_context_length) &&
         cJSON_AddStringToObject(r, "rope_type", "yarn") && cJSON_AddBoolToObject(r, "truncate", 0) &&
         add_float(o, "rope_theta", c->rope_theta) && add_float(o, "router_aux_loss_coef", 0.9) &&
         add_int(o, "sliding_window", c->sliding_window) && add_float(o, "swiglu_limit", c->swiglu_limit) &&
         cJSON_AddBoolToObject(o, "tie_word_embeddings", 0) &&
         cJSON_AddStringToObject(o, "transformers_version", "4.55.0.dev0") &&
         cJSON_AddBoolToObject(o, "use_cache", 1) && add_int(o, "vocab_size", c->vocab_size);
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
}

static gptoss_status write_json(const char *dir, const char *name, cJSON *json) {
    if (!json) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", name);
    char *text = cJSON_Print(json);
    cJSON_Delete(json);
    char *path = gptoss_path_join(dir, name);
    if (!text || !path) {
        free(text);
        free(path);
        return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", name);
    }
    gptoss_atomic_file af;
    gptoss_status st = gptoss_atomic_open(&af, path);
    if (st == GPTOSS_OK) {
        fputs(text, af.f);
        fputc('\n', af.f);
        st = gptoss_atomic_commit(&af);
    }
    free(text);
    free(path);
    return st;
}

/* original/dtypes.json: the checkpoint's own dtype names (MXFP4 parts as FP4 / UE8). */
static cJSON *dtypes_json(const synth_plan *p) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < p->n; i++) {
        const synth_tensor *t = &p->t[i];
        const char *dt = t->gen.dist == SYNTH_FP4_CODES    ? "FP4"
                         : t->gen.dist == SYNTH_FP4_SCALES ? "UE8"
                                                           : gptoss_dtype_name(t->dtype);
        if (!cJSON_AddStringToObject(o, t->name, dt)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

static cJSON *index_json(const synth_plan *p, char **files) {
    cJSON *o = cJSON_CreateObject(), *m = NULL, *w = NULL;
    int ok = o && (m = cJSON_AddObjectToObject(o, "metadata")) && add_int(m, "total_size", (long long)p->total) &&
             (w = cJSON_AddObjectToObject(o, "weight_map"));
    for (size_t i = 0; ok && i < p->n; i++) ok = cJSON_AddStringToObject(w, p->t[i].name, files[p->t[i].shard]) != NULL;
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
}

/* ---- streaming the data: chunks generated in parallel, written in order -------------- */

enum { CHUNK = 1 << 20, MAX_THREADS = 16 };

typedef struct chunk {
    const synth_tensor *t;
    uint64_t off;
    size_t n;
} chunk;

typedef struct batch {
    chunk *c;
    size_t n;
    uint8_t *buf; /* n_max * CHUNK bytes */
} batch;

typedef struct worker_arg {
    const batch *b;
    int id, n_threads;
} worker_arg;

static void *gen_worker(void *arg) {
    const worker_arg *w = arg;
    for (size_t i = (size_t)w->id; i < w->b->n; i += (size_t)w->n_threads) {
        const chunk *c = &w->b->c[i];
        synth_fill(&c->t->gen, c->t->key, c->t->first_byte + c->off, w->b->buf + i * (size_t)CHUNK, c->n);
    }
    return NULL;
}

typedef struct progress {
    int on;
    uint64_t done, total;
    double t0, last;
    int last_pct;
} progress;

static void progress_step(progress *pr, uint64_t n) {
    pr->done += n;
    if (!pr->on) return;
    double now = gptoss_now();
    int pct = (int)(100.0 * (double)pr->done / (double)pr->total);
    /* a line per 10 % or per 2 s, whichever comes first, and the last one */
    if (pr->done != pr->total && (pct / 10 == pr->last_pct / 10 || now - pr->last < 0.5) && now - pr->last < 2.0)
        return;
    pr->last = now;
    pr->last_pct = pct;
    double el = now - pr->t0;
    fprintf(stderr, "gptoss synth: %5.2f / %.2f GB (%3d%%), %.1f s, %.2f GB/s\n", (double)pr->done / 1e9,
            (double)pr->total / 1e9, pct, el, el > 0 ? (double)pr->done / 1e9 / el : 0.0);
}

/* Chunks of the shard's tensors, in order, from tensor index *ti / byte *off onward. */
static size_t next_chunks(const synth_plan *p, int shard, size_t *ti, uint64_t *off, chunk *out, size_t max) {
    size_t n = 0;
    while (n < max && *ti < p->n) {
        const synth_tensor *t = &p->t[*ti];
        if (t->shard != shard || *off >= t->nbytes) {
            (*ti)++;
            *off = 0;
            continue;
        }
        uint64_t k = t->nbytes - *off < CHUNK ? t->nbytes - *off : CHUNK;
        out[n++] = (chunk){t, *off, (size_t)k};
        *off += k;
    }
    return n;
}

static gptoss_status run_batch_threads(batch *b, int n_threads, pthread_t *th, worker_arg *wa, int *started) {
    *started = 0;
    for (int i = 0; i < n_threads; i++) {
        wa[i] = (worker_arg){b, i, n_threads};
        if (pthread_create(&th[i], NULL, gen_worker, &wa[i]) != 0) {
            for (int j = 0; j < i; j++) pthread_join(th[j], NULL);
            return gptoss_error(GPTOSS_ERR_NOMEM, "synth: cannot start threads");
        }
    }
    *started = 1;
    return GPTOSS_OK;
}

static gptoss_status write_shard(const synth_plan *p, int shard, const char *path, int n_threads, progress *pr) {
    st_writer *w = NULL;
    gptoss_status st = st_writer_open(path, &w);
    if (st != GPTOSS_OK) return st;
    st = st_writer_metadata(w, "format", "pt");
    for (size_t i = 0; i < p->n && st == GPTOSS_OK; i++)
        if (p->t[i].shard == shard) st = st_writer_add(w, p->t[i].name, p->t[i].dtype, p->t[i].ndim, p->t[i].shape);
    if (st == GPTOSS_OK) st = st_writer_begin(w);

    /* Double buffering: the workers generate batch k+1 while this thread writes batch k. */
    const size_t per = 2 * (size_t)n_threads;
    batch b[2] = {{0}, {0}};
    pthread_t th[MAX_THREADS];
    worker_arg wa[MAX_THREADS];
    for (int i = 0; i < 2 && st == GPTOSS_OK; i++) {
        b[i].c = malloc(per * sizeof(chunk));
        b[i].buf = malloc(per * (size_t)CHUNK);
        if (!b[i].c || !b[i].buf) st = gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t ti = 0;
    uint64_t off = 0;
    int cur = 0, started = 0;
    if (st == GPTOSS_OK) {
        b[0].n = next_chunks(p, shard, &ti, &off, b[0].c, per);
        st = run_batch_threads(&b[0], n_threads, th, wa, &started);
    }
    while (st == GPTOSS_OK && b[cur].n) {
        for (int i = 0; i < n_threads; i++) pthread_join(th[i], NULL);
        started = 0;
        batch *next = &b[1 - cur];
        next->n = next_chunks(p, shard, &ti, &off, next->c, per);
        if (next->n) st = run_batch_threads(next, n_threads, th, wa, &started);
        for (size_t i = 0; i < b[cur].n && st == GPTOSS_OK; i++) {
            st = st_writer_write(w, b[cur].buf + i * (size_t)CHUNK, b[cur].c[i].n);
            progress_step(pr, b[cur].c[i].n);
        }
        cur = 1 - cur;
    }
    if (started)
        for (int i = 0; i < n_threads; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        free(b[i].c);
        free(b[i].buf);
    }
    if (st != GPTOSS_OK) {
        st_writer_abort(w);
        return st;
    }
    return st_writer_finish(w);
}

/* ---- top level ------------------------------------------------------------------------- */

static gptoss_status check_config(const gptoss_config *c) {
    if (c->hidden_size % 32 || c->intermediate_size % 32)
        return gptoss_error(GPTOSS_ERR_ARG, "synth: hidden and intermediate sizes must be multiples of 32");
    if (c->num_key_value_heads <= 0 || c->num_attention_heads % c->num_key_value_heads)
        return gptoss_error(GPTOSS_ERR_ARG, "synth: heads must be a multiple of kv heads");
    if (c->experts_per_token > c->num_experts)
        return gptoss_error(GPTOSS_ERR_ARG, "synth: more experts per token than experts");
    return GPTOSS_OK;
}

/* File names as the published checkpoints have them: gpt-oss-120b's original/ shards are
 * model--00001-of-00007.safetensors (1-based), gpt-oss-20b's HF shards are
 * model-00000-of-00002 .. model-00002-of-00002 (0-based, "of" the last index). */
static char *shard_name(synth_layout L, int i, int n) {
    char b[64];
    if (n == 1)
        snprintf(b, sizeof b, "model.safetensors");
    else if (L == SYNTH_ORIGINAL)
        snprintf(b, sizeof b, "model--%05d-of-%05d.safetensors", i + 1, n);
    else
        snprintf(b, sizeof b, "model-%05d-of-%05d.safetensors", i, n - 1);
    return strdup(b);
}

gptoss_status synth_write(const char *dir, const gptoss_config *c, const synth_options *opt) {
    gptoss_status st = check_config(c);
    if (st != GPTOSS_OK) return st;
    synth_plan p = {0};
    st = plan_build(&p, c, opt->seed, opt->layout);
    int shards = opt->shards > 0 ? opt->shards : opt->layout == SYNTH_HF ? 3 : 1;
    if (st == GPTOSS_OK && (size_t)shards > p.n)
        st = gptoss_error(GPTOSS_ERR_ARG, "--shards: %d is more than the %zu tensors", shards, p.n);
    int n_threads = opt->threads > 0 ? opt->threads : gptoss_ncpu();
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    char *tmp = NULL;
    if (st == GPTOSS_OK) st = gptoss_atomic_dir_begin(dir, &tmp);
    if (st != GPTOSS_OK) {
        free(p.t);
        return st;
    }
    plan_shard(&p, shards);

    char **files = calloc((size_t)shards, sizeof *files);
    if (!files) st = gptoss_error(GPTOSS_ERR_NOMEM, "synth: out of memory");
    for (int i = 0; i < shards && st == GPTOSS_OK; i++)
        if (!(files[i] = shard_name(opt->layout, i, shards))) st = gptoss_error(GPTOSS_ERR_NOMEM, "synth: out of memory");

    progress pr = {.on = opt->progress && p.total > (512u << 20), .total = p.total, .t0 = gptoss_now(), .last_pct = -1};
    pr.last = pr.t0;
    for (int i = 0; i < shards && st == GPTOSS_OK; i++) {
        char *path = gptoss_path_join(tmp, files[i]);
        st = path ? write_shard(&p, i, path, n_threads, &pr) : gptoss_error(GPTOSS_ERR_NOMEM, "synth: out of memory");
        free(path);
    }
    if (st == GPTOSS_OK)
        st = write_json(tmp, "config.json", opt->layout == SYNTH_HF ? config_hf(c) : config_original(c));
    if (st == GPTOSS_OK && opt->layout == SYNTH_ORIGINAL) st = write_json(tmp, "dtypes.json", dtypes_json(&p));
    if (st == GPTOSS_OK && shards > 1)
        st = write_json(tmp, "model.safetensors.index.json", index_json(&p, files));
    if (st == GPTOSS_OK) st = gptoss_atomic_dir_commit(tmp, dir);
    if (st != GPTOSS_OK) gptoss_atomic_dir_abort(tmp);
    for (int i = 0; files && i < shards; i++) free(files[i]);
    free(files);
    free(tmp);
    free(p.t);
    return st;
}
