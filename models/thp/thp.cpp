#include "models/thp/thp.hpp"

#include <algorithm>

#include "models/uffd/uffd.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::thp {

namespace pte = mm::pte;
using mm::Pte;

namespace {
constexpr const char* kResultNames[kScanResults] = {
    "SCAN_SUCCEED",         "SCAN_PMD_NULL",       "SCAN_PMD_MAPPED", "SCAN_EXCEED_NONE_PTE",
    "SCAN_EXCEED_SWAP_PTE", "SCAN_EXCEED_SHARED_PTE", nullptr /* from the capability table */,
    "SCAN_PAGE_RO",         "SCAN_LACK_REFERENCED_PAGE", "SCAN_ALLOC_HUGE_PAGE_FAIL", "SCAN_VMA_CHECK",
    "SCAN_PTE_MAPPED_HUGEPAGE", "SCAN_TRUNCATED", "SCAN_PTE_NON_PRESENT",
};
}  // namespace

ThpVm::ThpVm(mm::AddressSpace& as, const ThpConfig& cfg, uffd::Uffd* uffd)
    : as_(as), cfg_(cfg), uffd_(uffd), pte_table_(as.pages() / kPmdPages + 1, false) {
  k_alloc_ = as_.router().add_kind("thp_fault_alloc");
  if (shmem()) {
    k_file_alloc_ = as_.router().add_kind("thp_file_alloc");
    k_file_map_ = as_.router().add_kind("thp_file_map");
    // The VMM's mmap() of the memfd (__mmap_new_vma() -> khugepaged_enter_vma()) and its
    // MADV_HUGEPAGE (hugepage_madvise() -> khugepaged_enter_vma()): both judged by
    // shmem_allowable_huge_orders() on vma->vm_flags, which carry no VM_HUGEPAGE yet (the madvise
    // sets it after hugepage_madvise() returns). khugepaged_entered() in thp.hpp.
    entered_ = shmem_allowed(false);
  } else {
    entered_ = true;
  }
}

bool ThpVm::shmem_allowed(bool vm_hugepage) const {
  // shmem_huge_global_enabled(): always, within_size (the guest file covers every whole PMD
  // range) and force; advise on a VM_HUGEPAGE VMA; never and deny refuse.
  switch (cfg_.shmem_enabled) {
    case ShmemEnabled::Always:
    case ShmemEnabled::WithinSize:
    case ShmemEnabled::Force: return true;
    case ShmemEnabled::Advise: return vm_hugepage;
    default: return false;
  }
}

void ThpVm::enter_khugepaged() {
  // khugepaged_enter_vma(): once entered, the mm stays on the list (until exit).
  if (!entered_) entered_ = shmem() ? shmem_allowed(cfg_.hugepage_advised) : vma_allowed();
}

const char* ThpVm::result_name(ScanResult r) const {
  if (r == ScanResult::PteUffd) return as_.caps().khugepaged_uffd_result;
  return kResultNames[static_cast<std::size_t>(r)];
}

bool ThpVm::vma_allowed() const {
  if (shmem()) return shmem_allowed(cfg_.hugepage_advised);
  if (!as_.anon()) return false;
  return cfg_.enabled == Enabled::Always || (cfg_.enabled == Enabled::Madvise && cfg_.hugepage_advised);
}

bool ThpVm::huge_cached(std::uint64_t pmd) const {
  // A subpage punched or replaced since the folio was built means the folio was split.
  auto it = cache_huge_.find(pmd);
  if (it == cache_huge_.end()) return false;
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Gfn g(pmd * kPmdPages + i);
    if (!as_.in_page_cache(g) || as_.cache_pfn(g).v != it->second[i]) return false;
  }
  return true;
}

bool ThpVm::vma_uffd_guarded() const {
  if (!cfg_.uffd_guard) return false;
  const auto& v = as_.uffd_vma();
  // 6.18: userfaultfd_wp(vma). Seed 002 broadens both checks to userfaultfd_protected(vma);
  // VM_UFFD_RWP exists only on the rwp series, so v.rwp is false elsewhere.
  return v.wp || (v.rwp && as_.config().patches.khugepaged_uffd_protected);
}

