/* config.c: config.json, in the original format or with Hugging Face names.
 *
 * Original: exactly the keys of gpt_oss.torch.model.ModelConfig (the official loader does
 * ModelConfig(**json), so any other key would make it fail; we reject those too).
 * Hugging Face: num_local_experts, num_experts_per_tok, rope_scaling (or the newer
 * rope_parameters) {factor, beta_fast, beta_slow, original_max_position_embeddings}, the
 * rest under the same names. Every key we need must be present, of the right type and in
 * range; errors name the file and the key. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "model_internal.h"
#include "util.h"

#define MAX_DIM (1 << 24) /* bound on any size, so that products fit in int64 */

static const char *const original_keys[] = {
    "num_hidden_layers", "num_experts",         "experts_per_token",      "vocab_size",
    "hidden_size",       "intermediate_size",   "swiglu_limit",           "head_dim",
    "num_attention_heads", "num_key_value_heads", "sliding_window",       "initial_context_length",
    "rope_theta",        "rope_scaling_factor", "rope_ntk_alpha",         "rope_ntk_beta",
};

static int has(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

static gptoss_status get_num(const char *label, const cJSON *obj, const char *key, const char *shown,
                             double *v) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j) return gptoss_error(GPTOSS_ERR_MISSING, "%s: key '%s' is missing", label, shown);
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: key '%s' is not a number", label, shown);
    *v = j->valuedouble;
    return GPTOSS_OK;
}

/* An integer in [lo, MAX_DIM]. */
static gptoss_status get_int(const char *label, const cJSON *obj, const char *key, const char *shown,
                             int lo, int *out) {
    double v;
    gptoss_status st = get_num(label, obj, key, shown, &v);
    if (st) return st;
    if (v != floor(v)) return gptoss_error(GPTOSS_ERR_FORMAT, "%s: key '%s' is not an integer", label, shown);
    if (v < lo || v > MAX_DIM)
        return gptoss_error(GPTOSS_ERR_RANGE, "%s: key '%s' = %.17g is out of range [%d, %d]", label, shown, v,
                            lo, MAX_DIM);
    *out = (int)v;
    return GPTOSS_OK;
}

/* A float > lo (or >= lo when inclusive) and at most 1e9. */
static gptoss_status get_float(const char *label, const cJSON *obj, const char *key, const char *shown,
                               double lo, int inclusive, float *out) {
    double v;
    gptoss_status st = get_num(label, obj, key, shown, &v);
    if (st) return st;
    if ((inclusive ? v < lo : v <= lo) || v > 1e9)
        return gptoss_error(GPTOSS_ERR_RANGE, "%s: key '%s' = %.17g is out of range (%s %g)", label, shown, v,
                            inclusive ? "must be >=" : "must be >", lo);
    *out = (float)v;
    return GPTOSS_OK;
}

/* The keys both formats share. */
static gptoss_status parse_common(const char *label, const cJSON *j, gptoss_config *c) {
    gptoss_status st;
    if ((st = get_int(label, j, "num_hidden_layers", "num_hidden_layers", 1, &c->num_hidden_layers)) ||
        (st = get_int(label, j, "vocab_size", "vocab_size", 1, &c->vocab_size)) ||
        (st = get_int(label, j, "hidden_size", "hidden_size", 1, &c->hidden_size)) ||
        (st = get_int(label, j, "intermediate_size", "intermediate_size", 1, &c->intermediate_size)) ||
        (st = get_float(label, j, "swiglu_limit", "swiglu_limit", 0, 0, &c->swiglu_limit)) ||
        (st = get_int(label, j, "head_dim", "head_dim", 1, &c->head_dim)) ||
        (st = get_int(label, j, "num_attention_heads", "num_attention_heads", 1, &c->num_attention_heads)) ||
        (st = get_int(label, j, "num_key_value_heads", "num_key_value_heads", 1, &c->num_key_value_heads)) ||
        (st = get_int(label, j, "sliding_window", "sliding_window", 1, &c->sliding_window)))
        return st;
    return GPTOSS_OK;
}

