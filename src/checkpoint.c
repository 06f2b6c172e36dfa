/* checkpoint.c: opens a checkpoint folder into struct gptoss_model (model_internal.h).
 *
 *   original layout: config.json (ModelConfig keys) + every *.safetensors in the folder,
 *                    tensor names "block.N.attn.qkv.weight", ...
 *   Hugging Face:    config.json (HF names) + model.safetensors, or shards listed by
 *                    model.safetensors.index.json; names "model.layers.N.self_attn.q_proj.weight", ...
 *
 * Every file is mapped and its header validated; tensor data is not read, except the small
 * vectors (norm scales, biases, sinks) of the blocks in use, which are converted to fp32 in
 * one arena. Matrices stay in the mapping in their stored dtype (BF16 or F32); MXFP4
 * blocks/scales stay packed. With max_layers = N only blocks 0..N-1 are looked at. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_internal.h"
#include "util.h"

#define DT_FLOAT ((1u << GPTOSS_DT_BF16) | (1u << GPTOSS_DT_F32))
#define DT_BYTES (1u << GPTOSS_DT_U8)

typedef struct loader {
    gptoss_model *m;
    int hf;
    const char *cfg_name; /* "config.json", named in shape errors */
    size_t arena_used, arena_cap;
} loader;

/* ---- tensor order: natural (block.2 before block.10), a total order ------------------- */

static int natural_cmp(const char *a, const char *b) {
    const char *a0 = a, *b0 = b;
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0') a++;
            while (*b == '0') b++;
            size_t na = 0, nb = 0;
            while (a[na] >= '0' && a[na] <= '9') na++;
            while (b[nb] >= '0' && b[nb] <= '9') nb++;
            if (na != nb) return na < nb ? -1 : 1;
            int c = strncmp(a, b, na);
            if (c) return c;
            a += na;
            b += nb;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    if (*a || *b) return *a ? 1 : -1;
    return strcmp(a0, b0); /* "a01" vs "a1": equal numerically, still distinct */
}

static int tensor_cmp(const void *x, const void *y) {
    return natural_cmp((*(const gptoss_tensor *const *)x)->name, (*(const gptoss_tensor *const *)y)->name);
}

static const gptoss_tensor *find(const gptoss_model *m, const char *name) {
    size_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = natural_cmp(m->tensors[mid]->name, name);
        if (c == 0) return m->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- shape and dtype checks ------------------------------------------------------------ */

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static const char *layout_name(const loader *ld) { return ld->hf ? "hf" : "original"; }

/* Finds name with one of the dtypes in mask and ndim dimensions; shape (if not NULL) must
 * match exactly. */
static gptoss_status require(loader *ld, const char *name, unsigned mask, int ndim, const int64_t *shape,
                             const gptoss_tensor **out) {
    const gptoss_tensor *t = find(ld->m, name);
    if (!t)
        return gptoss_error(GPTOSS_ERR_MISSING, "%s: required tensor '%s' is missing (%s layout)", ld->m->dir,
                            name, layout_name(ld));
    if (!(mask & (1u << t->dtype)))
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", t->path, name,
                            gptoss_dtype_name(t->dtype), mask == DT_BYTES ? "U8" : "BF16 or F32");
    int ok = t->ndim == ndim;
    for (int i = 0; ok && shape && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char have[160], want[160];
        shape_str(have, sizeof have, t->ndim, t->shape);
        if (shape) shape_str(want, sizeof want, ndim, shape);
        else snprintf(want, sizeof want, "%d dimensions", ndim);
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s' has shape %s but %s implies %s", t->path, name,
                            have, ld->cfg_name, want);
    }
    *out = t;
    return GPTOSS_OK;
}

/* A matrix [rows, cols] kept in the mapping. */
static gptoss_status get_mat(loader *ld, const char *name, int64_t rows, int64_t cols, gptoss_mat *out) {
    const gptoss_tensor *t;
    int64_t shape[2] = {rows, cols};
    gptoss_status st = require(ld, name, DT_FLOAT, 2, shape, &t);
    if (st) return st;
    if ((uintptr_t)t->data % gptoss_dtype_size(t->dtype))
        return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: tensor '%s': data is not aligned to its dtype",
                            t->path, name);
    *out = (gptoss_mat){t->dtype, t->data, rows, cols, cols};
    return GPTOSS_OK;
}

