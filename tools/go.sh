#!/usr/bin/env bash
# The main job: install what is missing, build, run the default scenario, plot it.
# Usage: bash tools/go.sh [SCENARIO] [vmemsim run options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
scenario="${1:-scenarios/quickstart.json}"
shift || true
result=$(build/vmemsim run "$scenario" "$@")
echo "result: $result"
plot="$(dirname "$result")/resident.png"
tools/vmemsim-plot timeseries "$result" --metric resident_pages -o "$plot"
echo "plot:   $plot"
