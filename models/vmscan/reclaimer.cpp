// What every LRU shares: lists, swap slots and pageout, shrink_node's loop, kswapd, per-VM
// counters (see reclaimer.hpp). Function names in comments are Linux 6.18's mm/vmscan.c,
// mm/workingset.c, mm/swapfile.c, mm/rmap.c.
#include "models/vmscan/reclaimer.hpp"

#include <algorithm>

#include "models/mm/pte.hpp"
#include "models/mm/rmap.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::vmscan {

using mm::Pfn;

Reclaimer::Reclaimer(mm::HostMemory& mem, std::vector<mm::AddressSpace*> by_vm, LruConfig cfg)
    : mem_(mem),
      by_vm_(std::move(by_vm)),
      cfg_(cfg),
      prev_(mem.total_frames()),
      next_(mem.total_frames()),
      lists_(mem.node_count() * kListsPerNode),
      vm_out_(by_vm_.size(), 0),
      vm_in_(by_vm_.size(), 0) {}

void Reclaimer::push_head(unsigned node, unsigned idx, std::uint32_t pfn) {
  List& L = lists_[node * kListsPerNode + idx];
  prev_[pfn] = kNil;
  next_[pfn] = L.head;
  if (L.head != kNil) prev_[L.head] = pfn;
  else L.tail = pfn;
  L.head = pfn;
  ++L.size;
  auto& r = flags(Pfn(pfn));
  r = static_cast<std::uint16_t>((r & ~kListMask) | (idx + 1));
}

void Reclaimer::unlink(std::uint32_t pfn) {
  auto& r = flags(Pfn(pfn));
  const unsigned which = r & kListMask;
  if (which == 0) return;
  List& L = lists_[node_of(pfn) * kListsPerNode + which - 1];
  if (prev_[pfn] != kNil) next_[prev_[pfn]] = next_[pfn];
  else L.head = next_[pfn];
  if (next_[pfn] != kNil) prev_[next_[pfn]] = prev_[pfn];
  else L.tail = prev_[pfn];
  --L.size;
  r = static_cast<std::uint16_t>(r & ~kListMask);
}

void Reclaimer::adopt_used_frames() {
  for (std::uint64_t p = 0; p < mem_.total_frames(); ++p) {
    const Pfn pfn(static_cast<std::uint32_t>(p));
    if (!mem_.is_free(pfn) && list_of(pfn) < 0) frame_allocated(pfn);
  }
}

// swap_free() at swap-in (no swap cache: the slot goes at once), or the entry was zapped.
void Reclaimer::swap_entry_freed(std::uint32_t slot, std::optional<Pfn> pfn) {
  VMEMSIM_CHECK(slot < shadow_.size() && swap_used_ > 0, "swap slot " << slot << " is not in use");
  const std::uint64_t shadow = shadow_[slot];
  free_slots_.push_back(slot);
  --swap_used_;
  if (!pfn) return;
  ++c_.pswpin;
  const auto owner = mem_.owner(*pfn);
  if (owner.vm.v < vm_in_.size()) ++vm_in_[owner.vm.v];
  ++c_.workingset_refault_anon;
  refaulted(*pfn, shadow);
}

std::optional<std::uint32_t> Reclaimer::alloc_slot() {
  if (swap_used_ >= cfg_.swap_pages) return std::nullopt;
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = next_slot_++;
    shadow_.push_back(0);
  }
  ++swap_used_;
  return slot;
}

mm::AddressSpace* Reclaimer::shmem_owner(Pfn pfn) const {
  const auto owner = mem_.owner(pfn);
  if (owner.vm.v >= by_vm_.size() || !by_vm_[owner.vm.v]) return nullptr;
  mm::AddressSpace* as = by_vm_[owner.vm.v];
  if (as->config().backing != mm::Backing::Shmem || owner.gfn.v >= as->pages()) return nullptr;
  return as->in_page_cache(owner.gfn) && as->cache_pfn(owner.gfn) == pfn ? as : nullptr;
}

bool Reclaimer::evictable(Pfn pfn) const {
  const auto& f = mem_.frame(pfn);
  const auto owner = mem_.owner(pfn);
  if (owner.vm.v >= by_vm_.size() || !by_vm_[owner.vm.v]) return false;
  // shmem (swap-backed, on the anon LRU): a page-cache page, referenced by the cache and its
  // mappings only. hugetlb pages are not on the LRU.
  if (!by_vm_[owner.vm.v]->anon()) return shmem_owner(pfn) != nullptr && f.refcount == f.mapcount + 1;
  if (mem_.is_ksm(pfn)) return false;
  if (f.mapcount == 0 || f.refcount != f.mapcount) return false;  // pinned or in flight
  return true;
}

