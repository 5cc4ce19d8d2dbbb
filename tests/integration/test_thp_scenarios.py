"""scenarios/thp: khugepaged's uffd guard per variant and its counterfactual (the README's Q9
answer, shortened), THP's TLB-reach saving in run time, all under --check-invariants (frame
accounting and the THP model's PMD invariants after the run), determinism with THP on, and a
hugetlb-backed guest faulting from its pool, and the seed loop at 2 MiB on it (hugetlb-uffd)."""
import os
from harness import *

d = tmpdir()
T = os.path.join(SRC, "scenarios", "thp")


def run(name, extra=(), tag=""):
    out = os.path.join(d, name + tag)
    p = run_scenario(os.path.join(T, name + ".json"), out, ["--check-invariants", *extra])
    check(p.returncode == 0, f"{name}{tag} runs (with --check-invariants)")
    return out, load(os.path.join(out, "result.json"))


short = ["--set", "/duration=1500ms"]
thp = {}
for variant in ("rwp", "rfc-v1"):
    for guard in ("true", "false"):
        tag = f"-{variant}-{guard}"
        _, r = run("seed-workflow", [*short, "--set", f"/kernel/variant={variant}", "--set", f"/kernel/thp/uffd_guard={guard}"], tag)
        thp[(variant, guard)] = r["summary"]["vms"]["guest"]["kernel"]["thp"]

on, off = thp[("rwp", "true")], thp[("rwp", "false")]
check(on["thp_collapse_alloc"] > 0 and on["pmd_mapped"] > 0, f"rwp, guard on: khugepaged collapses hot ranges ({on['thp_collapse_alloc']})")
check(on["scan_results"].get("SCAN_PTE_UFFD", 0) > 0, f"rwp, guard on: ranges with RWP PTEs refused as SCAN_PTE_UFFD ({on['scan_results']})")
check(on["collapse_destroyed_truth"]["tracked_pages_untracked"] == 0, "rwp, guard on: no uffd state destroyed")
check(off["collapse_destroyed_truth"]["uffd_rwp_ptes"] > 0 and "SCAN_PTE_UFFD" not in off["scan_results"],
      f"rwp, guard off (counterfactual): collapses drop RWP protections ({off['collapse_destroyed_truth']['uffd_rwp_ptes']})")
v1 = thp[("rfc-v1", "true")]
check(v1["collapse_destroyed_truth"]["protnone_without_uffd_bit"] > 0 and v1["collapse_destroyed_truth"]["tracked_pages_untracked"] == 0,
      f"rfc-v1: the guard cannot see DEACTIVATE's bit-less PROT_NONE, collapses drop it ({v1['collapse_destroyed_truth']['protnone_without_uffd_bit']})")
check(v1["scan_results"].get("SCAN_EXCEED_NONE_PTE", 0) > 0, "a uffd-armed VMA refuses ranges with an evicted page (SCAN_EXCEED_NONE_PTE)")

# TLB reach: THP always against never, same seed and duration.
one = ["--set", "/duration=1s"]
_, a = run("tlb-reach", one, "-always")
_, n = run("tlb-reach", [*one, "--set", '/kernel/thp/enabled="never"'], "-never")
ta = a["summary"]["vms"]["guest"]["kernel"]["thp"]
check(ta["coverage"] == 1.0 and ta["huge_access_share"] == 1.0, "tlb-reach: every page PMD-mapped, every access through a PMD")
check("thp" not in n["summary"]["vms"]["guest"].get("kernel", {}), "THP never: no thp mechanism in the result")
check(a["summary"]["vms"]["guest"]["accesses"] > 1.1 * n["summary"]["vms"]["guest"]["accesses"],
      f"THP does more work in the same time ({a['summary']['vms']['guest']['accesses']} vs {n['summary']['vms']['guest']['accesses']})")

