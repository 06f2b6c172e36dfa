/* safetensors_write.c: the streaming writer of safetensors.h.
 *
 * Tensors are declared first (name, dtype, shape); st_writer_begin() then writes
 * u64 header length + JSON header (space-padded to a multiple of 8 bytes, as the format
 * allows), and the data follows in declaration order, packed without gaps. Only the header
 * is ever held in memory. The file is written to a temporary name and renamed by
 * st_writer_finish() once every declared byte has arrived. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "safetensors.h"

typedef struct st_decl {
    char *name;
    gptoss_dtype dtype;
    int ndim;
    int64_t shape[GPTOSS_MAX_DIMS];
    uint64_t nbytes;
} st_decl;

struct st_writer {
    gptoss_atomic_file af;
    st_decl *decls;
    size_t n, cap;
    char **meta; /* key, value, key, value, ... */
    size_t n_meta;
    uint64_t data_size; /* declared */
    uint64_t written;   /* appended so far */
    int begun;
    char *iobuf;
};

enum { ST_IOBUF = 1 << 20 };

gptoss_status st_writer_open(const char *path, st_writer **out) {
    *out = NULL;
    st_writer *w = calloc(1, sizeof *w);
    if (!w) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
    gptoss_status st = gptoss_atomic_open(&w->af, path);
    if (st != GPTOSS_OK) {
        free(w);
        return st;
    }
    w->iobuf = malloc(ST_IOBUF);
    if (w->iobuf) setvbuf(w->af.f, w->iobuf, _IOFBF, ST_IOBUF);
    *out = w;
    return GPTOSS_OK;
}

static void writer_free(st_writer *w) {
    for (size_t i = 0; i < w->n; i++) free(w->decls[i].name);
    for (size_t i = 0; i < 2 * w->n_meta; i++) free(w->meta[i]);
    free(w->decls);
    free(w->meta);
    free(w->iobuf);
    free(w);
}

static int dtype_known(gptoss_dtype dt) { return gptoss_dtype_size(dt) != 0; }

gptoss_status st_writer_add(st_writer *w, const char *name, gptoss_dtype dtype, int ndim,
                            const int64_t *shape) {
    const char *path = w->af.path;
    if (w->begun) return gptoss_error(GPTOSS_ERR_ARG, "%s: tensor '%s' declared after the header", path, name);
    if (!name || !*name || !strcmp(name, "__metadata__"))
        return gptoss_error(GPTOSS_ERR_ARG, "%s: invalid tensor name '%s'", path, name ? name : "");
    if (!dtype_known(dtype)) return gptoss_error(GPTOSS_ERR_ARG, "%s: %s: unknown dtype", path, name);
    if (ndim < 0 || ndim > GPTOSS_MAX_DIMS)
        return gptoss_error(GPTOSS_ERR_ARG, "%s: %s: %d dimensions", path, name, ndim);
    uint64_t n = gptoss_dtype_size(dtype);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return gptoss_error(GPTOSS_ERR_ARG, "%s: %s: negative dimension", path, name);
        if (shape[d] && n > UINT64_MAX / 2 / (uint64_t)shape[d])
            return gptoss_error(GPTOSS_ERR_ARG, "%s: %s: tensor too large", path, name);
        n *= (uint64_t)shape[d];
    }
    if (n > UINT64_MAX / 2 - w->data_size) return gptoss_error(GPTOSS_ERR_ARG, "%s: file too large", path);
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->decls[i].name, name))
            return gptoss_error(GPTOSS_ERR_ARG, "%s: tensor '%s' declared twice", path, name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        st_decl *d = realloc(w->decls, cap * sizeof *d);
        if (!d) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
        w->decls = d;
        w->cap = cap;
    }
    st_decl *d = &w->decls[w->n];
    memset(d, 0, sizeof *d);
    d->name = strdup(name);
    if (!d->name) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
    d->dtype = dtype;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) d->shape[i] = shape[i];
    d->nbytes = n;
    w->n++;
    w->data_size += n;
    return GPTOSS_OK;
}

