// Quantised dot-product kernels; see include/kernels.h.
// Only the fused multiply-adds the code writes (fmaf, _mm*_fmadd_ps): none the compiler would add (arm64 has FMA in
// its baseline, so clang would otherwise contract a * b + c in the portable code and change its sums).
#pragma STDC FP_CONTRACT OFF
#include "kernels.h"
#include "ggml8.h"
#include "half.h"
#include <math.h>
#include <string.h>

float llava_half_to_float(uint16_t h) { return fp16_to_fp32(h); }

static inline float hsum8(const float v[8]) {
    float r0 = v[4] + v[0], r1 = v[5] + v[1], r2 = v[6] + v[2], r3 = v[7] + v[3];
    return (r0 + r2) + (r1 + r3);
}

// ---- portable: the same operations, one lane at a time ------------------------------------

static void quantize_portable(const float *x, uint8_t *out, int n, int with_sum) {
    const int bytes = with_sum ? 36 : 34, qoff = with_sum ? 4 : 2;
    for (int b = 0; b < n / 32; b++) {
        const float *v = x + 32 * b;
        uint8_t *o = out + bytes * b;
        float amax = 0;
        for (int j = 0; j < 32; j++) { float a = fabsf(v[j]); if (a > amax) amax = a; }
        const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
        uint16_t dh = fp32_to_fp16(d);
        memcpy(o, &dh, 2);
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int q = (int)nearbyintf(v[j] * id);
            o[qoff + j] = (uint8_t)(int8_t)q;
            sum += q;
        }
        if (with_sum) { uint16_t sh = fp32_to_fp16(d * (float)sum); memcpy(o + 2, &sh, 2); }
    }
}

static float dot_portable(int type, const uint8_t *w, const uint8_t *a, int n) {
    float acc[8] = {0}, summs = 0;
    for (int b = 0; b < n / 32; b++) {
        int32_t lanes[8] = {0};
        float scale;
        if (type == 0) {            // q4_0 x q8_0
            const uint8_t *wb = w + 18 * b; const int8_t *y = (const int8_t *)(a + 34 * b + 2);
            for (int j = 0; j < 16; j++) {
                lanes[j >> 2] += ((wb[2 + j] & 0xF) - 8) * y[j];
                lanes[(j + 16) >> 2] += ((wb[2 + j] >> 4) - 8) * y[j + 16];
            }
            uint16_t dw, dx; memcpy(&dw, wb, 2); memcpy(&dx, a + 34 * b, 2);
            scale = fp16_to_fp32(dw) * fp16_to_fp32(dx);
        } else if (type == 1) {     // q4_1 x q8_1
            const uint8_t *wb = w + 20 * b; const uint8_t *ab = a + 36 * b; const int8_t *y = (const int8_t *)(ab + 4);
            for (int j = 0; j < 16; j++) {
                lanes[j >> 2] += (wb[4 + j] & 0xF) * y[j];
                lanes[(j + 16) >> 2] += (wb[4 + j] >> 4) * y[j + 16];
            }
            uint16_t dw, mw, dx, sx; memcpy(&dw, wb, 2); memcpy(&mw, wb + 2, 2); memcpy(&dx, ab, 2); memcpy(&sx, ab + 2, 2);
            summs += fp16_to_fp32(mw) * fp16_to_fp32(sx);
            scale = fp16_to_fp32(dw) * fp16_to_fp32(dx);
        } else if (type == 3 || type == 4) {   // q5_0 x q8_0, q5_1 x q8_1: the fifth bit of element j is bit j of qh
            const int q51 = type == 4, wbytes = q51 ? 24 : 22, abytes = q51 ? 36 : 34, off = q51 ? 4 : 2;
            const uint8_t *wb = w + wbytes * b, *ab = a + abytes * b;
            const int8_t *y = (const int8_t *)(ab + (q51 ? 4 : 2));
            uint32_t qh; memcpy(&qh, wb + off, 4);
            const int bias = q51 ? 0 : 16;
            for (int j = 0; j < 16; j++) {
                lanes[j >> 2] += (((wb[off + 4 + j] & 0xF) | ((qh >> j) & 1) << 4) - bias) * y[j];
                lanes[(j + 16) >> 2] += (((wb[off + 4 + j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - bias) * y[j + 16];
            }
            uint16_t dw, dx; memcpy(&dw, wb, 2); memcpy(&dx, ab, 2);
            if (q51) {   // f16 x f16 products are exact in float: fused or not, the same sum
                uint16_t mw, sx; memcpy(&mw, wb + 2, 2); memcpy(&sx, ab + 2, 2);
                summs += fp16_to_fp32(mw) * fp16_to_fp32(sx);
            }
            scale = fp16_to_fp32(dw) * fp16_to_fp32(dx);
        } else {                    // q8_0 x q8_0
            const uint8_t *wb = w + 34 * b; const int8_t *x = (const int8_t *)(wb + 2), *y = (const int8_t *)(a + 34 * b + 2);
            for (int j = 0; j < 32; j++) lanes[j >> 2] += x[j] * y[j];
            uint16_t dw, dx; memcpy(&dw, wb, 2); memcpy(&dx, a + 34 * b, 2);
            scale = fp16_to_fp32(dw) * fp16_to_fp32(dx);
        }
        for (int l = 0; l < 8; l++) acc[l] = fmaf(scale, (float)lanes[l], acc[l]);
    }
    return hsum8(acc) + summs;
}

// Q4_0 as llama.cpp's repacked q4_0_8x8 kernels sum it (the layout it uses wherever AVX2 runs and rows % 8 == 0):
// per block the exact 32-product integer sum, acc = fma(sum, d_w * d_x, acc) — one accumulator, no lanes.
static float dot_q4_0_blocks_portable(const uint8_t *w, const uint8_t *a, int n) {
    float acc = 0;
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *wb = w + 18 * b;
        const int8_t *y = (const int8_t *)(a + 34 * b + 2);
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += ((wb[2 + j] & 0xF) - 8) * y[j] + ((wb[2 + j] >> 4) - 8) * y[j + 16];
        uint16_t dw, dx; memcpy(&dw, wb, 2); memcpy(&dx, a + 34 * b, 2);
        acc = fmaf((float)sum, fp16_to_fp32(dw) * fp16_to_fp32(dx), acc);
    }
    return acc;
}

// ---- x86: AVX2 + FMA ------------------------------------------------------------------------

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SIMD_FN __attribute__((target("avx2,fma,f16c")))
// _mm512_extractf32x8_ps needs AVX512DQ; the same upper half through the AVX512F double-word view.
#define _mm512_extractf32x8_ps_compat(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))

SIMD_FN static inline float hsum8_avx(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// 8 lanes of 4-element sums of unsigned x signed bytes (maddubs cannot overflow here: |q| <= 15 * 128 * 2).
SIMD_FN static inline __m256 lane_sums_us(__m256i ux, __m256i sy) {
    const __m256i dot = _mm256_maddubs_epi16(ux, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)));
}

SIMD_FN static inline __m256i nibbles32(const uint8_t *p) {
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// Byte j = 0xFF where bit j of the little-endian 32-bit word at p is set (Q5's fifth bits, element order).
SIMD_FN static inline __m256i bitbytes32(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                               _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
                                                                  0x0303030303030303LL));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

SIMD_FN static void quantize_avx(const float *x, uint8_t *out, int n, int with_sum) {
    const int bytes = with_sum ? 36 : 34, qoff = with_sum ? 4 : 2;
    for (int b = 0; b < n / 32; b++) {
        const float *v = x + 32 * b;
        uint8_t *o = out + bytes * b;
        __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16), v3 = _mm256_loadu_ps(v + 24);
        const __m256 sign = _mm256_set1_ps(-0.0f);
        __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v2));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v3));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
        uint16_t dh = fp32_to_fp16(d);
        memcpy(o, &dh, 2);
        const __m256 mul = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_ROUND_NEAREST));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_ROUND_NEAREST));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_ROUND_NEAREST));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_ROUND_NEAREST));
        if (with_sum) {
            __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
            __m128i s4 = _mm_add_epi32(_mm256_extracti128_si256(s, 1), _mm256_castsi256_si128(s));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
            uint16_t sh = fp32_to_fp16(d * (float)_mm_cvtsi128_si32(s4));
            memcpy(o + 2, &sh, 2);
        }
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_packs_epi16(i0, i2);
        i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(o + qoff), i0);
    }
}