# THP with kernel reclaim: reclaim splits large folios before swapping subpages out.
_, rc = run("reclaim", ["--set", "/duration=2s"])
t = rc["summary"]["vms"]["guest"]["kernel"]["thp"]
check(t["thp_fault_alloc"] > 0 and t["thp_split_page"] > 0 and t["thp_split_pmd"] >= t["thp_split_page"],
      f"reclaim: 2 MiB faults, then folio splits before swap-out ({t['thp_fault_alloc']} faults, {t['thp_split_page']} folio splits)")

# hugetlb backing: every 2 MiB range faults once from the pool, PMD-mapped; nothing else faults.
_, h = run("hugetlb")
hf = h["summary"]["vms"]["guest"]["counters"]["mm"]["faults"]
check(hf["hugetlb_alloc"] == 512 and sum(v for k, v in hf.items() if k != "hugetlb_alloc") == 0,
      f"hugetlb: 1 GiB faults in as 512 pool pages and nothing else ({hf})")
p = run_scenario(os.path.join(T, "hugetlb.json"), os.path.join(d, "hugetlb-small"), ["--set", "/hosts/0/nodes/0/hugepages=511"])
check(p.returncode == 2 and "/hosts/0/nodes" in p.stderr and "hugepages" in p.stderr,
      "hugetlb: guests beyond the pool are refused (exit 2, naming nodes[].hugepages)")

# The seed loop on hugetlbfs (uffd-hugetlb-zap): whole huge pages evicted and refetched, against
# 4 KiB anon pages under the same loop; byte-identical on a rerun.
ho, hu = run("hugetlb-uffd")
hv = hu["summary"]["vms"]["guest"]["vmm"]
check(hv["evicted_pages"] > 0 and hv["evicted_pages"] % 512 == 0 and hv["refault_faults"] > 0
      and hv["fetched_pages"] == 512 * hv["refault_faults"] and hv["lost_writes"] == 0,
      f"hugetlb-uffd: whole huge pages evicted ({hv['evicted_pages']}), each refault refetches 512 "
      f"({hv['refault_faults']} refaults, {hv['fetched_pages']} pages), no lost write")
_, an = run("hugetlb-uffd", ["--set", "/vms/0/backing=anon", "--set", "/vms/0/vmm/policy=uffd-minor-async"], "-anon")
av = an["summary"]["vms"]["guest"]["vmm"]
check(av["fetched_pages"] == av["refault_faults"] and av["evicted_now"] > hv["evicted_now"],
      f"hugetlb-uffd on anon 4 KiB: one page per refault and more memory saved ({av['evicted_now']} > {hv['evicted_now']} pages)")
ho2, _ = run("hugetlb-uffd", (), "-det")
check(open(os.path.join(ho, "result.json"), "rb").read() == open(os.path.join(ho2, "result.json"), "rb").read(),
      "hugetlb-uffd: byte-identical result.json on a rerun")
p = run_scenario(os.path.join(T, "hugetlb-uffd.json"), os.path.join(d, "hugetlb-uffd-abit"), ["--set", "/vms/0/vmm/policy=abit-harvest"])
check(p.returncode == 2 and "/vms/0/vmm/policy" in p.stderr and "uffd-hugetlb-zap" in p.stderr,
      "hugetlb-uffd: a policy that does not work at 2 MiB is refused (exit 2, naming the ones that do)")
p = run_scenario(os.path.join(T, "hugetlb-uffd.json"), os.path.join(d, "hugetlb-uffd-prefetch"), ["--set", "/vms/0/vmm/prefetch=4"])
check(p.returncode == 2 and "/vms/0/vmm/prefetch" in p.stderr, "hugetlb-uffd: prefetch (4 KiB neighbours) is refused on hugetlb (exit 2)")