/* A small vector (any shape with n elements in total: [n] or [E, n/E]) converted to fp32. */
static gptoss_status get_vec(loader *ld, const char *name, int ndim, const int64_t *shape, const float **out) {
    const gptoss_tensor *t;
    gptoss_status st = require(ld, name, DT_FLOAT, ndim, shape, &t);
    if (st) return st;
    size_t n = t->nbytes / gptoss_dtype_size(t->dtype);
    if (ld->arena_used + n > ld->arena_cap) /* cannot happen: sizes come from the config */
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s': arena overflow", t->path, name);
    float *dst = ld->m->owned + ld->arena_used;
    const uint8_t *src = t->data;
    if (t->dtype == GPTOSS_DT_F32) {
        memcpy(dst, src, n * 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = bf16_to_f32(h);
        }
    }
    ld->arena_used += n;
    *out = dst;
    return GPTOSS_OK;
}

static gptoss_status get_vec1(loader *ld, const char *name, int64_t n, const float **out) {
    return get_vec(ld, name, 1, &n, out);
}

/* MXFP4 weights decoded [E, rows, cols]: blocks [E, rows, cols/32, 16], scales [E, rows, cols/32]. */
static gptoss_status get_mxfp4(loader *ld, const char *blocks_name, const char *scales_name, int64_t E,
                               int64_t rows, int64_t cols, gptoss_mxfp4 *out) {
    const gptoss_tensor *b, *s;
    gptoss_status st;
    if ((st = require(ld, blocks_name, DT_BYTES, 4, NULL, &b)) || (st = require(ld, scales_name, DT_BYTES, 3, NULL, &s)))
        return st;
    if (b->shape[0] != s->shape[0] || b->shape[1] != s->shape[1] || b->shape[2] != s->shape[2] ||
        b->shape[3] != 16) {
        char bs[160], ss[160];
        shape_str(bs, sizeof bs, b->ndim, b->shape);
        shape_str(ss, sizeof ss, s->ndim, s->shape);
        return gptoss_error(GPTOSS_ERR_FORMAT,
                            "%s: MXFP4 blocks '%s' %s and scales '%s' %s disagree (want [E, R, G, 16] and [E, R, G])",
                            b->path, blocks_name, bs, scales_name, ss);
    }
    int64_t bshape[4] = {E, rows, cols / 32, 16};
    if ((st = require(ld, blocks_name, DT_BYTES, 4, bshape, &b)) ||
        (st = require(ld, scales_name, DT_BYTES, 3, bshape, &s)))
        return st;
    *out = (gptoss_mxfp4){E, rows, cols, b->data, s->data};
    return GPTOSS_OK;
}

/* ---- the blocks ------------------------------------------------------------------------ */

#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)

