#!/usr/bin/env bash
# Reproduces demo/teacher: the Qwen vocabulary cut to its first 4000 merges, a random Qwen2
# (D 256, L 4, 4 heads / 2 KV heads, F 768), next-token training on the demo corpus, and the
# result stored with bf16 matrices.
# usage: demo/train_teacher.sh [WORK_DIR]   (writes WORK_DIR/teacher; about 30 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-out/teacher-train}
bin=build/arwkv
mkdir -p "$work"
python3 scripts/make_small_tokenizer.py "$(scripts/fetch_tokenizer.sh)" "$work/tokenizer" --merges 4000
[ -f "$work/data/dpo.jsonl" ] || python3 demo/make_corpus.py "$work/data"
$bin make-model --arch qwen2 --hidden 256 --layers 4 --heads 4 --kv-heads 2 --ffn 768 --vocab 4288 \
  --dtype f32 --tokenizer "$work/tokenizer" --seed 1 -o "$work/init"
[ -f "$work/train.bin" ] || $bin prepare-data -m "$work/init" -i "$work/data/train.txt" -o "$work/train.bin"
mkdir -p "$work/run"
$bin train -m "$work/init" --data "$work/train.bin" --out "$work/run" --steps 600 --ctx 256 --batch 8 \
  --lr 3e-3 --warmup 20 --schedule cosine --min-lr 3e-4 --save-every 50 --log "$work/run/log.jsonl" --seed 1 --resume
$bin convert -m "$work/run" -o "$work/teacher" --dtype bf16
