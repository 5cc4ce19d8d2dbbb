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
    case FaultKind::Oom: return "oom";
    case FaultKind::kCount: break;
  }
  return "?";
}

AddressSpace::AddressSpace(AddressSpaceConfig cfg, HostMemory& host)
    : cfg_(std::move(cfg)),
      host_(host),
      pages_(cfg_.pages),
      cache_(cfg_.backing == Backing::Shmem ? cfg_.pages : 0),
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

void AddressSpace::move_epoch(core::TimeNs old_stored, std::size_t epoch) {
  if (old_stored > 0) {
    auto e = static_cast<std::size_t>((old_stored - 1) / cfg_.epoch_ns);
    if (e >= epoch_pages_.size()) e = epoch_pages_.size() - 1;
    --epoch_pages_[e];
  }
  ++epoch_pages_[epoch];
}

std::uint64_t AddressSpace::true_wss(core::TimeNs now, core::TimeNs window) const {
  core::TimeNs lo = now - window;
  if (lo < 0) lo = 0;
  auto e0 = static_cast<std::size_t>(lo / cfg_.epoch_ns);
  auto e1 = static_cast<std::size_t>(now / cfg_.epoch_ns);
  std::uint64_t s = 0;
  for (std::size_t e = e0; e < e1 && e < epoch_pages_.size(); ++e) s += epoch_pages_[e];
  return s;
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

FaultOutcome AddressSpace::fault(std::uint64_t gfn, bool write, unsigned cpu_node, core::TimeNs now) {
  Pte& p = pages_[gfn].pte;
  const auto& c = cfg_.costs;
  auto count = [&](FaultKind k, core::TimeNs cost, bool ok) {
    ++faults_[static_cast<std::size_t>(k)];
    return FaultOutcome{k, cost, ok};
  };
  std::uint32_t pfn;
  unsigned node;

  if (pte::none(p)) {
    if (cfg_.backing == Backing::Anon) {
      // do_anonymous_page(): a read maps the zero page unless it is forbidden.
      if (!write && cfg_.use_zero_page) {
        p = pte::make_present(pte::kZeroPfn, 0, false);
        ++zero_maps_;
        return count(FaultKind::ZeroMap, c.minor_fault_ns, true);
      }
      if (!allocate(gfn, cpu_node, pfn, node)) return count(FaultKind::Oom, c.minor_fault_ns, false);
      p = pte::make_present(pfn, node, true);
      return count(FaultKind::AnonAlloc, c.minor_fault_ns + c.page_clear_ns, true);
    }
    // shmem_fault(): find or allocate the folio in the page cache, then map it. The shared
    // mapping is writable from the start (no zero page, no COW).
    std::uint32_t& slot = cache_[gfn];
    if (slot != 0) {
      pfn = slot - 1;
      node = host_.node_of(pfn);
      p = pte::make_present(pfn, node, true);
      return count(FaultKind::ShmemMinor, c.minor_fault_ns, true);
    }
    if (!allocate(gfn, cpu_node, pfn, node)) return count(FaultKind::Oom, c.minor_fault_ns, false);
    slot = pfn + 1;
    p = pte::make_present(pfn, node, true);
    return count(FaultKind::ShmemAlloc, c.minor_fault_ns + c.page_clear_ns, true);
  }

  if (pte::zero_page(p) && write) {
    // do_wp_page() -> wp_page_copy(): the zero page is never written; allocate a private
    // zeroed copy (a clear, not a copy, since the source is the zero page).
    if (!allocate(gfn, cpu_node, pfn, node)) return count(FaultKind::Oom, c.minor_fault_ns, false);
    --zero_maps_;
    p = pte::make_present(pfn, node, true);
    return count(FaultKind::CowZero, c.minor_fault_ns + c.page_clear_ns, true);
  }

  VMEMSIM_CHECK(false, "fault on gfn " << gfn << " with unhandled pte 0x" << std::hex << p);
  return {FaultKind::Oom, 0, false};
}

void AddressSpace::check_invariants() const {
  std::vector<std::uint64_t> mapped(resident_.size(), 0);
  std::uint64_t zero = 0;
  for (std::uint64_t g = 0; g < cfg_.pages; ++g) {
    const Pte p = pages_[g].pte;
    if (cfg_.backing == Backing::Shmem) {
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
    if (!pte::present(p)) continue;
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
  for (std::uint64_t g = 0; g < cfg_.pages; ++g) ever += pages_[g].last_access != 0;
  VMEMSIM_CHECK(touched == ever, "epoch page counts " << touched << " vs pages ever touched " << ever);
}

}  // namespace vmemsim::mm