static gptoss_status parse_original(const char *label, const cJSON *j, gptoss_config *c) {
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        int known = 0;
        for (size_t i = 0; i < sizeof original_keys / sizeof original_keys[0]; i++)
            known |= !strcmp(e->string, original_keys[i]);
        if (!known)
            return gptoss_error(GPTOSS_ERR_FORMAT,
                                "%s: unknown key '%s' (the original format allows only ModelConfig's keys)",
                                label, e->string);
    }
    gptoss_status st;
    if ((st = parse_common(label, j, c)) ||
        (st = get_int(label, j, "num_experts", "num_experts", 1, &c->num_experts)) ||
        (st = get_int(label, j, "experts_per_token", "experts_per_token", 1, &c->experts_per_token)) ||
        (st = get_int(label, j, "initial_context_length", "initial_context_length", 1,
                      &c->initial_context_length)) ||
        (st = get_float(label, j, "rope_theta", "rope_theta", 0, 0, &c->rope_theta)) ||
        (st = get_float(label, j, "rope_scaling_factor", "rope_scaling_factor", 1, 1, &c->rope_scaling_factor)) ||
        (st = get_float(label, j, "rope_ntk_alpha", "rope_ntk_alpha", 0, 0, &c->rope_ntk_alpha)) ||
        (st = get_float(label, j, "rope_ntk_beta", "rope_ntk_beta", 0, 0, &c->rope_ntk_beta)))
        return st;
    return GPTOSS_OK;
}

/* An optional key duplicating another one must agree with it. */
static gptoss_status same_int(const char *label, const cJSON *j, const char *key, int want, const char *other) {
    if (!has(j, key) || !strcmp(key, other)) return GPTOSS_OK;
    int v;
    gptoss_status st = get_int(label, j, key, key, 1, &v);
    if (st) return st;
    if (v != want)
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: key '%s' = %d contradicts '%s' = %d", label, key, v, other, want);
    return GPTOSS_OK;
}

static gptoss_status parse_hf(const char *label, const cJSON *j, gptoss_config *c) {
    gptoss_status st;
    if ((st = parse_common(label, j, c)) ||
        (st = get_int(label, j, "num_local_experts", "num_local_experts", 1, &c->num_experts)))
        return st;
    /* Hub configs carry both spellings of the top-k; the HF one wins. */
    const char *k = has(j, "num_experts_per_tok") ? "num_experts_per_tok" : "experts_per_token";
    if (!has(j, k)) k = "num_experts_per_tok";
    if ((st = get_int(label, j, k, k, 1, &c->experts_per_token))) return st;
    if ((st = same_int(label, j, "experts_per_token", c->experts_per_token, k))) return st;

    /* rope_scaling (transformers < 5) or rope_parameters (newer, may hold rope_theta) */
    const char *rk = has(j, "rope_scaling") ? "rope_scaling" : "rope_parameters";
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, rk);
    if (!rs) return gptoss_error(GPTOSS_ERR_MISSING, "%s: key 'rope_scaling' is missing", label);
    if (!cJSON_IsObject(rs)) return gptoss_error(GPTOSS_ERR_FORMAT, "%s: key '%s' is not an object", label, rk);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!type) type = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "yarn")))
        return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: key '%s.rope_type' must be \"yarn\"", label, rk);
    char n1[64], n2[64], n3[64], n4[64];
    snprintf(n1, sizeof n1, "%s.factor", rk);
    snprintf(n2, sizeof n2, "%s.beta_fast", rk);
    snprintf(n3, sizeof n3, "%s.beta_slow", rk);
    snprintf(n4, sizeof n4, "%s.original_max_position_embeddings", rk);
    if ((st = get_float(label, rs, "factor", n1, 1, 1, &c->rope_scaling_factor)) ||
        (st = get_float(label, rs, "beta_fast", n2, 0, 0, &c->rope_ntk_beta)) ||
        (st = get_float(label, rs, "beta_slow", n3, 0, 0, &c->rope_ntk_alpha)) ||
        (st = get_int(label, rs, "original_max_position_embeddings", n4, 1, &c->initial_context_length)))
        return st;
    if ((st = same_int(label, j, "initial_context_length", c->initial_context_length, n4))) return st;
    if (has(j, "rope_theta"))
        st = get_float(label, j, "rope_theta", "rope_theta", 0, 0, &c->rope_theta);
    else if (has(rs, "rope_theta")) {
        char n5[64];
        snprintf(n5, sizeof n5, "%s.rope_theta", rk);
        st = get_float(label, rs, "rope_theta", n5, 0, 0, &c->rope_theta);
    } else
        st = gptoss_error(GPTOSS_ERR_MISSING, "%s: key 'rope_theta' is missing", label);
    if (st) return st;

    /* The engine computes the fixed GPT-OSS pattern (gptoss_layer_window). */
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(j, "layer_types");
    if (lt && !cJSON_IsNull(lt)) {
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->num_hidden_layers)
            return gptoss_error(GPTOSS_ERR_FORMAT, "%s: key 'layer_types' is not an array of %d strings", label,
                                c->num_hidden_layers);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, lt) {
            const char *want = gptoss_layer_window(c, i) > 0 ? "sliding_attention" : "full_attention";
            if (!cJSON_IsString(e) || strcmp(e->valuestring, want))
                return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: key 'layer_types[%d]' must be \"%s\"", label, i,
                                    want);
            i++;
        }
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "rms_norm_eps");
    if (eps && (!cJSON_IsNumber(eps) || fabs(eps->valuedouble - 1e-5) > 1e-12))
        return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: key 'rms_norm_eps' must be 1e-05", label);
    return GPTOSS_OK;
}

