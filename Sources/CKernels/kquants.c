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


// The integers of one weight block against `count` (1..4) activation blocks: the weights are unpacked once and their
// vectors serve every token. `chunks`: also the per-64-element sums (only the repacked gemm needs them).
KQ_FN static void ints_avx2(int type, const uint8_t *w, const uint8_t *const *a, int count, int chunks, kq_ints *r) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    if (type == LLAVA_KQ_Q6_K) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h));
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(qh + 32 * h));
            __m256i q[4], s16[4];
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(3)), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(12)), 2);
            q[0] = _mm256_or_si256(_mm256_and_si256(b1, m4), h0);
            q[1] = _mm256_or_si256(_mm256_and_si256(b2, m4), h1);
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                                   _mm256_and_si256(hb, _mm256_set1_epi8(48)));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                                   _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8((char)0xC0)), 2));
            for (int k = 0; k < 4; k++) {   // 32-element chunk c: 16-element sub-blocks 2c (lanes 0-3), 2c+1 (4-7)
                const int c = 4 * h + k;
                s16[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[2 * c])),
                                                 _mm_set1_epi16(sc[2 * c + 1]), 1);
            }
            for (int j = 0; j < count; j++) {
                const int8_t *y = (const int8_t *)(a[j] + 4) + 128 * h;
                for (int k = 0; k < 4; k++) {
                    const __m256i p16 = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y + 32 * k)));
                    sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(s16[k], p16));
                }
            }
        }
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        for (int j = 0; j < count; j++) {
            const __m256i bsv = _mm256_loadu_si256((const __m256i *)(a[j] + 4 + QK));
            const __m256i v = _mm256_sub_epi32(sumi[j], _mm256_slli_epi32(_mm256_madd_epi16(bsv, sc16), 5));
            _mm256_storeu_si256((__m256i *)r[j].lanes, v);
        }
        return;
    }
    // The 6-bit scales and mins, 8 each, by ggml's word trick (the same bytes scale_min_k4 gives).
    uint32_t u[4];
    memcpy(u, w + 4, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    const uint32_t mins_lo = u[1] & 0x3f3f3f3f;
    u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    u[2] = mins_lo;
    u[0] &= 0x3f3f3f3f;
    uint8_t sc[8];
    memcpy(sc, u, 8);
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[3], (int)u[2]));
    const uint8_t *qs = w + (type == LLAVA_KQ_Q4_K ? 16 : 48);
    const __m256i hbits = type == LLAVA_KQ_Q5_K ? _mm256_loadu_si256((const __m256i *)(w + 16))
                                                : _mm256_setzero_si256();
    const __m256i one = _mm256_set1_epi8(1);
    __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                       _mm256_setzero_si256()};
    for (int c = 0; c < 4; c++) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        if (type == LLAVA_KQ_Q5_K) {
            const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c), one);
            const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c + 1), one);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(h0, 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(h1, 4));
        }
        const __m256i sl = _mm256_set1_epi16((short)sc[2 * c]), sh = _mm256_set1_epi16((short)sc[2 * c + 1]);
        for (int j = 0; j < count; j++) {
            const int8_t *y = (const int8_t *)(a[j] + 4) + 64 * c;
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)y), y1 = _mm256_loadu_si256((const __m256i *)(y + 32));
            const __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(lo, y0));
            const __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(hi, y1));
            const __m256i sj = _mm256_add_epi32(pl, ph);
            sumi[j] = _mm256_add_epi32(sumi[j], sj);
            if (chunks) {
                __m128i t = _mm_add_epi32(_mm256_castsi256_si128(sj), _mm256_extracti128_si256(sj, 1));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
                r[j].chunk[c] = _mm_cvtsi128_si32(t);
            }
        }
    }
    for (int j = 0; j < count; j++) {
        // mins[c] = m[2c] Q[2c] + m[2c+1] Q[2c+1], Q[k] the activation sum of sub-block k (bsums pairs).
        const __m128i q = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)(a[j] + 4 + QK)),
                                         _mm_loadu_si128((const __m128i *)(a[j] + 4 + QK + 16)));
        _mm_storeu_si128((__m128i *)r[j].mins, _mm_madd_epi16(m16, q));
        _mm256_storeu_si256((__m256i *)r[j].lanes, sumi[j]);
        if (!chunks) {   // the tiled and gemv modes need only the block's total, which the lanes add up to
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(sumi[j]), _mm256_extracti128_si256(sumi[j], 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
            r[j].chunk[0] = _mm_cvtsi128_si32(t);
            r[j].chunk[1] = r[j].chunk[2] = r[j].chunk[3] = 0;
        }
    }
}
// One weight row against `count` activation rows, every block: ints_avx2 and the mode's float part, compiled here
// with FMA so fmaf is one instruction (the same fused operation as the portable path's libm fmaf).
KQ_FN static void row_avx2(int type, int mode, const uint8_t *wr, int nb, int bb, const uint8_t *const *at, int count,
                           float *out) {
    kq_acc s[4];
    memset(s, 0, sizeof s);
    const int chunks = mode == LLAVA_KQ_GEMM;
    for (int b = 0; b < nb; b++) {
        kq_ints r[4];
        const uint8_t *ab[4];
        for (int j = 0; j < count; j++) ab[j] = at[j] + (size_t)Q8K_BYTES * b;
        ints_avx2(type, wr + (size_t)bb * b, ab, count, chunks, r);
        for (int j = 0; j < count; j++) acc_block(type, mode, wr + (size_t)bb * b, ab[j], &r[j], &s[j]);
    }
    for (int j = 0; j < count; j++) out[j] = finish(type, mode, &s[j]);
}
#endif

// ---- the product -------------------------------------------------------------------------------------------------

void llava_gemm_k(int type, int mode, const void *w, size_t row_bytes, const void *acts, size_t act_stride,
                  int tokens, float *y, size_t y_stride, int r0, int r1, int n) {
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)acts;
    const int nb = n / QK, bb = block_bytes(type);
#if defined(__x86_64__) || defined(__i386__)
    const int simd = llava_kernels_simd();
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
                if (simd) row_avx2(type, mode, wr, nb, bb, at, count, out);
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
