/* test_safetensors_write.c: the streaming safetensors writer, checked on the raw bytes.
 *
 * Writes a file (metadata, BF16/F32/U8/I64 tensors, a zero-sized one, data in chunks that
 * straddle tensor boundaries), then parses it back by hand: u64 header length, JSON header
 * padded with spaces to a multiple of 8, offsets packed in declaration order, data bytes.
 * Also: misuse is refused, and a failed or aborted write leaves an existing file intact. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

#include "check.h"

typedef struct {
    const char *name;
    gptoss_dtype dt;
    int ndim;
    int64_t shape[3];
} spec;

static const spec specs[] = {
    {"embedding.weight", GPTOSS_DT_BF16, 2, {7, 5}},
    {"block.0.mlp.mlp1_weight.blocks", GPTOSS_DT_U8, 3, {3, 2, 16}},
    {"empty", GPTOSS_DT_F32, 2, {0, 4}},
    {"scalar", GPTOSS_DT_F32, 0, {0}},
    {"ids", GPTOSS_DT_I64, 1, {3}},
};
enum { NSPEC = sizeof specs / sizeof specs[0] };

static size_t spec_bytes(const spec *s) {
    size_t n = gptoss_dtype_size(s->dt);
    for (int d = 0; d < s->ndim; d++) n *= (size_t)s->shape[d];
    return n;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static uint64_t json_u64(const cJSON *a, int i) {
    const cJSON *x = cJSON_GetArrayItem(a, i);
    return x && cJSON_IsNumber(x) ? (uint64_t)x->valuedouble : UINT64_MAX;
}

static void check_file(const char *path, const uint8_t *data, size_t total) {
    size_t len = 0;
    char *buf = gptoss_read_file(path, &len);
    CHECK(buf != NULL);
    if (!buf) return;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)(uint8_t)buf[i] << (8 * i);
    CHECK(n % 8 == 0);
    CHECK(8 + n + total == len);
    if (8 + n + total != len) {
        free(buf);
        return;
    }
    /* JSON then only spaces: cJSON must accept the whole padded header. */
    cJSON *root = cJSON_ParseWithLength(buf + 8, n);
    CHECK(root != NULL);
    size_t json_len = n;
    while (json_len && buf[8 + json_len - 1] == ' ') json_len--;
    CHECK(n - json_len < 8);
    CHECK(buf[8 + json_len - 1] == '}');

    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    CHECK(meta && cJSON_IsString(cJSON_GetObjectItem(meta, "format")) &&
          !strcmp(cJSON_GetObjectItem(meta, "format")->valuestring, "pt"));
    CHECK(cJSON_GetArraySize(root) == NSPEC + 1);

    uint64_t off = 0;
    for (int i = 0; i < NSPEC; i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, specs[i].name);
        CHECK(t != NULL);
        if (!t) continue;
        const cJSON *dt = cJSON_GetObjectItem(t, "dtype");
        CHECK(cJSON_IsString(dt) && !strcmp(dt->valuestring, gptoss_dtype_name(specs[i].dt)));
        const cJSON *shape = cJSON_GetObjectItem(t, "shape");
        CHECK(cJSON_IsArray(shape) && cJSON_GetArraySize(shape) == specs[i].ndim);
        for (int d = 0; d < specs[i].ndim; d++) CHECK(json_u64(shape, d) == (uint64_t)specs[i].shape[d]);
        const cJSON *offs = cJSON_GetObjectItem(t, "data_offsets");
        CHECK(json_u64(offs, 0) == off);
        CHECK(json_u64(offs, 1) == off + spec_bytes(&specs[i]));
        off += spec_bytes(&specs[i]);
    }
    CHECK(off == total);
    CHECK(!memcmp(buf + 8 + n, data, total));
    cJSON_Delete(root);
    free(buf);
}

static gptoss_status declare_all(st_writer *w) {
    gptoss_status st = st_writer_metadata(w, "format", "pt");
    for (int i = 0; i < NSPEC && st == GPTOSS_OK; i++)
        st = st_writer_add(w, specs[i].name, specs[i].dt, specs[i].ndim, specs[i].shape);
    return st;
}

int main(void) {
    char dir[] = "/tmp/gptoss_test_stw_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *path = gptoss_path_join(dir, "t.safetensors");

    size_t total = 0;
    for (int i = 0; i < NSPEC; i++) total += spec_bytes(&specs[i]);
    uint8_t *data = malloc(total);
    for (size_t i = 0; i < total; i++) data[i] = (uint8_t)(i * 131 + 7);

    /* 1. a complete write, chunks of 3 bytes (crossing every tensor boundary) */
    st_writer *w = NULL;
    CHECK(st_writer_open(path, &w) == GPTOSS_OK);
    CHECK(declare_all(w) == GPTOSS_OK);
    CHECK(st_writer_data_size(w) == total);
    CHECK(st_writer_add(w, "ids", GPTOSS_DT_U8, 1, (int64_t[]){1}) == GPTOSS_ERR_ARG); /* twice */
    CHECK(st_writer_add(w, "__metadata__", GPTOSS_DT_U8, 1, (int64_t[]){1}) == GPTOSS_ERR_ARG);
    CHECK(st_writer_add(w, "neg", GPTOSS_DT_U8, 1, (int64_t[]){-1}) == GPTOSS_ERR_ARG);
    CHECK(st_writer_write(w, data, 1) == GPTOSS_ERR_ARG); /* before the header */
    CHECK(st_writer_begin(w) == GPTOSS_OK);
    CHECK(st_writer_add(w, "late", GPTOSS_DT_U8, 1, (int64_t[]){1}) == GPTOSS_ERR_ARG);
    CHECK(!file_exists(path)); /* nothing visible before finish */
    for (size_t at = 0; at < total; at += 3) {
        size_t k = total - at < 3 ? total - at : 3;
        CHECK(st_writer_write(w, data + at, k) == GPTOSS_OK);
    }
    CHECK(st_writer_write(w, data, 1) == GPTOSS_ERR_ARG); /* beyond the declared size */
    CHECK(st_writer_finish(w) == GPTOSS_OK);
    check_file(path, data, total);

    /* 2. a short write fails, names the file, and leaves the previous file untouched */
    CHECK(st_writer_open(path, &w) == GPTOSS_OK);
    CHECK(declare_all(w) == GPTOSS_OK);
    CHECK(st_writer_begin(w) == GPTOSS_OK);
    CHECK(st_writer_write(w, data, total - 1) == GPTOSS_OK);
    CHECK(st_writer_finish(w) == GPTOSS_ERR_ARG);
    CHECK(strstr(gptoss_last_error(), path) != NULL);
    check_file(path, data, total);

    /* 3. abort leaves no temporary behind */
    CHECK(st_writer_open(path, &w) == GPTOSS_OK);
    CHECK(declare_all(w) == GPTOSS_OK);
    CHECK(st_writer_begin(w) == GPTOSS_OK);
    st_writer_abort(w);
    check_file(path, data, total);
    unlink(path);
    CHECK(rmdir(dir) == 0); /* fails if a temporary was left */

    /* 4. an unwritable place is an error naming it */
    CHECK(st_writer_open("/nonexistent/dir/x.safetensors", &w) == GPTOSS_ERR_IO);
    CHECK(strstr(gptoss_last_error(), "/nonexistent/dir/x.safetensors") != NULL);

    free(data);
    free(path);
    printf("test_safetensors_write: %s\n", check_failures ? "FAIL" : "ok");
    return check_failures ? 1 : 0;
}
