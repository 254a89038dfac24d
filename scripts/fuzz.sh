#!/usr/bin/env bash
# Fuzz every parser that reads a stranger's bytes with libFuzzer + AddressSanitizer (Fuzz/LlavaFuzz).
#
#   scripts/fuzz.sh [--seconds N | --runs N] [target ...]
#
# Builds the harness into .build-address (beside the AddressSanitizer tests; every module instrumented), then runs
# each target (by default every one with a seed corpus, Fuzz/corpus/<target>; the harness's `targets` names them)
# over that corpus, for N seconds (default 30) or N runs.
# New inputs go to a scratch copy of the corpus, not the repository. A crash, leak or sanitizer report stops the run
# with the input saved as .build-address/artifacts/<target>/crash-*; make it a regression test, then fix it.
# Prints one line per target: executions, rate, coverage. Exit status: 0 when every target ran clean.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30
runs=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        -h|--help) sed -n 2,11p "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [ ${#targets[@]} = 0 ]; then
    for seeds in Fuzz/corpus/*/; do targets+=("$(basename "$seeds")"); done
fi

# The harness lives in the AddressSanitizer build (scripts/sanitize.sh address): built there, or brought up to date.
build=.build-address
scripts/sanitize.sh address --build-only
bin="$build/release/LlavaFuzz"

status=0
for t in "${targets[@]}"; do
    seeds="Fuzz/corpus/$t"
    [ -d "$seeds" ] || { echo "$t: no seed corpus at $seeds"; exit 2; }
    work="$build/corpus/$t"
    art="$build/artifacts/$t"
    mkdir -p "$work" "$art"
    cp -n "$seeds"/* "$work"/ 2>/dev/null || true
    limit=(-max_total_time="$seconds")
    [ -n "$runs" ] && limit=(-runs="$runs")
    log="$build/$t.log"
    # rss_limit: a leak grows RSS without bound; malloc_limit: one allocation above 1 GiB is a defect (the parsers
    # must refuse sizes before allocating them). Inputs up to 64 KiB: headers and small files, where the bugs are.
    if LLAVA_FUZZ_TARGET="$t" ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
        LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0" \
        "$bin" "${limit[@]}" -max_len=65536 -rss_limit_mb=3072 -malloc_limit_mb=1024 -timeout=20 \
        -artifact_prefix="$art/" -print_final_stats=1 "$work" "$seeds" > "$log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo "?")
        echo "$t: clean, $execs executions ($rate/s), coverage $cov"
    else
        status=1
        echo "$t: FAILED — see $log and $art"
        grep -m 5 -E 'ERROR|SUMMARY|Fatal error|crash-|leak-|oom-|timeout-' "$log" || tail -n 20 "$log"
    fi
done
exit $status
