#include "models/thp/khugepaged.hpp"

#include <algorithm>

#include "sim/core/error.hpp"

namespace vmemsim::thp {

namespace pte = mm::pte;
using mm::Pte;

// ---------------------------------------------------------------------------------------------
// hpage_collapse_scan_pmd(): may the 512 PTEs of this PMD range become one huge PMD? The checks
// in the kernel's order, per PTE, then over the range.

ScanResult ThpVm::scan_pmd(std::uint64_t pmd, bool khugepaged, unsigned& node) {
  // hugepage_vma_revalidate() / thp_vma_allowable_order(): an eligible VMA that covers the whole
  // PMD range. MADV_COLLAPSE ignores the sysfs `enabled` setting (TVA_FORCED_COLLAPSE).
  if (pmd >= pmds() || !as_.anon() || (khugepaged && !vma_allowed())) return ScanResult::VmaCheck;
  if (pmd_mapped(pmd)) return ScanResult::PmdMapped;  // find_pmd_or_thp_or_none()
  const std::uint64_t g0 = pmd * kPmdPages;
  if (!pte_table_[pmd]) {
    bool all_none = true;
    for (unsigned i = 0; i < kPmdPages && all_none; ++i) all_none = pte::none(as_.pte_at(Gfn(g0 + i)));
    if (all_none) return ScanResult::PmdNull;  // no PTE table: nothing to collapse
  }
  const bool armed = as_.uffd_vma().any();  // userfaultfd_armed()
  const bool guard = cfg_.uffd_guard;
  unsigned none_or_zero = 0, unmapped = 0, shared = 0, referenced = 0;
  bool writable = false;
  std::array<unsigned, 64> load{};
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Pte p = as_.pte_at(Gfn(g0 + i));
    // is_swap_pte(): a swap entry, or a uffd-wp marker (a swap-format PTE).
    if (pte::swap(p) || pte::marker(p)) {
      ++unmapped;
      if (khugepaged && unmapped > cfg_.max_ptes_swap) return ScanResult::ExceedSwapPte;
      // "Always be strict with uffd-wp enabled swap entries": pte_swp_uffd_wp_any().
      if (guard && pte::uffd(p)) return ScanResult::PteUffd;
      continue;
    }
    // pte_none_or_zero(): in a uffd-armed VMA a single one refuses (a missing page must fault
    // to the handler), whatever max_ptes_none says; MADV_COLLAPSE has no limit otherwise.
    if (pte::none(p) || pte::zero_page(p)) {
      ++none_or_zero;
      if (!armed && (!khugepaged || none_or_zero <= cfg_.max_ptes_none)) continue;
      return ScanResult::ExceedNonePte;
    }
    // pte_uffd_wp() on 6.18, pte_uffd() in the rwp series: the same PTE bit, so an RWP PTE
    // (PROT_NONE + uffd) is refused here too (seed 002: "needs no change").
    if (guard && pte::uffd(p)) return ScanResult::PteUffd;
    // pte_write(): a PROT_NONE PTE keeps its write bit on x86 (change_pte_range()'s
    // preserve_write), as the model's PTE does.
    if (pte::writable(p)) writable = true;
    const auto& fr = as_.host().frame(core::Pfn(pte::pfn(p)));
    // folio_maybe_mapped_shared(): KSM pages and any frame mapped more than once.
    if (fr.mapcount > 1 || as_.host().is_ksm(core::Pfn(pte::pfn(p)))) {
      ++shared;
      if (khugepaged && shared > cfg_.max_ptes_shared) return ScanResult::ExceedSharedPte;
    }
    ++load[pte::node(p)];
    // The PTE's young bit (folio_test_young / referenced / mmu notifier young are not kept).
    if (khugepaged && pte::young(p)) ++referenced;
  }
  // hpage_collapse_find_target_node(): the node holding most of the range's pages.
  node = static_cast<unsigned>(std::max_element(load.begin(), load.end()) - load.begin());
  if (!writable) return ScanResult::PageRo;
  if (khugepaged && (referenced == 0 || (unmapped && referenced < kPmdPages / 2))) return ScanResult::LackReferencedPage;
  return ScanResult::Succeed;
}

