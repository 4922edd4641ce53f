#!/usr/bin/env bash
# The GPU checks: builds with the CUDA backend (unless SKIP_BUILD=1 and $BUILD_DIR holds a build),
# runs the CUDA parity tests and the CUDA benchmark, and writes their output under $OUT
# (default out/cuda). Usage: scripts/cuda_check.sh [0.5b|7b ...]
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
for shape in "${@:-0.5b}"; do
  echo "== bench_cuda $shape"
  timeout 300 "$build/bench_cuda" "$shape" 2>&1 | tee "$out/bench_$shape.txt"
done
exit $rc
