#!/usr/bin/python3
"""Integration test of the comparison metrics (README "Result file"):

    tests/integration/test_metrics.py <vmemsim-binary> <source-dir>

Runs scenarios/uffd-rwp.json (an RWP-tracking VMM evicting to a tier) with the ssd, compressed
and remote tiers, and checks:
  - fault_time_ns: the in-kernel time by fault kind sums to time_ns.fault, the uffd stalls by
    reason to time_ns.uffd_stall, and the stall causes match the time_ns stall entries;
  - vmm.cpu_ns: tracking + eviction + demand_paging == total == scan + ioctl + handler, with
    tracking and demand paging both non-zero;
  - far_memory_slo: the refaults are the VMM's fetched pages plus kernel swap-ins, and the rate
    is recomputed from the time series' true WSS;
  - plot labels (tools/plot_lib/results.py): the runs are told apart by the tier kind.
Exit 0 = pass, 1 = fail.
"""
import json
import os
import subprocess
import sys
import tempfile

FAILS = []


def check(cond, what, detail=""):
    print(f"{'ok  ' if cond else 'FAIL'} {what}" + (f"  -- {detail}" if detail and not cond else ""))
    if not cond:
        FAILS.append(what)
    return cond


def run(binary, src, out, sets):
    cmd = [binary, "run", "-q", os.path.join(src, "scenarios", "uffd-rwp.json"), "--out", out]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "result.json")) as f:
        return json.load(f)


def main():
    binary, src = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vmemsim-metrics-")
    server = '/memory_servers=[{"name":"ms0"}]'
    variants = {
        "ssd": [],
        "compressed": ["/vms/0/vmm/tier/kind=compressed"],
        "remote": [server, '/vms/0/vmm/tier={"kind":"remote","server":"ms0"}'],
    }
    results = {k: run(binary, src, os.path.join(tmp, k), s) for k, s in variants.items()}

    for name, r in results.items():
        dur_min = r["scenario"]["duration"] / 60e9
        for vm, v in r["summary"]["vms"].items():
            where = f"{name}/{vm}"
            ft, tn = v["fault_time_ns"], v["time_ns"]
            check(sum(ft["in_kernel"].values()) == ft["in_kernel_total"] == tn["fault"],
                  f"{where}: in-kernel fault time by kind sums to time_ns.fault",
                  f"{sum(ft['in_kernel'].values())} vs {ft['in_kernel_total']} vs {tn['fault']}")
            uffd = sum(x for k, x in ft["stall"].items() if k.startswith("uffd_"))
            check(uffd == tn["uffd_stall"], f"{where}: uffd stalls by reason sum to time_ns.uffd_stall",
                  f"{uffd} vs {tn['uffd_stall']}")
            check(ft["stall"]["swap_in"] == tn["swap_in_stall"] and ft["stall"]["mmap_lock"] == tn["mmap_lock_stall"]
                  and ft["stall"]["direct_reclaim"] == tn["direct_reclaim"], f"{where}: stall causes match time_ns")
            check(sum(ft["stall"].values()) == ft["stall_total"] and ft["total"] == ft["stall_total"] + ft["in_kernel_total"],
                  f"{where}: fault_time_ns totals add up")
            # RWP tracking: the sync RWP faults and the MISSING refetches both cost time
            check(ft["in_kernel"]["uffd_missing"] > 0 and ft["stall"]["uffd_missing"] > 0,
                  f"{where}: MISSING faults have in-kernel and stall time")
            faults = v["counters"]["mm"]["faults"]
            for k, ns in ft["in_kernel"].items():
                if k in faults and faults[k] == 0:
                    check(ns == 0, f"{where}: no time for fault kind {k} that never happened", str(ns))

            cpu = v["vmm"]["cpu_ns"]
            check(cpu["tracking"] + cpu["eviction"] + cpu["demand_paging"] == cpu["total"],
                  f"{where}: tracking + eviction + demand_paging CPU == total", json.dumps(cpu))
            check(cpu["scan"] + cpu["ioctl"] + cpu["handler"] == cpu["total"],
                  f"{where}: scan + ioctl + handler CPU == total", json.dumps(cpu))
            check(cpu["tracking"] > 0 and cpu["demand_paging"] > 0 and cpu["eviction"] > 0,
                  f"{where}: every use has CPU time", json.dumps(cpu))
            check(cpu["tracking"] >= cpu["scan"], f"{where}: scan time is tracking time")

            slo = v["far_memory_slo"]
            refaults = v["vmm"]["fetched_pages"] + faults.get("swap_in", 0)
            check(slo["refaulted_pages"] == refaults > 0, f"{where}: refaults = fetched pages + swap-ins",
                  f"{slo['refaulted_pages']} vs {refaults}")
            series = r["timeseries"]["vms"][vm]["true_wss_pages"][slo["wss_window"]]
            mean = sum(series) / len(series)
            rate = 100.0 * refaults / mean / dur_min
            check(abs(slo["true_wss_mean_pages"] - mean) < 1e-6 * mean and abs(slo["refault_pct_of_wss_per_min"] - rate) < 1e-9 * rate,
                  f"{where}: refault rate as % of true WSS per minute", f"{slo} vs {rate}")
            check(slo["meets_target"] == (rate <= slo["target_pct_per_min"]), f"{where}: meets_target")

    sys.path.insert(0, os.path.join(src, "tools"))
    from plot_lib import results as pr  # no matplotlib needed
    runs = [pr.Run.load(os.path.join(tmp, k)) for k in variants]
    telling = pr.telling_params(runs)
    check(telling == ["/vms/0/vmm/tier/kind"], "the tier kind alone tells the runs apart", str(telling))
    labels = pr.run_labels(runs, with_seed=True)
    check(any("guest.vmm.tier.kind=remote" in l for l in labels) and len(set(labels)) == len(labels),
          "legend labels name the differing key", str(labels))
    check(not any("memory_servers" in l for l in labels), "no consequential keys in the labels", str(labels))

    from plot_lib import metrics as pm
    h = pm.Histogram({"bounds_ns": [0, 1e3, 2e3, 4e3, 8e3, 16e3, 32e3], "counts": [0, 0, 0, 0, 3, 1]}, "test")
    xs, ys = h.curve()
    check(xs == [8e3, 16e3, 32e3] and ys == [0.0, 0.75, 1.0], "a CDF curve starts at its first non-empty bucket", f"{xs} {ys}")

    import slo_table
    rows = [{"vm": "a", "cold_age_ns": age, "rate": rate} for age, rate in ((1, 5.0), (2, 0.3), (4, 0.1), (8, 0.0))]
    rows += [{"vm": "b", "cold_age_ns": 1, "rate": 0.5}, {"vm": "c", "cold_age_ns": 2, "rate": 0.1}]
    v = slo_table.choose(rows, 0.2)
    check(v["a"][0] == 4 and v["b"][0] is None and v["c"][0] == 2 and "shorter" in v["c"][1],
          "slo_table picks the shortest cold age under the target", str(v))
    out = subprocess.run([sys.executable, os.path.join(src, "tools", "slo_table.py")] + [os.path.join(tmp, k) for k in variants],
                         capture_output=True, text=True)
    check(out.returncode == 0 and "guest.vmm.tier.kind=remote" in out.stdout and "cold age for <= 0.2 %/min" in out.stdout,
          "slo_table prints the table", out.stdout + out.stderr)

    print(f"{len(FAILS)} failure(s)" if FAILS else "all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
