// llama.cpp's CPU flash attention with an f16 K/V cache (ggml-cpu ops.cpp, ggml_compute_forward_flash_attn_ext_f16),
// its three kernels reproduced to the bit:
// - one chunk (ggml_compute_forward_flash_attn_ext_f16_one_chunk): a ubatch under 64 tokens, or one token over a KV
//   view under 512 cells. Per key in order, an online soft-max with libm expf, the V accumulator kept in f16 and
//   rounded after every key (scale: f16(acc * ms); mad: f16(fmaf(v, vs, acc))), S = fmaf(S, ms, vs), out acc * (1/S).
// - split KV (its one-chunk kernel over each thread's range of cells, then ggml_flash_attn_ext_reduce_partials):
//   one token over 512 cells or more; the partials merged in f32 in cell order.
// - tiled (ggml_compute_forward_flash_attn_ext_tiled): a ubatch of 64 tokens or more. Q stays f32; per 64-cell KV
//   tile each score is one fma chain over the head dimension, the running max moves once per tile (rescale by libm
//   expf), the weights are ggml_v_expf of the level's build with the row sum in double, and each output element is
//   one fma chain over the tile's cells in an f32 accumulator.
// Every vector step below is per element (lanes never mix), so the SIMD widths give the scalar loops' bits; only
// the soft-max sum (llava_vec_soft_max_ggml) follows the level's build.
#pragma STDC FP_CONTRACT OFF
#include "kernels.h"
#include "half.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define X86_ONLY(code) code

__attribute__((target("avx512f,f16c,fma")))
static int fa_scale_mad_512(uint16_t *acc, const uint16_t *v, int d, float ms, float vs, int rescale) {
    int e = 0;
    const __m512 m = _mm512_set1_ps(ms), w = _mm512_set1_ps(vs);
    for (; e + 16 <= d; e += 16) {
        __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(acc + e)));
        if (rescale) a = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_mul_ps(a, m), _MM_FROUND_TO_NEAREST_INT));
        const __m512 x = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + e)));
        _mm256_storeu_si256((__m256i *)(acc + e), _mm512_cvtps_ph(_mm512_fmadd_ps(x, w, a), _MM_FROUND_TO_NEAREST_INT));
    }
    return e;
}
__attribute__((target("avx2,f16c,fma")))
static int fa_scale_mad_256(uint16_t *acc, const uint16_t *v, int d, float ms, float vs, int rescale) {
    int e = 0;
    const __m256 m = _mm256_set1_ps(ms), w = _mm256_set1_ps(vs);
    for (; e + 8 <= d; e += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc + e)));
        if (rescale) a = _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(a, m), _MM_FROUND_TO_NEAREST_INT));
        const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + e)));
        _mm_storeu_si128((__m128i *)(acc + e), _mm256_cvtps_ph(_mm256_fmadd_ps(x, w, a), _MM_FROUND_TO_NEAREST_INT));
    }
    return e;
}

// s[tk] = fma chain over dk of q[dk] * kt[dk][tk] (kt: the K tile transposed, 64 cells a row), from +0.
__attribute__((target("avx512f,fma")))
static void fa_scores_512(const float *q, const float *kt, int d, float *s) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int k = 0; k < d; k++) {
        const __m512 b = _mm512_set1_ps(q[k]);
        const float *r = kt + (size_t)k * 64;
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(r), b, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 16), b, a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 32), b, a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 48), b, a3);
    }
    _mm512_storeu_ps(s, a0); _mm512_storeu_ps(s + 16, a1); _mm512_storeu_ps(s + 32, a2); _mm512_storeu_ps(s + 48, a3);
}
__attribute__((target("avx2,fma")))
static void fa_scores_256(const float *q, const float *kt, int d, float *s) {
    for (int h = 0; h < 64; h += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < d; k++) {
            const __m256 b = _mm256_set1_ps(q[k]);
            const float *r = kt + (size_t)k * 64 + h;
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r), b, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 8), b, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 16), b, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 24), b, a3);
        }
        _mm256_storeu_ps(s + h, a0); _mm256_storeu_ps(s + h + 8, a1);
        _mm256_storeu_ps(s + h + 16, a2); _mm256_storeu_ps(s + h + 24, a3);
    }
}

