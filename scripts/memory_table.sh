#!/usr/bin/env bash
# Peak resident memory of scoring 1k, 8k and 32k tokens in one window, teacher vs student, for
# a small model (D 256, L 4, V 4096): the teacher's KV cache grows with the context, the
# student's RNN state does not. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/arwkv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$bin make-model --arch qwen2 --hidden 256 --layers 4 --heads 4 --kv-heads 2 --ffn 512 --vocab 4096 --dtype bf16 --seed 1 -o "$tmp/teacher" 2>/dev/null
$bin init-student --teacher "$tmp/teacher" -o "$tmp/student" 2>/dev/null
echo "| tokens | teacher peak RSS (MiB) | student peak RSS (MiB) |"
echo "|---:|---:|---:|"
for n in 1024 8192 32768; do
  python3 -c "import random; random.seed($n); print(' '.join(str(random.randrange(4096)) for _ in range($n)))" >"$tmp/ids"
  row="| $n"
  for m in teacher student; do
    /usr/bin/time -f "%M" -o "$tmp/rss" $bin perplexity -m "$tmp/$m" --ids "$tmp/ids" -c $n >/dev/null 2>&1
    row="$row | $(( $(cat "$tmp/rss") / 1024 ))"
  done
  echo "$row |"
done
