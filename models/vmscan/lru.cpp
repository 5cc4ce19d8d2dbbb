// kernel.reclaim: the classic active/inactive LRU, kswapd and direct reclaim (see lru.hpp).
// Function names in the comments are Linux 6.18's mm/vmscan.c, mm/workingset.c, mm/swapfile.c.
#include "models/vmscan/lru.hpp"

#include <algorithm>
#include <cmath>

#include "models/kernel/registry.hpp"
#include "models/mm/pte.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::vmscan {

namespace pte = mm::pte;
using mm::Pfn;

HostLru::HostLru(mm::HostMemory& mem, std::vector<mm::AddressSpace*> by_vm, LruConfig cfg)
    : mem_(mem),
      by_vm_(std::move(by_vm)),
      cfg_(cfg),
      prev_(mem.total_frames()),
      next_(mem.total_frames()),
      lists_(mem.node_count() * 2),
      nonresident_age_(mem.node_count(), 0),
      vm_out_(by_vm_.size(), 0),
      vm_in_(by_vm_.size(), 0) {}

void HostLru::push_head(unsigned l, std::uint32_t pfn) {
  List& L = lists_[l];
  prev_[pfn] = kNil;
  next_[pfn] = L.head;
  if (L.head != kNil) prev_[L.head] = pfn;
  else L.tail = pfn;
  L.head = pfn;
  ++L.size;
  auto& r = mem_.frame(Pfn(pfn)).reclaim;
  r = static_cast<std::uint16_t>((r & ~kListMask) | ((l & 1) ? 2 : 1));
}

void HostLru::unlink(std::uint32_t pfn) {
  auto& r = mem_.frame(Pfn(pfn)).reclaim;
  const unsigned which = r & kListMask;
  if (which == 0) return;
  const unsigned l = mem_.node_of(Pfn(pfn)).v * 2 + (which == 2 ? 1 : 0);
  List& L = lists_[l];
  if (prev_[pfn] != kNil) next_[prev_[pfn]] = next_[pfn];
  else L.head = next_[pfn];
  if (next_[pfn] != kNil) prev_[next_[pfn]] = prev_[pfn];
  else L.tail = prev_[pfn];
  --L.size;
  r = static_cast<std::uint16_t>(r & ~kListMask);
}

// folio_add_lru() of a new folio: lru_cache_add_inactive_or_unevictable() puts new anon folios
// on the inactive list (since 5.9: they must prove themselves before they can displace the
// active list).
void HostLru::frame_allocated(Pfn pfn) {
  mem_.frame(pfn).reclaim = 0;
  push_head(mem_.node_of(pfn).v * 2, pfn.v);
}

void HostLru::frame_freed(Pfn pfn) { unlink(pfn.v); }

void HostLru::adopt_used_frames() {
  for (std::uint64_t p = 0; p < mem_.total_frames(); ++p)
    if (!mem_.is_free(Pfn(static_cast<std::uint32_t>(p))) && list_of(Pfn(static_cast<std::uint32_t>(p))) == 0)
      frame_allocated(Pfn(static_cast<std::uint32_t>(p)));
}

// do_swap_page() -> workingset_refault(): a refault whose distance since its eviction is within
// the node's workingset (active anon, since swap is the only backing here) is activated at once.
void HostLru::swap_entry_freed(std::uint32_t slot, std::optional<Pfn> pfn) {
  VMEMSIM_CHECK(slot < shadow_.size() && swap_used_ > 0, "swap slot " << slot << " is not in use");
  const std::uint64_t shadow = shadow_[slot];
  free_slots_.push_back(slot);
  --swap_used_;
  if (!pfn) return;
  ++c_.pswpin;
  const auto owner = mem_.owner(*pfn);
  if (owner.vm.v < vm_in_.size()) ++vm_in_[owner.vm.v];
  ++c_.workingset_refault_anon;
  const unsigned enode = static_cast<unsigned>(shadow >> 48);
  const std::uint64_t eviction = shadow & ((1ull << 48) - 1);
  const std::uint64_t distance = nonresident_age_[enode] - eviction;
  const std::uint64_t workingset_size = active(enode);
  if (distance <= workingset_size) {
    unlink(pfn->v);
    push_head(mem_.node_of(*pfn).v * 2 + 1, pfn->v);
    mem_.frame(*pfn).reclaim |= kWorkingset;
    ++c_.workingset_activate_anon;
    ++c_.pgactivate;
    ++nonresident_age_[mem_.node_of(*pfn).v];  // workingset_activation()
  }
}