CollapseInfo ThpVm::scan_and_collapse(std::uint64_t pmd, bool khugepaged, void (*swap_read)(void*), void* ctx,
                                      TimeNs now) {
  if (shmem()) {
    // collapse_single_pmd(): a file VMA takes hpage_collapse_scan_file(); a range that is
    // already a PMD-sized folio goes to collapse_pte_mapped_thp() -- without installing the
    // PMD from khugepaged (the next fault does), with it from MADV_COLLAPSE, which also follows
    // a successful collapse_file() with it (result = SCAN_PTE_MAPPED_HUGEPAGE).
    CollapseInfo ci = scan_file(pmd, khugepaged, now, swap_read, ctx);
    if (ci.result == ScanResult::PteMappedHugepage || (!khugepaged && ci.result == ScanResult::Succeed)) {
      if (ci.result == ScanResult::PteMappedHugepage) --scan_results_[static_cast<std::size_t>(ci.result)];
      else --scan_results_[static_cast<std::size_t>(ScanResult::Succeed)];
      const bool collapsed = ci.result == ScanResult::Succeed;
      ci.result = collapse_pte_mapped_thp(pmd, !khugepaged, now);
      ci.flushed = ci.flushed || ci.result == ScanResult::Succeed;
      // The khugepaged side renames SCAN_PMD_MAPPED to SCAN_SUCCEED; the model keeps
      // PmdMapped so that a mapped range is not counted as collapsed again on every pass.
      if (collapsed && khugepaged && ci.result == ScanResult::PmdMapped) ci.result = ScanResult::Succeed;
      ++scan_results_[static_cast<std::size_t>(ci.result)];
    }
    return ci;
  }
  CollapseInfo ci;
  ci.cost_ns = static_cast<TimeNs>(kPmdPages) * cfg_.scan_pte_ns;
  ci.result = scan_pmd(pmd, khugepaged, ci.node);
  if (ci.result != ScanResult::Succeed) {
    ++scan_results_[static_cast<std::size_t>(ci.result)];
    return ci;
  }
  // collapse_huge_page(): allocate the new folio first (alloc_charge_folio(): on the target
  // node, direct compaction per khugepaged/defrag; MADV_COLLAPSE always may compact).
  const std::uint64_t g0 = pmd * kPmdPages;
  std::array<std::uint32_t, kPmdPages> pfns{};
  const bool compact = !khugepaged || cfg_.khugepaged_defrag;
  bool compacted = false;
  if (!alloc_folio({ci.node}, g0, compact, pfns, compacted)) {
    ++c_.collapse_alloc_failed;  // THP_COLLAPSE_ALLOC_FAILED
    ci.result = ScanResult::AllocHugePageFail;
    ++scan_results_[static_cast<std::size_t>(ci.result)];
    return ci;
  }
  if (compacted) ci.cost_ns += cfg_.compact_ns;
  // __collapse_huge_page_swapin(), then __collapse_huge_page_copy(): every subpage is copied
  // (none and zero PTEs as zeroes), the old PTEs are cleared and the new PMD is built from
  // vm_page_prot (mk_huge_pmd + maybe_pmd_mkwrite(pmd_mkdirty())): young, dirty, writable,
  // with no uffd bit and no PROT_NONE. Whatever per-PTE state the old PTEs carried is gone;
  // with the guard on nothing uffd-owned can reach this point.
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Gfn g(g0 + i);
    const Pte p = as_.pte_at(g);
    if (pte::marker(p)) ++c_.uffd_marker_lost;
    else if (pte::swap(p) && pte::uffd(p)) ++c_.uffd_swap_lost;
    else if (pte::protnone(p) && pte::uffd(p)) ++c_.uffd_rwp_lost;
    else if (pte::present(p) && pte::uffd(p)) ++c_.uffd_wp_lost;
    else if (pte::protnone(p)) ++c_.protnone_lost;
    if (pte::swap(p)) {
      ++ci.swapped;
      ++c_.collapse_swapin;
      if (swap_read) swap_read(ctx);
    }
    if (!pte::none(p)) as_.zap(g);  // the old folio: a large one keeps its frames until its last unmap
    if (pte::uffd(p)) untracked_[g.v] = now;  // ground truth: this page's tracking is gone from now on
  }
  // The old PTE-mapped large folio, if any, went with its last mapping in zap().
  VMEMSIM_CHECK(!split_.count(pmd), "collapse left the old large folio at PMD " << pmd);
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Gfn g(g0 + i);
    as_.map_frame(g, core::Pfn(pfns[i]), true);
    as_.page_table().mkdirty(g);
    as_.page_table().mkyoung(g);
    as_.page_table().set_huge(g);
  }
  pte_table_[pmd] = false;  // the PTE table is freed (pte_free after the collapse)
  ++mapped_pmds_;
  ++c_.collapse_alloc;  // THP_COLLAPSE_ALLOC
  ci.cost_ns += static_cast<TimeNs>(kPmdPages) * cfg_.copy_page_ns + cfg_.tlb_flush_ns;
  ci.flushed = true;  // pmdp_collapse_flush()
  as_.tlb_flush();
  ++scan_results_[static_cast<std::size_t>(ScanResult::Succeed)];
  return ci;
}

