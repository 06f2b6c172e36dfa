/* genai.c: the GPT-OSS decoder with a KV cache for onnxruntime-genai (see genai.h).
 *
 * Shapes: N = B*S token rows, H hidden, nh / nkv heads, d head_dim, E experts, I
 * intermediate, V vocab. The residual stream is kept as [N, H]; only attention sees [B, S, .].
 *
 *   x = Gather(W_emb, input_ids)                                       [N, H]
 *   per block l:
 *     t, x = norm(x [+ y])         RMSNormalization first, then SkipSimplifiedLayerNorm
 *     qkv  = Gemm(t, W_qkv^T) + b                                      [N, (nh+2nkv) d]
 *     a, present_k, present_v = GroupQueryAttention(qkv as [B, S, .], past_k, past_v,
 *            seqlens_k, total_sequence_length, cos, sin, head_sink = sinks)
 *     y    = Gemm(a, W_o^T) + b_o
 *     t, x = SkipSimplifiedLayerNorm(x, y)
 *     y    = MoE(t, router logits Gemm(t, W_gate^T) + b_gate, W1, b1, W2, b2)
 *   logits = Gemm(SkipSimplifiedLayerNorm(x, y), W_unemb^T)            [B, S, V]
 *
 * attention_mask gives seqlens_k = sum(mask) - 1 and total_sequence_length = its width, as
 * GroupQueryAttention wants them. */
#include "onnx/genai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "onnx/export.h"
#include "util.h"

#define GENAI_OPSET 23 /* RMSNormalization */
#define NM 160

typedef struct gx {
    ox_graph *g;
    const gptoss_model *m;
    const gptoss_genai_options *o;
    int64_t H, nh, nkv, d, E, k, I, V, ctx;
    int batch_seq;      /* Shape(input_ids): [B, S] */
    int seqlens_k, total_len, cos_cache, sin_cache;
} gx;

static const char *const DIM_BS[2] = {"batch_size", "sequence_length"};
static const char *const DIM_MASK[2] = {"batch_size", "total_sequence_length"};
static const char *const DIM_PAST[4] = {"batch_size", NULL, "past_sequence_length", NULL};
static const char *const DIM_PRESENT[4] = {"batch_size", NULL, "total_sequence_length", NULL};
/* the sliding layers' caches hold only the window: their own lengths */
static const char *const DIM_PAST_SLIDING[4] = {"batch_size", NULL, "past_sliding_length", NULL};
static const char *const DIM_PRESENT_SLIDING[4] = {"batch_size", NULL, "present_sliding_length", NULL};
static const char *const DIM_LOGITS[3] = {"batch_size", "sequence_length", NULL};

/* ---- weights -------------------------------------------------------------------------- */

static int vec(gx *e, const char *name, const float *data, int ndim, const int64_t *dims) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    ox_part p = {.conv = OX_COPY, .src = data, .rows = 1, .cols = n, .stride = n, .elem = 4};
    return ox_weight(e->g, name, OX_FLOAT, ndim, dims, &p, 1);
}

static ox_part mat_part(const gx *e, const gptoss_mat *w) {
    ox_part p = {.conv = OX_COPY, .src = w->data, .rows = w->rows, .cols = w->cols,
                 .stride = w->stride, .elem = gptoss_dtype_size(w->dtype)};
    p.mapped = gptoss_onnx_in_mapping(e->m, w->data, (size_t)(w->rows * w->stride) * p.elem);
    if (w->dtype == GPTOSS_DT_BF16) p.conv = OX_BF16_F32;
    return p;
}

/* Matrices stacked by rows as one fp32 initializer [sum rows, cols]. */
static int mat(gx *e, const char *name, const gptoss_mat *const *ws, int n) {
    ox_part parts[OX_MAX_PARTS];
    int64_t dims[2] = {0, ws[0]->cols};
    for (int i = 0; i < n; i++) {
        parts[i] = mat_part(e, ws[i]);
        dims[0] += ws[i]->rows;
    }
    return ox_weight(e->g, name, OX_FLOAT, 2, dims, parts, n);
}