// acc[e] = fma chain over tk of p[tk] * vt[tk][e], continuing from acc (vt: the V tile, d floats a row).
__attribute__((target("avx512f,fma")))
static int fa_weighted_512(const float *p, const float *vt, int d, float *acc) {
    int e = 0;
    for (; e + 16 <= d; e += 16) {
        __m512 a = _mm512_loadu_ps(acc + e);
        for (int t = 0; t < 64; t++)
            a = _mm512_fmadd_ps(_mm512_loadu_ps(vt + (size_t)t * d + e), _mm512_set1_ps(p[t]), a);
        _mm512_storeu_ps(acc + e, a);
    }
    return e;
}
__attribute__((target("avx2,fma")))
static int fa_weighted_256(const float *p, const float *vt, int d, float *acc) {
    int e = 0;
    for (; e + 8 <= d; e += 8) {
        __m256 a = _mm256_loadu_ps(acc + e);
        for (int t = 0; t < 64; t++)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(vt + (size_t)t * d + e), _mm256_set1_ps(p[t]), a);
        _mm256_storeu_ps(acc + e, a);
    }
    return e;
}
#else
#define X86_ONLY(code)
#endif

void llava_flash_attn_partial_f16(const float *scores, int n, const uint16_t *v, long v_stride, int d,
                                  uint16_t *acc, float *vkq, float *m_out, float *s_out) {
    for (int e = 0; e < d; e++) acc[e] = 0;
    float M = -INFINITY, S = 0.0f;
    const int level = llava_cpu_level();
    (void)level;   // only the x86 paths ask
    for (int j = 0; j < n; j++) {
        const float s = scores[j];
        float ms = 1.0f, vs = 1.0f;
        int rescale = 0;
        if (s > M) { const float old = M; M = s; ms = expf(old - M); rescale = 1; } else { vs = expf(s - M); }
        const uint16_t *vj = v + (size_t)j * v_stride;
        int e = 0;
        X86_ONLY(if (level == LLAVA_LEVEL_AVX512) e = fa_scale_mad_512(acc, vj, d, ms, vs, rescale);
                 else if (level >= LLAVA_LEVEL_AVX2) e = fa_scale_mad_256(acc, vj, d, ms, vs, rescale);)
        for (; e < d; e++) {
            float a = fp16_to_fp32(acc[e]);
            if (rescale) a = fp16_to_fp32(fp32_to_fp16(a * ms));
            acc[e] = fp32_to_fp16(fmaf(fp16_to_fp32(vj[e]), vs, a));
        }
        S = fmaf(S, ms, vs);
    }
    for (int e = 0; e < d; e++) vkq[e] = fp16_to_fp32(acc[e]);
    *m_out = M;
    *s_out = S;
}

void llava_flash_attn_row_f16(const float *scores, int n, const uint16_t *v, long v_stride, int d,
                              uint16_t *acc, float *out) {
    float M, S;
    llava_flash_attn_partial_f16(scores, n, v, v_stride, d, acc, out, &M, &S);
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int e = 0; e < d; e++) out[e] *= inv;
}

void llava_flash_attn_merge(const float *vkq, float m, float s, int d, float *vkq_all, float *m_all, float *s_all) {
    if (s == 0.0f) return;   // a chunk whose cells were all masked
    const float mn = fmaxf(*m_all, m);
    const float so = expf(*m_all - mn), sn = expf(m - mn);
    // llama.cpp writes a * so + b * sn; GCC contracts the first product into the addition.
    for (int e = 0; e < d; e++) vkq_all[e] = fmaf(vkq_all[e], so, vkq[e] * sn);
    *s_all = fmaf(*s_all, so, s * sn);
    *m_all = mn;
}

