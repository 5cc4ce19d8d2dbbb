"""A scenario small enough to check by hand (README "Checking a result by hand").

One VM, one vCPU, 1 MiB of anon memory (256 pages), a sequential all-write scan at 1 M
accesses/s (1000 ns per access: 90 ns local DRAM + 910 ns compute), 10 ms.
- The first pass touches each page once: 256 anon_alloc faults, each 1500 ns fault + 250 ns
  clearing = 1750 ns, 448000 ns in all; no zero-page maps since every access writes.
- Accesses issue while the vCPU's time is below 10 ms: after n accesses (n >= 256) the time is
  n * 1000 + 448000 ns, so the last access starts at (n - 1) * 1000 + 448000 < 10^7, n = 9552.
- Everything is on node 0 (the vCPU's node): remote ratio 0, 256 resident pages there.
- The true working set over any 1 ms window after the first pass is all 256 pages.
"""
import os
from harness import *

d = tmpdir()
doc = {
    "name": "handcheck",
    "seed": 7,
    "duration": "10ms",
    "quantum": "100us",
    "hosts": [{"name": "h", "nodes": [{"cores": 1, "memory": "64MiB"}, {"cores": 1, "memory": "64MiB"}]}],
    "vms": [{"name": "vm", "vcpus": 1, "memory": "1MiB",
             "workload": {"type": "sequential", "write_ratio": 1.0, "rate": "1M"}}],
    "output": {"sampling_interval": "1ms", "wss_windows": ["1ms", "10ms"]},
}
path = write_scenario(doc, d)
p = run_scenario(path, os.path.join(d, "out"))
check(p.returncode == 0, "tiny scenario runs")
r = load(os.path.join(d, "out", "result.json"))
vm = r["summary"]["vms"]["vm"]
faults = vm["counters"]["mm"]["faults"]
check(faults["anon_alloc"] == 256, f"256 first-touch faults (got {faults['anon_alloc']})")
check(faults["zero_map"] == 0 and faults["cow_zero"] == 0, "no zero-page traffic for an all-write stream")
check(vm["accesses"] == 9552, f"9552 accesses in 10 ms (got {vm['accesses']})")
check(vm["writes"] == vm["accesses"], "every access is a write")
check(vm["remote_ratio"] == 0.0, "all accesses local")
check(vm["resident_pages"] == {"node0": 256, "node1": 0}, f"256 pages on node 0 (got {vm['resident_pages']})")
check(vm["time_ns"]["fault"] == 256 * 1750, "fault time 256 x 1750 ns")
check(vm["time_ns"]["memory"] == 9552 * 90, "DRAM time 9552 x 90 ns")
check(vm["true_wss_pages"]["1ms"] == 256 and vm["true_wss_pages"]["10ms"] == 256, "true WSS = 256 pages")
ts = r["timeseries"]
check(ts["t_ns"] == [i * 1000000 for i in range(1, 11)], "10 samples at 1 ms")
check(sum(ts["vms"]["vm"]["accesses"]) == 9552, "per-interval accesses sum to the total")
check(ts["vms"]["vm"]["resident_pages"]["node0"][-1] == 256, "resident series ends at 256")
check(r["scenario"]["quantum"] == 100000 and r["scenario"]["duration"] == 10000000,
      "resolved scenario keeps base units")
host = r["summary"]["hosts"]["h"]["nodes"]
check(host["node0"]["used_pages"] == 256 and host["node0"]["capacity_pages"] == 16384, "host frame accounting")

# --check-invariants walks frames, rmap and PTEs at every sample.
p = run_scenario(path, os.path.join(d, "inv"), ["--check-invariants"])
check(p.returncode == 0, "--check-invariants passes")
finish()
