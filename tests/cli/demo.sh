#!/usr/bin/env bash
# The README's main job in its quick mode (two steps per stage): corpus, init-student, the four
# stages each loading the previous output, the per-stage table, generations and the loss plot.
set -u
bin="$1"
. "$(dirname "$0")/lib/common.sh"
ARWKV_BIN="$bin" python3 demo/run_demo.py "$tmp/demo" --quick >"$tmp/out" 2>"$tmp/err" || bad "demo failed: $(tail -5 "$tmp/err")"
for row in "teacher (Qwen2, attention)" "student after init" "student after stage1" "student after stage2" \
           "student after sft" "student after dpo"; do
  check "table row: $row" grep -qF "| $row |" "$tmp/out"
done
check "perplexity ratio printed" grep -q "student/teacher held-out perplexity after stage 2: [0-9.]*$" "$tmp/out"
check "loss plot written" grep -q "<path d=\"M" "$tmp/demo/losses.svg"
for stage in stage1 stage2 sft dpo; do
  expect_ok "$stage output is a model directory" "$bin" perplexity -m "$tmp/demo/$stage" -f "$tmp/demo/heldout_sample.txt" -c 64
done
finish