void llava_flash_attn_tiled_f16(const float *q, long q_stride, int rows, int pos0, const uint16_t *k,
                                const uint16_t *v, long kv_stride, int cells, int d, float scale,
                                float *out, long out_stride) {
    if (rows <= 0) return;
    float *kt = malloc(sizeof(float) * 64 * (size_t)d);          // [d, 64]: the K tile transposed
    float *vt = malloc(sizeof(float) * 64 * (size_t)d);          // [64, d]
    float *acc = calloc((size_t)rows * (size_t)d, sizeof(float)); // [rows, d]
    float *mx = malloc(sizeof(float) * (size_t)rows), *sum = malloc(sizeof(float) * (size_t)rows);
    if (!kt || !vt || !acc || !mx || !sum) abort();   // a few KB: nothing sensible to compute without them
    for (int r = 0; r < rows; r++) { mx[r] = -INFINITY; sum[r] = 0.0f; }
    const int level = llava_cpu_level();
    (void)level;
    float s[64], p[64];
    const int last = pos0 + rows - 1;   // the last row's position: later tiles are masked for every row
    for (int ic = 0; ic <= last; ic += 64) {
        for (int t = 0; t < 64; t++) {
            const int c = ic + t;
            for (int e = 0; e < d; e++) {
                // Cells past the cache are masked for every row; zeros stand in for llama.cpp's cleared cells.
                kt[(size_t)e * 64 + t] = c < cells ? fp16_to_fp32(k[(size_t)c * kv_stride + e]) : 0.0f;
                vt[(size_t)t * d + e] = c < cells ? fp16_to_fp32(v[(size_t)c * kv_stride + e]) : 0.0f;
            }
        }
        for (int r = 0; r < rows; r++) {
            const int pos = pos0 + r;
            if (pos < ic) continue;   // every cell of this tile masked for the row: no change
            const float *qr = q + (size_t)r * q_stride;
            int done = 0;
            X86_ONLY(if (level == LLAVA_LEVEL_AVX512) { fa_scores_512(qr, kt, d, s); done = 1; }
                     else if (level >= LLAVA_LEVEL_AVX2) { fa_scores_256(qr, kt, d, s); done = 1; })
            if (!done) {
                for (int t = 0; t < 64; t++) {
                    float a = 0.0f;
                    for (int e = 0; e < d; e++) a = fmaf(qr[e], kt[(size_t)e * 64 + t], a);
                    s[t] = a;
                }
            }
            float tmax = -INFINITY;
            for (int t = 0; t < 64; t++) {
                // KQ * scale, then + the mask: +0 for a visible cell, -inf past the row's position.
                s[t] = ic + t <= pos ? s[t] * scale + 0.0f : -INFINITY;
                tmax = tmax > s[t] ? tmax : s[t];   // ggml_vec_max_f32's MAX(max, x)
            }
            if (tmax == -INFINITY) continue;
            float *ar = acc + (size_t)r * d;
            const float mnew = fmaxf(mx[r], tmax);
            if (mnew > mx[r]) {
                const float ms = expf(mx[r] - mnew);
                for (int e = 0; e < d; e++) ar[e] *= ms;
                sum[r] *= ms;
            }
            mx[r] = mnew;
            sum[r] = (float)((double)sum[r] + llava_vec_soft_max_ggml(s, p, 64, mnew));
            int e = 0;
            X86_ONLY(if (level == LLAVA_LEVEL_AVX512) e = fa_weighted_512(p, vt, d, ar);
                     else if (level >= LLAVA_LEVEL_AVX2) e = fa_weighted_256(p, vt, d, ar);)
            for (; e < d; e++) {
                float a = ar[e];
                for (int t = 0; t < 64; t++) a = fmaf(p[t], vt[(size_t)t * d + e], a);
                ar[e] = a;
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        const float inv = sum[r] == 0.0f ? 0.0f : 1.0f / sum[r];
        for (int e = 0; e < d; e++) out[(size_t)r * out_stride + e] = acc[(size_t)r * d + e] * inv;
    }
    free(kt); free(vt); free(acc); free(mx); free(sum);
}