bool ThpVm::pmd_none(std::uint64_t pmd) {
  // A PTE table, once some PTE was seen in it, stays until the model frees it (retract, a PMD
  // collapse): zap_pte_range() leaves an emptied table in place. A table whose PTEs all came
  // and went unseen counts as none (the same approximation as huge_fault()).
  if (pte_table_[pmd]) return false;
  const std::uint64_t g0 = pmd * kPmdPages;
  for (unsigned i = 0; i < kPmdPages; ++i)
    if (!pte::none(as_.pte_at(Gfn(g0 + i)))) {
      pte_table_[pmd] = true;
      return false;
    }
  return true;
}

void ThpVm::map_file_pmd(std::uint64_t pmd) {
  // do_set_pmd(): one PMD maps the whole page-cache folio (folio_add_file_rmap_pmd), with the
  // VMA's protection. It needs no PTE table.
  const std::uint64_t g0 = pmd * kPmdPages;
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Gfn g(g0 + i);
    as_.map_from_cache(g);
    as_.page_table().set_huge(g);
  }
  pte_table_[pmd] = false;
  ++mapped_pmds_;
  ++c_.file_mapped;  // THP_FILE_MAPPED
}

void ThpVm::clear_file_pmd(std::uint64_t pmd) {
  // __split_huge_pmd_locked() on a file PMD: "Tell the caller to fault in the PTEs": the PMD is
  // cleared (zap_huge_pmd() likewise), the folio stays whole in the page cache.
  const std::uint64_t g0 = pmd * kPmdPages;
  auto& pt = as_.page_table();
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Gfn g(g0 + i);
    const Pte p = as_.pte_at(g);
    pt.split_huge(g, pte::young(p), pte::dirty(p));
  }
  --mapped_pmds_;
  for (unsigned i = 0; i < kPmdPages; ++i) as_.zap(Gfn(g0 + i));
  ++c_.split_pmd;
  as_.tlb_flush();
}

std::optional<mm::FaultOutcome> ThpVm::shmem_fault(const mm::Fault& f) {
  if (f.cls != mm::FaultClass::None) return std::nullopt;  // a marker lives in a PTE table
  const std::uint64_t pmd = f.gfn.v / kPmdPages;
  if (pmd >= pmds()) return std::nullopt;
  const auto& v = as_.uffd_vma();
  const auto& costs = as_.config().costs;
  if (as_.in_page_cache(f.gfn)) {
    // shmem_get_folio_gfp(): a folio in the cache of a VM_UFFD_MINOR VMA is the handler's.
    if (v.minor || !huge_cached(pmd) || !pmd_none(pmd)) return std::nullopt;
    // finish_fault() -> do_set_pmd() on a none PMD, whatever shmem_enabled says (the folio
    // exists; vma_thp_disabled() with forced_collapse).
    map_file_pmd(pmd);
    return as_.count(k_file_map_, costs.minor_fault_ns);
  }
  // A missing page of a VM_UFFD_MISSING VMA goes to the handler before any allocation.
  if (v.missing || !vma_allowed()) return std::nullopt;
  const std::uint64_t g0 = pmd * kPmdPages;
  for (unsigned i = 0; i < kPmdPages; ++i)
    if (as_.in_file(Gfn(g0 + i))) return std::nullopt;  // shmem_alloc_and_add_folio(): the range is taken
  std::array<std::uint32_t, kPmdPages> pfns{};
  bool compacted = false;
  if (!alloc_folio(alloc_order(pmd, f.cpu_node.v), g0, fault_may_compact(), pfns, compacted)) {
    ++c_.fault_fallback;  // shmem falls back to order 0 (THP_FILE_FALLBACK)
    return std::nullopt;
  }
  for (unsigned i = 0; i < kPmdPages; ++i) as_.add_to_cache(Gfn(g0 + i), core::Pfn(pfns[i]));
  cache_huge_[pmd] = pfns;
  ++c_.file_alloc;  // THP_FILE_ALLOC
  // finish_fault(): a none PMD takes the PMD mapping; otherwise PTEs -- one page in a
  // uffd-armed VMA ("per-page fault to maintain the uffd semantics"), else every none PTE of
  // the folio inside the PMD.
  if (pmd_none(pmd)) {
    map_file_pmd(pmd);
  } else if (v.any()) {
    as_.map_from_cache(f.gfn);
  } else {
    for (unsigned i = 0; i < kPmdPages; ++i)
      if (pte::none(as_.pte_at(Gfn(g0 + i)))) as_.map_from_cache(Gfn(g0 + i));
  }
  const TimeNs cost = costs.minor_fault_ns + kPmdPages * costs.page_clear_ns + (compacted ? cfg_.compact_ns : 0);
  return as_.count(k_file_alloc_, cost);
}

