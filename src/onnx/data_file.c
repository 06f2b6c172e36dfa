/* data_file.c: see data_file.h. */
#include "onnx/data_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* 1 when the file at path is a model whose external data has location `location`: its
 * bytes hold the StringStringEntryProto {key: "location", value: location} (fields 1 and
 * 2, in that order, as every protobuf serializer writes them). */
static int references(const char *path, const char *location) {
    size_t len = strlen(location);
    if (len > 1000) return 0;
    unsigned char needle[1024], *p = needle;
    *p++ = 0x0a;
    *p++ = 8;
    memcpy(p, "location", 8);
    p += 8;
    *p++ = 0x12;
    for (size_t v = len; ; v >>= 7) { /* varint length */
        *p++ = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f) break;
    }
    memcpy(p, location, len);
    p += len;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    struct stat sb;
    int found = 0;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            found = memmem(m, (size_t)sb.st_size, needle, (size_t)(p - needle)) != NULL;
            munmap(m, (size_t)sb.st_size);
        }
    }
    close(fd);
    return found;
}

gptoss_status ox_data_file_choose(const char *model_path, ox_data_file *d) {
    memset(d, 0, sizeof *d);
    const char *slash = strrchr(model_path, '/');
    const char *base = slash ? slash + 1 : model_path;
    int dir_len = (int)(base - model_path);
    char *first = NULL, *second = NULL;
    if (asprintf(&first, "%s.data", base) < 0) first = NULL;
    if (asprintf(&second, "%s.2.data", base) < 0) second = NULL;
    if (first && second) {
        int live_first = references(model_path, first);
        d->location = live_first ? second : first;
        if (asprintf(&d->path, "%.*s%s", dir_len, model_path, d->location) < 0) d->path = NULL;
        if (asprintf(&d->stale_path, "%.*s%s", dir_len, model_path, live_first ? first : second) < 0)
            d->stale_path = NULL;
        free(live_first ? first : second);
        first = second = NULL;
    }
    free(first);
    free(second);
    if (!d->location || !d->path || !d->stale_path) {
        ox_data_file_free(d);
        return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", model_path);
    }
    return GPTOSS_OK;
}

static gptoss_status remove_if_present(const char *path) {
    if (unlink(path) == 0 || errno == ENOENT) return GPTOSS_OK;
    return gptoss_error(GPTOSS_ERR_IO, "%s: cannot remove the previous data file: %s", path, strerror(errno));
}

gptoss_status ox_data_file_cleanup(const ox_data_file *d, int used) {
    gptoss_status st = remove_if_present(d->stale_path);
    if (!st && !used) st = remove_if_present(d->path);
    return st;
}

void ox_data_file_free(ox_data_file *d) {
    free(d->location);
    free(d->path);
    free(d->stale_path);
    memset(d, 0, sizeof *d);
}
