#!/usr/bin/env python3
"""The tables of README.md from finished sweeps.

Usage: python3 scenarios/ksm/table.py [results/ksm-pages-to-scan]
       python3 scenarios/ksm/table.py --evict [results/ksm-evict]

pages_to_scan table (sweep-pages-to-scan.json). Mean over seeds. "frames freed" is ksmd's
frames_freed (frames merges returned to the host) less its COW breaks (none here: the guests
only read); "steady sharing at" is ksmd's summary steady_sharing.at_ns (the end of the first
full scan from which pages_sharing + ksm_zero_pages stays within 1 % of its final value);
"ksmd CPU" is its summary cpu_share (CPU time over the run's duration, share of one core).
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import points  # noqa: E402


def evict_table(root):
    """KSM + eviction (sweep-evict.json), mean over seeds. Frames in use: the host's used
    frames averaged over the second half of the run (the first is the boot and the first
    scans); "saved" is against the `neither` rows of the same seed. KSM's part is ksmd's live
    frames_saved (KSM pages' extra mappers + KSM zero pages) averaged over the same samples;
    eviction's part is the pages the VMMs hold in the tier at the end. "DEACTIVATE undone" is
    ksmd's protnone_lost_truth: merges whose rebuilt PTE dropped a still-armed DEACTIVATE, so
    the page looked used to the next PAGEMAP_SCAN."""
    runs = {}
    for values, r in points(root):
        evict = values["/vms/0/vmm"]["policy"] != "none"
        ksm = values["/kernel/ksm/run"] == 1
        name = {(False, False): "neither", (True, False): "KSM alone", (False, True): "eviction alone",
                (True, True): "both"}[(ksm, evict)]
        ts = r["timeseries"]
        t = ts["t_ns"]
        half = [i for i, x in enumerate(t) if x > t[-1] / 2]
        node = r["summary"]["hosts"]["host0"]["nodes"]["node0"]
        free = ts["hosts"]["host0"]["free_pages"]["node0"]
        used = statistics.mean(node["capacity_pages"] - free[i] for i in half)
        vms = r["summary"]["vms"].values()
        d = r["summary"]["kernel"]["daemons"].get("ksmd.host0")
        dts = ts["kernel"]["daemons"].get("ksmd.host0")
        row = {
            "used": used,
            "ksm_saved": statistics.mean(dts["frames_saved"][i] for i in half) if dts else 0,
            "tier": sum(v["vmm"]["tier_bytes"]["stored"] for v in vms if "vmm" in v) / 4096,
            "false_cold": sum(v["vmm"]["false_cold_evictions"] for v in vms if "vmm" in v),
            "stall": sum(v["time_ns"]["uffd_stall"] for v in vms) / 1e9,
            "acc": sum(v["accesses"] for v in vms) / 1e6,
            "cow": d["cow_breaks"] if d else None,
            "undone": d["protnone_lost_truth"] if d else None,
            "cpu": d["cpu_share"] if d else None,
        }
        runs[(name, values["/seed"])] = row
    order = ["neither", "KSM alone", "eviction alone", "both"]
    print("| configuration | seeds | host frames in use | saved vs neither | of which KSM | pages in the tier | "
          "false-cold evictions | vCPU uffd stall (s) | accesses (M) | COW breaks | DEACTIVATE undone by merges | ksmd CPU (share of a core) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in order:
        rs = [(s, r) for (n, s), r in sorted(runs.items()) if n == name]
        for s, r in rs:
            r["saved"] = runs[("neither", s)]["used"] - r["used"]
        m = lambda key, f: "-" if any(r[key] is None for _, r in rs) else f.format(statistics.mean(r[key] for _, r in rs))
        print(f"| {name} | {len(rs)} | {m('used', '{:.0f}')} | {m('saved', '{:.0f}')} | {m('ksm_saved', '{:.0f}')} | "
              f"{m('tier', '{:.0f}')} | {m('false_cold', '{:.0f}')} | {m('stall', '{:.2f}')} | {m('acc', '{:.1f}')} | "
              f"{m('cow', '{:.0f}')} | {m('undone', '{:.0f}')} | {m('cpu', '{:.3f}')} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--evict":
        return evict_table(pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "results/ksm-evict"))
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "results/ksm-pages-to-scan")
    rows = {}
    for values, r in points(root):
        d = r["summary"]["kernel"]["daemons"]["ksmd.host0"]
        steady = d["steady_sharing"]["at_ns"] / 1e9 if d["steady_sharing"]["reached"] else None
        rows.setdefault(values["/kernel/ksm/pages_to_scan"], []).append({
            "shared": d["pages_shared"], "sharing": d["pages_sharing"], "full_scans": d["full_scans"],
            "saved": d["frames_freed"] - d["cow_breaks"], "steady": steady, "cpu": d["cpu_share"],
        })
    print("| pages_to_scan | seeds | pages_shared | pages_sharing | full scans | frames freed | steady sharing at (s) | ksmd CPU (share of a core) |")
    print("|---|---|---|---|---|---|---|---|")
    for k in sorted(rows):
        rs = rows[k]
        m = lambda key, f: "-" if any(r[key] is None for r in rs) else f.format(statistics.mean(r[key] for r in rs))
        print(f"| {k} | {len(rs)} | {m('shared', '{:.0f}')} | {m('sharing', '{:.0f}')} | {m('full_scans', '{:.0f}')} | "
              f"{m('saved', '{:.0f}')} | {m('steady', '{:.2f}')} | {m('cpu', '{:.3f}')} |")


if __name__ == "__main__":
    main()
