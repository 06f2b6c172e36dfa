/* export.c: the GPT-OSS forward pass (docs: the model, exactly) as an ONNX graph.
 *
 * Shapes below: S tokens, H hidden, nh query heads, nkv kv heads, g = nh/nkv, d head_dim,
 * E experts, k experts per token, I intermediate, V vocab.
 *
 *   embedding   Gather(W_emb, input_ids)                                  [S, H]
 *   per block   attention (pre-norm, sinks, causal / sliding window) + residual,
 *               mixture of experts (pre-norm, top-k, softmax over the k, clamped SwiGLU)
 *               + residual
 *   final       RMSNorm, Gemm with W_unemb (transB)                       [S, V]
 *
 * Attention is written out with MatMul/Softmax: the sink logit of each head is appended as
 * one extra column of the scores before the softmax and dropped after it, exactly as the
 * reference does. The MoE is computed densely: every expert runs on every token and the
 * expert outputs are summed with the routing weights scattered over E (zero for experts not
 * selected), which is the same sum as over the k selected experts. RoPE (with YaRN) uses
 * cos/sin tables computed here at export, as the reference computes them. */
#include "onnx/export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

typedef struct ex {
    ox_graph *g;
    const gptoss_model *m;
    const gptoss_onnx_options *o;
    int64_t S, H, nh, nkv, grp, d, E, k, I, V;
    int opset;
    /* shared constants (value ids, created on first use) */
    int rope_cos, rope_sin, mask_causal, mask_sliding;
    int fp4_pairs, fp4_scale;
} ex;

#define NAME_MAX_LEN 160

/* ONNX Runtime folds constant subgraphs (the BF16 casts, the MXFP4 decoding) once at load,
 * but only when each folded tensor stays under about 1 GiB; a larger one would be
 * recomputed at every run. Weights whose fp32 form is larger are therefore split into
 * parts of at most this many bytes (experts by expert, the unembedding by vocabulary rows),
 * each with its own MatMul / Gemm, and the (small) results concatenated. */
#define FOLD_LIMIT ((int64_t)768 << 20)

/* The largest divisor of n whose parts of `bytes` each stay within FOLD_LIMIT (at least 1). */
static int64_t part_size(int64_t n, int64_t bytes) {
    for (int64_t d = n; d > 1; d--)
        if (n % d == 0 && d * bytes <= FOLD_LIMIT && n / d <= OX_MAX_IO) return d;
    return 1;
}

int gptoss_onnx_ir_version(int opset) {
    static const int ir[] = {8, 8, 9, 9, 10, 10, 11, 12, 13, 13}; /* opsets 17 .. 26 */
    if (opset < GPTOSS_ONNX_MIN_OPSET || opset > GPTOSS_ONNX_MAX_OPSET) return 0;
    return ir[opset - GPTOSS_ONNX_MIN_OPSET];
}

/* ---- small node helpers ------------------------------------------------------------- */

static int op1(ex *e, const char *op, const char *name, int a) {
    ox_node *n = ox_node_new(e->g, op, "%s", name);
    ox_in(n, a);
    return ox_out(e->g, n);
}

static int op2(ex *e, const char *op, const char *name, int a, int b) {
    ox_node *n = ox_node_new(e->g, op, "%s", name);
    ox_in(n, a);
    ox_in(n, b);
    return ox_out(e->g, n);
}

static int reshape(ex *e, const char *name, int x, int ndim, const int64_t *dims) {
    return op2(e, "Reshape", name, x, ox_const_i64(e->g, ndim, dims));
}

static int transpose(ex *e, const char *name, int x, int ndim, const int64_t *perm) {
    ox_node *n = ox_node_new(e->g, "Transpose", "%s", name);
    ox_in(n, x);
    ox_attr_ints(n, "perm", ndim, perm);
    return ox_out(e->g, n);
}

static int unsqueeze(ex *e, const char *name, int x, int64_t axis) {
    return op2(e, "Unsqueeze", name, x, ox_const_i64(e->g, 1, &axis));
}

static int cast(ex *e, const char *name, int x, int to) {
    ox_node *n = ox_node_new(e->g, "Cast", "%s", name);
    ox_in(n, x);
    ox_attr_int(n, "to", to);
    return ox_out(e->g, n);
}

/* Slice along one axis: [start, end) with step. */
static int slice_axis(ex *e, const char *name, int x, int64_t axis, int64_t start, int64_t end, int64_t step) {
    ox_node *n = ox_node_new(e->g, "Slice", "%s", name);
    ox_in(n, x);
    ox_in(n, ox_const_i64(e->g, 1, &start));
    ox_in(n, ox_const_i64(e->g, 1, &end));
    ox_in(n, ox_const_i64(e->g, 1, &axis));
    ox_in(n, ox_const_i64(e->g, 1, &step));
    return ox_out(e->g, n);
}

static void name_of(char *buf, const char *prefix, const char *what) {
    if (snprintf(buf, NAME_MAX_LEN, "%s/%s", prefix, what) >= NAME_MAX_LEN) buf[NAME_MAX_LEN - 1] = 0;
}

/* ---- weights ------------------------------------------------------------------------- */

