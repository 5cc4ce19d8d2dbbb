// Anonymous transparent huge pages (mm/huge_memory.c, mm/memory.c, mm/khugepaged.c): PMD-mapped
// 2 MiB folios, their fault path, PMD and folio splits, and the collapse that khugepaged and
// MADV_COLLAPSE share (khugepaged.hpp).
//
// Lifecycle: the "thp" fault mechanism (registry.cpp) installs a ThpFaults handler into every
// VM's router, in front of the core's do_anonymous_page(); it declines every fault until the
// kernel.thp section (thp_section.cpp) enables THP (enabled != never) and builds one ThpVm per
// VM. The ThpVm is then the VM's mm::HugeMappings (huge.hpp): the core and the uffd ioctls tell
// it before they change PTEs that may belong to a PMD mapping.
//
// Representation (pte.hpp): a PMD mapping is its 512 PTE slots with pte::kHuge, each mapping the
// frame of its subpage; the folio's 512 frames come from HostMemory::alloc_block (its
// fragmentation model). A folio stays large after its PMD is split ("PTE-mapped THP") until
// split_folio() runs; meanwhile a zapped subpage's frame stays allocated to the folio
// (deferred_split_folio()) and only the deferred split (deferred_split_scan(), run at each
// khugepaged wake-up: the kernel runs it from its shrinker) or the folio's last unmap frees it.
// State per VM, allocated only when THP is on: 1 bit per PMD (whether a PTE table exists, so
// that a fault after MADV_DONTNEED stays 4 KiB as it does in the kernel) and, per PTE-mapped
// large folio, its 512 frame numbers (2 KiB); nothing per 4 KiB page.
#pragma once
#include <array>
#include <bitset>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/kernel/mechanism.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/fault_router.hpp"
#include "models/mm/huge.hpp"
#include "models/mm/tlb_reach.hpp"

namespace vmemsim::uffd {
class Uffd;
}

namespace vmemsim::thp {

using core::Gfn;
using core::TimeNs;
constexpr unsigned kPmdPages = 512;  // HPAGE_PMD_NR

// /sys/kernel/mm/transparent_hugepage/enabled and defrag.
enum class Enabled : std::uint8_t { Always, Madvise, Never };
// /sys/kernel/mm/transparent_hugepage/shmem_enabled (mm/shmem.c SHMEM_HUGE_*): which shmem
// (memfd) ranges get huge page-cache folios at fault time and from khugepaged. MADV_COLLAPSE
// works under every setting but deny (shmem_allowable_huge_orders(..., shmem_huge_force)).
enum class ShmemEnabled : std::uint8_t { Always, WithinSize, Advise, Never, Deny, Force };
enum class Defrag : std::uint8_t { Always, Defer, DeferMadvise, Madvise, Never };

struct ThpConfig {
  Enabled enabled = Enabled::Madvise;
  Defrag defrag = Defrag::Madvise;
  ShmemEnabled shmem_enabled = ShmemEnabled::Never;
  bool hugepage_advised = true;  // the VMM's madvise(MADV_HUGEPAGE) on guest RAM (VM_HUGEPAGE)
  // khugepaged (/sys/kernel/mm/transparent_hugepage/khugepaged/*)
  unsigned pages_to_scan = 4096;
  TimeNs scan_sleep_ns = 10'000'000'000;
  TimeNs alloc_sleep_ns = 60'000'000'000;
  unsigned max_ptes_none = 511, max_ptes_swap = 64, max_ptes_shared = 256;
  bool khugepaged_defrag = true;
  // The uffd guard of hpage_collapse_scan_pmd() (pte_uffd_wp / pte_swp_uffd_wp_any). false is
  // a counterfactual kernel without it, for measuring what the guard protects.
  bool uffd_guard = true;
  // Costs (ns), sources in thp_section.cpp.
  TimeNs compact_ns = 640'000;
  TimeNs scan_pte_ns = 10;
  TimeNs copy_page_ns = 400;
  TimeNs tlb_flush_ns = 2000;
  TimeNs tlb_saving_ns = mm::kTlbSavingNs;  // models/mm/tlb_reach.hpp
};

// mm/khugepaged.c enum scan_result: the outcomes the model produces.
enum class ScanResult : std::uint8_t {
  Succeed,
  PmdNull,
  PmdMapped,
  ExceedNonePte,
  ExceedSwapPte,
  ExceedSharedPte,
  PteUffd,  // SCAN_PTE_UFFD_WP (6.18) / SCAN_PTE_UFFD (rwp): the name comes from the capability table
  PageRo,
  LackReferencedPage,
  AllocHugePageFail,
  VmaCheck,
  // The file (shmem) path: hpage_collapse_scan_file() / collapse_file() /
  // try_collapse_pte_mapped_thp().
  PteMappedHugepage,  // the range is already a PMD-sized page-cache folio, mapped by PTEs
  Truncated,          // collapse_file(): no page at all in the range
  PteNonPresent,      // try_collapse_pte_mapped_thp(): a marker or swap entry among the PTEs
  kCount
};
constexpr std::size_t kScanResults = static_cast<std::size_t>(ScanResult::kCount);

// What a collapse found and did (collapse_huge_page()).
struct CollapseInfo {
  ScanResult result = ScanResult::Succeed;
  unsigned node = 0;       // hpage_collapse_find_target_node()
  unsigned swapped = 0;    // swap entries read back (__collapse_huge_page_swapin)
  TimeNs cost_ns = 0;      // CPU of the scan and the collapse
  bool flushed = false;    // a TLB flush (pmdp_collapse_flush)
};

class ThpVm final : public kernel::VmMechanism, public mm::HugeMappings {
 public:
  ThpVm(mm::AddressSpace& as, const ThpConfig& cfg, uffd::Uffd* uffd);