gptoss_status st_writer_metadata(st_writer *w, const char *key, const char *value) {
    if (w->begun) return gptoss_error(GPTOSS_ERR_ARG, "%s: metadata added after the header", w->af.path);
    char **m = realloc(w->meta, 2 * (w->n_meta + 1) * sizeof *m);
    if (!m) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", w->af.path);
    w->meta = m;
    m[2 * w->n_meta] = strdup(key);
    m[2 * w->n_meta + 1] = strdup(value);
    w->n_meta++;
    if (!m[2 * w->n_meta - 2] || !m[2 * w->n_meta - 1])
        return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", w->af.path);
    return GPTOSS_OK;
}

uint64_t st_writer_data_size(const st_writer *w) { return w->data_size; }

/* Integers are added as raw JSON text so that offsets beyond 2^31 print exactly. */
static int add_int_array(cJSON *obj, const char *key, int n, const uint64_t *v) {
    char buf[GPTOSS_MAX_DIMS * 24 + 4];
    size_t len = 0;
    buf[len++] = '[';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%" PRIu64, i ? "," : "", v[i]);
    snprintf(buf + len, sizeof buf - len, "]");
    return cJSON_AddRawToObject(obj, key, buf) != NULL;
}

static char *header_json(const st_writer *w) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->n_meta) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (size_t i = 0; ok && i < w->n_meta; i++)
            ok = cJSON_AddStringToObject(meta, w->meta[2 * i], w->meta[2 * i + 1]) != NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < w->n; i++) {
        const st_decl *d = &w->decls[i];
        cJSON *t = cJSON_AddObjectToObject(root, d->name);
        uint64_t shape[GPTOSS_MAX_DIMS], offs[2] = {offset, offset + d->nbytes};
        for (int k = 0; k < d->ndim; k++) shape[k] = (uint64_t)d->shape[k];
        ok = t && cJSON_AddStringToObject(t, "dtype", gptoss_dtype_name(d->dtype)) &&
             add_int_array(t, "shape", d->ndim, shape) && add_int_array(t, "data_offsets", 2, offs);
        offset += d->nbytes;
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

gptoss_status st_writer_begin(st_writer *w) {
    const char *path = w->af.path;
    if (w->begun) return gptoss_error(GPTOSS_ERR_ARG, "%s: header written twice", path);
    char *json = header_json(w);
    if (!json) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: cannot build the header", path);
    size_t len = strlen(json);
    size_t padded = (len + 7) & ~(size_t)7;
    uint8_t n8[8];
    for (int i = 0; i < 8; i++) n8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int bad = fwrite(n8, 1, 8, w->af.f) != 8 || fwrite(json, 1, len, w->af.f) != len;
    for (size_t i = len; i < padded && !bad; i++) bad = fputc(' ', w->af.f) == EOF;
    free(json);
    if (bad) return gptoss_error(GPTOSS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    w->begun = 1;
    return GPTOSS_OK;
}

gptoss_status st_writer_write(st_writer *w, const void *data, size_t nbytes) {
    const char *path = w->af.path;
    if (!w->begun) return gptoss_error(GPTOSS_ERR_ARG, "%s: data written before the header", path);
    if (nbytes > w->data_size - w->written)
        return gptoss_error(GPTOSS_ERR_ARG, "%s: more data than declared (%" PRIu64 " bytes)", path,
                            w->data_size);
    if (nbytes && fwrite(data, 1, nbytes, w->af.f) != nbytes)
        return gptoss_error(GPTOSS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    w->written += nbytes;
    return GPTOSS_OK;
}

gptoss_status st_writer_finish(st_writer *w) {
    gptoss_status st;
    if (!w->begun) {
        st = gptoss_error(GPTOSS_ERR_ARG, "%s: finished before the header was written", w->af.path);
    } else if (w->written != w->data_size) {
        st = gptoss_error(GPTOSS_ERR_ARG, "%s: %" PRIu64 " of %" PRIu64 " data bytes written", w->af.path,
                          w->written, w->data_size);
    } else {
        st = gptoss_atomic_commit(&w->af);
        writer_free(w);
        return st;
    }
    gptoss_atomic_abort(&w->af);
    writer_free(w);
    return st;
}

void st_writer_abort(st_writer *w) {
    if (!w) return;
    gptoss_atomic_abort(&w->af);
    writer_free(w);
}