/* A fp32 vector owned by the model, as an initializer of the given shape. */
static int vec(ex *e, const char *name, const float *data, int ndim, const int64_t *dims) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    ox_part p = {.conv = OX_COPY, .src = data, .rows = 1, .cols = n, .stride = n, .elem = 4};
    return ox_weight(e->g, name, OX_FLOAT, ndim, dims, &p, 1);
}

int gptoss_onnx_in_mapping(const gptoss_model *m, const void *p, size_t n) {
    for (size_t i = 0; i < m->n_files; i++) {
        const st_file *f = m->files[i];
        if ((const uint8_t *)p >= f->map && (const uint8_t *)p + n <= f->map + f->size) return 1;
    }
    return 0;
}

static int in_mapping(const ex *e, const void *p, size_t n) { return gptoss_onnx_in_mapping(e->m, p, n); }

static ox_part mat_part(const ex *e, const gptoss_mat *w) {
    ox_part p = {.conv = OX_COPY, .src = w->data, .rows = w->rows, .cols = w->cols,
                 .stride = w->stride, .elem = gptoss_dtype_size(w->dtype)};
    p.mapped = in_mapping(e, w->data, (size_t)(w->rows * w->stride) * p.elem);
    if (w->dtype == GPTOSS_DT_BF16 && !e->o->packed_weights) p.conv = OX_BF16_F32;
    return p;
}

/* Matrices stacked by rows ([sum rows, cols]) as one initializer; returns a float value
 * (through a Cast when stored as bf16). */
static int mat(ex *e, const char *prefix, const char *name, const gptoss_mat *const *ws, int n) {
    ox_part parts[OX_MAX_PARTS];
    int64_t dims[2] = {0, ws[0]->cols};
    for (int i = 0; i < n; i++) {
        parts[i] = mat_part(e, ws[i]);
        dims[0] += ws[i]->rows;
    }
    int bf16 = ws[0]->dtype == GPTOSS_DT_BF16 && e->o->packed_weights;
    int w = ox_weight(e->g, name, bf16 ? OX_BFLOAT16 : OX_FLOAT, 2, dims, parts, n);
    if (!bf16) return w;
    char nm[NAME_MAX_LEN];
    name_of(nm, prefix, "weight_cast");
    return cast(e, nm, w, OX_FLOAT);
}

/* y = x W^T + b as one Gemm node named prefix; b may be NULL. */
/* MXFP4 experts [E, R, C] as a float value: packed codes decoded in the graph, or fp32
 * decoded here. */
static int experts(ex *e, const char *prefix, const char *name, const gptoss_mxfp4 *q) {
    int64_t G = q->cols / 32;
    int64_t dims[3] = {q->n_experts, q->rows, q->cols};
    if (!e->o->packed_weights) {
        ox_part p = {.conv = OX_MXFP4_F32, .src = q->blocks, .scales = q->scales,
                     .rows = q->n_experts * q->rows, .cols = q->cols, .stride = q->cols};
        p.mapped = in_mapping(e, q->blocks, (size_t)(p.rows * G * 16)) &&
                   in_mapping(e, q->scales, (size_t)(p.rows * G));
        return ox_weight(e->g, name, OX_FLOAT, 3, dims, &p, 1);
    }
    char nm[NAME_MAX_LEN], full[NAME_MAX_LEN];
    int64_t bdims[4] = {q->n_experts, q->rows, G, 16}, sdims[3] = {q->n_experts, q->rows, G};
    ox_part pb = {.conv = OX_COPY, .src = q->blocks, .rows = 1, .cols = q->n_experts * q->rows * G * 16,
                  .elem = 1};
    pb.stride = pb.cols;
    ox_part ps = {.conv = OX_COPY, .src = q->scales, .rows = 1, .cols = q->n_experts * q->rows * G, .elem = 1};
    ps.stride = ps.cols;
    pb.mapped = in_mapping(e, q->blocks, (size_t)pb.cols);
    ps.mapped = in_mapping(e, q->scales, (size_t)ps.cols);
    snprintf(full, sizeof full, "%s.blocks", name);
    int blocks = ox_weight(e->g, full, OX_UINT8, 4, bdims, &pb, 1);
    snprintf(full, sizeof full, "%s.scales", name);
    int scales = ox_weight(e->g, full, OX_UINT8, 3, sdims, &ps, 1);
    if (e->fp4_pairs < 0) {
        /* byte -> 2x the values of its low and high nibble; scale byte -> 2^(byte - 128).
         * The product is FP4 * 2^(scale - 127), exact for every scale 0..254 as in the
         * official loader, and for 255 (where 2^128 is not a float) it rounds as the loader
         * does: 0 stays 0, +-0.5 gives +-2^127, larger values +-inf. */
        float pairs[256][2], sc[256];
        for (int v = 0; v < 256; v++) {
            pairs[v][0] = 2.0f * gptoss_fp4_values[v & 15];
            pairs[v][1] = 2.0f * gptoss_fp4_values[v >> 4];
            sc[v] = ldexpf(1.0f, v - 128);
        }
        int64_t pdims[2] = {256, 2}, n256 = 256;
        e->fp4_pairs = ox_const_f32(e->g, "mxfp4.nibble_values", 2, pdims, &pairs[0][0]);
        e->fp4_scale = ox_const_f32(e->g, "mxfp4.scale_values", 1, &n256, sc);
    }
    name_of(nm, prefix, "codes");
    int codes = cast(e, nm, blocks, OX_INT32);
    name_of(nm, prefix, "nibbles");
    int vals = op2(e, "Gather", nm, e->fp4_pairs, codes); /* [E, R, G, 16, 2] */
    name_of(nm, prefix, "exponents");
    int ex_ = cast(e, nm, scales, OX_INT32);
    name_of(nm, prefix, "scales");
    int sc = op2(e, "Gather", nm, e->fp4_scale, ex_);
    name_of(nm, prefix, "scales_reshape");
    sc = reshape(e, nm, sc, 5, (int64_t[]){q->n_experts, q->rows, G, 1, 1});
    name_of(nm, prefix, "scaled");
    vals = op2(e, "Mul", nm, vals, sc);
    name_of(nm, prefix, "weight");
    return reshape(e, nm, vals, 3, dims);
}

