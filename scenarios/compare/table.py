#!/usr/bin/env python3
"""The policy comparison (README.md): per workload and policy, mean over seeds, against the run
with no policy ('none') of the same workload, seed and kernel variant.

Usage: python3 scenarios/compare/table.py RESULTS_DIR... [--plot compare.png]
  (run.sh: results/compare-rfc-v1 results/compare-rwp results/compare-shmem results/compare-trace results/compare-ksm)
       python3 scenarios/compare/table.py --vcpus results/compare-vcpus   (Q3: TLB cost by vCPU count)

A sweep whose points set /vms/0/workload runs the standard one-VM workloads (WORKLOADS, in the
order of that axis); a sweep without that axis is the multi-VM KSM workload (base-ksm.json:
three guests from one image, ksmd merging), named "multi-vm-ksm", or the trace workload
(base-trace.json: one VM replaying make_trace.py's trace), named "trace". The per-run figures of a
multi-VM run are summed over its VMs (stall time over all their vCPUs).

Columns:
  memory saved   1 - (frame-seconds of host frames in use with the policy) / (the same with none):
                 the host's frames in use (capacity - free, every node) summed over the samples.
                 With one VM on the host these are its resident frames. With KSM a frame several
                 VMs share counts once, and evicting one sharer's copy frees nothing until every
                 sharer has let go of it; per-VM resident pages would instead charge a shared
                 frame to the VM that allocated it and nothing to the others
  slowdown       vCPU time stalled (uffd + swap-in + mmap lock) / vCPU time
  served         accesses served / accesses with none
  refaults/GiB   pages fetched back per GiB evicted
  false-cold     evictions fetched back within the policy's refault window / evictions
  WSS error      mean |estimate - truth| / truth over the policy's scans (scan-based trackers)
  tracking CPU   VMM CPU for marking and scanning (ioctl + scan), ms; demand paging = handler CPU
  TLB flushes    flushes of the guests' mms (the VMM's and the kernel's)
  lost writes    the lost-write oracle's count
  refault %WSS/min  the far-memory SLO figure (summary.vms.<vm>.far_memory_slo, tools/slo_table.py):
                 pages brought back (VMM refetches + kernel swap-ins) per minute as a percentage of
                 the mean true working set (longest wss window); a multi-VM run pools its VMs
                 (sum of refaults / sum of mean working sets)
  SLO met        VMs whose own rate is at or under the SLO target (target_pct_per_min: 0.2 %/min,
                 after Lagar-Cavilla et al., ASPLOS 2019), over all VMs of all seeds, e.g. 0/6
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import axes, points  # noqa: E402

KSM_WORKLOAD = "multi-vm-ksm"
TRACE_WORKLOAD = "trace"
SHMEM_WORKLOAD = "stable-shmem"
WORKLOADS = ["stable", "shifting", "read-mostly", "write-heavy", "scan-polluted", SHMEM_WORKLOAD, TRACE_WORKLOAD, KSM_WORKLOAD]


def workload_name(sweep_axes, values, scenario):
    for a in sweep_axes:
        if a["pointer"] == "/vms/0/workload":
            return WORKLOADS[a["values"].index(values["/vms/0/workload"])]
    if len(scenario["vms"]) == 1 and scenario["vms"][0]["workload"]["type"] == "trace":
        return TRACE_WORKLOAD
    if len(scenario["vms"]) == 1 and scenario["vms"][0].get("backing") == "shmem":
        return SHMEM_WORKLOAD
    return KSM_WORKLOAD


def host_frames(r):
    """Host frames in use per sample, summed over hosts and nodes (capacity - free)."""
    used = None
    for h, hs in r["summary"]["hosts"].items():
        for node, free in r["timeseries"]["hosts"][h]["free_pages"].items():
            cap = hs["nodes"][node]["capacity_pages"]
            col = [cap - f for f in free]
            used = col if used is None else [a + b for a, b in zip(used, col)]
    return used


def load(root):
    sweep_axes = axes(root)
    runs = []
    for values, r in points(root):
        sc = r["scenario"]
        errs, stall, vcpus, slo = [], 0, 0, []
        tot = dict.fromkeys(("accesses", "evicted", "fetched", "false_cold", "track_ms", "demand_ms", "tlb", "lost"), 0)
        for name, v in r["summary"]["vms"].items():
            t = r["timeseries"]["vms"][name]
            vmm = v.get("vmm", {})
            est, tru = t.get("wss_estimate_pages", []), t.get("wss_scan_true_pages", [])
            errs += [abs(e - u) / u for e, u in zip(est, tru) if u > 0 and e > 0]
            tn = v["time_ns"]
            stall += tn["uffd_stall"] + tn["swap_in_stall"] + tn["mmap_lock_stall"]
            vcpus += v["vcpus"]
            cpu = vmm.get("cpu_ns", {})
            tot["accesses"] += v["accesses"]
            tot["evicted"] += vmm.get("evicted_pages", 0)
            tot["fetched"] += vmm.get("fetched_pages", 0)
            tot["false_cold"] += vmm.get("false_cold_evictions", 0)
            tot["track_ms"] += (cpu.get("ioctl", 0) + cpu.get("scan", 0)) / 1e6
            tot["demand_ms"] += cpu.get("handler", 0) / 1e6
            tot["tlb"] += v["counters"]["mm"]["tlb_flushes"]
            tot["lost"] += vmm.get("lost_writes", 0)
            slo.append(v["far_memory_slo"])
        minutes = sc["duration"] / 60e9
        wss = sum(x["true_wss_mean_pages"] for x in slo)
        runs.append(dict(tot, **{
            "variant": sc["kernel"]["variant"], "workload": workload_name(sweep_axes, values, sc),
            "policy": values["/vms/0/vmm"]["policy"], "seed": values["/seed"],
            "frame_s": sum(host_frames(r)), "stall": stall / (sc["duration"] * vcpus),
            "wss_err": statistics.mean(errs) if errs else None,
            "slo_rate": 100 * sum(x["refaulted_pages"] for x in slo) / wss / minutes if wss > 0 else 0.0,
            "slo_met": sum(bool(x["meets_target"]) for x in slo), "slo_vms": len(slo),
        }))
    return runs


def vcpus(root):
    """sweep-vcpus.json: TLB shootdowns and their IPI time per vCPU, by tracking mechanism."""
    rows = {}
    for values, r in points(root):
        v = r["summary"]["vms"]["guest"]
        vmm = v.get("vmm", {})
        n = v["vcpus"]
        dur = r["scenario"]["duration"]
        rows.setdefault((values["/vms/0/vmm"]["policy"], n), []).append({
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
    runs = [r for a in (args or ["results/compare-rfc-v1", "results/compare-rwp", "results/compare-shmem", "results/compare-trace", "results/compare-ksm"]) for r in load(a)]
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
            "lost": r["lost"], "slo_rate": r["slo_rate"], "slo_met": r["slo_met"], "slo_vms": r["slo_vms"],
        })
    fmt = [("saved", "memory saved", "{:.0%}"), ("slowdown", "slowdown", "{:.1%}"), ("served", "served", "{:.2f}"),
           ("refaults_gib", "refaults/GiB evicted", "{:.0f}"), ("false_cold", "false-cold", "{:.0%}"),
           ("wss_err", "WSS error", "{:.1%}"), ("track_ms", "tracking CPU (ms)", "{:.1f}"),
           ("demand_ms", "demand-paging CPU (ms)", "{:.0f}"), ("tlb", "TLB flushes", "{:.0f}"), ("lost", "lost writes", "{:.0f}"),
           ("slo_rate", "refault %WSS/min", "{:.2f}")]
    print("| workload | kernel | policy | seeds | " + " | ".join(f[1] for f in fmt) + " | SLO met |")
    print("|---|---|---|---|" + "---|" * (len(fmt) + 1))
    order = {w: i for i, w in enumerate(WORKLOADS)}
    for key in sorted(rows, key=lambda k: (order.get(k[0], 9), k[1], k[2])):
        rs = rows[key]
        cells = []
        for k, _, f in fmt:
            vals = [x[k] for x in rs if x[k] is not None]
            cells.append(f.format(statistics.mean(vals)) if vals else "-")
        met = f"{sum(x['slo_met'] for x in rs)}/{sum(x['slo_vms'] for x in rs)}"
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(rs)} | " + " | ".join(cells) + f" | {met} |")
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        cols = (len(WORKLOADS) + 1) // 2
        fig, grid = plt.subplots(2, cols, figsize=(4.2 * cols, 8.4), sharey=True)
        axs = list(grid.flat)
        policies = sorted({k[2] + ("" if k[1] == "rfc-v1" else f" ({k[1]})") for k in rows})
        cmap = plt.get_cmap("tab20")
        handles = {}  # one legend entry per policy, from whichever panel shows it
        for ax, w in zip(axs, WORKLOADS):
            for i, pname in enumerate(policies):
                pol, var = (pname.split(" (")[0], pname.split(" (")[1][:-1]) if " (" in pname else (pname, "rfc-v1")
                rs = rows.get((w, var, pol))
                if not rs:
                    continue
                x = 100 * statistics.mean(r["saved"] for r in rs)
                y = 100 * statistics.mean(r["slowdown"] for r in rs)
                handles[pname] = ax.scatter([x], [y], color=cmap(i % 20), label=pname, s=40,
                                            marker="o" if var == "rfc-v1" else "s")
            ax.set_title(w)
            ax.set_xlabel("memory saved (% of host frame-seconds)")
            ax.grid(alpha=0.3)
        for ax in axs[len(WORKLOADS):]:
            ax.axis("off")
        for ax in grid[:, 0]:
            ax.set_ylabel("slowdown (% of vCPU time stalled)")
        shown = [k for k in policies if k in handles]
        fig.legend([handles[k] for k in shown], shown, fontsize=8, loc="lower center", ncol=min(len(shown), 8))
        fig.suptitle("Policies on the standard workloads (scenarios/compare: one 64 MiB guest, or three 32 MiB guests with KSM; "
                     "8 s, mean of 2 seeds): lower right is better")
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        fig.savefig(plot, dpi=100)
        print(f"wrote {plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
