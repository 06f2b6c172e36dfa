/* safetensors.c: the reader half of safetensors.h (mmap, zero-copy, full validation).
 *
 * The header is checked as strictly as the reference implementation does: JSON object,
 * known dtypes, shape x dtype size == byte length, offsets inside the data, and the
 * tensors' byte ranges laid end to end with neither gaps nor overlaps, covering the whole
 * data section. Nothing after the header is read here: tensor data is touched only by
 * whoever uses it. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest header we accept (the reference implementation's limit is 100 MB). */
#define ST_MAX_HEADER ((uint64_t)100 << 20)

static int parse_dtype(const char *s, gptoss_dtype *dt) {
    static const struct { const char *name; gptoss_dtype dt; } known[] = {
        {"BF16", GPTOSS_DT_BF16}, {"F32", GPTOSS_DT_F32}, {"U8", GPTOSS_DT_U8},
        {"I32", GPTOSS_DT_I32},   {"I64", GPTOSS_DT_I64}, {"F16", GPTOSS_DT_F16},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(s, known[i].name)) {
            *dt = known[i].dt;
            return 1;
        }
    return 0;
}

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static int json_u64(const cJSON *j, uint64_t *v) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return 0;
    *v = (uint64_t)d;
    return 1;
}

void st_free_tensors(gptoss_tensor *tensors, size_t n) {
    if (!tensors) return;
    for (size_t i = 0; i < n; i++) free((char *)tensors[i].name);
    free(tensors);
}

/* Parses one tensor entry; begin/end are the byte range inside the data section. */
static gptoss_status parse_entry(const char *label, const cJSON *e, gptoss_tensor *t,
                                 uint64_t data_size, uint64_t *begin, uint64_t *end) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", label, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", label, name);
    if (!parse_dtype(dt->valuestring, &t->dtype))
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.32s'", label, name,
                            dt->valuestring);
    if (!cJSON_IsArray(shape))
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"", label, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > GPTOSS_MAX_DIMS)
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d supported)",
                            label, name, ndim, GPTOSS_MAX_DIMS);
    t->ndim = ndim;
    /* element count with overflow check: every partial product stays below 2^62 */
    uint64_t count = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape) {
        uint64_t v;
        if (!json_u64(d, &v))
            return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                                label, name, i);
        if (v != 0 && count > ((uint64_t)1 << 62) / v)
            return gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s': shape too large", label, name);
        count *= v;
        t->shape[i++] = (int64_t)v;
    }
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !json_u64(cJSON_GetArrayItem(offs, 0), begin) || !json_u64(cJSON_GetArrayItem(offs, 1), end))
        return gptoss_error(GPTOSS_ERR_FORMAT,
                            "%s: tensor '%s': \"data_offsets\" is not [begin, end] of non-negative integers",
                            label, name);
    if (*begin > *end || *end > data_size)
        return gptoss_error(GPTOSS_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] out of range (data section is %llu bytes; truncated file?)",
                            label, name, (unsigned long long)*begin, (unsigned long long)*end,
                            (unsigned long long)data_size);
    uint64_t nbytes = count * gptoss_dtype_size(t->dtype);
    if (nbytes != *end - *begin)
        return gptoss_error(GPTOSS_ERR_FORMAT,
                            "%s: tensor '%s': shape x %s is %llu bytes but data_offsets span %llu", label,
                            name, gptoss_dtype_name(t->dtype), (unsigned long long)nbytes,
                            (unsigned long long)(*end - *begin));
    t->nbytes = (size_t)nbytes;
    t->data = (const void *)(uintptr_t)*begin;
    return GPTOSS_OK;
}

static int by_begin(const void *a, const void *b) {
    const gptoss_tensor *x = *(const gptoss_tensor *const *)a, *y = *(const gptoss_tensor *const *)b;
    uintptr_t p = (uintptr_t)x->data, q = (uintptr_t)y->data;
    if (p != q) return p < q ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const gptoss_tensor *const *)a)->name, (*(const gptoss_tensor *const *)b)->name);
}

/* The byte ranges must tile [0, data_size) exactly, and names must be unique. */
static gptoss_status check_layout(const char *label, gptoss_tensor *t, size_t n, uint64_t data_size) {
    gptoss_tensor **idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", label);
    for (size_t i = 0; i < n; i++) idx[i] = &t[i];
    gptoss_status st = GPTOSS_OK;
    qsort(idx, n, sizeof *idx, by_name);
    for (size_t i = 1; i < n && st == GPTOSS_OK; i++)
        if (!strcmp(idx[i - 1]->name, idx[i]->name))
            st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensor '%s' is declared twice", label, idx[i]->name);
    qsort(idx, n, sizeof *idx, by_begin);
    uint64_t pos = 0;
    for (size_t i = 0; i < n && st == GPTOSS_OK; i++) {
        uint64_t b = (uintptr_t)idx[i]->data;
        if (b < pos)
            st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (bytes %llu..%llu)", label,
                              idx[i - 1]->name, idx[i]->name, (unsigned long long)b, (unsigned long long)pos);
        else if (b > pos)
            st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: gap in the data: bytes %llu..%llu belong to no tensor",
                              label, (unsigned long long)pos, (unsigned long long)b);
        pos = b + idx[i]->nbytes;
    }
    if (st == GPTOSS_OK && pos != data_size)
        st = gptoss_error(GPTOSS_ERR_FORMAT,
                          "%s: tensors cover %llu bytes but the data section is %llu bytes", label,
                          (unsigned long long)pos, (unsigned long long)data_size);
    free(idx);
    return st;
}