std::optional<std::uint32_t> HostLru::alloc_slot() {
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

// inactive_is_low(): the inactive list should hold at least 1/ratio of the anon pages,
// ratio = sqrt(10 * size in GiB), 1 below a GiB.
bool HostLru::inactive_is_low(unsigned node) const {
  const std::uint64_t in = inactive(node), act = active(node);
  const std::uint64_t gb = (in + act) >> (30 - 12);
  const std::uint64_t ratio = gb ? static_cast<std::uint64_t>(std::sqrt(10.0 * static_cast<double>(gb))) : 1;
  return in * ratio < act;
}

bool HostLru::evictable(Pfn pfn) const {
  const auto& f = mem_.frame(pfn);
  const auto owner = mem_.owner(pfn);
  if (owner.vm.v >= by_vm_.size() || !by_vm_[owner.vm.v] || !by_vm_[owner.vm.v]->anon()) return false;  // shmem: not modelled
  if (mem_.is_ksm(pfn)) return false;
  if (f.mapcount == 0 || f.refcount != f.mapcount) return false;  // pinned or in flight
  return true;
}

// folio_referenced(): walk the rmap, test and clear each mapping PTE's young bit.
unsigned HostLru::referenced_ptes(Pfn pfn, TimeNs& cost) {
  unsigned n = 0;
  for (const mm::Mapper& m : mem_.mappers(pfn)) {
    cost += cfg_.rmap_ns;
    n += by_vm_[m.vm.v]->page_table().test_and_clear_young(m.gfn) ? 1 : 0;
  }
  return n;
}

// folio_check_references() for a swap-backed folio.
HostLru::Ref HostLru::check_references(Pfn pfn, TimeNs& cost) {
  const unsigned ptes = referenced_ptes(pfn, cost);
  auto& r = mem_.frame(pfn).reclaim;
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
void HostLru::shrink_active_list(kernel::DaemonEnv& env, unsigned node, unsigned nr, TimeNs& cost) {
  (void)env;
  List& A = lists_[node * 2 + 1];
  for (unsigned i = 0; i < nr && A.tail != kNil; ++i) {
    const std::uint32_t pfn = A.tail;
    cost += cfg_.scan_ns;
    ++c_.pgrefill;
    unlink(pfn);
    if (evictable(Pfn(pfn))) (void)referenced_ptes(Pfn(pfn), cost);
    auto& r = mem_.frame(Pfn(pfn)).reclaim;
    r |= kWorkingset;
    push_head(node * 2, pfn);
    ++c_.pgdeactivate;
  }
}

// shrink_inactive_list() + shrink_folio_list(): isolate up to nr folios from the tail; keep,
// activate, or add to swap, unmap and write out each.
std::uint64_t HostLru::shrink_inactive_list(kernel::DaemonEnv& env, unsigned node, unsigned nr, bool direct,
                                            TimeNs& cost) {
  List& I = lists_[node * 2];
  std::vector<std::uint32_t> isolated;
  isolated.reserve(nr);
  for (unsigned i = 0; i < nr && I.tail != kNil; ++i) {
    const std::uint32_t pfn = I.tail;
    unlink(pfn);
    isolated.push_back(pfn);
  }
  (direct ? c_.pgscan_direct : c_.pgscan_kswapd) += isolated.size();
  std::uint64_t reclaimed = 0;
  std::vector<core::VmId> flushed;  // one flush per mm per batch (try_to_unmap_flush)
  for (const std::uint32_t pfn : isolated) {
    cost += cfg_.scan_ns;
    const Pfn p(pfn);
    // Freed while isolated: an unmap earlier in this batch split a large folio (models/thp),
    // which frees the subpages nobody maps any more.
    if (mem_.is_free(p)) continue;
    if (!evictable(p)) {  // unevictable here: back to the active list
      push_head(node * 2 + 1, pfn);
      ++c_.pgactivate;
      continue;
    }
    const Ref ref = check_references(p, cost);
    if (ref == Ref::Activate) {
      push_head(node * 2 + 1, pfn);
      ++c_.pgactivate;
      ++nonresident_age_[node];  // workingset_activation() -> workingset_age_nonresident()
      continue;
    }
    if (ref == Ref::Keep) {
      push_head(node * 2, pfn);
      ++c_.pgrotated;
      continue;
    }
    // add_to_swap(): no slot left is an activation (activate_locked).
    const auto slot = alloc_slot();
    if (!slot) {
      ++c_.swap_full;
      push_head(node * 2 + 1, pfn);
      ++c_.pgactivate;
      continue;
    }
    cost += cfg_.swap_alloc_ns;
    // workingset_eviction(): the shadow entry remembers the node's non-resident age.
    shadow_[*slot] = (static_cast<std::uint64_t>(node) << 48) | (nonresident_age_[node] & ((1ull << 48) - 1));
    ++nonresident_age_[node];
    // try_to_unmap(): every mapping PTE becomes the swap entry (the uffd bit rides along); the
    // frame is freed with its last mapping (its write is done below, before the reclaimer goes
    // on: the model frees at unmap and charges the write to the reclaimer).
    for (const mm::Mapper& m : mem_.mappers(p)) {
      cost += cfg_.rmap_ns;
      by_vm_[m.vm.v]->swap_out(m.gfn, *slot);
      if (m.vm.v < vm_out_.size()) ++vm_out_[m.vm.v];
      if (std::find(flushed.begin(), flushed.end(), m.vm) == flushed.end()) flushed.push_back(m.vm);
    }
    ++reclaimed;
    ++c_.pswpout;
  }
  (direct ? c_.pgsteal_direct : c_.pgsteal_kswapd) += reclaimed;
  for (const core::VmId vm : flushed) {
    cost += cfg_.tlb_flush_ns;
    ++c_.tlb_flushes;
    env.tlb_flush(vm);
  }
  if (cost > 0) {
    env.cpu(cost);
    cpu_ns_ += cost;
    cost = 0;
  }
  // pageout() -> swap_writepage(): the batch's writes on the host's swap device.
  if (reclaimed) env.swap_io(reclaimed * core::kPageSize, true);
  return reclaimed;
}

// shrink_node() -> shrink_lruvec(), without the priority loop: SWAP_CLUSTER_MAX steps (age the
// active list when the inactive one is low, then shrink the inactive tail) until the goal is
// met or twice the lists' folios were looked at.
std::uint64_t HostLru::shrink_node(kernel::DaemonEnv& env, unsigned node, std::uint64_t goal, bool direct) {
  std::uint64_t reclaimed = 0, scanned = 0;
  const std::uint64_t limit = 2 * (inactive(node) + active(node)) + cfg_.cluster;
  while (reclaimed < goal && scanned < limit) {
    if (inactive(node) + active(node) == 0) break;
    reclaimed += shrink_step(env, node, direct, scanned);
  }
  return reclaimed;
}

// One SWAP_CLUSTER_MAX step of shrink_lruvec().
std::uint64_t HostLru::shrink_step(kernel::DaemonEnv& env, unsigned node, bool direct, std::uint64_t& scanned) {
  TimeNs cost = 0;
  if (inactive_is_low(node)) {
    const unsigned nr = static_cast<unsigned>(std::min<std::uint64_t>(cfg_.cluster, active(node)));
    shrink_active_list(env, node, nr, cost);
    scanned += nr;
  }
  const unsigned nr = static_cast<unsigned>(std::min<std::uint64_t>(cfg_.cluster, inactive(node)));
  scanned += nr;
  const std::uint64_t reclaimed = shrink_inactive_list(env, node, nr, direct, cost);
  if (cost > 0) {
    env.cpu(cost);
    cpu_ns_ += cost;
  }
  return reclaimed;
}

void HostLru::check_invariants() const {
  for (unsigned l = 0; l < lists_.size(); ++l) {
    std::uint64_t n = 0;
    std::uint32_t prev = kNil;
    for (std::uint32_t p = lists_[l].head; p != kNil; p = next_[p]) {
      VMEMSIM_CHECK(prev_[p] == prev, "LRU list " << l << ": broken back link at pfn " << p);
      VMEMSIM_CHECK(!mem_.is_free(Pfn(p)), "LRU list " << l << " holds free pfn " << p);
      VMEMSIM_CHECK(mem_.node_of(Pfn(p)).v == l / 2, "pfn " << p << " on another node's list");
      VMEMSIM_CHECK((mem_.frame(Pfn(p)).reclaim & kListMask) == ((l & 1) ? 2u : 1u), "pfn " << p << ": list bits");
      prev = p;
      ++n;
    }
    VMEMSIM_CHECK(n == lists_[l].size && prev == lists_[l].tail, "LRU list " << l << ": size or tail");
  }
}

// ---- kswapd ----

Kswapd::Kswapd(std::string name, unsigned host, unsigned cpu_node, unsigned node, std::shared_ptr<HostLru> lru,
               bool slow_path)
    : name_(std::move(name)), host_(host), cpu_node_(cpu_node), node_(node), lru_(std::move(lru)), slow_path_(slow_path) {}

// kswapd sleeps until the allocator finds the node below its low watermark (wakeup_kswapd());
// here it looks every kswapd_poll, and runs while balance_pgdat() has work.
TimeNs Kswapd::next_wakeup(TimeNs now) {
  if (running_) return now;
  const auto& m = lru_->memory();
  if (m.free_frames(node_) < m.watermarks(node_).low) return now;
  return std::max(now, next_);
}

// balance_pgdat(): reclaim SWAP_CLUSTER_MAX at a time until the node is above its high
// watermark; a bounded number of steps per run, then the actor yields and comes back.
void Kswapd::run_batch(kernel::DaemonEnv& env, TimeNs now) {
  auto& m = lru_->memory();
  const auto& w = m.watermarks(node_);
  const TimeNs t0 = env.now();
  if (!running_) {
    if (m.free_frames(node_) >= w.low) {
      next_ = now + lru_->config().poll_ns;
      return;
    }
    running_ = true;
    ++wakeups_;
  }
  const TimeNs cpu0 = lru_->cpu_ns();
  bool progress = false;
  for (unsigned i = 0; i < lru_->config().kswapd_batches && m.free_frames(node_) < w.high; ++i) {
    const std::uint64_t got = lru_->shrink_node(env, node_, lru_->config().cluster, false);
    progress |= got > 0;
    if (got == 0) break;
  }
  cpu_ns_ += lru_->cpu_ns() - cpu0;
  env.slice("kswapd", t0, env.now());
  if (m.free_frames(node_) >= w.high || !progress) {
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
           {"swap_used_pages", lru_->swap_used()},
           {"swap_pages", lru_->config().swap_pages}};
  }
  out["node"] = node_;
  out["kswapd_wakeups"] = wakeups_;
  out["nr_inactive_anon"] = lru_->inactive(node_);
  out["nr_active_anon"] = lru_->active(node_);
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
  out.emplace_back("allocstall", direct_calls_);
}

void Kswapd::gauges(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("nr_inactive_anon", static_cast<double>(lru_->inactive(node_)));
  out.emplace_back("nr_active_anon", static_cast<double>(lru_->active(node_)));
  out.emplace_back("nr_free_pages", static_cast<double>(lru_->memory().free_frames(node_)));
  if (slow_path_) out.emplace_back("swap_used_pages", static_cast<double>(lru_->swap_used()));
}

// ---- per VM ----

core::Json ReclaimVm::summary() const {
  return {{"swap_pages", as_.swap_ptes()},
          {"pswpout", lru_->vm_pswpout(core::VmId(as_.config().vm))},
          {"pswpin", lru_->vm_pswpin(core::VmId(as_.config().vm))}};
}
void ReclaimVm::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  out.emplace_back("pswpout", lru_->vm_pswpout(core::VmId(as_.config().vm)));
  out.emplace_back("pswpin", lru_->vm_pswpin(core::VmId(as_.config().vm)));
}
void ReclaimVm::gauges(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("swap_pages", static_cast<double>(as_.swap_ptes()));
}

