// Runs every CKernels product and numeric kernel on fixed pseudo-random inputs and prints one line per kernel: its
// name and an FNV-1a hash of the output bits. scripts/test-arm64.sh builds it for this machine and, with Debian's
// gcc-aarch64-linux-gnu, for arm64 (run under qemu-user): the portable kernels must give the same bits everywhere
// (no fused multiply-add the source does not write, no lane order that depends on the CPU), and on x86 every level
// must give the portable bits for the products whose sums are exact in each lane (the quantised products); the
// f32 orders (soft-max, SwiGLU, f16 dots) are one llama.cpp build each, so they are hashed per level.
// Usage: kernels_harness [level]   (portable, avx2, avxvnni, avx512; default: the CPU's best)
#include "kernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint32_t next32(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return (uint32_t)(state >> 16);
}
static float uniform(void) { return (float)(next32() % 20001) / 10000.0f - 1.0f; }

static uint64_t fnv(const void *p, size_t n, uint64_t h) {
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001B3ull; }
    return h;
}

static void put_half(uint8_t *p, float v) { uint16_t h; llava_f32_to_f16(&v, &h, 1); memcpy(p, &h, 2); }

enum { ROWS = 12, COLS = 512, TOKENS = 9 };

// Random blocks of a 32-element type: any nibbles / bytes, sane f16 scales (and minimum where there is one).
static void random_small(int bytes, int with_min, uint8_t *w) {
    for (int i = 0; i < ROWS * (COLS / 32); i++) {
        uint8_t *b = w + (size_t)i * bytes;
        for (int j = 0; j < bytes; j++) b[j] = (uint8_t)next32();
        put_half(b, 0.002f + 0.018f * (uniform() + 1) / 2);
        if (with_min) put_half(b + 2, 0.05f * uniform());
    }
}

static void random_k(int type, int bytes, uint8_t *w) {
    for (int i = 0; i < ROWS * (COLS / 256); i++) {
        uint8_t *b = w + (size_t)i * bytes;
        for (int j = 0; j < bytes; j++) b[j] = (uint8_t)next32();
        if (type == LLAVA_KQ_Q6_K) put_half(b + 208, 0.002f + 0.018f * (uniform() + 1) / 2);
        else {
            put_half(b, 0.002f + 0.018f * (uniform() + 1) / 2);
            put_half(b + 2, 0.001f + 0.009f * (uniform() + 1) / 2);
        }
    }
}

