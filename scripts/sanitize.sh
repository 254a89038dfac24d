#!/usr/bin/env bash
# The test suite under a sanitizer: AddressSanitizer (heap and stack overflows, use after free, leaks in C) or
# ThreadSanitizer (data races between the thread pool, the server's slots and the async code).
#
#   scripts/sanitize.sh address|thread [--quick | --build-only]
#
# Builds every module and test with -sanitize=<kind> (Swift) and -fsanitize=<kind> (the C kernels and codecs) into
# .build-<kind>, its own build folder, then runs the tests there. Release mode: the sanitizers work on optimised
# code, and the model tests would take hours unoptimised. The address build also carries libFuzzer's coverage
# and the fuzz harness (LLAVA_FUZZ=1, Fuzz/LlavaFuzz), so scripts/fuzz.sh runs from the same folder without a
# second build of everything.
#   address  every test scripts/test.sh runs but MEMORY_BOUND.
#   thread   every test but MEMORY_BOUND, TIMED_UNDER_TSAN and the slow model ones (5-15x slower under TSan, and
#            single-threaded math where TSan finds nothing the other tests miss): SLOW_UNDER_TSAN.
#   --quick  (CI) the tests that read strangers' bytes and run the server, the curation pipeline and the judge:
#            QUICK. The full runs are for a person with time; their figures are in the README.
#   --build-only  build and stop (scripts/fuzz.sh).
# Exit status: the test run's (a sanitizer report fails the test that triggered it: halt_on_error).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/sanitize.sh address|thread [--quick | --build-only]"
kind="${1:-}"
case "$kind" in
    address|thread) ;;
    *) echo "$usage"; exit 2 ;;
esac
quick=0
build_only=0
case "${2:-}" in
    --quick) quick=1 ;;
    --build-only) build_only=1 ;;
    "") ;;
    *) echo "$usage"; exit 2 ;;
esac

# Model tests that run real (if small) models for minutes: skipped under TSan.
SLOW_UNDER_TSAN=''
SLOW_UNDER_TSAN+='SmolLlava|SmolLLaVA|LlamaCppConversionTests|LlamaCppParityTests|FlashAttentionParityTests'
SLOW_UNDER_TSAN+='|TrainingParity|TrainingRunTests|TrainCLITests|DINOv2OnnxParityTests|QuantProductParityTests'
SLOW_UNDER_TSAN+='|RepackTests|BF16VisionTests|CPULevelCLITests|AccuracyTests'
# The CLI's peak-RSS budget, which counts a sanitizer's shadow memory too: skipped under both (scripts/test.sh runs it).
MEMORY_BOUND='ggufChatGivesLlamaCppsTokensWithinTheMemoryBudget'
# A slot-release bound in seconds that TSan's 5-15x slowdown breaks: skipped under TSan.
TIMED_UNDER_TSAN='aClientGoneBeforeTheResponseHeadFreesItsSlot'
# The suites that parse input from outside and serve it.
QUICK=''
QUICK+='SafetensorsTests|GGUFTests|GGUFTokenizerTests|TokenizerParityTests|ByteLevelJSONTests|ImageDecoderTests'
QUICK+='|AlphaTests|JSONLinesTests|ReplyParserTests|ScoreParserTests|ChatClientTests|ChatTemplateTests'
QUICK+='|PipelineTests|JudgeTests|ServerTests|SpellingTests|WeightNamesTests|OpsTests'

build=".build-$kind"
flags=(-c release --build-path "$build")
start=$(date +%s)
if [ "$kind" = address ]; then
    # libFuzzer's coverage (what -sanitize=fuzzer compiles in) everywhere; libFuzzer itself is linked into
    # LlavaFuzz alone (Package.swift). The ASan runtime answers the coverage hooks in the test runner.
    export LLAVA_FUZZ=1
    swiftc_real="$(readlink -f "$(command -v swiftc)")"
    clang_lib="$(dirname "$swiftc_real")/../lib/clang"
    runtime_name="libclang_rt.fuzzer_no_main-$(uname -m).a"
    LLAVA_FUZZ_RUNTIME="$(ls "$clang_lib"/*/lib/linux/"$runtime_name" 2>/dev/null | head -n 1)"
    [ -n "$LLAVA_FUZZ_RUNTIME" ] || { echo "no libclang_rt.fuzzer_no_main in the Swift toolchain"; exit 2; }
    export LLAVA_FUZZ_RUNTIME
    sanitize=(-Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp
              -Xcc -fsanitize=fuzzer-no-link,address)
else
    sanitize=(-Xswiftc -sanitize=thread -Xcc -fsanitize=thread)
fi
swift build "${flags[@]}" --build-tests "${sanitize[@]}" 2>&1 | grep -E 'error:|Compiling|Build' | tail -n 3
echo "build: $(( $(date +%s) - start )) s"
[ $build_only = 1 ] && exit 0

select=()
if [ $quick = 1 ]; then select=(--filter "$QUICK"); fi
skip="$MEMORY_BOUND"
if [ "$kind" = thread ]; then skip+="|$TIMED_UNDER_TSAN"; fi
if [ "$kind" = thread ] && [ $quick = 0 ]; then skip+="|$SLOW_UNDER_TSAN"; fi
select+=(--skip "$skip")
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
TSAN_OPTIONS+=":suppressions=$PWD/scripts/tsan-suppressions.txt"
start=$(date +%s)
set +e
swift test "${flags[@]}" --skip-build "${select[@]}" 2>&1 | tee "$build/test-output.txt" | \
    grep -E '^(✘|✔ Test run|✘ Test run)|ERROR: (Address|Thread)Sanitizer|WARNING: ThreadSanitizer|SUMMARY:'
status=${PIPESTATUS[0]}
set -e
echo "tests: $(( $(date +%s) - start )) s, exit $status (log: $build/test-output.txt)"
if grep -q -E 'ERROR: AddressSanitizer|WARNING: ThreadSanitizer' "$build/test-output.txt"; then
    echo "sanitizer reports above"; exit 1
fi
exit "$status"