/* ---- tables --------------------------------------------------------------------------- */

/* RoPE with YaRN: the engine's tables (rope_table, computed as the reference does), laid
 * out [S, 1, d] as cos = [c, c], sin = [-s, s], so that rope(x) = x*cos + rotate_half(x)*sin
 * with rotate_half(x) = [x2, x1] gives x1*c - x2*s and x2*c + x1*s. */
static int rope_tables(const gptoss_config *c, int64_t S, float *cosv, float *sinv) {
    int half = c->head_dim / 2;
    float *ct = malloc((size_t)(S * half) * sizeof(float)), *st = malloc((size_t)(S * half) * sizeof(float));
    if (!ct || !st) {
        free(ct);
        free(st);
        return -1;
    }
    rope_table(c, (int)S, ct, st);
    for (int64_t t = 0; t < S; t++)
        for (int i = 0; i < half; i++) {
            float cs = ct[t * half + i], sn = st[t * half + i];
            cosv[t * 2 * half + i] = cs;
            cosv[t * 2 * half + half + i] = cs;
            sinv[t * 2 * half + i] = -sn;
            sinv[t * 2 * half + half + i] = sn;
        }
    free(ct);
    free(st);
    return 0;
}

static int make_tables(ex *e) {
    size_t n = (size_t)(e->S * e->d);
    float *cosv = calloc(n, sizeof(float)), *sinv = calloc(n, sizeof(float));
    float *causal = malloc((size_t)(e->S * e->S) * sizeof(float));
    float *sliding = malloc((size_t)(e->S * e->S) * sizeof(float));
    int ok = cosv && sinv && causal && sliding && rope_tables(&e->m->cfg, e->S, cosv, sinv) == 0;
    if (ok) {
        int64_t W = e->m->cfg.sliding_window;
        for (int64_t i = 0; i < e->S; i++)
            for (int64_t j = 0; j < e->S; j++) {
                causal[i * e->S + j] = j <= i ? 0.0f : -INFINITY;
                sliding[i * e->S + j] = (j <= i && j > i - W) ? 0.0f : -INFINITY;
            }
        int64_t tdims[3] = {e->S, 1, e->d}, mdims[2] = {e->S, e->S};
        e->rope_cos = ox_const_f32(e->g, "rope.cos", 3, tdims, cosv);
        e->rope_sin = ox_const_f32(e->g, "rope.sin", 3, tdims, sinv);
        e->mask_causal = ox_const_f32(e->g, "attention.mask.causal", 2, mdims, causal);
        e->mask_sliding = ox_const_f32(e->g, "attention.mask.sliding_window", 2, mdims, sliding);
    }
    free(cosv);
    free(sinv);
    free(causal);
    free(sliding);
    return ok ? 0 : -1;
}

/* ---- layers -------------------------------------------------------------------------- */

/* y = x * 1/sqrt(mean(x^2) + 1e-5) * scale over the last axis; the mean of squares in
 * float64, rounded once to fp32 (as the engine does: no summation-order noise). */
static int rmsnorm(ex *e, const char *prefix, int x, int scale) {
    char nm[NAME_MAX_LEN];
    name_of(nm, prefix, "to_double");
    int xd = cast(e, nm, x, OX_DOUBLE);
    name_of(nm, prefix, "square");
    int sq = op2(e, "Mul", nm, xd, xd);
    name_of(nm, prefix, "mean");
    int64_t axis = -1;
    ox_node *n = ox_node_new(e->g, "ReduceMean", "%s", nm);
    ox_in(n, sq);
    if (e->opset >= 18) ox_in(n, ox_const_i64(e->g, 1, &axis));
    else ox_attr_ints(n, "axes", 1, &axis);
    ox_attr_int(n, "keepdims", 1);
    int ms = ox_out(e->g, n);
    name_of(nm, prefix, "to_float");
    ms = cast(e, nm, ms, OX_FLOAT);
    name_of(nm, prefix, "add_eps");
    ms = op2(e, "Add", nm, ms, ox_scalar_f32(e->g, 1e-5f));
    name_of(nm, prefix, "sqrt");
    int r = op1(e, "Sqrt", nm, ms);
    name_of(nm, prefix, "reciprocal");
    r = op1(e, "Reciprocal", nm, r);
    name_of(nm, prefix, "normalize");
    int y = op2(e, "Mul", nm, x, r);
    name_of(nm, prefix, "scale");
    return op2(e, "Mul", nm, y, scale);
}

