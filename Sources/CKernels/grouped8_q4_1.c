// Q4_1 weights regrouped eight rows at a time, with products that keep llama.cpp's exact arithmetic
// (ggml_vec_dot_q4_1_q8_1 on x86: per row 8 float lanes, lane j the exact integer sum of weights 4j..4j+3 times the
// activations, fma-accumulated with d_w * d_a per block; hsum_float_8; plus the scalar sum of m_w * s_a).
// Layout of one group of 8 rows and one 32-weight block (160 bytes, the same 20 a row as plain Q4_1):
//   8 f16 scales d (rows 0..7), 8 f16 minimums m, then two 64-byte chunks (rows 0..3, rows 4..7), each row's 16
//   bytes of nibbles as ggml stores them (low nibbles = weights 0..15, high nibbles = weights 16..31).
// One 64-byte load unpacks to the low and high nibbles of four rows; one VNNI dpbusd per half gives four rows'
// lanes 0..3 (or 4..7) at once, where the row kernel spends a dozen instructions per row and block. Only used
// where AVX-512 VNNI runs (elsewhere Q4_1 stays in ggml's row layout and its row kernels).
// Only the fused multiply-adds the code writes (fmaf, _mm*_fmadd_ps): none the compiler would add (arm64 has FMA in
// its baseline, so clang would otherwise contract a * b + c in the portable code and change its sums).
#pragma STDC FP_CONTRACT OFF
#include "kernels.h"
#include <string.h>

enum { Q41X8_BYTES_PER_BLOCK = 160 };

void llava_repack_q4_1x8(const void *src, size_t row_bytes, void *dst, int rows, int cols) {
    const int nb = cols / 32;
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    for (int g = 0; g < rows / 8; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *o = d + ((size_t)g * nb + b) * Q41X8_BYTES_PER_BLOCK;
            for (int rr = 0; rr < 8; rr++) {
                const uint8_t *blk = s + (size_t)(8 * g + rr) * row_bytes + (size_t)20 * b;
                memcpy(o + 2 * rr, blk, 2);
                memcpy(o + 16 + 2 * rr, blk + 2, 2);
                memcpy(o + 32 + 16 * rr, blk + 4, 16);
            }
        }
}

