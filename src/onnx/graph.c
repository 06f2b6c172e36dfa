/* graph.c: see graph.h. The ONNX field numbers used here are those of onnx.proto. */
#include "onnx/graph.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxfp4.h"
#include "onnx/data_file.h"
#include "onnx/pb.h"
#include "util.h"

enum { KIND_NODE = 0, KIND_INPUT, KIND_INIT };

typedef struct ox_init {
    int value;
    int elem_type;
    int ndim;
    int64_t dims[OX_MAX_DIMS];
    ox_part parts[OX_MAX_PARTS];
    int n_parts;
    void *owned;          /* data owned by the graph (small constants) */
    size_t nbytes;
    int external;
    uint64_t offset;
} ox_init;

typedef struct ox_value {
    char *name;
    unsigned char kind, is_output;
} ox_value;

typedef struct ox_io {
    int value, elem_type, ndim;
    int64_t dims[OX_MAX_DIMS];
    const char *params[OX_MAX_DIMS]; /* symbolic names, NULL = dims[i] */
} ox_io;

struct ox_graph {
    ox_value *values;
    int n_values, cap_values;
    ox_node *nodes;
    int n_nodes, cap_nodes;
    ox_init *inits;
    int n_inits, cap_inits;
    ox_io inputs[OX_MAX_GRAPH_INPUTS], outputs[4096];
    int n_inputs, n_outputs;
    int n_consts;
    int failed;
    ox_stats stats;
};

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
    *p = q;
    *cap = c;
    return 0;
}

ox_graph *ox_graph_new(void) { return calloc(1, sizeof(ox_graph)); }

void ox_graph_free(ox_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_values; i++) free(g->values[i].name);
    for (int i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].op);
        free(g->nodes[i].name);
    }
    for (int i = 0; i < g->n_inits; i++) free(g->inits[i].owned);
    free(g->values);
    free(g->nodes);
    free(g->inits);
    free(g);
}

static int new_value(ox_graph *g, char *name, int kind) {
    if (!name || grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(ox_value))) {
        free(name);
        g->failed = 1;
        return -1;
    }
    g->values[g->n_values] = (ox_value){.name = name, .kind = (unsigned char)kind};
    return g->n_values++;
}

int ox_input(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims) {
    return ox_input_sym(g, name, elem_type, ndim, dims, NULL);
}

int ox_input_sym(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims,
                 const char *const *params) {
    int v = new_value(g, strdup(name), KIND_INPUT);
    if (v < 0 || g->n_inputs >= OX_MAX_GRAPH_INPUTS || ndim > OX_MAX_DIMS) {
        g->failed = 1;
        return -1;
    }
    ox_io *io = &g->inputs[g->n_inputs++];
    io->value = v;
    io->elem_type = elem_type;
    io->ndim = ndim;
    memcpy(io->dims, dims, (size_t)ndim * sizeof *dims);
    for (int i = 0; i < ndim; i++) io->params[i] = params ? params[i] : NULL;
    return v;
}

static size_t elem_size(int t) {
    switch (t) {
    case OX_FLOAT: case OX_INT32: return 4;
    case OX_UINT8: return 1;
    case OX_INT64: case OX_DOUBLE: return 8;
    case OX_BFLOAT16: return 2;
    }
    return 0;
}

static size_t part_bytes(const ox_part *p) {
    size_t n = (size_t)p->rows * (size_t)p->cols;
    switch (p->conv) {
    case OX_COPY: return n * p->elem;
    case OX_MXFP4_Q8: case OX_Q8_CODES: return n;
    case OX_Q8_SCALES: return n / 32 * 4;
    default: return n * 4;
    }
}

static ox_init *new_init(ox_graph *g, char *name, int elem_type, int ndim, const int64_t *dims) {
    int v = new_value(g, name, KIND_INIT);
    if (v < 0 || ndim > OX_MAX_DIMS || grow((void **)&g->inits, &g->cap_inits, g->n_inits + 1, sizeof(ox_init))) {
        g->failed = 1;
        return NULL;
    }
    ox_init *in = &g->inits[g->n_inits++];
    memset(in, 0, sizeof *in);
    in->value = v;
    in->elem_type = elem_type;
    in->ndim = ndim;
    in->nbytes = elem_size(elem_type);
    for (int i = 0; i < ndim; i++) {
        in->dims[i] = dims[i];
        in->nbytes *= (size_t)dims[i];
    }
    return in;
}

