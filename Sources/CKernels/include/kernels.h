// Quantised dot-product kernels on CPU intrinsics — kernels only, no logic (see DESIGN.md).
//
// Each kernel is bit-for-bit the arithmetic llama.cpp's CPU backend performs on x86 (8 float lanes,
// each lane the exact integer sum of 4 consecutive products, fma-accumulated with the block scale,
// then ggml's hsum_float_8 order), so a GGUF model gives llama.cpp's numbers. The AVX2 path and the
// portable path compute the same values; the portable one is what non-x86 machines run.
#ifndef LLAVA_KERNELS_H
#define LLAVA_KERNELS_H
#include <stddef.h>
#include <stdint.h>

// Activation blocks, laid out as ggml's block_q8_0 (34 bytes) and block_q8_1 (36 bytes).
// x: n floats (n a multiple of 32); out: n/32 blocks.
void llava_quantize_q8_0(const float *x, void *out, int n);
void llava_quantize_q8_1(const float *x, void *out, int n);

// One output per weight row: y[r] = dot(row r of w, activation), rows [r0, r1).
// w: rows of ggml blocks (row_bytes each); a: the activation blocks above; n: row length.
void llava_gemv_q4_0_q8_0(const void *w, size_t row_bytes, const void *a, float *y, int r0, int r1, int n);
void llava_gemv_q4_1_q8_1(const void *w, size_t row_bytes, const void *a, float *y, int r0, int r1, int n);
void llava_gemv_q8_0_q8_0(const void *w, size_t row_bytes, const void *a, float *y, int r0, int r1, int n);

// Q4_0 and Q8_0 repacked 8 rows at a time (see grouped8.c): a faster layout for the matrix products, not ggml's order of
// sums, so it is for speed, not for llama.cpp parity. rows % 8 == 0; dst holds rows * row_bytes bytes.
void llava_repack_q4_0x8(const void *src, size_t row_bytes, void *dst, int rows, int cols);
void llava_dequantize_q4_0x8_row(const void *w, int row, int cols, float *out);
// y[t * y_stride + r] for rows [8 g0, 8 g1) and `tokens` q8_0 activation rows `act_stride` bytes apart.
void llava_gemm_q4_0x8(const void *w, const void *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                       int g0, int g1, int n);
// Q8_0 the same way (weights stored + 128, unsigned).
void llava_repack_q8_0x8(const void *src, size_t row_bytes, void *dst, int rows, int cols);
void llava_dequantize_q8_0x8_row(const void *w, int row, int cols, float *out);
void llava_gemm_q8_0x8(const void *w, const void *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                       int g0, int g1, int n);
// Q4_1 regrouped 8 rows at a time (see grouped8_q4_1.c) with llama.cpp's exact sums per row; the products run only
// where llava_cpu_has_grouped8() (AVX-512 VNNI): elsewhere keep the row layout. y and groups as for Q4_0 above;
// activations are q8_1 rows.
void llava_repack_q4_1x8(const void *src, size_t row_bytes, void *dst, int rows, int cols);
void llava_dequantize_q4_1x8_row(const void *w, int row, int cols, float *out);
void llava_gemm_q4_1x8(const void *w, const void *acts, size_t act_stride, int tokens, float *y, size_t y_stride,
                       int g0, int g1, int n);
// out[0..<n] = sum over j < count of p[j] * row j, rows of ggml block_q8_0 `row_bytes` apart (n a multiple of 32):
// the value side of attention over a q8_0 KV cache (q8_cache.c).
void llava_mad_q8_0_rows(const void *rows, size_t row_bytes, const float *p, int count, int n, float *out);
// IEEE half to float (every value exact).
float llava_half_to_float(uint16_t h);

// 1 when the AVX2+FMA kernels run (the level is avx2 or above).
int llava_kernels_simd(void);