// folio_referenced(): walk the rmap, test and clear each mapping PTE's young bit; a large shmem
// folio is one folio: every subpage's mappings.
unsigned Reclaimer::referenced_ptes(Pfn pfn, TimeNs& cost) {
  unsigned n = 0;
  auto walk = [&](Pfn p) {
    for (const mm::Mapper& m : mem_.mappers(p)) {
      cost += cfg_.rmap_ns;
      n += by_vm_[m.vm.v]->page_table().test_and_clear_young(m.gfn) ? 1 : 0;
    }
  };
  if (mm::AddressSpace* as = shmem_owner(pfn); as && as->huge()) {
    const auto [first, end] = as->huge()->file_folio(*as, mem_.owner(pfn).gfn);
    for (std::uint64_t g = first; g < end; ++g) walk(as->cache_pfn(mm::Gfn(g)));
    return n;
  }
  walk(pfn);
  return n;
}

Reclaimer::Outcome Reclaimer::reclaim_shmem(mm::AddressSpace& as, mm::Gfn g, std::uint64_t shadow,
                                             std::vector<core::VmId>& flushed, TimeNs& cost, unsigned& pages) {
  const auto [first, end] = as.huge() ? as.huge()->file_folio(as, g) : std::pair<std::uint64_t, std::uint64_t>{g.v, g.v + 1};
  pages = static_cast<unsigned>(end - first);
  // shmem_writeout() takes a slot per page (a large folio swaps out whole; contiguity of its
  // slots is not modelled). All or nothing: a folio that does not fit is activated.
  if (swap_used_ + pages > cfg_.swap_pages) {
    ++c_.swap_full;
    return Outcome::Failed;
  }
  std::vector<std::uint32_t> slots;
  for (unsigned i = 0; i < pages; ++i) {
    slots.push_back(*alloc_slot());
    shadow_[slots.back()] = shadow;
  }
  cost += cfg_.swap_alloc_ns;
  const core::VmId vm = as.vm();
  bool unmapped = false;
  // try_to_unmap(TTU_SPLIT_HUGE_PMD): a PMD mapping is split -- for a file PMD, cleared (the
  // folio stays whole in the page cache) -- then the PTE-mapped folio is unmapped step by step.
  if (pages > 1 && mm::pte::huge(as.pte_at(mm::Gfn(first)))) {
    as.huge_range(mm::Gfn(first), pages, mm::RangeOp::Zap);
    cost += cfg_.rmap_ns;
    unmapped = true;
  }
  const auto& v = as.uffd_vma();
  for (std::uint64_t x = first; x < end;) {
    const mm::Pte p = as.pte_at(mm::Gfn(x));
    if (!mm::pte::present(p)) {
      ++x;
      continue;
    }
    const unsigned nr = mm::folio_unmap_pte_batch(as, mm::Gfn(x), first, end);
    cost += cfg_.rmap_ns + static_cast<TimeNs>(nr - 1) * cfg_.rmap_batch_pte_ns;
    ++c_.rmap_unmap_steps;
    c_.rmap_unmap_ptes += nr;
    // get_and_clear_ptes() over the batch, then pte_install_uffd_wp_if_needed() for the first
    // PTE only: a uffd-protected PTE leaves a marker (uffd-wp on 6.18; RWP on the rwp series);
    // the batch's further PTEs become none, whatever bit they carried.
    for (unsigned i = 0; i < nr; ++i) {
      const mm::Gfn gx(x + i);
      const mm::Pte px = as.pte_at(gx);
      const bool uffd = mm::pte::uffd(px) && (v.wp || v.rwp);
      if (i > 0 && uffd) {
        if (vm_uffd_dropped_.size() <= vm.v) vm_uffd_dropped_.resize(vm.v + 1, 0);
        ++vm_uffd_dropped_[vm.v];
      }
      as.zap(gx, i == 0 && uffd);
    }
    unmapped = true;
    x += nr;
  }
  if (unmapped && std::find(flushed.begin(), flushed.end(), vm) == flushed.end()) flushed.push_back(vm);
  for (unsigned i = 0; i < pages; ++i) as.shmem_swap_out(mm::Gfn(first + i), slots[i]);
  if (vm.v < vm_out_.size()) vm_out_[vm.v] += pages;
  c_.pswpout += pages;
  return Outcome::Swapped;
}