#define H2F(p) _cvtsh_ss(*(const uint16_t *)(p))

// One block loop for every x86 flavour: LANES_US is the u8 x s8 four-product lane sum (maddubs+madd on
// AVX2, dpbusd on VNNI); signed x signed goes through it with the sign moved onto y, as ggml does.
#define DEFINE_DOT(NAME, ATTR, LANES_US)                                                                  \
ATTR static float NAME(int type, const uint8_t *w, const uint8_t *a, int n) {                              \
    __m256 acc = _mm256_setzero_ps();                                                                     \
    float summs = 0;                                                                                      \
    const int nb = n / 32;                                                                                \
    for (int b = 0; b < nb; b++) {                                                                        \
        __m256 lanes;                                                                                     \
        const uint8_t *wb, *ab;                                                                           \
        if (type == 1) {                                                                                  \
            wb = w + 20 * b; ab = a + 36 * b;                                                             \
            lanes = LANES_US(nibbles32(wb + 4), _mm256_loadu_si256((const __m256i *)(ab + 4)));           \
            summs += H2F(wb + 2) * H2F(ab + 2);                                                           \
        } else if (type == 4) {                                                                           \
            wb = w + 24 * b; ab = a + 36 * b;                                                             \
            const __m256i q = _mm256_or_si256(nibbles32(wb + 8), _mm256_and_si256(bitbytes32(wb + 4),     \
                                                                                _mm256_set1_epi8(0x10))); \
            lanes = LANES_US(q, _mm256_loadu_si256((const __m256i *)(ab + 4)));                           \
            summs += H2F(wb + 2) * H2F(ab + 2);                                                           \
        } else if (type == 3) {                                                                           \
            wb = w + 22 * b; ab = a + 34 * b;                                                             \
            /* (nibble | 0xF0) as int8 is nibble - 16: where the fifth bit is clear */                     \
            const __m256i x = _mm256_or_si256(nibbles32(wb + 6), _mm256_andnot_si256(bitbytes32(wb + 2),   \
                                                                                   _mm256_set1_epi8((char)0xF0))); \
            const __m256i y = _mm256_loadu_si256((const __m256i *)(ab + 2));                              \
            lanes = LANES_US(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));                             \
        } else {                                                                                          \
            wb = w + (type == 0 ? 18 : 34) * b; ab = a + 34 * b;                                          \
            const __m256i x = type == 0 ? _mm256_sub_epi8(nibbles32(wb + 2), _mm256_set1_epi8(8))          \
                                        : _mm256_loadu_si256((const __m256i *)(wb + 2));                  \
            const __m256i y = _mm256_loadu_si256((const __m256i *)(ab + 2));                              \
            lanes = LANES_US(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));                             \
        }                                                                                                 \
        acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(wb) * H2F(ab)), lanes, acc);                             \
    }                                                                                                     \
    return hsum8_avx(acc) + summs;                                                                        \
}

