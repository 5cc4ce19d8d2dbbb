// kernel.reclaim.lru = "mglru": the multi-generational LRU (see mglru.hpp). Function names in
// the comments are Linux 6.18's mm/vmscan.c (CONFIG_LRU_GEN), include/linux/mm_inline.h and
// mm/workingset.c.
#include "models/vmscan/mglru.hpp"

#include <optional>

#include "sim/core/error.hpp"

namespace vmemsim::vmscan {

using mm::Pfn;

MgLru::MgLru(mm::HostMemory& mem, std::vector<mm::AddressSpace*> by_vm, LruConfig cfg)
    : Reclaimer(mem, std::move(by_vm), cfg), lv_(mem.node_count()) {}

std::uint64_t MgLru::seq_of(Pfn pfn) const {
  const int g = list_of(pfn);
  VMEMSIM_CHECK(g >= 0, "pfn " << pfn.v << " is on no generation");
  const Lruvec& v = lv_[mem_.node_of(pfn).v];
  // The one sequence number in [min_seq, max_seq] with this generation index.
  for (std::uint64_t s = v.min_seq; s <= v.max_seq; ++s)
    if (gen(s) == static_cast<unsigned>(g)) return s;
  VMEMSIM_CHECK(false, "pfn " << pfn.v << " is in a retired generation");
  return 0;
}

void MgLru::move_to(std::uint32_t pfn, unsigned node, std::uint64_t seq) {
  unlink(pfn);
  push_head(node, gen(seq), pfn);
}

// lru_gen_add_folio() of a new anon folio (not active, not in the swap cache): max_seq - 1.
void MgLru::frame_allocated(Pfn pfn) {
  flags(pfn) = 0;
  const unsigned node = mem_.node_of(pfn).v;
  push_head(node, gen(lv_[node].max_seq - 1), pfn.v);
}

std::uint64_t MgLru::active(unsigned node) const {
  return gen_size(node, lv_[node].max_seq) + gen_size(node, lv_[node].max_seq - 1);
}
std::uint64_t MgLru::inactive(unsigned node) const {
  std::uint64_t n = 0;
  for (std::uint64_t s = lv_[node].min_seq; s + 1 < lv_[node].max_seq; ++s) n += gen_size(node, s);
  return n;
}

// lru_gen_refault(): the shadow holds the node and min_seq at eviction (lru_gen_eviction());
// lru_gen_test_recent(): recent when max_seq has moved by less than MAX_NR_GENS since. A recent
// refault in a fault gets PG_workingset and counts as an activation. The swapped-in folio is in
// the swap cache, so lru_gen_add_folio() puts it at min_seq + 1 (min_seq with two generations).
void MgLru::refaulted(Pfn pfn, std::uint64_t shadow) {
  const unsigned enode = static_cast<unsigned>(shadow >> 48);
  const std::uint64_t token = shadow & ((1ull << 48) - 1);
  const std::uint64_t max = lv_[enode].max_seq;
  const bool recent = (max > token ? max - token : token - max) < kMaxNrGens;
  const unsigned node = mem_.node_of(pfn).v;
  const Lruvec& v = lv_[node];
  move_to(pfn.v, node, v.min_seq + kMinNrGens >= v.max_seq ? v.min_seq : v.min_seq + 1);
  if (recent) {
    flags(pfn) |= kWorkingset;
    ++c_.workingset_activate_anon;
  }
}

// try_to_inc_min_seq(): the oldest generation is empty -> drop it, keeping MIN_NR_GENS.
void MgLru::try_to_inc_min_seq(unsigned node) {
  Lruvec& v = lv_[node];
  while (v.min_seq + kMinNrGens <= v.max_seq && gen_size(node, v.min_seq) == 0) ++v.min_seq;
}

// try_to_inc_max_seq(): walk_mm() over every PTE that maps one of the node's folios (test and
// clear young; x86 needs no flush for that), folio_update_gen() of each young folio to max_seq,
// then inc_max_seq(): with MAX_NR_GENS generations already, inc_min_seq() folds the oldest into
// the next; the new youngest generation is born now.
void MgLru::age(kernel::DaemonEnv& env, unsigned node) {
  Lruvec& v = lv_[node];
  TimeNs cost = 0;
  std::vector<std::uint32_t> young;
  for (std::uint64_t s = v.min_seq; s <= v.max_seq; ++s) {
    for (std::uint32_t p = list(node, gen(s)).head; p != kNil;) {
      const std::uint32_t nxt = next_of(p);
      unsigned hits = 0;
      for (const mm::Mapper& m : mem_.mappers(Pfn(p))) {
        cost += cfg_.walk_ns;
        hits += by_vm_[m.vm.v]->page_table().test_and_clear_young(m.gfn) ? 1 : 0;
      }
      if (hits && s != v.max_seq) young.push_back(p);
      p = nxt;
    }
  }
  for (const std::uint32_t p : young) move_to(p, node, v.max_seq);
  if (nr_gens(node) == kMaxNrGens) {
    // inc_min_seq(): the oldest generation's folios move up one (folio_inc_gen()).
    const std::uint64_t old = v.min_seq;
    while (list(node, gen(old)).tail != kNil) move_to(list(node, gen(old)).tail, node, old + 1);
    ++v.min_seq;
  }
  ++v.max_seq;
  v.birth[gen(v.max_seq)] = env.now();
  ++c_.lru_gen_aging;
  spend(env, cost);
}

// lru_gen_age_node(): age when the node is down to MIN_NR_GENS generations; with min_ttl, a node
// whose oldest generation is younger than min_ttl is not reclaimable (lruvec_is_reclaimable()),
// and the kernel would OOM-kill to protect the working set.
void MgLru::kswapd_age(kernel::DaemonEnv& env, unsigned node) {
  if (nr_gens(node) <= kMinNrGens) age(env, node);
  if (cfg_.min_ttl_ns > 0 && env.now() - lv_[node].birth[gen(lv_[node].min_seq)] < cfg_.min_ttl_ns) ++c_.lru_gen_min_ttl_oom;
}

// One SWAP_CLUSTER_MAX step of lru_gen_shrink_node() -> evict_folios().
std::uint64_t MgLru::shrink_step(kernel::DaemonEnv& env, unsigned node, bool direct, std::uint64_t& scanned) {
  Lruvec& v = lv_[node];
  // scan_folios() takes from the oldest generation; the two youngest are never scanned.
  auto oldest_cold = [&]() -> std::optional<std::uint64_t> {
    for (std::uint64_t s = v.min_seq; s + kMinNrGens <= v.max_seq; ++s)
      if (gen_size(node, s)) return s;
    return std::nullopt;
  };
  std::optional<std::uint64_t> seq = oldest_cold();
  if (!seq) {
    // should_run_aging(): the lruvec is out of cold folios -- drop the empty old generations
    // and age, which makes the old max_seq - 1 eligible unless its folios were young.
    try_to_inc_min_seq(node);
    age(env, node);
    seq = oldest_cold();
    if (!seq) return 0;  // every folio was young: nothing to evict until the next aging
  }
  std::vector<std::uint32_t> isolated;
  for (unsigned i = 0; i < cfg_.cluster && list(node, gen(*seq)).tail != kNil; ++i) {
    const std::uint32_t pfn = list(node, gen(*seq)).tail;
    unlink(pfn);
    isolated.push_back(pfn);
  }
  scanned += isolated.size();
  (direct ? c_.pgscan_direct : c_.pgscan_kswapd) += isolated.size();
  TimeNs cost = 0;
  std::uint64_t reclaimed = 0, swapped = 0;
  std::vector<core::VmId> flushed;
  for (const std::uint32_t pfn : isolated) {
    cost += cfg_.scan_ns;
    const Pfn p(pfn);
    // Freed while isolated: an unmap earlier in this batch split a large folio (models/thp),
    // which frees the subpages nobody maps any more.
    if (mem_.is_free(p)) continue;
    if (!evictable(p)) {  // sort_folio(): not ours to evict, to the youngest generation
      push_head(node, gen(v.max_seq), pfn);
      continue;
    }
    // folio_check_references() with lru_gen_enabled(): lru_gen_set_refs().
    if (referenced_ptes(p, cost)) {
      auto& f = flags(p);
      if (!(f & (kReferenced | kWorkingset))) {
        f |= kReferenced;  // FOLIOREF_KEEP: an anon folio not in the swap cache goes to max_seq - 1
        push_head(node, gen(v.max_seq - 1), pfn);
      } else {
        f = static_cast<std::uint16_t>(f | kWorkingset);  // FOLIOREF_ACTIVATE: max_seq
        push_head(node, gen(v.max_seq), pfn);
        ++c_.pgactivate;
      }
      continue;
    }
    // lru_gen_eviction(): the shadow token is min_seq now.
    const std::uint64_t shadow = (static_cast<std::uint64_t>(node) << 48) | (v.min_seq & ((1ull << 48) - 1));
    unsigned pages = 1;
    const Outcome o = reclaim_folio(p, node, shadow, direct, flushed, cost, pages);
    if (o == Outcome::Failed) {  // add_to_swap() failed: activate
      push_head(node, gen(v.max_seq), pfn);
      ++c_.pgactivate;
      continue;
    }
    if (o == Outcome::Swapped) swapped += pages;
    reclaimed += pages;
  }
  try_to_inc_min_seq(node);
  finish_batch(env, reclaimed, swapped, direct, flushed, cost);
  return reclaimed;
}

void MgLru::node_stats(unsigned node, core::Json& out) const {
  const Lruvec& v = lv_[node];
  core::Json gens = core::Json::array();
  for (std::uint64_t s = v.min_seq; s <= v.max_seq; ++s)
    gens.push_back({{"seq", s}, {"folios", gen_size(node, s)}, {"birth_ns", v.birth[gen(s)]}});
  out["lru_gen"] = {{"max_seq", v.max_seq}, {"min_seq", v.min_seq}, {"generations", gens}};
}

void MgLru::host_stats(core::Json& out) const {
  out["lru_gen_aging"] = c_.lru_gen_aging;
  out["lru_gen_min_ttl_oom"] = c_.lru_gen_min_ttl_oom;
}

void MgLru::node_gauges(unsigned node, std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("lru_gen_generations", static_cast<double>(nr_gens(node)));
  out.emplace_back("lru_gen_oldest", static_cast<double>(gen_size(node, lv_[node].min_seq)));
}

void MgLru::check_lru() const {
  for (unsigned n = 0; n < lv_.size(); ++n) {
    const Lruvec& v = lv_[n];
    VMEMSIM_CHECK(nr_gens(n) >= kMinNrGens && nr_gens(n) <= kMaxNrGens,
                  "node " << n << ": " << nr_gens(n) << " generations");
    for (unsigned g = 0; g < kMaxNrGens; ++g) {
      bool live = false;
      for (std::uint64_t s = v.min_seq; s <= v.max_seq; ++s) live |= gen(s) == g;
      VMEMSIM_CHECK(live || list(n, g).size == 0, "node " << n << ": retired generation " << g << " holds folios");
    }
  }
}

}  // namespace vmemsim::vmscan