/* x [S, n, d] -> rotated, the tables broadcast over n. */
static int rope(ex *e, const char *prefix, int x) {
    char nm[NAME_MAX_LEN];
    name_of(nm, prefix, "split");
    int64_t halves[2] = {e->d / 2, e->d / 2};
    ox_node *n = ox_node_new(e->g, "Split", "%s", nm);
    ox_in(n, x);
    ox_in(n, ox_const_i64(e->g, 2, halves));
    ox_attr_int(n, "axis", -1);
    int x1 = ox_out(e->g, n), x2 = ox_out(e->g, n);
    name_of(nm, prefix, "rotate_half");
    n = ox_node_new(e->g, "Concat", "%s", nm);
    ox_in(n, x2);
    ox_in(n, x1);
    ox_attr_int(n, "axis", -1);
    int rot = ox_out(e->g, n);
    name_of(nm, prefix, "mul_cos");
    int a = op2(e, "Mul", nm, x, e->rope_cos);
    name_of(nm, prefix, "mul_sin");
    int b = op2(e, "Mul", nm, rot, e->rope_sin);
    name_of(nm, prefix, "add");
    return op2(e, "Add", nm, a, b);
}

typedef struct taps {
    int on;  /* emit stage outputs */
    int l;
} taps;

static void tap(ex *e, const taps *t, int v, const char *stage, int elem, int ndim, const int64_t *dims) {
    if (!t->on) return;
    char nm[NAME_MAX_LEN];
    if (t->l >= 0) snprintf(nm, sizeof nm, "block%d.%s", t->l, stage);
    else snprintf(nm, sizeof nm, "%s", stage);
    ox_output(e->g, v, nm, elem, ndim, dims);
}

static int attention(ex *e, int l, int x, const taps *t) {
    const gptoss_block *b = &e->m->blocks[l];
    char p[64], nm[NAME_MAX_LEN], wn[96];
    snprintf(p, sizeof p, "/block%d/attn", l);
    int64_t S = e->S, nh = e->nh, nkv = e->nkv, grp = e->grp, d = e->d, H = e->H;
    int64_t hdims[2] = {S, H};

    snprintf(wn, sizeof wn, "block%d.attn.norm.scale", l);
    name_of(nm, p, "norm");
    int tn = rmsnorm(e, nm, x, vec(e, wn, b->attn_norm, 1, &H));
    tap(e, t, tn, "attn_normed", OX_FLOAT, 2, hdims);

    /* qkv = t Wqkv^T + bqkv, split into q, k, v */
    const gptoss_mat *ws[3] = {&b->wq, &b->wk, &b->wv};
    name_of(nm, p, "qkv");
    snprintf(wn, sizeof wn, "block%d.attn.qkv.weight", l);
    int w = mat(e, nm, wn, ws, 3);
    int64_t nq = nh * d, nk = nkv * d, nqkv = nq + 2 * nk;
    ox_part bp[3] = {
        {.conv = OX_COPY, .src = b->bq, .rows = 1, .cols = nq, .stride = nq, .elem = 4},
        {.conv = OX_COPY, .src = b->bk, .rows = 1, .cols = nk, .stride = nk, .elem = 4},
        {.conv = OX_COPY, .src = b->bv, .rows = 1, .cols = nk, .stride = nk, .elem = 4},
    };
    snprintf(wn, sizeof wn, "block%d.attn.qkv.bias", l);
    int bias = ox_weight(e->g, wn, OX_FLOAT, 1, &nqkv, bp, 3);
    int qkv = ox_linear(e->g, nm, tn, w, bias);
    name_of(nm, p, "split_qkv");
    int64_t sizes[3] = {nq, nk, nk};
    ox_node *n = ox_node_new(e->g, "Split", "%s", nm);
    ox_in(n, qkv);
    ox_in(n, ox_const_i64(e->g, 3, sizes));
    ox_attr_int(n, "axis", 1);
    int q = ox_out(e->g, n), k = ox_out(e->g, n), v = ox_out(e->g, n);

    int64_t qd[4] = {S, nkv, grp, d}, kd[3] = {S, nkv, d}, qh[3] = {S, nh, d};
    if (t->on) {
        name_of(nm, p, "q_heads");
        tap(e, t, reshape(e, nm, q, 4, qd), "attn_q", OX_FLOAT, 4, qd);
    }
    name_of(nm, p, "q_reshape");
    q = reshape(e, nm, q, 3, qh);
    name_of(nm, p, "k_reshape");
    k = reshape(e, nm, k, 3, kd);
    tap(e, t, k, "attn_k", OX_FLOAT, 3, kd);
    name_of(nm, p, "v_reshape");
    v = reshape(e, nm, v, 3, kd);
    tap(e, t, v, "attn_v", OX_FLOAT, 3, kd);

    name_of(nm, p, "rope_q");
    q = rope(e, nm, q);
    name_of(nm, p, "rope_k");
    k = rope(e, nm, k);

    /* scores [nkv, g, S, S] = q k^T * scale + mask */
    name_of(nm, p, "q_groups");
    q = reshape(e, nm, q, 4, qd);
    name_of(nm, p, "q_transpose");
    q = transpose(e, nm, q, 4, (int64_t[]){1, 2, 0, 3});
    name_of(nm, p, "k_transpose");
    k = transpose(e, nm, k, 3, (int64_t[]){1, 2, 0});
    name_of(nm, p, "k_groups");
    k = reshape(e, nm, k, 4, (int64_t[]){nkv, 1, d, S});
    name_of(nm, p, "scores");
    int s = op2(e, "MatMul", nm, q, k);
    name_of(nm, p, "scale");
    s = op2(e, "Mul", nm, s, ox_scalar_f32(e->g, 1.0f / sqrtf((float)d)));
    name_of(nm, p, "mask");
    int sliding = gptoss_layer_window(&e->m->cfg, l) > 0;
    s = op2(e, "Add", nm, s, sliding ? e->mask_sliding : e->mask_causal);

    /* the sink logit of each head as one more column; softmax; drop the column */
    snprintf(wn, sizeof wn, "block%d.attn.sinks", l);
    int64_t sdims[4] = {nkv, grp, 1, 1};
    int sinks = vec(e, wn, b->sinks, 4, sdims);
    name_of(nm, p, "sinks_expand");
    int64_t sshape[4] = {nkv, grp, S, 1};
    sinks = op2(e, "Expand", nm, sinks, ox_const_i64(e->g, 4, sshape));
    name_of(nm, p, "concat_sinks");
    n = ox_node_new(e->g, "Concat", "%s", nm);
    ox_in(n, s);
    ox_in(n, sinks);
    ox_attr_int(n, "axis", -1);
    s = ox_out(e->g, n);
    name_of(nm, p, "softmax");
    n = ox_node_new(e->g, "Softmax", "%s", nm);
    ox_in(n, s);
    ox_attr_int(n, "axis", -1);
    s = ox_out(e->g, n);
    name_of(nm, p, "drop_sinks");
    s = slice_axis(e, nm, s, -1, 0, S, 1);

    /* o [nkv, g, S, d] = probs v -> [S, nh*d] head-major */
    name_of(nm, p, "v_transpose");
    v = transpose(e, nm, v, 3, (int64_t[]){1, 0, 2});
    name_of(nm, p, "v_groups");
    v = reshape(e, nm, v, 4, (int64_t[]){nkv, 1, S, d});
    name_of(nm, p, "context");
    int o = op2(e, "MatMul", nm, s, v);
    name_of(nm, p, "context_transpose");
    o = transpose(e, nm, o, 4, (int64_t[]){2, 0, 1, 3});
    name_of(nm, p, "context_reshape");
    o = reshape(e, nm, o, 2, (int64_t[]){S, nq});

    const gptoss_mat *wo[1] = {&b->wo};
    name_of(nm, p, "out");
    snprintf(wn, sizeof wn, "block%d.attn.out.weight", l);
    w = mat(e, nm, wn, wo, 1);
    snprintf(wn, sizeof wn, "block%d.attn.out.bias", l);
    int y = ox_linear(e->g, nm, o, w, vec(e, wn, b->bo, 1, &H));
    tap(e, t, y, "attn_projected", OX_FLOAT, 2, hdims);
    name_of(nm, p, "residual");
    y = op2(e, "Add", nm, x, y);
    tap(e, t, y, "post_attention", OX_FLOAT, 2, hdims);
    return y;
}

