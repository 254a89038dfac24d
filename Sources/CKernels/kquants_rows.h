// Included by kquants.c once per instruction set (KQ_TARGET, KQ_SUFFIX, KQ_DPW: acc + the pairwise int16 products
// a * b, exact): the k-quant row kernels of the x86 levels. Each copy computes the same integers and floats.
#define KQ_CAT2(a, b) a##_##b
#define KQ_CAT(a, b) KQ_CAT2(a, b)
#define KQ_NAME(base) KQ_CAT(base, KQ_SUFFIX)
// Inlined into one copy per (type, mode, count), so the token loops unroll and the mode's branches go away.
#define KQ_BODY __attribute__((always_inline, target(KQ_TARGET))) static inline

// Q4_K / Q5_K: one weight row against `count` (1..4) activation rows, every block.
// Inlined into one copy per (type, mode, count), so the token loops unroll and the mode's branches go away.

KQ_BODY void KQ_NAME(row45)(const int type, const int mode, const uint8_t *wr, int nb, int bb, const uint8_t *const *at,
                        const int count, float *out) {
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    __m128 acc = _mm_setzero_ps(), accm = _mm_setzero_ps();
    __m256 lanes[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 mins4[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *w = wr + (size_t)bb * b;
        // The 6-bit scales and mins, 8 each, by ggml's word trick (the same bytes scale_min_k4 gives).
        uint32_t u[4];
        memcpy(u, w + 4, 12);
        u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
        const uint32_t mins_lo = u[1] & 0x3f3f3f3f;
        u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
        u[2] = mins_lo;
        u[0] &= 0x3f3f3f3f;
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[1], (int)u[0])));
        const __m128i m16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[3], (int)u[2]));
        const uint8_t *qs = w + (type == LLAVA_KQ_Q4_K ? 16 : 48);
        const __m256i hbits = type == LLAVA_KQ_Q5_K ? _mm256_loadu_si256((const __m256i *)(w + 16))
                                                    : _mm256_setzero_si256();
        __m256i lo[4], hi[4], sl[4], sh[4];
        for (int c = 0; c < 4; c++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            lo[c] = _mm256_and_si256(bits, m4);
            hi[c] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if (type == LLAVA_KQ_Q5_K) {
                lo[c] = _mm256_or_si256(lo[c], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c), one), 4));
                hi[c] = _mm256_or_si256(hi[c],
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c + 1), one), 4));
            }
            sl[c] = _mm256_shuffle_epi8(sc16, _mm256_loadu_si256((const __m256i *)word_masks[2 * c]));
            sh[c] = _mm256_shuffle_epi8(sc16, _mm256_loadu_si256((const __m256i *)word_masks[2 * c + 1]));
        }
        const float d0 = h2f_c(w), dmin0 = h2f_c(w + 2);
        float ydf[4] = {0, 0, 0, 0};
        __m128i ch[4], mn[4];
        __m256i tot[4];
        for (int j = 0; j < 4; j++) {
            if (j >= count) { ch[j] = mn[j] = _mm_setzero_si128(); tot[j] = _mm256_setzero_si256(); continue; }
            const uint8_t *a = at[j] + (size_t)Q8K_BYTES * b;
            memcpy(&ydf[j], a, 4);
            const int8_t *y = (const int8_t *)(a + 4);
            __m256i s[4];
            for (int c = 0; c < 4; c++) {
                const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y + 64 * c));
                const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y + 64 * c + 32));
                s[c] = KQ_DPW(_mm256_madd_epi16(sl[c], _mm256_maddubs_epi16(lo[c], y0)), sh[c],
                              _mm256_maddubs_epi16(hi[c], y1));
            }
            // mins[c] = m[2c] Q[2c] + m[2c+1] Q[2c+1], Q[k] the activation sum of sub-block k (bsums pairs).
            const __m128i q = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)(a + 4 + QK)),
                                             _mm_loadu_si128((const __m128i *)(a + 4 + QK + 16)));
            mn[j] = _mm_madd_epi16(m16, q);
            if (mode == LLAVA_KQ_GEMM) {
                ch[j] = sums4(s[0], s[1], s[2], s[3]);
                continue;
            }
            tot[j] = _mm256_add_epi32(_mm256_add_epi32(s[0], s[1]), _mm256_add_epi32(s[2], s[3]));
            if (mode == LLAVA_KQ_VECDOT) {
                const float d = ydf[j] * d0, dmin = -(ydf[j] * dmin0);
                lanes[j] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(tot[j]), lanes[j]);
                if (type == LLAVA_KQ_Q4_K)
                    mins4[j] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mn[j]), mins4[j]);
            }
        }
        const __m128 yd = _mm_loadu_ps(ydf);
        if (mode == LLAVA_KQ_GEMM) {
            __m128i cc[4], mc[4];   // [chunk][token]
            transpose4(mn, mc);
            transpose4(ch, cc);
            const __m128 dd = _mm_mul_ps(_mm_set1_ps(d0), yd), dm = _mm_mul_ps(_mm_set1_ps(dmin0), yd);
            for (int c = 0; c < 4; c++) {
                acc = _mm_fmadd_ps(_mm_cvtepi32_ps(cc[c]), dd, acc);
                accm = _mm_fmadd_ps(_mm_cvtepi32_ps(mc[c]), dm, accm);
            }
            continue;
        }
        // The block's totals per token: mins (m0 + m1) + (m2 + m3), products over all lanes (exact integers).
        const __m128i m = _mm_hadd_epi32(_mm_hadd_epi32(mn[0], mn[1]), _mm_hadd_epi32(mn[2], mn[3]));
        if (mode == LLAVA_KQ_VECDOT) {
            if (type == LLAVA_KQ_Q5_K) {   // one float for the mins: fmaf(dmin, (m0 + m1) + (m2 + m3), summs)
                const __m128 dmin = _mm_xor_ps(_mm_mul_ps(yd, _mm_set1_ps(dmin0)), _mm_set1_ps(-0.0f));
                accm = _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(m), accm);
            }
            continue;
        }
        const __m128i i = sums4(tot[0], tot[1], tot[2], tot[3]);
        const __m128 dd = _mm_mul_ps(_mm_set1_ps(d0), yd), dm = _mm_mul_ps(_mm_set1_ps(dmin0), yd);
        if (mode == LLAVA_KQ_GEMV) {
            acc = _mm_fmadd_ps(_mm_cvtepi32_ps(i), dd, acc);
            accm = _mm_fmadd_ps(_mm_cvtepi32_ps(m), dm, accm);
        } else {   // tiled: r = fma(-dmin0, S2, d0 * S1), acc = fma(r, y.d, acc)
            const __m128 x = _mm_fmadd_ps(_mm_set1_ps(-dmin0), _mm_cvtepi32_ps(m),
                                          _mm_mul_ps(_mm_set1_ps(d0), _mm_cvtepi32_ps(i)));
            acc = _mm_fmadd_ps(x, yd, acc);
        }
    }
    float a4[4], m4f[4];
    _mm_storeu_ps(a4, acc);
    _mm_storeu_ps(m4f, accm);
    for (int j = 0; j < count; j++) {
        switch (mode) {
        case LLAVA_KQ_VECDOT: out[j] = finish_lanes(type, lanes[j], mins4[j], m4f[j]); break;
        case LLAVA_KQ_TILED: out[j] = a4[j]; break;
        default: out[j] = a4[j] - m4f[j]; break;
        }
    }
}

