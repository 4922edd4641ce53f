#!/usr/bin/env bash
# Reproduces demo/teacher: the Qwen vocabulary cut to its first 4000 merges, a random Qwen2
# (D 256, L 4, 4 heads / 2 KV heads, F 768), then two phases of next-token training:
#   1. 600 steps on the demo corpus (Perl documentation with recall lines mixed in),
#   2. 400 steps on the corpus plus two copies of the recall-only lines, so that attention learns
#      to look keys up,
# and the result stored with bf16 matrices. About 40 minutes on 2 cores.
# usage: demo/train_teacher.sh [WORK_DIR]   (writes WORK_DIR/teacher)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-out/teacher-train}
bin=build/arwkv
mkdir -p "$work"
python3 scripts/make_small_tokenizer.py "$(scripts/fetch_tokenizer.sh)" "$work/tokenizer" --merges 4000
[ -f "$work/data/recall.txt" ] || python3 demo/make_corpus.py "$work/data"
$bin make-model --arch qwen2 --hidden 256 --layers 4 --heads 4 --kv-heads 2 --ffn 768 --vocab 4288 \
  --dtype f32 --tokenizer "$work/tokenizer" --seed 1 -o "$work/init"
d="$work/data"
[ -f "$work/phase1.bin" ] || $bin prepare-data -m "$work/init" -i "$d/train.txt" -o "$work/phase1.bin"
[ -f "$work/phase2.bin" ] || $bin prepare-data -m "$work/init" -i "$d/train.txt" -i "$d/recall.txt" -i "$d/recall.txt" -o "$work/phase2.bin"
$bin train -m "$work/init" --data "$work/phase1.bin" --out "$work/phase1" --steps 600 --ctx 256 --batch 8 \
  --lr 3e-3 --warmup 20 --schedule cosine --min-lr 3e-4 --save-every 50 --log "$work/phase1.jsonl" --seed 1 --resume
$bin train -m "$work/phase1" --data "$work/phase2.bin" --out "$work/phase2" --steps 400 --ctx 256 --batch 8 \
  --lr 1e-3 --warmup 10 --schedule cosine --min-lr 1e-4 --save-every 50 --log "$work/phase2.jsonl" --seed 2 --resume
$bin convert -m "$work/phase2" -o "$work/teacher" --dtype bf16