DEFINE_DOT(dot_avx, SIMD_FN, lane_sums_us)

// dot_q4_0_blocks_portable's sums, 32 products per instruction: the exact block sums of four rows against one
// activation block, as four int32 (two horizontal adds and the halves added: exact integers in any order).
SIMD_FN static inline __m128i q4_0_block_sums4(const __m256i q[4], __m256i yv) {
    __m256i p[4];
    for (int i = 0; i < 4; i++)
        p[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(q[i], q[i]), _mm256_sign_epi8(yv, q[i])),
                                 _mm256_set1_epi16(1));
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

SIMD_FN static inline void q4_0_block_rows4(const uint8_t *w, size_t row_bytes, int r, int b, __m256i q[4], __m128 *dw) {
    float d[4];
    for (int i = 0; i < 4; i++) {
        const uint8_t *wb = w + (size_t)(r + i) * row_bytes + 18 * b;
        q[i] = _mm256_sub_epi8(nibbles32(wb + 2), _mm256_set1_epi8(8));
        d[i] = H2F(wb);
    }
    *dw = _mm_loadu_ps(d);
}

// Four rows against one activation row (decode), one fma per row and block.
SIMD_FN static void rows4_q4_0_blocks_avx(const uint8_t *w, size_t row_bytes, const uint8_t *a, float *y, int r, int n) {
    __m128 acc = _mm_setzero_ps();
    for (int b = 0; b < n / 32; b++) {
        __m256i q[4];
        __m128 dw;
        q4_0_block_rows4(w, row_bytes, r, b, q, &dw);
        const uint8_t *ab = a + 34 * b;
        const __m128i sums = q4_0_block_sums4(q, _mm256_loadu_si256((const __m256i *)(ab + 2)));
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), _mm_mul_ps(dw, _mm_set1_ps(H2F(ab))), acc);
    }
    _mm_storeu_ps(y + r, acc);
}

#define VNNI_FN __attribute__((target("avx512vnni,avx512vl,avx512f,avx2,fma,f16c")))

// The same lanes through VNNI's dpbusd (u8 x s8, four products summed into each int32: exact).
VNNI_FN static inline __m256 lane_sums_us_vnni(__m256i ux, __m256i sy) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ux, sy));
}

DEFINE_DOT(dot_vnni, VNNI_FN, lane_sums_us_vnni)

