#!/usr/bin/env python3
"""The VMM knobs tables (README.md) from finished sweeps of sweep.json / sweep-queue.json, mean
over seeds, and the figure.

Usage: python3 scenarios/vmm-knobs/table.py [results/vmm-knobs] [--plot vmm-knobs.png]
       python3 scenarios/vmm-knobs/table.py results/vmm-knobs-queue
The key columns are the sweep's axes (whatever they are), so one script serves both sweeps.
"""
import json
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import axes, points  # noqa: E402

COLS = [
    ("refault_rate", "refaults served (k/s)", "{:.1f}"),
    ("uffd_stall", "vCPU time in uffd stalls", "{:.1%}"),
    ("stall_mean_us", "mean stall (us)", "{:.1f}"),
    ("accesses", "accesses served (M)", "{:.3f}"),
    ("fetched", "refaulted pages", "{:.0f}"),
    ("prefetched", "prefetched pages", "{:.0f}"),
    ("hits", "prefetch hits", "{:.0f}"),
    ("wasted", "prefetch wasted", "{:.0f}"),
    ("tier_reads_mib", "tier read (MiB)", "{:.0f}"),
    ("evicted", "evicted pages", "{:.0f}"),
    ("lost_writes", "lost writes", "{:.0f}"),
]


def short(pointer):
    return pointer.rsplit("/", 1)[-1]


def load(root):
    keys = [a["pointer"] for a in axes(root) if a["pointer"] != "/seed"]
    rows = {}
    for values, r in points(root):
        v = r["summary"]["vms"]["guest"]
        vmm = v["vmm"]
        dur = r["scenario"]["duration"] / 1e9
        hist = v["histograms"]["stall_latency_ns"]
        pre = vmm.get("prefetch", {})
        rows.setdefault(tuple(json.dumps(values[k]) for k in keys), []).append({
            "refault_rate": vmm["fetched_pages"] / dur / 1e3,
            "uffd_stall": v["time_ns"]["uffd_stall"] / 1e9 / (dur * v["vcpus"]),
            "stall_mean_us": hist["sum_ns"] / max(1, hist["count"]) / 1e3,
            "accesses": v["accesses"] / 1e6,
            "fetched": vmm["fetched_pages"],
            "prefetched": pre.get("pages", 0), "hits": pre.get("hits", 0), "wasted": pre.get("wasted", 0),
            "tier_reads_mib": vmm["tier_bytes"]["read"] / 2**20,
            "evicted": vmm["evicted_pages"],
            "lost_writes": vmm.get("lost_writes", 0),
        })
    return keys, rows


def mean(rs, key):
    return statistics.mean(r[key] for r in rs)


def main():
    args = sys.argv[1:]
    plot = None
    if "--plot" in args:
        i = args.index("--plot")
        plot = args[i + 1]
        del args[i:i + 2]
    root = pathlib.Path(args[0] if args else "results/vmm-knobs")
    keys, rows = load(root)
    print("| " + " | ".join(short(k) for k in keys) + " | seeds | " + " | ".join(c[1] for c in COLS) + " |")
    print("|" + "---|" * (len(keys) + 1 + len(COLS)))
    # each axis holds values of one type; for the tier queue 0 means unbounded and sorts last
    unbounded = [short(k) in ("queue_depth", "max_io_pages") for k in keys]
    order = lambda t: tuple((u and v == 0, v) for u, v in zip(unbounded, map(json.loads, t)))
    for k in sorted(rows, key=order):
        rs = rows[k]
        print("| " + " | ".join(str(json.loads(x)) for x in k) +
              f" | {len(rs)} | " + " | ".join(f.format(mean(rs, key)) for key, _, f in COLS) + " |")
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        pol, thr, pre = (keys.index(f"/vms/0/vmm/{n}") for n in ("policy", "handler_threads", "prefetch"))
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        for policy, marker in (("naive-async", "o"), ("uffd-ws", "s")):
            for prefetch, style in ((0, "-"), (8, "--")):
                pts = sorted((json.loads(k[thr]), rs) for k, rs in rows.items()
                             if json.loads(k[pol]) == policy and json.loads(k[pre]) == prefetch)
                if not pts:
                    continue
                x = [t for t, _ in pts]
                label = f"policy={policy}, prefetch={prefetch}"
                ax[0].plot(x, [mean(rs, "refault_rate") for _, rs in pts], marker + style, label=label)
                ax[1].plot(x, [100 * mean(rs, "uffd_stall") for _, rs in pts], marker + style, label=label)
                ax[2].plot(x, [mean(rs, "accesses") for _, rs in pts], marker + style, label=label)
        for a, title in zip(ax, ("refaults served (k/s)", "vCPU time in uffd stalls (%)", "accesses served (M, 3 s)")):
            a.set_xlabel("handler_threads")
            a.set_xticks([1, 2, 4])
            a.set_title(title)
            a.grid(alpha=0.3)
        ax[1].set_ylim(bottom=0)
        handles, labels = ax[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
        fig.suptitle("naive-async-loses-writes.json (2 vCPUs, SSD tier): handler_threads and prefetch")
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        fig.savefig(plot, dpi=110)


if __name__ == "__main__":
    main()
