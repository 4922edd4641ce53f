#!/usr/bin/env bash
# Installs the Debian packages the build needs (when missing) and builds into build/ (or $BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DARWKV_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
# libraries and data: by Debian package
for p in build-essential pkg-config libjansson-dev libpcre2-dev libutf8proc-dev perl-doc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# tools: by command, since they may come from elsewhere than Debian (a newer Node.js, say)
for c in cmake:cmake python3:python3 node:nodejs npm:npm; do
  command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi
build_dir="${BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
