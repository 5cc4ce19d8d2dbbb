// kernel.thp: /sys/kernel/mm/transparent_hugepage/{enabled,defrag} and khugepaged/* under their
// sysfs names, plus the guard's counterfactual switch and the costs. enabled=never (the
// default here, so that scenarios without the section keep 4 KiB pages; Debian's kernels boot
// with madvise) builds nothing and leaves every VM without HugeMappings: THP off costs no
// memory and no time. Otherwise one ThpVm per VM and one khugepaged per host.
#include "models/thp/thp_section.hpp"

#include "models/mm/tlb_reach.hpp"
#include "models/thp/khugepaged.hpp"

namespace vmemsim::thp {
namespace {

using core::Kind;

const core::ParamSpec kParams[] = {
    {"enabled", Kind::Enum, "\"never\"",
     "transparent_hugepage/enabled: always, madvise (VM_HUGEPAGE VMAs only; the boot default of Debian's kernels) "
     "or never (the default here: 4 KiB pages, nothing built)",
     0, 0, "always|madvise|never"},
    {"defrag", Kind::Enum, "\"madvise\"",
     "transparent_hugepage/defrag: which faults may compact directly when no free 2 MiB block is left "
     "(always; defer: none; defer+madvise and madvise: VM_HUGEPAGE VMAs; never: none)",
     0, 0, "always|defer|defer+madvise|madvise|never"},
    {"hugepage_advised", Kind::Bool, "true",
     "the VMM madvise(MADV_HUGEPAGE)s guest RAM (VM_HUGEPAGE; QEMU does so on Linux hosts)"},
    {"pages_to_scan", Kind::Int, "4096", "khugepaged/pages_to_scan: per wake-up, 512 per PMD range examined", 1, 1e9},
    {"scan_sleep_millisecs", Kind::Int, "10000", "khugepaged/scan_sleep_millisecs: between passes, ms", 0, 3.6e6},
    {"alloc_sleep_millisecs", Kind::Int, "60000",
     "khugepaged/alloc_sleep_millisecs: after a failed huge-page allocation, ms", 0, 3.6e6},
    {"max_ptes_none", Kind::Int, "511", "khugepaged/max_ptes_none: none or zero-page PTEs a collapse may fill", 0,
     511},
    {"max_ptes_swap", Kind::Int, "64", "khugepaged/max_ptes_swap: swap entries a collapse may read back", 0, 511},
    {"max_ptes_shared", Kind::Int, "256", "khugepaged/max_ptes_shared: PTEs of shared pages a collapse may copy", 0,
     511},
    {"khugepaged_defrag", Kind::Int, "1", "khugepaged/defrag: 1 lets khugepaged compact for its allocation", 0, 1},
    {"uffd_guard", Kind::Bool, "true",
     "khugepaged's uffd guard in hpage_collapse_scan_pmd(): a PTE, marker or swap entry with the uffd bit refuses the "
     "range (Linux 6.18: pte_uffd_wp() / pte_swp_uffd_wp_any(), SCAN_PTE_UFFD_WP; the rwp series: pte_uffd(), "
     "SCAN_PTE_UFFD, which also catches RWP PTEs; rfc-v1's DEACTIVATE has no bit and is never caught). "
     "COUNTERFACTUAL when false: no kernel ships without it; it measures what the guard protects"},
    // Costs. Direct compaction migrates the in-use pages of a 2 MiB block: with half of it in
    // use, 256 migrations at the NUMA section's 2.5 us per 4 KiB (migrate_pages before batched
    // flushing, kernel commit 7e12beb8ca2a) = 640 us. A collapse copies 512 pages at the fault
    // path's 400 ns per 4 KiB copy (copy_mc_user_highpage) and flushes once
    // (pmdp_collapse_flush: ~2 us, KERNEL-MODEL.md §6); khugepaged's PTE walk ~10 ns per PTE as
    // ksmd's. The TLB-reach saving: models/mm/tlb_reach.hpp (its figure and citation, shared with
    // kernel.hugetlb).
    {"compact_ns", Kind::Int, "640000", "direct compaction of one 2 MiB block, ns", 0, 1e10},
    {"scan_pte_ns", Kind::Int, "10", "khugepaged's CPU per PTE examined, ns", 0, 1e6},
    {"copy_page_ns", Kind::Int, "400", "a collapse's copy of one 4 KiB subpage, ns", 0, 1e6},
    {"tlb_flush_ns", Kind::Int, "2000", "a collapse's TLB flush (initiator), ns", 0, 1e9},
    {"tlb_saving_ns", Kind::Int, mm::kTlbSavingNsJson,
     "access-time saving of an access through a PMD mapping (TLB reach), ns", 0, 1e6},
    {"shmem_enabled", Kind::Enum, "\"never\"",
     "transparent_hugepage/shmem_enabled, for shmem (memfd) guests: always, within_size (the guest file covers every "
     "whole PMD range, so as always), advise (VM_HUGEPAGE VMAs at fault time; khugepaged never scans the guest: the "
     "VMM's MADV_HUGEPAGE is judged on the memfd VMA's flags from before it and does not enter the mm), never (the kernel's default: no huge page-cache folio "
     "at fault time nor from khugepaged; MADV_COLLAPSE still collapses), deny (not even MADV_COLLAPSE) or force. "
     "A huge folio is mapped by one PMD where the PMD is none, else by PTEs; khugepaged collapses shmem ranges with "
     "collapse_file() and retract_page_tables(), and a uffd-protected VMA keeps its PTE table (the VMA-level uffd "
     "guard: userfaultfd_wp() on 6.18, userfaultfd_protected() with kernel.patches.khugepaged_uffd_protected on rwp)",
     0, 0, "always|within_size|advise|never|deny|force"},
};

Enabled parse_enabled(const std::string& s) {
  return s == "always" ? Enabled::Always : s == "madvise" ? Enabled::Madvise : Enabled::Never;
}
ShmemEnabled parse_shmem(const std::string& s) {
  if (s == "always") return ShmemEnabled::Always;
  if (s == "within_size") return ShmemEnabled::WithinSize;
  if (s == "advise") return ShmemEnabled::Advise;
  if (s == "deny") return ShmemEnabled::Deny;
  if (s == "force") return ShmemEnabled::Force;
  return ShmemEnabled::Never;
}
Defrag parse_defrag(const std::string& s) {
  if (s == "always") return Defrag::Always;
  if (s == "defer") return Defrag::Defer;
  if (s == "defer+madvise") return Defrag::DeferMadvise;
  if (s == "madvise") return Defrag::Madvise;
  return Defrag::Never;
}

std::vector<std::unique_ptr<kernel::KernelDaemon>> make(core::Params& p, const kernel::DaemonContext& ctx) {
  ThpConfig c;
  c.enabled = parse_enabled(p.get_string(kParams[0]));
  c.defrag = parse_defrag(p.get_string(kParams[1]));
  c.hugepage_advised = p.get_bool(kParams[2]);
  c.pages_to_scan = static_cast<unsigned>(p.get_int(kParams[3]));
  c.scan_sleep_ns = p.get_int(kParams[4]) * 1'000'000;
  c.alloc_sleep_ns = p.get_int(kParams[5]) * 1'000'000;
  c.max_ptes_none = static_cast<unsigned>(p.get_int(kParams[6]));
  c.max_ptes_swap = static_cast<unsigned>(p.get_int(kParams[7]));
  c.max_ptes_shared = static_cast<unsigned>(p.get_int(kParams[8]));
  c.khugepaged_defrag = p.get_int(kParams[9]) == 1;
  c.uffd_guard = p.get_bool(kParams[10]);
  c.compact_ns = p.get_int(kParams[11]);
  c.scan_pte_ns = p.get_int(kParams[12]);
  c.copy_page_ns = p.get_int(kParams[13]);
  c.tlb_flush_ns = p.get_int(kParams[14]);
  c.tlb_saving_ns = p.get_int(kParams[15]);
  c.shmem_enabled = parse_shmem(p.get_string(kParams[16]));
  std::vector<std::unique_ptr<kernel::KernelDaemon>> out;
  // hugepage_pmd_enabled(): khugepaged runs when anon THP or shmem THP is on.
  const bool shmem_on = c.shmem_enabled != ShmemEnabled::Never && c.shmem_enabled != ShmemEnabled::Deny;
  if (c.enabled == Enabled::Never && !shmem_on) return out;
  for (unsigned h = 0; h < ctx.hosts.size(); ++h) {
    const auto& hk = ctx.hosts[h];
    std::vector<ThpVm*> vms;
    for (kernel::VmKernel* vk : hk.vms) {
      // thp_vma_allowable_order() refuses VM_HUGETLB: a hugetlb VM has no THP state.
      if (vk->as->config().backing == mm::Backing::Hugetlb) continue;
      // Each backing by its own setting: an anon VM when enabled != never, a shmem one when
      // shmem_enabled allows huge folios.
      if (vk->as->anon() ? c.enabled == Enabled::Never : !shmem_on) continue;
      auto m = std::make_unique<ThpVm>(*vk->as, c, vk->uffd.get());
      vms.push_back(m.get());
      vk->as->set_huge(m.get());
      vk->as->set_huge_saving_ns(c.tlb_saving_ns);
      if (vk->thp) vk->thp->enable(m.get());
      vk->mechanisms.push_back(std::move(m));
    }
    out.push_back(std::make_unique<Khugepaged>("khugepaged." + hk.name, h, hk.cpu_nodes.front(), std::move(vms), c));
  }
  return out;
}

}  // namespace

kernel::DaemonInfo thp_section_info() {
  return {"thp", "transparent huge pages: PMD-mapped anon and shmem folios, splits, khugepaged (mm/huge_memory.c, "
                 "mm/khugepaged.c, mm/shmem.c)",
          kParams, make};
}

void install_thp_faults(kernel::VmKernel& vk) {
  auto h = std::make_unique<ThpFaults>();
  vk.thp = h.get();
  vk.as->router().add(mm::FaultClass::None, h.get());
  vk.handlers.push_back(std::move(h));
}

}  // namespace vmemsim::thp