static gptoss_status load_attention(loader *ld, int l, gptoss_block *b) {
    const gptoss_config *c = &ld->m->cfg;
    int64_t H = c->hidden_size, q = (int64_t)c->num_attention_heads * c->head_dim,
            kv = (int64_t)c->num_key_value_heads * c->head_dim;
    char name[128];
    gptoss_status st;
    if (!ld->hf) {
        gptoss_mat qkv;
        const float *bias;
        int64_t n = q + 2 * kv;
        if ((st = get_vec1(ld, NAME("block.%d.attn.norm.scale", l), H, &b->attn_norm)) ||
            (st = get_mat(ld, NAME("block.%d.attn.qkv.weight", l), n, H, &qkv)) ||
            (st = get_vec1(ld, NAME("block.%d.attn.qkv.bias", l), n, &bias)) ||
            (st = get_vec1(ld, NAME("block.%d.attn.sinks", l), c->num_attention_heads, &b->sinks)) ||
            (st = get_mat(ld, NAME("block.%d.attn.out.weight", l), H, q, &b->wo)) ||
            (st = get_vec1(ld, NAME("block.%d.attn.out.bias", l), H, &b->bo)))
            return st;
        /* wq/wk/wv: row ranges of the fused matrix */
        size_t es = gptoss_dtype_size(qkv.dtype);
        const uint8_t *base = qkv.data;
        b->wq = (gptoss_mat){qkv.dtype, base, q, H, H};
        b->wk = (gptoss_mat){qkv.dtype, base + (size_t)(q * H) * es, kv, H, H};
        b->wv = (gptoss_mat){qkv.dtype, base + (size_t)((q + kv) * H) * es, kv, H, H};
        b->bq = bias;
        b->bk = bias + q;
        b->bv = bias + q + kv;
        return GPTOSS_OK;
    }
    if ((st = get_vec1(ld, NAME("model.layers.%d.input_layernorm.weight", l), H, &b->attn_norm)) ||
        (st = get_mat(ld, NAME("model.layers.%d.self_attn.q_proj.weight", l), q, H, &b->wq)) ||
        (st = get_mat(ld, NAME("model.layers.%d.self_attn.k_proj.weight", l), kv, H, &b->wk)) ||
        (st = get_mat(ld, NAME("model.layers.%d.self_attn.v_proj.weight", l), kv, H, &b->wv)) ||
        (st = get_vec1(ld, NAME("model.layers.%d.self_attn.q_proj.bias", l), q, &b->bq)) ||
        (st = get_vec1(ld, NAME("model.layers.%d.self_attn.k_proj.bias", l), kv, &b->bk)) ||
        (st = get_vec1(ld, NAME("model.layers.%d.self_attn.v_proj.bias", l), kv, &b->bv)) ||
        (st = get_vec1(ld, NAME("model.layers.%d.self_attn.sinks", l), c->num_attention_heads, &b->sinks)) ||
        (st = get_mat(ld, NAME("model.layers.%d.self_attn.o_proj.weight", l), H, q, &b->wo)) ||
        (st = get_vec1(ld, NAME("model.layers.%d.self_attn.o_proj.bias", l), H, &b->bo)))
        return st;
    return GPTOSS_OK;
}

static gptoss_status load_mlp(loader *ld, int l, gptoss_block *b) {
    const gptoss_config *c = &ld->m->cfg;
    int64_t H = c->hidden_size, I = c->intermediate_size, E = c->num_experts;
    int64_t s1[2] = {E, 2 * I}, s2[2] = {E, H};
    const char *p = ld->hf ? "model.layers" : "block";
    const char *const *n = ld->hf
        ? (const char *const[]){"post_attention_layernorm.weight", "mlp.router.weight", "mlp.router.bias",
                                "mlp.experts.gate_up_proj_blocks", "mlp.experts.gate_up_proj_scales",
                                "mlp.experts.gate_up_proj_bias", "mlp.experts.down_proj_blocks",
                                "mlp.experts.down_proj_scales", "mlp.experts.down_proj_bias"}
        : (const char *const[]){"mlp.norm.scale", "mlp.gate.weight", "mlp.gate.bias",
                                "mlp.mlp1_weight.blocks", "mlp.mlp1_weight.scales", "mlp.mlp1_bias",
                                "mlp.mlp2_weight.blocks", "mlp.mlp2_weight.scales", "mlp.mlp2_bias"};
    char name[128], name2[128];
    gptoss_status st;
    if ((st = get_vec1(ld, NAME("%s.%d.%s", p, l, n[0]), H, &b->mlp_norm)) ||
        (st = get_mat(ld, NAME("%s.%d.%s", p, l, n[1]), E, H, &b->wgate)) ||
        (st = get_vec1(ld, NAME("%s.%d.%s", p, l, n[2]), E, &b->bgate)))
        return st;
    if (ld->hf && find(ld->m, NAME("%s.%d.mlp.experts.gate_up_proj", p, l)))
        return gptoss_error(GPTOSS_ERR_UNSUPPORTED,
                            "%s: tensor '%s' is dequantized; only MXFP4 (_blocks/_scales) experts are supported",
                            ld->m->dir, name);
    snprintf(name2, sizeof name2, "%s.%d.%s", p, l, n[4]);
    if ((st = get_mxfp4(ld, NAME("%s.%d.%s", p, l, n[3]), name2, E, 2 * I, H, &b->mlp1)) ||
        (st = get_vec(ld, NAME("%s.%d.%s", p, l, n[5]), 2, s1, &b->b1)))
        return st;
    snprintf(name2, sizeof name2, "%s.%d.%s", p, l, n[7]);
    if ((st = get_mxfp4(ld, NAME("%s.%d.%s", p, l, n[6]), name2, E, H, I, &b->mlp2)) ||
        (st = get_vec(ld, NAME("%s.%d.%s", p, l, n[8]), 2, s2, &b->b2)))
        return st;
    return GPTOSS_OK;
}

