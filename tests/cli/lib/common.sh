# Shared helpers of the command-line tests: a temp dir, counters and expectations.
# Scripts source this after setting bin="$1"; they end with `finish`.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# check NAME COMMAND...: passes when the command succeeds
check() { local name="$1"; shift; if "$@"; then ok; else bad "$name"; fi; }
expect_ok() { local what="$1"; shift; if "$@" >"$tmp/out" 2>"$tmp/err"; then ok; else bad "$what: $(cat "$tmp/err")"; fi; }
# a failing command: exit code 1..127 (no crash), a stderr line starting "arwkv" that mentions $2
expect_err() {
  local what="$1" needle="$2"; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "^arwkv" "$tmp/err" && grep -q -- "$needle" "$tmp/err"; then ok
  else bad "$what: rc=$rc stderr=$(cat "$tmp/err")"; fi
}
# as expect_err with an exact exit code: expect_err_code WHAT CODE NEEDLE COMMAND...
expect_err_code() {
  local what="$1" code="$2" needle="$3"; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq "$code" ] && grep -q "^arwkv" "$tmp/err" && grep -q -- "$needle" "$tmp/err"; then ok
  else bad "$what: rc=$rc stderr=$(cat "$tmp/err")"; fi
}
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; }
