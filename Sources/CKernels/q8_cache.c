// The value side of attention over the opt-in q8_0 KV cache: out = sum_j p[j] * v_j, where each v_j is a row of
// ggml block_q8_0 (an f16 scale and 32 int8 per block). llama.cpp keeps a quantised V for its flash-attention path
// and widens each row before the multiply-add, as here; the sums are ours (not llama.cpp's order).
// Only the fused multiply-adds the code writes (fmaf, _mm*_fmadd_ps): none the compiler would add (arm64 has FMA in
// its baseline, so clang would otherwise contract a * b + c in the portable code and change its sums).
#pragma STDC FP_CONTRACT OFF
#include "kernels.h"
#include <string.h>

static void mad_rows_portable(const uint8_t *rows, size_t row_bytes, const float *p, int count, int n, float *out) {
    for (int j = 0; j < count; j++) {
        const uint8_t *r = rows + (size_t)j * row_bytes;
        for (int b = 0; b < n / 32; b++) {
            uint16_t h;
            memcpy(&h, r + 34 * b, 2);
            const float s = llava_half_to_float(h) * p[j];
            const int8_t *q = (const int8_t *)(r + 34 * b + 2);
            for (int e = 0; e < 32; e++) out[32 * b + e] += s * (float)q[e];
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
__attribute__((target("avx512f,f16c")))
static void mad_rows_avx512(const uint8_t *rows, size_t row_bytes, const float *p, int count, int n, float *out) {
    for (int j = 0; j < count; j++) {
        const uint8_t *r = rows + (size_t)j * row_bytes;
        if (p[j] == 0.0f) continue;   // masked or vanished probabilities add nothing
        for (int b = 0; b < n / 32; b++) {
            const __m512 s = _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)(r + 34 * b)) * p[j]);
            const __m128i lo = _mm_loadu_si128((const __m128i *)(r + 34 * b + 2));
            const __m128i hi = _mm_loadu_si128((const __m128i *)(r + 34 * b + 18));
            float *o = out + 32 * b;
            _mm512_storeu_ps(o, _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), _mm512_loadu_ps(o)));
            _mm512_storeu_ps(o + 16, _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), _mm512_loadu_ps(o + 16)));
        }
    }
}

static int has_mad512(void) { return llava_cpu_level() == LLAVA_LEVEL_AVX512; }
#endif

void llava_mad_q8_0_rows(const void *rows, size_t row_bytes, const float *p, int count, int n, float *out) {
    memset(out, 0, sizeof(float) * (size_t)n);
#if defined(__x86_64__) || defined(__i386__)
    if (has_mad512()) { mad_rows_avx512((const uint8_t *)rows, row_bytes, p, count, n, out); return; }
#endif
    mad_rows_portable((const uint8_t *)rows, row_bytes, p, count, n, out);
}