/* per-expert tensor x [E, n, S] -> [S, k, n] for the selected experts idx [S, k] */
static int select_experts(ex *e, const char *prefix, int x, int idx, int64_t n) {
    char nm[NAME_MAX_LEN];
    name_of(nm, prefix, "transpose");
    x = transpose(e, nm, x, 3, (int64_t[]){2, 0, 1});
    name_of(nm, prefix, "indices");
    int i3 = unsqueeze(e, nm, idx, 2);
    name_of(nm, prefix, "indices_expand");
    i3 = op2(e, "Expand", nm, i3, ox_const_i64(e->g, 3, (int64_t[]){e->S, e->k, n}));
    name_of(nm, prefix, "gather");
    ox_node *nd = ox_node_new(e->g, "GatherElements", "%s", nm);
    ox_in(nd, x);
    ox_in(nd, i3);
    ox_attr_int(nd, "axis", 1);
    return ox_out(e->g, nd);
}

/* out [E, rows, S] = W[e] x (x [cols, S] shared by all experts, or [E, cols, S] per expert
 * when per_expert), the experts in parts of at most FOLD_LIMIT fp32 bytes. */
static int expert_matmul(ex *e, const char *p, const char *which, int l, const gptoss_mxfp4 *q,
                         int x, int per_expert) {
    char nm[NAME_MAX_LEN], pre[96], wn[96];
    int64_t ec = part_size(q->n_experts, q->rows * q->cols * 4), n = q->n_experts / ec;
    int64_t G = q->cols / 32;
    int xs[OX_MAX_IO], outs[OX_MAX_IO];
    if (per_expert && n > 1) {
        int64_t sizes[OX_MAX_IO];
        for (int64_t c = 0; c < n; c++) sizes[c] = ec;
        snprintf(nm, sizeof nm, "%s/%s/split", p, which);
        ox_node *sp = ox_node_new(e->g, "Split", "%s", nm);
        ox_in(sp, x);
        ox_in(sp, ox_const_i64(e->g, (int)n, sizes));
        ox_attr_int(sp, "axis", 0);
        for (int64_t c = 0; c < n; c++) xs[c] = ox_out(e->g, sp);
    } else {
        for (int64_t c = 0; c < n; c++) xs[c] = x;
    }
    for (int64_t c = 0; c < n; c++) {
        gptoss_mxfp4 part = *q;
        part.n_experts = ec;
        part.blocks += c * ec * q->rows * G * 16;
        part.scales += c * ec * q->rows * G;
        if (n > 1) {
            snprintf(pre, sizeof pre, "%s/%s/part%d", p, which, (int)c);
            snprintf(wn, sizeof wn, "block%d.mlp.%s_weight.part%d", l, which, (int)c);
        } else {
            snprintf(pre, sizeof pre, "%s/%s", p, which);
            snprintf(wn, sizeof wn, "block%d.mlp.%s_weight", l, which);
        }
        name_of(nm, pre, "dequant");
        int w = experts(e, nm, wn, &part);
        name_of(nm, pre, "matmul");
        outs[c] = op2(e, "MatMul", nm, w, xs[c]);
    }
    if (n == 1) return outs[0];
    snprintf(nm, sizeof nm, "%s/%s/concat", p, which);
    ox_node *cat = ox_node_new(e->g, "Concat", "%s", nm);
    for (int64_t c = 0; c < n; c++) ox_in(cat, outs[c]);
    ox_attr_int(cat, "axis", 0);
    return ox_out(e->g, cat);
}

