#!/usr/bin/env python3
"""The table of scenarios/thp/README.md from the finished sweep (sweep.json).

Usage: python3 scenarios/thp/table.py [results/thp-guard]

Mean over seeds, for the one VM. THP coverage: PMD-mapped pages over resident pages at the end;
huge access share: accesses through a PMD mapping over all accesses (each saved
kernel.thp.tlb_saving_ns). Collapses: khugepaged's thp_collapse_alloc; refused (uffd): its
SCAN_PTE_UFFD_WP / SCAN_PTE_UFFD results; "uffd state destroyed": ground truth, PTEs whose
uffd-wp bit, marker or RWP protection a collapse dropped; "DEACTIVATE/NUMA PROT_NONE dropped":
PROT_NONE PTEs without the uffd bit a collapse rebuilt accessible;
"of them accessed untracked": pages of the destroyed ones the guest accessed after the collapse
and before the VMM next changed their protection (accesses no uffd fault reported) (rfc-v1's DEACTIVATE carries
no bit, so the guard cannot see it). False-cold evictions and lost writes: the uffd-ws policy's
ground-truth counters; accesses: the guest's work done in the 4 s.
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import points  # noqa: E402


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "results/thp-guard"
    rows = {}
    for v, r in points(root):
        key = (v["/kernel/variant"], v["/kernel/thp/enabled"], v["/kernel/thp/uffd_guard"])
        vm = r["summary"]["vms"]["guest"]
        t = vm.get("kernel", {}).get("thp", {})
        res = t.get("scan_results", {})
        lost = t.get("collapse_destroyed_truth", {})
        rows.setdefault(key, []).append({
            "coverage": t.get("coverage", 0.0),
            "share": t.get("huge_access_share", 0.0),
            "collapses": t.get("thp_collapse_alloc", 0),
            "refused_uffd": res.get("SCAN_PTE_UFFD_WP", 0) + res.get("SCAN_PTE_UFFD", 0),
            "refused_none": res.get("SCAN_EXCEED_NONE_PTE", 0),
            "destroyed": lost.get("tracked_pages_untracked", 0),
            "pn_lost": lost.get("protnone_without_uffd_bit", 0),
            "unseen": lost.get("untracked_pages_accessed", 0),
            "splits": t.get("thp_split_pmd", 0),
            "false_cold": vm["vmm"]["false_cold_evictions"],
            "evicted": vm["vmm"]["evicted_pages"],
            "lost_writes": vm["vmm"]["lost_writes"],
            "accesses": vm["accesses"],
        })
    cols = [("coverage", "THP coverage", "{:.2f}"), ("share", "huge access share", "{:.2f}"),
            ("collapses", "collapses", "{:.0f}"), ("refused_uffd", "refused: uffd PTE", "{:.0f}"),
            ("refused_none", "refused: none PTE (armed)", "{:.0f}"), ("splits", "PMD splits", "{:.0f}"),
            ("destroyed", "uffd state destroyed", "{:.0f}"),
            ("unseen", "of them accessed untracked", "{:.0f}"), ("pn_lost", "DEACTIVATE/NUMA PROT_NONE dropped", "{:.0f}"),
            ("evicted", "evicted pages", "{:.0f}"), ("false_cold", "false-cold evictions", "{:.0f}"),
            ("lost_writes", "lost writes", "{:.1f}"), ("accesses", "accesses (M)", "{:.2f}")]
    print("| variant | THP | guard | seeds | " + " | ".join(c[1] for c in cols) + " |")
    print("|---|---|---|---|" + "---|" * len(cols))
    for key in sorted(rows, key=lambda k: (k[0], k[1] != "never", not k[2])):
        rs = rows[key]
        vals = []
        for c, _, fmt in cols:
            m = statistics.mean(x[c] for x in rs)
            vals.append(fmt.format(m / 1e6 if c == "accesses" else m))
        guard = "on" if key[2] else "**off** (counterfactual)"
        print(f"| {key[0]} | {key[1]} | {guard} | {len(rs)} | " + " | ".join(vals) + " |")


if __name__ == "__main__":
    main()
