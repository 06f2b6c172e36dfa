/* safetensors.h: reading (mmap, zero-copy) and streaming writing of .safetensors files.
 *
 * File format: u64 little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"k": "v"}}
 * then the data; offsets are relative to the end of the header. */
#ifndef GPTOSS_SAFETENSORS_H
#define GPTOSS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"
#include "util.h"

/* ---- reading ------------------------------------------------------------------------- */

typedef struct st_file {
    char *path;
    int fd;
    const uint8_t *map; /* whole file, PROT_READ, MAP_SHARED */
    size_t size;
    size_t n_tensors;
    gptoss_tensor *tensors; /* name/path strings owned by the st_file */
} st_file;

/* Maps path and validates the header completely: JSON, known dtypes, shapes x dtype ==
 * byte length, offsets inside the file, no overlaps. Errors name the file. */
gptoss_status st_open(const char *path, st_file **out);
void st_close(st_file *f);
const gptoss_tensor *st_find(const st_file *f, const char *name);

/* Parses a header held in memory (the fuzz target's entry point). data_size is the number
 * of bytes that follow the header. On success *tensors is malloc'ed (free with
 * st_free_tensors); data pointers are offsets cast to pointers relative to NULL. */
gptoss_status st_parse_header(const char *label, const char *json, size_t json_len,
                              size_t data_size, gptoss_tensor **tensors, size_t *n_tensors);
void st_free_tensors(gptoss_tensor *tensors, size_t n);
/* Parses a whole file held in memory (length prefix, header, data), as st_open does after
 * mapping it: on success the tensors' data pointers point into bytes; label names it in
 * errors. */
gptoss_status st_parse_bytes(const char *label, const uint8_t *bytes, size_t size,
                             gptoss_tensor **tensors, size_t *n_tensors);

/* ---- writing (streaming) -------------------------------------------------------------- */
/* Declare every tensor first, then st_writer_begin() writes the header, then the data is
 * appended tensor after tensor in declaration order with st_writer_write() (any chunking).
 * st_writer_finish() checks that every byte was written, then renames into place.
 * Peak memory is the header, never the data. */
typedef struct st_writer st_writer;

gptoss_status st_writer_open(const char *path, st_writer **out);
gptoss_status st_writer_add(st_writer *w, const char *name, gptoss_dtype dtype, int ndim,
                            const int64_t *shape);
gptoss_status st_writer_metadata(st_writer *w, const char *key, const char *value);
gptoss_status st_writer_begin(st_writer *w);
gptoss_status st_writer_write(st_writer *w, const void *data, size_t nbytes);
gptoss_status st_writer_finish(st_writer *w); /* frees w */
void st_writer_abort(st_writer *w);             /* frees w, removes the temporary */
/* Bytes of data declared so far (the file's size minus its header). */
uint64_t st_writer_data_size(const st_writer *w);

#endif
