#!/usr/bin/env bash
# The test command: set up, build, run every test target.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/fetch-test-models.sh
swift build --build-tests
swift test --skip-build 2>&1 | tee .build/test-output.txt
