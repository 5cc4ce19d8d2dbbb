// kernel.reclaim.lru = "classic": the active/inactive LRU (see lru.hpp). Function names in the
// comments are Linux 6.18's mm/vmscan.c and mm/workingset.c.
#include "models/vmscan/lru.hpp"

#include <cmath>

namespace vmemsim::vmscan {

using mm::Pfn;

ClassicLru::ClassicLru(mm::HostMemory& mem, std::vector<mm::AddressSpace*> by_vm, LruConfig cfg)
    : Reclaimer(mem, std::move(by_vm), cfg), nonresident_age_(mem.node_count(), 0) {}

// folio_add_lru() of a new folio: lru_cache_add_inactive_or_unevictable() puts new anon folios
// on the inactive list (since 5.9: they must prove themselves before they can displace the
// active list).
void ClassicLru::frame_allocated(Pfn pfn) {
  flags(pfn) = 0;
  push_head(mem_.node_of(pfn).v, kInactive, pfn.v);
}

// workingset_refault(): a refault whose distance since its eviction is within the node's
// workingset (active anon, since swap is the only backing here) is activated at once. The
// shadow (workingset_eviction()) is the evicting node and its non-resident age then.
void ClassicLru::refaulted(Pfn pfn, std::uint64_t shadow) {
  const unsigned enode = static_cast<unsigned>(shadow >> 48);
  const std::uint64_t eviction = shadow & ((1ull << 48) - 1);
  const std::uint64_t distance = nonresident_age_[enode] - eviction;
  if (distance <= active(enode)) {
    unlink(pfn.v);
    push_head(mem_.node_of(pfn).v, kActive, pfn.v);
    flags(pfn) |= kWorkingset;
    ++c_.workingset_activate_anon;
    ++c_.pgactivate;
    ++nonresident_age_[mem_.node_of(pfn).v];  // workingset_activation()
  }
}

// inactive_is_low(): the inactive list should hold at least 1/ratio of the anon pages,
// ratio = sqrt(10 * size in GiB), 1 below a GiB.
bool ClassicLru::inactive_is_low(unsigned node) const {
  const std::uint64_t in = inactive(node), act = active(node);
  const std::uint64_t gb = (in + act) >> (30 - 12);
  const std::uint64_t ratio = gb ? static_cast<std::uint64_t>(std::sqrt(10.0 * static_cast<double>(gb))) : 1;
  return in * ratio < act;
}

// folio_check_references() for a swap-backed folio.
ClassicLru::Ref ClassicLru::check_references(Pfn pfn, TimeNs& cost) {
  const unsigned ptes = referenced_ptes(pfn, cost);
  auto& r = flags(pfn);
  const bool referenced_folio = (r & kReferenced) != 0;  // folio_test_clear_referenced()
  r = static_cast<std::uint16_t>(r & ~kReferenced);
  if (ptes) {
    r |= kReferenced;  // folio_set_referenced()
    if (referenced_folio || ptes > 1) return Ref::Activate;
    return Ref::Keep;
  }
  return Ref::Reclaim;
}

// shrink_active_list(): isolate from the tail, clear the young bits, and deactivate every
// anon folio (only VM_EXEC file folios may stay active), marking it workingset.
void ClassicLru::shrink_active_list(unsigned node, unsigned nr, TimeNs& cost) {
  for (unsigned i = 0; i < nr && list(node, kActive).tail != kNil; ++i) {
    const std::uint32_t pfn = list(node, kActive).tail;
    cost += cfg_.scan_ns;
    ++c_.pgrefill;
    unlink(pfn);
    if (evictable(Pfn(pfn))) (void)referenced_ptes(Pfn(pfn), cost);
    flags(Pfn(pfn)) |= kWorkingset;
    push_head(node, kInactive, pfn);
    ++c_.pgdeactivate;
  }
}

// shrink_inactive_list() + shrink_folio_list(): isolate up to nr folios from the tail; keep,
// activate, or add to swap, unmap and write out each.
std::uint64_t ClassicLru::shrink_inactive_list(kernel::DaemonEnv& env, unsigned node, unsigned nr, bool direct,
                                               TimeNs& cost) {
  std::vector<std::uint32_t> isolated;
  isolated.reserve(nr);
  for (unsigned i = 0; i < nr && list(node, kInactive).tail != kNil; ++i) {
    const std::uint32_t pfn = list(node, kInactive).tail;
    unlink(pfn);
    isolated.push_back(pfn);
  }
  (direct ? c_.pgscan_direct : c_.pgscan_kswapd) += isolated.size();
  std::uint64_t reclaimed = 0, swapped = 0;
  std::vector<core::VmId> flushed;  // one flush per mm per batch (try_to_unmap_flush)
  for (const std::uint32_t pfn : isolated) {
    cost += cfg_.scan_ns;
    const Pfn p(pfn);
    // Freed while isolated: an unmap earlier in this batch split a large folio (models/thp),
    // which frees the subpages nobody maps any more.
    if (mem_.is_free(p)) continue;
    if (!evictable(p)) {  // unevictable here: back to the active list
      push_head(node, kActive, pfn);
      ++c_.pgactivate;
      continue;
    }
    const Ref ref = check_references(p, cost);
    if (ref == Ref::Activate) {
      push_head(node, kActive, pfn);
      ++c_.pgactivate;
      ++nonresident_age_[node];  // workingset_activation() -> workingset_age_nonresident()
      continue;
    }
    if (ref == Ref::Keep) {
      push_head(node, kInactive, pfn);
      ++c_.pgrotated;
      continue;
    }
    // workingset_eviction(): the shadow entry remembers the node's non-resident age.
    const std::uint64_t shadow = (static_cast<std::uint64_t>(node) << 48) | (nonresident_age_[node] & ((1ull << 48) - 1));
    unsigned pages = 1;
    const Outcome o = reclaim_folio(p, node, shadow, direct, flushed, cost, pages);
    if (o == Outcome::Failed) {  // add_to_swap() failed: activate_locked
      push_head(node, kActive, pfn);
      ++c_.pgactivate;
      continue;
    }
    if (o == Outcome::Swapped) {
      nonresident_age_[node] += pages;  // workingset_age_nonresident(lruvec, folio_nr_pages())
      swapped += pages;
    }
    reclaimed += pages;
  }
  finish_batch(env, reclaimed, swapped, direct, flushed, cost);
  return reclaimed;
}

// One SWAP_CLUSTER_MAX step of shrink_lruvec().
std::uint64_t ClassicLru::shrink_step(kernel::DaemonEnv& env, unsigned node, bool direct, std::uint64_t& scanned) {
  TimeNs cost = 0;
  if (inactive_is_low(node)) {
    const unsigned nr = static_cast<unsigned>(std::min<std::uint64_t>(cfg_.cluster, active(node)));
    shrink_active_list(node, nr, cost);
    scanned += nr;
  }
  const unsigned nr = static_cast<unsigned>(std::min<std::uint64_t>(cfg_.cluster, inactive(node)));
  scanned += nr;
  const std::uint64_t reclaimed = shrink_inactive_list(env, node, nr, direct, cost);
  spend(env, cost);
  return reclaimed;
}

}  // namespace vmemsim::vmscan