// ---------------------------------------------------------------------------------------------
// shmem: hpage_collapse_scan_file(), collapse_file(), retract_page_tables() and
// try_collapse_pte_mapped_thp(). The file's page cache, not the PTEs, decides whether a range
// collapses; the uffd guard is the VMA-level check of the last two (seed 002's khugepaged hunk).

void ThpVm::drop_uffd_state(std::uint64_t g, Pte p, TimeNs now) {
  if (pte::marker(p)) ++c_.uffd_marker_lost;
  else if (pte::swap(p) && pte::uffd(p)) ++c_.uffd_swap_lost;
  else if (pte::protnone(p) && pte::uffd(p)) ++c_.uffd_rwp_lost;
  else if (pte::present(p) && pte::uffd(p)) ++c_.uffd_wp_lost;
  else if (pte::protnone(p)) ++c_.protnone_lost;
  if (pte::uffd(p)) untracked_[g] = now;
}

CollapseInfo ThpVm::scan_file(std::uint64_t pmd, bool khugepaged, TimeNs now, void (*swap_read)(void*), void* ctx) {
  CollapseInfo ci;
  ci.cost_ns = static_cast<TimeNs>(kPmdPages) * cfg_.scan_pte_ns;
  const auto done = [&](ScanResult r) {
    ci.result = r;
    ++scan_results_[static_cast<std::size_t>(r)];
    return ci;
  };
  // thp_vma_allowable_order(): khugepaged by shmem_enabled, MADV_COLLAPSE unless deny.
  if (pmd >= pmds() || cfg_.shmem_enabled == ShmemEnabled::Deny || (khugepaged && !vma_allowed()))
    return done(ScanResult::VmaCheck);
  if (pmd_mapped(pmd)) return done(ScanResult::PmdMapped);
  // hpage_collapse_scan_file(): a PMD-order folio at the range's start is already huge.
  if (huge_cached(pmd)) return done(ScanResult::PteMappedHugepage);
  const std::uint64_t g0 = pmd * kPmdPages;
  unsigned present = 0, swapped = 0;
  std::array<unsigned, 64> load{};
  for (unsigned i = 0; i < kPmdPages; ++i)
    if (as_.in_page_cache(Gfn(g0 + i))) {
      ++present;
      ++load[as_.host().node_of(as_.cache_pfn(Gfn(g0 + i))).v];
    } else if (as_.cache_swapped(Gfn(g0 + i))) {
      ++present;
      ++swapped;  // a swap entry in the page cache (xa_is_value())
    }
  ci.node = static_cast<unsigned>(std::max_element(load.begin(), load.end()) - load.begin());
  if (khugepaged && swapped > cfg_.max_ptes_swap) return done(ScanResult::ExceedSwapPte);
  if (khugepaged && present < kPmdPages - cfg_.max_ptes_none) return done(ScanResult::ExceedNonePte);
  // collapse_file(): an empty range is SCAN_TRUNCATED ("if (index == start) { if
  // (!xas_next_entry(&xas, end - 1))"); holes are filled with zeroes, unless a VMA mapping them
  // has a VM_UFFD_MISSING registration ("userspace ... might expect a UFFD_EVENT_PAGEFAULT").
  if (present == 0) return done(ScanResult::Truncated);
  if (present < kPmdPages && as_.uffd_vma().missing) return done(ScanResult::ExceedNonePte);
  // collapse_file() -> shmem_get_folio(): pages on swap are read back first (before the new
  // folio is allocated here, so that a failed read leaves nothing to undo).
  for (unsigned k = 0; k < kPmdPages && swapped; ++k) {
    const Gfn g(g0 + k);
    if (!as_.cache_swapped(g)) continue;
    if (!as_.shmem_swap_in(g, core::NodeId(static_cast<std::uint16_t>(ci.node)))) return done(ScanResult::AllocHugePageFail);
    --swapped;
    ++ci.swapped;
    ++c_.collapse_swapin;
    if (swap_read) swap_read(ctx);
  }
  std::array<std::uint32_t, kPmdPages> pfns{};
  const bool compact = !khugepaged || cfg_.khugepaged_defrag;
  bool compacted = false;
  if (!alloc_folio({ci.node}, g0, compact, pfns, compacted)) {
    ++c_.collapse_alloc_failed;
    return done(ScanResult::AllocHugePageFail);
  }
  if (compacted) ci.cost_ns += cfg_.compact_ns;
  // Each old folio is unmapped from every VMA (try_to_unmap(TTU_IGNORE_MLOCK | TTU_BATCH_FLUSH))
  // and replaced in the cache. try_to_unmap_one() -> pte_install_uffd_wp_if_needed() leaves a
  // marker where the PTE carried the uffd bit (a uffd-wp PTE on 6.18; the rwp series' RWP PTE
  // too: seed 002's "the restore path handles each PTE with its own marker").
  const auto& v = as_.uffd_vma();
  const bool had_table = !pmd_none(pmd);  // a PTE table exists (4 KiB mappings, markers)
  bool unmapped = false;
  for (unsigned i = 0; i < kPmdPages; ++i) {
    const Gfn g(g0 + i);
    if (as_.in_page_cache(g)) {
      const Pte p = as_.pte_at(g);
      if (pte::present(p)) {
        if (pte::protnone(p) && !pte::uffd(p)) ++c_.protnone_lost;  // a NUMA hint or rfc-v1 DEACTIVATE
        as_.zap(g, v.wp || v.rwp);
        c_.collapse_markers += pte::marker(as_.pte_at(g));
        unmapped = true;
      }
      as_.host().put(as_.take_from_cache(g));
    } else if (as_.has_content()) {
      as_.set_content(g, mm::content::kZero);  // a hole becomes a zeroed subpage
    }
    as_.add_to_cache(g, core::Pfn(pfns[i]));
  }
  cache_huge_[pmd] = pfns;
  ++c_.file_collapse;
  ++c_.collapse_alloc;  // THP_COLLAPSE_ALLOC
  ci.cost_ns += static_cast<TimeNs>(kPmdPages) * cfg_.copy_page_ns;
  if (unmapped) {
    ci.cost_ns += cfg_.tlb_flush_ns;
    ci.flushed = true;
    as_.tlb_flush();
  }
  // retract_page_tables(): the PTE table of every VMA mapping the range goes (the next fault
  // maps the PMD), markers with it -- unless file_backed_vma_is_retractable() refuses a
  // uffd-protected VMA.
  if (had_table) {
    if (vma_uffd_guarded()) {
      ++c_.retract_refused_uffd;
      pte_table_[pmd] = true;  // the table stays, emptied but for the markers
    } else {
      for (unsigned i = 0; i < kPmdPages; ++i) {
        const Gfn g(g0 + i);
        const Pte p = as_.pte_at(g);
        if (pte::none(p)) continue;
        VMEMSIM_CHECK(pte::marker(p), "retract_page_tables: a live PTE at gfn " << g.v << " after collapse_file");
        drop_uffd_state(g.v, p, now);
        as_.page_table().clear(g);
      }
      pte_table_[pmd] = false;
      ++c_.retract;
    }
  }
  return done(ScanResult::Succeed);
}