gptoss_status st_parse_header(const char *label, const char *json, size_t json_len, size_t data_size,
                              gptoss_tensor **tensors, size_t *n_tensors) {
    *tensors = NULL;
    *n_tensors = 0;
    if (json_len == 0 || json[0] != '{')
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: header is not a JSON object", label);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, json_len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: header is not valid JSON", label);
    }
    /* Writers pad the header with spaces to align the data. */
    for (const char *p = end; p && p < json + json_len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
            cJSON_Delete(root);
            return gptoss_error(GPTOSS_ERR_FORMAT, "%s: header has trailing bytes after the JSON", label);
        }
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) if (strcmp(e->string, "__metadata__")) n++;
    gptoss_tensor *t = calloc(n ? n : 1, sizeof *t);
    if (!t) {
        cJSON_Delete(root);
        return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", label);
    }
    gptoss_status st = GPTOSS_OK;
    size_t k = 0;
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__")) {
            const cJSON *m;
            if (!cJSON_IsObject(e)) {
                st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", label);
                break;
            }
            cJSON_ArrayForEach(m, e) if (!cJSON_IsString(m)) {
                st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: \"__metadata__\" value '%s' is not a string", label,
                                  m->string);
                break;
            }
            if (st) break;
            continue;
        }
        if (!e->string[0]) {
            st = gptoss_error(GPTOSS_ERR_FORMAT, "%s: a tensor has an empty name", label);
            break;
        }
        uint64_t b, en;
        t[k].name = strdup(e->string);
        if (!t[k].name) {
            st = gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", label);
            break;
        }
        k++;
        st = parse_entry(label, e, &t[k - 1], data_size, &b, &en);
        if (st) break;
    }
    cJSON_Delete(root);
    if (st == GPTOSS_OK) st = check_layout(label, t, k, data_size);
    if (st) {
        st_free_tensors(t, k);
        return st;
    }
    *tensors = t;
    *n_tensors = k;
    return GPTOSS_OK;
}

gptoss_status st_parse_bytes(const char *label, const uint8_t *bytes, size_t size,
                             gptoss_tensor **tensors, size_t *n_tensors) {
    *tensors = NULL;
    *n_tensors = 0;
    if (size < 8)
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: truncated: %zu bytes, too short for a safetensors header",
                            label, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | bytes[i];
    if (hlen > size - 8)
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: header length %llu goes beyond the file (%zu bytes)", label,
                            (unsigned long long)hlen, size);
    if (hlen > ST_MAX_HEADER)
        return gptoss_error(GPTOSS_ERR_FORMAT, "%s: header length %llu is too large", label,
                            (unsigned long long)hlen);
    size_t data_size = size - 8 - (size_t)hlen;
    gptoss_status st = st_parse_header(label, (const char *)bytes + 8, (size_t)hlen, data_size, tensors, n_tensors);
    if (st) return st;
    const uint8_t *base = bytes + 8 + hlen;
    for (size_t i = 0; i < *n_tensors; i++) (*tensors)[i].data = base + (uintptr_t)(*tensors)[i].data;
    return GPTOSS_OK;
}

void st_close(st_file *f) {
    if (!f) return;
    if (f->map) munmap((void *)f->map, f->size);
    if (f->fd >= 0) close(f->fd);
    st_free_tensors(f->tensors, f->n_tensors);
    free(f->path);
    free(f);
}

gptoss_status st_open(const char *path, st_file **out) {
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
    }
    gptoss_status st = GPTOSS_OK;
    struct stat sb;
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (f->fd < 0) {
        st = gptoss_error(GPTOSS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = gptoss_error(GPTOSS_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    f->size = (size_t)sb.st_size;
    if (f->size) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
        if (m == MAP_FAILED) {
            st = gptoss_error(GPTOSS_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
            goto fail;
        }
        f->map = m;
    }
    st = st_parse_bytes(path, f->map, f->size, &f->tensors, &f->n_tensors);
    if (st) goto fail;
    for (size_t i = 0; i < f->n_tensors; i++) f->tensors[i].path = f->path;
    *out = f;
    return GPTOSS_OK;
fail:
    st_close(f);
    return st;
}

const gptoss_tensor *st_find(const st_file *f, const char *name) {
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}
