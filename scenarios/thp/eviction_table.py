#!/usr/bin/env python3
"""The split-versus-pmd eviction table of scenarios/thp/README.md (vms[].vmm.thp_eviction), from
a finished sweep of sweep-eviction.json, and its figure.

Usage: python3 scenarios/thp/eviction_table.py [results/thp-eviction] [--plot eviction.png]
(the figure needs matplotlib: /usr/bin/python3 with Debian's python3-matplotlib)

Columns, all from the result's summary (seed 1, 4 s):
  memory saved: guest memory minus the frames the host has in use at the end (MiB): frames a
    split folio still holds for subpages the VMM zapped count as used until its deferred split;
  refault faults / fetched pages: vmm.refault_faults / vmm.fetched_pages, and amplification,
    their ratio (pages read back per refault: 1 at 4 KiB, up to 512 for a PMD range);
  tier read: MiB read back from the SSD tier;
  THP coverage: the PMD-mapped share of resident memory at the end (kernel.thp.coverage);
  huge access share: accesses through a PMD mapping; TLB saving: tlb_saved_ns over the run
    (20 ns per such access, kernel.thp.tlb_saving_ns) as a share of the vCPUs' time;
  PMD splits / whole-PMD zaps / deferred frames freed: thp_split_pmd, zap_huge_pmd,
    deferred_frames_freed; collapses: thp_collapse_alloc;
  vCPU time in uffd stalls: time_ns.uffd_stall over vcpus x duration (the slowdown refaults cost);
  accesses: the guest's work in the 4 s (M).
The THP never rows are the 4 KiB reference, where pmd is a no-op (only split is shown).
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import points  # noqa: E402

MIB = 4096 / 2**20


def load(root):
    """Results by (variant, THP enabled, thp_eviction, hot_probability), read from each point's
    resolved scenario, so any sweep of eviction.json will do."""
    rows = {}
    for _, r in points(root):
        sc = r["scenario"]
        vm = sc["vms"][0]
        hp = vm["workload"]["phases"][1]["workload"]["hot_probability"]
        rows[(sc["kernel"]["variant"], sc["kernel"]["thp"]["enabled"], vm["vmm"]["thp_eviction"], hp)] = r
    return rows


def used_series(r):
    """The host node's pages in use at each sample (capacity minus free; this VM is alone on it)."""
    cap = r["summary"]["hosts"]["host0"]["nodes"]["node0"]["capacity_pages"]
    return [cap - f for f in r["timeseries"]["hosts"]["host0"]["free_pages"]["node0"]]


def metrics(r):
    s = r["summary"]
    vm = s["vms"]["guest"]
    v = vm["vmm"]
    t = vm.get("kernel", {}).get("thp", {})
    sc = r["scenario"]
    duration = sc["duration"] / 1e9
    vcpu_ns = vm["vcpus"] * sc["duration"]
    used = s["hosts"]["host0"]["nodes"]["node0"]["used_pages"]
    return {
        "saved": (vm["pages"] - used) * MIB,
        "refaults": v["refault_faults"],
        "fetched": v["fetched_pages"],
        "amp": v["fetched_pages"] / v["refault_faults"] if v["refault_faults"] else None,
        "tier_read": v.get("tier_bytes", {}).get("read", 0) / 2**20,
        "coverage": t.get("coverage", 0.0),
        "huge_share": t.get("huge_access_share", 0.0),
        "tlb": t.get("tlb_saved_ns", 0) / vcpu_ns,
        "splits": t.get("thp_split_pmd", 0),
        "zaps": t.get("zap_huge_pmd", 0),
        "deferred": t.get("deferred_frames_freed", 0),
        "collapses": t.get("thp_collapse_alloc", 0),
        "stall": vm["time_ns"]["uffd_stall"] / vcpu_ns,
        "accesses": vm["accesses"] / 1e6,
        "duration": duration,
    }