/* MXFP4 experts [E, rows, cols] decoded to fp32, exactly. */
static int experts_f32(gx *e, const char *name, const gptoss_mxfp4 *q) {
    int64_t G = q->cols / 32;
    int64_t dims[3] = {q->n_experts, q->rows, q->cols};
    ox_part p = {.conv = OX_MXFP4_F32, .src = q->blocks, .scales = q->scales,
                 .rows = q->n_experts * q->rows, .cols = q->cols, .stride = q->cols};
    p.mapped = gptoss_onnx_in_mapping(e->m, q->blocks, (size_t)(p.rows * G * 16)) &&
               gptoss_onnx_in_mapping(e->m, q->scales, (size_t)(p.rows * G));
    return ox_weight(e->g, name, OX_FLOAT, 3, dims, &p, 1);
}

/* MXFP4 experts [E, rows, cols] as QMoE 8-bit weights: codes u8 [E, rows, cols] (128 + 2 x
 * value) and fp32 scales [E, rows, cols/32] (half the block scale), so that (code - 128) x
 * scale is exactly the MXFP4 value. (ONNX Runtime 1.32's CPU QMoE kernel still computes
 * with them approximately: about 1% relative on one node.) */
static void experts_q8(gx *e, const char *name, const gptoss_mxfp4 *q, int *codes, int *scales) {
    int64_t G = q->cols / 32, rows = q->n_experts * q->rows;
    char full[128];
    ox_part pc = {.conv = OX_MXFP4_Q8, .src = q->blocks, .rows = rows, .cols = q->cols, .stride = q->cols};
    pc.mapped = gptoss_onnx_in_mapping(e->m, q->blocks, (size_t)(rows * G * 16));
    snprintf(full, sizeof full, "%s.q8", name);
    *codes = ox_weight(e->g, full, OX_UINT8, 3, (int64_t[]){q->n_experts, q->rows, q->cols}, &pc, 1);
    ox_part ps = {.conv = OX_E8M0_HALF_F32, .src = q->scales, .rows = rows, .cols = G, .stride = G};
    ps.mapped = gptoss_onnx_in_mapping(e->m, q->scales, (size_t)(rows * G));
    snprintf(full, sizeof full, "%s.scales", name);
    *scales = ox_weight(e->g, full, OX_FLOAT, 3, (int64_t[]){q->n_experts, q->rows, G}, &ps, 1);
}

/* ---- node helpers --------------------------------------------------------------------- */

static int op2(gx *e, const char *op, const char *name, int a, int b) {
    ox_node *n = ox_node_new(e->g, op, "%s", name);
    ox_in(n, a);
    ox_in(n, b);
    return ox_out(e->g, n);
}

static int cast(gx *e, const char *name, int x, int to) {
    ox_node *n = ox_node_new(e->g, "Cast", "%s", name);
    ox_in(n, x);
    ox_attr_int(n, "to", to);
    return ox_out(e->g, n);
}

/* y = x W^T + b for the stacked matrices ws, as MatMulNBits 8-bit (blocks of 32) with the
 * bias added after; b may be -1. */
