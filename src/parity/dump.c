/* dump.c: the stage dump container (see parity.h): put / get, load from and save to
 * safetensors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"
#include "safetensors.h"
#include "util.h"

void dump_init(stage_dump *d) { memset(d, 0, sizeof *d); }

void dump_free(stage_dump *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->tensors[i].name);
        free(d->tensors[i].data);
    }
    free(d->tensors);
    dump_init(d);
}

static int64_t shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

int64_t dump_numel(const dump_tensor *t) { return shape_numel(t->ndim, t->shape); }

const dump_tensor *dump_get(const stage_dump *d, const char *name) {
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->tensors[i].name, name)) return &d->tensors[i];
    return NULL;
}

gptoss_status dump_put(stage_dump *d, const char *name, gptoss_dtype dtype, int ndim,
                       const int64_t *shape, const void *data) {
    if (ndim < 0 || ndim > GPTOSS_MAX_DIMS)
        return gptoss_error(GPTOSS_ERR_ARG, "%s: %d dimensions (at most %d)", name, ndim,
                            GPTOSS_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return gptoss_error(GPTOSS_ERR_ARG, "%s: negative dimension", name);
    size_t nbytes = (size_t)shape_numel(ndim, shape) * gptoss_dtype_size(dtype);
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!copy) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory (%zu bytes)", name, nbytes);
    if (nbytes) memcpy(copy, data, nbytes);

    dump_tensor *t = (dump_tensor *)dump_get(d, name);
    if (t) {
        free(t->data);
    } else {
        if (d->n == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 64;
            dump_tensor *nt = realloc(d->tensors, cap * sizeof *nt);
            if (!nt) {
                free(copy);
                return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", name);
            }
            d->tensors = nt;
            d->cap = cap;
        }
        t = &d->tensors[d->n];
        memset(t, 0, sizeof *t);
        t->name = strdup(name);
        if (!t->name) {
            free(copy);
            return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", name);
        }
        d->n++;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    memset(t->shape, 0, sizeof t->shape);
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = copy;
    t->nbytes = nbytes;
    return GPTOSS_OK;
}

int64_t dump_count(const stage_dump *d, const char *name, int64_t fallback) {
    const dump_tensor *t = dump_get(d, name);
    double v = t && dump_numel(t) == 1 ? dump_elem(t, 0) : -1;
    return v >= 0 && v <= INT32_MAX && v == floor(v) ? (int64_t)v : fallback;
}

int dump_n_blocks(const stage_dump *d) {
    int n = 0;
    for (size_t i = 0; i < d->n; i++) {
        int b, len = 0;
        if (sscanf(d->tensors[i].name, "block%d.%n", &b, &len) == 1 && len > 0 && b >= 0 &&
            b < 100000 && b + 1 > n)
            n = b + 1;
    }
    return n;
}

static double f16_to_f64(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? m / 1024.0 / 16384.0
             : e == 31 ? (m ? (double)NAN : (double)INFINITY)
                       : (1.0 + m / 1024.0) * (double)(1 << e) / 32768.0;
    return (h & 0x8000) ? -v : v;
}

double dump_elem(const dump_tensor *t, int64_t i) {
    const uint8_t *p = (const uint8_t *)t->data;
    switch (t->dtype) {
    case GPTOSS_DT_F32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    case GPTOSS_DT_BF16:
    case GPTOSS_DT_F16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return t->dtype == GPTOSS_DT_BF16 ? bf16_to_f32(h) : f16_to_f64(h);
    }
    case GPTOSS_DT_I64: {
        int64_t v;
        memcpy(&v, p + 8 * i, 8);
        return (double)v;
    }
    case GPTOSS_DT_I32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case GPTOSS_DT_U8: return p[i];
    }
    return NAN;
}

double *dump_to_f64(const dump_tensor *t) {
    int64_t n = dump_numel(t);
    double *out = malloc((size_t)(n ? n : 1) * sizeof *out);
    if (!out) {
        gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", t->name);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) out[i] = dump_elem(t, i);
    return out;
}

static gptoss_status put_all(stage_dump *d, const gptoss_tensor *t, size_t n) {
    gptoss_status s = GPTOSS_OK;
    for (size_t i = 0; i < n && !s; i++) s = dump_put(d, t[i].name, t[i].dtype, t[i].ndim, t[i].shape, t[i].data);
    return s;
}

gptoss_status dump_load(const char *path, stage_dump *d) {
    st_file *f;
    gptoss_status s = st_open(path, &f);
    if (s) return s;
    s = put_all(d, f->tensors, f->n_tensors);
    st_close(f);
    return s;
}

gptoss_status dump_load_bytes(const char *label, const uint8_t *bytes, size_t size, stage_dump *d) {
    gptoss_tensor *t;
    size_t n;
    gptoss_status s = st_parse_bytes(label, bytes, size, &t, &n);
    if (s) return s;
    s = put_all(d, t, n);
    st_free_tensors(t, n);
    return s;
}

gptoss_status dump_save(const stage_dump *d, const char *path) {
    st_writer *w;
    gptoss_status s = st_writer_open(path, &w);
    if (s) return s;
    for (size_t i = 0; i < d->n && !s; i++) {
        const dump_tensor *t = &d->tensors[i];
        s = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape);
    }
    if (!s) s = st_writer_begin(w);
    for (size_t i = 0; i < d->n && !s; i++)
        s = st_writer_write(w, d->tensors[i].data, d->tensors[i].nbytes);
    if (s) {
        st_writer_abort(w);
        return s;
    }
    return st_writer_finish(w);
}

gptoss_status dump_append_rows(stage_dump *d, const char *name, gptoss_dtype dtype, int ndim,
                               const int64_t *shape, const void *data) {
    dump_tensor *t = (dump_tensor *)dump_get(d, name);
    if (!t) return dump_put(d, name, dtype, ndim, shape, data);
    if (t->dtype != dtype || t->ndim != ndim || ndim < 1 ||
        (ndim > 1 && memcmp(t->shape + 1, shape + 1, sizeof(int64_t) * (size_t)(ndim - 1))))
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: rows of another dtype or shape appended", name);
    size_t add = (size_t)shape_numel(ndim, shape) * gptoss_dtype_size(dtype);
    void *grown = realloc(t->data, t->nbytes + add ? t->nbytes + add : 1);
    if (!grown) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory (%zu bytes)", name, t->nbytes + add);
    memcpy((char *)grown + t->nbytes, data, add);
    t->data = grown;
    t->nbytes += add;
    t->shape[0] += shape[0];
    return GPTOSS_OK;
}
