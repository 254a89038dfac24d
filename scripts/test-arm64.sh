#!/usr/bin/env bash
# The C kernels on arm64, under emulation (correctness, not speed): Tests/CKernelsHarness is built for this machine
# and, with Debian's gcc-aarch64-linux-gnu (clang with its sysroot where that works), for arm64 and run by qemu-user.
# Every hash line must be the same on both (portable bits everywhere) and, on x86, the quantised products' lines the
# same at every level this CPU runs. Installs the cross compiler and qemu when missing (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in gcc-aarch64-linux-gnu qemu-user; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
src=(Sources/CKernels/*.c Tests/CKernelsHarness/kernels_harness.c)
inc=(-ISources/CKernels/include -ISources/CKernels)
# The compiler SwiftPM uses for C (clang), with its default contraction setting: the sources say what is fused.
clang -O2 "${inc[@]}" "${src[@]}" -lm -o "$out/native"
# For arm64 the same clang when it finds the cross sysroot, else GCC told not to fuse anything on its own
# (GCC ignores the sources' FP_CONTRACT pragma and fuses by default).
if clang --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -O2 "${inc[@]}" "${src[@]}" -lm -static \
        -fuse-ld=lld -o "$out/arm64" 2>/dev/null || \
   clang --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -O2 "${inc[@]}" "${src[@]}" -lm -static \
        -o "$out/arm64" 2>/dev/null; then
    compiler="clang"
else
    aarch64-linux-gnu-gcc -O2 -ffp-contract=off "${inc[@]}" "${src[@]}" -lm -static -o "$out/arm64"
    compiler="gcc -ffp-contract=off"
fi
"$out/native" portable > "$out/portable.txt"
qemu-aarch64 "$out/arm64" > "$out/arm64.txt"
fail=0
if ! diff <(grep -v '^level' "$out/portable.txt") <(grep -v '^level' "$out/arm64.txt"); then
    echo "arm64 ($compiler, qemu) differs from the portable kernels on x86"; fail=1
fi
for level in avx2 avxvnni avx512; do
    got=$("$out/native" "$level" | tail -1)
    [ "$got" = "level $level" ] || continue   # the CPU does not run it
    if ! diff <(grep '^exact' "$out/portable.txt") <("$out/native" "$level" | grep '^exact'); then
        echo "the $level kernels differ from the portable ones"; fail=1
    fi
done
lines=$(grep -c . "$out/arm64.txt")
[ "$fail" = 0 ] && echo "C kernels: arm64 ($compiler, under qemu) gives the portable bits on all $((lines - 1)) hashes;" \
    "x86 levels give them on every exact product"
exit "$fail"