static int linear_q8(gx *e, const char *name, const char *wname, int x, const gptoss_mat *const *ws,
                     int nw, int b) {
    ox_part codes[OX_MAX_PARTS], scales[OX_MAX_PARTS];
    int64_t N = 0, K = ws[0]->cols;
    for (int i = 0; i < nw; i++) {
        const gptoss_mat *w = ws[i];
        codes[i] = (ox_part){.conv = OX_Q8_CODES, .src = w->data, .rows = w->rows, .cols = w->cols,
                             .stride = w->stride, .elem = gptoss_dtype_size(w->dtype)};
        codes[i].mapped = gptoss_onnx_in_mapping(e->m, w->data, (size_t)(w->rows * w->stride) * codes[i].elem);
        scales[i] = codes[i];
        scales[i].conv = OX_Q8_SCALES;
        N += w->rows;
    }
    char full[128], nm[NM];
    snprintf(full, sizeof full, "%s.q8", wname);
    int wq = ox_weight(e->g, full, OX_UINT8, 3, (int64_t[]){N, K / 32, 32}, codes, nw);
    snprintf(full, sizeof full, "%s.scales", wname);
    int ws_ = ox_weight(e->g, full, OX_FLOAT, 2, (int64_t[]){N, K / 32}, scales, nw);
    snprintf(nm, sizeof nm, "%s/matmul", name);
    ox_node *n = ox_node_new(e->g, "MatMulNBits", "%s", nm);
    n->domain = OX_MS_DOMAIN;
    ox_in(n, x);
    ox_in(n, wq);
    ox_in(n, ws_);
    ox_attr_int(n, "K", K);
    ox_attr_int(n, "N", N);
    ox_attr_int(n, "bits", 8);
    ox_attr_int(n, "block_size", 32);
    ox_attr_int(n, "accuracy_level", 4);
    int y = ox_out(e->g, n);
    if (b < 0) return y;
    snprintf(nm, sizeof nm, "%s/bias", name);
    return op2(e, "Add", nm, y, b);
}

/* y = x W^T + b (b may be -1) */
/* x [N, C] -> [B, S, C] */
static int to_bsc(gx *e, const char *name, int x, int64_t c) {
    char nm[NM];
    snprintf(nm, sizeof nm, "%s/shape", name);
    ox_node *n = ox_node_new(e->g, "Concat", "%s", nm);
    ox_in(n, e->batch_seq);
    ox_in(n, ox_const_i64(e->g, 1, &c));
    ox_attr_int(n, "axis", 0);
    int shape = ox_out(e->g, n);
    return op2(e, "Reshape", name, x, shape);
}

/* The normalized input of a sublayer: RMSNorm(x) when nothing is pending (y < 0), else
 * SkipSimplifiedLayerNorm(x, y), which also returns the new residual x + y in *x. */
static int norm(gx *e, const char *name, int *x, int y, const char *wname, const float *scale) {
    int w = vec(e, wname, scale, 1, &e->H);
    float eps = 1e-5f;
    if (y < 0) {
        ox_node *n = ox_node_new(e->g, "RMSNormalization", "%s", name);
        ox_in(n, *x);
        ox_in(n, w);
        ox_attr_int(n, "axis", -1);
        ox_attr_float(n, "epsilon", eps);
        return ox_out(e->g, n);
    }
    ox_node *n = ox_node_new(e->g, "SkipSimplifiedLayerNormalization", "%s", name);
    n->domain = OX_MS_DOMAIN;
    ox_in(n, *x);
    ox_in(n, y);
    ox_in(n, w);
    ox_attr_float(n, "epsilon", eps);
    int out = ox_out(e->g, n);
    ox_out_none(n); /* mean */
    ox_out_none(n); /* inv_std_var */
    *x = ox_out(e->g, n); /* input + skip */
    return out;
}

/* ---- the graph ------------------------------------------------------------------------ */

static void attention_mask_inputs(gx *e, int mask) {
    int64_t one = 1;
    ox_node *n = ox_node_new(e->g, "ReduceSum", "/attention_mask/sum");
    ox_in(n, mask);
    ox_in(n, ox_const_i64(e->g, 1, &one));
    ox_attr_int(n, "keepdims", 0);
    int sum = ox_out(e->g, n);
    int last = op2(e, "Sub", "/attention_mask/last", sum, ox_scalar_i64(e->g, 1));
    e->seqlens_k = cast(e, "/attention_mask/seqlens_k", last, OX_INT32);
    n = ox_node_new(e->g, "Shape", "/attention_mask/shape");
    ox_in(n, mask);
    int shape = ox_out(e->g, n);
    int width = op2(e, "Gather", "/attention_mask/width", shape, ox_scalar_i64(e->g, 1));
    e->total_len = cast(e, "/attention_mask/total_sequence_length", width, OX_INT32);
}