bool ThpVm::wp_async() const { return uffd_ != nullptr && uffd_->features().wp_async; }

std::size_t ThpVm::deferred() const {
  std::size_t n = 0;
  for (const auto& [pmd, f] : split_) n += f.deferred;
  return n;
}

bool ThpVm::fault_may_compact() const {
  // vma_thp_gfp_mask(): direct compaction per the defrag setting.
  return cfg_.defrag == Defrag::Always ||
         ((cfg_.defrag == Defrag::Madvise || cfg_.defrag == Defrag::DeferMadvise) && cfg_.hugepage_advised);
}

bool ThpVm::alloc_folio(const std::vector<unsigned>& nodes, std::uint64_t g0, bool compact,
                        std::array<std::uint32_t, kPmdPages>& pfns, bool& compacted) {
  // A free 2 MiB block on the first node that has one; only then, where allowed, direct
  // compaction on each in turn (__alloc_pages_slowpath()).
  compacted = false;
  for (int pass = 0; pass < (compact ? 2 : 1); ++pass)
    for (unsigned n : nodes)
      if (as_.host().alloc_block(core::NodeId(static_cast<std::uint16_t>(n)), self(g0), pfns.data(), pass == 1)) {
        compacted = pass == 1;
        return true;
      }
  return false;
}

std::vector<unsigned> ThpVm::alloc_order(std::uint64_t pmd, unsigned cpu_node) const {
  // vma_alloc_folio() with the VMA's mempolicy, as AddressSpace::alloc_frame (interleave by the
  // folio's index: interleave_nid() shifts the offset by the order).
  const auto& c = as_.config();
  unsigned first = cpu_node;
  switch (c.placement) {
    case mm::Placement::Local: first = cpu_node; break;
    case mm::Placement::Preferred: first = c.home_node; break;
    case mm::Placement::Interleave: first = c.interleave_nodes[pmd % c.interleave_nodes.size()]; break;
  }
  return c.fallback[first];
}

// ---------------------------------------------------------------------------------------------
// The fault: do_anonymous_page()'s PMD sibling.

std::optional<mm::FaultOutcome> ThpVm::huge_fault(const mm::Fault& f) {
  if (shmem()) return shmem_fault(f);
  if (f.cls != mm::FaultClass::None || !vma_allowed()) return std::nullopt;
  const std::uint64_t pmd = f.gfn.v / kPmdPages;
  if (pmd >= pmds()) return std::nullopt;  // the PMD range is not wholly inside the VMA
  // __handle_mm_fault(): only a none PMD (no PTE table yet) takes create_huge_pmd().
  if (pte_table_[pmd]) return std::nullopt;
  const std::uint64_t g0 = pmd * kPmdPages;
  for (unsigned i = 0; i < kPmdPages; ++i)
    if (!pte::none(as_.pte_at(Gfn(g0 + i)))) {
      pte_table_[pmd] = true;
      return std::nullopt;
    }
  const auto fallback = [&] {
    pte_table_[pmd] = true;  // __pte_alloc() for the order-0 fault that follows
    return std::nullopt;
  };
  // alloc_anon_folio(): a uffd-armed VMA gets order-0 folios only (userfaultfd_armed()), so
  // that every page faults on its own to the handler.
  if (as_.uffd_vma().any()) {
    ++c_.fault_fallback_uffd;
    return fallback();
  }
  // The huge zero page (transparent_hugepage/use_zero_page) is not modelled: a read fault where
  // the zero page is used takes the 4 KiB zero-page path.
  if (!f.write && as_.config().use_zero_page && (!as_.has_content() || as_.content(f.gfn) == mm::content::kZero))
    return fallback();
  std::array<std::uint32_t, kPmdPages> pfns{};
  bool compacted = false;
  if (!alloc_folio(alloc_order(pmd, f.cpu_node.v), g0, fault_may_compact(), pfns, compacted)) {
    ++c_.fault_fallback;  // THP_FAULT_FALLBACK
    return fallback();
  }
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Gfn g(g0 + i);
    as_.map_frame(g, core::Pfn(pfns[i]), true);
    as_.page_table().set_huge(g);
  }
  ++mapped_pmds_;
  ++c_.fault_alloc;  // THP_FAULT_ALLOC
  if (compacted) ++c_.fault_compact;
  const auto& costs = as_.config().costs;
  // clear_huge_page(): 512 page clears.
  const TimeNs cost = costs.minor_fault_ns + kPmdPages * costs.page_clear_ns + (compacted ? cfg_.compact_ns : 0);
  return as_.count(k_alloc_, cost);
}