/* ---- files ------------------------------------------------------------------------------ */

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Adds name to the list unless present. */
static gptoss_status add_name(const char *dir, char ***names, size_t *n, const char *name) {
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*names)[i], name)) return GPTOSS_OK;
    char **nn = realloc(*names, (*n + 1) * sizeof *nn);
    if (!nn) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
    *names = nn;
    if (!(nn[*n] = strdup(name))) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
    (*n)++;
    return GPTOSS_OK;
}

/* Every *.safetensors in dir (the official loader's rule), sorted. */
static gptoss_status list_dir(const char *dir, char ***names, size_t *n) {
    DIR *d = opendir(dir);
    if (!d) return gptoss_error(GPTOSS_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    gptoss_status st = GPTOSS_OK;
    struct dirent *e;
    while (st == GPTOSS_OK && (e = readdir(d)))
        if (has_suffix(e->d_name, ".safetensors")) st = add_name(dir, names, n, e->d_name);
    closedir(d);
    if (st == GPTOSS_OK && *n == 0)
        st = gptoss_error(GPTOSS_ERR_MISSING, "%s: no *.safetensors files in the folder", dir);
    if (st == GPTOSS_OK) qsort(*names, *n, sizeof **names, str_cmp);
    return st;
}

/* The shards named by model.safetensors.index.json ("weight_map": {tensor: file}). */
static gptoss_status list_index(const char *path, cJSON **index, char ***names, size_t *n) {
    size_t len;
    char *text = gptoss_read_file(path, &len);
    if (!text) return GPTOSS_ERR_IO;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *wm = j ? cJSON_GetObjectItemCaseSensitive(j, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(j);
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: not JSON with a \"weight_map\" object", path);
    }
    const cJSON *e;
    gptoss_status st = GPTOSS_OK;
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e) || !has_suffix(e->valuestring, ".safetensors") || strchr(e->valuestring, '/')) {
            st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: weight_map['%s'] is not a *.safetensors file name", path,
                              e->string);
            break;
        }
        if ((st = add_name(path, names, n, e->valuestring))) break;
    }
    if (st == GPTOSS_OK && *n == 0) st = gptoss_error(GPTOSS_ERR_MISSING, "%s: weight_map is empty", path);
    if (st) {
        cJSON_Delete(j);
        return st;
    }
    qsort(*names, *n, sizeof **names, str_cmp);
    *index = j;
    return GPTOSS_OK;
}

/* Every tensor the index names must be in the shard it names. */
static gptoss_status check_index(const gptoss_model *m, const char *path, const cJSON *index) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(index, "weight_map")) {
        const gptoss_tensor *t = find(m, e->string);
        const char *base = t ? strrchr(t->path, '/') : NULL;
        base = base ? base + 1 : (t ? t->path : NULL);
        if (!t || strcmp(base, e->valuestring))
            return gptoss_error(GPTOSS_ERR_MISSING, "%s: tensor '%s' is not in %s", path, e->string,
                                e->valuestring);
    }
    return GPTOSS_OK;
}

static gptoss_status open_files(gptoss_model *m, char **names, size_t n) {
    m->files = calloc(n, sizeof *m->files);
    if (!m->files) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", m->dir);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = gptoss_path_join(m->dir, names[i]);
        if (!path) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", m->dir);
        gptoss_status st = st_open(path, &m->files[i]);
        free(path);
        if (st) return st;
        m->n_files++;
        total += m->files[i]->n_tensors;
    }
    m->tensors = malloc((total ? total : 1) * sizeof *m->tensors);
    if (!m->tensors) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", m->dir);
    for (size_t i = 0; i < m->n_files; i++)
        for (size_t k = 0; k < m->files[i]->n_tensors; k++) m->tensors[m->n_tensors++] = &m->files[i]->tensors[k];
    qsort(m->tensors, m->n_tensors, sizeof *m->tensors, tensor_cmp);
    for (size_t i = 1; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i - 1]->name, m->tensors[i]->name))
            return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s' is also in %s", m->tensors[i]->path,
                                m->tensors[i]->name, m->tensors[i - 1]->path);
    return GPTOSS_OK;
}

