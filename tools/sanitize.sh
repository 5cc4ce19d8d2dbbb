#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer: builds the unit tests, the fuzz replay drivers and
# vmemsim with -fsanitize=address,undefined into build-asan/, then runs
#  1. every unit test,
#  2. each fuzz target over its seed corpus and 500 mutations,
#  3. every shipped scenario (every scenario file under scenarios/) for a short
#     simulated time (4 sampling intervals) with --check-invariants.
# Any sanitizer report fails the run (halt_on_error). Takes about 10 minutes on 2 cores.
#
#   bash tools/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
B=build-asan
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMEMSIM_SANITIZE=ON -DVMEMSIM_BENCH=OFF >/dev/null
cmake --build "$B" -j2 --target vmemsim vmemsim_unit fuzz_scenario_replay fuzz_set_replay fuzz_sweep_replay

# detect_leaks=0: SimGrid keeps its engine's state until exit by design.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
t0=$(date +%s)
echo "[sanitize] unit tests" >&2
"$B/tests/vmemsim_unit"

echo "[sanitize] fuzz replays" >&2
"$B/tests/fuzz_scenario_replay" --inputs 500 --save "$B/fuzz-scenario" scenarios scenarios/calibration
"$B/tests/fuzz_set_replay" --inputs 500 --save "$B/fuzz-set" tests/fuzz/corpus/set
"$B/tests/fuzz_sweep_replay" --inputs 200 --save "$B/fuzz-sweep" scenarios/sweeps tests/fuzz/corpus/sweep

echo "[sanitize] shipped scenarios, --check-invariants" >&2
# SimGrid's raw contexts switch stacks behind ASan's back (Debian's SimGrid is not built with
# ASan's fiber annotations): thread contexts keep every stack known to the sanitizer.
# Every scenario file under scenarios/ (sweep files, which have "axes", the schema and the scale
# benchmarks of scenarios/scale aside: those are hundreds of GiB of guest memory, measured by
# bench/README.md; tests/integration/test_scale.py runs a small variant under the suite),
# for 4 sampling intervals but at least 1.5 s where the scenario is that long, so that NUMA
# balancing's first scan (scan_delay 1 s) and ksmd's second pass happen under the sanitizers.
mapfile -t shipped < <(python3 - <<'PY'
import json, pathlib
for p in sorted(pathlib.Path("scenarios").rglob("*.json")):
    if p.name == "schema.json" or p.parts[1] == "scale":
        continue
    doc = json.loads(p.read_text())
    if isinstance(doc, dict) and "axes" not in doc:
        print(p)
PY
)
# base-trace.json replays the trace run.sh generates under results/: make a short one.
if [ ! -f results/compare-trace-input/trace.vmpt ]; then
  mkdir -p results/compare-trace-input
  python3 scenarios/compare/make_trace.py results/compare-trace-input/trace.lackey --refs 400000
  "$B/vmemsim" trace convert results/compare-trace-input/trace.lackey results/compare-trace-input/trace.vmpt >/dev/null
  rm results/compare-trace-input/trace.lackey
fi
for s in "${shipped[@]}"; do
  dur=$(python3 -c 'import json,sys; r=json.load(sys.stdin); print(min(r["duration"], max(4*r["output"]["sampling_interval"], 1500000000)))' \
        < <("$B/vmemsim" validate "$s" --print))
  echo "  $s: ${dur} ns" >&2
  "$B/vmemsim" run "$s" --set "/duration=$dur" --check-invariants -q --out "$B/scenario-runs/$(echo "${s%.json}" | tr / _)" \
      --cfg=contexts/factory:thread >/dev/null
done
echo "[sanitize] clean: unit tests, fuzz replays and ${#shipped[@]} scenarios in $(( $(date +%s) - t0 )) s" >&2
