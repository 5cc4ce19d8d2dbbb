#!/usr/bin/env bash
# `vmemsim replay --policy exact-lru` side by side with libCacheSim's `cachesim` (LRU, object
# size ignored) on the same page trace. A benchmark, not a test.
#
# Usage: bash bench/replay_vs_libcachesim.sh PATH_TO_CACHESIM TRACE [FRAMES...]
#   PATH_TO_CACHESIM  the `cachesim` binary of a libCacheSim build made outside this repository
#                     (nothing of libCacheSim is part of vmemsim)
#   TRACE             any trace vmemsim reads; it is converted once to oracleGeneral, the format
#                     both read (object = page, size 4096, ignored by both)
#   FRAMES            cache sizes in pages (default 256 1024 4096 16384)
#
# Prints, per size: requests, misses and throughput of each: cachesim's own "throughput" (wall
# clock from its first request to its last, reading the mmap-ed trace included); vmemsim's
# requests per wall second of the whole process (loading the trace included) and, from
# `replay`'s stderr, of the replay alone; and, because a shared machine makes wall clocks
# unreliable, requests per CPU second (user + system) of each whole process.
#
# cachesim prints the miss ratio with four decimals only, so the comparison is done twice:
#  - exact: on 10,000 references from the middle of the trace, where four decimals pin the miss
#    count to one value, with 1, 2, 4 and 8 frames (so that there are misses), vmemsim's count
#    must be that value;
#  - full trace: vmemsim's miss count must round to cachesim's ratio.
set -euo pipefail
CACHESIM=${1:?usage: $0 PATH_TO_CACHESIM TRACE [FRAMES...]}
TRACE=${2:?usage: $0 PATH_TO_CACHESIM TRACE [FRAMES...]}
shift 2
FRAMES=("$@")
[ ${#FRAMES[@]} -eq 0 ] && FRAMES=(256 1024 4096 16384)
cd "$(dirname "$0")/.."
V=build/vmemsim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
og="$work/trace.oracleGeneral.bin"
$V trace convert "$TRACE" "$og" --to oracle-general 2>/dev/null
n=$(( $(stat -c %s "$og") / 24 ))
dd if="$og" of="$work/head.oracleGeneral.bin" bs=24 skip=$(( n / 2 )) count=10000 status=none
cd "$work"  # cachesim writes result/ in its working directory

/usr/bin/python3 - "$CACHESIM" "$OLDPWD/$V" "$og" "$work/head.oracleGeneral.bin" "${FRAMES[@]}" <<'PY'
import json, os, re, resource, subprocess, sys, time
cachesim, vmemsim, og, head, frames = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], [int(x) for x in sys.argv[5:]]

def cpu_run(cmd):
    """Runs cmd; returns (CompletedProcess, wall seconds, CPU seconds of the child)."""
    t = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return p, time.monotonic() - t, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

def lcs(path, f):
    p, wall, cpu = cpu_run([cachesim, path, "oracleGeneral", "lru", str(f), "--ignore-obj-size", "1"])
    m = re.search(r"cache size\s+(\d+),\s+(\d+) req, miss ratio ([0-9.]+), throughput ([0-9.]+) MQPS", p.stdout)
    if not m:
        sys.exit("cannot parse cachesim output:\n" + p.stdout + p.stderr)
    return int(m.group(2)), float(m.group(3)), float(m.group(4)), cpu

def vms(path, f):
    p, wall, cpu = cpu_run([vmemsim, "replay", path, "--policy", "exact-lru", "--frames", str(f), "--json",
                            "--format", "oracle-general"])
    lim = json.loads(p.stdout)["limits"][0]
    inner = float(re.search(r"\(([0-9.]+) M references/s", p.stderr).group(1))
    return lim["references"], lim["misses"], wall, inner, cpu

ok = True
print("exact check, 10,000 references from the middle of the trace:")
for f in [1, 2, 4, 8]:
    n, ratio, _, _ = lcs(head, f)
    vn, vmiss, _, _, _ = vms(head, f)
    same = vn == n and round(vmiss / vn, 4) == round(ratio, 4) and abs(vmiss - ratio * n) < 0.5 + 1e-9
    ok &= same
    print(f"  frames {f:>6}: cachesim {n} req, miss ratio {ratio:.4f} (= {ratio * n:.0f} misses); "
          f"vmemsim {vn} req, {vmiss} misses -> {'equal' if same else 'DIFFERENT'}")
print()
print("| frames | requests | cachesim misses (ratio) | vmemsim misses (ratio) | cachesim M/wall s (own) | "
      "vmemsim M/wall s (whole, replay only) | cachesim M/CPU s | vmemsim M/CPU s | CPU speed-up |")
print("|---|---|---|---|---|---|---|---|---|")
for f in frames:
    n, ratio, mqps, lcpu = lcs(og, f)
    vn, vmiss, vwall, inner, vcpu = vms(og, f)
    same = vn == n and round(vmiss / vn, 4) == round(ratio, 4)
    ok &= same
    print(f"| {f} | {n} | ~{ratio * n:.0f} ({ratio:.4f}) | {vmiss} ({vmiss / vn:.4f}){'' if same else ' DIFFERENT'} | "
          f"{mqps:.2f} | {vn / vwall / 1e6:.2f}, {inner:.2f} | {n / lcpu / 1e6:.2f} | {vn / vcpu / 1e6:.2f} | "
          f"{(vn / vcpu) / (n / lcpu):.2f}x |")
sys.exit(0 if ok else 1)
PY