Reclaimer::Outcome Reclaimer::reclaim_folio(Pfn p, unsigned node, std::uint64_t shadow, bool direct,
                                             std::vector<core::VmId>& flushed, TimeNs& cost, unsigned& pages) {
  pages = 1;
  // shmem: no demotion here (the model migrates mapped 4 KiB pages only), straight to swap.
  if (mm::AddressSpace* as = shmem_owner(p)) return reclaim_shmem(*as, mem_.owner(p).gfn, shadow, flushed, cost, pages);
  const int target = node < cfg_.demote_target.size() ? cfg_.demote_target[node] : -1;
  if (cfg_.demotion && target >= 0) {
    // demote_folio_list() -> migrate_pages() with alloc_demote_folio(): __GFP_THISNODE on the
    // target, no reclaim there (its kswapd will), so a target at its min watermark refuses and
    // the folio falls back to swap. The migration entry keeps young/dirty/uffd-wp; a PROT_NONE
    // hint (NUMA's, or an rfc-v1 DEACTIVATE) is rebuilt from the VMA's protection and lost.
    const unsigned t = static_cast<unsigned>(target);
    if (mem_.free_frames(t) > mem_.watermarks(t).min) {
      const mm::Mapper m = mem_.mappers(p).front();
      cost += cfg_.migrate_ns;
      if (by_vm_[m.vm.v]->migrate_page(m.gfn, core::NodeId(static_cast<std::uint16_t>(t))) == mm::MigrateResult::Migrated) {
        ++(direct ? c_.pgdemote_direct : c_.pgdemote_kswapd);
        if (std::find(flushed.begin(), flushed.end(), m.vm) == flushed.end()) flushed.push_back(m.vm);
        return Outcome::Demoted;
      }
    }
    ++c_.pgdemote_fail;
  }
  const auto slot = alloc_slot();
  if (!slot) {
    ++c_.swap_full;
    return Outcome::Failed;
  }
  cost += cfg_.swap_alloc_ns;
  shadow_[*slot] = shadow;
  // try_to_unmap(): every mapping PTE becomes the swap entry (the uffd bit rides along); the
  // frame is freed with its last mapping (its write is done in finish_batch(), before the
  // reclaimer goes on: the model frees at unmap and charges the write to the reclaimer).
  for (const mm::Mapper& m : mem_.mappers(p)) {
    cost += cfg_.rmap_ns;
    by_vm_[m.vm.v]->swap_out(m.gfn, *slot);
    if (m.vm.v < vm_out_.size()) ++vm_out_[m.vm.v];
    if (std::find(flushed.begin(), flushed.end(), m.vm) == flushed.end()) flushed.push_back(m.vm);
  }
  ++c_.pswpout;
  return Outcome::Swapped;
}

void Reclaimer::spend(kernel::DaemonEnv& env, TimeNs& cost) {
  if (cost <= 0) return;
  env.cpu(cost);
  cpu_ns_ += cost;
  cost = 0;
}

void Reclaimer::finish_batch(kernel::DaemonEnv& env, std::uint64_t reclaimed, std::uint64_t swapped, bool direct,
                             const std::vector<core::VmId>& flushed, TimeNs& cost) {
  (direct ? c_.pgsteal_direct : c_.pgsteal_kswapd) += reclaimed;
  for (const core::VmId vm : flushed) {
    cost += cfg_.tlb_flush_ns;
    ++c_.tlb_flushes;
    env.tlb_flush(vm);
  }
  spend(env, cost);
  // pageout() -> swap_writepage(): the batch's writes on the host's swap device.
  if (swapped) env.swap_io(swapped * core::kPageSize, true);
}

// shrink_node() -> shrink_lruvec() / lru_gen_shrink_node(), without the priority loop:
// SWAP_CLUSTER_MAX steps until the goal is met or twice the lists' folios were looked at.
std::uint64_t Reclaimer::shrink_node(kernel::DaemonEnv& env, unsigned node, std::uint64_t goal, bool direct) {
  std::uint64_t reclaimed = 0, scanned = 0;
  const std::uint64_t limit = 2 * (inactive(node) + active(node)) + cfg_.cluster;
  while (reclaimed < goal && scanned < limit) {
    if (inactive(node) + active(node) == 0) break;
    const std::uint64_t before = scanned;
    reclaimed += shrink_step(env, node, direct, scanned);
    if (scanned == before) break;  // nothing left to look at
  }
  return reclaimed;
}

