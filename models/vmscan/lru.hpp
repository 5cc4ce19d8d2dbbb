// Kernel reclaim with the classic active/inactive LRU (mm/vmscan.c, mm/workingset.c,
// mm/swap_state.c): one kswapd per memory node, direct reclaim in a faulting vCPU's context, anon
// pages swapped to the host's swap device with real I/O, refaults judged by their refault
// distance.
//
// Lifecycle: the kernel.reclaim section (lru.cpp) builds, when `enabled`, one HostLru per host
// (the FrameObserver of its HostMemory, so every frame allocated enters its node's inactive list
// and leaves the LRU when freed) and one Kswapd daemon per node with memory, which share it. A
// ReclaimVm per VM (VmKernel::mechanisms) reports the VM's swap traffic. The engine runs each
// kswapd as a daemon and, when a vCPU's fault finds no free frame, calls direct_reclaim() through
// KernelDaemon::slow_path() with an environment that charges that vCPU.
//
// What reclaim sees of a page is its frame's LRU state and the PTEs that map it (the young bit,
// tested and cleared by folio_referenced()), never ground truth.
//
// Modelled as the kernel does: lru_cache_add of new anon folios to the inactive list;
// inactive_is_low() with its sqrt ratio; shrink_active_list() deactivating every anon folio
// and clearing its young bits (folio_set_workingset); shrink_folio_list() with
// folio_check_references() (a folio referenced once is kept on the inactive list with
// PG_referenced, twice or by two PTEs it is activated); add_to_swap() + try_to_unmap() (the
// PTE becomes a swap entry; the uffd bit rides in it, pte_swp_mkuffd_wp) + pageout();
// workingset_eviction() / workingset_refault(): a refault whose distance (non-resident
// age since its eviction) is at most the node's active anon list is activated at once.
// Simplified, and said so in `vmemsim describe reclaim`: the priority loop of
// shrink_node() is a bounded scan of SWAP_CLUSTER_MAX batches until the goal is met or both lists
// were walked twice; swap-out I/O is synchronous for its reclaimer (kswapd, or the vCPU in
// direct reclaim: reclaim_throttle() makes it wait for writeback); a slot is freed at swap-in
// (no swap cache, so an unmodified page is written again when reclaimed again); shmem, KSM and
// pinned frames are not reclaimed (they stay on the LRU, activated); kswapd notices a node below
// its low watermark within `kswapd_poll` rather than from wakeup_kswapd() in the allocator;
// no MGLRU (lru_gen), no file LRU (guest memory is anon or shmem).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/kernel/daemon.hpp"
#include "models/kernel/mechanism.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "sim/core/flat_array.hpp"

namespace vmemsim::vmscan {

using core::TimeNs;

struct LruConfig {
  TimeNs poll_ns = 1'000'000;     // kswapd_poll
  unsigned cluster = 32;          // SWAP_CLUSTER_MAX: folios per isolate / shrink step
  unsigned kswapd_batches = 16;   // shrink steps per kswapd run_batch (bounded work per wake)
  TimeNs scan_ns = 50;            // isolate + look at one folio on an LRU list
  TimeNs rmap_ns = 150;           // folio_referenced() / try_to_unmap() per mapping PTE
  TimeNs swap_alloc_ns = 200;     // add_to_swap(): a slot + the swap cache insert
  TimeNs tlb_flush_ns = 2000;     // the initiator's flush per mm after a batch of unmaps
  std::uint64_t swap_pages = 0;   // the host's swap device, in pages
};

// Per node (lruvec): the two anon lists and the workingset clock.
struct LruCounters {
  std::uint64_t pgscan_kswapd = 0, pgscan_direct = 0, pgsteal_kswapd = 0, pgsteal_direct = 0;
  std::uint64_t pgrefill = 0, pgactivate = 0, pgdeactivate = 0, pgrotated = 0;
  std::uint64_t pswpout = 0, pswpin = 0, workingset_refault_anon = 0, workingset_activate_anon = 0;
  std::uint64_t allocstall = 0, pageoutrun = 0, kswapd_low_wmark_hit = 0, swap_full = 0;
  std::uint64_t tlb_flushes = 0;
};

class HostLru final : public mm::FrameObserver {
 public:
  HostLru(mm::HostMemory& mem, std::vector<mm::AddressSpace*> by_vm, LruConfig cfg);

  // mm::FrameObserver
  void frame_allocated(mm::Pfn pfn) override;
  void frame_freed(mm::Pfn pfn) override;
  void swap_entry_freed(std::uint32_t slot, std::optional<mm::Pfn> pfn) override;

  // shrink_node() until `goal` folios are reclaimed on `node` or the lists are walked out:
  // returns the folios reclaimed. Charges its CPU, flushes and swap writes through env.
  std::uint64_t shrink_node(kernel::DaemonEnv& env, unsigned node, std::uint64_t goal, bool direct);
  // One step of it: age the active list if the inactive one is low, then shrink up to
  // SWAP_CLUSTER_MAX folios off the inactive tail. Returns the folios reclaimed.
  std::uint64_t shrink_step(kernel::DaemonEnv& env, unsigned node, bool direct, std::uint64_t& scanned);

