"""The compare trace workload (scenarios/compare: make_trace.py, base-trace.json,
sweep-trace.json): make_trace.py writes the same trace for the same seed; sweep-trace.json runs
every policy of sweep-rfc-v1.json and opt; on a short trace of that pattern, replayed once by the
base's one vCPU, opt (Belady) under `enforce: fault` misses no more than exact-lru with the same
memory target (no prealloc, so misses are faults; a target of 3072 pages, below the hot quarter,
so both evict)."""
import filecmp
import json
import os
import subprocess
from harness import *

d = tmpdir()
cmp_dir = os.path.join(SRC, "scenarios", "compare")
gen = os.path.join(cmp_dir, "make_trace.py")
lk = [os.path.join(d, f"t{i}.lackey") for i in (1, 2)]
for path in lk:
    subprocess.run(["/usr/bin/python3", gen, path, "--refs", "600000"], check=True)
check(filecmp.cmp(lk[0], lk[1], shallow=False), "make_trace.py: same seed, same trace")
pt = os.path.join(d, "t.vmpt")
check(run(["trace", "convert", lk[0], pt]).returncode == 0, "trace convert to pagetrace")

sweep = load(os.path.join(cmp_dir, "sweep-trace.json"))
rfc = load(os.path.join(cmp_dir, "sweep-rfc-v1.json"))
pol = lambda s: [v for a in s["axes"] if a["pointer"] == "/vms/0/vmm" for v in a["values"]]
check(all(v in pol(sweep) for v in pol(rfc)) and any(v["policy"] == "opt" for v in pol(sweep)),
      "sweep-trace.json runs every policy of sweep-rfc-v1.json and opt")

base = load(os.path.join(cmp_dir, "base-trace.json"))
misses = {}
for v in pol(sweep):
    if v["policy"] not in ("exact-lru", "opt"):
        continue
    sc = json.loads(json.dumps(base))
    sc["name"] = f"compare-trace-{v['policy']}"
    sc["duration"] = "3s"
    vm = sc["vms"][0]
    vm["workload"]["path"] = pt
    # Without prealloc every page's first write is a fault, so `enforce: fault` holds the target
    # at every miss (a preallocated guest never faults until something is evicted).
    vm.pop("prealloc_node")
    vm["vmm"] = dict(v, enforce="fault", interval="10ms", memory_target=3072 * 4096)
    out = os.path.join(d, sc["name"])
    if check(run_scenario(write_scenario(sc, d), out).returncode == 0, f"{v['policy']} on the trace runs"):
        m = load(os.path.join(out, "result.json"))["summary"]["vms"]["guest"]["vmm"]
        misses[v["policy"]] = m["first_touch_faults"] + m["fetched_pages"]
        check(m["evicted_pages"] > 0, f"{v['policy']}: the target binds ({m['evicted_pages']} evicted)")
print(misses)
if len(misses) == 2:
    check(0 < misses["opt"] <= misses["exact-lru"], f"opt misses {misses['opt']} <= exact-lru {misses['exact-lru']}")
finish()
