/* cmd_inspect.c: gptoss inspect: a checkpoint's config, tensor table and parameter count;
 * with --dequantize, one tensor decoded to F32 into a .safetensors file. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "model_internal.h"
#include "mxfp4.h"
#include "safetensors.h"
#include "util.h"

static const char *HELP =
    "usage: gptoss inspect DIR [--max-layers N] [--json]\n"
    "       gptoss inspect DIR --dequantize NAME -o OUT.safetensors\n"
    "\n"
    "Opens the checkpoint folder DIR (original layout: config.json + *.safetensors; or the\n"
    "Hugging Face layout: HF config.json + model*.safetensors [+ index]), validates every\n"
    "header, the config and every tensor the model needs, and prints the config, a table of\n"
    "the tensors (name, dtype, shape, bytes) and the parameter count (MXFP4 expert weights\n"
    "count two values per block byte; their scales are not counted). Tensor data is mapped,\n"
    "not read, so this is fast whatever the checkpoint's size.\n"
    "\n"
    "  --max-layers N      use only the first N blocks (the table and count cover those)\n"
    "  --json              print the same as one JSON object\n"
    "  --dequantize NAME   write tensor NAME as F32 to OUT (atomically): an MXFP4 blocks\n"
    "                      tensor [.., G, 16] (with its scales) decodes to [.., G*32] exactly as\n"
    "                      the official loader does; BF16/F32 tensors are converted. NAME may also\n"
    "                      be the MXFP4 weight's base name (block.0.mlp.mlp1_weight). The output\n"
    "                      tensor is named NAME.\n"
    "  -o OUT              output file for --dequantize\n";

/* Block index of a tensor name ("block.3.x", "model.layers.3.x"), or -1. */
static long block_of(const char *name) {
    const char *p = NULL;
    if (!strncmp(name, "block.", 6)) p = name + 6;
    else if (!strncmp(name, "model.layers.", 13)) p = name + 13;
    if (!p || *p < '0' || *p > '9') return -1;
    char *end;
    long v = strtol(p, &end, 10);
    return *end == '.' ? v : -1;
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int is_mxfp4_blocks(const gptoss_tensor *t) {
    return t->dtype == GPTOSS_DT_U8 && t->ndim >= 2 && t->shape[t->ndim - 1] == 16 && has_suffix(t->name, "blocks");
}
static int is_mxfp4_scales(const gptoss_tensor *t) {
    return t->dtype == GPTOSS_DT_U8 && has_suffix(t->name, "scales");
}

/* Parameters held by a tensor: elements, MXFP4 blocks 2 per byte, scales none. */
static int64_t tensor_params(const gptoss_tensor *t) {
    if (is_mxfp4_blocks(t)) return (int64_t)t->nbytes * 2;
    if (is_mxfp4_scales(t)) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static int in_use(const gptoss_model *m, const gptoss_tensor *t) { return block_of(t->name) < m->n_layers; }

static void shape_str(char *buf, size_t n, const gptoss_tensor *t) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

#define CONFIG_FIELDS(X)                                                                              \
    X(num_hidden_layers, "%d") X(num_experts, "%d") X(experts_per_token, "%d") X(vocab_size, "%d")   \
    X(hidden_size, "%d") X(intermediate_size, "%d") X(swiglu_limit, "%g") X(head_dim, "%d")         \
    X(num_attention_heads, "%d") X(num_key_value_heads, "%d") X(sliding_window, "%d")               \
    X(initial_context_length, "%d") X(rope_theta, "%g") X(rope_scaling_factor, "%g")                \
    X(rope_ntk_alpha, "%g") X(rope_ntk_beta, "%g")

static void print_text(const gptoss_model *m) {
    const gptoss_config *c = gptoss_model_config(m);
    printf("checkpoint: %s\nlayout:     %s (%zu file%s)\n\nconfig:\n", m->dir, m->layout, m->n_files,
           m->n_files == 1 ? "" : "s");
#define PRINT_FIELD(f, fmt) printf("  %-24s " fmt "\n", #f, c->f);
    CONFIG_FIELDS(PRINT_FIELD)
#undef PRINT_FIELD
    printf("\nblocks in use: %d of %d\n\n", m->n_layers, c->num_hidden_layers);
    size_t w = 4;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (in_use(m, m->tensors[i]) && strlen(m->tensors[i]->name) > w) w = strlen(m->tensors[i]->name);
    printf("%-*s  %-5s  %-24s %14s\n", (int)w, "name", "dtype", "shape", "bytes");
    int64_t params = 0, bytes = 0;
    size_t shown = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const gptoss_tensor *t = m->tensors[i];
        if (!in_use(m, t)) continue;
        char s[160];
        shape_str(s, sizeof s, t);
        printf("%-*s  %-5s  %-24s %14zu\n", (int)w, t->name, gptoss_dtype_name(t->dtype), s, t->nbytes);
        params += tensor_params(t);
        bytes += (int64_t)t->nbytes;
        shown++;
    }
    printf("\ntensors:    %zu (%.3f GB)", shown, (double)bytes / 1e9);
    if (shown < m->n_tensors) printf("; %zu more belong to blocks not in use", m->n_tensors - shown);
    double pd = (double)params;
    if (pd >= 1e9) printf("\nparameters: %.2f B (%lld)\n", pd / 1e9, (long long)params);
    else if (pd >= 1e6) printf("\nparameters: %.2f M (%lld)\n", pd / 1e6, (long long)params);
    else printf("\nparameters: %lld\n", (long long)params);
}

static int print_json(const gptoss_model *m) {
    const gptoss_config *c = gptoss_model_config(m);
    cJSON *j = cJSON_CreateObject(), *cfg = cJSON_CreateObject(), *ts = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "dir", m->dir);
    cJSON_AddStringToObject(j, "layout", m->layout);
    cJSON_AddNumberToObject(j, "files", (double)m->n_files);
#define JSON_FIELD(f, fmt) cJSON_AddNumberToObject(cfg, #f, (double)c->f);
    CONFIG_FIELDS(JSON_FIELD)
#undef JSON_FIELD
    cJSON_AddItemToObject(j, "config", cfg);
    cJSON_AddNumberToObject(j, "layers_in_use", m->n_layers);
    int64_t params = 0, bytes = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const gptoss_tensor *t = m->tensors[i];
        if (!in_use(m, t)) continue;
        cJSON *o = cJSON_CreateObject(), *sh = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "dtype", gptoss_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToObject(o, "shape", sh);
        cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
        const char *base = strrchr(t->path, '/');
        cJSON_AddStringToObject(o, "file", base ? base + 1 : t->path);
        cJSON_AddItemToArray(ts, o);
        params += tensor_params(t);
        bytes += (int64_t)t->nbytes;
    }
    cJSON_AddItemToObject(j, "tensors", ts);
    cJSON_AddNumberToObject(j, "tensor_bytes", (double)bytes);
    cJSON_AddNumberToObject(j, "parameters", (double)params);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) {
        fprintf(stderr, "gptoss inspect: out of memory\n");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

/* ---- --dequantize ---------------------------------------------------------------------- */

static const gptoss_tensor *find_tensor(const gptoss_model *m, const char *name) {
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i]->name, name)) return m->tensors[i];
    return NULL;
}