static int moe(ex *e, int l, int x, const taps *t) {
    const gptoss_block *b = &e->m->blocks[l];
    char p[64], nm[NAME_MAX_LEN], wn[96];
    snprintf(p, sizeof p, "/block%d/mlp", l);
    int64_t S = e->S, H = e->H, E = e->E, K = e->k, I = e->I;
    int64_t hdims[2] = {S, H}, edims[2] = {S, E}, kdims[2] = {S, K};
    float limit = e->m->cfg.swiglu_limit;

    snprintf(wn, sizeof wn, "block%d.mlp.norm.scale", l);
    name_of(nm, p, "norm");
    int tn = rmsnorm(e, nm, x, vec(e, wn, b->mlp_norm, 1, &H));
    tap(e, t, tn, "mlp_normed", OX_FLOAT, 2, hdims);

    /* routing: top-k of the gate logits, softmax over the k, scattered over E */
    const gptoss_mat *wg[1] = {&b->wgate};
    name_of(nm, p, "gate");
    snprintf(wn, sizeof wn, "block%d.mlp.gate.weight", l);
    int w = mat(e, nm, wn, wg, 1);
    snprintf(wn, sizeof wn, "block%d.mlp.gate.bias", l);
    int gl = ox_linear(e->g, nm, tn, w, vec(e, wn, b->bgate, 1, &E));
    tap(e, t, gl, "mlp_gate_logits", OX_FLOAT, 2, edims);
    name_of(nm, p, "topk");
    ox_node *n = ox_node_new(e->g, "TopK", "%s", nm);
    ox_in(n, gl);
    ox_in(n, ox_const_i64(e->g, 1, &K));
    ox_attr_int(n, "axis", -1);
    ox_attr_int(n, "largest", 1);
    ox_attr_int(n, "sorted", 1);
    int top = ox_out(e->g, n), idx = ox_out(e->g, n);
    tap(e, t, idx, "mlp_expert_indices", OX_INT64, 2, kdims);
    name_of(nm, p, "softmax");
    n = ox_node_new(e->g, "Softmax", "%s", nm);
    ox_in(n, top);
    ox_attr_int(n, "axis", -1);
    int wk = ox_out(e->g, n);
    tap(e, t, wk, "mlp_expert_weights", OX_FLOAT, 2, kdims);
    float *zeros = calloc((size_t)(S * E), sizeof(float));
    int z = zeros ? ox_const_f32(e->g, "moe.zeros", 2, edims, zeros) : -1;
    free(zeros);
    name_of(nm, p, "scatter");
    n = ox_node_new(e->g, "ScatterElements", "%s", nm);
    ox_in(n, z);
    ox_in(n, idx);
    ox_in(n, wk);
    ox_attr_int(n, "axis", 1);
    int dense = ox_out(e->g, n);
    tap(e, t, dense, "mlp_dense_gate_weights", OX_FLOAT, 2, edims);

    /* Every expert on every token, weights as stored ([out, in]), tokens as columns:
     * h [E, 2I, S] = W1[e] t^T + b1[e] */
    name_of(nm, p, "tokens_transpose");
    int tt = transpose(e, nm, tn, 2, (int64_t[]){1, 0});
    int h = expert_matmul(e, p, "mlp1", l, &b->mlp1, tt, 0);
    snprintf(wn, sizeof wn, "block%d.mlp.mlp1_bias", l);
    name_of(nm, p, "mlp1/bias");
    h = op2(e, "Add", nm, h, vec(e, wn, b->b1, 3, (int64_t[]){E, 2 * I, 1}));
    if (t->on) {
        name_of(nm, p, "debug/prelinear");
        tap(e, t, select_experts(e, nm, h, idx, 2 * I), "mlp_prelinear_outputs", OX_FLOAT, 3,
            (int64_t[]){S, K, 2 * I});
    }

    /* clamped SwiGLU: even columns glu, odd columns linear */
    name_of(nm, p, "swiglu/glu");
    int glu = slice_axis(e, nm, h, 1, 0, 2 * I, 2);
    name_of(nm, p, "swiglu/linear");
    int lin = slice_axis(e, nm, h, 1, 1, 2 * I, 2);
    name_of(nm, p, "swiglu/clip_glu");
    n = ox_node_new(e->g, "Clip", "%s", nm);
    ox_in(n, glu);
    ox_in(n, -1);
    ox_in(n, ox_scalar_f32(e->g, limit));
    glu = ox_out(e->g, n);
    name_of(nm, p, "swiglu/clip_linear");
    n = ox_node_new(e->g, "Clip", "%s", nm);
    ox_in(n, lin);
    ox_in(n, ox_scalar_f32(e->g, -limit));
    ox_in(n, ox_scalar_f32(e->g, limit));
    lin = ox_out(e->g, n);
    name_of(nm, p, "swiglu/alpha");
    int sg = op2(e, "Mul", nm, glu, ox_scalar_f32(e->g, 1.702f));
    name_of(nm, p, "swiglu/sigmoid");
    sg = op1(e, "Sigmoid", nm, sg);
    name_of(nm, p, "swiglu/gated");
    sg = op2(e, "Mul", nm, glu, sg);
    name_of(nm, p, "swiglu/linear_plus_one");
    lin = op2(e, "Add", nm, lin, ox_scalar_f32(e->g, 1.0f));
    name_of(nm, p, "swiglu/out");
    int act = op2(e, "Mul", nm, sg, lin);
    if (t->on) {
        name_of(nm, p, "debug/activated");
        tap(e, t, select_experts(e, nm, act, idx, I), "mlp_activated_outputs", OX_FLOAT, 3,
            (int64_t[]){S, K, I});
    }

    /* y [E, H, S] = W2[e] act + b2[e] */
    int y = expert_matmul(e, p, "mlp2", l, &b->mlp2, act, 1);
    snprintf(wn, sizeof wn, "block%d.mlp.mlp2_bias", l);
    name_of(nm, p, "mlp2/bias");
    y = op2(e, "Add", nm, y, vec(e, wn, b->b2, 3, (int64_t[]){E, H, 1}));

    /* fused = sum over the k selected experts, in top-k order, of weight * output:
     * ((w0 y0 + w1 y1) + w2 y2) + ..., as the reference sums them */
    name_of(nm, p, "selected");
    int ysel = select_experts(e, nm, y, idx, H); /* [S, k, H] */
    if (t->on) tap(e, t, ysel, "mlp_expert_outputs", OX_FLOAT, 3, (int64_t[]){S, K, H});
    name_of(nm, p, "weights_unsqueeze");
    int wk3 = unsqueeze(e, nm, wk, 2);
    name_of(nm, p, "weighted");
    int prod = op2(e, "Mul", nm, ysel, wk3);
    int fused;
    if (K == 1) {
        name_of(nm, p, "fuse");
        fused = reshape(e, nm, prod, 2, hdims);
    } else {
        name_of(nm, p, "split_slots");
        n = ox_node_new(e->g, "Split", "%s", nm);
        ox_in(n, prod);
        int64_t ones[OX_MAX_IO];
        for (int64_t i = 0; i < K; i++) ones[i] = 1;
        ox_in(n, ox_const_i64(e->g, (int)K, ones));
        ox_attr_int(n, "axis", 1);
        int slot[OX_MAX_IO];
        for (int64_t i = 0; i < K; i++) slot[i] = ox_out(e->g, n);
        fused = slot[0];
        for (int64_t i = 1; i < K; i++) {
            char what[32];
            snprintf(what, sizeof what, "sum_slot%d", (int)i);
            name_of(nm, p, what);
            fused = op2(e, "Add", nm, fused, slot[i]);
        }
        name_of(nm, p, "fuse");
        fused = reshape(e, nm, fused, 2, hdims);
    }
    tap(e, t, fused, "mlp_fused", OX_FLOAT, 2, hdims);
    name_of(nm, p, "residual");
    return op2(e, "Add", nm, x, fused);
}

