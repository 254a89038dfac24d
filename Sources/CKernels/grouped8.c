// Q4_0 and Q8_0 weights repacked eight rows at a time, and the matrix products on that layout (decode, prefill).
// Layout of one group of 8 rows and one 32-weight block (144 bytes, the same 18 bytes a row as plain Q4_0):
//   8 f16 scales (row 0..7), then two 64-byte chunks of nibbles. Chunk m holds vectors k = 2m (low nibbles) and
//   k = 2m + 1 (high nibbles); in vector k, 4-byte lane l (0..15) holds row l / 2, weights 8k + 4 (l % 2) + 0..3.
// So one AVX-512 VNNI dpbusd multiplies 8 rows x 8 weights by the same 8 activation bytes broadcast to every lane,
// four of them cover the block, and one scale vector serves all 8 rows: a handful of instructions per 8 rows where
// the row-by-row kernel needs a dozen per row. The idea is llama.cpp's (its q4_0 8x8 repacking); this code is ours.
// Only the fused multiply-adds the code writes (fmaf, _mm*_fmadd_ps): none the compiler would add (arm64 has FMA in
// its baseline, so clang would otherwise contract a * b + c in the portable code and change its sums).
#pragma STDC FP_CONTRACT OFF
#include "kernels.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

enum { GROUP_BYTES_PER_BLOCK = 144 };

/// Where weight j of row rr (0..7) of a block lives: chunk byte index and whether it is the high nibble.
static inline void place(int rr, int j, int *byte, int *high) {
    const int k = j / 8, within = j % 8;
    const int lane = 2 * rr + within / 4, e = within % 4;
    *byte = (k / 2) * 64 + lane * 4 + e;
    *high = k % 2;
}

// Follows from the layout: in chunk 0, row rr's 8 bytes hold weights i (low nibble) and 8 + i (high) for i < 8;
// in chunk 1, weights 16 + i and 24 + i — which in a plain block are the high nibbles of bytes i and 8 + i.
void llava_repack_q4_0x8(const void *src, size_t row_bytes, void *dst, int rows, int cols) {
    const int nb = cols / 32;
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    for (int g = 0; g < rows / 8; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *o = d + ((size_t)g * nb + b) * GROUP_BYTES_PER_BLOCK;
            for (int rr = 0; rr < 8; rr++) {
                const uint8_t *blk = s + (size_t)(8 * g + rr) * row_bytes + (size_t)18 * b, *qs = blk + 2;
                memcpy(o + 2 * rr, blk, 2);
                for (int i = 0; i < 8; i++) {
                    o[16 + rr * 8 + i] = (uint8_t)((qs[i] & 0x0F) | (qs[8 + i] << 4));
                    o[80 + rr * 8 + i] = (uint8_t)((qs[i] >> 4) | (qs[8 + i] & 0xF0));
                }
            }
        }
}

// Q8_0 the same way: 8 scales, then four 64-byte vectors of weights stored as q + 128 (unsigned, for dpbusd),
// vector k lane l holding row l / 2, weights 8k + 4 (l % 2) + 0..3. 272 bytes, 34 a row as plain Q8_0.
enum { GROUP8_BYTES_PER_BLOCK = 272 };

static inline int place8(int rr, int j) {
    const int k = j / 8, within = j % 8;
    return k * 64 + (2 * rr + within / 4) * 4 + within % 4;
}

void llava_repack_q8_0x8(const void *src, size_t row_bytes, void *dst, int rows, int cols) {
    const int nb = cols / 32;
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    for (int g = 0; g < rows / 8; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *o = d + ((size_t)g * nb + b) * GROUP8_BYTES_PER_BLOCK;
            for (int rr = 0; rr < 8; rr++) {
                const uint8_t *blk = s + (size_t)(8 * g + rr) * row_bytes + (size_t)34 * b;
                memcpy(o + 2 * rr, blk, 2);
                for (int k = 0; k < 4; k++)   // place8(rr, 8k + i) = 64k + 8rr + i
                    for (int i = 0; i < 8; i++) o[16 + 64 * k + 8 * rr + i] = (uint8_t)(blk[2 + 8 * k + i] ^ 0x80);
            }
        }
}