ScanResult ThpVm::collapse_pte_mapped_thp(std::uint64_t pmd, bool install_pmd, TimeNs now) {
  VMEMSIM_CHECK(shmem() && huge_cached(pmd), "collapse_pte_mapped_thp without a PMD-sized folio at PMD " << pmd);
  // try_collapse_pte_mapped_thp(): "Keep pmd pgtable for uffd-wp" -- the VMA-level check, before
  // anything is looked at.
  if (vma_uffd_guarded()) return ScanResult::PteUffd;
  if (pmd_mapped(pmd)) return ScanResult::PmdMapped;
  const std::uint64_t g0 = pmd * kPmdPages;
  if (!pmd_none(pmd)) {
    // Step 1: every mapped PTE must map its subpage of the folio; a none PTE is skipped, a
    // non-present one (marker, swap entry) aborts.
    for (unsigned i = 0; i < kPmdPages; ++i) {
      const Pte p = as_.pte_at(Gfn(g0 + i));
      if (pte::none(p)) continue;
      if (!pte::present(p)) return ScanResult::PteNonPresent;
      VMEMSIM_CHECK(pte::pfn(p) == as_.cache_pfn(Gfn(g0 + i)).v, "PTE at gfn " << g0 + i << " maps another folio");
    }
    // Step 2: the PTEs are cleared and the table freed; their per-PTE state (an RWP PROT_NONE, a
    // uffd-wp bit with the guard off, a NUMA hint) goes with them.
    for (unsigned i = 0; i < kPmdPages; ++i) {
      const Gfn g(g0 + i);
      const Pte p = as_.pte_at(g);
      if (pte::none(p)) continue;
      drop_uffd_state(g.v, p, now);
      as_.zap(g);
    }
    pte_table_[pmd] = false;
    as_.tlb_flush();
  }
  if (install_pmd) map_file_pmd(pmd);
  return ScanResult::Succeed;
}