static gptoss_status check_consistency(const char *label, const gptoss_config *c) {
    if (c->experts_per_token > c->num_experts)
        return gptoss_error(GPTOSS_ERR_RANGE, "%s: experts_per_token (%d) exceeds num_experts (%d)", label,
                            c->experts_per_token, c->num_experts);
    if (c->num_attention_heads % c->num_key_value_heads)
        return gptoss_error(GPTOSS_ERR_RANGE,
                            "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)", label,
                            c->num_attention_heads, c->num_key_value_heads);
    if (c->hidden_size % 32)
        return gptoss_error(GPTOSS_ERR_RANGE, "%s: hidden_size (%d) is not a multiple of 32 (MXFP4 blocks)",
                            label, c->hidden_size);
    if (c->intermediate_size % 32)
        return gptoss_error(GPTOSS_ERR_RANGE,
                            "%s: intermediate_size (%d) is not a multiple of 32 (MXFP4 blocks)", label,
                            c->intermediate_size);
    if (c->head_dim % 2)
        return gptoss_error(GPTOSS_ERR_RANGE, "%s: head_dim (%d) is odd (RoPE rotates pairs)", label,
                            c->head_dim);
    if ((int64_t)c->num_attention_heads * c->head_dim > MAX_DIM)
        return gptoss_error(GPTOSS_ERR_RANGE, "%s: num_attention_heads x head_dim is too large", label);
    return GPTOSS_OK;
}

gptoss_status gptoss_config_parse(const char *label, const char *json, size_t len, gptoss_config *cfg,
                                  int *is_hf) {
    memset(cfg, 0, sizeof *cfg);
    *is_hf = 0;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!j) return gptoss_error(GPTOSS_ERR_FORMAT, "%s: not valid JSON", label);
    int trailing = 0;
    for (const char *p = end; p && p < json + len; p++)
        trailing |= *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r';
    gptoss_status st;
    if (trailing) {
        st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: not valid JSON (trailing bytes)", label);
    } else if (!cJSON_IsObject(j)) {
        st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: not a JSON object", label);
    } else {
        *is_hf = has(j, "num_local_experts") || has(j, "model_type") ||
                 has(j, "rope_scaling") || has(j, "rope_parameters");
        st = *is_hf ? parse_hf(label, j, cfg) : parse_original(label, j, cfg);
        if (st == GPTOSS_OK) st = check_consistency(label, cfg);
    }
    cJSON_Delete(j);
    return st;
}