void llava_dequantize_q4_1x8_row(const void *w, int row, int cols, float *out) {
    const int nb = cols / 32, g = row / 8, rr = row % 8;
    for (int b = 0; b < nb; b++) {
        const uint8_t *o = (const uint8_t *)w + ((size_t)g * nb + b) * Q41X8_BYTES_PER_BLOCK;
        uint16_t hd, hm;
        memcpy(&hd, o + 2 * rr, 2);
        memcpy(&hm, o + 16 + 2 * rr, 2);
        const float d = llava_half_to_float(hd), m = llava_half_to_float(hm);
        const uint8_t *qs = o + 32 + 16 * rr;
        for (int j = 0; j < 16; j++) {
            out[32 * b + j] = (float)(qs[j] & 0x0F) * d + m;
            out[32 * b + 16 + j] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define Q41_FN __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")))


enum { Q41_TOKENS = 4 };

// `tokens` (in tiles of 4) against groups g0..g1. Per block the nibbles are unpacked once for all the tokens.
Q41_FN static void gemm_q4_1x8_avx512(const uint8_t *w, const uint8_t *acts, size_t act_stride, int tokens, float *y,
                                      size_t y_stride, int g0, int g1, int n) {
    const int nb = n / 32;
    const __m512i low = _mm512_set1_epi8(0x0F);
    // Row i of a chunk owns 128-bit lane i: its scale repeated four times.
    const __m512i rows03 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i rows47 = _mm512_add_epi32(rows03, _mm512_set1_epi32(4));
    // Groups outside, token tiles inside: a group's weights (8 rows) stay in cache while the tokens pass.
    for (int g = g0; g < g1; g++)
        for (int t0 = 0; t0 < tokens; t0 += Q41_TOKENS) {
            const int tk = tokens - t0 < Q41_TOKENS ? tokens - t0 : Q41_TOKENS;
            // Per token: lanes 0..3 (lo) and 4..7 (hi) of rows 0..3 (chunk 0) and rows 4..7 (chunk 1); the m*s sums.
            __m512 lo0[Q41_TOKENS], hi0[Q41_TOKENS], lo1[Q41_TOKENS], hi1[Q41_TOKENS];
            __m256 sm[Q41_TOKENS];
            for (int t = 0; t < Q41_TOKENS; t++) {
                lo0[t] = hi0[t] = lo1[t] = hi1[t] = _mm512_setzero_ps();
                sm[t] = _mm256_setzero_ps();
            }
            const uint8_t *o = w + (size_t)g * nb * Q41X8_BYTES_PER_BLOCK;
            for (int b = 0; b < nb; b++, o += Q41X8_BYTES_PER_BLOCK) {
                const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)o));
                const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + 16)));
                const __m512i c0 = _mm512_loadu_si512((const void *)(o + 32)), c1 = _mm512_loadu_si512((const void *)(o + 96));
                const __m512i w0l = _mm512_and_si512(c0, low), w0h = _mm512_and_si512(_mm512_srli_epi16(c0, 4), low);
                const __m512i w1l = _mm512_and_si512(c1, low), w1h = _mm512_and_si512(_mm512_srli_epi16(c1, 4), low);
                for (int t = 0; t < tk; t++) {
                    const uint8_t *ab = acts + (size_t)(t0 + t) * act_stride + 36 * (size_t)b;
                    const float da = _cvtsh_ss(*(const uint16_t *)ab), sa = _cvtsh_ss(*(const uint16_t *)(ab + 2));
                    const __m512i ylo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(ab + 4)));
                    const __m512i yhi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(ab + 20)));
                    const __m512 dd = _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_set1_ps(da)));
                    const __m512 s0 = _mm512_permutexvar_ps(rows03, dd), s1 = _mm512_permutexvar_ps(rows47, dd);
                    const __m512i z = _mm512_setzero_si512();
                    lo0[t] = _mm512_fmadd_ps(s0, _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, w0l, ylo)), lo0[t]);
                    hi0[t] = _mm512_fmadd_ps(s0, _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, w0h, yhi)), hi0[t]);
                    lo1[t] = _mm512_fmadd_ps(s1, _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, w1l, ylo)), lo1[t]);
                    hi1[t] = _mm512_fmadd_ps(s1, _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, w1h, yhi)), hi1[t]);
                    sm[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(sa), sm[t]);
                }
            }
            for (int t = 0; t < tk; t++) {
                float *yt = y + (size_t)(t0 + t) * y_stride + 8 * g;
                float sums[8];
                _mm256_storeu_ps(sums, sm[t]);
                // hsum_float_8 per row: (h_j + l_j), then (0 + 2, 1 + 3), then their sum.
                for (int c = 0; c < 2; c++) {
                    const __m512 s = c == 0 ? _mm512_add_ps(hi0[t], lo0[t]) : _mm512_add_ps(hi1[t], lo1[t]);
                    const __m512 p = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(3, 2, 3, 2)));
                    const __m512 q = _mm512_add_ps(p, _mm512_permute_ps(p, _MM_SHUFFLE(1, 1, 1, 1)));
                    float lanes[16];
                    _mm512_storeu_ps(lanes, q);
                    for (int i = 0; i < 4; i++) yt[4 * c + i] = lanes[4 * i] + sums[4 * c + i];
                }
            }
        }
}

void llava_gemm_q4_1x8(const void *w, const void *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                       int g0, int g1, int n) {
    // Blocks of 64 tokens so their activations stay in cache while the weights stream past.
    for (int t = 0; t < tokens; t += 64) {
        const int tk = tokens - t < 64 ? tokens - t : 64;
        gemm_q4_1x8_avx512((const uint8_t *)w, (const uint8_t *)acts + (size_t)t * act_stride, act_stride, tk,
                           y + (size_t)t * y_stride, y_stride, g0, g1, n);
    }
}
#else
void llava_gemm_q4_1x8(const void *w, const void *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                       int g0, int g1, int n) {
    (void)w; (void)acts; (void)act_stride; (void)tokens; (void)y; (void)y_stride; (void)g0; (void)g1; (void)n;
}
#endif