// Q6_K: one weight row against `count` (1..4) activation rows; lanes carry the -32 offset (v = sumi - 32 * bsc).
KQ_BODY void KQ_NAME(row6)(const int mode, const uint8_t *wr, int nb, const uint8_t *const *at, const int count,
                       float *out) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m128 acc = _mm_setzero_ps();
    __m256 lanes[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *w = wr + (size_t)210 * b;
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        __m256i q[8], s16[8];
        for (int h = 0; h < 2; h++) {
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h));
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(qh + 32 * h));
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(3)), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(12)), 2);
            q[4 * h] = _mm256_or_si256(_mm256_and_si256(b1, m4), h0);
            q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(b2, m4), h1);
            q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                                           _mm256_and_si256(hb, _mm256_set1_epi8(48)));
            q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                                           _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8((char)0xC0)), 2));
        }
        // 32-element chunk c: its 16-element sub-blocks 2c (lanes 0-3) and 2c+1 (lanes 4-7) take their own scale.
        const __m256i lo8 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        const __m256i hi8 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(sc + 8))));
        for (int c = 0; c < 8; c++)
            s16[c] = _mm256_shuffle_epi8(c < 4 ? lo8 : hi8, _mm256_loadu_si256((const __m256i *)pair_masks[c % 4]));
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        const float d0 = h2f_c(w + 208);
        float ydf[4] = {0, 0, 0, 0};
        __m256i v[4];
        for (int j = 0; j < 4; j++) {
            if (j >= count) { v[j] = _mm256_setzero_si256(); continue; }
            const uint8_t *a = at[j] + (size_t)Q8K_BYTES * b;
            memcpy(&ydf[j], a, 4);
            const int8_t *y = (const int8_t *)(a + 4);
            __m256i sumi = _mm256_setzero_si256();
            for (int c = 0; c < 8; c++) {
                const __m256i p16 = _mm256_maddubs_epi16(q[c], _mm256_loadu_si256((const __m256i *)(y + 32 * c)));
                sumi = KQ_DPW(sumi, s16[c], p16);
            }
            const __m256i bsv = _mm256_loadu_si256((const __m256i *)(a + 4 + QK));
            v[j] = _mm256_sub_epi32(sumi, _mm256_slli_epi32(_mm256_madd_epi16(bsv, sc16), 5));
            if (mode != LLAVA_KQ_TILED)
                lanes[j] = _mm256_fmadd_ps(_mm256_set1_ps(ydf[j] * d0), _mm256_cvtepi32_ps(v[j]), lanes[j]);
        }
        if (mode == LLAVA_KQ_TILED) {   // acc = fma(d0 * S1, y.d, acc), S1 the block's exact sum
            const __m128i s1 = sums4(v[0], v[1], v[2], v[3]);
            acc = _mm_fmadd_ps(_mm_mul_ps(_mm_set1_ps(d0), _mm_cvtepi32_ps(s1)), _mm_loadu_ps(ydf), acc);
        }
    }
    float a4[4];
    _mm_storeu_ps(a4, acc);
    for (int j = 0; j < count; j++)
        out[j] = mode == LLAVA_KQ_TILED ? a4[j] : finish_lanes(LLAVA_KQ_Q6_K, lanes[j], _mm_setzero_ps(), 0);
}

