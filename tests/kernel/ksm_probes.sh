#!/bin/bash
# The KSM experiments behind FINDINGS.md ("KSM"): each is one ksm_runner run; the JSON of each
# goes to $OUT/<name>.json and `ksm_compare.py analyze` prints its figures.
#   bash tests/kernel/ksm_probes.sh [runner] [outdir]
set -u
R=${1:-/tmp/kr}
OUT=${2:-/tmp/ksm}
mkdir -p "$OUT"
run() { name=$1; shift; echo "== $name: $*"; "$R" "$@" --out "$OUT/$name.json"; echo "rc=$?"; }
# 4 mappings x 16 MiB: 1/4 zero, 1/4 over 16 contents, 1/4 identical across mappings, 1/4 unique;
# the default knobs (pages_to_scan 100, sleep_millisecs 20, max_page_sharing 256, smart_scan 1).
run quarters-default --mappings 4 --pages 4096 --zero 1024 --dup 1024 --contents 16 --same 1024 \
    --pages-to-scan 100 --sleep-ms 20 --steady-scans 4 --seconds 60 --sample-ms 20
run quarters-zeropages --mappings 4 --pages 4096 --zero 1024 --dup 1024 --contents 16 --same 1024 \
    --pages-to-scan 1000 --sleep-ms 10 --use-zero-pages 1 --steady-scans 4 --seconds 30 --sample-ms 10
run quarters-fast --mappings 4 --pages 4096 --zero 1024 --dup 1024 --contents 16 --same 1024 \
    --pages-to-scan 1000 --sleep-ms 10 --steady-scans 4 --seconds 30 --sample-ms 10
# max_page_sharing: one content on 1000 pages of one mapping
run chain-mps2 --mappings 1 --pages 1000 --dup 1000 --contents 1 --max-page-sharing 2 \
    --pages-to-scan 1000 --sleep-ms 10 --steady-scans 4 --seconds 30 --sample-ms 10
run chain-mps16 --mappings 1 --pages 1000 --dup 1000 --contents 1 --max-page-sharing 16 \
    --pages-to-scan 1000 --sleep-ms 10 --steady-scans 4 --seconds 30 --sample-ms 10
# smart_scan on unique pages: 2 mappings x 4096 pages, 1/8 identical across, the rest unique
run smart1 --mappings 2 --pages 4096 --same 512 --pages-to-scan 1000 --sleep-ms 10 --smart-scan 1 \
    --seconds 6 --sample-ms 20
run smart0 --mappings 2 --pages 4096 --same 512 --pages-to-scan 1000 --sleep-ms 10 --smart-scan 0 \
    --seconds 6 --sample-ms 20
# volatile pages: 256 of 1024 rewritten every 50 ms
run volatile --mappings 2 --pages 1024 --same 512 --volatile 256 --write-ms 50 --pages-to-scan 1000 \
    --sleep-ms 10 --seconds 5 --sample-ms 20
# uffd-wp: one mapping, 256 pages over 4 contents + 256 unique, write-protected, then merged
run wp-async --mappings 1 --pages 512 --dup 256 --contents 4 --wp async --pages-to-scan 1000 --sleep-ms 10 \
    --steady-scans 3 --seconds 10 --sample-ms 10
run wp-sync --mappings 1 --pages 512 --dup 256 --contents 4 --wp sync --pages-to-scan 1000 --sleep-ms 10 \
    --steady-scans 3 --seconds 10 --sample-ms 10
run wp-async-zero --mappings 1 --pages 512 --zero 128 --dup 128 --contents 4 --wp async --use-zero-pages 1 \
    --pages-to-scan 1000 --sleep-ms 10 --steady-scans 3 --seconds 10 --sample-ms 10