  // ---- VmMechanism ----
  const char* name() const override { return "thp"; }
  core::Json summary() const override;
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;

  // ---- HugeMappings ----
  void range(mm::AddressSpace& as, Gfn first, std::uint64_t n, mm::RangeOp op) override;
  void page(mm::AddressSpace& as, Gfn g) override;
  bool zap(mm::AddressSpace& as, Gfn g) override;
  void before_fault(mm::AddressSpace& as, Gfn g, bool write) override;
  void after_fault(mm::AddressSpace& as, Gfn g) override;
  std::pair<std::uint64_t, std::uint64_t> file_folio(const mm::AddressSpace& as, Gfn g) const override;
  std::uint64_t pmd_pages() const override { return vma_allowed() ? kPmdPages : 1; }

  mm::AddressSpace& as() { return as_; }
  const ThpConfig& config() const { return cfg_; }
  std::uint64_t pmds() const { return as_.pages() / kPmdPages; }  // whole PMD ranges in the VMA
  bool pmd_mapped(std::uint64_t pmd) const { return mm::pte::huge(as_.pte_at(Gfn(pmd * kPmdPages))); }
  std::uint64_t mapped_pmds() const { return mapped_pmds_; }
  // A PTE-mapped large folio sits at this PMD (its PMD split, the folio not yet).
  bool pte_mapped_large(std::uint64_t pmd) const { return split_.count(pmd) != 0; }
  std::size_t deferred() const;  // folios on the deferred split queue

