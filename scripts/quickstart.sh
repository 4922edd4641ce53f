#!/usr/bin/env bash
# The built-in default job: a small random Qwen2 teacher with the real Qwen tokenizer, a student
# initialised from it, then perplexity and generation with both (and a resumed generation).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/arwkv
out=${1:-out/quickstart}
tok=$(scripts/fetch_tokenizer.sh)
mkdir -p "$out"
$bin make-model --arch qwen2 --hidden 256 --layers 4 --heads 4 --kv-heads 2 --ffn 512 \
  --vocab 151936 --dtype bf16 --tokenizer "$tok" --seed 1 -o "$out/teacher"
$bin init-student --teacher "$out/teacher" --init attention -o "$out/student"
for m in teacher student; do
  echo "== $m"
  $bin perplexity -m "$out/$m" -f README.md -c 256
  $bin generate -m "$out/$m" -p "The quick brown fox" -n 16 --temp 0
done
echo "== student, prompt saved to a state file and resumed in a second process"
$bin generate -m "$out/student" -p "The quick brown fox" -n 0 --state-out "$out/state.bin"
$bin generate -m "$out/student" --state-in "$out/state.bin" -n 16 --temp 0
