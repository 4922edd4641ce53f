#!/usr/bin/env bash
# prepare-data and train end to end on tiny models: token file layout, JSONL errors, the JSONL log,
# checkpoints loadable by other commands, --train-only freezing, non-finite steps, and exact resume
# (4 steps in one run == 2 steps + --resume + 2 steps, byte for byte).
set -u
bin="$1"
. "$(dirname "$0")/lib/common.sh"
py=python3

# ---- prepare-data: text and JSONL "text" documents, eos separators, header fields
expect_ok "make-model" "$bin" make-model --arch arwkv --hidden 64 --layers 1 --ffn 32 --vocab 300 --seed 1 -o "$tmp/m"
cp tests/data/tokenizer/tiny_gpt2/tokenizer.json "$tmp/m/"
printf 'hello world, this is text.' >"$tmp/a.txt"
printf '{"text": "first doc"}\n\n{"text": "second doc here"}\n' >"$tmp/b.jsonl"
expect_ok "prepare-data" "$bin" prepare-data -m "$tmp/m" -i "$tmp/a.txt" -i "$tmp/b.jsonl" -o "$tmp/d.bin"
grep -q "3 documents" "$tmp/out" && ok || bad "document count: $(cat "$tmp/out")"
$py - "$tmp/d.bin" <<'PY' && ok || bad "token file layout"
import sys, struct
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"ARWKVTOK", b[:8]
ver, vocab, n, docs = struct.unpack("<IIQQ", b[8:32])
assert ver == 1 and vocab == 282 and docs == 3, (ver, vocab, docs)
assert len(b) == 64 + 5 * n
tok = struct.unpack("<%dI" % n, b[64:64 + 4 * n]); mask = b[64 + 4 * n:]
assert tok.count(274) == 3 and tok[-1] == 274, tok   # <|endoftext|> after each document
assert all(m == 1 for m in mask)
PY
printf '{"text": "ok"}\n{"txt": "bad"}\n' >"$tmp/bad.jsonl"
expect_err "bad jsonl" "bad.jsonl:2: expected \"text\" or \"messages\"" "$bin" prepare-data -m "$tmp/m" -i "$tmp/bad.jsonl" -o "$tmp/x.bin"

# ---- train: a token file for the 97-token golden student, written independently here
g=tests/data/golden/arwkv_nogate_f32
$py - "$tmp/s.bin" <<'PY'
import sys, struct
n = 400
tok = [(i * 7 + (i // 13)) % 95 for i in range(n)]
mask = bytes(0 if i % 17 == 5 else 1 for i in range(n))
open(sys.argv[1], "wb").write(b"ARWKVTOK" + struct.pack("<IIQQ", 1, 97, n, 1) + bytes(32)
                              + struct.pack("<%dI" % n, *tok) + mask)
PY
common=(-m "$g" --data "$tmp/s.bin" --ctx 8 --batch 2 --accum 2 --lr 1e-3 --warmup 1 --schedule cosine --min-lr 1e-4 --seed 5)
expect_ok "train 4" "$bin" train "${common[@]}" --out "$tmp/full" --steps 4 --log "$tmp/full.jsonl"
expect_ok "train 2" "$bin" train "${common[@]}" --out "$tmp/half" --steps 2 --log "$tmp/half.jsonl"
grep -q '"step": 2' "$tmp/half/checkpoint/trainer_state.json" && ok || bad "trainer_state after 2 steps"
expect_ok "train resume" "$bin" train "${common[@]}" --out "$tmp/half" --steps 4 --resume --log "$tmp/half.jsonl"
grep -q "resuming" "$tmp/err" && ok || bad "resume did not resume: $(cat "$tmp/err")"
for f in model.safetensors optimizer.safetensors; do
  cmp -s "$tmp/full/checkpoint/$f" "$tmp/half/checkpoint/$f" && ok || bad "resume: $f differs"
done
diff <(sed 's/"tokens_per_s".*//' "$tmp/full.jsonl") <(sed 's/"tokens_per_s".*//' "$tmp/half.jsonl") >/dev/null && ok || bad "resume: logs differ"
$py - "$tmp/full.jsonl" <<'PY' && ok || bad "log lines"
import sys, json
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows] == [1, 2, 3, 4], rows
assert all(set(r) == {"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s"} for r in rows)
assert abs(rows[0]["lr"] - 1e-3) < 1e-9 and rows[-1]["tokens"] == 4 * 2 * 2 * 8
assert rows[-1]["lr"] < rows[1]["lr"], rows   # cosine decay after the warmup
PY
grep -q '"step": 4' "$tmp/full/checkpoint/trainer_state.json" && ok || bad "trainer_state"
expect_ok "perplexity of checkpoint" "$bin" perplexity -m "$tmp/full/checkpoint" --ids <(echo 1 2 3 4 5 6 7 8)

# ---- --train-only: only time-mix tensors change
expect_ok "train-only" "$bin" train "${common[@]}" --out "$tmp/tm" --steps 2 --train-only "*time_mixer*"
$py - "$g/model.safetensors" "$tmp/tm/checkpoint/model.safetensors" <<'PY' && ok || bad "train-only changed frozen tensors"
import sys, json, struct
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
changed = {k for k in a if a[k] != b[k]}
assert changed and all("time_mixer" in k for k in changed), sorted(changed)
PY

# ---- a learning rate that blows the weights up: non-finite steps are skipped, then training stops
expect_err "non-finite" "non-finite" "$bin" train "${common[@]}" --out "$tmp/nan" --steps 50 --lr 1e30 --warmup 0 --max-bad-steps 2

finish