// ---- the kernel.reclaim section ----
namespace {

using core::Kind;

const core::ParamSpec kParams[] = {
    {"enabled", Kind::Bool, "false",
     "kernel reclaim: kswapd per node, direct reclaim on a failed allocation, anon pages swapped to the host's "
     "swap device (hosts[].swap) with the active/inactive LRU and refault distance; lets guests overcommit "
     "DRAM up to DRAM + swap"},
    {"lru", Kind::Enum, "\"classic\"",
     "the LRU: classic = active/inactive lists (MGLRU is not modelled). Simplified against mm/vmscan.c: no "
     "priority loop (SWAP_CLUSTER_MAX steps until the goal or two walks of the lists), swap writes "
     "synchronous for their reclaimer, slots freed at swap-in (no swap cache), shmem/KSM/pinned frames not "
     "reclaimed, kswapd notices the low watermark within kswapd_poll",
     -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), "classic"},
    {"kswapd_poll", Kind::Duration, "\"1ms\"",
     "how soon kswapd notices its node below the low watermark (the model's stand-in for wakeup_kswapd())", 1000,
     1e12},
    {"swap_cluster_max", Kind::Int, "32", "folios per isolate / shrink step (SWAP_CLUSTER_MAX)", 1, 4096},
    {"kswapd_batches", Kind::Int, "16", "shrink steps kswapd makes before it yields the core", 1, 1e6},
    // Costs: isolating and checking a folio is list manipulation (~50 ns); an rmap walk step
    // takes the PTL and reads/clears one PTE (~150 ns); add_to_swap allocates a slot and
    // inserts into the swap cache (~200 ns); the flush as for NUMA and KSM.
    {"scan_ns", Kind::Int, "50", "CPU per folio isolated and looked at, ns", 0, 1e6},
    {"rmap_ns", Kind::Int, "150", "CPU per mapping PTE in folio_referenced()/try_to_unmap(), ns", 0, 1e6},
    {"swap_alloc_ns", Kind::Int, "200", "CPU per add_to_swap(), ns", 0, 1e6},
    {"tlb_flush_ns", Kind::Int, "2000", "initiator's CPU per TLB flush after a batch of unmaps, ns", 0, 1e9},
};