void llava_dequantize_q8_0x8_row(const void *w, int row, int cols, float *out) {
    const int nb = cols / 32, g = row / 8, rr = row % 8;
    for (int b = 0; b < nb; b++) {
        const uint8_t *o = (const uint8_t *)w + ((size_t)g * nb + b) * GROUP8_BYTES_PER_BLOCK;
        uint16_t h;
        memcpy(&h, o + 2 * rr, 2);
        const float scale = llava_half_to_float(h);
        for (int j = 0; j < 32; j++) out[32 * b + j] = (float)(o[16 + place8(rr, j)] - 128) * scale;
    }
}

void llava_dequantize_q4_0x8_row(const void *w, int row, int cols, float *out) {
    const int nb = cols / 32, g = row / 8, rr = row % 8;
    const uint8_t *base = (const uint8_t *)w;
    for (int b = 0; b < nb; b++) {
        const uint8_t *o = base + ((size_t)g * nb + b) * GROUP_BYTES_PER_BLOCK;
        uint16_t h;
        memcpy(&h, o + 2 * rr, 2);
        const float scale = llava_half_to_float(h);
        for (int j = 0; j < 32; j++) {
            int byte, high;
            place(rr, j, &byte, &high);
            const int q = high ? (o[16 + byte] >> 4) : (o[16 + byte] & 0x0F);
            out[32 * b + j] = (float)(q - 8) * scale;
        }
    }
}

/// Weight j of row rr in a regrouped block, as the signed quant.
static inline int quant_at(int type8, const uint8_t *o, int rr, int j) {
    if (type8) return o[16 + place8(rr, j)] - 128;
    int byte, high;
    place(rr, j, &byte, &high);
    return (high ? (o[16 + byte] >> 4) : (o[16 + byte] & 0x0F)) - 8;
}

/// The portable product: per row and block the exact integer sum, fma'd with the two scales' product (llama.cpp's
/// repacked Q4_0: one fma per block, no lanes).
static void gemm_portable(int type8, const uint8_t *w, const uint8_t *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                          int g0, int g1, int n) {
    const int block_bytes = type8 ? GROUP8_BYTES_PER_BLOCK : GROUP_BYTES_PER_BLOCK;
    const int nb = n / 32;
    for (int t = 0; t < tokens; t++) {
        const uint8_t *a = acts + (size_t)t * act_stride;
        for (int g = g0; g < g1; g++) {
            float acc[8] = {0}, lanes8[8][8] = {{0}};
            for (int b = 0; b < nb; b++) {
                const uint8_t *o = w + ((size_t)g * nb + b) * block_bytes;
                const uint8_t *ab = a + 34 * b;
                uint16_t ha;
                memcpy(&ha, ab, 2);
                const float da = llava_half_to_float(ha);
                const int8_t *ya = (const int8_t *)(ab + 2);
                for (int rr = 0; rr < 8; rr++) {
                    uint16_t hw;
                    memcpy(&hw, o + 2 * rr, 2);
                    if (type8) {   // Q8_0: vec_dot's eight 4-element lanes
                        for (int l = 0; l < 8; l++) {
                            int sum = 0;
                            for (int j = 4 * l; j < 4 * l + 4; j++) sum += quant_at(type8, o, rr, j) * ya[j];
                            lanes8[rr][l] = fmaf(llava_half_to_float(hw) * da, (float)sum, lanes8[rr][l]);
                        }
                        continue;
                    }
                    int sum = 0;
                    for (int j = 0; j < 32; j++) sum += quant_at(type8, o, rr, j) * ya[j];
                    acc[rr] = fmaf((float)sum, llava_half_to_float(hw) * da, acc[rr]);
                }
            }
            for (int rr = 0; rr < 8; rr++) {
                const float *v = lanes8[rr];
                y[(size_t)t * y_stride + 8 * g + rr] =
                    type8 ? ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7])) : acc[rr];
            }
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define X8_FN __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")))

