#!/usr/bin/env python3
"""The overcommit table (README.md) from a finished sweep of sweep.json, mean over seeds, and
its figure.

Usage: python3 scenarios/reclaim/table.py [results/reclaim-overcommit] [--plot overcommit.png]
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import points  # noqa: E402

HOST_MIB = 256


def load(root):
    rows = {}
    for values, r in points(root):
        s = r["summary"]
        vms = list(s["vms"].values())
        k = s["kernel"]["daemons"]["kswapd0.host0"]
        dur = r["scenario"]["duration"] / 1e9 if "scenario" in r else 6.0
        mib = int(values["/vms/0/memory"].removesuffix("MiB"))
        policy = values["/vms/0/vmm"]["policy"]
        lru = values.get("/kernel/reclaim/lru", "classic")
        vcpu_s = dur * len(vms)
        rows.setdefault((mib, lru, policy), []).append({
            "ratio": 2 * mib / HOST_MIB,
            "used": s["hosts"]["host0"]["nodes"]["node0"]["used_pages"],
            "pswpout": k["pswpout"], "pswpin": k["pswpin"], "allocstall": k["allocstall"],
            "activate": k["workingset_activate_anon"],
            "kswapd_cpu": k["cpu_share"],
            "swap_stall": sum(v["time_ns"]["swap_in_stall"] for v in vms) / 1e9 / vcpu_s,
            "reclaim_stall": sum(v["time_ns"]["direct_reclaim"] for v in vms) / 1e9 / vcpu_s,
            "uffd_stall": sum(v["time_ns"]["uffd_stall"] for v in vms) / 1e9 / vcpu_s,
            "vmm_evicted": sum(v.get("vmm", {}).get("evicted_pages", 0) for v in vms),
            "vmm_fetched": sum(v.get("vmm", {}).get("fetched_pages", 0) for v in vms),
            "accesses": sum(v["accesses"] for v in vms) / 1e6,
        })
    return rows


def main():
    args = [a for a in sys.argv[1:]]
    plot = None
    if "--plot" in args:
        i = args.index("--plot")
        plot = args[i + 1]
        del args[i:i + 2]
    root = pathlib.Path(args[0] if args else "results/reclaim-overcommit")
    rows = load(root)
    cols = [("ratio", "guests / DRAM", "{:.2f}x"), ("used", "host frames in use (end)", "{:.0f}"),
            ("pswpout", "pswpout", "{:.0f}"), ("pswpin", "pswpin", "{:.0f}"), ("allocstall", "allocstall", "{:.0f}"),
            ("activate", "workingset_activate", "{:.0f}"), ("kswapd_cpu", "kswapd CPU share", "{:.3f}"),
            ("swap_stall", "vCPU time in swap-in", "{:.1%}"), ("reclaim_stall", "vCPU time in direct reclaim", "{:.2%}"),
            ("uffd_stall", "vCPU time in uffd stalls", "{:.1%}"), ("vmm_evicted", "VMM evictions", "{:.0f}"),
            ("vmm_fetched", "VMM refetches", "{:.0f}"), ("accesses", "accesses served (M)", "{:.2f}")]
    print("| guest memory | host LRU | VMM policy | seeds | " + " | ".join(c[1] for c in cols) + " |")
    print("|---|---|---|---|" + "---|" * len(cols))
    for (mib, lru, policy) in sorted(rows):
        rs = rows[(mib, lru, policy)]
        cells = [f.format(statistics.mean(r[key] for r in rs)) for key, _, f in cols]
        print(f"| 2 x {mib} MiB | {lru} | {policy} | {len(rs)} | " + " | ".join(cells) + " |")
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        for lru, policy, style in (("classic", "none", "o-"), ("classic", "uffd-ws", "s--"),
                                   ("mglru", "none", "^-"), ("mglru", "uffd-ws", "v--")):
            pts = sorted((mib, rs) for (mib, l, p), rs in rows.items() if p == policy and l == lru)
            if not pts:
                continue
            x = [statistics.mean(r["ratio"] for r in rs) for _, rs in pts]
            label = f"{lru}, " + ("kernel reclaim alone" if policy == "none" else "+ uffd-ws")
            ax[0].plot(x, [statistics.mean(r["pswpin"] for r in rs) / 1e3 for _, rs in pts], style, label=label)
            ax[1].plot(x, [100 * statistics.mean(r["swap_stall"] + r["reclaim_stall"] + r["uffd_stall"] for r in rs)
                           for _, rs in pts], style, label=label)
            ax[2].plot(x, [statistics.mean(r["accesses"] for r in rs) for _, rs in pts], style, label=label)
        ax[0].set_ylabel("kernel swap-ins (thousands)")
        ax[1].set_ylabel("vCPU time stalled (%)\n(swap-in + direct reclaim + uffd)")
        ax[2].set_ylabel("accesses served (M, 2 vCPUs x 6 s)")
        for a in ax:
            a.set_xlabel("guest memory / host DRAM")
            a.grid(alpha=0.3)
        ax[0].legend()
        fig.suptitle("Two guests overcommitting a 256 MiB host with 1 GiB swap (scenarios/reclaim/sweep.json, mean of 2 seeds)")
        fig.tight_layout()
        fig.savefig(plot, dpi=110)
        print(f"wrote {plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