void Reclaimer::check_invariants() const {
  for (unsigned l = 0; l < lists_.size(); ++l) {
    std::uint64_t n = 0;
    std::uint32_t prev = kNil;
    for (std::uint32_t p = lists_[l].head; p != kNil; p = next_[p]) {
      VMEMSIM_CHECK(prev_[p] == prev, "LRU list " << l << ": broken back link at pfn " << p);
      VMEMSIM_CHECK(!mem_.is_free(Pfn(p)), "LRU list " << l << " holds free pfn " << p);
      VMEMSIM_CHECK(node_of(p) == l / kListsPerNode, "pfn " << p << " on another node's list");
      VMEMSIM_CHECK((mem_.frame(Pfn(p)).reclaim & kListMask) == l % kListsPerNode + 1, "pfn " << p << ": list bits");
      prev = p;
      ++n;
    }
    VMEMSIM_CHECK(n == lists_[l].size && prev == lists_[l].tail, "LRU list " << l << ": size or tail");
  }
  check_lru();
}

// ---- kswapd ----

Kswapd::Kswapd(std::string name, unsigned host, unsigned cpu_node, unsigned node, std::shared_ptr<Reclaimer> lru,
               bool slow_path)
    : name_(std::move(name)), host_(host), cpu_node_(cpu_node), node_(node), lru_(std::move(lru)), slow_path_(slow_path) {}

// kswapd sleeps until the allocator finds the node below its low watermark (wakeup_kswapd());
// here it looks every kswapd_poll, and runs while balance_pgdat() has work.
TimeNs Kswapd::next_wakeup(TimeNs now) {
  if (running_) return now;
  const auto& m = lru_->memory();
  if (m.free_frames(node_) < m.watermarks(node_).low || m.kswapd_wake(node_) != mm::HostMemory::KswapdWake::None)
    return now;
  return std::max(now, next_);
}

// balance_pgdat(): reclaim SWAP_CLUSTER_MAX at a time until the node is above its high
// watermark; a bounded number of steps per run, then the actor yields and comes back.
void Kswapd::run_batch(kernel::DaemonEnv& env, TimeNs now) {
  auto& m = lru_->memory();
  const auto& w = m.watermarks(node_);
  const TimeNs t0 = env.now();
  const auto wake = m.take_kswapd_wake(node_);
  tiering_ |= wake == mm::HostMemory::KswapdWake::Promo;
  // pgdat_balanced(): in memory-tiering mode the goal is WMARK_PROMO, above high, so that
  // promotions find room.
  const std::uint64_t goal = tiering_ ? w.promo : w.high;
  if (!running_) {
    if (m.free_frames(node_) >= w.low && (wake == mm::HostMemory::KswapdWake::None || m.free_frames(node_) >= goal)) {
      next_ = now + lru_->config().poll_ns;
      return;
    }
    running_ = true;
    ++wakeups_;
  }
  const TimeNs cpu0 = lru_->cpu_ns();
  lru_->kswapd_age(env, node_);
  bool progress = false;
  for (unsigned i = 0; i < lru_->config().kswapd_batches && m.free_frames(node_) < goal; ++i) {
    const std::uint64_t got = lru_->shrink_node(env, node_, lru_->config().cluster, false);
    progress |= got > 0;
    if (got == 0) break;
  }
  cpu_ns_ += lru_->cpu_ns() - cpu0;
  env.slice("kswapd", t0, env.now());
  if (m.free_frames(node_) >= goal || !progress) {
    // Balanced, or nothing left to reclaim (kswapd_failures): back to sleep.
    running_ = false;
    next_ = env.now() + lru_->config().poll_ns;
  }
}

std::uint64_t Kswapd::direct_reclaim(kernel::DaemonEnv& env, unsigned node) {
  auto& m = lru_->memory();
  std::uint64_t got = 0;
  const unsigned n = m.node_count();
  for (unsigned k = 0; k < n && got == 0; ++k) {
    const unsigned nd = (node + k) % n;
    if (m.capacity(nd) == 0) continue;
    got += lru_->shrink_node(env, nd, lru_->config().cluster, true);
  }
  ++direct_calls_;
  return got;
}

