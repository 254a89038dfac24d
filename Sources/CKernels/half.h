// IEEE half <-> float conversions shared by the C kernels (exact widening; narrowing rounds to nearest even, as
// F16C's vcvtps2ph with rounding mode 0 and ggml_cpu_fp32_to_fp16 do).
#ifndef LLAVA_HALF_H
#define LLAVA_HALF_H
#include <stdint.h>
#include <string.h>

static inline float fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) { bits = sign; float f; memcpy(&f, &bits, 4); return f; }
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    bits = exp == 31 ? (sign | 0x7f800000u | (mant << 13)) : (sign | ((exp + 112) << 23) | (mant << 13));
    float f; memcpy(&f, &bits, 4); return f;
}

static inline uint16_t fp32_to_fp16(float f) {   // round to nearest even
    uint32_t x; memcpy(&x, &f, 4);
    uint16_t sign = (x >> 16) & 0x8000;
    int exp = (x >> 23) & 0xff;
    uint32_t mant = x & 0x7fffff;
    if (exp == 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
    int e = exp - 127 + 15;
    if (e >= 31) return sign | 0x7c00;
    if (e <= 0) {
        if (e < -10) return sign;
        mant |= 0x800000;
        uint32_t shift = 14 - e, half = mant >> shift, rem = mant & ((1u << shift) - 1), hw = 1u << (shift - 1);
        if (rem > hw || (rem == hw && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

#endif