/* Streams the decoded rows of t (and its scales s for MXFP4) into w. */
static gptoss_status write_decoded(st_writer *w, const gptoss_tensor *t, const gptoss_tensor *s, int64_t rows,
                                   int64_t cols) {
    float *row = malloc((size_t)(cols ? cols : 1) * sizeof *row);
    if (!row) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
    gptoss_status st = GPTOSS_OK;
    const uint8_t *src = t->data;
    for (int64_t r = 0; r < rows && st == GPTOSS_OK; r++) {
        if (s) {
            mxfp4_decode_row(row, src + r * (cols / 2), (const uint8_t *)s->data + r * (cols / 32), cols);
        } else if (t->dtype == GPTOSS_DT_BF16) {
            for (int64_t k = 0; k < cols; k++) {
                uint16_t h;
                memcpy(&h, src + 2 * (r * cols + k), 2);
                row[k] = bf16_to_f32(h);
            }
        } else {
            memcpy(row, src + 4 * r * cols, (size_t)cols * 4);
        }
        st = st_writer_write(w, row, (size_t)cols * sizeof *row);
    }
    free(row);
    return st;
}

static int dequantize(const gptoss_model *m, const char *name, const char *out) {
    const gptoss_tensor *t = find_tensor(m, name), *s = NULL;
    char alt[512];
    for (int i = 0; !t && i < 2; i++) { /* base name of an MXFP4 weight */
        snprintf(alt, sizeof alt, "%s%s", name, i ? "_blocks" : ".blocks");
        t = find_tensor(m, alt);
    }
    if (!t) {
        gptoss_error(GPTOSS_ERR_MISSING, "%s: no tensor named '%s'", m->dir, name);
        return cli_fail("inspect", GPTOSS_ERR_ARG);
    }
    int64_t shape[GPTOSS_MAX_DIMS];
    int ndim = t->ndim;
    memcpy(shape, t->shape, sizeof shape);
    if (is_mxfp4_blocks(t)) {
        snprintf(alt, sizeof alt, "%.*sscales", (int)(strlen(t->name) - 6), t->name);
        s = find_tensor(m, alt);
        int ok = s && s->dtype == GPTOSS_DT_U8 && s->ndim == t->ndim - 1;
        for (int d = 0; ok && d < s->ndim; d++) ok = s->shape[d] == t->shape[d];
        if (!ok) {
            gptoss_error(GPTOSS_ERR_FORMAT, "%s: '%s' has no matching scales tensor '%s'", t->path, t->name, alt);
            return cli_fail("inspect", GPTOSS_ERR_FORMAT);
        }
        ndim = t->ndim - 1;
        shape[ndim - 1] = t->shape[ndim - 1] * 32;
    } else if (t->dtype != GPTOSS_DT_BF16 && t->dtype != GPTOSS_DT_F32) {
        gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: tensor '%s' is %s; only MXFP4 blocks, BF16 and F32 decode", t->path,
                     t->name, gptoss_dtype_name(t->dtype));
        return cli_fail("inspect", GPTOSS_ERR_UNSUPPORTED);
    }
    int64_t cols = ndim ? shape[ndim - 1] : 1, rows = 1;
    for (int d = 0; d + 1 < ndim; d++) rows *= shape[d];
    st_writer *w = NULL;
    gptoss_status st = st_writer_open(out, &w);
    if (st == GPTOSS_OK) st = st_writer_add(w, name, GPTOSS_DT_F32, ndim, shape);
    if (st == GPTOSS_OK) st = st_writer_metadata(w, "source", t->name);
    if (st == GPTOSS_OK) st = st_writer_begin(w);
    if (st == GPTOSS_OK) st = write_decoded(w, t, s, rows, cols);
    if (st == GPTOSS_OK) {
        st = st_writer_finish(w);
        w = NULL;
    }
    if (st) {
        if (w) st_writer_abort(w);
        return cli_fail("inspect", st);
    }
    fprintf(stderr, "gptoss inspect: wrote %s (%s, %lld x %lld F32)\n", out, name, (long long)rows, (long long)cols);
    return 0;
}