/* ---- the model --------------------------------------------------------------------------- */

static gptoss_status build(ex *e) {
    const gptoss_model *m = e->m;
    int64_t S = e->S, H = e->H, V = e->V;
    int64_t hdims[2] = {S, H};
    int ids = ox_input(e->g, "input_ids", OX_INT64, 1, &S);
    if (make_tables(e))
        return gptoss_error(GPTOSS_ERR_NOMEM,
                            "out of memory: %zu bytes for the RoPE tables and attention masks of "
                            "--sequence-length %lld",
                            (size_t)(2 * e->S * (e->d + e->S)) * sizeof(float), (long long)e->S);

    const gptoss_mat *we[1] = {&m->embedding};
    ox_part pe = mat_part(e, &m->embedding);
    int bf16 = m->embedding.dtype == GPTOSS_DT_BF16 && e->o->packed_weights;
    int emb = ox_weight(e->g, "embedding.weight", bf16 ? OX_BFLOAT16 : OX_FLOAT, 2,
                        (int64_t[]){m->embedding.rows, m->embedding.cols}, &pe, 1);
    (void)we;
    int x = op2(e, "Gather", "/embedding/gather", emb, ids);
    if (bf16) x = cast(e, "/embedding/cast", x, OX_FLOAT);

    taps dbg = {.on = e->o->emit_block_debug};
    for (int l = 0; l < m->n_layers; l++) {
        dbg.l = l;
        tap(e, &dbg, x, "input", OX_FLOAT, 2, hdims);
        x = attention(e, l, x, &dbg);
        x = moe(e, l, x, &dbg);
        taps hid = {.on = e->o->emit_hidden_states || e->o->emit_block_debug, .l = l};
        tap(e, &hid, x, "output", OX_FLOAT, 2, hdims);
    }
    x = rmsnorm(e, "/final/norm", x, vec(e, "norm.scale", m->norm, 1, &H));
    dbg.l = -1;
    tap(e, &dbg, x, "final_normed", OX_FLOAT, 2, hdims);
    /* logits = x Wu^T, the vocabulary in parts whose fp32 form stays within FOLD_LIMIT */
    const gptoss_mat *u = &m->unembedding;
    int64_t n = (u->rows * u->cols * 4 + FOLD_LIMIT - 1) / FOLD_LIMIT;
    if (n > OX_MAX_IO) n = OX_MAX_IO;
    int64_t rows = (u->rows + n - 1) / n;
    int parts[OX_MAX_IO];
    for (int64_t c = 0; c < n; c++) {
        gptoss_mat part = *u;
        int64_t r0 = c * rows;
        part.rows = r0 + rows <= u->rows ? rows : u->rows - r0;
        part.data = (const uint8_t *)u->data + (size_t)(r0 * u->stride) * gptoss_dtype_size(u->dtype);
        const gptoss_mat *wu[1] = {&part};
        char pre[64], wn[64];
        snprintf(pre, sizeof pre, n > 1 ? "/unembedding/part%d" : "/unembedding", (int)c);
        snprintf(wn, sizeof wn, n > 1 ? "unembedding.weight.part%d" : "unembedding.weight", (int)c);
        int w = mat(e, pre, wn, wu, 1);
        parts[c] = ox_linear(e->g, pre, x, w, -1);
    }
    int logits = parts[0];
    if (n > 1) {
        ox_node *cat = ox_node_new(e->g, "Concat", "/unembedding/concat");
        for (int64_t c = 0; c < n; c++) ox_in(cat, parts[c]);
        ox_attr_int(cat, "axis", 1);
        logits = ox_out(e->g, cat);
    }
    ox_output(e->g, logits, "logits", OX_FLOAT, 2, (int64_t[]){S, V});
    return GPTOSS_OK;
}