/* No tensor may belong to a block the config does not have. */
static gptoss_status check_block_indices(const loader *ld) {
    const char *prefix = ld->hf ? "model.layers." : "block.";
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < ld->m->n_tensors; i++) {
        const gptoss_tensor *t = ld->m->tensors[i];
        if (strncmp(t->name, prefix, pl)) continue;
        const char *p = t->name + pl;
        long idx = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 9) idx = idx * 10 + (*p++ - '0'), digits++;
        if (digits && *p == '.' && idx >= ld->m->cfg.num_hidden_layers)
            return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s' belongs to block %ld but %s has num_hidden_layers = %d",
                                t->path, t->name, idx, ld->cfg_name, ld->m->cfg.num_hidden_layers);
    }
    return GPTOSS_OK;
}

/* Bytes of fp32 for the converted vectors of n_layers blocks and the final norm; SIZE_MAX
 * when that does not fit in size_t (each config size is below 2^24, so the products
 * within a block fit; the count of blocks can push the total over). */
static size_t arena_bytes(const gptoss_config *c, int n_layers) {
    size_t H = (size_t)c->hidden_size, E = (size_t)c->num_experts, I = (size_t)c->intermediate_size;
    size_t qkv = (size_t)(c->num_attention_heads + 2 * c->num_key_value_heads) * (size_t)c->head_dim;
    size_t per = H + qkv + (size_t)c->num_attention_heads + H + H + E + E * 2 * I + E * H, total;
    if (__builtin_mul_overflow(per, (size_t)n_layers, &total) || __builtin_add_overflow(total, H, &total) ||
        __builtin_mul_overflow(total, sizeof(float), &total))
        return SIZE_MAX;
    return total;
}

static gptoss_status load(gptoss_model *m, const char *dir, int max_layers) {
    loader ld = {.m = m, .cfg_name = "config.json"};
    gptoss_status st;
    struct stat sb;
    if (stat(dir, &sb) != 0) return gptoss_error(GPTOSS_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return gptoss_error(GPTOSS_ERR_IO, "%s: not a folder", dir);
    if (!(m->dir = strdup(dir))) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);

    /* config */
    char *cfg_path = gptoss_path_join(dir, "config.json");
    if (!cfg_path) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
    size_t len;
    char *text = gptoss_read_file(cfg_path, &len);
    st = text ? gptoss_config_parse(cfg_path, text, len, &m->cfg, &ld.hf) : GPTOSS_ERR_IO;
    free(text);
    free(cfg_path);
    if (st) return st;
    snprintf(m->layout, sizeof m->layout, "%s", ld.hf ? "hf" : "original");
    m->n_layers = m->cfg.num_hidden_layers;
    if (max_layers > 0 && max_layers < m->n_layers) m->n_layers = max_layers;

    /* files */
    char **names = NULL;
    size_t n_names = 0;
    cJSON *index = NULL;
    char *index_path = gptoss_path_join(dir, "model.safetensors.index.json");
    if (!index_path) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
    if (stat(index_path, &sb) == 0) st = list_index(index_path, &index, &names, &n_names);
    else st = list_dir(dir, &names, &n_names);
    if (st == GPTOSS_OK) st = open_files(m, names, n_names);
    free_names(names, n_names);
    if (st == GPTOSS_OK && index) st = check_index(m, index_path, index);
    cJSON_Delete(index);
    free(index_path);
    if (st || (st = check_block_indices(&ld))) return st;

    /* tensors */
    size_t arena = arena_bytes(&m->cfg, m->n_layers);
    ld.arena_cap = arena / sizeof(float);
    m->owned = arena == SIZE_MAX ? NULL : malloc(arena);
    m->blocks = calloc((size_t)m->n_layers, sizeof *m->blocks);
    if (!m->owned || !m->blocks) {
        char bytes[32] = "more than 2^64";
        if (arena != SIZE_MAX) snprintf(bytes, sizeof bytes, "%zu", arena);
        return gptoss_error(GPTOSS_ERR_NOMEM,
                            "%s: out of memory: %s bytes for the fp32 norm scales, biases and sinks of %d blocks",
                            dir, bytes, m->n_layers);
    }
    const gptoss_config *c = &m->cfg;
    if ((st = get_mat(&ld, ld.hf ? "model.embed_tokens.weight" : "embedding.weight", c->vocab_size,
                      c->hidden_size, &m->embedding)) ||
        (st = get_mat(&ld, ld.hf ? "lm_head.weight" : "unembedding.weight", c->vocab_size, c->hidden_size,
                      &m->unembedding)) ||
        (st = get_vec1(&ld, ld.hf ? "model.norm.weight" : "norm.scale", c->hidden_size, &m->norm)))
        return st;
    for (int l = 0; l < m->n_layers; l++)
        if ((st = load_attention(&ld, l, &m->blocks[l])) || (st = load_mlp(&ld, l, &m->blocks[l]))) return st;
    return GPTOSS_OK;
}

