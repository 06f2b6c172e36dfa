/* synth.h: deterministic synthetic GPT-OSS checkpoints in the real file formats.
 *
 * Every tensor's values come from a counter-based generator keyed by (seed, tensor name in
 * the original layout) and the element index, so a file's bytes never depend on the order
 * or the chunking in which they are produced, and both layouts (original and Hugging Face)
 * of one preset and seed hold the same numbers. */
#ifndef GPTOSS_SYNTH_H
#define GPTOSS_SYNTH_H

#include <stdint.h>

#include "gptoss.h"

typedef struct synth_preset {
    const char *name;
    const char *about;
    gptoss_config config;
} synth_preset;

/* NULL-terminated by a preset whose name is NULL. */
extern const synth_preset synth_presets[];
const synth_preset *synth_find_preset(const char *name);

typedef enum synth_layout { SYNTH_ORIGINAL = 0, SYNTH_HF = 1 } synth_layout;

typedef struct synth_options {
    uint64_t seed;
    synth_layout layout;
    int shards;   /* 0 = the layout's default (original 1, hf 3, as published) */
    int threads;  /* 0 = all cores */
    int progress; /* print progress lines on stderr */
} synth_options;

/* Writes the checkpoint into dir atomically: everything goes to "<dir>.tmp.<pid>" which
 * replaces dir only once complete; a failure or an interrupt leaves dir as it was. */
gptoss_status synth_write(const char *dir, const gptoss_config *config, const synth_options *opt);

#endif

/* ---- values (synth_values.c) ----------------------------------------------------------- */

typedef enum synth_dist {
    SYNTH_NORMAL,      /* BF16, mean a, standard deviation b (bounded, Irwin-Hall of 4) */
    SYNTH_UNIFORM,     /* BF16, uniform in [a, b) */
    SYNTH_FP4_CODES,   /* U8, two uniformly random e2m1 codes per byte */
    SYNTH_FP4_SCALES,  /* U8, 127 + e0 + offset: offsets -2..1 (1:2:3:2) plus 1 w.p. q */
} synth_dist;

typedef struct synth_gen {
    synth_dist dist;
    double a, b;   /* see synth_dist */
    int e0;        /* FP4 scales */
    double q;      /* FP4 scales */
} synth_gen;

/* Mean square of an MXFP4 weight with uniform codes and scales drawn as above; the scale
 * parameters that give weights of a target root-mean-square (no libm: bit-reproducible). */
void synth_fp4_scales_for_rms(double rms, int *e0, double *q);
double synth_fp4_rms(int e0, double q);

/* Key of a tensor's stream: (seed, name in the original layout). */
uint64_t synth_key(uint64_t seed, const char *name);
/* Fills out with n bytes of the tensor whose stream is key, starting at byte offset
 * `byte` of the source tensor (a multiple of the element size). */
void synth_fill(const synth_gen *g, uint64_t key, uint64_t byte, uint8_t *out, size_t n);