static int rope_caches(gx *e) {
    size_t n = (size_t)(e->ctx * e->d / 2);
    float *c = malloc(n * sizeof(float)), *s = malloc(n * sizeof(float));
    if (!c || !s) {
        free(c);
        free(s);
        return -1;
    }
    rope_table(&e->m->cfg, (int)e->ctx, c, s);
    int64_t dims[2] = {e->ctx, e->d / 2};
    e->cos_cache = ox_const_f32(e->g, "rope.cos_cache", 2, dims, c);
    e->sin_cache = ox_const_f32(e->g, "rope.sin_cache", 2, dims, s);
    free(c);
    free(s);
    return 0;
}

/* Whether block l attends within the sliding window (even blocks, as the reference). */
static int sliding(const gx *e, int l) { return gptoss_layer_window(&e->m->cfg, l) > 0; }

static int attention(gx *e, int l, int t, int past_k, int past_v, int *present_k, int *present_v) {
    const gptoss_block *b = &e->m->blocks[l];
    char nm[NM], wn[96];
    int64_t nq = e->nh * e->d, nk = e->nkv * e->d, nqkv = nq + 2 * nk;
    const gptoss_mat *ws[3] = {&b->wq, &b->wk, &b->wv};
    int q8 = e->o->weights == GPTOSS_GENAI_INT8;
    snprintf(wn, sizeof wn, "block%d.attn.qkv.weight", l);
    int w = q8 ? -1 : mat(e, wn, ws, 3);
    ox_part bp[3] = {
        {.conv = OX_COPY, .src = b->bq, .rows = 1, .cols = nq, .stride = nq, .elem = 4},
        {.conv = OX_COPY, .src = b->bk, .rows = 1, .cols = nk, .stride = nk, .elem = 4},
        {.conv = OX_COPY, .src = b->bv, .rows = 1, .cols = nk, .stride = nk, .elem = 4},
    };
    snprintf(wn, sizeof wn, "block%d.attn.qkv.bias", l);
    int bias = ox_weight(e->g, wn, OX_FLOAT, 1, &nqkv, bp, 3);
    snprintf(nm, sizeof nm, "/block%d/attn/qkv", l);
    int qkv = q8 ? linear_q8(e, nm, wn, t, ws, 3, bias) : ox_linear(e->g, nm, t, w, bias);
    snprintf(nm, sizeof nm, "/block%d/attn/qkv_bsc", l);
    qkv = to_bsc(e, nm, qkv, nqkv);

    snprintf(wn, sizeof wn, "block%d.attn.sinks", l);
    int sinks = vec(e, wn, b->sinks, 1, &e->nh);
    snprintf(nm, sizeof nm, "/block%d/attn/gqa", l);
    ox_node *n = ox_node_new(e->g, "GroupQueryAttention", "%s", nm);
    n->domain = OX_MS_DOMAIN;
    int ins[12] = {qkv, -1, -1, past_k, past_v, e->seqlens_k, e->total_len, e->cos_cache,
                   e->sin_cache, -1, -1, sinks};
    for (int i = 0; i < 12; i++) ox_in(n, ins[i]);
    ox_attr_int(n, "num_heads", e->nh);
    ox_attr_int(n, "kv_num_heads", e->nkv);
    ox_attr_int(n, "do_rotary", 1);
    ox_attr_int(n, "rotary_interleaved", 0);
    ox_attr_int(n, "local_window_size", sliding(e, l) ? e->m->cfg.sliding_window : -1);
    /* window-sized cache buffers on the sliding layers (onnxruntime-genai sizes them from
     * genai_config.json's sliding_window block) */
    if (sliding(e, l)) ox_attr_int(n, "sliding_window_cache", 1);
    int a = ox_out(e->g, n);
    *present_k = ox_out(e->g, n);
    *present_v = ox_out(e->g, n);
    int64_t flat[2] = {-1, nq};
    snprintf(nm, sizeof nm, "/block%d/attn/heads_flat", l);
    a = op2(e, "Reshape", nm, a, ox_const_i64(e->g, 2, flat));

    const gptoss_mat *wo[1] = {&b->wo};
    char bn[96];
    snprintf(bn, sizeof bn, "block%d.attn.out.bias", l);
    bias = vec(e, bn, b->bo, 1, &e->H);
    snprintf(wn, sizeof wn, "block%d.attn.out.weight", l);
    snprintf(nm, sizeof nm, "/block%d/attn/out", l);
    if (q8) return linear_q8(e, nm, wn, a, wo, 1, bias);
    return ox_linear(e->g, nm, a, mat(e, wn, wo, 1), bias);
}