// ---------------------------------------------------------------------------------------------
// Splits.

void ThpVm::split_pmd(std::uint64_t pmd) {
  if (!pmd_mapped(pmd)) return;
  const std::uint64_t g0 = pmd * kPmdPages;
  auto& pt = as_.page_table();
  bool young = false, dirty = false;
  Folio f;
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Pte p = as_.pte_at(Gfn(g0 + i));
    young |= pte::young(p);
    dirty |= pte::dirty(p);
    f.pfn[i] = pte::pfn(p);
  }
  for (unsigned i = 0; i < kPmdPages; ++i) pt.split_huge(Gfn(g0 + i), young, dirty);
  split_.emplace(pmd, f);
  pte_table_[pmd] = true;  // the deposited page table becomes the PMD's PTE table
  --mapped_pmds_;
  ++c_.split_pmd;  // THP_SPLIT_PMD
  as_.tlb_flush();  // pmdp_invalidate() -> flush_pmd_tlb_range()
}

void ThpVm::split_folio(std::uint64_t pmd) {
  split_pmd(pmd);
  auto it = split_.find(pmd);
  if (it == split_.end()) return;
  // __folio_split(): the subpages still mapped become small folios that keep their mapping; a
  // subpage no one maps any more is freed with the folio's reference on it.
  for (unsigned i = 0; i < kPmdPages; ++i)
    if (it->second.held[i]) {
      as_.host().put(core::Pfn(it->second.pfn[i]));
      ++c_.deferred_frames_freed;
    }
  split_.erase(it);
  ++c_.split_page;  // THP_SPLIT_PAGE
}

std::uint64_t ThpVm::deferred_split_scan() {
  const std::uint64_t before = c_.deferred_frames_freed;
  std::vector<std::uint64_t> queue;
  for (const auto& [pmd, f] : split_)
    if (f.deferred) queue.push_back(pmd);
  for (auto pmd : queue) split_folio(pmd);
  return c_.deferred_frames_freed - before;
}

void ThpVm::unmap_subpage(std::uint64_t pmd, Folio& f, unsigned i) {
  const Gfn g(pmd * kPmdPages + i);
  // folio_remove_rmap_pte(): the mapping goes, the frame stays with the large folio.
  as_.host().unmap(core::Pfn(f.pfn[i]), self(g.v));
  as_.page_table().clear(g);
  f.held.set(i);
  if (f.held.all()) {
    // The folio's last mapping went: it is freed whole, its block back to the node.
    as_.host().free_block(f.pfn.data());
    split_.erase(pmd);
    return;
  }
  if (!f.deferred) {
    f.deferred = true;  // deferred_split_folio(): partially mapped
    ++c_.deferred_split_page;
  }
}

void ThpVm::zap_huge_pmd(std::uint64_t pmd) {
  // zap_huge_pmd(): the PMD goes at once (pmd_none again, the deposited table freed) and the
  // folio with its last mapping.
  const std::uint64_t g0 = pmd * kPmdPages;
  std::array<std::uint32_t, kPmdPages> pfns{};
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Gfn g(g0 + i);
    pfns[i] = pte::pfn(as_.pte_at(g));
    as_.host().unmap(core::Pfn(pfns[i]), self(g.v));
    as_.page_table().clear(g);
  }
  as_.host().free_block(pfns.data());
  pte_table_[pmd] = false;
  --mapped_pmds_;
  ++c_.zap_huge_pmd;
}

// ---------------------------------------------------------------------------------------------
// HugeMappings.

