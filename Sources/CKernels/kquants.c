// k-quant products (Q4_K, Q5_K, Q6_K weights against Q8_K activations) with llama.cpp's CPU arithmetic.
//
// llama.cpp computes one weight matrix in different ways by the number of activation rows (tokens) it multiplies,
// and each way has its own float order; the caller (WeightMatrix) picks the mode as llama.cpp would:
//   LLAVA_KQ_VECDOT  ggml_vec_dot_qX_K_q8_K: 8 float lanes, each the exact integer sum over elements 4t..4t+3 of
//                    every sub-block times its scale, fma'd with d per block, then hsum_float_8; Q4_K's mins in a
//                    4-lane accumulator, Q5_K's in one float; Q6_K's -32 offset through the activation sums.
//   LLAVA_KQ_TILED   the tiled path (>= 8 rows, weight not repacked): per block r = d0 * S1, r = fma(-dmin0, S2, r),
//                    acc = fma(r, y.d, acc) — one accumulator per output.
//   LLAVA_KQ_GEMV    Q4_K repacked 8 rows at a time, a row outside the 4-row groups: per block
//                    acc = fma(I, d * y.d, acc), accm = fma(M, dmin * y.d, accm); out = acc - accm.
//   LLAVA_KQ_GEMM    the same in 4-row groups: one fma per 64-element chunk instead of per block.
// The integers are exact whichever instructions make them, so the AVX2 path and the portable path (one lane at a
// time) give the same bits; every fused step is written as fmaf and nothing else may be contracted.
#pragma STDC FP_CONTRACT OFF
#include "kernels.h"
#include <math.h>
#include <string.h>

enum { QK = 256, Q8K_BYTES = 292 };

// ---- activations: quantize_row_q8_K_ref ---------------------------------------------------------------------

static inline int nearest_int(float f) {   // round half to even of |f| < 2^22, as ggml's magic-number trick
    const float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void llava_quantize_q8_K(const float *x, void *out, int n) {
    uint8_t *o = (uint8_t *)out;
    for (int b = 0; b < n / QK; b++, x += QK, o += Q8K_BYTES) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }   // the first largest keeps its sign
        }
        int8_t *qs = (int8_t *)(o + 4);
        int16_t bs[16];
        if (amax == 0) {
            const float zero = 0;
            memcpy(o, &zero, 4);
            memset(qs, 0, QK);
            memset(bs, 0, sizeof bs);
            memcpy(o + 4 + QK, bs, sizeof bs);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK; j++) {
            const int v = nearest_int(iscale * x[j]);
            qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += qs[16 * j + i];
            bs[j] = (int16_t)s;
        }
        const float d = 1 / iscale;
        memcpy(o, &d, 4);
        memcpy(o + 4 + QK, bs, sizeof bs);
    }
}

// ---- the integers of one (weight block, activation block) pair -------------------------------------------------

// lanes[t]: vec_dot's int32 lane t; chunk[c]: the scaled sum over the 64-element chunk c (sub-blocks 2c, 2c+1);
// mins[c]: m[2c] * Q[2c] + m[2c+1] * Q[2c+1] with Q[k] the activation sum of sub-block k (Q4_K/Q5_K).
// Q6_K: lanes carry the -32 offset already (v[t] = sumi[t] - 32 * bsc[t]); chunk and mins are unused.
typedef struct { int32_t lanes[8], chunk[4], mins[4]; } kq_ints;

static inline void scale_min_k4(const uint8_t *q, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) { sc[j] = q[j] & 63; m[j] = q[j + 4] & 63; }
        else {
            sc[j] = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
            m[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
        }
    }
}

static inline float h2f(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return llava_half_to_float(h); }

static void ints_portable(int type, const uint8_t *w, const uint8_t *a, kq_ints *r) {
    const int8_t *y = (const int8_t *)(a + 4);
    int16_t bs[16];
    memcpy(bs, a + 4 + QK, sizeof bs);
    memset(r, 0, sizeof *r);
    if (type == LLAVA_KQ_Q6_K) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        for (int e = 0; e < QK; e++) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const int lo = k & 1 ? ql[64 * h + 32 + l] : ql[64 * h + l];
            const int nib = k < 2 ? lo & 0xF : lo >> 4;
            const int q = nib | ((qh[32 * h + l] >> (2 * k)) & 3) << 4;
            r->lanes[(e % 32) / 4] += sc[e / 16] * q * y[e];
        }
        for (int t = 0; t < 8; t++) r->lanes[t] -= 32 * (sc[2 * t] * bs[2 * t] + sc[2 * t + 1] * bs[2 * t + 1]);
        return;
    }
    uint8_t sc[8], m[8];
    scale_min_k4(w + 4, sc, m);
    const uint8_t *qs = w + (type == LLAVA_KQ_Q4_K ? 16 : 48), *qh = w + 16;
    for (int e = 0; e < QK; e++) {
        const int s = e / 32, l = e % 32;
        int q = s & 1 ? qs[32 * (s / 2) + l] >> 4 : qs[32 * (s / 2) + l] & 0xF;
        if (type == LLAVA_KQ_Q5_K) q |= ((qh[l] >> s) & 1) << 4;
        const int p = sc[s] * q * y[e];
        r->lanes[l / 4] += p;
        r->chunk[s / 2] += p;
    }
    for (int c = 0; c < 4; c++)
        r->mins[c] = m[2 * c] * (bs[4 * c] + bs[4 * c + 1]) + m[2 * c + 1] * (bs[4 * c + 2] + bs[4 * c + 3]);
}

