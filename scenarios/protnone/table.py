#!/usr/bin/env python3
"""The protnone comparison table (README.md) from a finished sweep of sweep.json.

Usage: python3 scenarios/protnone/table.py [results/protnone-sweep]
       python3 scenarios/protnone/table.py --paths SEED [results/protnone-sweep]
         (the result directories of one seed, in the table's order, for vmemsim-plot)
Every figure is read from the points' result.json files (mean +- standard deviation over the
seeds); nothing is computed from the configuration's name.
  locality        share of the guest's accesses served by the node its vCPU ran on, over the
                  last second (timeseries remote_ratio)
  t80             first sampling instant at which locality reached 80 % ("-" if never)
  migrated        numa_pages_migrated
  task moves      numa_task_migrated + numa_task_swapped (vCPUs moved to their memory)
  spurious        uffd notifications for a PROT_NONE that uffd did not set (ground truth)
  lost samples    change_prot_numa() found the PTE already PROT_NONE from uffd (ground truth)
  false cold      pages PAGEMAP_SCAN reported cold while they were in use, and of those the ones
                  whose PROT_NONE was the NUMA scanner's (ground truth)
  refetched early false_cold_evictions: evicted pages fetched back within age_threshold scans
  stall           vCPU time blocked in sync userfaults, s (all 4 vCPUs)
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import points, result_paths  # noqa: E402

ORDER = ["numa-off", "upstream", "rfcv1-nopatch", "rfcv1-skip", "rfcv1-skip-feed", "rwp"]


def metrics(r):
    v = r["summary"]["vms"]["guest"]
    ts = r["timeseries"]
    t = ts["t_ns"]
    rr = ts["vms"]["guest"]["remote_ratio"]
    dt = t[1] - t[0]
    last = max(1, int(1e9 // dt))
    loc = [1 - x for x in rr]
    t80 = next((t[i] / 1e9 for i, x in enumerate(loc) if x >= 0.8), None)
    numa = v.get("kernel", {}).get("numa", {})
    vmm = v.get("vmm", {})
    return {
        "locality": sum(loc[-last:]) / last,
        "t80": t80,
        "migrated": numa.get("numa_pages_migrated", 0),
        "task_moves": numa.get("numa_task_migrated", 0) + numa.get("numa_task_swapped", 0),
        "hint_faults": numa.get("numa_hint_faults", 0),
        "spurious": v["counters"]["mm"]["spurious_uffd"],
        "lost_samples": numa.get("samples_lost_uffd_protnone", 0),
        "false_cold": vmm.get("false_cold_pages_total", 0),
        "false_cold_numa": vmm.get("false_cold_numa_protnone_total", 0),
        "refetched": vmm.get("false_cold_evictions", 0),
        "stall": v["time_ns"]["uffd_stall"] / 1e9,
    }


def fmt(xs, spec):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    m = statistics.mean(xs)
    s = statistics.pstdev(xs) if len(xs) > 1 else 0.0
    return (spec.format(m) + (" ± " + spec.format(s) if s > 0 else "")) if xs else "-"


def main():
    args = sys.argv[1:]
    seed = None
    if args[:1] == ["--paths"]:
        seed = int(args[1])
        args = args[2:]
    root = pathlib.Path(args[0] if args else "results/protnone-sweep")
    if seed is not None:
        by_name = {v["/name"].removeprefix("protnone-"): path for v, path in result_paths(root) if v["/seed"] == seed}
        print(" ".join(str(by_name[n].parent) for n in ORDER if n in by_name))
        return
    runs = {}
    for v, r in points(root):
        runs.setdefault(v["/name"].removeprefix("protnone-"), []).append(metrics(r))
    cols = [("locality", "{:.2f}"), ("t80", "{:.2f}"), ("migrated", "{:.0f}"), ("task_moves", "{:.0f}"),
            ("hint_faults", "{:.0f}"), ("spurious", "{:.0f}"), ("lost_samples", "{:.0f}"), ("false_cold", "{:.0f}"),
            ("false_cold_numa", "{:.0f}"), ("refetched", "{:.0f}"), ("stall", "{:.2f}")]
    head = ["config", "seeds", "locality (last 1 s)", "t to 80 % local (s)", "pages migrated", "vCPU moves",
            "NUMA hint faults", "spurious uffd", "NUMA samples lost to uffd", "false-cold pages",
            "… NUMA's PROT_NONE", "evicted, refetched early", "vCPU stall (s)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * len(head)) + "|")
    for name in ORDER + sorted(set(runs) - set(ORDER)):
        if name not in runs:
            continue
        rs = runs[name]
        cells = [name, str(len(rs))] + [fmt([r[c] for r in rs], spec) for c, spec in cols]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
