// libFuzzer's driver, entered from Swift's main (Fuzz/LlavaFuzz): the harness links libFuzzer without its main
// (libclang_rt.fuzzer_no_main), because SwiftPM gives every executable target a Swift entry point.
#ifndef LLAVA_FUZZ_DRIVER_H
#define LLAVA_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

typedef int (*llava_fuzz_callback)(const uint8_t *data, size_t size);

/// Runs libFuzzer with the command line (its flags, corpus folders) over `callback`; returns its exit status.
int llava_fuzz_run(int *argc, char ***argv, llava_fuzz_callback callback);

#endif