gptoss_status gptoss_export_onnx(const gptoss_model *m, const char *path,
                                 const gptoss_onnx_options *opts, ox_stats *stats) {
    gptoss_onnx_options o = *opts;
    if (!o.sequence_length) o.sequence_length = 32;
    if (!o.opset) o.opset = GPTOSS_ONNX_DEFAULT_OPSET;
    if (!o.external_threshold) o.external_threshold = 1024;
    int ir = gptoss_onnx_ir_version(o.opset);
    if (!ir)
        return gptoss_error(GPTOSS_ERR_ARG, "--opset %d: supported opsets are %d to %d", o.opset,
                            GPTOSS_ONNX_MIN_OPSET, GPTOSS_ONNX_MAX_OPSET);
    if (o.sequence_length < 1 || o.sequence_length > 1 << 20)
        return gptoss_error(GPTOSS_ERR_ARG, "--sequence-length %d: out of range", o.sequence_length);
    const gptoss_config *c = &m->cfg;
    if (c->head_dim % 2 || c->num_attention_heads % c->num_key_value_heads || c->hidden_size % 32 ||
        c->intermediate_size % 32)
        return gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: config shapes not exportable", m->dir);
    ex e = {.m = m, .o = &o, .S = o.sequence_length, .H = c->hidden_size,
            .nh = c->num_attention_heads, .nkv = c->num_key_value_heads, .d = c->head_dim,
            .E = c->num_experts, .k = c->experts_per_token, .I = c->intermediate_size,
            .V = c->vocab_size, .opset = o.opset,
            .fp4_pairs = -1, .fp4_scale = -1};
    e.grp = e.nh / e.nkv;
    e.g = ox_graph_new();
    if (!e.g) return gptoss_error(GPTOSS_ERR_NOMEM, "out of memory creating the graph");
    gptoss_status st = build(&e);
    if (st == GPTOSS_OK) {
        char seq[32], layers[32], doc[256];
        snprintf(seq, sizeof seq, "%d", o.sequence_length);
        snprintf(layers, sizeof layers, "%d", m->n_layers);
        snprintf(doc, sizeof doc,
                 "GPT-OSS forward pass (%d of %d blocks, %d experts, top-%d), input_ids [%d] -> logits.",
                 m->n_layers, c->num_hidden_layers, c->num_experts, c->experts_per_token,
                 o.sequence_length);
        const char *meta[] = {"gptoss.sequence_length", seq, "gptoss.num_layers", layers,
                              "gptoss.weights", o.packed_weights ? "packed" : "float",
                              "gptoss.checkpoint_layout", m->layout, NULL};
        ox_write_options w = {.opset = o.opset, .ir_version = ir, .producer_name = "gptoss",
                              .producer_version = gptoss_version(), .graph_name = "gpt_oss",
                              .doc = doc, .external_threshold = o.external_threshold,
                              .metadata = meta, .first_output = "logits", .progress = o.progress};
        st = ox_graph_write(e.g, path, &w);
        if (st == GPTOSS_OK && stats) *stats = *ox_graph_stats(e.g);
    }
    ox_graph_free(e.g);
    return st;
}