  std::uint64_t inactive(unsigned node) const { return lists_[node * 2].size; }
  std::uint64_t active(unsigned node) const { return lists_[node * 2 + 1].size; }
  std::uint64_t swap_used() const { return swap_used_; }
  const LruCounters& counters() const { return c_; }
  const LruConfig& config() const { return cfg_; }
  mm::HostMemory& memory() { return mem_; }
  // The per-VM swap traffic, for ReclaimVm.
  std::uint64_t vm_pswpout(core::VmId vm) const { return vm.v < vm_out_.size() ? vm_out_[vm.v] : 0; }
  std::uint64_t vm_pswpin(core::VmId vm) const { return vm.v < vm_in_.size() ? vm_in_[vm.v] : 0; }
  TimeNs cpu_ns() const { return cpu_ns_; }
  // Frames in use before reclaim was installed (guest memory preallocated at build time) join
  // their node's inactive list, in pfn order.
  void adopt_used_frames();
  // Every frame on a list is in use and on its own node's list, sizes match the links.
  void check_invariants() const;

 private:
  static constexpr std::uint32_t kNil = 0xffffffffu;
  // Frame::reclaim bits: the list (0 none, 1 inactive, 2 active), PG_referenced, PG_workingset.
  static constexpr std::uint16_t kListMask = 3, kReferenced = 4, kWorkingset = 8;
  struct List {
    std::uint32_t head = kNil, tail = kNil;  // head: most recently added
    std::uint64_t size = 0;
  };
  enum class Ref { Activate, Keep, Reclaim };

  unsigned list_of(mm::Pfn pfn) const { return mem_.frame(pfn).reclaim & kListMask; }
  void push_head(unsigned l, std::uint32_t pfn);  // l: node*2 + (active ? 1 : 0)
  void unlink(std::uint32_t pfn);
  bool inactive_is_low(unsigned node) const;
  void shrink_active_list(kernel::DaemonEnv& env, unsigned node, unsigned nr, TimeNs& cost);
  std::uint64_t shrink_inactive_list(kernel::DaemonEnv& env, unsigned node, unsigned nr, bool direct, TimeNs& cost);
  unsigned referenced_ptes(mm::Pfn pfn, TimeNs& cost);  // folio_referenced(): test-and-clear young
  Ref check_references(mm::Pfn pfn, TimeNs& cost);
  bool evictable(mm::Pfn pfn) const;
  std::optional<std::uint32_t> alloc_slot();

  mm::HostMemory& mem_;
  std::vector<mm::AddressSpace*> by_vm_;  // by VmId
  LruConfig cfg_;
  core::FlatArray<std::uint32_t> prev_, next_;  // per frame: 8 B, the LRU links
  std::vector<List> lists_;                   // [node * 2 + active]
  std::vector<std::uint64_t> nonresident_age_;  // lruvec->nonresident_age, per node
  // Swap slots: a bump pointer and freed slots (LIFO); per slot the shadow entry
  // workingset_eviction() leaves: the evicting node and its nonresident_age then.
  std::uint32_t next_slot_ = 0;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint64_t> shadow_;  // node << 48 | age; grows with the slots in use
  std::uint64_t swap_used_ = 0;
  std::vector<std::uint64_t> vm_out_, vm_in_;
  LruCounters c_;
  TimeNs cpu_ns_ = 0;
};

// kswapd<n>: one per node with memory. Wakes when its node is below the low watermark and
// reclaims (balance_pgdat) until it is above the high one; serves direct reclaim on its host.
class Kswapd final : public kernel::KernelDaemon, public kernel::AllocSlowPath {
 public:
  // `slow_path`: this kswapd (the host's first) also serves direct reclaim and reports the
  // host's /proc/vmstat counters.
  Kswapd(std::string name, unsigned host, unsigned cpu_node, unsigned node, std::shared_ptr<HostLru> lru,
         bool slow_path);
  const std::string& name() const override { return name_; }
  unsigned host() const override { return host_; }
  unsigned node() const override { return cpu_node_; }
  TimeNs next_wakeup(TimeNs now) override;
  void run_batch(kernel::DaemonEnv& env, TimeNs now) override;
  core::Json stats() const override;
  TimeNs cpu_ns() const override { return cpu_ns_; }
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;
  kernel::AllocSlowPath* slow_path() override { return slow_path_ ? this : nullptr; }
  void check_invariants() const override {
    if (slow_path_) lru_->check_invariants();
  }
  // __alloc_pages_direct_reclaim(): one SWAP_CLUSTER_MAX goal, from the preferred node then the
  // others (the zonelist), in the faulting thread's context.
  std::uint64_t direct_reclaim(kernel::DaemonEnv& env, unsigned node) override;

 private:
  std::string name_;
  unsigned host_, cpu_node_, node_;
  std::shared_ptr<HostLru> lru_;
  bool slow_path_;
  bool running_ = false;  // balance_pgdat() in progress (until the high watermark)
  std::uint64_t direct_calls_ = 0;  // allocstall
  TimeNs next_ = 0;
  TimeNs cpu_ns_ = 0;
  std::uint64_t wakeups_ = 0;
};

// The per-VM face of reclaim: its pages out on swap and its swap traffic.
class ReclaimVm final : public kernel::VmMechanism {
 public:
  ReclaimVm(const mm::AddressSpace& as, std::shared_ptr<HostLru> lru) : as_(as), lru_(std::move(lru)) {}
  const char* name() const override { return "reclaim"; }
  core::Json summary() const override;
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;

 private:
  const mm::AddressSpace& as_;
  std::shared_ptr<HostLru> lru_;
};

}  // namespace vmemsim::vmscan