int main(int argc, char **argv) {
    if (argc > 1) {
        const int level = llava_cpu_level_parse(argv[1]);
        if (level < 0) { fprintf(stderr, "unknown level %s\n", argv[1]); return 2; }
        llava_cpu_set_thread_level(level);
    }
    static float x[TOKENS * COLS], y[TOKENS * ROWS];
    for (int i = 0; i < TOKENS * COLS; i++) x[i] = uniform();
    for (int i = 0; i < COLS; i++) x[2 * COLS + i] = 0;   // an all-zero activation row
    static uint8_t w[ROWS * (COLS / 32) * 34], acts[TOKENS * (COLS / 32) * 36];

    // Q4_0, Q4_1, Q8_0, Q5_0, Q5_1 and Q4_0 in repacked sums (type 5): decode rows and prefill tiles.
    const int small_bytes[6] = {18, 20, 34, 22, 24, 18}, with_min[6] = {0, 1, 0, 0, 1, 0};
    const char *small_names[6] = {"q4_0", "q4_1", "q8_0", "q5_0", "q5_1", "q4_0_repacked"};
    for (int type = 0; type < 6; type++) {
        random_small(small_bytes[type], with_min[type], w);
        const int abytes = with_min[type] ? 36 : 34;
        for (int t = 0; t < TOKENS; t++) {
            if (with_min[type]) llava_quantize_q8_1(x + t * COLS, acts + (size_t)t * (COLS / 32) * abytes, COLS);
            else llava_quantize_q8_0(x + t * COLS, acts + (size_t)t * (COLS / 32) * abytes, COLS);
        }
        uint64_t h = fnv(acts, (size_t)TOKENS * (COLS / 32) * abytes, 0xcbf29ce484222325ull);
        for (int tokens = 1; tokens <= TOKENS; tokens += 4) {
            llava_gemm_q(type, w, (size_t)(COLS / 32) * small_bytes[type], acts, (size_t)(COLS / 32) * abytes, tokens,
                         y, ROWS, 0, ROWS, COLS);
            h = fnv(y, sizeof(float) * (size_t)tokens * ROWS, h);
        }
        printf("exact %s %016llx\n", small_names[type], (unsigned long long)h);
    }

    // Q4_K, Q5_K, Q6_K in each of llama.cpp's modes.
    static uint8_t kw[ROWS * (COLS / 256) * 210], kacts[TOKENS * (COLS / 256) * 292];
    const int ktypes[3] = {LLAVA_KQ_Q4_K, LLAVA_KQ_Q5_K, LLAVA_KQ_Q6_K}, kbytes[3] = {144, 176, 210};
    for (int t = 0; t < TOKENS; t++) llava_quantize_q8_K(x + t * COLS, kacts + (size_t)t * (COLS / 256) * 292, COLS);
    printf("exact q8_K %016llx\n", (unsigned long long)fnv(kacts, sizeof kacts, 0xcbf29ce484222325ull));
    for (int k = 0; k < 3; k++) {
        random_k(ktypes[k], kbytes[k], kw);
        uint64_t h = 0xcbf29ce484222325ull;
        for (int mode = 0; mode < 4; mode++)
            for (int tokens = 1; tokens <= TOKENS; tokens += 4) {
                llava_gemm_k(ktypes[k], mode, kw, (size_t)(COLS / 256) * kbytes[k], kacts, (size_t)(COLS / 256) * 292,
                             tokens, y, ROWS, 0, ROWS, COLS);
                h = fnv(y, sizeof(float) * (size_t)tokens * ROWS, h);
            }
        printf("exact q%d_K %016llx\n", k + 4, (unsigned long long)h);
    }

    // The f32 orders: soft-max (with masked tail), SwiGLU, f16 dot products.
    static float row[300], g[300];
    for (int i = 0; i < 300; i++) { row[i] = 8 * uniform(); g[i] = uniform(); }
    for (int i = 280; i < 300; i++) row[i] = -INFINITY;
    llava_softmax_ggml(row, 300);
    printf("order softmax %016llx\n", (unsigned long long)fnv(row, sizeof row, 0xcbf29ce484222325ull));
    for (int i = 0; i < 300; i++) row[i] = 6 * uniform();
    llava_swiglu_ggml(row, g, 300);
    printf("order swiglu %016llx\n", (unsigned long long)fnv(row, sizeof row, 0xcbf29ce484222325ull));
    static uint16_t kh[256];
    for (int i = 0; i < 256; i++) { float v = uniform(); llava_f32_to_f16(&v, &kh[i], 1); }
    float d[3] = {llava_dot_h16_vec(kh, x, 200), llava_dot_h16_tiny(kh, x, 256), llava_dot_h16_vec(kh, x, 256)};
    printf("order f16dots %016llx\n", (unsigned long long)fnv(d, sizeof d, 0xcbf29ce484222325ull));
    // Flash attention (flash_attn.c): the one-chunk row and the split-KV merge are per element (the same at every
    // level); the tiled kernel's weights use the level's ggml_v_expf. 70 query rows at positions 10..79 over 80
    // cells of d = 64: two KV tiles, the second partly masked and partly past the cells held.
    enum { FA_D = 64, FA_CELLS = 80, FA_ROWS = 70 };
    static uint16_t fk[FA_CELLS * FA_D], fv[FA_CELLS * FA_D], facc[FA_D];
    static float fq[FA_ROWS * FA_D], fout[FA_ROWS * FA_D], scores[FA_CELLS], part[FA_D], merged[FA_D];
    for (int i = 0; i < FA_CELLS * FA_D; i++) {
        float a = 2 * uniform(), b = uniform();
        llava_f32_to_f16(&a, &fk[i], 1);
        llava_f32_to_f16(&b, &fv[i], 1);
    }
    for (int i = 0; i < FA_ROWS * FA_D; i++) fq[i] = uniform();
    for (int j = 0; j < FA_CELLS; j++) scores[j] = 3 * uniform();
    llava_flash_attn_row_f16(scores, FA_CELLS, fv, FA_D, FA_D, facc, fout);
    float m_all = -INFINITY, s_all = 0;
    for (int lo = 0; lo < FA_CELLS; lo += 48) {
        const int n = lo + 48 < FA_CELLS ? 48 : FA_CELLS - lo;
        float m, s;
        llava_flash_attn_partial_f16(scores + lo, n, fv + lo * FA_D, FA_D, FA_D, facc, part, &m, &s);
        llava_flash_attn_merge(part, m, s, FA_D, merged, &m_all, &s_all);
    }
    uint64_t h = fnv(fout, FA_D * sizeof(float), 0xcbf29ce484222325ull);
    h = fnv(merged, sizeof merged, fnv(&s_all, sizeof s_all, h));
    printf("exact flash_row_split %016llx\n", (unsigned long long)h);
    llava_flash_attn_tiled_f16(fq, FA_D, FA_ROWS, 10, fk, fv, FA_D, FA_CELLS, FA_D, 0.125f, fout, FA_D);
    printf("order flash_tiled %016llx\n", (unsigned long long)fnv(fout, sizeof fout, 0xcbf29ce484222325ull));
    printf("level %s\n", llava_cpu_level_name(llava_cpu_level()));
    return 0;
}