// CPU levels (cpu_level.c): one kernel family each. The level in force is the best the CPU has, lowered by the
// environment variable LLAVA_CPU_LEVEL=portable|avx2|avxvnni|avx512 for the whole process, or by
// llava_cpu_set_thread_level for the calling thread (tests; -1 clears it). Never above what the CPU runs.
enum { LLAVA_LEVEL_PORTABLE = 0, LLAVA_LEVEL_NEON = 1, LLAVA_LEVEL_AVX2 = 2, LLAVA_LEVEL_AVXVNNI = 3,
       LLAVA_LEVEL_AVX512 = 4 };
int llava_cpu_level(void);
int llava_cpu_level_detected(void);
int llava_cpu_set_thread_level(int level);
// The calling thread's own override, -1 when it has none (so a parallel loop can hand it to its workers).
int llava_cpu_thread_level(void);
// LLAVA_CPU_LEVEL parsed: a level, -1 when unset or "auto", -2 when it names no level.
int llava_cpu_level_requested(void);
const char *llava_cpu_level_name(int level);
int llava_cpu_level_parse(const char *name);
// Whether the 8-row regrouped Q4_0 / Q8_0 / Q4_1 layouts have their fast kernels at the level in force.
int llava_cpu_has_grouped8(void);
// Whether Q4_0's regrouped layout (repacked sums) has its fast kernel at the level in force (avx2 and up).
int llava_cpu_has_grouped8_q4_0(void);
// Whether the CPU has AVX-VNNI's VEX instructions (the avxvnni level runs on AVX512-VNNI's EVEX ones without them).
int llava_cpu_has_avxvnni(void);

#endif

// f32 dot products in ggml's f16 attention orders (inputs hold f16-representable values):
// four 16-lane fma accumulators over 64-element steps, summed (0+2, 1+3, 0+1), reduced, tail in double
// (ggml_vec_dot_f16, one query) — and one 16-lane accumulator over 16-element steps (tinyBLAS, a batch).
float llava_dot_f16_vec(const float *x, const float *y, int n);
float llava_dot_f16_tiny(const float *x, const float *y, int n);
// The same two sums with x given as IEEE half bits (a K or V cache kept in f16): identical results.
float llava_dot_h16_vec(const uint16_t *x, const float *y, int n);
float llava_dot_h16_tiny(const uint16_t *x, const float *y, int n);
// out[j] = llava_dot_h16_vec(x + j * x_stride, y, n) * scale for j < count: the same sums, one call for a whole row
// of attention scores (or a head's V^T rows) instead of one per position.
void llava_dots_h16_vec(const uint16_t *x, long x_stride, const float *y, int n, int count, float scale, float *out);
// llama.cpp's CPU flash attention with an f16 K/V cache (flash_attn.c). One query row in its one-chunk kernel:
// scores[0..n) already scaled (masked keys left out), V rows of d halves `v_stride` apart; acc holds d halves of
// scratch; out gets d floats.
void llava_flash_attn_row_f16(const float *scores, int n, const uint16_t *v, long v_stride, int d,
                              uint16_t *acc, float *out);
// The same over one split-KV chunk, unnormalised: vkq gets the f16 accumulator widened (d floats), *m_out the
// running max and *s_out the running sum (-inf and 0 when n is 0).
void llava_flash_attn_partial_f16(const float *scores, int n, const uint16_t *v, long v_stride, int d,
                                  uint16_t *acc, float *vkq, float *m_out, float *s_out);
// Merges one chunk's partial into the running (vkq_all, m_all, s_all), which start at 0, -inf, 0; chunks in cell
// order. The result is vkq_all * (1 / s_all).
void llava_flash_attn_merge(const float *vkq, float m, float s, int d, float *vkq_all, float *m_all, float *s_all);
// Its tiled kernel (a ubatch of 64 tokens or more) for one head: rows query rows of d floats (q_stride apart, not
// rounded to f16) at positions pos0 ..< pos0 + rows, each seeing cells 0 ... its position; K and V rows of d halves
// kv_stride apart, `cells` of them held. out: rows of d floats, out_stride apart.
void llava_flash_attn_tiled_f16(const float *q, long q_stride, int rows, int pos0, const uint16_t *k,
                                const uint16_t *v, long kv_stride, int cells, int d, float scale,
                                float *out, long out_stride);