// A 4-row x 4-token tile: each (row, token) pair keeps its own 8-lane accumulator and the same operation
// sequence as the single-pair dot, so every output is bit-identical to it (the integer lane sums are exact
// whichever instructions make them); the tile only reuses loaded weights and activations across pairs.
// Q40_PREP(yv) is computed once per token and Q40_LANES(q, yv, prep) gives Q4_0's lanes from the raw nibbles.
#define DEFINE_TILES(SUF, ATTR, LANES_US, Q40_PREP, Q40_LANES)                                            \
ATTR static inline __attribute__((always_inline))                                                         \
void tile4x4_impl_##SUF(const int type, const uint8_t *w, size_t row_bytes, const uint8_t *a, size_t act_stride, \
                  float *y, size_t y_stride, int r, int t, int n) {                                      \
    __m256 acc[4][4];                                                                                     \
    float summs[4][4];                                                                                    \
    for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) { acc[i][j] = _mm256_setzero_ps(); summs[i][j] = 0; } \
    const int nb = n / 32;                                                                                \
    const int withmin = type == 1 || type == 4;                                                           \
    const int wbytes = type == 0 ? 18 : type == 1 ? 20 : type == 3 ? 22 : type == 4 ? 24 : 34;          \
    const int abytes = withmin ? 36 : 34;                                                                 \
    const int wq = type == 1 ? 4 : 2, aq = withmin ? 4 : 2;                                               \
    for (int b = 0; b < nb; b++) {                                                                        \
        __m256i qx[4];                                                                                    \
        float dw[4], mw[4] = {0, 0, 0, 0};                                                                \
        _Pragma("clang loop unroll(full)")                                                                \
        for (int i = 0; i < 4; i++) {                                                                     \
            const uint8_t *wb = w + (size_t)(r + i) * row_bytes + (size_t)wbytes * b;                    \
            dw[i] = H2F(wb);                                                                              \
            if (type == 0) qx[i] = nibbles32(wb + wq);                                                    \
            else if (type == 1) { qx[i] = nibbles32(wb + wq); mw[i] = H2F(wb + 2); }                      \
            else if (type == 3) qx[i] = _mm256_or_si256(nibbles32(wb + 6),                                \
                                         _mm256_andnot_si256(bitbytes32(wb + 2), _mm256_set1_epi8((char)0xF0))); \
            else if (type == 4) { qx[i] = _mm256_or_si256(nibbles32(wb + 8),                              \
                                         _mm256_and_si256(bitbytes32(wb + 4), _mm256_set1_epi8(0x10)));    \
                                  mw[i] = H2F(wb + 2); }                                                  \
            else qx[i] = _mm256_loadu_si256((const __m256i *)(wb + wq));                                  \
        }                                                                                                 \
        _Pragma("clang loop unroll(full)")                                                                \
        for (int j = 0; j < 4; j++) {                                                                     \
            const uint8_t *ab = a + (size_t)(t + j) * act_stride + (size_t)abytes * b;                   \
            const __m256i yv = _mm256_loadu_si256((const __m256i *)(ab + aq));                            \
            const float dx = H2F(ab);                                                                     \
            const float sx = withmin ? H2F(ab + 2) : 0.0f;                                                \
            const __m256i prep = type == 0 ? Q40_PREP(yv) : _mm256_setzero_si256();                       \
            _Pragma("clang loop unroll(full)")                                                            \
            for (int i = 0; i < 4; i++) {                                                                 \
                __m256 lanes;                                                                             \
                if (withmin) {                                                                            \
                    lanes = LANES_US(qx[i], yv);                                                          \
                    summs[i][j] += mw[i] * sx;                                                            \
                } else if (type == 0) {                                                                   \
                    lanes = Q40_LANES(qx[i], yv, prep);                                                   \
                } else {                                                                                  \
                    lanes = LANES_US(_mm256_sign_epi8(qx[i], qx[i]), _mm256_sign_epi8(yv, qx[i]));        \
                }                                                                                         \
                acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw[i] * dx), lanes, acc[i][j]);                \
            }                                                                                             \
        }                                                                                                 \
    }                                                                                                     \
    for (int i = 0; i < 4; i++)                                                                           \
        for (int j = 0; j < 4; j++) y[(size_t)(t + j) * y_stride + (size_t)(r + i)] = hsum8_avx(acc[i][j]) + summs[i][j]; \
}                                                                                                         \
ATTR static void tile4x4_##SUF(int type, const uint8_t *w, size_t rb, const uint8_t *a, size_t as, float *y,    \
                               size_t ys, int r, int t, int n) {                                          \
    if (type == 0) tile4x4_impl_##SUF(0, w, rb, a, as, y, ys, r, t, n);                                   \
    else if (type == 1) tile4x4_impl_##SUF(1, w, rb, a, as, y, ys, r, t, n);                              \
    else if (type == 3) tile4x4_impl_##SUF(3, w, rb, a, as, y, ys, r, t, n);                              \
    else if (type == 4) tile4x4_impl_##SUF(4, w, rb, a, as, y, ys, r, t, n);                              \
    else tile4x4_impl_##SUF(2, w, rb, a, as, y, ys, r, t, n);                                             \
}                                                                                                         \
/* Four rows against one activation row (decode): independent accumulators hide the fma latency. */     \
ATTR static void rows4_##SUF(int type, const uint8_t *w, size_t row_bytes, const uint8_t *a, float *y, int r, int n) { \
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; \
    float sm[4] = {0, 0, 0, 0};                                                                           \
    const int nb = n / 32;                                                                                \
    const int withmin = type == 1 || type == 4;                                                           \
    const int wbytes = type == 0 ? 18 : type == 1 ? 20 : type == 3 ? 22 : type == 4 ? 24 : 34;          \
    const int abytes = withmin ? 36 : 34;                                                                 \
    const int wq = type == 1 ? 4 : 2, aq = withmin ? 4 : 2;                                               \
    const __m256i off = _mm256_set1_epi8(8);                                                              \
    for (int b = 0; b < nb; b++) {                                                                        \
        const uint8_t *ab = a + (size_t)abytes * b;                                                       \
        const __m256i yv = _mm256_loadu_si256((const __m256i *)(ab + aq));                                \
        const float dx = H2F(ab), sx = withmin ? H2F(ab + 2) : 0.0f;                                      \
        _Pragma("clang loop unroll(full)")                                                                \
        for (int i = 0; i < 4; i++) {                                                                     \
            const uint8_t *wb = w + (size_t)(r + i) * row_bytes + (size_t)wbytes * b;                    \
            __m256 lanes;                                                                                 \
            if (type == 1) { lanes = LANES_US(nibbles32(wb + wq), yv); sm[i] += H2F(wb + 2) * sx; }       \
            else if (type == 4) {                                                                         \
                lanes = LANES_US(_mm256_or_si256(nibbles32(wb + 8), _mm256_and_si256(bitbytes32(wb + 4),   \
                                                                     _mm256_set1_epi8(0x10))), yv);        \
                sm[i] += H2F(wb + 2) * sx;                                                                \
            } else {                                                                                      \
                const __m256i q = type == 0 ? _mm256_sub_epi8(nibbles32(wb + wq), off)                    \
                                : type == 3 ? _mm256_or_si256(nibbles32(wb + 6), _mm256_andnot_si256(      \
                                                  bitbytes32(wb + 2), _mm256_set1_epi8((char)0xF0)))      \
                                            : _mm256_loadu_si256((const __m256i *)(wb + wq));             \
                lanes = LANES_US(_mm256_sign_epi8(q, q), _mm256_sign_epi8(yv, q));                        \
            }                                                                                             \
            acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(H2F(wb) * dx), lanes, acc[i]);                        \
        }                                                                                                 \
    }                                                                                                     \
    for (int i = 0; i < 4; i++) y[r + i] = hsum8_avx(acc[i]) + sm[i];                                     \
}