void ThpVm::resolve_untracked(std::uint64_t first, std::uint64_t end) {
  for (auto it = untracked_.lower_bound(first); it != untracked_.end() && it->first < end;) {
    untracked_accessed_ += as_.truth().last_access(Gfn(it->first)) >= it->second;
    it = untracked_.erase(it);
  }
}

std::uint64_t ThpVm::untracked_pages_accessed() const {
  std::uint64_t n = untracked_accessed_;
  for (const auto& [g, t] : untracked_) n += as_.truth().last_access(Gfn(g)) >= t;
  return n;
}

void ThpVm::range(mm::AddressSpace&, Gfn first, std::uint64_t n, mm::RangeOp op) {
  if (n == 0) return;
  const std::uint64_t end = first.v + n;
  // The VMM changes these pages' protection (or drops them): their untracked window ends.
  if (!untracked_.empty()) [[unlikely]] resolve_untracked(first.v, end);
  for (std::uint64_t pmd = first.v / kPmdPages; pmd * kPmdPages < end && pmd < pmds(); ++pmd) {
    if (!pmd_mapped(pmd)) continue;
    const bool whole = first.v <= pmd * kPmdPages && end >= (pmd + 1) * kPmdPages;
    if (shmem()) {
      // change_pmd_range(): a file PMD is split (cleared) when the range covers it in part and
      // for uffd-wp whatever the range (pgtable_split_needed()); change_pmd_prepare() then
      // allocates the PTE table that the uffd-wp markers go in. A zap clears it whole.
      const bool wp = op == mm::RangeOp::WriteProtect || op == mm::RangeOp::ScanWp;
      if (!whole || op == mm::RangeOp::Zap || op == mm::RangeOp::WriteProtect) {
        clear_file_pmd(pmd);
        if (wp) pte_table_[pmd] = true;
      }
      continue;
    }
    if (!whole) {
      // change_pmd_range() / zap_pmd_range() / pagemap_scan_thp_entry(): a range that does not
      // cover the whole PMD splits it; a partial zap leaves the folio partially mapped, on the
      // deferred split queue once a subpage goes (zap() below).
      split_pmd(pmd);
    } else if (op == mm::RangeOp::Zap) {
      zap_huge_pmd(pmd);
    }
    // Whole-PMD protection changes keep the PMD: change_huge_pmd() (PROT_NONE, uffd-wp) and
    // make_uffd_wp_pmd() apply to all 512 slots, which the caller's per-PTE loop does.
  }
}

void ThpVm::page(mm::AddressSpace&, Gfn g) {
  const std::uint64_t pmd = g.v / kPmdPages;
  if (pmd >= pmds()) return;
  if (shmem()) {
    // split_folio() of a page-cache folio: the PMD goes, the folio becomes 512 small ones.
    if (pmd_mapped(pmd)) clear_file_pmd(pmd);
    cache_huge_.erase(pmd);
    return;
  }
  if (pmd_mapped(pmd)) split_pmd(pmd);
  auto it = split_.find(pmd);
  if (it != split_.end() && pte::present(as_.pte_at(g)) && pte::pfn(as_.pte_at(g)) == it->second.pfn[g.v % kPmdPages])
    split_folio(pmd);
}

bool ThpVm::zap(mm::AddressSpace&, Gfn g) {
  if (!untracked_.empty()) [[unlikely]] resolve_untracked(g.v, g.v + 1);
  const std::uint64_t pmd = g.v / kPmdPages;
  if (pmd >= pmds()) return false;
  if (shmem()) {
    // A page-cache subpage is an ordinary shmem page once its PMD is gone: a zap of one page of
    // a PMD mapping clears the PMD (the page cache keeps the folio), and took this page too.
    if (!pmd_mapped(pmd)) return false;
    clear_file_pmd(pmd);
    return true;
  }
  if (pmd_mapped(pmd)) split_pmd(pmd);  // a single-page zap is a partial one
  auto it = split_.find(pmd);
  if (it == split_.end()) return false;
  const unsigned i = static_cast<unsigned>(g.v % kPmdPages);
  const Pte p = as_.pte_at(g);
  if (!pte::present(p) || pte::zero_page(p) || pte::pfn(p) != it->second.pfn[i]) return false;
  unmap_subpage(pmd, it->second, i);
  return true;
}

