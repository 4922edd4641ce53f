#!/usr/bin/env bash
# Generation end to end with the real Qwen tokenizer: greedy output is deterministic, and a run
# split into two processes through --state-out/--state-in gives the same tokens as one run, for
# the student (RNN state) and the teacher (KV cache); a state for another model is refused.
set -u
bin="$1"
. "$(dirname "$0")/lib/common.sh"
tok=$(scripts/fetch_tokenizer.sh) || { bad "no Qwen tokenizer (scripts/fetch_tokenizer.sh)"; finish; exit 1; }
"$bin" make-model --arch qwen2 --hidden 128 --layers 2 --heads 2 --kv-heads 1 --ffn 128 --vocab 151936 \
  --dtype bf16 --tokenizer "$tok" --seed 5 -o "$tmp/t" 2>/dev/null
"$bin" init-student --teacher "$tmp/t" --init attention -o "$tmp/s" 2>/dev/null
for m in s t; do
  "$bin" generate -m "$tmp/$m" -p "Hello, world" -n 12 --temp 0 >"$tmp/one.$m" 2>"$tmp/err"
  check "$m: generate runs" test -s $tmp/one.$m
  "$bin" generate -m "$tmp/$m" -p "Hello, world" -n 12 --temp 0 >"$tmp/again.$m" 2>/dev/null
  check "$m: greedy is deterministic" cmp -s $tmp/one.$m $tmp/again.$m
  "$bin" generate -m "$tmp/$m" -p "Hello, world" -n 0 --state-out "$tmp/state.$m" >/dev/null 2>&1
  check "$m: state file written" test -s $tmp/state.$m
  "$bin" generate -m "$tmp/$m" --state-in "$tmp/state.$m" -n 12 --temp 0 >"$tmp/two.$m" 2>"$tmp/err"
  check "$m: split run equals one run" cmp -s $tmp/one.$m $tmp/two.$m
  expect_ok "$m: sampling runs" "$bin" generate -m "$tmp/$m" -p "Hello" -n 4 --temp 0.8 --top-p 0.9 --top-k 40 --seed 3
done
expect_err "state of another model refused" "another shape" "$bin" generate -m "$tmp/t" --state-in "$tmp/state.s" -n 4
expect_err "bad --top-p refused" "top-p" "$bin" generate -m "$tmp/s" -p "x" --top-p 2
expect_err "unknown --device refused" "expected cpu, cuda or cuda:N" "$bin" generate -m "$tmp/s" -p "x" --device tpu
expect_err "bad cuda index refused" "expected cpu, cuda or cuda:N" "$bin" perplexity -m "$tmp/s" --ids /dev/null --device cuda:x
expect_ok "--device cpu is the default path" "$bin" generate -m "$tmp/s" -p "Hello" -n 2 --temp 0 --device cpu
finish
