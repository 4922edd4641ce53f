#!/usr/bin/env bash
# arwkv eval end to end on random models with the real Qwen tokenizer and the sample data of
# tests/data/eval: side-by-side tables, JSON results, the retrieval probes, chat prompts, and a
# word perplexity checked against `arwkv perplexity` of the same tokens (an independent path:
# one sequence pass there, request building + rolling windows + the eval backend here).
set -u
bin="$1"
. "$(dirname "$0")/lib/common.sh"
has() { if grep -qF -- "$2" "$tmp/out"; then ok; else bad "$1: no '$2' in: $(cat "$tmp/out")"; fi; }

# one thread: the models are tiny and the test shares the machine with others
export OMP_NUM_THREADS=1
tok=$(scripts/fetch_tokenizer.sh) || { echo "FAIL: no Qwen tokenizer (scripts/fetch_tokenizer.sh)" >&2; exit 1; }
d=tests/data/eval
expect_ok "make-model teacher" "$bin" make-model --arch qwen2 --vocab 151936 --hidden 64 --layers 1 --heads 2 --ffn 64 --tied --tokenizer "$tok" --seed 1 -o "$tmp/teacher"
expect_ok "make-model student" "$bin" make-model --arch arwkv --vocab 151936 --hidden 64 --layers 1 --ffn 64 --tied --tokenizer "$tok" --seed 2 -o "$tmp/student"

# two models side by side, JSON in the harness layout
expect_ok "arc_easy" "$bin" eval -m "$tmp/teacher" -m "$tmp/student" --task arc_easy --data $d/arc.jsonl --json "$tmp/arc.json"
has "arc table header" "| Task | Filter | n-shot | Metric | teacher | student |"
has "arc acc_norm row" "| arc_easy | none | 0 | acc_norm |"
python3 - "$tmp/arc.json" <<'PY' && ok || bad "arc JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert set(r) == {"teacher", "student"}, r.keys()
for m in r.values():
    a = m["results"]["arc_easy"]
    assert 0 <= a["acc,none"] <= 1 and 0 <= a["acc_norm,none"] <= 1, a
    assert m["n-samples"]["arc_easy"] == {"original": 6, "effective": 6}, m["n-samples"]
    assert m["n-shot"]["arc_easy"] == 0
PY

# shots from the evaluated file itself, MMLU groups, chat prompts, generation
expect_ok "mmlu 2-shot" "$bin" eval -m "$tmp/student" --task mmlu --data $d/mmlu.jsonl --shots 2 --limit 4
has "mmlu group row" "| mmlu | none | 2 | acc |"
expect_ok "hellaswag --chat" "$bin" eval -m "$tmp/student" --task hellaswag --data $d/hellaswag.jsonl --limit 2 --chat
has "hellaswag row" "| hellaswag | none | 0 | acc_norm |"
expect_ok "gsm8k" "$bin" eval -m "$tmp/teacher" --task gsm8k --data $d/gsm8k.jsonl --limit 1 --shots 1 --max-gen 8
has "gsm8k strict" "| gsm8k | strict-match | 1 | exact_match |"
has "gsm8k flexible" "| gsm8k | flexible-extract | 1 | exact_match |"

# retrieval probes: rows per length with the prompt length in tokens
expect_ok "kv" "$bin" eval -m "$tmp/student" --task kv --limit 3 --lengths 2,6 --json "$tmp/kv.json"
has "kv rows" "| kv_recall_6 | none | 0 | acc |"
python3 - "$tmp/kv.json" <<'PY' && ok || bad "kv JSON"
import json, sys
r = json.load(open(sys.argv[1]))["results"]
t2, t6 = r["kv_recall_2"]["prompt_tokens,none"], r["kv_recall_6"]["prompt_tokens,none"]
# "Remember: k=v, k=v. Question: k? Answer:": each pair adds several tokens
assert 12 < t2 < 40 and t6 > t2 + 12, (t2, t6)
assert r["kv_recall_2"]["acc,none"] in (0, 1/3, 2/3, 1), r
PY
expect_ok "passkey" "$bin" eval -m "$tmp/teacher" --task passkey --limit 2 --lengths 120
has "passkey row" "| passkey_120 | none | 0 | prompt_tokens |"

# word perplexity of a JSONL document == `arwkv perplexity` of <prefix token> + the same text
doc="The quick brown fox jumps over the lazy dog. It was not amused, and it said so twice."
python3 - "$doc" "$tmp/doc.jsonl" <<'PY'
import json, sys
open(sys.argv[2], "w").write(json.dumps({"text": sys.argv[1]}) + "\n")
PY
expect_ok "perplexity jsonl" "$bin" eval -m "$tmp/teacher" --task perplexity --data "$tmp/doc.jsonl" --max-length 512
grep -F "| word_perplexity |" "$tmp/out" >"$tmp/wp"
eos=$(python3 -c "
import json, sys
c = json.load(open(sys.argv[1])); e = c.get('bos_token') or c['eos_token']
print(e['content'] if isinstance(e, dict) else e)" "$tok/tokenizer_config.json")
printf '%s%s' "$eos" "$doc" >"$tmp/doc.txt"
expect_ok "perplexity reference" "$bin" perplexity -m "$tmp/teacher" -f "$tmp/doc.txt" -c 512
python3 - "$doc" "$(cat "$tmp/wp")" "$(tail -1 "$tmp/out")" <<'PY' && ok || bad "word perplexity vs arwkv perplexity"
import math, re, sys
doc, row, ref = sys.argv[1:]
got = float(row.split("|")[5].split()[0])
m = re.match(r"perplexity: (\S+) \((\d+) tokens\)$", ref)
nll = math.log(float(m.group(1))) * int(m.group(2))
want = math.exp(nll / len(re.split(r"\s+", doc)))
assert abs(got / want - 1) < 1e-4, (got, want)
PY

# a text file: the windows of `arwkv perplexity`, plus word/byte rates
printf 'One two three four five six seven eight nine ten.\nEleven twelve.\n' >"$tmp/plain.txt"
expect_ok "perplexity text" "$bin" eval -m "$tmp/student" --task perplexity --data "$tmp/plain.txt"
has "token perplexity" "| perplexity | none | 0 | token_perplexity |"
has "bits per byte" "| perplexity | none | 0 | bits_per_byte |"

# errors: one line naming the problem
expect_err_code "unknown task" 2 "unknown task" "$bin" eval -m "$tmp/student" --task nope
expect_err_code "no data" 2 "needs --data" "$bin" eval -m "$tmp/student" --task arc_easy
expect_err_code "bad lengths" 1 "lengths" "$bin" eval -m "$tmp/student" --task kv --lengths 4,x
expect_err_code "missing model" 1 "$tmp/missing" "$bin" eval -m "$tmp/missing" --task kv --limit 1
expect_err_code "bad data" 1 "arc.jsonl" "$bin" eval -m "$tmp/student" --task mmlu --data $d/arc.jsonl

finish