void ThpVm::before_fault(mm::AddressSpace&, Gfn g, bool write) {
  const Pte p = as_.pte_at(g);
  // do_huge_pmd_wp_page(): a write to a uffd-wp protected huge PMD in a WP_ASYNC VMA splits the
  // PMD (userfaultfd_huge_pmd_wp() && userfaultfd_wp_async() -> __split_huge_pmd) and the PTE
  // fault resolves it; without WP_ASYNC the fault goes to the handler with the PMD intact.
  if (write && pte::uffd(p) && !pte::protnone(p) && as_.uffd_vma().wp && wp_async()) split_pmd(g.v / kPmdPages);
}

std::pair<std::uint64_t, std::uint64_t> ThpVm::file_folio(const mm::AddressSpace&, Gfn g) const {
  const std::uint64_t pmd = g.v / kPmdPages;
  if (shmem() && pmd < pmds() && huge_cached(pmd)) return {pmd * kPmdPages, (pmd + 1) * kPmdPages};
  return {g.v, g.v + 1};
}

void ThpVm::after_fault(mm::AddressSpace&, Gfn g) {
  const Pte from = as_.pte_at(g);
  const std::uint64_t g0 = g.v / kPmdPages * kPmdPages;
  for (unsigned i = 0; i < kPmdPages; ++i)
    if (g0 + i != g.v) as_.page_table().pmd_sync(Gfn(g0 + i), from);
}

// ---------------------------------------------------------------------------------------------
// Metrics.

core::Json ThpVm::summary() const {
  core::Json j;
  j["thp_fault_alloc"] = c_.fault_alloc;
  j["thp_fault_fallback"] = c_.fault_fallback;
  j["thp_fault_fallback_uffd"] = c_.fault_fallback_uffd;
  j["thp_fault_compact"] = c_.fault_compact;
  j["thp_split_pmd"] = c_.split_pmd;
  j["thp_split_page"] = c_.split_page;
  j["thp_deferred_split_page"] = c_.deferred_split_page;
  j["deferred_frames_freed"] = c_.deferred_frames_freed;
  j["zap_huge_pmd"] = c_.zap_huge_pmd;
  if (shmem()) {
    j["thp_file_alloc"] = c_.file_alloc;
    j["thp_file_mapped"] = c_.file_mapped;
    j["file_collapse"] = c_.file_collapse;
    j["retract_page_tables"] = c_.retract;
    j["retract_refused_uffd"] = c_.retract_refused_uffd;
    j["collapse_markers"] = c_.collapse_markers;
    j["vma_uffd_guard"] = vma_uffd_guarded();
    j["khugepaged_entered"] = entered_;  // false: khugepaged never scans this guest (thp.hpp)
  }
  j["thp_collapse_alloc"] = c_.collapse_alloc;
  j["thp_collapse_alloc_failed"] = c_.collapse_alloc_failed;
  j["collapse_swapin"] = c_.collapse_swapin;
  core::Json r = core::Json::object();
  for (std::size_t i = 0; i < kScanResults; ++i)
    if (scan_results_[i]) r[result_name(static_cast<ScanResult>(i))] = scan_results_[i];
  j["scan_results"] = r;
  j["pmd_mapped"] = mapped_pmds_;
  j[shmem() ? "shmem_pmd_mapped_bytes" : "anon_huge_pages_bytes"] = mapped_pmds_ * kPmdPages * core::kPageSize;
  const std::uint64_t res = as_.resident_total();
  j["coverage"] = res ? static_cast<double>(mapped_pmds_ * kPmdPages) / static_cast<double>(res) : 0.0;
  j["huge_accesses"] = as_.huge_accesses();
  j["huge_access_share"] =
      as_.accesses() ? static_cast<double>(as_.huge_accesses()) / static_cast<double>(as_.accesses()) : 0.0;
  j["tlb_saving_ns_per_access"] = cfg_.tlb_saving_ns;
  j["tlb_saved_ns"] = as_.huge_accesses() * static_cast<std::uint64_t>(cfg_.tlb_saving_ns);
  j["uffd_guard"] = cfg_.uffd_guard;
  core::Json lost;
  lost["uffd_wp_ptes"] = c_.uffd_wp_lost;
  lost["uffd_wp_markers"] = c_.uffd_marker_lost;
  lost["uffd_rwp_ptes"] = c_.uffd_rwp_lost;
  lost["uffd_swap_entries"] = c_.uffd_swap_lost;
  lost["tracked_pages_untracked"] = uffd_state_destroyed();
  lost["protnone_without_uffd_bit"] = c_.protnone_lost;
  lost["untracked_pages_accessed"] = untracked_pages_accessed();
  lost["untracked_pages_pending"] = untracked_.size();
  j["collapse_destroyed_truth"] = lost;
  return j;
}