// Q4_0 on VNNI: sum (q - 8) y = sum q y - 8 sum y, exact in integers; sum y once per token.
#define Q40_PREP_VNNI(yv) _mm256_slli_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), yv), 3)
#define Q40_LANES_VNNI(q, yv, prep) _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, yv), prep))
// Q4_0 on AVX2: the signed weights through the sign trick, as ggml does.
#define Q40_PREP_AVX(yv) _mm256_setzero_si256()
#define Q40_LANES_AVX(q, yv, prep) \
    lane_sums_us(_mm256_sign_epi8(_mm256_sub_epi8(q, _mm256_set1_epi8(8)), _mm256_sub_epi8(q, _mm256_set1_epi8(8))), \
                 _mm256_sign_epi8(yv, _mm256_sub_epi8(q, _mm256_set1_epi8(8))))
DEFINE_TILES(vnni, VNNI_FN, lane_sums_us_vnni, Q40_PREP_VNNI, Q40_LANES_VNNI)
DEFINE_TILES(avx, SIMD_FN, lane_sums_us, Q40_PREP_AVX, Q40_LANES_AVX)

// The AVX-512 VNNI kernels (256-bit dpbusd, EVEX-encoded) at the avx512 level only.
static int has_vnni(void) { return llava_cpu_level() == LLAVA_LEVEL_AVX512; }

#define SIMD512_FN __attribute__((target("avx512f")))

// GCC's _mm512_reduce_add_ps, spelled out so the order does not depend on the compiler.
SIMD512_FN static inline float reduce16(__m512 v) {
    const __m256 t3 = _mm256_add_ps(_mm512_extractf32x8_ps_compat(v), _mm512_castps512_ps256(v));
    const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
    const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(t8) + _mm_cvtss_f32(_mm_shuffle_ps(t8, t8, 1));
}


// One body for K/V held as float32 (values that are f16 already) and as the f16 bits themselves: the half is
// widened exactly on load, so both give the same sums.
#define LOAD_F32(p) _mm512_loadu_ps(p)
#define LOAD_H16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define AT_F32(p, i) ((p)[i])
#define AT_H16(p, i) fp16_to_fp32((p)[i])
#define DEFINE_DOT_512(SUFFIX, XT, LOADX, ATX)                                                          \
F16_512_FN static float dot_vec_512_##SUFFIX(const XT *x, const float *y, int n) {                       \
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                                         \
    const int np = n & ~63;                                                                             \
    int i = 0;                                                                                          \
    for (; i < np; i += 64) {                                                                           \
        s0 = _mm512_fmadd_ps(LOADX(x + i), _mm512_loadu_ps(y + i), s0);                                 \
        s1 = _mm512_fmadd_ps(LOADX(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);                       \
        s2 = _mm512_fmadd_ps(LOADX(x + i + 32), _mm512_loadu_ps(y + i + 32), s2);                       \
        s3 = _mm512_fmadd_ps(LOADX(x + i + 48), _mm512_loadu_ps(y + i + 48), s3);                       \
    }                                                                                                   \
    s0 = _mm512_add_ps(s0, s2); s1 = _mm512_add_ps(s1, s3); s0 = _mm512_add_ps(s0, s1);                 \
    double sum = (double)reduce16(s0);                                                                  \
    for (; i < n; i++) sum += (double)(ATX(x, i) * y[i]);                                               \
    return (float)sum;                                                                                  \
}                                                                                                       \
F16_512_FN static float dot_tiny_512_##SUFFIX(const XT *x, const float *y, int n) {                      \
    __m512 acc = _mm512_setzero_ps();                                                                   \
    for (int l = 0; l < n; l += 16) acc = _mm512_fmadd_ps(LOADX(x + l), _mm512_loadu_ps(y + l), acc);  \
    return reduce16(acc);                                                                               \
}
#define F16_512_FN __attribute__((target("avx512f,f16c")))
DEFINE_DOT_512(f16, float, LOAD_F32, AT_F32)
DEFINE_DOT_512(h16, uint16_t, LOAD_H16, AT_H16)

// ggml_v_expf (AVX-512 form), instruction for instruction.
SIMD512_FN static inline __m512 v_expf_512(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(d, d)) return res;
    const __m512 zero = _mm512_setzero_ps();
    const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, zero, _CMP_LE_OQ), _mm512_set1_ps(INFINITY), zero);
    return _mm512_mask_blend_ps(d, res, alt);
}

