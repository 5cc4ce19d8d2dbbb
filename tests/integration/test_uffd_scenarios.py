"""Scenario-level checks of the userfaultfd working-set workflow, one per kernel variant and
backing, each showing its mechanism at work in result.json (issue: uffd model and VMM loop)."""
import os
from harness import *

d = tmpdir()


def run_example(name, extra=(), tag=None):
    out = os.path.join(d, tag or name)
    p = run_scenario(os.path.join(SRC, "scenarios", name + ".json"), out, list(extra))
    check(p.returncode == 0, f"{name} {' '.join(extra)} runs")
    return load(os.path.join(out, "result.json")), out


def vm(r):
    return r["summary"]["vms"]["guest"]


# rfc-v1, anon: DEACTIVATE + PAGE_IS_UFFD_DEACTIVATED, eviction to the SSD under SET_MODE(sync)
r, out = run_example("uffd-anon-async", ["--timeline", os.path.join(d, "trace.json")])
v = vm(r)
f, m = v["counters"]["mm"]["faults"], v["vmm"]
check(m["evicted_pages"] > 1000 and m["fetched_pages"] > 0, f"cold pages evicted ({m['evicted_pages']}) and fetched back ({m['fetched_pages']})")
check(m["lost_writes"] == 0 and m["eviction_read_faults"] == 0,
      "the seed workflow reading victims with O_DIRECT (GUP follows plain PROT_NONE) loses no write")
rb, _ = run_example("uffd-anon-async", ["--set", "/vms/0/vmm/read_via=buffered"], "anon-buffered")
mb = vm(rb)["vmm"]
check(mb["eviction_read_faults"] == mb["evicted_pages"] and mb["lost_writes"] > 0,
      f"a buffered pwrite faults on each victim ({mb['eviction_read_faults']}) and opens the window ({mb['lost_writes']} lost)")
check(f["uffd_minor_async"] > 0 and f["wp_reuse"] > 0, "async minor faults restore without mkwrite: writes take a wp fault")
check(f["uffd_missing"] > 0 and v["histograms"]["stall_latency_ns"]["count"] > 0, "MISSING faults stall vCPUs")
check(m["tier_bytes"]["read"] == m["fetched_pages"] * 4096, "tier bytes read = fetched pages x 4 KiB")
check(v["time_ns"]["uffd_stall"] > 0 and m["cpu_ns"]["scan"] > 0 and m["tlb_flushes"] > 0, "stall time and tracking cost reported")
check(abs(m["last_scan"]["wss_estimate_pages"] - m["last_scan"]["wss_true_pages"]) < 0.2 * m["last_scan"]["wss_true_pages"],
      f"working-set estimate {m['last_scan']['wss_estimate_pages']} close to truth {m['last_scan']['wss_true_pages']}")
ts = r["timeseries"]["vms"]["guest"]
check(max(ts["evicted_pages"]) > 0 and len(ts["evicted_pages"]) == len(r["timeseries"]["t_ns"]), "evicted pages over time")
trace = load(os.path.join(d, "trace.json"))
names = {e["name"] for e in trace["traceEvents"] if e["ph"] == "X"}
check({"mark", "scan", "evict", "set_mode(sync)", "set_mode(async)", "missing"} <= names, f"timeline slices {sorted(names)}")

# shmem: DEACTIVATE zaps, cold = !PRESENT, eviction adds PUNCH_HOLE
r, _ = run_example("uffd-shmem")
v = vm(r)
f, m = v["counters"]["mm"]["faults"], v["vmm"]
check(m["evicted_pages"] > 1000 and m["lost_writes"] == 0, "shmem: cold pages evicted, no write lost")
check(f["uffd_minor_async"] > 0 and f["wp_reuse"] == 0 and f["cow_zero"] == 0, "shmem: minor faults map the page cache, no COW")