static int has_x8(void) { return llava_cpu_level() == LLAVA_LEVEL_AVX512; }

enum { TOKENS_PER_PASS = 8 };

// `tk` tokens (1..8) against groups g0..g1. Per block, the weights are unpacked once and used for every token;
// per token the Q4_0 offset (-8) comes off in integers: 8 x the sum of the activations each lane covers.
X8_FN static inline __attribute__((always_inline))
void gemm_x8_impl(const int type8, const uint8_t *w, const uint8_t *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                  int g0, int g1, int n) {
    const int nb = n / 32;
    const int block_bytes = type8 ? GROUP8_BYTES_PER_BLOCK : GROUP_BYTES_PER_BLOCK, offset = type8 ? 128 : 8;
    // Q8_0 keeps vec_dot's eight lanes per row (each dpbusd's lane pair is two of them), so it holds four
    // accumulators per token: fewer tokens per pass keep them in registers.
    const int pass = type8 ? 4 : TOKENS_PER_PASS;
    const __m512i low = _mm512_set1_epi8(0x0F);
    const __m512i pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    // Per token and block: the activation scale, and offset x the activation sums each lane covers — per vector k
    // and half (Q8_0's lanes are kept apart), or summed over k (Q4_0 adds each row's lanes anyway).
    float *da = (float *)__builtin_alloca(sizeof(float) * (size_t)nb * TOKENS_PER_PASS);
    int32_t *ys = (int32_t *)__builtin_alloca(sizeof(int32_t) * 8 * (size_t)nb * TOKENS_PER_PASS);
    int64_t *eo = (int64_t *)__builtin_alloca(sizeof(int64_t) * (size_t)nb * TOKENS_PER_PASS);   // Q4_0's pair
    for (int t0 = 0; t0 < tokens; t0 += pass) {
        const int tk = tokens - t0 < pass ? tokens - t0 : pass;
        for (int t = 0; t < tk; t++) {
            const uint8_t *a = acts + (size_t)(t0 + t) * act_stride;
            for (int b = 0; b < nb; b++) {
                const uint8_t *ab = a + 34 * b;
                da[t * nb + b] = _cvtsh_ss(*(const uint16_t *)ab);
                const int8_t *q = (const int8_t *)(ab + 2);
                int32_t *yo = ys + 8 * (t * nb + b);
                for (int i = 0; i < 8; i++) yo[i] = 0;
                for (int j = 0; j < 32; j++) yo[2 * (j / 8) + ((j % 8) >= 4)] += q[j];
                for (int i = 0; i < 8; i++) yo[i] *= offset;
                const int32_t even = yo[0] + yo[2] + yo[4] + yo[6], odd = yo[1] + yo[3] + yo[5] + yo[7];
                eo[t * nb + b] = ((int64_t)(uint32_t)odd << 32) | (uint32_t)even;
            }
        }
        for (int g = g0; g < g1; g++) {
            __m512 acc16[TOKENS_PER_PASS];
            __m512 lanes[4][4];
            for (int t = 0; t < TOKENS_PER_PASS; t++) acc16[t] = _mm512_setzero_ps();
            if (type8) for (int k = 0; k < 4; k++) for (int t = 0; t < 4; t++) lanes[k][t] = _mm512_setzero_ps();
            const uint8_t *o = w + (size_t)g * nb * block_bytes;
            for (int b = 0; b < nb; b++, o += block_bytes) {
                const __m256 dw8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)o));
                const __m512 dw16 = _mm512_permutexvar_ps(pairs, _mm512_castps256_ps512(dw8));
                __m512i wk[4];
                if (type8) {
                    for (int k = 0; k < 4; k++) wk[k] = _mm512_loadu_si512((const void *)(o + 16 + 64 * k));
                } else {
                    const __m512i c0 = _mm512_loadu_si512((const void *)(o + 16)), c1 = _mm512_loadu_si512((const void *)(o + 80));
                    wk[0] = _mm512_and_si512(c0, low); wk[1] = _mm512_and_si512(_mm512_srli_epi16(c0, 4), low);
                    wk[2] = _mm512_and_si512(c1, low); wk[3] = _mm512_and_si512(_mm512_srli_epi16(c1, 4), low);
                }
                if (type8) {
                    // vec_dot's order per row: lane t = 2k + h (elements 8k + 4h .. + 3), fma'd with d_w * d_a.
                    for (int t = 0; t < tk; t++) {
                        const uint8_t *ab = acts + (size_t)(t0 + t) * act_stride + 34 * b + 2;
                        const int32_t *yo = ys + 8 * (t * nb + b);
                        const __m512 d = _mm512_mul_ps(dw16, _mm512_set1_ps(da[t * nb + b]));
                        for (int k = 0; k < 4; k++) {
                            int64_t qk;
                            memcpy(&qk, ab + 8 * k, 8);
                            __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wk[k], _mm512_set1_epi64(qk));
                            s = _mm512_sub_epi32(s, _mm512_set1_epi64(((int64_t)(uint32_t)yo[2 * k + 1] << 32) |
                                                                      (uint32_t)yo[2 * k]));
                            lanes[k][t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), lanes[k][t]);
                        }
                    }
                    continue;
                }
                for (int t = 0; t < tk; t++) {
                    const uint8_t *ab = acts + (size_t)(t0 + t) * act_stride + 34 * b + 2;
                    int64_t q0, q1, q2, q3;
                    memcpy(&q0, ab, 8); memcpy(&q1, ab + 8, 8); memcpy(&q2, ab + 16, 8); memcpy(&q3, ab + 24, 8);
                    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wk[0], _mm512_set1_epi64(q0));
                    s = _mm512_dpbusd_epi32(s, wk[1], _mm512_set1_epi64(q1));
                    s = _mm512_dpbusd_epi32(s, wk[2], _mm512_set1_epi64(q2));
                    s = _mm512_dpbusd_epi32(s, wk[3], _mm512_set1_epi64(q3));
                    s = _mm512_sub_epi32(s, _mm512_set1_epi64(eo[t * nb + b]));
                    // Each row's two lanes added in integers (both lanes of the pair then hold the block's exact
                    // sum), then one fma per row and block — llama.cpp's repacked Q4_0 arithmetic (gemv and gemm
                    // alike), kept twice over in the 16 lanes: an in-lane swap is cheaper than narrowing to 8.
                    const __m512i both = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, _MM_PERM_CDAB));
                    const __m512 d = _mm512_mul_ps(dw16, _mm512_set1_ps(da[t * nb + b]));
                    acc16[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(both), d, acc16[t]);
                }
            }
            for (int t = 0; t < tk; t++) {
                float *yt = y + (size_t)(t0 + t) * y_stride + 8 * g;
                if (!type8) {   // lane 2r of the pair
                    float v[16];
                    _mm512_storeu_ps(v, acc16[t]);
                    for (int rr = 0; rr < 8; rr++) yt[rr] = v[2 * rr];
                    continue;
                }
                // hsum_float_8 per row: ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)), v_{2k+h} in lanes[k]
                // at lane 2r + h.
                const __m512 c = _mm512_add_ps(_mm512_add_ps(lanes[0][t], lanes[2][t]),
                                               _mm512_add_ps(lanes[1][t], lanes[3][t]));
                float v[16];
                _mm512_storeu_ps(v, c);
                for (int rr = 0; rr < 8; rr++) yt[rr] = v[2 * rr] + v[2 * rr + 1];
            }
        }
    }
}
X8_FN static void gemm_q4_0x8_avx512(const uint8_t *w, const uint8_t *a, size_t as, int tk, float *y, size_t ys, int g0, int g1, int n) {
    gemm_x8_impl(0, w, a, as, tk, y, ys, g0, g1, n);
}
X8_FN static void gemm_q8_0x8_avx512(const uint8_t *w, const uint8_t *a, size_t as, int tk, float *y, size_t ys, int g0, int g1, int n) {
    gemm_x8_impl(1, w, a, as, tk, y, ys, g0, g1, n);
}

