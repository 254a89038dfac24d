#!/usr/bin/env bash
# The test command: set up, build, run every test target. Release mode: the model tests run real
# (if small) models, which debug builds make needlessly slow.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
./scripts/fetch-test-models.sh
swift build -c release --build-tests
swift test -c release --skip-build 2>&1 | tee .build/test-output.txt
# The C kernels built for arm64 and run under qemu-user: the portable bits there too.
./scripts/test-arm64.sh