// ggml_vec_soft_max_f32, AVX-512 form: y = exp(x - m) by 16 lanes, the sum in double of each group's tree sum.
SIMD512_FN static double soft_max_sum_512(const float *x, float *y, int n, float m) {
    double sum = 0;
    int i = 0;
    const __m512 vm = _mm512_set1_ps(m);
    for (; i + 16 <= n; i += 16) {
        const __m512 v = v_expf_512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        _mm512_storeu_ps(y + i, v);
        sum += (double)reduce16(v);
    }
    for (; i < n; i++) { const float e = expf(x[i] - m); y[i] = e; sum += (double)e; }
    return sum;
}

SIMD512_FN static void softmax_512(float *row, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int i = 0;
    float m = -INFINITY;
    for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(row + i));
    m = _mm512_reduce_max_ps(mx);
    for (; i < n; i++) if (row[i] > m) m = row[i];
    const double sum = soft_max_sum_512(row, row, n, m);
    const __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
    i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(row + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), inv));
    for (; i < n; i++) row[i] *= (float)(1.0 / sum);
}

SIMD512_FN static void swiglu_512(float *x, const float *g, int n) {
    int i = 0;
    const __m512 one = _mm512_set1_ps(1), zero = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 s = _mm512_div_ps(v, _mm512_add_ps(one, v_expf_512(_mm512_sub_ps(zero, v))));
        _mm512_storeu_ps(x + i, _mm512_mul_ps(s, _mm512_loadu_ps(g + i)));
    }
    for (; i < n; i++) x[i] = (x[i] / (1.0f + expf(-x[i]))) * g[i];
}

// ggml's 16-lane f32 orders (softmax, SiLU, f16 dots) are what an AVX-512 build of llama.cpp computes.
static int has_avx512(void) { return llava_cpu_level() == LLAVA_LEVEL_AVX512; }

int llava_kernels_simd(void) { return llava_cpu_level() >= LLAVA_LEVEL_AVX2; }
#else
int llava_kernels_simd(void) { return 0; }
static int has_avx512(void) { return 0; }
#endif

static float reduce16_portable(const float v[16]) {
    float t3[8], t6[4];
    for (int i = 0; i < 8; i++) t3[i] = v[8 + i] + v[i];
    for (int i = 0; i < 4; i++) t6[i] = t3[4 + i] + t3[i];
    return (t6[0] + t6[2]) + (t6[1] + t6[3]);
}