// ---- the float part of each mode --------------------------------------------------------------------------------

static inline float hsum8(const float v[8]) {   // hsum_float_8
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

typedef struct { float acc[8], accm[4], summs; } kq_acc;

static inline void acc_block(int type, int mode, const uint8_t *w, const uint8_t *a, const kq_ints *r, kq_acc *s) {
    float yd;
    memcpy(&yd, a, 4);
    if (type == LLAVA_KQ_Q6_K) {
        const float d0 = h2f(w + 208);
        if (mode == LLAVA_KQ_TILED) {
            int32_t s1 = 0;
            for (int t = 0; t < 8; t++) s1 += r->lanes[t];
            s->acc[0] = fmaf(d0 * (float)s1, yd, s->acc[0]);
        } else {
            const float d = yd * d0;
            for (int t = 0; t < 8; t++) s->acc[t] = fmaf(d, (float)r->lanes[t], s->acc[t]);
        }
        return;
    }
    const float d0 = h2f(w), dmin0 = h2f(w + 2);
    switch (mode) {
    case LLAVA_KQ_VECDOT: {
        const float d = yd * d0, dmin = -(yd * dmin0);
        for (int t = 0; t < 8; t++) s->acc[t] = fmaf(d, (float)r->lanes[t], s->acc[t]);
        if (type == LLAVA_KQ_Q4_K) {
            for (int l = 0; l < 4; l++) s->accm[l] = fmaf(dmin, (float)r->mins[l], s->accm[l]);
        } else {
            const int32_t isum = (r->mins[0] + r->mins[1]) + (r->mins[2] + r->mins[3]);
            s->summs = fmaf(dmin, (float)isum, s->summs);
        }
        break;
    }
    case LLAVA_KQ_TILED: {
        const int32_t s1 = (r->chunk[0] + r->chunk[1]) + (r->chunk[2] + r->chunk[3]);
        const int32_t s2 = (r->mins[0] + r->mins[1]) + (r->mins[2] + r->mins[3]);
        const float x = fmaf(-dmin0, (float)s2, d0 * (float)s1);
        s->acc[0] = fmaf(x, yd, s->acc[0]);
        break;
    }
    case LLAVA_KQ_GEMV: {
        const int32_t i = (r->chunk[0] + r->chunk[1]) + (r->chunk[2] + r->chunk[3]);
        const int32_t m = (r->mins[0] + r->mins[1]) + (r->mins[2] + r->mins[3]);
        s->acc[0] = fmaf((float)i, d0 * yd, s->acc[0]);
        s->accm[0] = fmaf((float)m, dmin0 * yd, s->accm[0]);
        break;
    }
    default: {   // LLAVA_KQ_GEMM
        const float dd = d0 * yd, dm = dmin0 * yd;
        for (int c = 0; c < 4; c++) {
            s->acc[0] = fmaf((float)r->chunk[c], dd, s->acc[0]);
            s->accm[0] = fmaf((float)r->mins[c], dm, s->accm[0]);
        }
        break;
    }
    }
}

static inline float finish(int type, int mode, const kq_acc *s) {
    if (type == LLAVA_KQ_Q6_K) return mode == LLAVA_KQ_TILED ? s->acc[0] : hsum8(s->acc);
    switch (mode) {
    case LLAVA_KQ_VECDOT:
        return type == LLAVA_KQ_Q4_K ? hsum8(s->acc) + ((s->accm[0] + s->accm[2]) + (s->accm[1] + s->accm[3]))
                                     : hsum8(s->acc) + s->summs;
    case LLAVA_KQ_TILED: return s->acc[0];
    default: return s->acc[0] - s->accm[0];
    }
}

static int block_bytes(int type) { return type == LLAVA_KQ_Q4_K ? 144 : type == LLAVA_KQ_Q5_K ? 176 : 210; }

// ---- AVX2: the same integers, 32 elements per instruction --------------------------------------------------------

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KQ_FN __attribute__((target("avx2,fma,f16c")))

// The AVX2 path keeps one weight row's block unpacked in registers while up to four activation rows go past it, and
// keeps the float accumulators in registers: the per-output operations and their order are the portable path's (the
// modes above), only made for four tokens at once (lanes = tokens) or, in vec_dot's mode, eight lanes per token.

KQ_FN static inline float h2f_c(const uint8_t *p) {   // F16C's conversion is exact, like llava_half_to_float
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// [c0, c1, c2, c3]: the total of each of four 8-lane vectors (integers, so any order gives the same sums).
KQ_FN static inline __m128i sums4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// 4x4 transpose of int32: v[t][c] -> out[c][t].
KQ_FN static inline void transpose4(const __m128i v[4], __m128i out[4]) {
    const __m128i a = _mm_unpacklo_epi32(v[0], v[1]), b = _mm_unpacklo_epi32(v[2], v[3]);
    const __m128i c = _mm_unpackhi_epi32(v[0], v[1]), d = _mm_unpackhi_epi32(v[2], v[3]);
    out[0] = _mm_unpacklo_epi64(a, b);
    out[1] = _mm_unpackhi_epi64(a, b);
    out[2] = _mm_unpacklo_epi64(c, d);
    out[3] = _mm_unpackhi_epi64(c, d);
}

KQ_FN static inline float finish_lanes(int type, __m256 lanes, __m128 mins, float summs) {
    float v[8], m[4];
    _mm256_storeu_ps(v, lanes);
    if (type == LLAVA_KQ_Q6_K) return hsum8(v);
    if (type == LLAVA_KQ_Q5_K) return hsum8(v) + summs;
    _mm_storeu_ps(m, mins);
    return hsum8(v) + ((m[0] + m[2]) + (m[1] + m[3]));
}

// pshufb masks that broadcast int16 word k of a 128-bit lane to all eight words.
static const uint8_t word_masks[8][32] = {
#define WM(k) {2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, \
                2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1}
    WM(0), WM(1), WM(2), WM(3), WM(4), WM(5), WM(6), WM(7)
#undef WM
};

// pshufb masks: word 2k of a 128-bit lane to the low lane's eight words, word 2k+1 to the high lane's.
static const uint8_t pair_masks[4][32] = {
#define PM(k) {4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, \
                4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, \
                4*k+2, 4*k+3}
    PM(0), PM(1), PM(2), PM(3)
#undef PM
};

