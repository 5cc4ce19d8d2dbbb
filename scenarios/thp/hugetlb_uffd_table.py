#!/usr/bin/env python3
"""The hugetlb-vs-4 KiB table of scenarios/thp/README.md: the seed working-set loop on the same
256 MiB guest backed by hugetlbfs (uffd-hugetlb-zap: every verb at 2 MiB), by anon 4 KiB pages
(uffd-minor-async) and by anon with THP enabled=always (uffd-minor-async; the uffd-armed VMA
faults 4 KiB, khugepaged collapses), for three cold-set access probabilities.

Usage: python3 scenarios/thp/hugetlb_uffd_table.py [build/vmemsim] [results/hugetlb-uffd]

Resident: the VM's resident memory at its peak and at the end (MiB); memory saved: guest pages
out in the tier at the end (MiB); evicted: pages written out over the
run; refault faults: MISSING faults served from the tier; refetched: pages those brought back;
amplification: refetched pages per refault (1 for 4 KiB, 512 for a hugetlb refault); false-cold
evictions: pages fetched back within age_threshold rounds of their eviction; false-hot: ground
truth, resident pages the scans reported accessed that were not (summed over scans: at 2 MiB a
touch of one 4 KiB page marks 512); accesses: the guest's work in the 4 s; huge access share:
accesses through a 2 MiB mapping; TLB saved: their TLB-reach saving summed over the vCPUs
(kernel.hugetlb / kernel.thp tlb_saved_ns, 20 ns each by default: models/mm/tlb_reach.hpp).
"""
import json
import pathlib
import subprocess
import sys

CONFIGS = [  # label, --set overrides
    ("hugetlb 2 MiB (uffd-hugetlb-zap)", []),
    ("anon 4 KiB (uffd-minor-async)", ["/vms/0/backing=anon", "/vms/0/vmm/policy=uffd-minor-async"]),
    ("anon THP always (uffd-minor-async)", ["/vms/0/backing=anon", "/vms/0/vmm/policy=uffd-minor-async",
                                             '/kernel/thp={"enabled": "always", "scan_sleep_millisecs": 100, "pages_to_scan": 65536}']),
]
COLD = [0.98, 0.9999, 1.0]  # hot_probability: share of accesses to the 20 % hot set


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/vmemsim"
    out = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "results/hugetlb-uffd")
    scenario = pathlib.Path(__file__).with_name("hugetlb-uffd.json")
    print("| guest memory | hot_probability | resident peak / end (MiB) | memory saved (MiB) | evicted pages | refault faults | refetched pages "
          "| amplification | false-cold evictions | false-hot pages (sum over scans) | lost writes | accesses (M) | huge access share "
          "| TLB saved (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for hp in COLD:
        for label, sets in CONFIGS:
            d = out / f"{label.split(' (')[0].replace(' ', '-')}-{hp}"
            args = [binary, "run", str(scenario), "--out", str(d), "-q", "--set", f"/vms/0/workload/phases/1/workload/hot_probability={hp}"]
            for s in sets:
                args += ["--set", s]
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
            r = json.loads((d / "result.json").read_text())
            vm = r["summary"]["vms"]["guest"]
            v = vm["vmm"]
            refaults = v["refault_faults"]
            fetched = v["fetched_pages"]
            amp = f"{fetched / refaults:.0f}" if refaults else "-"
            mib = lambda pages: pages * 4096 / 2**20
            k = vm.get("kernel", {})
            huge = k.get("hugetlb") or k.get("thp") or {}  # neither: 4 KiB pages, no saving
            print(f"| {label} | {hp} | {mib(vm['resident_pages_peak']):.0f} / {mib(vm['resident_pages_total']):.0f} | "
                  f"{mib(v['evicted_now']):.1f} | {v['evicted_pages']} | {refaults} | "
                  f"{fetched} | {amp} | {v['false_cold_evictions']} | {v['false_hot_pages_total']} | {v['lost_writes']} | "
                  f"{vm['accesses'] / 1e6:.2f} | {huge.get('huge_access_share', 0.0):.2f} | "
                  f"{huge.get('tlb_saved_ns', 0) / 1e6:.1f} |")


if __name__ == "__main__":
    main()
