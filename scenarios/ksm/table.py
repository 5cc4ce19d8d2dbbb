#!/usr/bin/env python3
"""The pages_to_scan table (README.md) from a finished sweep of sweep-pages-to-scan.json.

Usage: python3 scenarios/ksm/table.py [results/ksm-pages-to-scan]
Mean over seeds. "frames freed" is ksmd's frames_freed (frames actually returned
to the host by merges; COW breaks would take some back, none here: the guests only read); "steady" is the first sample at which the VMs' ksm_merging_pages
reach 95 % of their final sum; "ksmd CPU" is ksmd's CPU time over the run's duration (share of
one core).
"""
import json
import pathlib
import statistics
import sys


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "results/ksm-pages-to-scan")
    index = json.loads((root / "index.json").read_text())
    rows = {}
    for p in index["points"]:
        if p["status"] != "ok":
            sys.exit(f"point {p['id']} is {p['status']}: rerun the sweep")
        r = json.loads((root / p["result"]).read_text())
        d = r["summary"]["kernel"]["daemons"]["ksmd.host0"]
        ts = r["timeseries"]
        t = ts["t_ns"]
        merging = [sum(v["kernel"]["ksm"]["ksm_merging_pages"][i] for v in ts["vms"].values()) for i in range(len(t))]
        final = merging[-1]
        steady = next((t[i] / 1e9 for i, m in enumerate(merging) if final and m >= 0.95 * final), None)
        dur = r["scenario"]["duration"] if isinstance(r["scenario"]["duration"], int) else t[-1]
        rows.setdefault(p["values"]["/kernel/ksm/pages_to_scan"], []).append({
            "shared": d["pages_shared"], "sharing": d["pages_sharing"], "full_scans": d["full_scans"],
            "saved": d["frames_freed"] - d["cow_breaks"], "steady": steady, "cpu": d["cpu_ns"] / dur,
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
