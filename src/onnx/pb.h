/* pb.h: a minimal protobuf encoder, enough to write ONNX ModelProto messages.
 *
 * A pb_buf is a growable byte buffer. Fields are appended in wire format: varints
 * (wire type 0), fixed32 (wire type 5) and length-delimited bytes / strings / nested
 * messages (wire type 2). A nested message is encoded into its own pb_buf first and then
 * appended with pb_message(). An allocation failure sets buf->failed; later calls are
 * no-ops, so callers check once at the end. */
#ifndef GPTOSS_ONNX_PB_H
#define GPTOSS_ONNX_PB_H

#include <stddef.h>
#include <stdint.h>

typedef struct pb_buf {
    uint8_t *data;
    size_t len, cap;
    int failed;
} pb_buf;

void pb_free(pb_buf *b);
void pb_raw(pb_buf *b, const void *p, size_t n);
void pb_varint(pb_buf *b, uint64_t v);

/* field = varint (int32/int64/enum; negative values as 10-byte two's complement) */
void pb_int(pb_buf *b, int field, int64_t v);
/* field = 32-bit float (wire type 5) */
void pb_float(pb_buf *b, int field, float v);
/* field = bytes / string / nested message (wire type 2) */
void pb_bytes(pb_buf *b, int field, const void *p, size_t n);
void pb_string(pb_buf *b, int field, const char *s);
void pb_message(pb_buf *b, int field, pb_buf *sub); /* also frees sub */

#endif