// The row kernels, once per integer instruction set: AVX2's madd + add, or VNNI's vpdpwssd (the same exact sums in
// one instruction) at the avxvnni level (AVX-VNNI's VEX form) and at avx512 (AVX512-VNNI on 256-bit registers).
#define KQ_TARGET "avx2,fma,f16c"
#define KQ_SUFFIX avx2
#define KQ_DPW(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
#include "kquants_rows.h"
#define KQ_TARGET "avx2,fma,f16c,avxvnni"
#define KQ_SUFFIX avxvnni
#define KQ_DPW(acc, a, b) _mm256_dpwssd_avx_epi32(acc, a, b)
#include "kquants_rows.h"
#define KQ_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
#define KQ_SUFFIX avx512
#define KQ_DPW(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)
#include "kquants_rows.h"
#endif

// ---- the product -------------------------------------------------------------------------------------------------

void llava_gemm_k(int type, int mode, const void *w, size_t row_bytes, const void *acts, size_t act_stride,
                  int tokens, float *y, size_t y_stride, int r0, int r1, int n) {
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)acts;
    const int nb = n / QK, bb = block_bytes(type);
#if defined(__x86_64__) || defined(__i386__)
    int level = llava_cpu_level();
    // The avxvnni level on a CPU with AVX512-VNNI but not AVX-VNNI's VEX form (Zen 4, Ice Lake, Cascade Lake):
    // the same pairwise products through the EVEX copy, which this CPU runs — the same integers, so the same bits.
    if (level == LLAVA_LEVEL_AVXVNNI && !llava_cpu_has_avxvnni()) level = LLAVA_LEVEL_AVX512;
#endif
    // Activation rows in blocks that stay in L2 while the weight rows stream past; four tokens share each weight
    // block's unpacking.
    const int token_block = 16;
    for (int tb = 0; tb < tokens; tb += token_block) {
        const int te = tb + token_block < tokens ? tb + token_block : tokens;
        for (int row = r0; row < r1; row++) {
            const uint8_t *wr = wb + (size_t)row * row_bytes;
            for (int t = tb; t < te; t += 4) {
                const int count = te - t < 4 ? te - t : 4;
                const uint8_t *at[4];
                for (int j = 0; j < count; j++) at[j] = ab + (size_t)(t + j) * act_stride;
                float out[4];
#if defined(__x86_64__) || defined(__i386__)
                if (level == LLAVA_LEVEL_AVX512) row_avx512(type, mode, wr, nb, bb, at, count, out);
                else if (level == LLAVA_LEVEL_AVXVNNI) row_avxvnni(type, mode, wr, nb, bb, at, count, out);
                else if (level == LLAVA_LEVEL_AVX2) row_avx2(type, mode, wr, nb, bb, at, count, out);
                else
#endif
                {
                    kq_acc s[4];
                    memset(s, 0, sizeof s);
                    for (int b = 0; b < nb; b++)
                        for (int j = 0; j < count; j++) {
                            kq_ints r;
                            const uint8_t *wblk = wr + (size_t)bb * b, *ablk = at[j] + (size_t)Q8K_BYTES * b;
                            ints_portable(type, wblk, ablk, &r);
                            acc_block(type, mode, wblk, ablk, &r, &s[j]);
                        }
                    for (int j = 0; j < count; j++) out[j] = finish(type, mode, &s[j]);
                }
                for (int j = 0; j < count; j++) y[(size_t)(t + j) * y_stride + row] = out[j];
            }
        }
    }
}
