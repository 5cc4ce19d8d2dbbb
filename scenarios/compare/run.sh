#!/usr/bin/env bash
# The policy comparison, one command: every sweep of scenarios/compare, then the table and
# figure of README.md. Usage: bash scenarios/compare/run.sh [jobs]
set -euo pipefail
cd "$(dirname "$0")/../.."
J=${1:-$(nproc)}
# The trace workload's page trace (make_trace.py, seeded) is written here at each run, never committed.
mkdir -p results/compare-trace-input
/usr/bin/python3 scenarios/compare/make_trace.py results/compare-trace-input/trace.lackey
build/vmemsim trace convert results/compare-trace-input/trace.lackey results/compare-trace-input/trace.vmpt
rm results/compare-trace-input/trace.lackey
for s in rfc-v1 rwp shmem trace ksm; do
  build/vmemsim sweep "scenarios/compare/sweep-$s.json" -j "$J"
done
/usr/bin/python3 scenarios/compare/table.py results/compare-rfc-v1 results/compare-rwp results/compare-shmem results/compare-trace results/compare-ksm --plot scenarios/compare/compare.png