  // __thp_vma_allowable_orders() for a fault or khugepaged: anon, and enabled=always or
  // enabled=madvise on a VM_HUGEPAGE VMA; shmem by shmem_enabled (shmem_allowable_huge_orders()).
  bool vma_allowed() const;
  // khugepaged_enter_vma(): whether the VM's mm is on khugepaged's list (MMF_VM_HUGEPAGE), so
  // that khugepaged_scan_mm_slot() looks at it at all. It is put there only by a call that finds
  // the VMA eligible then, and stays until exit. For shmem (memfd) the eligibility is
  // shmem_allowable_huge_orders(), which reads vma->vm_flags, not the vm_flags the caller passes:
  // at the VMM's mmap (__mmap_new_vma()) the VMA has no VM_HUGEPAGE, and its MADV_HUGEPAGE
  // (hugepage_madvise()) is judged on the flags from before the madvise. So a memfd guest is
  // entered under shmem_enabled always, within_size and force, never under advise (a second
  // MADV_HUGEPAGE would enter it: enter_khugepaged(); tests/kernel/FINDINGS.md "shmem
  // collapse"). Anon guests count as entered from the start: the kernel enters them at their
  // first THP fault (do_huge_pmd_anonymous_page()), before which there is nothing to collapse.
  bool khugepaged_entered() const { return entered_; }
  // A later khugepaged_enter_vma() on the guest VMA (a repeated MADV_HUGEPAGE): judged on the
  // VMA's current flags, VM_HUGEPAGE included when the VMM advised it.
  void enter_khugepaged();
  bool shmem() const { return as_.config().backing == mm::Backing::Shmem; }
  // The page-cache folio at this PMD range is one PMD-sized folio (shmem).
  bool huge_cached(std::uint64_t pmd) const;
  // The VMA-level uffd checks of try_collapse_pte_mapped_thp() and
  // file_backed_vma_is_retractable(): userfaultfd_wp(vma) on 6.18, userfaultfd_protected(vma)
  // (VM_UFFD_WP or VM_UFFD_RWP) with seed 002's khugepaged hunk (kernel.patches).
  bool vma_uffd_guarded() const;
  // try_collapse_pte_mapped_thp(): maps a PMD-sized page-cache folio by one PMD in place of its
  // PTE table (install_pmd) or just removes the table (khugepaged: the next fault maps the PMD).
  ScanResult collapse_pte_mapped_thp(std::uint64_t pmd, bool install_pmd, TimeNs now = 0);
  // do_huge_pmd_anonymous_page(): a PMD-mapped folio for the none PMD around f.gfn, or nullopt
  // (the caller falls back to order 0).
  std::optional<mm::FaultOutcome> huge_fault(const mm::Fault& f);

  // __split_huge_pmd(): the PMD becomes 512 PTEs of the same (still large) folio.
  void split_pmd(std::uint64_t pmd);
  // split_folio(): the folio becomes 512 small ones; subpages it kept after a zap are freed.
  void split_folio(std::uint64_t pmd);
  // deferred_split_scan(): splits every folio on the queue. Returns frames freed.
  std::uint64_t deferred_split_scan();

  // hpage_collapse_scan_pmd() (khugepaged = cc->is_khugepaged) then collapse_huge_page() when it
  // succeeds. `swap_read` is told of each swap entry read back.
  CollapseInfo scan_and_collapse(std::uint64_t pmd, bool khugepaged, void (*swap_read)(void*) = nullptr,
                                 void* ctx = nullptr, TimeNs now = 0);
  // madvise(MADV_COLLAPSE) over [start, start + len) pages: every whole PMD in it, synchronously.
  struct MadvCollapse {
    std::vector<std::pair<std::uint64_t, ScanResult>> pmds;  // pmd index, result
    std::uint64_t collapsed = 0;
    TimeNs cost_ns = 0;
  };
  MadvCollapse madv_collapse(Gfn start, std::uint64_t len);

  const char* result_name(ScanResult r) const;
  std::uint64_t refusals(ScanResult r) const { return scan_results_[static_cast<std::size_t>(r)]; }

  struct Counters {
    std::uint64_t fault_alloc = 0, fault_fallback = 0, fault_fallback_uffd = 0, fault_compact = 0;
    std::uint64_t split_pmd = 0, split_page = 0, deferred_split_page = 0, deferred_frames_freed = 0;
    std::uint64_t zap_huge_pmd = 0, collapse_alloc = 0, collapse_alloc_failed = 0, collapse_swapin = 0;
    // Ground truth of a collapse without the guard (uffd_guard false): per-PTE state destroyed.
    std::uint64_t uffd_wp_lost = 0, uffd_marker_lost = 0, uffd_rwp_lost = 0, uffd_swap_lost = 0;
    std::uint64_t protnone_lost = 0;  // PROT_NONE without the uffd bit (NUMA hint, rfc-v1 DEACTIVATE)
    // shmem: THP_FILE_ALLOC (huge page-cache folios at fault), THP_FILE_MAPPED (PMD mappings of
    // them), collapse_file() successes, PTE tables retracted and kept for uffd.
    std::uint64_t file_alloc = 0, file_mapped = 0, file_collapse = 0, retract = 0, retract_refused_uffd = 0;
    std::uint64_t collapse_markers = 0;  // markers collapse_file()'s unmap left for protected PTEs
  };
  const Counters& counters() const { return c_; }
  std::uint64_t uffd_state_destroyed() const {
    return c_.uffd_wp_lost + c_.uffd_marker_lost + c_.uffd_rwp_lost + c_.uffd_swap_lost;
  }
  // Ground truth: pages whose uffd state a collapse destroyed that the guest then accessed before
  // the VMM next changed their protection (or zapped them): accesses no uffd fault reported, sync
  // or async. Pages still untracked are judged at the time of the call.
  std::uint64_t untracked_pages_accessed() const;
  std::uint64_t untracked_pages() const { return untracked_.size(); }