core::Json Kswapd::stats() const {
  core::Json out = core::Json::object();
  if (slow_path_) {  // the host's counters, once per host (/proc/vmstat names)
    const auto& c = lru_->counters();
    out = {{"pgscan_kswapd", c.pgscan_kswapd},
           {"pgscan_direct", c.pgscan_direct},
           {"pgsteal_kswapd", c.pgsteal_kswapd},
           {"pgsteal_direct", c.pgsteal_direct},
           {"pgrefill", c.pgrefill},
           {"pgactivate", c.pgactivate},
           {"pgdeactivate", c.pgdeactivate},
           {"pgrotated", c.pgrotated},
           {"pswpout", c.pswpout},
           {"pswpin", c.pswpin},
           {"workingset_refault_anon", c.workingset_refault_anon},
           {"workingset_activate_anon", c.workingset_activate_anon},
           {"allocstall", direct_calls_},
           {"swap_full", c.swap_full},
           {"tlb_flushes", c.tlb_flushes},
           {"pgdemote_kswapd", c.pgdemote_kswapd},
           {"pgdemote_direct", c.pgdemote_direct},
           {"pgdemote_fail", c.pgdemote_fail},
           {"rmap_unmap_steps", c.rmap_unmap_steps},
           {"rmap_unmap_ptes", c.rmap_unmap_ptes},
           {"swap_used_pages", lru_->swap_used()},
           {"swap_pages", lru_->config().swap_pages}};
    lru_->host_stats(out);
  }
  out["node"] = node_;
  out["kswapd_wakeups"] = wakeups_;
  out["nr_inactive_anon"] = lru_->inactive(node_);
  out["nr_active_anon"] = lru_->active(node_);
  lru_->node_stats(node_, out);
  out["cpu_ns"] = cpu_ns_;
  return out;
}

void Kswapd::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  out.emplace_back("kswapd_wakeups", wakeups_);
  if (!slow_path_) return;
  const auto& c = lru_->counters();
  out.emplace_back("pgscan_kswapd", c.pgscan_kswapd);
  out.emplace_back("pgscan_direct", c.pgscan_direct);
  out.emplace_back("pgsteal_kswapd", c.pgsteal_kswapd);
  out.emplace_back("pgsteal_direct", c.pgsteal_direct);
  out.emplace_back("pswpout", c.pswpout);
  out.emplace_back("pswpin", c.pswpin);
  out.emplace_back("workingset_activate_anon", c.workingset_activate_anon);
  out.emplace_back("pgdemote_kswapd", c.pgdemote_kswapd);
  out.emplace_back("pgdemote_direct", c.pgdemote_direct);
  out.emplace_back("allocstall", direct_calls_);
}

void Kswapd::gauges(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("nr_inactive_anon", static_cast<double>(lru_->inactive(node_)));
  out.emplace_back("nr_active_anon", static_cast<double>(lru_->active(node_)));
  out.emplace_back("nr_free_pages", static_cast<double>(lru_->memory().free_frames(node_)));
  if (slow_path_) out.emplace_back("swap_used_pages", static_cast<double>(lru_->swap_used()));
  lru_->node_gauges(node_, out);
}

// ---- per VM ----

core::Json ReclaimVm::summary() const {
  core::Json j = {{"swap_pages", as_.swap_ptes() + as_.shmem_swapped()},
                  {"pswpout", lru_->vm_pswpout(core::VmId(as_.config().vm))},
                  {"pswpin", lru_->vm_pswpin(core::VmId(as_.config().vm))}};
  // shmem: pages of the file on swap, and the uffd state a batched unmap dropped (ground truth).
  if (!as_.anon()) {
    j["shmem_swapped_pages"] = as_.shmem_swapped();
    j["uffd_state_dropped_by_unmap_batch"] = lru_->vm_uffd_dropped(core::VmId(as_.config().vm));
  }
  return j;
}
void ReclaimVm::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  out.emplace_back("pswpout", lru_->vm_pswpout(core::VmId(as_.config().vm)));
  out.emplace_back("pswpin", lru_->vm_pswpin(core::VmId(as_.config().vm)));
}
void ReclaimVm::gauges(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("swap_pages", static_cast<double>(as_.swap_ptes() + as_.shmem_swapped()));
}

}  // namespace vmemsim::vmscan