int ox_weight(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims,
              const ox_part *parts, int n_parts) {
    ox_init *in = new_init(g, strdup(name), elem_type, ndim, dims);
    if (!in || n_parts > OX_MAX_PARTS) {
        g->failed = 1;
        return -1;
    }
    size_t total = 0;
    for (int i = 0; i < n_parts; i++) {
        in->parts[i] = parts[i];
        total += part_bytes(&parts[i]);
    }
    in->n_parts = n_parts;
    if (total != in->nbytes) g->failed = 1; /* a programming error: caught at write */
    return in->value;
}

static int owned_const(ox_graph *g, char *name, int elem_type, int ndim, const int64_t *dims,
                       const void *vals) {
    /* Share an identical constant if one exists. */
    for (int i = 0; i < g->n_inits; i++) {
        ox_init *c = &g->inits[i];
        if (!c->owned || c->elem_type != elem_type || c->ndim != ndim) continue;
        if (ndim && memcmp(c->dims, dims, (size_t)ndim * sizeof *dims)) continue;
        if (!memcmp(c->owned, vals, c->nbytes)) {
            free(name);
            return c->value;
        }
    }
    ox_init *in = new_init(g, name, elem_type, ndim, dims);
    if (!in) return -1;
    in->owned = malloc(in->nbytes ? in->nbytes : 1);
    if (!in->owned) {
        g->failed = 1;
        return -1;
    }
    memcpy(in->owned, vals, in->nbytes);
    in->parts[0] = (ox_part){.conv = OX_COPY, .src = in->owned, .rows = 1,
                             .cols = (int64_t)(in->nbytes / elem_size(elem_type)),
                             .stride = (int64_t)(in->nbytes / elem_size(elem_type)),
                             .elem = elem_size(elem_type)};
    in->n_parts = 1;
    return in->value;
}

static char *fmt_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_name(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

int ox_const_i64(ox_graph *g, int n, const int64_t *vals) {
    int64_t dims[1] = {n};
    return owned_const(g, fmt_name("const_i64_%d", g->n_consts++), OX_INT64, 1, dims, vals);
}

int ox_const_f32(ox_graph *g, const char *name, int ndim, const int64_t *dims, const float *vals) {
    return owned_const(g, strdup(name), OX_FLOAT, ndim, dims, vals);
}

int ox_scalar_i64(ox_graph *g, int64_t v) {
    return owned_const(g, fmt_name("const_i64_%d", g->n_consts++), OX_INT64, 0, NULL, &v);
}

int ox_scalar_f32(ox_graph *g, float v) {
    return owned_const(g, fmt_name("const_f32_%d", g->n_consts++), OX_FLOAT, 0, NULL, &v);
}

ox_node *ox_node_new(ox_graph *g, const char *op, const char *name_fmt, ...) {
    static ox_node dummy; /* returned after a failure so callers need no checks */
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(ox_node))) {
        g->failed = 1;
        memset(&dummy, 0, sizeof dummy);
        return &dummy;
    }
    ox_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    va_list ap;
    va_start(ap, name_fmt);
    if (vasprintf(&n->name, name_fmt, ap) < 0) n->name = NULL;
    va_end(ap);
    n->op = strdup(op);
    if (!n->name || !n->op) g->failed = 1;
    return n;
}

void ox_in(ox_node *n, int v) {
    if (n->n_in < OX_MAX_IO) n->in[n->n_in++] = v;
}

int ox_out(ox_graph *g, ox_node *n) {
    if (!n->name || n->n_out >= OX_MAX_IO) {
        g->failed = 1;
        return -1;
    }
    int v = new_value(g, fmt_name("%s_output_%d", n->name, n->n_out), KIND_NODE);
    if (v >= 0) n->out[n->n_out++] = v;
    return v;
}

