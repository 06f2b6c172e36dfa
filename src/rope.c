/* rope.c: rotary position embedding with YaRN (NTK by parts), computed in fp32 in the
 * reference's order of operations (gpt_oss/torch/model.py, RotaryEmbedding):
 *
 *   freq      = theta ** (2i / d)                      fp32
 *   low, high = (d/2) ln(ctx0 / (beta|alpha * 2 pi)) / ln(theta)     double
 *   ramp      = (i - low) / (high - low), clamped to [0, 1]           fp32
 *   mask      = 1 - ramp
 *   inv_freq  = (1 / (factor * freq)) * (1 - mask) + (1 / freq) * mask
 *   cos, sin  = cos(pos * inv_freq) * conc, sin(...) * conc,  conc = 0.1 ln(factor) + 1
 *
 * Each fp32 step is rounded separately, as torch does (no fused multiply-add). */
#include <math.h>

#include "engine.h"

void rope_table_range(const gptoss_config *c, int64_t pos0, int T, float *cos_t, float *sin_t) {
    const int d = c->head_dim, half = d / 2;
    const float theta = c->rope_theta, factor = c->rope_scaling_factor;
    float conc = 1.0f;
    double low = 0, high = 1;
    if (factor > 1.0f) {
        conc = (float)(0.1 * log((double)factor) + 1.0);
        const double two_pi = 2 * M_PI;
        low = half * log(c->initial_context_length / (c->rope_ntk_beta * two_pi)) / log(theta);
        high = half * log(c->initial_context_length / (c->rope_ntk_alpha * two_pi)) / log(theta);
    }
    for (int i = 0; i < half; i++) {
        float expo = (float)(2 * i) / (float)d;
        float freq = (float)pow((double)theta, (double)expo); /* correctly rounded powf */
        float inv;
        if (factor > 1.0f) {
            float interp = 1.0f / (factor * freq);
            float extrap = 1.0f / freq;
            float ramp = ((float)i - (float)low) / (float)(high - low);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            float mask = 1.0f - ramp;
            float a = interp * (1.0f - mask);
            float b = extrap * mask;
            inv = a + b;
        } else {
            inv = 1.0f / freq;
        }
        for (int t = 0; t < T; t++) {
            float angle = (float)(pos0 + t) * inv; /* positions < 2^24: exact in fp32 */
            float co = (float)cos((double)angle), si = (float)sin((double)angle);
            cos_t[(int64_t)t * half + i] = co * conc;
            sin_t[(int64_t)t * half + i] = si * conc;
        }
    }
}

void rope_table(const gptoss_config *c, int T, float *cos_t, float *sin_t) {
    rope_table_range(c, 0, T, cos_t, sin_t);
}

void rope_forward(float *x, int T, int n_heads, int d, const float *cos_t, const float *sin_t) {
    const int half = d / 2;
    for (int t = 0; t < T; t++) {
        const float *co = cos_t + (int64_t)t * half, *si = sin_t + (int64_t)t * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((int64_t)t * n_heads + h) * d;
            for (int i = 0; i < half; i++) {
                float x1 = v[i], x2 = v[i + half];
                float a = x1 * co[i], b = x2 * si[i];
                float p = x2 * co[i], q = x1 * si[i];
                v[i] = a - b;
                v[i + half] = p + q;
            }
        }
    }
}
