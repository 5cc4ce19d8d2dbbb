#!/usr/bin/env python3
"""The policy comparison (README.md): per workload and policy, mean over seeds, against the run
with no policy ('none') of the same workload, seed and kernel variant.

Usage: python3 scenarios/compare/table.py RESULTS_DIR... [--plot compare.png]
  (run.sh: results/compare-rfc-v1 results/compare-rwp)
       python3 scenarios/compare/table.py --vcpus results/compare-vcpus   (Q3: TLB cost by vCPU count)

Columns:
  memory saved   1 - (frame-seconds resident with the policy) / (frame-seconds with none),
                 from the resident-pages series
  slowdown       vCPU time stalled (uffd + swap-in + mmap lock) / vCPU time
  served         accesses served / accesses with none
  refaults/GiB   pages fetched back per GiB evicted
  false-cold     evictions fetched back within the policy's refault window / evictions
  WSS error      mean |estimate - truth| / truth over the policy's scans (scan-based trackers)
  tracking CPU   VMM CPU for marking and scanning (ioctl + scan), ms; demand paging = handler CPU
  TLB flushes    flushes of the guest's mm (the VMM's and the kernel's)
  lost writes    the lost-write oracle's count
"""
import json
import pathlib
import statistics
import sys

WORKLOADS = ["stable", "shifting", "read-mostly", "write-heavy", "scan-polluted"]


def workload_name(sweep_axes, value):
    for a in sweep_axes:
        if a["pointer"] == "/vms/0/workload":
            return WORKLOADS[a["values"].index(value)]
    return "?"


def load(root):
    root = pathlib.Path(root)
    index = json.loads((root / "index.json").read_text())
    axes = index["axes"]
    runs = []
    for p in index["points"]:
        if p["status"] != "ok":
            sys.exit(f"{root}: point {p['id']} is {p['status']}: rerun the sweep")
        r = json.loads((root / p["result"]).read_text())
        sc = r["scenario"]
        v = r["summary"]["vms"]["guest"]
        t = r["timeseries"]["vms"]["guest"]
        vmm = v.get("vmm", {})
        res = t["resident_pages"]
        resident = [sum(x) for x in zip(*res.values())] if isinstance(res, dict) else res
        est, tru = t.get("wss_estimate_pages", []), t.get("wss_scan_true_pages", [])
        errs = [abs(e - u) / u for e, u in zip(est, tru) if u > 0 and e > 0]
        tn = v["time_ns"]
        cpu = vmm.get("cpu_ns", {})
        runs.append({
            "variant": sc["kernel"]["variant"], "workload": workload_name(axes, p["values"]["/vms/0/workload"]),
            "policy": p["values"]["/vms/0/vmm"]["policy"], "seed": p["values"]["/seed"],
            "frame_s": sum(resident), "accesses": v["accesses"],
            "stall": (tn["uffd_stall"] + tn["swap_in_stall"] + tn["mmap_lock_stall"]) / (sc["duration"] * v["vcpus"]),
            "evicted": vmm.get("evicted_pages", 0), "fetched": vmm.get("fetched_pages", 0),
            "false_cold": vmm.get("false_cold_evictions", 0),
            "wss_err": statistics.mean(errs) if errs else None,
            "track_ms": (cpu.get("ioctl", 0) + cpu.get("scan", 0)) / 1e6, "demand_ms": cpu.get("handler", 0) / 1e6,
            "tlb": v["counters"]["mm"]["tlb_flushes"], "lost": vmm.get("lost_writes", 0),
        })
    return runs