#define KQ_COUNTS(call) \
    switch (count) { case 1: call(1); break; case 2: call(2); break; case 3: call(3); break; default: call(4); }
#define KQ_MODES(mac) \
    switch (mode) { \
    case LLAVA_KQ_VECDOT: mac(LLAVA_KQ_VECDOT) break; case LLAVA_KQ_TILED: mac(LLAVA_KQ_TILED) break; \
    case LLAVA_KQ_GEMV: mac(LLAVA_KQ_GEMV) break; default: mac(LLAVA_KQ_GEMM) break; }

__attribute__((target(KQ_TARGET))) static void KQ_NAME(row)(int type, int mode, const uint8_t *wr, int nb, int bb,
                                                            const uint8_t *const *at, int count, float *out) {
#define Q6(n) KQ_NAME(row6)(M, wr, nb, at, n, out)
#define Q4(n) KQ_NAME(row45)(LLAVA_KQ_Q4_K, M, wr, nb, bb, at, n, out)
#define Q5(n) KQ_NAME(row45)(LLAVA_KQ_Q5_K, M, wr, nb, bb, at, n, out)
#define M6(m) { enum { M = m }; KQ_COUNTS(Q6) }
#define M4(m) { enum { M = m }; KQ_COUNTS(Q4) }
#define M5(m) { enum { M = m }; KQ_COUNTS(Q5) }
    if (type == LLAVA_KQ_Q6_K) { KQ_MODES(M6) }
    else if (type == LLAVA_KQ_Q4_K) { KQ_MODES(M4) }
    else { KQ_MODES(M5) }
#undef Q6
#undef Q4
#undef Q5
#undef M6
#undef M4
#undef M5
}
#undef KQ_BODY
#undef KQ_COUNTS
#undef KQ_MODES
#undef KQ_NAME
#undef KQ_CAT
#undef KQ_CAT2
#undef KQ_TARGET
#undef KQ_SUFFIX
#undef KQ_DPW
