// Which kernel family runs: the CPU's best level, lowered by LLAVA_CPU_LEVEL (process) or by
// llava_cpu_set_thread_level (one thread, for tests), never raised above what the CPU has.
// Each level is one llama.cpp x86 build: avx512 = -march with AVX-512 F/BW/DQ/VL/VNNI (16-lane f32 orders),
// avxvnni and avx2 = AVX2+FMA+F16C builds (8-lane orders; AVX-VNNI only changes how exact integer sums are made).
#include "kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const level_names[] = {"portable", "neon", "avx2", "avxvnni", "avx512"};

const char *llava_cpu_level_name(int level) {
    return level >= 0 && level <= LLAVA_LEVEL_AVX512 ? level_names[level] : "unknown";
}

int llava_cpu_level_parse(const char *name) {
    if (name == NULL) return -1;
    for (int l = 0; l <= LLAVA_LEVEL_AVX512; l++) if (strcmp(name, level_names[l]) == 0) return l;
    if (strcmp(name, "avx512vnni") == 0) return LLAVA_LEVEL_AVX512;
    return -1;
}

static int detected = -1;
int llava_cpu_level_detected(void) {
    if (detected >= 0) return detected;
    int level = LLAVA_LEVEL_PORTABLE;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        level = LLAVA_LEVEL_AVX2;
        if (__builtin_cpu_supports("avxvnni")) level = LLAVA_LEVEL_AVXVNNI;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512vnni"))
            level = LLAVA_LEVEL_AVX512;
    }
#endif
    // arm64 reports portable until NEON kernels exist: a level is claimed only where its kernels run.
    detected = level;
    return level;
}

// `level` as far as this CPU runs it: at most the best, and NEON only on arm64.
static int clamped(int level) {
    const int best = llava_cpu_level_detected();
    if (level == LLAVA_LEVEL_NEON && best != LLAVA_LEVEL_NEON) return LLAVA_LEVEL_PORTABLE;
    return level > best ? best : level;
}

static int process_level = -1;
int llava_cpu_level_requested(void) {
    const char *env = getenv("LLAVA_CPU_LEVEL");
    if (env == NULL || *env == 0 || strcmp(env, "auto") == 0) return -1;
    const int level = llava_cpu_level_parse(env);
    return level < 0 ? -2 : level;
}

static int level_of_process(void) {
    if (process_level >= 0) return process_level;
    const int asked = llava_cpu_level_requested();
    // The CLI refuses a bad value with a clear error before any kernel runs; a library caller gets the best
    // level it can have and one line on stderr.
    if (asked == -2)
        fprintf(stderr, "LLAVA_CPU_LEVEL=%s is not a level (portable, avx2, avxvnni, avx512)\n", getenv("LLAVA_CPU_LEVEL"));
    process_level = asked >= 0 ? clamped(asked) : llava_cpu_level_detected();
    return process_level;
}

static _Thread_local int thread_level = -1;
int llava_cpu_set_thread_level(int level) {
    if (level < 0) { thread_level = -1; return level_of_process(); }
    thread_level = clamped(level);
    return thread_level;
}

int llava_cpu_thread_level(void) { return thread_level; }

int llava_cpu_has_avxvnni(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avxvnni");
#else
    return 0;
#endif
}

int llava_cpu_has_grouped8(void) { return llava_cpu_level() == LLAVA_LEVEL_AVX512; }

// Q4_0 (in llama.cpp's repacked sums) has a regrouped kernel at every x86 SIMD level: AVX-512 VNNI's and AVX2's.
int llava_cpu_has_grouped8_q4_0(void) { return llava_cpu_level() >= LLAVA_LEVEL_AVX2; }

int llava_cpu_level(void) {
    return thread_level >= 0 ? thread_level : level_of_process();
}