# shmem THP: seed 002's khugepaged hunk keeps a shmem RWP VMA's PTE table (its RWP markers) and
# the tracking; without it retract_page_tables() drops them and the range maps by a PMD; rfc-v1
# has no PTE state to lose. Shortened to 1.5 s (the collapses happen at 0.3 s).
sh = {}
for tag, extra in (("-002", []), ("-no002", ["--set", "/kernel/patches/khugepaged_uffd_protected=false"]),
                   ("-rfcv1", ["--set", "/kernel/variant=rfc-v1"])):
    _, r = run("shmem-guard", [*short, *extra], tag)
    sh[tag] = (r["summary"]["vms"]["guest"]["kernel"]["thp"], r["summary"]["vms"]["guest"]["vmm"])
t, v = sh["-002"]
check(t["file_collapse"] > 0 and t["collapse_markers"] > 0 and t["retract_refused_uffd"] == t["file_collapse"]
      and t["collapse_destroyed_truth"]["tracked_pages_untracked"] == 0 and t["pmd_mapped"] == 0
      and t["scan_results"].get("SCAN_PTE_UFFD", 0) > 0 and v["evicted_pages"] > 0 and v["lost_writes"] == 0,
      f"shmem rwp with seed 002: tables kept with {t['collapse_markers']} RWP markers, nothing destroyed, SCAN_PTE_UFFD, evictions go on")
t, v = sh["-no002"]
check(t["retract_page_tables"] > 0 and t["collapse_destroyed_truth"]["tracked_pages_untracked"] == t["collapse_markers"] > 0
      and t["collapse_destroyed_truth"]["untracked_pages_accessed"] > 0 and t["coverage"] > 0.5 and v["lost_writes"] == 0,
      f"shmem rwp without it: {t['collapse_destroyed_truth']['tracked_pages_untracked']} markers dropped by retract, "
      f"{t['collapse_destroyed_truth']['untracked_pages_accessed']} accessed untracked, coverage {t['coverage']:.2f}")
t, v = sh["-rfcv1"]
check(t["collapse_destroyed_truth"]["tracked_pages_untracked"] == 0 and t["retract_page_tables"] > 0 and v["lost_writes"] == 0,
      "shmem rfc-v1: DEACTIVATE zaps, no PTE state for a retract to drop")

# Kernel reclaim of large shmem folios: folio_unmap_pte_batch() on the rwp series' base, with and
# without seed 002's rmap hunk (kernel.patches.rmap_uffd_protected), under --check-invariants.
rr = {}
for tag, hunk in (("-hunk", "true"), ("-nohunk", "false")):
    _, r = run("shmem-reclaim", ["--set", f"/kernel/patches/rmap_uffd_protected={hunk}"], tag)
    rr[tag] = (r["summary"]["vms"]["guest"]["kernel"]["reclaim"], r["summary"]["kernel"]["daemons"]["kswapd0.host0"])
(rc, ks), (rc2, ks2) = rr["-hunk"], rr["-nohunk"]
check(rc["pswpout"] > 0 and rc["pswpin"] > 0 and rc["shmem_swapped_pages"] > 0,
      f"shmem reclaim: pages swapped out of the page cache and back ({rc['pswpout']} out, {rc['pswpin']} in)")
check(ks["rmap_unmap_steps"] == ks["rmap_unmap_ptes"] > 0 and rc["uffd_state_dropped_by_unmap_batch"] == 0,
      f"with the rmap hunk: one PTE per try_to_unmap step on RWP VMAs ({ks['rmap_unmap_steps']}), nothing dropped")
check(ks2["rmap_unmap_steps"] < ks2["rmap_unmap_ptes"] and rc2["uffd_state_dropped_by_unmap_batch"] > 0,
      f"without it: batched steps ({ks2['rmap_unmap_steps']} for {ks2['rmap_unmap_ptes']} PTEs) drop "
      f"{rc2['uffd_state_dropped_by_unmap_batch']} RWP protections")

# Determinism with THP and khugepaged on.
o1, r1 = run("seed-workflow", short, "-det1")
o2, r2 = run("seed-workflow", short, "-det2")
b1 = open(os.path.join(o1, "result.json"), "rb").read()
b2 = open(os.path.join(o2, "result.json"), "rb").read()
check(b1 == b2, "same scenario and seed: byte-identical result.json with THP on")
finish()
