// The classic active/inactive anon LRU (kernel.reclaim.lru = "classic"; mm/vmscan.c,
// mm/workingset.c), on the shared Reclaimer (reclaimer.hpp).
//
// Modelled as the kernel does: lru_cache_add of new anon folios to the inactive list;
// inactive_is_low() with its sqrt ratio; shrink_active_list() deactivating every anon folio
// and clearing its young bits (folio_set_workingset); shrink_folio_list() with
// folio_check_references() (a folio referenced once is kept on the inactive list with
// PG_referenced, twice or by two PTEs it is activated); workingset_eviction() /
// workingset_refault(): a refault whose distance (non-resident age since its eviction) is at
// most the node's active anon list is activated at once.
#pragma once
#include "models/vmscan/reclaimer.hpp"

namespace vmemsim::vmscan {

class ClassicLru final : public Reclaimer {
 public:
  ClassicLru(mm::HostMemory& mem, std::vector<mm::AddressSpace*> by_vm, LruConfig cfg);

  void frame_allocated(mm::Pfn pfn) override;
  void frame_freed(mm::Pfn pfn) override { unlink(pfn.v); }
  // One step: age the active list if the inactive one is low, then shrink up to
  // SWAP_CLUSTER_MAX folios off the inactive tail.
  std::uint64_t shrink_step(kernel::DaemonEnv& env, unsigned node, bool direct, std::uint64_t& scanned) override;
  std::uint64_t inactive(unsigned node) const override { return list(node, kInactive).size; }
  std::uint64_t active(unsigned node) const override { return list(node, kActive).size; }

 private:
  static constexpr unsigned kInactive = 0, kActive = 1;
  enum class Ref { Activate, Keep, Reclaim };

  void refaulted(mm::Pfn pfn, std::uint64_t shadow) override;
  bool inactive_is_low(unsigned node) const;
  void shrink_active_list(unsigned node, unsigned nr, TimeNs& cost);
  std::uint64_t shrink_inactive_list(kernel::DaemonEnv& env, unsigned node, unsigned nr, bool direct, TimeNs& cost);
  Ref check_references(mm::Pfn pfn, TimeNs& cost);

  std::vector<std::uint64_t> nonresident_age_;  // lruvec->nonresident_age, per node
};

}  // namespace vmemsim::vmscan