// Q4_0 regrouped at the avx2 and avxvnni levels (llama.cpp's AVX2 build repacks Q4_0 too): each 512-bit vector of the
// layout is two 256-bit halves, rows 0..3 and rows 4..7, so one maddubs multiplies 4 rows x 8 weights by the same 8
// activation bytes (broadcast) with no horizontal sums per row. The four vectors' pair sums add in 16 bits (4 x 2 x
// 15 x 128 at most: 15360), one madd widens them, one hadd joins each row's two lanes, a permute puts the rows in
// order; then dot_q4_0_blocks' one fma per row and block, 8 rows in 8 lanes, up to 4 tokens per unpacking.
#define X8A_FN __attribute__((target("avx2,fma,f16c")))

X8A_FN static inline __attribute__((always_inline))
void q4_0x8_avx2_tokens(const int T, const uint8_t *group, int nb, const uint8_t *acts, size_t act_stride,
                        const int32_t *ysum8, float *y, size_t y_stride, int g, int t0) {
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *o = group + (size_t)b * GROUP_BYTES_PER_BLOCK;
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)o));   // [8 rows]
        __m256i wk[4][2];   // [vector k][half: rows 0..3, rows 4..7]
        _Pragma("clang loop unroll(full)")
        for (int h = 0; h < 2; h++) {
            const __m256i c0 = _mm256_loadu_si256((const __m256i *)(o + 16 + 32 * h));
            const __m256i c1 = _mm256_loadu_si256((const __m256i *)(o + 80 + 32 * h));
            wk[0][h] = _mm256_and_si256(c0, low);
            wk[1][h] = _mm256_and_si256(_mm256_srli_epi16(c0, 4), low);
            wk[2][h] = _mm256_and_si256(c1, low);
            wk[3][h] = _mm256_and_si256(_mm256_srli_epi16(c1, 4), low);
        }
        _Pragma("clang loop unroll(full)")
        for (int j = 0; j < T; j++) {
            const uint8_t *ab = acts + (size_t)(t0 + j) * act_stride + 34 * (size_t)b;
            __m256i yk[4];
            _Pragma("clang loop unroll(full)")
            for (int k = 0; k < 4; k++) {
                int64_t q;
                memcpy(&q, ab + 2 + 8 * k, 8);
                yk[k] = _mm256_set1_epi64x(q);
            }
            __m256i s[2];
            _Pragma("clang loop unroll(full)")
            for (int h = 0; h < 2; h++) {
                const __m256i m = _mm256_add_epi16(
                    _mm256_add_epi16(_mm256_maddubs_epi16(wk[0][h], yk[0]), _mm256_maddubs_epi16(wk[1][h], yk[1])),
                    _mm256_add_epi16(_mm256_maddubs_epi16(wk[2][h], yk[2]), _mm256_maddubs_epi16(wk[3][h], yk[3])));
                s[h] = _mm256_madd_epi16(m, ones);   // lane l: row 4h + l / 2, its half l % 2
            }
            const __m256i rows = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(s[0], s[1]), order);
            const __m256i sums = _mm256_sub_epi32(rows, _mm256_set1_epi32(ysum8[(size_t)j * nb + b]));
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *)ab)));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), d, acc[j]);
        }
    }
    for (int j = 0; j < T; j++) _mm256_storeu_ps(y + (size_t)(t0 + j) * y_stride + 8 * (size_t)g, acc[j]);
}

