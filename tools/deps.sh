#!/usr/bin/env bash
# Installs the Debian packages vmemsim needs, only if some are missing (idempotent).
# Used by tools/go.sh, tools/test.sh, tools/sanitize.sh and tools/fuzz.sh; safe to run by hand.
set -euo pipefail
PKGS=(build-essential cmake pkg-config libsimgrid-dev nlohmann-json3-dev libcli11-dev catch2
      libbenchmark-dev libzstd-dev zstd python3 python3-matplotlib python3-jsonschema)
# `tools/deps.sh --fuzz` (tools/fuzz.sh): clang and its runtime libraries, which hold libFuzzer.
[ "${1:-}" = "--fuzz" ] && PKGS+=(clang libclang-rt-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[deps] installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
