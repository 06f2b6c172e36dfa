/* graph.h: an ONNX graph under construction, and its writer.
 *
 * Values (tensors flowing between nodes) are small integers; each has a unique name.
 * Nodes are added in topological order (an input must exist before a node reads it).
 * Initializers do not hold their data: they describe where it lives (usually the mapped
 * checkpoint) and how to convert it, and the writer streams it to the file, so peak memory
 * never holds the weights.
 *
 *   ox_graph *g = ox_graph_new();
 *   int ids = ox_input(g, "input_ids", OX_INT64, 1, (int64_t[]){32});
 *   ox_node *n = ox_node_new(g, "Gather", "/embedding/gather");
 *   ox_in(n, weight); ox_in(n, ids);
 *   int x = ox_out(g, n);
 *   ox_output(g, x, "hidden", OX_FLOAT, 2, (int64_t[]){32, 2880});
 *   ox_graph_write(g, "model.onnx", &opts);
 *
 * The writer drops nodes whose outputs nobody reads and initializers nobody reads, so the
 * file never carries dead nodes or unused initializers. */
#ifndef GPTOSS_ONNX_GRAPH_H
#define GPTOSS_ONNX_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

/* ONNX TensorProto data types. */
enum { OX_FLOAT = 1, OX_UINT8 = 2, OX_INT32 = 6, OX_INT64 = 7, OX_DOUBLE = 11, OX_BFLOAT16 = 16 };

#define OX_MAX_DIMS 6
#define OX_MAX_IO 64
#define OX_MAX_ATTRS 12
#define OX_MAX_PARTS 3
#define OX_MAX_GRAPH_INPUTS 512
#define OX_MS_DOMAIN "com.microsoft" /* ONNX Runtime's contrib operators */

/* Where an initializer's bytes come from. An initializer is the concatenation of up to
 * OX_MAX_PARTS parts, each `rows` rows of `cols` source elements, `stride` elements apart. */
typedef enum ox_conv {
    OX_COPY,       /* elem-byte elements, copied as they are */
    OX_BF16_F32,   /* bf16 -> f32 */
    OX_MXFP4_F32,  /* src = MXFP4 blocks [rows, cols/32, 16], scales [rows, cols/32] -> f32 */
    OX_MXFP4_Q8,   /* src = MXFP4 blocks [rows, cols/32, 16] -> u8 128 + 2 x value (the
                    * integers 116..140: exact), one byte per element */
    OX_E8M0_HALF_F32, /* src = MXFP4 scale bytes [rows, cols] -> f32 2^(byte - 128), half
                    * the block's power-of-two scale (so that q8 x it is the value) */
    OX_Q8_CODES,   /* src = bf16 (elem 2) or f32 (elem 4) [rows, cols] -> u8 codes of a
                    * symmetric 8-bit quantization in blocks of 32 along a row: 128 +
                    * round(w / scale), scale = max |w| / 127 (MatMulNBits' layout) */
    OX_Q8_SCALES,  /* the same source -> f32 scales [rows, cols / 32] */
} ox_conv;

typedef struct ox_part {
    ox_conv conv;
    const void *src;
    const uint8_t *scales; /* OX_MXFP4_F32 only */
    int64_t rows, cols, stride;
    size_t elem;           /* source element size in bytes (OX_COPY) */
    int mapped;            /* src (and scales) lie in a read-only file mapping: the writer
                            * drops those pages from memory once written (they stay in the
                            * page cache), so peak RSS stays far below the model size */
} ox_part;

typedef struct ox_attr {
    const char *name;
    int type; /* 1 FLOAT, 2 INT, 3 STRING, 7 INTS */
    float f;
    int64_t i;
    int64_t ints[OX_MAX_DIMS];
    int n_ints;
    const char *s; /* a string literal */
} ox_attr;

typedef struct ox_node {
    char *op;
    char *name;
    int in[OX_MAX_IO], n_in;   /* -1 = an omitted optional input */
    int out[OX_MAX_IO], n_out;
    ox_attr attrs[OX_MAX_ATTRS];
    int n_attrs;
    const char *domain; /* NULL = ai.onnx; else a string literal such as OX_MS_DOMAIN */
} ox_node;

typedef struct ox_graph ox_graph;

ox_graph *ox_graph_new(void);
void ox_graph_free(ox_graph *g);

/* A graph input of the given element type and static shape. */
int ox_input(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims);

/* The same with symbolic dimensions: params[i] (a string literal, or NULL for dims[i])
 * names dimension i ("batch_size"); params may be NULL. */
int ox_input_sym(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims,
                 const char *const *params);

/* Declares value v a graph output under `name` (renamed in place when possible, else
 * through an Identity node). The shape is declared and checked by the checker. */
void ox_output(ox_graph *g, int v, const char *name, int elem_type, int ndim, const int64_t *dims);

void ox_output_sym(ox_graph *g, int v, const char *name, int elem_type, int ndim,
                   const int64_t *dims, const char *const *params);

/* A weight: data described by parts (borrowed pointers, valid until the write). */
int ox_weight(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims,
              const ox_part *parts, int n_parts);

/* Small constants owned by the graph (copied); identical constants are shared. */
int ox_const_i64(ox_graph *g, int n, const int64_t *vals);        /* 1-D */
int ox_const_f32(ox_graph *g, const char *name, int ndim, const int64_t *dims, const float *vals);
int ox_scalar_f32(ox_graph *g, float v);                          /* 0-D */
int ox_scalar_i64(ox_graph *g, int64_t v);                        /* 0-D */

/* A node; the name is printf-formatted. Add inputs with ox_in, attributes with
 * ox_attr_*, then outputs with ox_out (named "<node name>_output_<k>"). */
ox_node *ox_node_new(ox_graph *g, const char *op, const char *name_fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ox_in(ox_node *n, int v);
int ox_out(ox_graph *g, ox_node *n);
void ox_out_none(ox_node *n); /* an omitted optional output ("") */
void ox_attr_int(ox_node *n, const char *name, int64_t v);
void ox_attr_float(ox_node *n, const char *name, float v);
void ox_attr_ints(ox_node *n, const char *name, int count, const int64_t *v);
void ox_attr_string(ox_node *n, const char *name, const char *literal);
/* Gemm(x, w, b) with transB = 1: x [N, in] times w [out, in] transposed, plus b [out] (b < 0:
 * none); the node is named name. */
int ox_linear(ox_graph *g, const char *name, int x, int w, int b);

typedef struct ox_write_options {
    int opset;               /* ai.onnx opset */
    int ir_version;
    const char *producer_name;
    const char *producer_version;
    const char *graph_name;
    const char *doc;
    size_t external_threshold; /* initializers of at least this many bytes go external */
    const char **metadata;     /* key, value, key, value, ..., NULL */
    const char *first_output;  /* this output is listed first (the main result), may be NULL */
    int progress;              /* print progress to stderr */
} ox_write_options;

/* Prunes dead nodes and unused initializers, streams external tensors to
 * "<path>.data" (4096-aligned), writes the model. Both files are written under temporary
 * names and renamed only when complete; on any failure (or an interrupt) neither target
 * is touched. */
gptoss_status ox_graph_write(ox_graph *g, const char *path, const ox_write_options *opts);

/* Counts after ox_graph_write (for reporting). */
typedef struct ox_stats {
    size_t nodes, initializers, external, pruned_nodes;
    uint64_t model_bytes, data_bytes;
} ox_stats;
const ox_stats *ox_graph_stats(const ox_graph *g);

#endif
