// Forwards to LLVMFuzzerRunDriver, libFuzzer's entry for programs with their own main (LLVM 13 and later).
#include "fuzz_driver.h"

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int llava_fuzz_run(int *argc, char ***argv, llava_fuzz_callback callback) {
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
