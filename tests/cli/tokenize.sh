#!/usr/bin/env bash
# Command-line test of `arwkv tokenize` / `arwkv detokenize` on the real Qwen tokenizer:
#   bash tests/cli/tokenize.sh path/to/arwkv
set -uo pipefail
bin="$1"
dir="${ARWKV_QWEN_TOKENIZER:-${ARWKV_CACHE:-$HOME/.cache/arwkv}/qwen-tokenizer}"
if [ ! -f "$dir/tokenizer.json" ]; then
    echo "FAIL: the Qwen tokenizer fixture is missing in $dir; run scripts/fetch_tokenizer.sh first" >&2
    exit 1
fi
data=tests/data/tokenizer
. "$(dirname "$0")/lib/common.sh"

# ids equal the golden ids (Hugging Face's) and come back to the same bytes
for f in english code_c code_python cjk emoji; do
    "$bin" tokenize -m "$dir" -f "$data/corpus/$f.txt" > "$tmp/$f.ids"
    check "$f: exit status" test $? -eq 0
    python3 -c "import json,sys; g=json.load(open('$data/golden.json')); \
print(' '.join(map(str, [c for c in g['cases'] if c['name'] == '$f'][0]['ids'])))" > "$tmp/$f.want"
    check "$f: ids equal the golden ids" cmp -s "$tmp/$f.ids" "$tmp/$f.want"
    check "$f: one line" test "$(wc -l < "$tmp/$f.ids")" -eq 1
    "$bin" detokenize -m "$dir" < "$tmp/$f.ids" > "$tmp/$f.back"
    check "$f: detokenize restores the bytes" cmp -s "$tmp/$f.back" "$data/corpus/$f.txt"
done

# standard input, special tokens recognised unless --no-special
out="$(printf 'Hello world!<|im_end|>' | "$bin" tokenize -m "$dir")"
check "stdin with a special token" test "$out" = "9707 1879 0 151645"
out="$(printf '<|im_end|>' | "$bin" tokenize -m "$dir" --no-special)"
check "--no-special gives plain-text ids" test "$out" = "27 91 318 6213 91 29"
out="$(echo "9707 1879 0 151645" | "$bin" detokenize -m "$dir" --skip-special)"
check "--skip-special" test "$out" = "Hello world!"
out="$("$bin" tokenize -m "$dir" < /dev/null)"
check "empty input: empty line" test -z "$out"

# errors: "arwkv: ..." and a non-zero status; bad flags exit 2
printf 'ok\n\xff' > "$tmp/bad.txt"
"$bin" tokenize -m "$dir" -f "$tmp/bad.txt" > /dev/null 2> "$tmp/err"
st=$?
check "invalid UTF-8 fails" test $st -ne 0
check "invalid UTF-8 names the offset" grep -q "^arwkv: .*bad.txt: invalid UTF-8 at byte offset 3" "$tmp/err"
"$bin" tokenize -m "$dir" --frobnicate > /dev/null 2> "$tmp/err"
check "bad flag exits 2" test $? -eq 2
check "bad flag message" grep -q "^arwkv tokenize: unknown option '--frobnicate'" "$tmp/err"
"$bin" tokenize < /dev/null > /dev/null 2>&1
check "missing -m exits 2" test $? -eq 2
echo "1 2 99999999" | "$bin" detokenize -m "$dir" > /dev/null 2> "$tmp/err"
st=$?
check "unknown id fails" test $st -ne 0
check "unknown id message" grep -q "^arwkv: .*99999999 is not a token" "$tmp/err"
echo "12 abc" | "$bin" detokenize -m "$dir" > /dev/null 2> "$tmp/err"
check "non-numeric id fails" test $? -ne 0

finish
