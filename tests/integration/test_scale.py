"""The scale scenarios (scenarios/scale/): a scaled-down fleet-16x16 runs with faults served
inline, and tib.json is refused up front, with the estimate per mechanism, when its state would
not fit the memory allowed (the full runs take minutes: bench/README.md has their figures)."""
import json
import os
from harness import *

d = tmpdir()
fleet = os.path.join(SRC, "scenarios", "scale", "fleet-16x16.json")
tib = os.path.join(SRC, "scenarios", "scale", "tib.json")
for f in (fleet, tib):
    p = run(["validate", f])
    check(p.returncode == 0, f"{os.path.basename(f)} validates")

# fleet-16x16 shrunk: 4 VMs x 64 MiB x 4 vCPUs, 0.3 s
out = os.path.join(d, "fleet")
p = run_scenario(fleet, out, ["--set", "/vms/0/count=2", "--set", "/vms/1/count=2", "--set", '/vms/0/memory="64MiB"',
                              "--set", '/vms/1/memory="64MiB"', "--set", '/duration="300ms"',
                              "--set", '/output/sampling_interval="100ms"', "--set", '/output/wss_windows=["100ms"]',
                              "--set", '/vms/0/vmm/interval="50ms"', "--set", '/vms/1/vmm/interval="50ms"'])
check(p.returncode == 0, "scaled-down fleet runs")
vms = load(os.path.join(out, "result.json"))["summary"]["vms"]
check(len(vms) == 4, "four VMs")
check(all(v["vmm"]["first_touch_faults"] > 0 and v["vmm"]["evicted_pages"] > 0 for v in vms.values()),
      "every VM's handler serves first touches and its agent evicts")

# tib.json with 8 GiB allowed: refused before anything is allocated, naming the VM entry and
# the bytes per page of each mechanism it turns on.
p = run(["run", tib, "--out", os.path.join(d, "tib"), "-q", "--max-memory", "8GiB"])
check(p.returncode == 2, f"tib.json past --max-memory exits 2 (got {p.returncode})")
check("/vms/0/memory" in p.stderr and "allowed by --max-memory" in p.stderr, "names the key and the limit")
check("67108864 pages x 68 B" in p.stderr, "states pages x bytes per page")
for m in ["page table + ground truth 16", "frame 12", "VMM policy 8", "NUMA balancing 8", "KSM rmap item 12", "content 8"]:
    check(m in p.stderr, f"per-mechanism bytes per page: {m}")
check(not os.path.exists(os.path.join(d, "tib", "result.json")), "no result written")
finish()
