#!/usr/bin/env bash
# The distillation pipeline end to end on tiny models, each stage loading the previous one's output
# directory: init-student -> distill --stage 1 -> distill --stage 2 --freeze mlp -> sft -> dpo (--ref the
# SFT model). Checks the JSONL logs (per-layer losses, KL, DPO rewards), which tensors each stage
# changed, that every output is a model directory other commands load, and the option errors.
set -u
bin="$1"
. "$(dirname "$0")/lib/common.sh"
py=python3
tok=tests/data/tokenizer/tiny_gpt2/tokenizer.json

expect_ok "teacher" "$bin" make-model --arch qwen2 --hidden 64 --layers 2 --heads 2 --kv-heads 1 --ffn 32 --vocab 300 \
  --dtype f32 --tokenizer "$tok" --seed 3 -o "$tmp/teacher"
# a ChatML template so that prepare-data and dpo can render messages
printf '{"chat_template": "{%% for m in messages %%}<|im_start|>{{ m.role }}\\n{{ m.content }}<|im_end|>\\n{%% endfor %%}"}\n' \
  >"$tmp/teacher/tokenizer_config.json"
expect_ok "init-student" "$bin" init-student --teacher "$tmp/teacher" -o "$tmp/s0" --seed 4
for i in 1 2 3 4 5 6; do printf '{"text": "the quick brown fox %d jumps over the lazy dog, again and again."}\n' $i; done >"$tmp/text.jsonl"
for i in 1 2 3 4 5 6; do
  printf '{"messages": [{"role": "user", "content": "what is %d plus one?"}, {"role": "assistant", "content": "it is %d."}]}\n' $i $((i + 1))
done >"$tmp/chat.jsonl"
printf '{"prompt": "two plus two is", "chosen": " four", "rejected": " five"}\n{"prompt": "the sky is", "chosen": " blue", "rejected": " green"}\n' >"$tmp/prefs.jsonl"
printf '{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hello"}], "rejected": [{"role": "assistant", "content": "go away"}]}\n' >>"$tmp/prefs.jsonl"
expect_ok "prepare text" "$bin" prepare-data -m "$tmp/teacher" -i "$tmp/text.jsonl" -o "$tmp/text.bin"
expect_ok "prepare chat" "$bin" prepare-data -m "$tmp/teacher" -i "$tmp/chat.jsonl" -o "$tmp/chat.bin"

common=(--steps 2 --batch 2 --lr 1e-3 --seed 1)
expect_ok "stage 1" "$bin" distill --stage 1 --teacher "$tmp/teacher" --student "$tmp/s0" --data "$tmp/text.bin" \
  --out "$tmp/s1" --ctx 8 --log "$tmp/s1.jsonl" "${common[@]}"
expect_ok "stage 2" "$bin" distill --stage 2 --teacher "$tmp/teacher" --student "$tmp/s1" --data "$tmp/text.bin" \
  --out "$tmp/s2" --ctx 8 --freeze mlp --ce-weight 0.5 --log "$tmp/s2.jsonl" "${common[@]}"
expect_ok "sft" "$bin" sft -m "$tmp/s2" --data "$tmp/chat.bin" --out "$tmp/s3" --ctx 16 --log "$tmp/s3.jsonl" "${common[@]}"
expect_ok "dpo" "$bin" dpo -m "$tmp/s3" --ref "$tmp/s3" --data "$tmp/prefs.jsonl" --out "$tmp/s4" --ctx 24 --beta 0.1 \
  --log "$tmp/s4.jsonl" "${common[@]}"
grep -q "3 preference pairs" "$tmp/err" && ok || bad "dpo pair count: $(cat "$tmp/err")"
for d in s1 s2 s3 s4; do
  for f in config.json model.safetensors tokenizer.json; do [ -f "$tmp/$d/$f" ] && ok || bad "$d/$f missing"; done
  expect_ok "perplexity of $d" "$bin" perplexity -m "$tmp/$d" --ids <(echo 1 2 3 4 5 6 7 8)
done

