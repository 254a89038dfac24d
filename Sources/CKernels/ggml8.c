// ggml's f32 orders as an AVX2 + FMA + F16C build of llama.cpp computes them (8 float lanes), for the avx2 and
// avxvnni levels: ggml_vec_dot_f16 (four 8-lane accumulators over 32-element steps, then x0+x2, x1+x3, x0+x1,
// the two 128-bit halves added and two horizontal adds), tinyBLAS's one 8-lane accumulator for a batch,
// ggml_v_expf's AVX2 form (result k + k*j, not AVX-512's scalef), and the soft-max / SwiGLU loops built on it.
// The AVX-512 orders live in kernels.c.
// Only the fused multiply-adds the code writes (fmaf, _mm*_fmadd_ps): none the compiler would add (arm64 has FMA in
// its baseline, so clang would otherwise contract a * b + c in the portable code and change its sums).
#pragma STDC FP_CONTRACT OFF
#include "kernels.h"
#include "ggml8.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define G8_FN __attribute__((target("avx2,fma,f16c")))

G8_FN static inline float hsum8_g8(__m256 x) {   // ggml's hsum_float_8 (and soft-max's chunk sum)
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

G8_FN static inline float reduce_f16_g8(__m256 s0, __m256 s1, __m256 s2, __m256 s3) {   // GGML_F32x8_REDUCE
    s0 = _mm256_add_ps(s0, s2);
    s1 = _mm256_add_ps(s1, s3);
    s0 = _mm256_add_ps(s0, s1);
    const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    const __m128 t1 = _mm_hadd_ps(t0, t0);
    return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

static inline float h2f(uint16_t h) { return llava_half_to_float(h); }
#define LOAD8_F32(p) _mm256_loadu_ps(p)
#define LOAD8_H16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define AT8_F32(p, i) ((p)[i])
#define AT8_H16(p, i) h2f((p)[i])
#define DEFINE_DOT_G8(SUFFIX, XT, LOADX, ATX)                                                            \
G8_FN float llava_g8_dot_vec_##SUFFIX(const XT *x, const float *y, int n) {                              \
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                                         \
    const int np = n & ~31;                                                                             \
    int i = 0;                                                                                          \
    for (; i < np; i += 32) {                                                                           \
        s0 = _mm256_fmadd_ps(LOADX(x + i), _mm256_loadu_ps(y + i), s0);                                 \
        s1 = _mm256_fmadd_ps(LOADX(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);                         \
        s2 = _mm256_fmadd_ps(LOADX(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);                       \
        s3 = _mm256_fmadd_ps(LOADX(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);                       \
    }                                                                                                   \
    double sum = (double)reduce_f16_g8(s0, s1, s2, s3);                                                 \
    for (; i < n; i++) sum += (double)(ATX(x, i) * y[i]);                                               \
    return (float)sum;                                                                                  \
}                                                                                                       \
G8_FN float llava_g8_dot_tiny_##SUFFIX(const XT *x, const float *y, int n) {                             \
    __m256 acc = _mm256_setzero_ps();                                                                   \
    for (int l = 0; l < n; l += 8) acc = _mm256_fmadd_ps(LOADX(x + l), _mm256_loadu_ps(y + l), acc);    \
    return hsum8_g8(acc);                                                                               \
}
DEFINE_DOT_G8(f16, float, LOAD8_F32, AT8_F32)
DEFINE_DOT_G8(h16, uint16_t, LOAD8_H16, AT8_H16)

// ggml_v_expf, AVX2 form: 2^n (n = round(x / ln 2)) times a polynomial in the remainder b, the power made by
// adding n to the exponent bits (k); |n| > 126 splits the power in two (s1 * s2) so it neither overflows early
// nor loses the subnormal range, and |n| > 192 saturates to 0 or inf.
G8_FN static inline __m256 v_expf_g8(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
    const __m256 absn = _mm256_andnot_ps(_mm256_set1_ps(-0.f), n);
    const __m256 big = _mm256_cmp_ps(absn, _mm256_set1_ps(126), _CMP_GT_OQ);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 p_hi = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f));
    const __m256 p_lo = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f));
    const __m256 j = _mm256_fmadd_ps(_mm256_fmadd_ps(p_hi, u, p_lo), u,
                                     _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    if (!_mm256_movemask_ps(big)) return _mm256_fmadd_ps(j, k, k);
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256 huge = _mm256_cmp_ps(absn, _mm256_set1_ps(192), _CMP_GT_OQ);
    const __m256 split = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    const __m256 normal = _mm256_fmadd_ps(k, j, k);
    return _mm256_or_ps(_mm256_and_ps(huge, _mm256_mul_ps(s1, s1)),
                        _mm256_andnot_ps(huge, _mm256_or_ps(_mm256_and_ps(big, split), _mm256_andnot_ps(big, normal))));
}

G8_FN double llava_g8_soft_max_sum(const float *x, float *y, int n, float m) {
    double sum = 0;
    int i = 0;
    const __m256 vm = _mm256_set1_ps(m);
    for (; i + 8 <= n; i += 8) {
        const __m256 v = v_expf_g8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(y + i, v);
        sum += (double)hsum8_g8(v);
    }
    for (; i < n; i++) { const float e = expf(x[i] - m); y[i] = e; sum += (double)e; }
    return sum;
}

G8_FN void llava_g8_softmax(float *row, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) if (row[i] > m) m = row[i];
    const double sum = llava_g8_soft_max_sum(row, row, n, m);
    const float inv = (float)(1.0 / sum);
    const __m256 vinv = _mm256_set1_ps(inv);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), vinv));
    for (; i < n; i++) row[i] *= inv;
}

G8_FN void llava_g8_swiglu(float *x, const float *g, int n) {
    int i = 0;
    const __m256 one = _mm256_set1_ps(1), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 s = _mm256_div_ps(v, _mm256_add_ps(one, v_expf_g8(_mm256_sub_ps(zero, v))));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(s, _mm256_loadu_ps(g + i)));
    }
    for (; i < n; i++) x[i] = (x[i] / (1.0f + expf(-x[i]))) * g[i];
}
#endif
