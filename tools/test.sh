#!/usr/bin/env bash
# All tests: install what is missing, build, run unit + scenario-level tests with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
