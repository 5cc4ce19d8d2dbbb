#!/usr/bin/env bash
# The policy comparison, one command: every sweep of scenarios/compare, then the table and
# figure of README.md. Usage: bash scenarios/compare/run.sh [jobs]
set -euo pipefail
cd "$(dirname "$0")/../.."
J=${1:-$(nproc)}
for s in rfc-v1 rwp ksm; do
  build/vmemsim sweep "scenarios/compare/sweep-$s.json" -j "$J"
done
/usr/bin/python3 scenarios/compare/table.py results/compare-rfc-v1 results/compare-rwp results/compare-ksm --plot scenarios/compare/compare.png
