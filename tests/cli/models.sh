#!/usr/bin/env bash
# The command-line program end to end on tiny models: make-model, perplexity against a value
# computed independently (the PyTorch golden logits), init-student, and one-line errors for bad input.
set -u
bin="$1"
. "$(dirname "$0")/lib/common.sh"

# perplexity of the golden ids equals exp(mean CE) of the reference logits, computed here in python
g=tests/data/golden/qwen2_gqa2_tied_f32
python3 - "$g" >"$tmp/expect" <<'PY'
import sys, json, struct, math
raw = open(sys.argv[1] + "/golden.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n]); base = 8 + n
def get(name, fmt):
    b, e = h[name]["data_offsets"]
    return struct.unpack("<%d%s" % ((e - b) // 4, fmt), raw[base + b:base + e]), h[name]["shape"]
ids, _ = get("input_ids", "i"); lg, shape = get("logits", "f"); V = shape[1]
tot = 0.0
for t in range(len(ids) - 1):
    row = lg[t * V:(t + 1) * V]; m = max(row)
    tot += m + math.log(sum(math.exp(x - m) for x in row)) - row[ids[t + 1]]
print(" ".join(map(str, ids))); print(math.exp(tot / (len(ids) - 1)), len(ids) - 1)
PY
head -1 "$tmp/expect" >"$tmp/ids"
want=$(sed -n 2p "$tmp/expect")
expect_ok "perplexity --ids" "$bin" perplexity -m "$g" --ids "$tmp/ids"
got=$(tail -1 "$tmp/out")
python3 -c "
import sys,re
w, n = '$want'.split(); m = re.match(r'perplexity: (\S+) \((\d+) tokens\)$', '$got')
assert m, 'bad output: $got'
assert abs(float(m.group(1)) / float(w) - 1) < 1e-5 and int(m.group(2)) == int(n), ('$got', w, n)
" && ok || bad "perplexity value: got '$got', want '$want'"

# windows: 13 ids with -c 4 score 3+3+3 (+ a last window of 1 token, dropped)
expect_ok "perplexity -c 4" "$bin" perplexity -m "$g" --ids "$tmp/ids" -c 4
tail -1 "$tmp/out" | grep -q "(9 tokens)$" && ok || bad "window count: $(tail -1 "$tmp/out")"

# make-model + init-student round trip
expect_ok "make-model qwen2" "$bin" make-model --arch qwen2 --hidden 128 --layers 2 --heads 4 --kv-heads 2 --ffn 64 --vocab 300 --dtype f32 --seed 3 -o "$tmp/t"
expect_ok "perplexity random teacher" "$bin" perplexity -m "$tmp/t" --ids "$tmp/ids"
expect_ok "init-student" "$bin" init-student --teacher "$tmp/t" -o "$tmp/s" --init attention
expect_ok "perplexity student" "$bin" perplexity -m "$tmp/s" --ids "$tmp/ids"
grep -q '"RwkvHybridForCausalLM"' "$tmp/s/config.json" && ok || bad "student config"
expect_ok "make-model arwkv" "$bin" make-model --arch arwkv --hidden 128 --layers 1 --ffn 64 --vocab 300 --gate -o "$tmp/a"

# bad input: one clear line, non-zero exit
expect_err "unknown flag" "unknown option" "$bin" perplexity -m "$g" --idz x
expect_err "bad number" "expects an integer" "$bin" perplexity -m "$g" --ids "$tmp/ids" -c abc
expect_err "missing dir" "config.json" "$bin" perplexity -m "$tmp/nope" --ids "$tmp/ids"
echo "1 2 x" >"$tmp/badids"
expect_err "bad ids" "badids" "$bin" perplexity -m "$g" --ids "$tmp/badids"
echo "1 2 99999" >"$tmp/bigids"
expect_err "id out of vocab" "outside the vocabulary" "$bin" perplexity -m "$g" --ids "$tmp/bigids"
cp -r "$tmp/t" "$tmp/trunc"; truncate -s -100 "$tmp/trunc/model.safetensors"
expect_err "truncated safetensors" "model.safetensors" "$bin" perplexity -m "$tmp/trunc" --ids "$tmp/ids"
cp -r "$tmp/t" "$tmp/nocfg"; sed -i 's/"hidden_size"/"hidden_sz"/' "$tmp/nocfg/config.json"
expect_err "missing config field" "hidden_size" "$bin" perplexity -m "$tmp/nocfg" --ids "$tmp/ids"
cp -r "$tmp/t" "$tmp/badcfg"; sed -i 's/"hidden_size": 128/"hidden_size": 96/' "$tmp/badcfg/config.json"
expect_err "shape mismatch" "shape" "$bin" perplexity -m "$tmp/badcfg" --ids "$tmp/ids"
cp -r "$tmp/t" "$tmp/json"; echo "{ not json" >"$tmp/json/config.json"
expect_err "malformed config" "config.json" "$bin" perplexity -m "$tmp/json" --ids "$tmp/ids"
cp -r "$tmp/t" "$tmp/sw"; sed -i 's/"use_sliding_window": false/"use_sliding_window": true/' "$tmp/sw/config.json"
expect_err "sliding window" "use_sliding_window" "$bin" perplexity -m "$tmp/sw" --ids "$tmp/ids"
expect_err "unknown command" "unknown command" "$bin" frobnicate

finish