// 8 x the sum of each Q8_0 activation block's 32 bytes, [tokens, nb]: Q4_0's -8 offset taken off in integers.
X8A_FN static void q8_0_block_sums8(const uint8_t *a, size_t act_stride, int tokens, int nb, int32_t *out) {
    for (int t = 0; t < tokens; t++)
        for (int b = 0; b < nb; b++) {
            const __m256i yv = _mm256_loadu_si256((const __m256i *)(a + (size_t)t * act_stride + 34 * (size_t)b + 2));
            const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), yv), _mm256_set1_epi16(1));
            const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            const __m128i h2 = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
            out[(size_t)t * nb + b] = 8 * _mm_cvtsi128_si32(_mm_add_epi32(h2, _mm_shuffle_epi32(h2, 1)));
        }
}

// Tokens in blocks of 32 (their activations and sums stay in cache), each group's weights through a block's tokens
// four at a time; 8 x each activation block's sum made once per call.
X8A_FN static void gemm_q4_0x8_avx2(const uint8_t *w, const uint8_t *acts, size_t act_stride, int tokens, float *y,
                                    size_t y_stride, int g0, int g1, int n) {
    enum { TOKEN_BLOCK = 32, SMALL = 4 * 128 };
    const int nb = n / 32;
    int32_t small[SMALL];
    for (int tb = 0; tb < tokens; tb += TOKEN_BLOCK) {
        const int te = tb + TOKEN_BLOCK < tokens ? tb + TOKEN_BLOCK : tokens;
        const size_t need = (size_t)(te - tb) * nb;
        int32_t *ysum8 = need <= SMALL ? small : (int32_t *)malloc(sizeof(int32_t) * need);
        if (ysum8 == NULL) {   // no memory for the sums: the portable product, the same bits
            gemm_portable(0, w, acts + (size_t)tb * act_stride, act_stride, te - tb, y + (size_t)tb * y_stride,
                          y_stride, g0, g1, n);
            continue;
        }
        q8_0_block_sums8(acts + (size_t)tb * act_stride, act_stride, te - tb, nb, ysum8);
        for (int g = g0; g < g1; g++) {
            const uint8_t *group = w + (size_t)g * nb * GROUP_BYTES_PER_BLOCK;
            for (int t = tb; t < te; t += 4) {
                const int32_t *sums = ysum8 + (size_t)(t - tb) * nb;
                switch (te - t < 4 ? te - t : 4) {
                case 4: q4_0x8_avx2_tokens(4, group, nb, acts, act_stride, sums, y, y_stride, g, t); break;
                case 3: q4_0x8_avx2_tokens(3, group, nb, acts, act_stride, sums, y, y_stride, g, t); break;
                case 2: q4_0x8_avx2_tokens(2, group, nb, acts, act_stride, sums, y, y_stride, g, t); break;
                default: q4_0x8_avx2_tokens(1, group, nb, acts, act_stride, sums, y, y_stride, g, t); break;
                }
            }
        }
        if (ysum8 != small) free(ysum8);
    }
}
#endif