static int moe(gx *e, int l, int t) {
    const gptoss_block *b = &e->m->blocks[l];
    char nm[NM], wn[96];
    const gptoss_mat *wg[1] = {&b->wgate};
    snprintf(wn, sizeof wn, "block%d.mlp.gate.weight", l);
    int w = mat(e, wn, wg, 1);
    snprintf(wn, sizeof wn, "block%d.mlp.gate.bias", l);
    int bias = vec(e, wn, b->bgate, 1, &e->E);
    snprintf(nm, sizeof nm, "/block%d/mlp/gate", l);
    int router = ox_linear(e->g, nm, t, w, bias);

    int q8 = e->o->weights == GPTOSS_GENAI_INT8;
    int w1, s1 = -1, w2, s2 = -1;
    snprintf(wn, sizeof wn, "block%d.mlp.mlp1_weight", l);
    if (q8) experts_q8(e, wn, &b->mlp1, &w1, &s1);
    else w1 = experts_f32(e, wn, &b->mlp1);
    snprintf(wn, sizeof wn, "block%d.mlp.mlp1_bias", l);
    int b1 = vec(e, wn, b->b1, 2, (int64_t[]){e->E, 2 * e->I});
    snprintf(wn, sizeof wn, "block%d.mlp.mlp2_weight", l);
    if (q8) experts_q8(e, wn, &b->mlp2, &w2, &s2);
    else w2 = experts_f32(e, wn, &b->mlp2);
    snprintf(wn, sizeof wn, "block%d.mlp.mlp2_bias", l);
    int b2 = vec(e, wn, b->b2, 2, (int64_t[]){e->E, e->H});

    snprintf(nm, sizeof nm, q8 ? "/block%d/mlp/qmoe" : "/block%d/mlp/moe", l);
    ox_node *n = ox_node_new(e->g, q8 ? "QMoE" : "MoE", "%s", nm);
    n->domain = OX_MS_DOMAIN;
    if (q8) {
        int ins[8] = {t, router, w1, s1, b1, w2, s2, b2};
        for (int i = 0; i < 8; i++) ox_in(n, ins[i]);
        ox_attr_int(n, "expert_weight_bits", 8);
        ox_attr_int(n, "block_size", 32);
    } else {
        int ins[6] = {t, router, w1, b1, w2, b2};
        for (int i = 0; i < 6; i++) ox_in(n, ins[i]);
    }
    ox_attr_int(n, "k", e->k);
    ox_attr_string(n, "activation_type", "swiglu");
    ox_attr_int(n, "swiglu_fusion", 1); /* interleaved: glu at even rows, linear at odd */
    ox_attr_float(n, "activation_alpha", 1.702f);
    ox_attr_float(n, "activation_beta", 1.0f);
    ox_attr_float(n, "swiglu_limit", e->m->cfg.swiglu_limit);
    ox_attr_int(n, "normalize_routing_weights", 1);
    return ox_out(e->g, n);
}

