// Internal to CKernels: ggml's 8-lane (AVX2 build) orders, see ggml8.c. x86 only.
#ifndef LLAVA_GGML8_H
#define LLAVA_GGML8_H
#include <stdint.h>
float llava_g8_dot_vec_f16(const float *x, const float *y, int n);
float llava_g8_dot_vec_h16(const uint16_t *x, const float *y, int n);
float llava_g8_dot_tiny_f16(const float *x, const float *y, int n);
float llava_g8_dot_tiny_h16(const uint16_t *x, const float *y, int n);
// ggml_vec_soft_max_f32 (AVX2 form): y = exp(x - m), returns the sum (double over 8-lane tree sums).
double llava_g8_soft_max_sum(const float *x, float *y, int n, float m);
void llava_g8_softmax(float *row, int n);
void llava_g8_swiglu(float *x, const float *g, int n);
#endif