def vcpus(root):
    """sweep-vcpus.json: TLB shootdowns and their IPI time per vCPU, by tracking mechanism."""
    root = pathlib.Path(root)
    index = json.loads((root / "index.json").read_text())
    rows = {}
    for p in index["points"]:
        if p["status"] != "ok":
            sys.exit(f"{root}: point {p['id']} is {p['status']}: rerun the sweep")
        r = json.loads((root / p["result"]).read_text())
        v = r["summary"]["vms"]["guest"]
        vmm = v.get("vmm", {})
        n = v["vcpus"]
        dur = r["scenario"]["duration"]
        rows.setdefault((p["values"]["/vms/0/vmm"]["policy"], n), []).append({
            "ioctls": vmm.get("ioctls", 0), "flushes": v["counters"]["mm"]["tlb_flushes"],
            "ipi_ms": v["time_ns"]["tlb_ipi"] / n / 1e6, "ipi_share": v["time_ns"]["tlb_ipi"] / (dur * n),
            "track_ms": (vmm.get("cpu_ns", {}).get("ioctl", 0) + vmm.get("cpu_ns", {}).get("scan", 0)) / 1e6,
            "saved": vmm.get("evicted_now", 0),
        })
    print("| policy | vCPUs | seeds | ioctls | TLB flushes | IPI time per vCPU (ms) | share of vCPU time | tracking CPU (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for (pol, n) in sorted(rows):
        rs = rows[(pol, n)]
        m = lambda k, f: f.format(statistics.mean(x[k] for x in rs))
        print(f"| {pol} | {n} | {len(rs)} | {m('ioctls', '{:.0f}')} | {m('flushes', '{:.0f}')} | {m('ipi_ms', '{:.2f}')} | "
              f"{m('ipi_share', '{:.3%}')} | {m('track_ms', '{:.1f}')} |")


def main():
    args = sys.argv[1:]
    if args and args[0] == "--vcpus":
        return vcpus(args[1] if len(args) > 1 else "results/compare-vcpus")
    plot = None
    if "--plot" in args:
        i = args.index("--plot")
        plot = args[i + 1]
        del args[i:i + 2]
    runs = [r for a in (args or ["results/compare-rfc-v1", "results/compare-rwp"]) for r in load(a)]
    ref = {(r["variant"], r["workload"], r["seed"]): r for r in runs if r["policy"] == "none"}
    rows = {}
    for r in runs:
        if r["policy"] == "none":
            continue
        n = ref[(r["variant"], r["workload"], r["seed"])]
        rows.setdefault((r["workload"], r["variant"], r["policy"]), []).append({
            "saved": 1 - r["frame_s"] / n["frame_s"], "slowdown": r["stall"], "served": r["accesses"] / n["accesses"],
            "refaults_gib": r["fetched"] / (r["evicted"] * 4096 / 2**30) if r["evicted"] else 0.0,
            "false_cold": r["false_cold"] / r["evicted"] if r["evicted"] else 0.0,
            "wss_err": r["wss_err"], "track_ms": r["track_ms"], "demand_ms": r["demand_ms"], "tlb": r["tlb"],
            "lost": r["lost"],
        })
    fmt = [("saved", "memory saved", "{:.0%}"), ("slowdown", "slowdown", "{:.1%}"), ("served", "served", "{:.2f}"),
           ("refaults_gib", "refaults/GiB evicted", "{:.0f}"), ("false_cold", "false-cold", "{:.0%}"),
           ("wss_err", "WSS error", "{:.1%}"), ("track_ms", "tracking CPU (ms)", "{:.1f}"),
           ("demand_ms", "demand-paging CPU (ms)", "{:.0f}"), ("tlb", "TLB flushes", "{:.0f}"), ("lost", "lost writes", "{:.0f}")]
    print("| workload | kernel | policy | seeds | " + " | ".join(f[1] for f in fmt) + " |")
    print("|---|---|---|---|" + "---|" * len(fmt))
    order = {w: i for i, w in enumerate(WORKLOADS)}
    for key in sorted(rows, key=lambda k: (order.get(k[0], 9), k[1], k[2])):
        rs = rows[key]
        cells = []
        for k, _, f in fmt:
            vals = [x[k] for x in rs if x[k] is not None]
            cells.append(f.format(statistics.mean(vals)) if vals else "-")
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(rs)} | " + " | ".join(cells) + " |")
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axs = plt.subplots(1, len(WORKLOADS), figsize=(4 * len(WORKLOADS), 4.2), sharey=True)
        policies = sorted({k[2] + ("" if k[1] == "rfc-v1" else f" ({k[1]})") for k in rows})
        cmap = plt.get_cmap("tab20")
        for ax, w in zip(axs, WORKLOADS):
            for i, pname in enumerate(policies):
                pol, var = (pname.split(" (")[0], pname.split(" (")[1][:-1]) if " (" in pname else (pname, "rfc-v1")
                rs = rows.get((w, var, pol))
                if not rs:
                    continue
                x = 100 * statistics.mean(r["saved"] for r in rs)
                y = 100 * statistics.mean(r["slowdown"] for r in rs)
                ax.scatter([x], [y], color=cmap(i), label=pname, s=40, marker="o" if var == "rfc-v1" else "s")
            ax.set_title(w)
            ax.set_xlabel("memory saved (% of frame-seconds)")
            ax.grid(alpha=0.3)
        axs[0].set_ylabel("slowdown (% of vCPU time stalled)")
        axs[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
        fig.suptitle("Policies on the standard workloads (scenarios/compare, 64 MiB guest, 8 s, mean of 2 seeds): lower right is better")
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
        print(f"wrote {plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