#if defined(__x86_64__) || defined(__i386__)
#define X86_ONLY(code) code
// The avx2 and avxvnni levels: llama.cpp's AVX2 build orders (ggml8.c).
static int has_g8(void) { const int l = llava_cpu_level(); return l == LLAVA_LEVEL_AVX2 || l == LLAVA_LEVEL_AVXVNNI; }
#else
#define X86_ONLY(code)
#define AT_F32(p, i) ((p)[i])
#define AT_H16(p, i) fp16_to_fp32((p)[i])
#endif
#define DEFINE_DOT_PUBLIC(SUFFIX, XT, ATX)                                                               \
float llava_dot_##SUFFIX##_vec(const XT *x, const float *y, int n) {                                    \
    X86_ONLY(if (has_avx512()) return dot_vec_512_##SUFFIX(x, y, n);)                                   \
    X86_ONLY(if (has_g8()) return llava_g8_dot_vec_##SUFFIX(x, y, n);)                                  \
    float s[4][16] = {{0}};                                                                             \
    const int np = n & ~63;                                                                             \
    int i = 0;                                                                                          \
    for (; i < np; i += 64)                                                                             \
        for (int j = 0; j < 4; j++)                                                                     \
            for (int l = 0; l < 16; l++) s[j][l] = fmaf(ATX(x, i + 16 * j + l), y[i + 16 * j + l], s[j][l]); \
    for (int l = 0; l < 16; l++) { s[0][l] = s[0][l] + s[2][l]; s[1][l] = s[1][l] + s[3][l]; s[0][l] = s[0][l] + s[1][l]; } \
    double sum = (double)reduce16_portable(s[0]);                                                       \
    for (; i < n; i++) sum += (double)(ATX(x, i) * y[i]);                                               \
    return (float)sum;                                                                                  \
}                                                                                                       \
float llava_dot_##SUFFIX##_tiny(const XT *x, const float *y, int n) {                                   \
    X86_ONLY(if (has_avx512()) return dot_tiny_512_##SUFFIX(x, y, n);)                                  \
    X86_ONLY(if (has_g8()) return llava_g8_dot_tiny_##SUFFIX(x, y, n);)                                 \
    float acc[16] = {0};                                                                                \
    for (int l = 0; l < n; l += 16)                                                                     \
        for (int k = 0; k < 16; k++) acc[k] = fmaf(ATX(x, l + k), y[l + k], acc[k]);                    \
    return reduce16_portable(acc);                                                                      \
}
DEFINE_DOT_PUBLIC(f16, float, AT_F32)
DEFINE_DOT_PUBLIC(h16, uint16_t, AT_H16)

#if defined(__x86_64__) || defined(__i386__)
F16_512_FN static void dots_vec_512_h16(const uint16_t *x, long x_stride, const float *y, int n, int count, float scale, float *out) {
    for (int j = 0; j < count; j++) out[j] = dot_vec_512_h16(x + (size_t)j * x_stride, y, n) * scale;
}
#endif

void llava_dots_h16_vec(const uint16_t *x, long x_stride, const float *y, int n, int count, float scale, float *out) {
    X86_ONLY(if (has_avx512()) { dots_vec_512_h16(x, x_stride, y, n, count, scale, out); return; })
    for (int j = 0; j < count; j++) out[j] = llava_dot_h16_vec(x + (size_t)j * x_stride, y, n) * scale;
}

#if defined(__x86_64__) || defined(__i386__)
// F16C's conversion rounds to nearest even, as fp32_to_fp16 does (a decode step converts ~12K values per layer).
__attribute__((target("avx512f,f16c")))
static long f32_to_f16_512(const float *src, uint16_t *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    return i;
}
__attribute__((target("avx512f,f16c")))
static long round_half_512(float *x, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    return i;
}
#endif

void llava_f32_to_f16(const float *src, uint16_t *dst, long n) {
    long i = 0;
    X86_ONLY(if (has_avx512()) i = f32_to_f16_512(src, dst, n);)
    for (; i < n; i++) dst[i] = fp32_to_fp16(src[i]);
}

void llava_round_to_half(float *x, long n) {
    long i = 0;
    X86_ONLY(if (has_avx512()) i = round_half_512(x, n);)
    for (; i < n; i++) x[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
}

static inline uint16_t bf16_scalar(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);   // quiet NaN
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static int bf16_state = -1;
int llava_cpu_has_bf16(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (bf16_state < 0) { __builtin_cpu_init(); bf16_state = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw"); }
    return bf16_state && llava_cpu_level() == LLAVA_LEVEL_AVX512;
#else
    return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f,avx512bf16,avx512vl")))
static void f32_to_bf16_avx512(const float *src, uint16_t *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)h);
    }
    for (; i < n; i++) dst[i] = bf16_scalar(src[i]);
}
#endif

void llava_f32_to_bf16(const float *src, uint16_t *dst, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (llava_cpu_has_bf16()) { f32_to_bf16_avx512(src, dst, n); return; }
#endif
    for (long i = 0; i < n; i++) dst[i] = bf16_scalar(src[i]);
}

void llava_quantize_q8_0(const float *x, void *out, int n) {
#if defined(__x86_64__) || defined(__i386__)
    if (llava_kernels_simd()) { quantize_avx(x, (uint8_t *)out, n, 0); return; }
#endif
    quantize_portable(x, (uint8_t *)out, n, 0);
}

void llava_quantize_q8_1(const float *x, void *out, int n) {
#if defined(__x86_64__) || defined(__i386__)
    if (llava_kernels_simd()) { quantize_avx(x, (uint8_t *)out, n, 1); return; }
#endif
    quantize_portable(x, (uint8_t *)out, n, 1);
}

static void gemv(int type, const void *w, size_t row_bytes, const void *a, float *y, int r0, int r1, int n) {
    const uint8_t *wb = (const uint8_t *)w;
    if (type == 5) {   // Q4_0 in llama.cpp's repacked sums; rows % 8 == 0, so whole fours
#if defined(__x86_64__) || defined(__i386__)
        if (llava_kernels_simd()) {
            for (int r = r0; r + 4 <= r1; r += 4) rows4_q4_0_blocks_avx(wb, row_bytes, (const uint8_t *)a, y, r, n);
            for (int r = r0 + (r1 - r0) / 4 * 4; r < r1; r++)
                y[r] = dot_q4_0_blocks_portable(wb + (size_t)r * row_bytes, (const uint8_t *)a, n);
            return;
        }
#endif
        for (int r = r0; r < r1; r++) y[r] = dot_q4_0_blocks_portable(wb + (size_t)r * row_bytes, (const uint8_t *)a, n);
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (llava_kernels_simd()) {
        const int vnni = has_vnni();
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
            if (vnni) rows4_vnni(type, wb, row_bytes, (const uint8_t *)a, y, r, n);
            else rows4_avx(type, wb, row_bytes, (const uint8_t *)a, y, r, n);
        }
        for (; r < r1; r++)
            y[r] = vnni ? dot_vnni(type, wb + (size_t)r * row_bytes, (const uint8_t *)a, n)
                        : dot_avx(type, wb + (size_t)r * row_bytes, (const uint8_t *)a, n);
        return;
    }
#endif
    for (int r = r0; r < r1; r++) y[r] = dot_portable(type, wb + (size_t)r * row_bytes, (const uint8_t *)a, n);
}

void llava_gemv_q4_0_q8_0(const void *w, size_t rb, const void *a, float *y, int r0, int r1, int n) { gemv(0, w, rb, a, y, r0, r1, n); }
void llava_gemv_q4_1_q8_1(const void *w, size_t rb, const void *a, float *y, int r0, int r1, int n) { gemv(1, w, rb, a, y, r0, r1, n); }
void llava_gemv_q8_0_q8_0(const void *w, size_t rb, const void *a, float *y, int r0, int r1, int n) { gemv(2, w, rb, a, y, r0, r1, n); }

void llava_gemm_q(int type, const void *w, size_t row_bytes, const void *acts, size_t act_stride, int tokens,
                  float *y, size_t y_stride, int r0, int r1, int n) {
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)acts;
#if defined(__x86_64__) || defined(__i386__)
    const int simd = llava_kernels_simd(), vnni = has_vnni();
#else
    const int simd = 0;
#endif
    // Tokens in blocks small enough for their activations to stay in L2 while the weight rows stream past.
    const int token_block = 32;
    for (int tb = 0; tb < tokens; tb += token_block) {
        const int te = tb + token_block < tokens ? tb + token_block : tokens;
        int t = tb;
#if defined(__x86_64__) || defined(__i386__)
        if (simd && type <= 4) {
            const int t4 = tb + (te - tb) / 4 * 4;
            int r = r0;
            for (; r + 4 <= r1; r += 4)
                for (int tt = tb; tt < t4; tt += 4) {
                    if (vnni) tile4x4_vnni(type, wb, row_bytes, ab, act_stride, y, y_stride, r, tt, n);
                    else tile4x4_avx(type, wb, row_bytes, ab, act_stride, y, y_stride, r, tt, n);
                }
            for (; r < r1; r++)
                for (int j = tb; j < t4; j++) {
                    const uint8_t *wr = wb + (size_t)r * row_bytes, *aj = ab + (size_t)j * act_stride;
                    y[(size_t)j * y_stride + r] = vnni ? dot_vnni(type, wr, aj, n) : dot_avx(type, wr, aj, n);
                }
            t = t4;
        }
#endif
        for (; t < te; t++) {
            const uint8_t *a = ab + (size_t)t * act_stride;
            float *yt = y + (size_t)t * y_stride;
#if defined(__x86_64__) || defined(__i386__)
            if (simd || type == 5) { gemv(type, w, row_bytes, a, yt, r0, r1, n); continue; }
#else
            if (type == 5) { gemv(type, w, row_bytes, a, yt, r0, r1, n); continue; }
#endif
            for (int r = r0; r < r1; r++) yt[r] = dot_portable(type, wb + (size_t)r * row_bytes, a, n);
        }
    }
    (void)simd;
}
// Portable ggml_v_expf: the same fused steps one lane at a time.
static inline float v_expf_portable(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192) return n <= 0 ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         fmaf(0x1.ffffecp-1f, b, 1.0f));
    return scalbnf(j, (int)n);
}

