// The multi-generational LRU (kernel.reclaim.lru = "mglru"; CONFIG_LRU_GEN, mm/vmscan.c and
// mm/workingset.c, Documentation/admin-guide/mm/multigen_lru.rst), on the shared Reclaimer.
//
// Per node (lruvec) the anon folios sit in generations max_seq (youngest) down to min_seq
// (oldest), at most MAX_NR_GENS = 4 and at least MIN_NR_GENS = 2 of them; each generation is a
// list and remembers its birth time (lrugen->timestamps). As the kernel does:
//  - lru_gen_add_folio(): a new anon folio joins max_seq - 1; an activated one max_seq; a folio
//    swapped back in (it is in the swap cache) min_seq + 1, or min_seq when only two
//    generations are left;
//  - aging, try_to_inc_max_seq(): walk_mm() visits every PTE mapping the node's folios, clears
//    the young bits and moves each folio it found young to max_seq (folio_update_gen()), then
//    inc_max_seq() opens a new, empty youngest generation (folding the oldest into the next
//    when there are already four). Aging runs when only MIN_NR_GENS generations are left
//    (should_run_aging()), and from kswapd's lru_gen_age_node();
//  - eviction, evict_folios(): isolate from the oldest generation's tail; folio_check_references()
//    with lru_gen_set_refs(): no young PTE -> reclaim; young the first time -> PG_referenced and
//    back to max_seq - 1 (KEEP); young again -> PG_workingset and max_seq (ACTIVATE); then
//    try_to_inc_min_seq() drops the emptied oldest generation;
//  - lru_gen_eviction() stores min_seq in the shadow; lru_gen_refault() finds a refault recent
//    when max_seq moved by less than MAX_NR_GENS since (lru_gen_test_recent()): PG_workingset,
//    counted in workingset_activate_anon;
//  - min_ttl_ms (lru_gen_age_node()): when every generation of a node is younger than min_ttl,
//    kswapd would invoke the OOM killer to protect the working set; the model counts that
//    (lru_gen_min_ttl_oom) and goes on reclaiming, as it cannot kill a VM.
// Not modelled: tiers and the PID controller on refs (sort_folio()'s protection by tier),
// lru_gen_look_around(), the Bloom filters that let walk_mm() skip page tables (every mapping
// PTE is visited and charged walk_ns), memcgs.
#pragma once
#include <array>

#include "models/vmscan/reclaimer.hpp"

namespace vmemsim::vmscan {

class MgLru final : public Reclaimer {
 public:
  static constexpr unsigned kMaxNrGens = 4, kMinNrGens = 2;

  MgLru(mm::HostMemory& mem, std::vector<mm::AddressSpace*> by_vm, LruConfig cfg);

  void frame_allocated(mm::Pfn pfn) override;
  void frame_freed(mm::Pfn pfn) override { unlink(pfn.v); }
  std::uint64_t shrink_step(kernel::DaemonEnv& env, unsigned node, bool direct, std::uint64_t& scanned) override;
  void kswapd_age(kernel::DaemonEnv& env, unsigned node) override;
  // lru_gen_is_active(): the two youngest generations count as active in /proc/vmstat.
  std::uint64_t inactive(unsigned node) const override;
  std::uint64_t active(unsigned node) const override;
  void node_stats(unsigned node, core::Json& out) const override;
  void node_gauges(unsigned node, std::vector<std::pair<std::string, double>>& out) const override;
  void host_stats(core::Json& out) const override;

  std::uint64_t max_seq(unsigned node) const { return lv_[node].max_seq; }
  std::uint64_t min_seq(unsigned node) const { return lv_[node].min_seq; }
  // Folios in generation `seq` (min_seq <= seq <= max_seq) of `node`.
  std::uint64_t gen_size(unsigned node, std::uint64_t seq) const { return list(node, gen(seq)).size; }
  // The generation a folio is in, as a sequence number.
  std::uint64_t seq_of(mm::Pfn pfn) const;
  // try_to_inc_max_seq(): age `node` now (charged to env).
  void age(kernel::DaemonEnv& env, unsigned node);

 private:
  struct Lruvec {
    std::uint64_t max_seq = kMinNrGens + 1, min_seq = 0;  // lru_gen_init_lruvec()
    std::array<TimeNs, kMaxNrGens> birth{};                // lrugen->timestamps
  };
  static unsigned gen(std::uint64_t seq) { return static_cast<unsigned>(seq % kMaxNrGens); }
  unsigned nr_gens(unsigned node) const { return static_cast<unsigned>(lv_[node].max_seq - lv_[node].min_seq + 1); }
  void move_to(std::uint32_t pfn, unsigned node, std::uint64_t seq);
  void try_to_inc_min_seq(unsigned node);
  void refaulted(mm::Pfn pfn, std::uint64_t shadow) override;
  void check_lru() const override;

  std::vector<Lruvec> lv_;
};

}  // namespace vmemsim::vmscan