# rwp: the uffd bit, mkwrite on async restore, GUP faults on RWP PTEs
r, _ = run_example("uffd-rwp")
v = vm(r)
f, m, c = v["counters"]["mm"]["faults"], v["vmm"], v["counters"]["mm"]
check(f["uffd_rwp_async"] > 0 and f["wp_reuse"] == 0 and f["uffd_minor_async"] == 0, "rwp: async restore with mkwrite")
check(v["device_accesses"] > 0 and c["gup_invisible"] == 0, "rwp: device accesses through GUP fault on RWP PTEs")
# The VMM's own O_DIRECT read of each victim is a GUP too: with the guard it faults on every
# evicted page, the handler unprotects it, and a vCPU write that lands before MADV_DONTNEED is lost.
check(m["evicted_pages"] > 0 and m["eviction_read_faults"] == m["evicted_pages"],
      f"rwp: the VMM's GUP read of each victim faults ({m['eviction_read_faults']} of {m['evicted_pages']})")
check(m["lost_writes"] > 0, f"rwp: writes through the unprotected window are lost ({m['lost_writes']})")
r2, _ = run_example("uffd-rwp", ["--set", "/kernel/patches/gup_rwp_fault=false"], "rwp-noguard")
v2 = vm(r2)
check(v2["counters"]["mm"]["gup_invisible"] > 0, "without the 07/14 guard GUP follows PROT_NONE unseen")
check(v2["vmm"]["eviction_read_faults"] == 0 and v2["vmm"]["lost_writes"] == 0,
      "... the VMM's read then leaves the page protected, and no write is lost")
check(v2["vmm"]["false_cold_pages_total"] > v["vmm"]["false_cold_pages_total"],
      f"... and the scan calls those pages cold ({v2['vmm']['false_cold_pages_total']} vs {v['vmm']['false_cold_pages_total']})")

# the lost-write oracle: naive async eviction loses writes, the seed workflow does not
r, _ = run_example("naive-async-loses-writes")
m = vm(r)["vmm"]
check(m["lost_writes"] > 0 and len(m["lost_writes_first"]) > 0, f"naive-async loses writes ({m['lost_writes']})")
lw = m["lost_writes_first"][0]
check(lw["latest_version"] > lw["fetched_version"], "a lost write: the fetched copy is older than the latest write")
r, _ = run_example("naive-async-loses-writes", ["--set", "/vms/0/vmm/policy=uffd-ws"], "naive-as-seed")
check(vm(r)["vmm"]["lost_writes"] == 0, "the same workload under the seed workflow loses none")

# other tiers: compressed pool (CPU) and a remote memory server (over the NICs)
r, _ = run_example("uffd-anon-async", ["--set", "/vms/0/vmm/tier/kind=compressed"], "compressed")
check(vm(r)["vmm"]["evicted_pages"] > 0 and vm(r)["vmm"]["tier"] == "compressed", "compressed tier")
r, _ = run_example("uffd-anon-async", ["--set", '/memory_servers=[{"name": "mem0"}]',
                                       "--set", "/vms/0/vmm/tier/kind=remote"], "remote")
check(vm(r)["vmm"]["evicted_pages"] > 0 and vm(r)["vmm"]["tier"] == "remote", "remote memory tier")

# a feature the variant lacks is refused up front, as the kernel's EINVAL would be
p = run(["validate", "scenarios/uffd-anon-async.json", "--set", "/kernel/variant=upstream"])
check(p.returncode == 2 and "/vms/0/vmm/policy" in p.stderr and "EINVAL" in p.stderr, "upstream + uffd-ws -> exit 2 (EINVAL)")

# frame accounting, rmap, PTE/page-cache consistency at every sample, with evictions racing
for name in ["naive-async-loses-writes", "uffd-shmem"]:
    run_example(name, ["--check-invariants", "--set", '/duration="1s"'], name + "-inv")

# determinism with every actor kind in play
a, _ = run_example("naive-async-loses-writes", [], "det-a")
b, _ = run_example("naive-async-loses-writes", [], "det-b")
check(open(os.path.join(d, "det-a", "result.json"), "rb").read() == open(os.path.join(d, "det-b", "result.json"), "rb").read(),
      "uffd runs are byte-identical")
finish()