static gptoss_status build(gx *e) {
    const gptoss_model *m = e->m;
    int ids = ox_input_sym(e->g, "input_ids", OX_INT64, 2, (int64_t[]){0, 0}, DIM_BS);
    int mask = ox_input_sym(e->g, "attention_mask", OX_INT64, 2, (int64_t[]){0, 0}, DIM_MASK);
    int64_t kvd[4] = {0, e->nkv, 0, e->d};
    int past[2 * 256];
    if (m->n_layers > 256) return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: over 256 blocks", m->dir);
    for (int l = 0; l < m->n_layers; l++) {
        char nm[64];
        snprintf(nm, sizeof nm, "past_key_values.%d.key", l);
        const char *const *dims = sliding(e, l) ? DIM_PAST_SLIDING : DIM_PAST;
        past[2 * l] = ox_input_sym(e->g, nm, OX_FLOAT, 4, kvd, dims);
        snprintf(nm, sizeof nm, "past_key_values.%d.value", l);
        past[2 * l + 1] = ox_input_sym(e->g, nm, OX_FLOAT, 4, kvd, dims);
    }
    ox_node *n = ox_node_new(e->g, "Shape", "/input_ids/shape");
    ox_in(n, ids);
    e->batch_seq = ox_out(e->g, n);
    attention_mask_inputs(e, mask);
    if (rope_caches(e)) return gptoss_error(GPTOSS_ERR_NOMEM, "export-onnx: out of memory");

    const gptoss_mat *we[1] = {&m->embedding};
    int emb = mat(e, "embedding.weight", we, 1);
    int64_t flat = -1;
    int ids_flat = op2(e, "Reshape", "/embedding/ids_flat", ids, ox_const_i64(e->g, 1, &flat));
    int x = op2(e, "Gather", "/embedding/gather", emb, ids_flat);

    int y = -1;
    int presents[2 * 256];
    for (int l = 0; l < m->n_layers; l++) {
        const gptoss_block *b = &m->blocks[l];
        char nm[NM], wn[96];
        snprintf(nm, sizeof nm, "/block%d/attn/norm", l);
        snprintf(wn, sizeof wn, "block%d.attn.norm.scale", l);
        int t = norm(e, nm, &x, y, wn, b->attn_norm);
        y = attention(e, l, t, past[2 * l], past[2 * l + 1], &presents[2 * l], &presents[2 * l + 1]);
        snprintf(nm, sizeof nm, "/block%d/mlp/norm", l);
        snprintf(wn, sizeof wn, "block%d.mlp.norm.scale", l);
        t = norm(e, nm, &x, y, wn, b->mlp_norm);
        y = moe(e, l, t);
    }
    int t = norm(e, "/final/norm", &x, y, "norm.scale", m->norm);
    const gptoss_mat *wu[1] = {&m->unembedding};
    int logits = e->o->weights == GPTOSS_GENAI_INT8
                     ? linear_q8(e, "/unembedding", "unembedding.weight", t, wu, 1, -1)
                     : ox_linear(e->g, "/unembedding", t, mat(e, "unembedding.weight", wu, 1), -1);
    logits = to_bsc(e, "/logits", logits, e->V);
    ox_output_sym(e->g, logits, "logits", OX_FLOAT, 3, (int64_t[]){0, 0, e->V}, DIM_LOGITS);
    for (int l = 0; l < m->n_layers; l++) {
        char nm[64];
        const char *const *dims = sliding(e, l) ? DIM_PRESENT_SLIDING : DIM_PRESENT;
        snprintf(nm, sizeof nm, "present.%d.key", l);
        ox_output_sym(e->g, presents[2 * l], nm, OX_FLOAT, 4, kvd, dims);
        snprintf(nm, sizeof nm, "present.%d.value", l);
        ox_output_sym(e->g, presents[2 * l + 1], nm, OX_FLOAT, 4, kvd, dims);
    }
    return GPTOSS_OK;
}

/* ---- genai_config.json ---------------------------------------------------------------- */

