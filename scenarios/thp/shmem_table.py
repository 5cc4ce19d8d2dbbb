#!/usr/bin/env python3
"""The shmem THP table of scenarios/thp/README.md from the finished sweep (sweep-shmem.json).

Usage: python3 scenarios/thp/shmem_table.py [results/thp-shmem-guard]

Mean over seeds, for the one VM. THP coverage: PMD-mapped pages over resident pages at the end;
collapses: collapse_file() successes (huge page-cache folios built by khugepaged); markers left:
protected PTEs collapse_file()'s unmap turned into markers (uffd-wp or RWP); tables retracted /
kept for uffd: retract_page_tables() dropping the VMA's PTE table or refusing for the VMA-level
uffd check; refused (uffd): khugepaged passes over a PTE-mapped huge folio that
try_collapse_pte_mapped_thp() refused for it (SCAN_PTE_UFFD / SCAN_PTE_UFFD_WP); uffd state
destroyed: ground truth, markers a retract dropped and protected PTEs a PMD collapse rebuilt;
of them accessed untracked: those the guest then accessed before the VMM next protected them.
Evicted pages, false-cold evictions and lost writes are uffd-ws' ground-truth counters;
accesses: the guest's work done in the 4 s.
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from sweep_points import points  # noqa: E402


def label(k):
    thp = k.get("thp", {})
    guard = thp.get("uffd_guard", True)
    p002 = k.get("patches", {}).get("khugepaged_uffd_protected", True)
    if k["variant"] != "rwp":
        hunk = "n/a"
    else:
        hunk = "yes" if p002 else "**no**"
    return (k["variant"], thp.get("shmem_enabled", "never"), hunk, "on" if guard else "**off** (counterfactual)")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "results/thp-shmem-guard"
    rows, order = {}, []
    for v, r in points(root):
        key = label(v["/kernel"])
        if key not in rows:
            order.append(key)
        vm = r["summary"]["vms"]["guest"]
        t = vm.get("kernel", {}).get("thp", {})
        res = t.get("scan_results", {})
        lost = t.get("collapse_destroyed_truth", {})
        rows.setdefault(key, []).append({
            "coverage": t.get("coverage", 0.0),
            "collapses": t.get("file_collapse", 0),
            "markers": t.get("collapse_markers", 0),
            "retract": t.get("retract_page_tables", 0),
            "kept": t.get("retract_refused_uffd", 0),
            "refused_uffd": res.get("SCAN_PTE_UFFD_WP", 0) + res.get("SCAN_PTE_UFFD", 0),
            "destroyed": lost.get("tracked_pages_untracked", 0),
            "unseen": lost.get("untracked_pages_accessed", 0),
            "evicted": vm["vmm"]["evicted_pages"],
            "false_cold": vm["vmm"]["false_cold_evictions"],
            "lost_writes": vm["vmm"]["lost_writes"],
            "accesses": vm["accesses"],
        })
    cols = [("coverage", "THP coverage", "{:.2f}"), ("collapses", "collapses", "{:.0f}"),
            ("markers", "markers left", "{:.0f}"), ("retract", "tables retracted", "{:.0f}"),
            ("kept", "tables kept for uffd", "{:.0f}"), ("refused_uffd", "refused: uffd (VMA)", "{:.0f}"),
            ("destroyed", "uffd state destroyed", "{:.0f}"), ("unseen", "of them accessed untracked", "{:.0f}"),
            ("evicted", "evicted pages", "{:.0f}"), ("false_cold", "false-cold evictions", "{:.0f}"),
            ("lost_writes", "lost writes", "{:.1f}"), ("accesses", "accesses (M)", "{:.2f}")]
    print("| variant | shmem THP | seed 002 hunk | guard | seeds | " + " | ".join(c[1] for c in cols) + " |")
    print("|---|---|---|---|---|" + "---|" * len(cols))
    for key in order:
        rs = rows[key]
        vals = [fmt.format(statistics.mean(x[c] for x in rs) / (1e6 if c == "accesses" else 1)) for c, _, fmt in cols]
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {len(rs)} | " + " | ".join(vals) + " |")


if __name__ == "__main__":
    main()
