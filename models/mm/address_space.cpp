#include "models/mm/address_space.hpp"

#include "sim/core/error.hpp"

namespace vmemsim::mm {

const char* fault_kind_name(FaultKind k) {
  switch (k) {
    case FaultKind::AnonAlloc: return "anon_alloc";
    case FaultKind::ZeroMap: return "zero_map";
    case FaultKind::CowZero: return "cow_zero";
    case FaultKind::ShmemAlloc: return "shmem_alloc";
    case FaultKind::ShmemMinor: return "shmem_minor";
    case FaultKind::WpReuse: return "wp_reuse";
    case FaultKind::NumaHint: return "numa_hint";
    case FaultKind::UffdMissing: return "uffd_missing";
    case FaultKind::UffdMinorSync: return "uffd_minor_sync";
    case FaultKind::UffdMinorAsync: return "uffd_minor_async";
    case FaultKind::UffdRwpSync: return "uffd_rwp_sync";
    case FaultKind::UffdRwpAsync: return "uffd_rwp_async";
    case FaultKind::UffdWpSync: return "uffd_wp_sync";
    case FaultKind::UffdWpAsync: return "uffd_wp_async";
    case FaultKind::SwapIn: return "swap_in";
    case FaultKind::Oom: return "oom";
    case FaultKind::kCount: break;
  }
  return "?";
}

const char* variant_name(Variant v) {
  switch (v) {
    case Variant::Upstream: return "upstream";
    case Variant::RfcV1: return "rfc-v1";
    case Variant::Rwp: return "rwp";
  }
  return "?";
}

const char* uffd_reason_name(UffdReason r) {
  switch (r) {
    case UffdReason::Missing: return "missing";
    case UffdReason::Minor: return "minor";
    case UffdReason::Wp: return "wp";
    case UffdReason::Rwp: return "rwp";
  }
  return "?";
}

AddressSpace::AddressSpace(AddressSpaceConfig cfg, HostMemory& host)
    : cfg_(std::move(cfg)),
      host_(host),
      pages_(cfg_.pages),
      cache_(cfg_.backing == Backing::Shmem ? cfg_.pages : 0),
      versions_(cfg_.pages),
      resident_(host.node_count(), 0) {
  VMEMSIM_CHECK(cfg_.epoch_ns > 0, "epoch length must be positive");
  VMEMSIM_CHECK(cfg_.fallback.size() == host.node_count(), "fallback table needs one row per node");
  epoch_pages_.assign(static_cast<std::size_t>(cfg_.duration_ns / cfg_.epoch_ns) + 2, 0);
}

std::uint64_t AddressSpace::resident_total() const {
  std::uint64_t s = 0;
  for (auto r : resident_) s += r;
  return s;
}

void AddressSpace::move_epoch(std::uint64_t old_stored, std::size_t epoch) {
  if (old_stored > 0) {
    auto e = static_cast<std::size_t>((old_stored - 1) / static_cast<std::uint64_t>(cfg_.epoch_ns));
    if (e >= epoch_pages_.size()) e = epoch_pages_.size() - 1;
    --epoch_pages_[e];
  }
  ++epoch_pages_[epoch];
}

std::uint64_t AddressSpace::true_wss(core::TimeNs now, core::TimeNs window) const {
  core::TimeNs lo = now - window;
  if (lo < 0) lo = 0;
  auto e0 = static_cast<std::size_t>(lo / cfg_.epoch_ns);
  // Up to the end, not to now's epoch: a vCPU applies a quantum at the time it starts, so a
  // page touched just before `now` may already carry a later stamp (its run-ahead).
  std::uint64_t s = 0;
  for (std::size_t e = e0; e < epoch_pages_.size(); ++e) s += epoch_pages_[e];
  return s;
}

std::uint32_t AddressSpace::data_version(std::uint64_t gfn) {  // mod 2^16
  auto& t = pages_[gfn].truth;
  if (t & truth::kWritten) {
    ++versions_[gfn];
    t &= ~truth::kWritten;
  }
  return versions_[gfn];
}

bool AddressSpace::allocate(std::uint64_t gfn, unsigned cpu_node, std::uint32_t& pfn, unsigned& node) {
  unsigned first = cpu_node;
  switch (cfg_.placement) {
    case Placement::Local: first = cpu_node; break;
    case Placement::Preferred: first = cfg_.home_node; break;
    // mpol interleave for a VMA mapping: node picked by page offset (interleave_nid()).
    case Placement::Interleave: first = cfg_.interleave_nodes[gfn % cfg_.interleave_nodes.size()]; break;
  }
  auto p = host_.alloc(cfg_.fallback[first], FrameOwner::pack(cfg_.vm, gfn));
  if (!p) return false;
  pfn = *p;
  node = host_.node_of(pfn);
  ++resident_[node];
  return true;
}

void AddressSpace::release_frame(std::uint32_t pfn) {
  --resident_[host_.node_of(pfn)];
  host_.free(pfn);
}

// ---------------------------------------------------------------------------------------------
// Fault dispatch: handle_pte_fault().

FaultOutcome AddressSpace::fault(std::uint64_t gfn, bool write, unsigned cpu_node, core::TimeNs now) {
  if (mmap_write_locked_) {
    // The fault path takes the mmap (or per-VMA) read lock; UFFDIO_SET_MODE holds it for write.
    ++lock_waits_;
    return {FaultKind::kCount, 0, FaultResult::LockWait};
  }
  const Pte p = pages_[gfn].pte;
  if (pte::none(p)) return fault_none(gfn, write, cpu_node);
  if (pte::swap(p)) {
    if (!swap_in(gfn, cpu_node)) return count(FaultKind::Oom, cfg_.costs.minor_fault_ns, FaultResult::Oom);
    return count(FaultKind::SwapIn, cfg_.costs.minor_fault_ns + cfg_.costs.page_copy_ns);
  }
  if (pte::protnone(p)) return fault_protnone(gfn, write);
  if (write && !pte::writable(p)) return fault_wp(gfn, cpu_node);
  VMEMSIM_CHECK(false, "fault on gfn " << gfn << " with an accessible pte 0x" << std::hex << p);
  return {FaultKind::Oom, 0, FaultResult::Oom};
}

FaultOutcome AddressSpace::fault_none(std::uint64_t gfn, bool write, unsigned cpu_node) {
  const auto& c = cfg_.costs;
  Pte& p = pages_[gfn].pte;
  std::uint32_t pfn;
  unsigned node;
  if (cfg_.backing == Backing::Anon) {
    // do_anonymous_page(): a registered MISSING range hands every missing page to userspace.
    if (uffd_.missing) return count(FaultKind::UffdMissing, c.minor_fault_ns, FaultResult::Blocked, UffdReason::Missing);
    if (!write && cfg_.use_zero_page) {
      p = pte::make_present(pte::kZeroPfn, 0, false);
      ++zero_maps_;
      return count(FaultKind::ZeroMap, c.minor_fault_ns);
    }
    if (!allocate(gfn, cpu_node, pfn, node)) return count(FaultKind::Oom, c.minor_fault_ns, FaultResult::Oom);
    p = pte::make_present(pfn, node, true);
    return count(FaultKind::AnonAlloc, c.minor_fault_ns + c.page_clear_ns);
  }
  // shmem_fault(): the folio may still be in the page cache (after a zap or DEACTIVATE).
  if (cache_[gfn] != 0) {
    if (uffd_.minor) {
      // shmem minor fault: rfc-v1 06/12 auto-resolves it in MINOR_ASYNC mode; otherwise
      // handle_userfault(VM_UFFD_MINOR) and the handler maps it with UFFDIO_CONTINUE.
      if (cfg_.variant == Variant::RfcV1 && uffd_.async) {
        map_from_cache(gfn);
        return count(FaultKind::UffdMinorAsync, c.minor_fault_ns);
      }
      return count(FaultKind::UffdMinorSync, c.minor_fault_ns, FaultResult::Blocked, UffdReason::Minor);
    }
    map_from_cache(gfn);
    return count(FaultKind::ShmemMinor, c.minor_fault_ns);
  }
  if (uffd_.missing) return count(FaultKind::UffdMissing, c.minor_fault_ns, FaultResult::Blocked, UffdReason::Missing);
  if (!allocate(gfn, cpu_node, pfn, node)) return count(FaultKind::Oom, c.minor_fault_ns, FaultResult::Oom);
  cache_[gfn] = pfn + 1;
  p = pte::make_present(pfn, node, true);
  return count(FaultKind::ShmemAlloc, c.minor_fault_ns + c.page_clear_ns);
}

FaultOutcome AddressSpace::fault_protnone(std::uint64_t gfn, bool write) {
  const auto& c = cfg_.costs;
  const Pte p = pages_[gfn].pte;
  bool to_uffd = false;
  switch (cfg_.variant) {
    case Variant::Upstream: to_uffd = false; break;  // do_numa_page()
    // rfc-v1 05/12: the PTE cannot say who set PROT_NONE, so the whole VMA decides.
    case Variant::RfcV1: to_uffd = anon() && uffd_.minor; break;
    // rwp: the uffd bit on a PROT_NONE PTE of an RWP VMA marks UFFDIO_RWPROTECT; anything
    // else (a NUMA PROT_NONE, or one carrying a WP marker) is NUMA's.
    case Variant::Rwp: to_uffd = uffd_.rwp && pte::uffd(p); break;
  }
  if (!to_uffd) {
    // do_numa_page(): restore the protection (keeping write permission and any uffd-wp
    // marker: pte_modify() preserves it), mark young. The task_numa_fault() statistics and
    // migration come with the NUMA balancing model.
    restore_protnone(gfn, true, true);
    ++numa_recorded_;
    return count(FaultKind::NumaHint, c.minor_fault_ns);
  }
  if (cfg_.variant == Variant::RfcV1) {
    if (uffd_.async) {
      userfault_delivered(gfn);  // resolved in the kernel: this is the notification
      // MINOR_ASYNC restores the PTE without mkwrite: a write takes a second (wp) fault.
      restore_protnone(gfn, false);
      return count(FaultKind::UffdMinorAsync, c.minor_fault_ns);
    }
    return count(FaultKind::UffdMinorSync, c.minor_fault_ns, FaultResult::Blocked, UffdReason::Minor);
  }
  if (uffd_.async) {
    userfault_delivered(gfn);
    restore_protnone(gfn, true);  // RWP_ASYNC makes the PTE writable when the page allows it
    return count(FaultKind::UffdRwpAsync, c.minor_fault_ns);
  }
  (void)write;
  return count(FaultKind::UffdRwpSync, c.minor_fault_ns, FaultResult::Blocked, UffdReason::Rwp);
}

void AddressSpace::userfault_delivered(std::uint64_t gfn) {
  if (!pte::protnone(pages_[gfn].pte)) return;  // MISSING / shmem minor: no PROT_NONE involved
  if (pn_origin(gfn) != PnOrigin::Uffd) ++spurious_uffd_;  // e.g. a NUMA PROT_NONE under rfc-v1
  if (cfg_.variant == Variant::RfcV1 && cfg_.patches.uffd_feeds_numa) ++numa_recorded_;  // 07/12
}

FaultOutcome AddressSpace::fault_wp(std::uint64_t gfn, unsigned cpu_node) {
  const auto& c = cfg_.costs;
  Pte& p = pages_[gfn].pte;
  // do_wp_page() checks the uffd-wp marker before anything else, the zero page included.
  if (pte::uffd(p) && uffd_.wp) {
    if (!uffd_.wp_async)
      return count(FaultKind::UffdWpSync, c.minor_fault_ns, FaultResult::Blocked, UffdReason::Wp);
    p &= ~pte::kUffd;  // WP_ASYNC: drop the marker, then resolve the write as usual
    if (!pte::zero_page(p)) {
      p |= pte::kWrite;  // PAGE_IS_WRITTEN from now on
      return count(FaultKind::UffdWpAsync, c.minor_fault_ns);
    }
  }
  if (pte::zero_page(p)) {
    // do_wp_page() -> wp_page_copy(): the zero page is never written; allocate a private
    // zeroed copy (a clear, not a copy, since the source is the zero page).
    std::uint32_t pfn;
    unsigned node;
    if (!allocate(gfn, cpu_node, pfn, node)) return count(FaultKind::Oom, c.minor_fault_ns, FaultResult::Oom);
    --zero_maps_;
    p = pte::make_present(pfn, node, true) | (p & (pte::kAccessed | pte::kDirty));
    return count(FaultKind::CowZero, c.minor_fault_ns + c.page_clear_ns);
  }
  // wp_page_reuse(): an exclusive anon page (or a shared shmem mapping) just gets write back.
  p |= pte::kWrite;
  return count(FaultKind::WpReuse, c.minor_fault_ns);
}

FaultOutcome AddressSpace::gup(std::uint64_t gfn, bool write, bool honor_numa_fault, unsigned cpu_node,
                               core::TimeNs now, bool& invisible) {
  invisible = false;
  const Pte p = pages_[gfn].pte;
  if (pte::accessible(p, write)) return {FaultKind::kCount, 0, FaultResult::Done};
  if (pte::protnone(p) && !write) {
    // A PROT_NONE PTE is never pte_write(): a FOLL_WRITE GUP always faults. Reads may follow it.
    // gup_can_follow_protnone(): RWP (with the v2 07/14 guard) always faults; otherwise only a
    // FOLL_HONOR_NUMA_FAULT caller faults. Following it leaves the PTE PROT_NONE: the access
    // never reaches uffd or NUMA.
    const bool rwp_guard = cfg_.variant == Variant::Rwp && cfg_.patches.gup_rwp_fault && uffd_.rwp;
    if (!rwp_guard && !honor_numa_fault) {
      invisible = true;
      ++gup_invisible_;
      return {FaultKind::kCount, 0, FaultResult::Done};
    }
  }
  return fault(gfn, write, cpu_node, now);  // faultin_page() -> handle_mm_fault()
}

// ---------------------------------------------------------------------------------------------
// Primitives.

void AddressSpace::set_protnone(std::uint64_t gfn, bool uffd_bit, PnOrigin origin) {
  Pte& p = pages_[gfn].pte;
  VMEMSIM_CHECK(pte::present(p), "set_protnone on a non-present pte at gfn " << gfn);
  // The write bit is kept as the saved write permission (pte_modify keeps it restorable).
  p |= pte::kProtNone | (uffd_bit ? pte::kUffd : 0);
  set_origin(gfn, origin);
}

void AddressSpace::restore_protnone(std::uint64_t gfn, bool mkwrite, bool keep_uffd) {
  Pte& p = pages_[gfn].pte;
  p &= ~(pte::kProtNone | (keep_uffd ? 0 : pte::kUffd));
  if (!mkwrite) p &= ~pte::kWrite;
  set_origin(gfn, PnOrigin::None);
}

void AddressSpace::zap(std::uint64_t gfn) {
  Pte& p = pages_[gfn].pte;
  if (pte::present(p)) {
    if (pte::zero_page(p)) --zero_maps_;
    else if (anon()) release_frame(pte::pfn(p));
  }
  p = 0;
  set_origin(gfn, PnOrigin::None);
}

void AddressSpace::punch_hole(std::uint64_t gfn) {
  VMEMSIM_CHECK(!anon(), "PUNCH_HOLE on anon memory");
  if (pte::present(pages_[gfn].pte)) zap(gfn);
  if (cache_[gfn] != 0) {
    release_frame(cache_[gfn] - 1);
    cache_[gfn] = 0;
  }
}

bool AddressSpace::install(std::uint64_t gfn, unsigned cpu_node, bool zero_page_ok) {
  Pte& p = pages_[gfn].pte;
  VMEMSIM_CHECK(pte::none(p), "install over a live pte at gfn " << gfn);
  std::uint32_t pfn;
  unsigned node;
  if (anon() && zero_page_ok) {
    p = pte::make_present(pte::kZeroPfn, 0, false);
    ++zero_maps_;
    return true;
  }
  if (!anon() && cache_[gfn] != 0) {
    map_from_cache(gfn);
    return true;
  }
  if (!allocate(gfn, cpu_node, pfn, node)) return false;
  if (!anon()) cache_[gfn] = pfn + 1;
  p = pte::make_present(pfn, node, true);
  return true;
}

void AddressSpace::map_from_cache(std::uint64_t gfn) {
  VMEMSIM_CHECK(cache_[gfn] != 0, "no page-cache folio at index " << gfn);
  const std::uint32_t pfn = cache_[gfn] - 1;
  pages_[gfn].pte = pte::make_present(pfn, host_.node_of(pfn), true);
}

void AddressSpace::swap_out(std::uint64_t gfn, std::uint32_t slot) {
  Pte& p = pages_[gfn].pte;
  VMEMSIM_CHECK(anon() && pte::present(p) && !pte::zero_page(p), "swap_out needs a mapped anon frame at gfn " << gfn);
  const Pte keep = p & pte::kUffd;  // pte_swp_mkuffd_wp(): the marker survives in the entry
  release_frame(pte::pfn(p));
  p = pte::kSwap | keep | slot;
  set_origin(gfn, PnOrigin::None);  // a NUMA PROT_NONE is simply lost
}

bool AddressSpace::swap_in(std::uint64_t gfn, unsigned cpu_node) {
  Pte& p = pages_[gfn].pte;
  VMEMSIM_CHECK(pte::swap(p), "swap_in of a non-swap pte at gfn " << gfn);
  const bool had_uffd = pte::uffd(p);
  std::uint32_t pfn;
  unsigned node;
  if (!allocate(gfn, cpu_node, pfn, node)) return false;
  p = pte::make_present(pfn, node, true);
  if (had_uffd && uffd_.rwp) set_protnone(gfn, true, PnOrigin::Uffd);  // rwp: re-apply the marker
  else if (had_uffd && uffd_.wp) p = (p & ~pte::kWrite) | pte::kUffd;
  return true;
}

void AddressSpace::check_invariants() const {
  std::vector<std::uint64_t> mapped(resident_.size(), 0);
  std::uint64_t zero = 0;
  for (std::uint64_t g = 0; g < cfg_.pages; ++g) {
    const Pte p = pages_[g].pte;
    if (!anon()) {
      if (cache_[g] != 0) {
        std::uint32_t pfn = cache_[g] - 1;
        ++mapped[host_.node_of(pfn)];
        VMEMSIM_CHECK(host_.owner(pfn) == FrameOwner::pack(cfg_.vm, g), "shmem rmap of gfn " << g);
        VMEMSIM_CHECK(!pte::present(p) || pte::pfn(p) == pfn, "gfn " << g << " maps a frame not in its cache slot");
      } else {
        VMEMSIM_CHECK(!pte::present(p), "shmem gfn " << g << " mapped without a page-cache folio");
      }
      continue;
    }
    if (!pte::present(p)) {
      VMEMSIM_CHECK(!pte::protnone(p), "PROT_NONE without PRESENT at gfn " << g);
      continue;
    }
    if (pte::zero_page(p)) {
      ++zero;
      VMEMSIM_CHECK(!pte::writable(p), "zero page mapped writable at gfn " << g);
      continue;
    }
    const unsigned n = host_.node_of(pte::pfn(p));
    VMEMSIM_CHECK(n == pte::node(p), "gfn " << g << " caches node " << pte::node(p) << " but frame is on " << n);
    VMEMSIM_CHECK(host_.owner(pte::pfn(p)) == FrameOwner::pack(cfg_.vm, g), "anon rmap of gfn " << g);
    ++mapped[n];
  }
  for (std::size_t n = 0; n < mapped.size(); ++n)
    VMEMSIM_CHECK(mapped[n] == resident_[n], "node " << n << ": " << mapped[n] << " frames mapped, resident counter " << resident_[n]);
  VMEMSIM_CHECK(zero == zero_maps_, "zero-page maps " << zero << " vs counter " << zero_maps_);
  std::uint64_t touched = 0;
  for (auto e : epoch_pages_) touched += e;
  std::uint64_t ever = 0;
  for (std::uint64_t g = 0; g < cfg_.pages; ++g) ever += (pages_[g].truth & truth::kTimeMask) != 0;
  VMEMSIM_CHECK(touched == ever, "epoch page counts " << touched << " vs pages ever touched " << ever);
}

}  // namespace vmemsim::mm