// ggml_vec_soft_max_f32 one lane at a time in the AVX-512 build's order (16-lane groups, tree sum each).
static double soft_max_sum_portable(const float *x, float *y, int n, float m) {
    double sum = 0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        float v[16];
        for (int k = 0; k < 16; k++) { v[k] = v_expf_portable(x[i + k] - m); y[i + k] = v[k]; }
        sum += (double)reduce16_portable(v);
    }
    for (; i < n; i++) { const float e = expf(x[i] - m); y[i] = e; sum += (double)e; }
    return sum;
}

double llava_vec_soft_max_ggml(const float *x, float *y, int n, float max) {
#if defined(__x86_64__) || defined(__i386__)
    if (has_avx512()) return soft_max_sum_512(x, y, n, max);
    if (has_g8()) return llava_g8_soft_max_sum(x, y, n, max);
#endif
    return soft_max_sum_portable(x, y, n, max);
}

void llava_softmax_ggml(float *row, int n) {
#if defined(__x86_64__) || defined(__i386__)
    if (has_avx512()) { softmax_512(row, n); return; }
    if (has_g8()) { llava_g8_softmax(row, n); return; }
#endif
    float m = -INFINITY;
    for (int i = 0; i < n; i++) if (row[i] > m) m = row[i];
    const double sum = soft_max_sum_portable(row, row, n, m);
    const float inv = (float)(1.0 / sum);
    for (int k = 0; k < n; k++) row[k] *= inv;
}

void llava_swiglu_ggml(float *x, const float *g, int n) {
#if defined(__x86_64__) || defined(__i386__)
    if (has_avx512()) { swiglu_512(x, g, n); return; }
    if (has_g8()) { llava_g8_swiglu(x, g, n); return; }
#endif
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) { const float v = x[i + k]; x[i + k] = (v / (1.0f + v_expf_portable(0.0f - v))) * g[i + k]; }
    for (; i < n; i++) x[i] = (x[i] / (1.0f + expf(-x[i]))) * g[i];
}

void llava_softmax_rows(float *x, int rows, int n) {
    for (int r = 0; r < rows; r++) llava_softmax_ggml(x + (size_t)r * n, n);
}

#if defined(__x86_64__) || defined(__i386__)
SIMD512_FN static void quick_gelu_512(float *x, long n) {
    long i = 0;
    const __m512 one = _mm512_set1_ps(1.0f), k = _mm512_set1_ps(-1.702f);
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(x + i, _mm512_div_ps(v, _mm512_add_ps(one, v_expf_512(_mm512_mul_ps(k, v)))));
    }
    for (; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}
#endif

void llava_quick_gelu(float *x, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (has_avx512()) { quick_gelu_512(x, n); return; }
#endif
    for (long i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

#if defined(__x86_64__) || defined(__i386__)
SIMD_FN static void f16_to_f32_f16c(const uint16_t *s, float *d, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++) d[i] = fp16_to_fp32(s[i]);
}
#endif

void llava_f16_to_f32(const void *src, float *dst, long n) {
    const uint16_t *s = (const uint16_t *)src;
#if defined(__x86_64__) || defined(__i386__)
    if (llava_kernels_simd()) { f16_to_f32_f16c(s, dst, n); return; }
#endif
    for (long i = 0; i < n; i++) dst[i] = fp16_to_fp32(s[i]);
}
