#!/usr/bin/env python3
"""The tiering table (README.md) from a finished sweep of sweep.json, mean over seeds.

Usage: python3 scenarios/tiering/table.py [results/tiering-modes]
       python3 scenarios/tiering/table.py --demotion [results/tiering-demotion]
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import points  # noqa: E402

MODES = {0: "0 off", 1: "1 normal", 2: "2 memory tiering", 3: "3 both"}


def demotion(root):
    """sweep-demotion.json: kernel reclaim on a tiered host, with and without demotion."""
    rows = {}
    for values, r in points(root):
        v = r["summary"]["vms"]["guest"]
        k = r["summary"]["kernel"]["daemons"]["kswapd0.host0"]
        n = v.get("kernel", {}).get("numa", {})
        rr = r["timeseries"]["vms"]["guest"]["remote_ratio"]
        dur = r["scenario"]["duration"] / 1e9
        rows.setdefault(values["/kernel/reclaim/demotion_enabled"], []).append({
            "wakeups": k["kswapd_wakeups"], "demoted": k["pgdemote_kswapd"] + k["pgdemote_direct"],
            "pswpout": k["pswpout"], "pswpin": k["pswpin"], "promoted": n.get("pgpromote_success", 0),
            "dram_share": 1 - sum(rr[-4:]) / 4, "mem_ns": v["time_ns"]["memory"] / max(1, v["accesses"]),
            "swap_stall": v["time_ns"]["swap_in_stall"] / 1e9 / (dur * v["vcpus"]), "kswapd_cpu": k["cpu_share"],
        })
    print("| demotion_enabled | seeds | kswapd wakeups | pgdemote | pswpout | pswpin | pgpromote_success | accesses served by DRAM (last 2 s) | mean memory latency (ns) | vCPU time in swap-in | kswapd CPU share |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in sorted(rows):
        rs = rows[mode]
        m = lambda k, f: f.format(statistics.mean(r[k] for r in rs))
        print(f"| {str(mode).lower()} | {len(rs)} | {m('wakeups', '{:.0f}')} | {m('demoted', '{:.0f}')} | {m('pswpout', '{:.0f}')} | "
              f"{m('pswpin', '{:.0f}')} | {m('promoted', '{:.0f}')} | {m('dram_share', '{:.2f}')} | {m('mem_ns', '{:.1f}')} | "
              f"{m('swap_stall', '{:.1%}')} | {m('kswapd_cpu', '{:.3f}')} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--demotion":
        return demotion(pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "results/tiering-demotion"))
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "results/tiering-modes")
    rows = {}
    for values, r in points(root):
        v = r["summary"]["vms"]["guest"]
        n = v.get("kernel", {}).get("numa", {})
        rr = r["timeseries"]["vms"]["guest"]["remote_ratio"]
        rows.setdefault(values["/kernel/numa/numa_balancing"], []).append({
            "dram_share": 1 - sum(rr[-4:]) / 4,
            "migrated": n.get("numa_pages_migrated", 0),
            "promoted": n.get("pgpromote_success", 0),
            "too_cold": n.get("promote", {}).get("too_cold", 0),
            "rate_limited": n.get("promote", {}).get("rate_limited", 0),
            "dram_pages": v["resident_pages"].get("node0", 0),
            "hint_faults": n.get("numa_hint_faults", 0),
            "mem_ns": v["time_ns"]["memory"] / max(1, v["accesses"]),
        })
    print("| numa_balancing | seeds | accesses served by DRAM (last 2 s) | pages migrated | of which pgpromote_success | refused: too cold | refused: rate limit | DRAM-resident pages | hint faults | mean memory latency (ns) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode in sorted(rows):
        rs = rows[mode]
        m = lambda k, f: f.format(statistics.mean(r[k] for r in rs))
        print(f"| {MODES.get(mode, mode)} | {len(rs)} | {m('dram_share', '{:.2f}')} | {m('migrated', '{:.0f}')} | {m('promoted', '{:.0f}')} | "
              f"{m('too_cold', '{:.0f}')} | {m('rate_limited', '{:.0f}')} | {m('dram_pages', '{:.0f}')} | "
              f"{m('hint_faults', '{:.0f}')} | {m('mem_ns', '{:.1f}')} |")


if __name__ == "__main__":
    main()