int cmd_inspect(int argc, char **argv) {
    const char *dir = NULL, *deq = NULL, *out = NULL;
    int json = 0;
    long max_layers = 0;
    const arg_spec specs[] = {
        {"", "checkpoint folder", ARG_STR, &dir, 0, 0},
        {"--json", NULL, ARG_FLAG, &json, 0, 0},
        {"--max-layers", NULL, ARG_INT, &max_layers, 1, 1000000},
        {"--dequantize", NULL, ARG_STR, &deq, 0, 0},
        {"-o", NULL, ARG_STR, &out, 0, 0},
    };
    int rc = args_parse("inspect", HELP, argc, argv, specs, ARGS_N(specs), NULL);
    if (rc >= 0) return rc;
    if (!dir) return cli_usage_error("inspect", "no checkpoint folder given");
    if (deq && !out) return cli_usage_error("inspect", "--dequantize needs -o OUT.safetensors");
    if (out && !deq) return cli_usage_error("inspect", "-o is only for --dequantize");
    if (deq && json) return cli_usage_error("inspect", "--json and --dequantize do not go together");

    gptoss_open_options opt = {.max_layers = (int)max_layers};
    gptoss_model *m = NULL;
    gptoss_status st = gptoss_model_open(dir, &opt, &m);
    if (st) return cli_fail("inspect", st);
    rc = deq ? dequantize(m, deq, out) : json ? print_json(m) : (print_text(m), 0);
    gptoss_model_close(m);
    return rc;
}
