#!/usr/bin/env bash
# Runs N generated patterns on the live kernel through kernel_runner (README.md in this
# directory). Sizes, backing and WP mode are derived from the pattern number, so a given
# (N, FIRST) always runs the same patterns. Every 4th pattern also runs with a 3-entry
# page_region vector (the walk_end continuation path) and must give the same dump; every
# 5th runs twice and must give the same dump (the kernel's answer depends on the pattern
# alone, not on addresses or timing).
#   bash tests/kernel/run_random.sh [N=200] [FIRST=1] [RUNNER=/tmp/kr] [OUTDIR=/tmp/kdiff-runs]
# Exit: 0 all passed, 1 a failure (its pattern and output are kept in OUTDIR), 77 skipped.
set -u
N=${1:-200}
FIRST=${2:-1}
KR=${3:-/tmp/kr}
OUT=${4:-/tmp/kdiff-runs}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
if [ ! -x "$KR" ]; then
  g++ -std=c++20 -O2 -pthread -o "$KR" "$HERE/kernel_runner.cpp" || exit 1
fi
sizes=(1 2 3 7 16 33 64 100 511 512 513 1000 1024 2047 2048 3000 4095 4096)
fail=0 ran=0 skipped=0
start=$(date +%s.%N)
for ((i = FIRST; i < FIRST + N; i++)); do
  seed=$((i * 2654435761 % 4294967296))
  if ((i % 3 == 0)); then
    pages=$((1 + seed % 4096))  # any size
  else
    pages=${sizes[$((i % ${#sizes[@]}))]}
  fi
  backing=$([ $((i % 2)) -eq 0 ] && echo anon || echo shmem)
  mode=$([ $(((i / 2) % 2)) -eq 0 ] && echo async || echo sync)
  tag="$i-$seed-$pages-$backing-$mode"
  timeout 15 "$KR" gen "$seed" "$pages" "$backing" "$mode" --timeout 10 \
    --save-pattern "$OUT/$tag.pattern" >"$OUT/$tag.out" 2>"$OUT/$tag.err"
  rc=$?
  if [ $rc -eq 77 ]; then
    skipped=$((skipped + 1))
    continue
  fi
  ran=$((ran + 1))
  bad=""
  [ $rc -ne 0 ] && bad="exit $rc"
  if [ -z "$bad" ] && ((i % 4 == 0)); then
    timeout 15 "$KR" file "$OUT/$tag.pattern" --vec-len 3 --timeout 10 >"$OUT/$tag.vec3" 2>/dev/null ||
      bad="exit $? with --vec-len 3"
    [ -z "$bad" ] && ! cmp -s "$OUT/$tag.out" "$OUT/$tag.vec3" && bad="--vec-len 3 gave another dump"
  fi
  if [ -z "$bad" ] && ((i % 5 == 0)); then
    timeout 15 "$KR" file "$OUT/$tag.pattern" --timeout 10 >"$OUT/$tag.again" 2>/dev/null ||
      bad="exit $? on the second run"
    [ -z "$bad" ] && ! cmp -s "$OUT/$tag.out" "$OUT/$tag.again" && bad="a second run gave another dump"
  fi
  if [ -n "$bad" ]; then
    fail=$((fail + 1))
    echo "FAIL $tag: $bad ($(head -c 300 "$OUT/$tag.err"))"
  else
    rm -f "$OUT/$tag".*
  fi
done
end=$(date +%s.%N)
echo "patterns run: $ran, failed: $fail, skipped (77): $skipped, wall: $(echo "$end - $start" | bc) s"
[ $fail -eq 0 ] || exit 1
[ $ran -gt 0 ] || exit 77
