/* synth_values.c: the values of synthetic tensors.
 *
 * A counter-based generator: element i of a tensor is a pure function of
 * (key(seed, name), i), a splitmix64 finaliser of key + (i + 1) * golden ratio. Only
 * integer arithmetic, float multiply/add and bf16 rounding are used (no libm), so the
 * bytes are the same on every machine, thread count and chunking. */
#include <math.h>

#include "synth.h"
#include "util.h"

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rng_at(uint64_t key, uint64_t i) {
    return mix64(key + (i + 1) * 0x9e3779b97f4a7c15ull);
}

uint64_t synth_key(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return mix64(mix64(seed ^ 0x5851f42d4c957f2dull) ^ h);
}

/* Sum of four 16-bit uniforms, centred and scaled to unit variance: a bell curve bounded
 * at +-3.46 (no outliers that would dominate a small model). */
static inline float approx_normal(uint64_t h) {
    uint32_t s = (uint32_t)(h & 0xffff) + (uint32_t)((h >> 16) & 0xffff) + (uint32_t)((h >> 32) & 0xffff) +
                 (uint32_t)(h >> 48);
    float c = (float)s - 131070.0f;
    return c * (1.0f / 37837.07f); /* sqrt(4 * (65536^2 - 1) / 12) */
}

static inline float uniform01(uint64_t h) { return (float)(h >> 40) * (1.0f / 16777216.0f); }

/* FP4 e2m1 magnitudes: mean square over the 16 codes = 68.5 / 8. Scale offsets -2..1 with
 * weights 1:2:3:2 give E[4^o] = 11.5625 / 8; the extra +1 with probability q gives 1 + 3q. */
static const double FP4_MS = 68.5 / 8.0;
static const double OFFSET_MS = 11.5625 / 8.0;
static const int8_t scale_offset[8] = {-2, -1, -1, 0, 0, 0, 1, 1};

double synth_fp4_rms(int e0, double q) {
    double p = 1.0;
    for (int i = 0; i < (e0 < 0 ? -e0 : e0); i++) p = e0 < 0 ? p * 0.25 : p * 4.0;
    return sqrt(FP4_MS * OFFSET_MS * p * (1.0 + 3.0 * q));
}

void synth_fp4_scales_for_rms(double rms, int *e0, double *q) {
    double r = rms * rms / (FP4_MS * OFFSET_MS); /* = 4^e0 * (1 + 3q) */
    int e = 0;
    while (r < 1.0) {
        r *= 4.0;
        e--;
    }
    while (r >= 4.0) {
        r *= 0.25;
        e++;
    }
    /* 4^e is the squared power of two 2^e: a scale exponent e per unit of 4. */
    *e0 = e;
    *q = (r - 1.0) / 3.0;
}

static void fill_scales(const synth_gen *g, uint64_t key, uint64_t first, uint8_t *out, size_t n) {
    const uint64_t bump_below = (uint64_t)(g->q * 16777216.0); /* P(bump) = q, to 2^-24 */
    for (size_t i = 0; i < n; i++) {
        uint64_t h = rng_at(key, first + i);
        int v = 127 + g->e0 + scale_offset[h & 7] + (((h >> 8) & 0xffffff) < bump_below);
        out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

static void fill_bf16(const synth_gen *g, uint64_t key, uint64_t first, uint8_t *out, size_t n) {
    const float a = (float)g->a, b = (float)g->b;
    const int normal = g->dist == SYNTH_NORMAL;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = rng_at(key, first + i);
        float v;
        if (normal) {
            float z = approx_normal(h) * b;
            v = a + z;
        } else {
            float u = uniform01(h) * (b - a);
            v = a + u;
        }
        uint16_t bits = f32_to_bf16(v);
        out[2 * i] = (uint8_t)bits; /* little-endian, whatever the host */
        out[2 * i + 1] = (uint8_t)(bits >> 8);
    }
}

/* Byte b of the codes is byte b % 8 (little-endian) of word b / 8. */
static void fill_codes(uint64_t key, uint64_t byte, uint8_t *out, size_t n) {
    size_t i = 0;
    for (; i < n && (byte + i) % 8; i++) out[i] = (uint8_t)(rng_at(key, (byte + i) / 8) >> (8 * ((byte + i) % 8)));
    const uint64_t w0 = (byte + i) / 8;
    for (size_t k = 0; i + 8 <= n; i += 8, k++) {
        uint64_t h = rng_at(key, w0 + k);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(out + i, &h, 8);
#else
        for (int j = 0; j < 8; j++) out[i + j] = (uint8_t)(h >> (8 * j));
#endif
    }
    for (; i < n; i++) out[i] = (uint8_t)(rng_at(key, (byte + i) / 8) >> (8 * ((byte + i) % 8)));
}

void synth_fill(const synth_gen *g, uint64_t key, uint64_t byte, uint8_t *out, size_t n) {
    switch (g->dist) {
    case SYNTH_NORMAL:
    case SYNTH_UNIFORM:
        fill_bf16(g, key, byte / 2, out, n / 2);
        break;
    case SYNTH_FP4_CODES:
        fill_codes(key, byte, out, n);
        break;
    case SYNTH_FP4_SCALES:
        fill_scales(g, key, byte, out, n);
        break;
    }
}