static void gemm_x8(int type8, const void *w, const void *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                    int g0, int g1, int n) {
#if defined(__x86_64__) || defined(__i386__)
    if (has_x8()) {
        // Token passes of 8 inside, blocks of 64 tokens outside so the activations stay in L2.
        for (int t = 0; t < tokens; t += 64) {
            const int tk = tokens - t < 64 ? tokens - t : 64;
            const uint8_t *at = (const uint8_t *)acts + (size_t)t * act_stride;
            float *yt = y + (size_t)t * y_stride;
            if (type8) gemm_q8_0x8_avx512((const uint8_t *)w, at, act_stride, tk, yt, y_stride, g0, g1, n);
            else gemm_q4_0x8_avx512((const uint8_t *)w, at, act_stride, tk, yt, y_stride, g0, g1, n);
        }
        return;
    }
    if (!type8 && llava_cpu_has_grouped8_q4_0()) {   // the avx2 and avxvnni levels
        gemm_q4_0x8_avx2((const uint8_t *)w, (const uint8_t *)acts, act_stride, tokens, y, y_stride, g0, g1, n);
        return;
    }
#endif
    gemm_portable(type8, (const uint8_t *)w, (const uint8_t *)acts, act_stride, tokens, y, y_stride, g0, g1, n);
}

void llava_gemm_q4_0x8(const void *w, const void *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                       int g0, int g1, int n) {
    gemm_x8(0, w, acts, act_stride, tokens, y, y_stride, g0, g1, n);
}

void llava_gemm_q8_0x8(const void *w, const void *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                       int g0, int g1, int n) {
    gemm_x8(1, w, acts, act_stride, tokens, y, y_stride, g0, g1, n);
}