void ThpVm::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  out.emplace_back("thp_fault_alloc", c_.fault_alloc);
  out.emplace_back("thp_fault_fallback", c_.fault_fallback);
  out.emplace_back("thp_split_pmd", c_.split_pmd);
  out.emplace_back("thp_split_page", c_.split_page);
  out.emplace_back("thp_collapse_alloc", c_.collapse_alloc);
  std::uint64_t refused = 0;
  for (std::size_t i = 0; i < kScanResults; ++i)
    if (i != static_cast<std::size_t>(ScanResult::Succeed)) refused += scan_results_[i];
  out.emplace_back("collapse_refused", refused);
  out.emplace_back("collapse_refused_uffd", scan_results_[static_cast<std::size_t>(ScanResult::PteUffd)]);
  out.emplace_back("uffd_state_destroyed", uffd_state_destroyed());
  out.emplace_back("huge_accesses", as_.huge_accesses());
}

void ThpVm::gauges(std::vector<std::pair<std::string, double>>& out) const {
  const std::uint64_t res = as_.resident_total();
  out.emplace_back("pmd_mapped", static_cast<double>(mapped_pmds_));
  out.emplace_back("coverage", res ? static_cast<double>(mapped_pmds_ * kPmdPages) / static_cast<double>(res) : 0.0);
}

void ThpVm::check_invariants() const {
  std::uint64_t mapped = 0;
  for (std::uint64_t pmd = 0; pmd < pmds(); ++pmd) {
    const std::uint64_t g0 = pmd * kPmdPages;
    const Pte first = as_.pte_at(Gfn(g0));
    if (pte::huge(first)) {
      ++mapped;
      VMEMSIM_CHECK(!split_.count(pmd), "PMD " << pmd << " mapped huge and PTE-mapped at once");
      constexpr Pte kProt = pte::kProtNone | pte::kWrite | pte::kUffd | pte::kPresent | pte::kHuge;
      for (unsigned i = 0; i < kPmdPages; ++i) {
        const Pte p = as_.pte_at(Gfn(g0 + i));
        VMEMSIM_CHECK((p & kProt) == (first & kProt), "PMD " << pmd << " slot " << i << " differs from slot 0");
        VMEMSIM_CHECK(!pte::zero_page(p), "zero page in a PMD mapping at gfn " << g0 + i);
      }
    } else {
      for (unsigned i = 0; i < kPmdPages; ++i)
        VMEMSIM_CHECK(!pte::huge(as_.pte_at(Gfn(g0 + i))), "stray HUGE bit at gfn " << g0 + i);
    }
  }
  VMEMSIM_CHECK(mapped == mapped_pmds_, "PMD-mapped count " << mapped << " vs " << mapped_pmds_);
  for (const auto& [pmd, f] : split_) {
    VMEMSIM_CHECK(!f.held.all(), "PTE-mapped folio at PMD " << pmd << " with no mapping left");
    VMEMSIM_CHECK(f.deferred == f.held.any(), "PMD " << pmd << ": deferred flag vs held subpages");
    for (unsigned i = 0; i < kPmdPages; ++i) {
      const auto& fr = as_.host().frame(core::Pfn(f.pfn[i]));
      if (f.held[i]) {
        VMEMSIM_CHECK(fr.vm1 != 0 && fr.mapcount == 0 && fr.refcount == 1,
                      "held subpage " << i << " of PMD " << pmd << ": refcount " << fr.refcount);
      } else {
        const Pte p = as_.pte_at(Gfn(pmd * kPmdPages + i));
        VMEMSIM_CHECK(pte::present(p) && pte::pfn(p) == f.pfn[i],
                      "subpage " << i << " of the large folio at PMD " << pmd << " is neither mapped nor held");
      }
    }
  }
}

}  // namespace vmemsim::thp