$py - "$tmp" <<'PY' && ok || bad "logs and changed tensors"
import sys, json, struct, fnmatch
t = sys.argv[1]
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
def changed(a, b):
    a, b = load(f"{t}/{a}/model.safetensors"), load(f"{t}/{b}/model.safetensors")
    assert set(a) == set(b), set(a) ^ set(b)
    return {k for k in a if a[k] != b[k]}
c1 = changed("s0", "s1")
assert c1 and all("time_mixer" in k for k in c1), sorted(c1)
c2 = changed("s1", "s2")
assert c2 and not any(".mlp." in k for k in c2) and any("embed" in k for k in c2), sorted(c2)
assert any(".mlp." in k for k in changed("s2", "s3"))
assert changed("s3", "s4")
rows = lambda n: [json.loads(l) for l in open(f"{t}/{n}.jsonl")]
r1 = rows("s1")
assert [r["step"] for r in r1] == [1, 2] and all(len(r["layer_losses"]) == 2 for r in r1), r1
assert all(abs(sum(r["layer_losses"]) / 2 - r["loss"]) < 1e-5 for r in r1), r1
r2 = rows("s2")
assert all(abs(r["kl"] + 0.5 * r["ce"] - r["loss"]) < 1e-5 and r["kl"] >= 0 for r in r2), r2
r4 = rows("s4")
assert all({"rewards_chosen", "rewards_rejected", "rewards_accuracy", "rewards_margin"} <= set(r) for r in r4), r4
assert abs(r4[0]["loss"] - 0.693147) < 1e-4, r4   # policy == reference at the first step: -log sigmoid(0)
assert r4[0]["tokens"] == 2 * 2 * 24, r4
PY

# ---- stage 2 from a larger teacher with the same vocabulary (stage 1 needs the same shape)
expect_ok "big teacher" "$bin" make-model --arch qwen2 --hidden 128 --layers 3 --heads 4 --kv-heads 2 --ffn 64 --vocab 300 \
  --dtype f32 --tokenizer "$tok" --seed 5 -o "$tmp/big"
expect_ok "stage 2 big teacher" "$bin" distill --stage 2 --teacher "$tmp/big" --student "$tmp/s1" --data "$tmp/text.bin" \
  --out "$tmp/sb" --ctx 8 --steps 1
expect_err "stage 1 big teacher" "same width and depth" "$bin" distill --stage 1 --teacher "$tmp/big" --student "$tmp/s0" \
  --data "$tmp/text.bin" --out "$tmp/x" --ctx 8 --steps 1

# ---- a stage-1 resume continues exactly
expect_ok "stage 1 x1" "$bin" distill --stage 1 --teacher "$tmp/teacher" --student "$tmp/s0" --data "$tmp/text.bin" \
  --out "$tmp/r" --ctx 8 --steps 1 --batch 2 --lr 1e-3 --seed 1
expect_ok "stage 1 resume" "$bin" distill --stage 1 --teacher "$tmp/teacher" --student "$tmp/s0" --data "$tmp/text.bin" \
  --out "$tmp/r" --ctx 8 --steps 2 --batch 2 --lr 1e-3 --seed 1 --resume
cmp -s "$tmp/r/model.safetensors" "$tmp/s1/model.safetensors" && ok || bad "stage 1 resume differs"

# ---- errors
expect_err "stage" "--stage must be 1 or 2" "$bin" distill --stage 3 --teacher "$tmp/teacher" --student "$tmp/s0" \
  --data "$tmp/text.bin" --out "$tmp/x"
expect_err "student as teacher" "teacher must be a Qwen2" "$bin" distill --stage 2 --teacher "$tmp/s0" --student "$tmp/s0" \
  --data "$tmp/text.bin" --out "$tmp/x" --steps 1 --ctx 8
printf '{"prompt": "a", "chosen": 3, "rejected": "b"}\n' >"$tmp/badprefs.jsonl"
expect_err "bad prefs" "badprefs.jsonl:1" "$bin" dpo -m "$tmp/s3" --data "$tmp/badprefs.jsonl" --out "$tmp/x" --steps 1

finish