std::vector<std::unique_ptr<kernel::KernelDaemon>> make(core::Params& p, const kernel::DaemonContext& ctx) {
  const bool on = p.get_bool(kParams[0]);
  (void)p.get_string(kParams[1]);
  LruConfig c;
  c.poll_ns = p.get_duration(kParams[2]);
  c.cluster = static_cast<unsigned>(p.get_int(kParams[3]));
  c.kswapd_batches = static_cast<unsigned>(p.get_int(kParams[4]));
  c.scan_ns = p.get_int(kParams[5]);
  c.rmap_ns = p.get_int(kParams[6]);
  c.swap_alloc_ns = p.get_int(kParams[7]);
  c.tlb_flush_ns = p.get_int(kParams[8]);
  std::vector<std::unique_ptr<kernel::KernelDaemon>> out;
  if (!on) return out;
  for (unsigned h = 0; h < ctx.hosts.size(); ++h) {
    const auto& hk = ctx.hosts[h];
    std::vector<mm::AddressSpace*> by_vm;
    for (kernel::VmKernel* vk : hk.vms) {
      const unsigned id = vk->as->config().vm;
      if (by_vm.size() <= id) by_vm.resize(id + 1, nullptr);
      by_vm[id] = vk->as;
    }
    LruConfig hc = c;
    hc.swap_pages = hk.swap_bytes / core::kPageSize;
    auto lru = std::make_shared<HostLru>(*hk.memory, by_vm, hc);
    VMEMSIM_CHECK(hk.memory->observer() == nullptr, "host " << hk.name << " already has a frame observer");
    hk.memory->set_observer(lru.get());
    lru->adopt_used_frames();
    for (kernel::VmKernel* vk : hk.vms) vk->mechanisms.push_back(std::make_unique<ReclaimVm>(*vk->as, lru));
    bool first = true;
    for (unsigned n = 0; n < hk.memory->node_count(); ++n) {
      if (hk.memory->capacity(n) == 0) continue;
      out.push_back(std::make_unique<Kswapd>("kswapd" + std::to_string(n) + "." + hk.name, h, hk.cpu_nodes.front(), n,
                                             lru, first));
      first = false;
    }
  }
  return out;
}

}  // namespace

kernel::DaemonInfo lru_section_info() {
  return {"reclaim", "kernel reclaim: kswapd, direct reclaim, the active/inactive LRU, swap", kParams, make,
          /*overcommit=*/true};
}

}  // namespace vmemsim::vmscan
