/* sha256.h: SHA-256 (FIPS 180-4), used to check the vendored vocabulary file. */
#ifndef GPTOSS_SHA256_H
#define GPTOSS_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* digest[32] = SHA-256(data[0..len)). */
void sha256(const void *data, size_t len, uint8_t digest[32]);
/* hex[65] = lower-case hex of digest, NUL-terminated. */
void sha256_hex(const uint8_t digest[32], char hex[65]);

#endif