static int write_config(FILE *f, const gx *e) {
    const gptoss_config *c = &e->m->cfg;
    fprintf(f,
            "{\n"
            "  \"model\": {\n"
            "    \"bos_token_id\": 199998,\n"
            "    \"context_length\": %lld,\n"
            "    \"decoder\": {\n"
            "      \"session_options\": {\"log_id\": \"onnxruntime-genai\", \"provider_options\": []},\n"
            "      \"filename\": \"model.onnx\",\n"
            "      \"head_size\": %lld,\n"
            "      \"hidden_size\": %lld,\n"
            "      \"inputs\": {\n"
            "        \"input_ids\": \"input_ids\",\n"
            "        \"attention_mask\": \"attention_mask\",\n"
            "        \"past_key_names\": \"past_key_values.%%d.key\",\n"
            "        \"past_value_names\": \"past_key_values.%%d.value\"\n"
            "      },\n"
            "      \"outputs\": {\n"
            "        \"logits\": \"logits\",\n"
            "        \"present_key_names\": \"present.%%d.key\",\n"
            "        \"present_value_names\": \"present.%%d.value\"\n"
            "      },\n"
            "      \"num_attention_heads\": %lld,\n"
            "      \"num_hidden_layers\": %d,\n"
            "      \"num_key_value_heads\": %lld%s\n",
            (long long)e->ctx, (long long)e->d, (long long)e->H, (long long)e->nh, e->m->n_layers,
            (long long)e->nkv, c->sliding_window > 0 ? "," : "");
    if (c->sliding_window > 0) {
        fprintf(f, "      \"sliding_window\": {\"window_size\": %d, \"slide_key_value_cache\": false, "
                   "\"slide_inputs\": false, \"cache_slack\": 0, \"layers\": [", c->sliding_window);
        for (int l = 0, first = 1; l < e->m->n_layers; l++)
            if (sliding(e, l)) {
                fprintf(f, "%s%d", first ? "" : ", ", l);
                first = 0;
            }
        fprintf(f, "]}\n");
    }
    fprintf(f,
            "    },\n"
            "    \"eos_token_id\": [200002, 199999, 200012],\n"
            "    \"pad_token_id\": 199999,\n"
            "    \"type\": \"gptoss\",\n"
            "    \"vocab_size\": %lld\n"
            "  },\n",
            (long long)e->V);
    /* gpt-oss's generation_config.json: sampling at temperature 1 */
    fprintf(f,
            "  \"search\": {\n"
            "    \"diversity_penalty\": 0.0,\n"
            "    \"do_sample\": true,\n"
            "    \"early_stopping\": true,\n"
            "    \"length_penalty\": 1.0,\n"
            "    \"max_length\": %lld,\n"
            "    \"min_length\": 0,\n"
            "    \"no_repeat_ngram_size\": 0,\n"
            "    \"num_beams\": 1,\n"
            "    \"num_return_sequences\": 1,\n"
            "    \"past_present_share_buffer\": true,\n"
            "    \"repetition_penalty\": 1.0,\n"
            "    \"temperature\": 1.0,\n"
            "    \"top_k\": 50,\n"
            "    \"top_p\": 1.0\n"
            "  }\n"
            "}\n",
            (long long)e->ctx);
    return ferror(f) ? -1 : 0;
}

static gptoss_status write_genai_config(const gx *e, const char *dir) {
    char *path = gptoss_path_join(dir, "genai_config.json");
    if (!path) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
    gptoss_atomic_file af = {0};
    gptoss_status st = gptoss_atomic_open(&af, path);
    if (st == GPTOSS_OK) {
        if (write_config(af.f, e)) {
            gptoss_atomic_abort(&af);
            st = gptoss_error(GPTOSS_ERR_IO, "%s: write failed", path);
        } else {
            st = gptoss_atomic_commit(&af);
        }
    }
    free(path);
    return st;
}

/* ---- the folder ----------------------------------------------------------------------- */