def main():
    args = sys.argv[1:]
    plot = None
    if "--plot" in args:
        i = args.index("--plot")
        plot = args[i + 1]
        del args[i:i + 2]
    root = pathlib.Path(args[0] if args else "results/thp-eviction")
    rows = load(root)
    print("| variant | THP | thp_eviction | hot_probability | memory saved (MiB) | refault faults "
          "| fetched pages | amplification | tier read (MiB) | THP coverage | huge access share | TLB saving (vCPU time) "
          "| PMD splits | whole-PMD zaps | deferred frames freed | collapses | vCPU time in uffd stalls | accesses (M) |")
    print("|" + "---|" * 18)
    for variant in ("rfc-v1", "rwp"):
        for hp in sorted({k[3] for k in rows}):
            for thp, mode in (("never", "split"), ("always", "split"), ("always", "pmd")):
                r = rows.get((variant, thp, mode, hp))
                if r is None:
                    continue
                m = metrics(r)
                amp = f"{m['amp']:.0f}" if m["amp"] else "-"
                label = "(4 KiB)" if thp == "never" else f"**{mode}**"
                print(f"| {variant} | {thp} | {label} | {hp} | {m['saved']:.1f} | {m['refaults']} | "
                      f"{m['fetched']} | {amp} | {m['tier_read']:.0f} | {m['coverage']:.2f} | {m['huge_share']:.2f} | "
                      f"{m['tlb']:.1%} | {m['splits']} | {m['zaps']} | {m['deferred']} | {m['collapses']} | "
                      f"{m['stall']:.1%} | {m['accesses']:.2f} |")
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        hp = 0.9999
        fig, ax = plt.subplots(1, 4, figsize=(15, 3.8))
        styles = {("never", "split"): ("4 KiB (THP never)", ":"), ("always", "split"): ("THP, split", "-"),
                  ("always", "pmd"): ("THP, pmd", "--")}
        colors = {"rfc-v1": "tab:blue", "rwp": "tab:orange"}
        for variant in ("rfc-v1", "rwp"):
            for (thp, mode), (name, style) in styles.items():
                r = rows.get((variant, thp, mode, hp))
                if r is None:
                    continue
                ts = r["timeseries"]
                t = [x / 1e9 for x in ts["t_ns"]]
                g = ts["vms"]["guest"]
                label = f"{variant}, {name}"
                ax[0].plot(t, [u * MIB for u in used_series(r)], style, color=colors[variant], label=label)
                cov = g.get("kernel", {}).get("thp", {}).get("coverage", [0.0] * len(t))
                ax[1].plot(t, cov, style, color=colors[variant], label=label)
                # per-sample series: accesses and stall time within each sampling interval
                dt = (ts["t_ns"][1] - ts["t_ns"][0]) / 1e9
                ax[2].plot(t, [a / 1e6 / dt for a in g["accesses"]], style, color=colors[variant], label=label)
                vcpus = r["summary"]["vms"]["guest"]["vcpus"]
                ax[3].plot(t, [100 * s / (vcpus * dt * 1e9) for s in g["uffd_stall_ns"]], style, color=colors[variant],
                           label=label)
        titles = ("host frames in use (MiB)", "THP coverage (PMD-mapped share)", "accesses (M/s)",
                  "vCPU time in uffd stalls (%)")
        for a, title in zip(ax, titles):
            a.set_xlabel("time (s)")
            a.set_title(title, fontsize=10)
            a.grid(alpha=0.3)
        ax[3].set_ylim(0, 12)  # the boot's first-touch faults (up to 75 %) are off the scale
        handles, labels = ax[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=8)
        fig.suptitle(f"eviction.json, hot_probability {hp}: split-then-evict against 2 MiB eviction (uffd-ws, SSD tier)")
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        fig.savefig(plot, dpi=110)
        print(plot, file=sys.stderr)


if __name__ == "__main__":
    main()
