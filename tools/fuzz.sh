#!/usr/bin/env bash
# Fuzzes the input readers with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer
# (tests/fuzz/README.md): the scenario reader, the --set parser and the sweep-file reader.
#
#   bash tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      # default 60 s each, every target
#
# Builds with clang into build-fuzz/ (Debian's clang ships libFuzzer), seeds each corpus from
# scenarios/ (and tests/fuzz/corpus), runs each target for the given time on one core, and keeps
# what it finds in build-fuzz/findings/<target>/ (crash-*, timeout-*, oom-*: replay one with
# build-fuzz/tests/fuzz_<target> FILE). Exit 1 when any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(scenario set sweep)
bash tools/deps.sh --fuzz
CXX_CLANG="$(command -v clang++ || true)"
[ -n "$CXX_CLANG" ] || { echo "fuzz.sh: clang++ not found (tools/deps.sh installs clang)" >&2; exit 2; }
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_CLANG" \
      -DVMEMSIM_FUZZ=ON -DVMEMSIM_BENCH=OFF >/dev/null
cmake --build build-fuzz -j2 --target $(printf 'fuzz_%s ' "${TARGETS[@]}")

# UBSan reports are findings too; leaks are not looked for (a reader that throws may keep
# nlohmann's static state, which LeakSanitizer would count).
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for t in "${TARGETS[@]}"; do
  corpus="build-fuzz/corpus/$t"
  findings="build-fuzz/findings/$t"
  mkdir -p "$corpus" "$findings"
  case "$t" in
    scenario) cp scenarios/*.json scenarios/calibration/*.json "$corpus"/ ;;
    set) cp tests/fuzz/corpus/set/* "$corpus"/ ;;
    sweep) cp scenarios/sweeps/*.json tests/fuzz/corpus/sweep/*.json "$corpus"/ ;;
  esac
  log="build-fuzz/findings/$t.log"
  echo "[fuzz] $t: ${SECONDS_PER_TARGET} s" >&2
  # -timeout: an input taking 10 s is a hang; -rss_limit_mb: one using 2 GiB is a finding.
  if ! "build-fuzz/tests/fuzz_$t" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1; then
    status=1
    echo "[fuzz] $t: FINDING, see $log and $findings/" >&2
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "[fuzz] $t: $runs inputs run, corpus $(ls "$corpus" | wc -l) files" >&2
done
exit $status
