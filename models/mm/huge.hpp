// The seam between the mm core and huge mappings (models/thp): what the core tells the THP model
// before it changes PTEs that may belong to a PMD mapping or to a large folio.
//
// Lifecycle: an AddressSpace has no HugeMappings unless the scenario enables THP
// (kernel.thp.enabled != never); then models/thp installs one per VM. With none installed every
// call site below is one null test on a slow path, and PTEs never carry pte::kHuge.
#pragma once
#include <cstdint>
#include <utility>

#include "models/mm/fault_router.hpp"
#include "models/mm/pte.hpp"

namespace vmemsim::mm {

class AddressSpace;

// What a range operation is about to do to the PTEs of [first, first + n).
enum class RangeOp : std::uint8_t {
  Protect,       // change_protection() to PROT_NONE (NUMA scan, DEACTIVATE, RWPROTECT)
  WriteProtect,  // UFFDIO_WRITEPROTECT (uffd_wp_range -> change_protection)
  ScanWp,        // PAGEMAP_SCAN with PM_SCAN_WP_MATCHING (pagemap_scan_thp_entry)
  Zap,           // MADV_DONTNEED (zap_page_range_single -> zap_pmd_range)
};

class HugeMappings {
 public:
  virtual ~HugeMappings() = default;
  // Before a range operation: a PMD mapping it covers only in part is split (__split_huge_pmd),
  // one it covers whole stays huge (change_huge_pmd / zap_huge_pmd work on the PMD).
  virtual void range(AddressSpace& as, Gfn first, std::uint64_t n, RangeOp op) = 0;
  // Before an operation on one page that needs a small folio (swap-out, migration, a KSM
  // merge): split the PMD and the folio (split_folio()).
  virtual void page(AddressSpace& as, Gfn g) = 0;
  // zap_pte_range() on a subpage of a large folio: unmaps it, the folio keeps the frame until
  // it is split or wholly unmapped (deferred_split_folio()). True when it took the zap.
  virtual bool zap(AddressSpace& as, Gfn g) = 0;
  // Around handle_mm_fault() on a PTE of a PMD mapping: before, the PMD paths that split
  // (do_huge_pmd_wp_page on a WP_ASYNC-protected PMD); after, the other 511 slots take the
  // protection the fault left on the faulting slot (one PMD entry).
  virtual void before_fault(AddressSpace& as, Gfn g, bool write) = 0;
  // The page-cache folio holding index g (shmem): [first, end) of its indexes; a small folio
  // is [g, g + 1). Kernel reclaim unmaps and writes out a large one whole.
  virtual std::pair<std::uint64_t, std::uint64_t> file_folio(const AddressSpace& as, Gfn g) const {
    (void)as;
    return {g.v, g.v + 1};
  }
  virtual void after_fault(AddressSpace& as, Gfn g) = 0;
  // HPAGE_PMD_NR when the VMA may hold PMD mappings (__thp_vma_allowable_orders() allows
  // PMD_ORDER), else 1. A VMM that evicts at 2 MiB (models/reclaim/evictor.hpp, `thp_eviction:
  // pmd`) takes its unit from it.
  virtual std::uint64_t pmd_pages() const = 0;
};

}  // namespace vmemsim::mm
