#!/usr/bin/env bash
# The GPU checks: builds with the CUDA backend (unless SKIP_BUILD=1 and $BUILD_DIR holds a build),
# runs the CUDA parity tests and `arwkv bench --device cuda`, and writes their output under $OUT
# (default out/cuda). Extra arguments go to the benchmark (e.g. --batch 8 --ctx 1024).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-out/cuda}"
build="${BUILD_DIR:-build-cuda}"
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DARWKV_CUDA=ON > "$out/build.txt" 2>&1 &&
    cmake --build "$build" -j"$(nproc)" >> "$out/build.txt" 2>&1 || { tail -30 "$out/build.txt"; exit 1; }
fi
rc=0
for t in test_cuda_ops test_cuda_rwkv test_cuda_models; do
  echo "== $t"
  "$build/$t" 2>&1 | tee "$out/$t.txt" | tail -40
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
for t in bench_wkv7_cuda; do
  [ -x "$build/$t" ] && { echo "== $t"; "$build/$t" 2>&1 | tee "$out/$t.txt"; }
done
echo "== arwkv bench --device cuda $*"
timeout 400 "$build/arwkv" bench --device cuda --cache-dir "${TMPDIR:-/tmp}/arwkv-bench" "$@" 2>&1 | tee "$out/bench.txt"
exit $rc