// ggml_vec_soft_max_f32 as the level's build of llama.cpp computes it: y = ggml_v_expf(x - max), returns the sum.
double llava_vec_soft_max_ggml(const float *x, float *y, int n, float max);
// Float to IEEE half, rounding to nearest even.
void llava_f32_to_f16(const float *src, uint16_t *dst, long n);
// x = the float nearest to x in IEEE half (round to nearest even), in place.
void llava_round_to_half(float *x, long n);
// Float to bfloat16, rounding to nearest even (NaN stays NaN); AVX512-BF16's vcvtneps2bf16 when present.
void llava_f32_to_bf16(const float *src, uint16_t *dst, long n);
// Whether this CPU multiplies bfloat16 pairs natively (AVX512-BF16).
int llava_cpu_has_bf16(void);

// k-quants (kquants.c): activations as ggml's block_q8_K (292 bytes per 256: float d, int8 qs[256], int16 bsums[16]),
// quantised as quantize_row_q8_K_ref does; products of Q4_K / Q5_K / Q6_K weight rows (type: ggml's type id) in one
// of llama.cpp's modes (mode: which of its kernels computes that product, chosen by the caller as llama.cpp chooses
// by the number of activation rows; each has its own float order, see kquants.c). y as for llava_gemm_q.
enum { LLAVA_KQ_Q4_K = 12, LLAVA_KQ_Q5_K = 13, LLAVA_KQ_Q6_K = 14 };
enum { LLAVA_KQ_VECDOT = 0, LLAVA_KQ_TILED = 1, LLAVA_KQ_GEMV = 2, LLAVA_KQ_GEMM = 3 };
void llava_quantize_q8_K(const float *x, void *out, int n);
void llava_gemm_k(int type, int mode, const void *w, size_t row_bytes, const void *acts, size_t act_stride,
                  int tokens, float *y, size_t y_stride, int r0, int r1, int n);

// Many activation rows at once (prefill), type 0 Q4_0, 1 Q4_1, 2 Q8_0, 3 Q5_0, 4 Q5_1 (q8_1 activations for the
// types with a minimum, q8_0 for the others), and 5: Q4_0 summed as llama.cpp's repacked q4_0_8x8 kernels sum it
// (one fma per block of the exact 32-product sum; what it computes for a Q4_0 weight with rows % 8 == 0):
// acts holds `tokens` quantised rows `act_stride` bytes apart;
// y[t * y_stride + r] for rows [r0, r1). Weight rows are taken 16 at a time so they stay in cache
// across tokens; every output is the same dot product as the single-row kernels compute.
void llava_gemm_q(int type, const void *w, size_t row_bytes, const void *acts, size_t act_stride, int tokens,
                  float *y, size_t y_stride, int r0, int r1, int n);

// ggml's soft-max of one row (already scaled, -inf where masked), in place: ggml_v_expf on 16-wide
// chunks, chunk sums reduced and accumulated in double, then y *= (float)(1/sum).
void llava_softmax_ggml(float *row, int n);
// ggml's SwiGLU in place: x = x / (1 + exp(-x)) * g, 16 wide with ggml_v_expf, libm expf for the tail.
void llava_swiglu_ggml(float *x, const float *g, int n);

// Soft-max of `rows` rows of length n in place (ggml's expf, sums in double) — for any attention.
void llava_softmax_rows(float *x, int rows, int n);
// x * sigmoid(1.702 x) in place (CLIP's quick_gelu), with ggml's expf.
void llava_quick_gelu(float *x, long n);

// IEEE half to float, n values (exact; F16C when the CPU has it).
void llava_f16_to_f32(const void *src, float *dst, long n);