static gptoss_status write_model(gx *e, const char *tmp, ox_stats *stats) {
    gptoss_status st = build(e);
    if (st != GPTOSS_OK) return st;
    char *path = gptoss_path_join(tmp, "model.onnx");
    if (!path) return gptoss_error(GPTOSS_ERR_NOMEM, "export-onnx: out of memory");
    char layers[32], doc[256];
    snprintf(layers, sizeof layers, "%d", e->m->n_layers);
    snprintf(doc, sizeof doc,
             "GPT-OSS decoder with a KV cache for onnxruntime-genai (%d of %d blocks, %d experts, top-%d).",
             e->m->n_layers, e->m->cfg.num_hidden_layers, e->m->cfg.num_experts, e->m->cfg.experts_per_token);
    const char *meta[] = {"gptoss.target", "genai", "gptoss.num_layers", layers, "gptoss.weights",
                          e->o->weights == GPTOSS_GENAI_INT8 ? "int8" : "fp32",
                          "gptoss.checkpoint_layout", e->m->layout, NULL};
    ox_write_options w = {.opset = GENAI_OPSET, .ir_version = gptoss_onnx_ir_version(GENAI_OPSET),
                          .producer_name = "gptoss", .producer_version = gptoss_version(),
                          .graph_name = "gpt_oss_decoder", .doc = doc, .external_threshold = 1024,
                          .metadata = meta, .first_output = "logits", .progress = e->o->progress};
    st = ox_graph_write(e->g, path, &w);
    if (st == GPTOSS_OK && stats) *stats = *ox_graph_stats(e->g);
    free(path);
    return st;
}

static gptoss_status write_tokenizer(const gx *e, const char *tmp) {
    gptoss_tokenizer *tok = NULL;
    gptoss_status st = gptoss_tokenizer_open(NULL, &tok);
    if (st != GPTOSS_OK) return st;
    st = gptoss_tokenizer_write_hf(tok, tmp, e->ctx);
    gptoss_tokenizer_close(tok);
    return st;
}

gptoss_status gptoss_export_genai(const gptoss_model *m, const char *dir,
                                  const gptoss_genai_options *opts, ox_stats *stats) {
    const gptoss_config *c = &m->cfg;
    struct stat sb;
    if (stat(dir, &sb) == 0)
        return gptoss_error(GPTOSS_ERR_ARG, "%s: already exists (%s); choose a new folder", dir,
                            S_ISDIR(sb.st_mode) ? "a folder" : "a file");
    if (c->head_dim % 16 || c->num_attention_heads % c->num_key_value_heads || c->hidden_size % 32 ||
        c->intermediate_size % 32)
        return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: config shapes not exportable for onnxruntime-genai", m->dir);
    if (opts->weights != GPTOSS_GENAI_FP32 && opts->weights != GPTOSS_GENAI_INT8)
        return gptoss_error(GPTOSS_ERR_ARG, "--weights: unknown weight format");
    int64_t ctx = opts->context_length;
    if (!ctx) ctx = (int64_t)((double)c->initial_context_length * (c->rope_scaling_factor > 1 ? c->rope_scaling_factor : 1));
    if (ctx < 1 || ctx > (1 << 24))
        return gptoss_error(GPTOSS_ERR_ARG, "--context-length %lld: out of range", (long long)ctx);
    gx e = {.m = m, .o = opts, .H = c->hidden_size, .nh = c->num_attention_heads,
            .nkv = c->num_key_value_heads, .d = c->head_dim, .E = c->num_experts,
            .k = c->experts_per_token, .I = c->intermediate_size, .V = c->vocab_size, .ctx = ctx};
    char *tmp = NULL;
    gptoss_status st = gptoss_atomic_dir_begin(dir, &tmp);
    if (st != GPTOSS_OK) return st;
    e.g = ox_graph_new();
    if (!e.g) st = gptoss_error(GPTOSS_ERR_NOMEM, "export-onnx: out of memory");
    if (st == GPTOSS_OK) st = write_tokenizer(&e, tmp);
    if (st == GPTOSS_OK) st = write_genai_config(&e, tmp);
    if (st == GPTOSS_OK) st = write_model(&e, tmp, stats);
    ox_graph_free(e.g);
    if (st == GPTOSS_OK && stat(dir, &sb) == 0)
        st = gptoss_error(GPTOSS_ERR_IO, "%s: appeared during the export; left as it is", dir);
    if (st == GPTOSS_OK) st = gptoss_atomic_dir_commit(tmp, dir);
    if (st != GPTOSS_OK) gptoss_atomic_dir_abort(tmp);
    free(tmp);
    return st;
}
