#!/usr/bin/env python3
"""The shmem reclaim table of scenarios/thp/README.md from the finished sweep
(sweep-shmem-reclaim.json).

Usage: python3 scenarios/thp/shmem_reclaim_table.py [results/thp-shmem-reclaim]

Mean over seeds. Swapped out: the VM's pages kernel reclaim wrote to swap (pswpout); unmap
steps / PTEs: try_to_unmap_one() steps kswapd took on large shmem folios and the PTEs they
cleared (folio_unmap_pte_batch(): PTEs per step is the batch); kswapd CPU: its CPU time in the
run; uffd state dropped: ground truth, RWP PTEs a batched step cleared without leaving a marker
(the next access maps the page unprotected: the VMM never sees it). Evicted pages and
false-cold evictions are uffd-ws' counters; accesses: the guest's work done in the 4 s.
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import points  # noqa: E402


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "results/thp-shmem-reclaim"
    rows, order = {}, []
    for v, r in points(root):
        hunk = v["/kernel/patches"].get("rmap_uffd_protected", True)
        policy = v["/vms/0/vmm"]["policy"]
        key = (r["scenario"]["kernel"]["variant"], "yes" if hunk else "**no**", policy)
        if key not in rows:
            order.append(key)
        vm = r["summary"]["vms"]["guest"]
        rc = vm["kernel"]["reclaim"]
        ks = r["summary"]["kernel"]["daemons"]["kswapd0.host0"]
        vmm = vm.get("vmm", {})
        rows.setdefault(key, []).append({
            "out": rc["pswpout"], "steps": ks["rmap_unmap_steps"], "ptes": ks["rmap_unmap_ptes"],
            "cpu": ks["cpu_ns"] / 1e6, "dropped": rc["uffd_state_dropped_by_unmap_batch"],
            "evicted": vmm.get("evicted_pages", 0), "false_cold": vmm.get("false_cold_evictions", 0),
            "accesses": vm["accesses"] / 1e6,
        })
    cols = [("out", "swapped out", "{:.0f}"), ("steps", "unmap steps", "{:.0f}"), ("ptes", "PTEs unmapped", "{:.0f}"),
            ("cpu", "kswapd CPU (ms)", "{:.1f}"), ("dropped", "uffd state dropped", "{:.0f}"),
            ("evicted", "VMM evicted pages", "{:.0f}"), ("false_cold", "false-cold evictions", "{:.0f}"),
            ("accesses", "accesses (M)", "{:.2f}")]
    print("| variant | seed 002 rmap hunk | VMM policy | seeds | " + " | ".join(c[1] for c in cols) + " |")
    print("|---|---|---|---|" + "---|" * len(cols))
    for key in order:
        rs = rows[key]
        vals = [fmt.format(statistics.mean(x[c] for x in rs)) for c, _, fmt in cols]
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(rs)} | " + " | ".join(vals) + " |")


if __name__ == "__main__":
    main()