  // Consistency: PMD-mapped ranges are whole and uniform, large folios' frames are accounted.
  void check_invariants() const;

 private:
  struct Folio {  // a PTE-mapped large folio
    std::array<std::uint32_t, kPmdPages> pfn{};
    std::bitset<kPmdPages> held;  // subpage unmapped, its frame kept by the folio
    bool deferred = false;
  };
  ScanResult scan_pmd(std::uint64_t pmd, bool khugepaged, unsigned& node);
  // shmem_huge_global_enabled() for a VMA with or without VM_HUGEPAGE.
  bool shmem_allowed(bool vm_hugepage) const;
  // The shmem path of scan_and_collapse(): hpage_collapse_scan_file() + collapse_file() +
  // retract_page_tables().
  CollapseInfo scan_file(std::uint64_t pmd, bool khugepaged, TimeNs now, void (*swap_read)(void*), void* ctx);
  std::optional<mm::FaultOutcome> shmem_fault(const mm::Fault& f);
  void map_file_pmd(std::uint64_t pmd);
  void clear_file_pmd(std::uint64_t pmd);  // __split_huge_pmd() / zap_huge_pmd() of a file PMD
  bool pmd_none(std::uint64_t pmd);
  void drop_uffd_state(std::uint64_t g, mm::Pte p, TimeNs now);  // ground truth of destroyed state
  void zap_huge_pmd(std::uint64_t pmd);
  void unmap_subpage(std::uint64_t pmd, Folio& f, unsigned i);
  mm::Mapper self(std::uint64_t g) const { return {as_.vm(), Gfn(g)}; }
  std::vector<unsigned> alloc_order(std::uint64_t pmd, unsigned cpu_node) const;
  bool fault_may_compact() const;
  // A 2 MiB block for the folio at g0 from the first of `nodes` that has one, then (compact)
  // by direct compaction; false when none.
  bool alloc_folio(const std::vector<unsigned>& nodes, std::uint64_t g0, bool compact,
                   std::array<std::uint32_t, kPmdPages>& pfns, bool& compacted);
  bool wp_async() const;

  mm::AddressSpace& as_;
  ThpConfig cfg_;
  uffd::Uffd* uffd_;
  void resolve_untracked(std::uint64_t first, std::uint64_t end);
  std::vector<bool> pte_table_;  // per PMD: a PTE table exists (not pmd_none)
  std::map<std::uint64_t, TimeNs> untracked_;  // gfn -> when a collapse dropped its uffd state
  std::uint64_t untracked_accessed_ = 0;       // resolved ones that had been accessed
  std::map<std::uint64_t, Folio> split_;
  // shmem: the frames of each PMD-sized page-cache folio (2 KiB per huge folio, none otherwise).
  std::map<std::uint64_t, std::array<std::uint32_t, kPmdPages>> cache_huge_;
  std::uint64_t mapped_pmds_ = 0;
  bool entered_ = false;  // MMF_VM_HUGEPAGE
  Counters c_;
  std::array<std::uint64_t, kScanResults> scan_results_{};
  mm::FaultKind k_alloc_ = 0, k_file_alloc_ = 0, k_file_map_ = 0;
};

// The fault handler the "thp" fault mechanism installs in every VM (declines while THP is off).
class ThpFaults final : public mm::FaultHandler {
 public:
  std::optional<mm::FaultOutcome> handle(mm::AddressSpace& as, const mm::Fault& f) override {
    if (vm_ == nullptr) return std::nullopt;
    return vm_->huge_fault(f);
  }
  void enable(ThpVm* vm) { vm_ = vm; }

 private:
  ThpVm* vm_ = nullptr;
};

}  // namespace vmemsim::thp
