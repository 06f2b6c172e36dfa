/* pb.c: see pb.h. */
#include "onnx/pb.h"

#include <stdlib.h>
#include <string.h>

void pb_free(pb_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

void pb_raw(pb_buf *b, const void *p, size_t n) {
    if (b->failed || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void pb_varint(pb_buf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    pb_raw(b, tmp, n);
}

static void tag(pb_buf *b, int field, int wire) { pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

void pb_int(pb_buf *b, int field, int64_t v) {
    tag(b, field, 0);
    pb_varint(b, (uint64_t)v);
}

void pb_float(pb_buf *b, int field, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    tag(b, field, 5);
    pb_raw(b, le, 4);
}

void pb_bytes(pb_buf *b, int field, const void *p, size_t n) {
    tag(b, field, 2);
    pb_varint(b, n);
    pb_raw(b, p, n);
}

void pb_string(pb_buf *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

void pb_message(pb_buf *b, int field, pb_buf *sub) {
    if (sub->failed) b->failed = 1;
    pb_bytes(b, field, sub->data, sub->len);
    pb_free(sub);
}