/* ---- preload ----------------------------------------------------------------------------- */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

/* Page tables for [p, p+n) filled now, reading the file where it is not cached. */
static gptoss_status populate(const gptoss_model *m, const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(page - 1), b = ((uintptr_t)p + n + page - 1) & ~(page - 1);
    if (madvise((void *)a, b - a, MADV_POPULATE_READ) == 0) return GPTOSS_OK;
    if (errno != EINVAL) /* an I/O error while reading the file */
        return gptoss_error(GPTOSS_ERR_IO, "%s: cannot read the weights into memory: %s", m->dir, strerror(errno));
    volatile uint8_t sink = 0; /* an older kernel: touch every page */
    for (uintptr_t q = a; q < b; q += page) sink ^= *(const volatile uint8_t *)q;
    (void)sink;
    return GPTOSS_OK;
}

static gptoss_status populate_mat(const gptoss_model *m, const gptoss_mat *w) {
    return populate(m, w->data, (size_t)((w->rows - 1) * w->stride + w->cols) * gptoss_dtype_size(w->dtype));
}

static gptoss_status preload(const gptoss_model *m) {
    gptoss_status st;
    if ((st = populate_mat(m, &m->unembedding))) return st;
    for (int l = 0; l < m->n_layers; l++) {
        const gptoss_block *b = &m->blocks[l];
        const gptoss_mat *mats[5] = {&b->wq, &b->wk, &b->wv, &b->wo, &b->wgate};
        for (int i = 0; i < 5; i++)
            if ((st = populate_mat(m, mats[i]))) return st;
        const gptoss_mxfp4 *x[2] = {&b->mlp1, &b->mlp2};
        for (int i = 0; i < 2; i++) {
            size_t n = (size_t)(x[i]->n_experts * x[i]->rows * x[i]->cols);
            if ((st = populate(m, x[i]->blocks, n / 2)) || (st = populate(m, x[i]->scales, n / 32))) return st;
        }
    }
    return GPTOSS_OK;
}

/* ---- public API --------------------------------------------------------------------------- */

gptoss_status gptoss_model_open(const char *dir, const gptoss_open_options *options, gptoss_model **out) {
    if (!out) return gptoss_error(GPTOSS_ERR_ARG, "gptoss_model_open: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return gptoss_error(GPTOSS_ERR_ARG, "gptoss_model_open: no folder given");
    int max_layers = options ? options->max_layers : 0;
    if (max_layers < 0) return gptoss_error(GPTOSS_ERR_ARG, "--max-layers: must be >= 0 (got %d)", max_layers);
    gptoss_model *m = calloc(1, sizeof *m);
    if (!m) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
    gptoss_status st = load(m, dir, max_layers);
    if (st == GPTOSS_OK && options && options->preload) st = preload(m);
    if (st) {
        gptoss_model_close(m);
        return st;
    }
    gptoss_clear_error();
    *out = m;
    return GPTOSS_OK;
}

void gptoss_model_close(gptoss_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_files; i++) st_close(m->files[i]);
    free(m->files);
    free(m->tensors);
    free(m->blocks);
    free(m->owned);
    free(m->dir);
    free(m);
}

const gptoss_config *gptoss_model_config(const gptoss_model *m) { return &m->cfg; }
int gptoss_model_layers(const gptoss_model *m) { return m->n_layers; }
size_t gptoss_model_tensor_count(const gptoss_model *m) { return m->n_tensors; }
const gptoss_tensor *gptoss_model_tensor(const gptoss_model *m, size_t i) {
    return i < m->n_tensors ? m->tensors[i] : NULL;
}
const char *gptoss_model_layout(const gptoss_model *m) { return m->layout; }