void ox_out_none(ox_node *n) {
    if (n->n_out < OX_MAX_IO) n->out[n->n_out++] = -1;
}

static ox_attr *attr(ox_node *n, const char *name, int type) {
    static ox_attr dummy;
    if (n->n_attrs >= OX_MAX_ATTRS) return &dummy;
    ox_attr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->type = type;
    return a;
}

void ox_attr_int(ox_node *n, const char *name, int64_t v) { attr(n, name, 2)->i = v; }
void ox_attr_float(ox_node *n, const char *name, float v) { attr(n, name, 1)->f = v; }
void ox_attr_string(ox_node *n, const char *name, const char *literal) { attr(n, name, 3)->s = literal; }
void ox_attr_ints(ox_node *n, const char *name, int count, const int64_t *v) {
    ox_attr *a = attr(n, name, 7);
    a->n_ints = count < OX_MAX_DIMS ? count : OX_MAX_DIMS;
    memcpy(a->ints, v, (size_t)a->n_ints * sizeof *v);
}

int ox_linear(ox_graph *g, const char *name, int x, int w, int b) {
    ox_node *n = ox_node_new(g, "Gemm", "%s", name);
    ox_in(n, x);
    ox_in(n, w);
    if (b >= 0) ox_in(n, b);
    ox_attr_int(n, "transB", 1);
    return ox_out(g, n);
}

void ox_output(ox_graph *g, int v, const char *name, int elem_type, int ndim, const int64_t *dims) {
    ox_output_sym(g, v, name, elem_type, ndim, dims, NULL);
}

void ox_output_sym(ox_graph *g, int v, const char *name, int elem_type, int ndim,
                   const int64_t *dims, const char *const *params) {
    if (v < 0 || ndim > OX_MAX_DIMS || g->n_outputs >= (int)(sizeof g->outputs / sizeof g->outputs[0])) {
        g->failed = 1;
        return;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (!strcmp(g->values[g->outputs[i].value].name, name)) return; /* already declared */
    if (g->values[v].kind != KIND_NODE || g->values[v].is_output) {
        ox_node *n = ox_node_new(g, "Identity", "/outputs/%s", name);
        ox_in(n, v);
        v = ox_out(g, n);
        if (v < 0) return;
    }
    char *s = strdup(name);
    if (!s) {
        g->failed = 1;
        return;
    }
    free(g->values[v].name);
    g->values[v].name = s;
    g->values[v].is_output = 1;
    ox_io *io = &g->outputs[g->n_outputs++];
    io->value = v;
    io->elem_type = elem_type;
    io->ndim = ndim;
    memcpy(io->dims, dims, (size_t)ndim * sizeof *dims);
    for (int i = 0; i < ndim; i++) io->params[i] = params ? params[i] : NULL;
}

const ox_stats *ox_graph_stats(const ox_graph *g) { return &g->stats; }

/* ---- pruning ------------------------------------------------------------------------- */

/* Keeps the nodes some output depends on; returns a per-value "needed" map. */
static unsigned char *prune(ox_graph *g) {
    unsigned char *need = calloc((size_t)g->n_values + 1, 1);
    if (!need) return NULL;
    for (int i = 0; i < g->n_outputs; i++) need[g->outputs[i].value] = 1;
    for (int i = 0; i < g->n_inputs; i++) need[g->inputs[i].value] = 1;
    int kept = 0;
    unsigned char *keep = calloc((size_t)g->n_nodes + 1, 1);
    if (!keep) {
        free(need);
        return NULL;
    }
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        ox_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0 && need[n->out[j]]) keep[i] = 1;
        if (!keep[i]) continue;
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0) need[n->in[j]] = 1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        if (keep[i]) {
            g->nodes[kept++] = g->nodes[i];
        } else {
            free(g->nodes[i].op);
            free(g->nodes[i].name);
        }
    }
    g->stats.pruned_nodes = (size_t)(g->n_nodes - kept);
    g->n_nodes = kept;
    free(keep);
    return need;
}

/* ---- tensor data ---------------------------------------------------------------------- */

typedef struct sink {
    FILE *f;        /* external data file, or */
    pb_buf *buf;    /* an in-memory raw_data field */
    uint64_t done, total, next_report;
    int progress;
    int failed;
} sink;