ThpVm::MadvCollapse ThpVm::madv_collapse(Gfn start, std::uint64_t len) {
  // madvise_collapse(): every PMD-aligned range inside [start, start + len); one already
  // PMD-mapped counts as collapsed (SCAN_PMD_MAPPED is success there).
  MadvCollapse m;
  const std::uint64_t first = (start.v + kPmdPages - 1) / kPmdPages, end = (start.v + len) / kPmdPages;
  for (std::uint64_t pmd = first; pmd < end; ++pmd) {
    const CollapseInfo ci = scan_and_collapse(pmd, false);
    m.pmds.emplace_back(pmd, ci.result);
    m.cost_ns += ci.cost_ns;
    if (ci.result == ScanResult::Succeed || ci.result == ScanResult::PmdMapped) ++m.collapsed;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// The daemon.

Khugepaged::Khugepaged(std::string name, unsigned host, unsigned node, std::vector<ThpVm*> vms, ThpConfig cfg)
    : name_(std::move(name)), host_(host), node_(node), vms_(std::move(vms)), cfg_(cfg) {
  // khugepaged() starts with a scan once it runs, then waits (khugepaged_wait_work()).
  next_ = cfg_.scan_sleep_ns;
}

TimeNs Khugepaged::next_wakeup(TimeNs now) { return std::max(now, next_); }

Khugepaged::Pass Khugepaged::do_scan(unsigned pages, TimeNs now) {
  Pass pass;
  // deferred_split_scan() of every VM's queue (see the header).
  for (ThpVm* v : vms_) deferred_freed_ += v->deferred_split_scan();
  // khugepaged_has_work(): only mms khugepaged_enter_vma() put on the list are scanned; with
  // none the thread sleeps without a pass (full_scans does not move).
  if (std::none_of(vms_.begin(), vms_.end(), [](const ThpVm* v) { return v->khugepaged_entered(); })) return pass;
  // khugepaged_do_scan() -> khugepaged_scan_mm_slot(): progress counts 512 per PMD range
  // examined and 1 per VMA skipped as ineligible.
  unsigned progress = 0;
  std::size_t visited = 0;
  while (progress < pages) {
    ThpVm& v = *vms_[cur_vm_];
    if (!v.khugepaged_entered() || !v.vma_allowed() || cur_pmd_ >= v.pmds()) {
      // An mm not on the list is not visited at all (no progress); an ineligible VMA costs 1.
      if (v.khugepaged_entered() && !v.vma_allowed()) ++progress;
      cur_pmd_ = 0;
      if (++cur_vm_ == vms_.size()) {
        cur_vm_ = 0;
        ++full_scans_;  // khugepaged_full_scans
      }
      if (++visited > 2 * vms_.size() && progress == 0) break;  // nothing eligible at all
      continue;
    }
    auto read = [](void* p) { ++static_cast<Pass*>(p)->swap_reads; };
    const CollapseInfo ci = v.scan_and_collapse(cur_pmd_, true, read, &pass, now);
    ++cur_pmd_;
    progress += kPmdPages;
    pages_scanned_ += kPmdPages;
    pass.cpu += ci.cost_ns;
    ++results_[static_cast<std::size_t>(ci.result)];
    if (ci.flushed) pass.flushes.push_back(v.as().vm());
    if (ci.result == ScanResult::Succeed) pages_collapsed_ += kPmdPages;
    if (ci.result == ScanResult::AllocHugePageFail) {
      // khugepaged_do_scan(): an allocation failure ends the pass and the thread sleeps
      // alloc_sleep_millisecs (khugepaged_alloc_sleep()).
      pass.alloc_failed = true;
      break;
    }
  }
  return pass;
}

void Khugepaged::run_batch(kernel::DaemonEnv& env, TimeNs now) {
  const Pass pass = do_scan(cfg_.pages_to_scan, now);
  for (unsigned i = 0; i < pass.swap_reads; ++i) env.swap_io(core::kPageSize, false);
  env.cpu(pass.cpu);
  for (auto vm : pass.flushes) env.tlb_flush(vm);
  cpu_ += pass.cpu;
  if (pass.alloc_failed) ++alloc_sleeps_;
  env.slice("khugepaged_do_scan", now, env.now());
  next_ = env.now() + (pass.alloc_failed ? cfg_.alloc_sleep_ns : cfg_.scan_sleep_ns);
}

core::Json Khugepaged::stats() const {
  core::Json j;
  j["pages_scanned"] = pages_scanned_;
  j["pages_collapsed"] = pages_collapsed_;
  j["full_scans"] = full_scans_;
  j["alloc_failed_sleeps"] = alloc_sleeps_;
  j["deferred_frames_freed"] = deferred_freed_;
  core::Json r = core::Json::object();
  for (std::size_t i = 0; i < kScanResults; ++i)
    if (results_[i] && !vms_.empty()) r[vms_.front()->result_name(static_cast<ScanResult>(i))] = results_[i];
  j["scan_results"] = r;
  j["cpu_ns"] = cpu_;
  return j;
}

void Khugepaged::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  out.emplace_back("pages_scanned", pages_scanned_);
  out.emplace_back("pages_collapsed", pages_collapsed_);
  out.emplace_back("full_scans", full_scans_);
}

void Khugepaged::gauges(std::vector<std::pair<std::string, double>>& out) const {
  std::uint64_t mapped = 0;
  for (const ThpVm* v : vms_) mapped += v->mapped_pmds();
  out.emplace_back("pmd_mapped", static_cast<double>(mapped));
}

void Khugepaged::check_invariants() const {
  for (const ThpVm* v : vms_) v->check_invariants();
}

}  // namespace vmemsim::thp