static void put(sink *s, const void *p, size_t n) {
    if (s->failed) return;
    if (s->f) {
        if (fwrite(p, 1, n, s->f) != n) s->failed = 1;
        s->done += n;
        if (s->progress && s->done >= s->next_report) {
            fprintf(stderr, "export-onnx: %.2f / %.2f GB written (%d%%)\n", s->done / 1e9,
                    s->total / 1e9, (int)(100.0 * s->done / (s->total ? s->total : 1)));
            s->next_report += s->total / 20 + 1;
        }
    } else {
        pb_raw(s->buf, p, n);
        if (s->buf->failed) s->failed = 1;
    }
}

/* Drops the pages of [p, p + n) from this process (file-backed, read-only mappings only). */
static void release(const ox_part *part, const void *p, size_t n) {
    if (!part->mapped || n == 0) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(page - 1), b = ((uintptr_t)p + n) & ~(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* One row [cols] (cols a multiple of 32) quantized in blocks of 32: codes and scales. */
static void q8_row(const float *w, int64_t cols, uint8_t *codes, float *scales) {
    for (int64_t b = 0; b < cols / 32; b++) {
        const float *x = w + b * 32;
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float sc = amax > 0.0f ? amax / 127.0f : 1.0f;
        scales[b] = sc;
        for (int i = 0; i < 32; i++) {
            float q = nearbyintf(x[i] / sc);
            q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
            codes[b * 32 + i] = (uint8_t)(128 + (int)q);
        }
    }
}

static int emit_part(sink *s, const ox_part *p) {
    const uint8_t *src = p->src;
    if (p->conv == OX_COPY) {
        size_t row = (size_t)p->cols * p->elem;
        if (p->stride == p->cols) {
            size_t total = row * (size_t)p->rows, chunk = (size_t)64 << 20;
            for (size_t o = 0; o < total; o += chunk) {
                size_t n = total - o < chunk ? total - o : chunk;
                put(s, src + o, n);
                release(p, src + o, n);
            }
        } else {
            for (int64_t r = 0; r < p->rows; r++) put(s, src + (size_t)r * (size_t)p->stride * p->elem, row);
        }
        return s->failed ? -1 : 0;
    }
    if (p->conv == OX_Q8_CODES || p->conv == OX_Q8_SCALES) {
        float *row = malloc((size_t)p->cols * sizeof(float) * 3);
        if (!row) return -1;
        uint8_t *codes = (uint8_t *)(row + p->cols);
        float *scales = row + 2 * p->cols;
        for (int64_t r = 0; r < p->rows && !s->failed; r++) {
            const uint8_t *in = src + (size_t)r * (size_t)p->stride * p->elem;
            for (int64_t c = 0; c < p->cols; c++) {
                if (p->elem == 2) {
                    uint16_t v;
                    memcpy(&v, in + 2 * c, 2);
                    row[c] = bf16_to_f32(v);
                } else {
                    memcpy(&row[c], in + 4 * c, 4);
                }
            }
            q8_row(row, p->cols, codes, scales);
            if (p->conv == OX_Q8_CODES) put(s, codes, (size_t)p->cols);
            else put(s, scales, (size_t)(p->cols / 32) * sizeof(float));
            if (r % 4096 == 4095 || r == p->rows - 1) { /* release what this stretch read */
                int64_t r0 = r - r % 4096;
                size_t row_bytes = (size_t)p->stride * p->elem;
                release(p, src + (size_t)r0 * row_bytes, (size_t)(r - r0 + 1) * row_bytes);
            }
        }
        free(row);
        return s->failed ? -1 : 0;
    }
    float *tmp = malloc((size_t)p->cols * sizeof(float));
    if (!tmp) return -1;
    for (int64_t r = 0; r < p->rows && !s->failed; r++) {
        if (p->conv == OX_BF16_F32) {
            const uint16_t *h = (const uint16_t *)src + (size_t)r * (size_t)p->stride;
            for (int64_t c = 0; c < p->cols; c++) {
                uint16_t v;
                memcpy(&v, h + c, 2);
                tmp[c] = bf16_to_f32(v);
            }
        } else if (p->conv == OX_MXFP4_Q8) {
            const uint8_t *b = src + (size_t)r * (size_t)(p->cols / 2);
            uint8_t *q = (uint8_t *)tmp;
            for (int64_t c = 0; c < p->cols / 2; c++) {
                q[2 * c] = (uint8_t)(128 + (int)(2.0f * gptoss_fp4_values[b[c] & 15]));
                q[2 * c + 1] = (uint8_t)(128 + (int)(2.0f * gptoss_fp4_values[b[c] >> 4]));
            }
        } else if (p->conv == OX_E8M0_HALF_F32) {
            const uint8_t *b = src + (size_t)r * (size_t)p->stride;
            for (int64_t c = 0; c < p->cols; c++) tmp[c] = ldexpf(1.0f, (int)b[c] - 128);
        } else {
            size_t groups = (size_t)(p->cols / 32);
            mxfp4_decode_row(tmp, src + (size_t)r * groups * 16, p->scales + (size_t)r * groups, p->cols);
        }
        put(s, tmp, (size_t)p->cols * (p->conv == OX_MXFP4_Q8 ? 1 : sizeof(float)));
        if (r % 4096 == 4095 || r == p->rows - 1) { /* release what this stretch of rows read */
            int64_t r0 = r - r % 4096;
            size_t n = (size_t)(r - r0 + 1);
            if (p->conv == OX_BF16_F32) {
                release(p, (const uint16_t *)src + (size_t)r0 * (size_t)p->stride, n * (size_t)p->stride * 2);
            } else if (p->conv == OX_MXFP4_Q8) {
                release(p, src + (size_t)r0 * (size_t)(p->cols / 2), n * (size_t)(p->cols / 2));
            } else if (p->conv == OX_E8M0_HALF_F32) {
                release(p, src + (size_t)r0 * (size_t)p->stride, n * (size_t)p->stride);
            } else {
                size_t groups = (size_t)(p->cols / 32);
                release(p, src + (size_t)r0 * groups * 16, n * groups * 16);
                release(p, p->scales + (size_t)r0 * groups, n * groups);
            }
        }
    }
    free(tmp);
    return s->failed ? -1 : 0;
}

static int emit_init(sink *s, const ox_init *in) {
    for (int i = 0; i < in->n_parts; i++)
        if (emit_part(s, &in->parts[i])) return -1;
    return 0;
}

/* ---- protobuf ------------------------------------------------------------------------ */

static void encode_value_info(pb_buf *out, int field, const char *name, const ox_io *io) {
    pb_buf vi = {0}, type = {0}, tt = {0}, shape = {0};
    for (int i = 0; i < io->ndim; i++) {
        pb_buf dim = {0};
        if (io->params[i]) pb_string(&dim, 2, io->params[i]);
        else pb_int(&dim, 1, io->dims[i]);
        pb_message(&shape, 1, &dim);
    }
    pb_int(&tt, 1, io->elem_type);
    pb_message(&tt, 2, &shape);
    pb_message(&type, 1, &tt);
    pb_string(&vi, 1, name);
    pb_message(&vi, 2, &type);
    pb_message(out, field, &vi);
}

static void encode_node(pb_buf *out, const ox_graph *g, const ox_node *n) {
    pb_buf nb = {0};
    for (int i = 0; i < n->n_in; i++) pb_string(&nb, 1, n->in[i] >= 0 ? g->values[n->in[i]].name : "");
    for (int i = 0; i < n->n_out; i++) pb_string(&nb, 2, n->out[i] >= 0 ? g->values[n->out[i]].name : "");
    pb_string(&nb, 3, n->name);
    pb_string(&nb, 4, n->op);
    if (n->domain) pb_string(&nb, 7, n->domain);
    for (int i = 0; i < n->n_attrs; i++) {
        const ox_attr *a = &n->attrs[i];
        pb_buf ab = {0};
        pb_string(&ab, 1, a->name);
        if (a->type == 1) pb_float(&ab, 2, a->f);
        if (a->type == 2) pb_int(&ab, 3, a->i);
        if (a->type == 3) pb_string(&ab, 4, a->s);
        if (a->type == 7)
            for (int j = 0; j < a->n_ints; j++) pb_int(&ab, 8, a->ints[j]);
        pb_int(&ab, 20, a->type);
        pb_message(&nb, 5, &ab);
    }
    pb_message(out, 1, &nb);
}

static int encode_init(pb_buf *out, const ox_graph *g, const ox_init *in, const char *location) {
    pb_buf t = {0};
    for (int i = 0; i < in->ndim; i++) pb_int(&t, 1, in->dims[i]);
    pb_int(&t, 2, in->elem_type);
    pb_string(&t, 8, g->values[in->value].name);
    if (in->external) {
        char num[32];
        const char *keys[3] = {"location", "offset", "length"};
        for (int k = 0; k < 3; k++) {
            pb_buf e = {0};
            pb_string(&e, 1, keys[k]);
            if (k == 0) {
                pb_string(&e, 2, location);
            } else {
                snprintf(num, sizeof num, "%llu", (unsigned long long)(k == 1 ? in->offset : in->nbytes));
                pb_string(&e, 2, num);
            }
            pb_message(&t, 13, &e);
        }
        pb_int(&t, 14, 1);
    } else {
        pb_buf raw = {0};
        sink s = {.buf = &raw};
        if (emit_init(&s, in)) {
            pb_free(&raw);
            pb_free(&t);
            return -1;
        }
        pb_bytes(&t, 9, raw.data, raw.len);
        pb_free(&raw);
    }
    pb_message(out, 5, &t);
    return 0;
}

static pb_buf encode_model(const ox_graph *g, const unsigned char *need, const ox_write_options *o,
                           const char *location) {
    pb_buf graph = {0}, model = {0};
    for (int i = 0; i < g->n_nodes; i++) encode_node(&graph, g, &g->nodes[i]);
    pb_string(&graph, 2, o->graph_name ? o->graph_name : "main");
    for (int i = 0; i < g->n_inits; i++)
        if (need[g->inits[i].value] && encode_init(&graph, g, &g->inits[i], location)) graph.failed = 1;
    if (o->doc) pb_string(&graph, 10, o->doc);
    for (int i = 0; i < g->n_inputs; i++) encode_value_info(&graph, 11, g->values[g->inputs[i].value].name, &g->inputs[i]);
    for (int pass = 0; pass < 2; pass++) /* the first output first, then the others in order */
        for (int i = 0; i < g->n_outputs; i++) {
            const char *name = g->values[g->outputs[i].value].name;
            int first = o->first_output && !strcmp(name, o->first_output);
            if (first == (pass == 0)) encode_value_info(&graph, 12, name, &g->outputs[i]);
        }

    pb_int(&model, 1, o->ir_version);
    pb_string(&model, 2, o->producer_name ? o->producer_name : "gptoss");
    pb_string(&model, 3, o->producer_version ? o->producer_version : "");
    pb_message(&model, 7, &graph);
    pb_buf opset = {0};
    pb_string(&opset, 1, "");
    pb_int(&opset, 2, o->opset);
    pb_message(&model, 8, &opset);
    for (int i = 0; i < g->n_nodes; i++) /* contrib operators: their domain's opset 1 */
        if (g->nodes[i].domain) {
            pb_buf ms = {0};
            pb_string(&ms, 1, OX_MS_DOMAIN);
            pb_int(&ms, 2, 1);
            pb_message(&model, 8, &ms);
            break;
        }
    for (const char **m = o->metadata; m && m[0] && m[1]; m += 2) {
        pb_buf e = {0};
        pb_string(&e, 1, m[0]);
        pb_string(&e, 2, m[1]);
        pb_message(&model, 14, &e);
    }
    return model;
}

/* ---- writing -------------------------------------------------------------------------- */

static int pad_to(sink *s, uint64_t align) {
    static const uint8_t zeros[4096];
    uint64_t pad = (align - s->done % align) % align;
    if (pad) put(s, zeros, (size_t)pad);
    return s->failed ? -1 : 0;
}

static int finish_file(FILE *f) { return (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) ? -1 : 0; }

gptoss_status ox_graph_write(ox_graph *g, const char *path, const ox_write_options *o) {
    if (g->failed) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: building the graph failed (out of memory or a bad shape)", path);
    unsigned char *need = prune(g);
    if (!need) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);

    /* Which initializers go to the data file, and how big it will be. */
    uint64_t total = 0;
    int n_ext = 0;
    g->stats = (ox_stats){.pruned_nodes = g->stats.pruned_nodes, .nodes = (size_t)g->n_nodes};
    for (int i = 0; i < g->n_inits; i++) {
        ox_init *in = &g->inits[i];
        if (!need[in->value]) continue;
        g->stats.initializers++;
        in->external = in->nbytes >= o->external_threshold && in->nbytes > 0;
        if (in->external) {
            total = (total + 4095) / 4096 * 4096;
            in->offset = total;
            total += in->nbytes;
            n_ext++;
        }
    }
    g->stats.external = (size_t)n_ext;

    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        free(need);
        return gptoss_error(GPTOSS_ERR_IO, "%s: is a folder", path);
    }
    /* The data goes under the name the model now at path does not reference (see
     * onnx/data_file.h), so that the model's rename commits the pair at once. */
    ox_data_file names;
    gptoss_status st = ox_data_file_choose(path, &names);
    if (st) {
        free(need);
        return st;
    }
    const char *data_path = names.path;
    gptoss_atomic_file data = {0}, model = {0};
    pb_buf bytes = {0};
    if (n_ext) {
        if ((st = gptoss_atomic_open(&data, data_path)) != GPTOSS_OK) goto done;
        sink s = {.f = data.f, .total = total, .progress = o->progress && total > ((uint64_t)256 << 20)};
        s.next_report = s.total / 20;
        for (int i = 0; i < g->n_inits && !s.failed; i++) {
            ox_init *in = &g->inits[i];
            if (!need[in->value] || !in->external) continue;
            if (pad_to(&s, 4096) || s.done != in->offset || emit_init(&s, in)) s.failed = 1;
            /* Test hook: pause mid-write so that a test can interrupt the export. */
            const char *pause = getenv("GPTOSS_EXPORT_TEST_PAUSE");
            if (pause && in->offset == 0) {
                fflush(data.f);
                sleep((unsigned)atoi(pause));
            }
        }
        if (s.failed || finish_file(data.f)) {
            st = gptoss_error(GPTOSS_ERR_IO, "%s: write failed: %s", data_path, strerror(errno ? errno : EIO));
            goto done;
        }
        g->stats.data_bytes = s.done;
    }
    bytes = encode_model(g, need, o, names.location);
    if (bytes.failed) {
        st = gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory encoding the model", path);
        goto done;
    }
    if (bytes.len > 0x7fffffffu) {
        st = gptoss_error(GPTOSS_ERR_UNSUPPORTED, "%s: model proto over 2 GB; lower the external-data threshold", path);
        goto done;
    }
    if ((st = gptoss_atomic_open(&model, path)) != GPTOSS_OK) goto done;
    if (fwrite(bytes.data, 1, bytes.len, model.f) != bytes.len || finish_file(model.f)) {
        st = gptoss_error(GPTOSS_ERR_IO, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
        goto done;
    }
    g->stats.model_bytes = bytes.len;
    /* Both files are complete and on disk. The data's rename touches nothing the old model
     * uses; the model's rename is the commit; then the old data file goes. */
    if (n_ext && (st = gptoss_atomic_commit(&data)) != GPTOSS_OK) goto done;
    const char *pause = getenv("GPTOSS_EXPORT_TEST_PAUSE_COMMIT"); /* test hook: a crash here */
    if (pause) sleep((unsigned)atoi(pause));
    if ((st = gptoss_atomic_commit(&model)) != GPTOSS_OK) goto done;
    st = ox_data_file_cleanup(&names, n_ext > 0);
done:
    if (data.f) gptoss_atomic_abort(&data);
    if (model.f) gptoss_atomic_abort(&model);
    pb_free(&bytes);
    ox_data_file_free(&names);
    free(need);
    return st;
}
