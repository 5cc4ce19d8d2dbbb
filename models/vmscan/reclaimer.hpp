// Kernel reclaim of anon and shmem guest memory to the host's swap device (mm/vmscan.c, mm/workingset.c,
// mm/swap_state.c): what every LRU implementation shares, plus kswapd and the per-VM counters.
//
// Lifecycle: the kernel.reclaim section (section.cpp) builds, when `enabled`, one Reclaimer per
// host -- the LRU named by `lru` (classic: lru.cpp, mglru: mglru.cpp) -- as the FrameObserver of
// its HostMemory, so every frame allocated enters its node's LRU and leaves it when freed, and
// one Kswapd daemon per node with memory, which share it. A ReclaimVm per VM
// (VmKernel::mechanisms) reports the VM's swap traffic. The engine runs each kswapd as a daemon
// and, when a fault (a vCPU's, or the VMM's UFFDIO_COPY) finds no free frame, calls
// direct_reclaim() through KernelDaemon::slow_path() with an environment that charges the
// faulting thread.
//
// What reclaim sees of a page is its frame's LRU state and the PTEs that map it (the young bit,
// tested and cleared through the rmap), never ground truth.
//
// Shared here: the per-frame list links (8 B per host frame) and up to kListsPerNode lists per
// node; swap slots with one shadow word each (workingset_eviction()'s entry, whose encoding the
// LRU chooses); add_to_swap() + try_to_unmap() (the PTE becomes a swap entry and the uffd bit
// rides in it, pte_swp_mkuffd_wp) + pageout() as one synchronous write per batch on the host's
// swap device; one TLB flush per mm per batch (try_to_unmap_flush()); shrink_node()'s loop.
// Simplified, and said so in `vmemsim describe reclaim`: no priority loop (SWAP_CLUSTER_MAX
// steps until the goal or two walks of the lists); swap writes synchronous for their reclaimer
// (reclaim_throttle() makes it wait for writeback); a slot is freed at swap-in (no swap cache);
// KSM and pinned frames are not reclaimed (shmem pages are, from the page cache:
// shmem_writeout(), a large folio whole, unmapped per folio_unmap_pte_batch(),
// models/mm/rmap.hpp; not demoted); kswapd notices its node below the low watermark within
// `kswapd_poll` rather than from wakeup_kswapd(); no file LRU (guest memory is anon or shmem,
// both swap-backed, on the anon lists).
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
  TimeNs walk_ns = 20;            // MGLRU aging: one PTE visited by walk_mm()
  TimeNs min_ttl_ns = 0;          // MGLRU: lru_gen min_ttl_ms (0 = off)
  TimeNs migrate_ns = 2500;       // demotion: isolate, unmap, copy 4 KiB, remap one folio
  TimeNs rmap_batch_pte_ns = 15;  // each further PTE of a batched try_to_unmap_one() step
  bool demotion = false;          // /sys/kernel/mm/numa/demotion_enabled
  std::uint64_t swap_pages = 0;   // the host's swap device, in pages
  // Per node: the node its folios are demoted to (a lower memory tier), or -1.
  std::vector<int> demote_target;
};

// Host-wide, with the /proc/vmstat names.
struct LruCounters {
  std::uint64_t pgscan_kswapd = 0, pgscan_direct = 0, pgsteal_kswapd = 0, pgsteal_direct = 0;
  std::uint64_t pgrefill = 0, pgactivate = 0, pgdeactivate = 0, pgrotated = 0;
  std::uint64_t pswpout = 0, pswpin = 0, workingset_refault_anon = 0, workingset_activate_anon = 0;
  std::uint64_t swap_full = 0, tlb_flushes = 0;
  std::uint64_t pgdemote_kswapd = 0, pgdemote_direct = 0, pgdemote_fail = 0;
  // MGLRU: max_seq increments (try_to_inc_max_seq), and kswapd passes that found every
  // generation younger than min_ttl (lru_gen_age_node() would invoke the OOM killer).
  std::uint64_t lru_gen_aging = 0, lru_gen_min_ttl_oom = 0;
  // try_to_unmap_one() steps on large shmem folios and the PTEs they cleared
  // (folio_unmap_pte_batch()).
  std::uint64_t rmap_unmap_steps = 0, rmap_unmap_ptes = 0;
};

class Reclaimer : public mm::FrameObserver {
 public:
  Reclaimer(mm::HostMemory& mem, std::vector<mm::AddressSpace*> by_vm, LruConfig cfg);

  // mm::FrameObserver (frame_allocated / frame_freed are the LRU's)
  void swap_entry_freed(std::uint32_t slot, std::optional<mm::Pfn> pfn) final;

  // shrink_node() until `goal` folios are reclaimed on `node` or the lists are walked out:
  // returns the folios reclaimed. Charges its CPU, flushes and swap writes through env.
  std::uint64_t shrink_node(kernel::DaemonEnv& env, unsigned node, std::uint64_t goal, bool direct);
  // One SWAP_CLUSTER_MAX step of the LRU's shrink_lruvec(). Returns the folios reclaimed; adds
  // the folios looked at to `scanned`.
  virtual std::uint64_t shrink_step(kernel::DaemonEnv& env, unsigned node, bool direct, std::uint64_t& scanned) = 0;
  // kswapd's pass over a node before it balances it (MGLRU: lru_gen_age_node()).
  virtual void kswapd_age(kernel::DaemonEnv& env, unsigned node) { (void)env, (void)node; }

  // nr_inactive_anon / nr_active_anon as /proc/vmstat counts them.
  virtual std::uint64_t inactive(unsigned node) const = 0;
  virtual std::uint64_t active(unsigned node) const = 0;
  // LRU-specific per-node state for the kswapd's stats and gauges (MGLRU: its generations).
  virtual void node_stats(unsigned node, core::Json& out) const { (void)node, (void)out; }
  virtual void node_gauges(unsigned node, std::vector<std::pair<std::string, double>>& out) const {
    (void)node, (void)out;
  }
  // LRU-specific host-wide counters, beside the /proc/vmstat ones.
  virtual void host_stats(core::Json& out) const { (void)out; }

  std::uint64_t swap_used() const { return swap_used_; }
  const LruCounters& counters() const { return c_; }
  const LruConfig& config() const { return cfg_; }
  mm::HostMemory& memory() { return mem_; }
  // The per-VM swap traffic, for ReclaimVm.
  std::uint64_t vm_pswpout(core::VmId vm) const { return vm.v < vm_out_.size() ? vm_out_[vm.v] : 0; }
  std::uint64_t vm_pswpin(core::VmId vm) const { return vm.v < vm_in_.size() ? vm_in_[vm.v] : 0; }
  // Ground truth: PTEs with the uffd bit whose state a batched unmap dropped (a PTE after the
  // first of its batch became none, not a marker), by VM.
  std::uint64_t vm_uffd_dropped(core::VmId vm) const { return vm.v < vm_uffd_dropped_.size() ? vm_uffd_dropped_[vm.v] : 0; }
  TimeNs cpu_ns() const { return cpu_ns_; }
  // Frames in use before reclaim was installed (guest memory preallocated at build time) join
  // their node's LRU as new folios, in pfn order.
  void adopt_used_frames();
  // Every frame on a list is in use and on its own node's list, sizes match the links, plus the
  // LRU's own checks.
  void check_invariants() const;

 protected:
  static constexpr std::uint32_t kNil = 0xffffffffu;
  static constexpr unsigned kListsPerNode = 4;
  // Frame::reclaim bits: the list (0 none, else its index within the node + 1), PG_referenced,
  // PG_workingset.
  static constexpr std::uint16_t kListMask = 7, kReferenced = 8, kWorkingset = 16;
  struct List {
    std::uint32_t head = kNil, tail = kNil;  // head: most recently added
    std::uint64_t size = 0;
  };

  // The folio left its swap slot through a fault that swapped it in (do_swap_page() ->
  // workingset_refault()): `shadow` is what the LRU stored at eviction.
  virtual void refaulted(mm::Pfn pfn, std::uint64_t shadow) = 0;
  virtual void check_lru() const {}

  const List& list(unsigned node, unsigned idx) const { return lists_[node * kListsPerNode + idx]; }
  // The list index within its node, or -1 when the frame is on none.
  int list_of(mm::Pfn pfn) const { return static_cast<int>(mem_.frame(pfn).reclaim & kListMask) - 1; }
  void push_head(unsigned node, unsigned idx, std::uint32_t pfn);
  void unlink(std::uint32_t pfn);
  std::uint32_t next_of(std::uint32_t pfn) const { return next_[pfn]; }  // toward the tail
  std::uint16_t& flags(mm::Pfn pfn) { return mem_.frame(pfn).reclaim; }
  unsigned node_of(std::uint32_t pfn) const { return mem_.node_of(mm::Pfn(pfn)).v; }

  bool evictable(mm::Pfn pfn) const;
  unsigned referenced_ptes(mm::Pfn pfn, TimeNs& cost);  // folio_referenced(): test-and-clear young
  // shrink_folio_list()'s end for a folio it decided to reclaim: demote_folio_list() to the
  // node's demotion target when demotion is on and the target has a free frame above its min
  // watermark (the folio stays resident, on the lower tier); otherwise add_to_swap() +
  // workingset_eviction() (`shadow`) + try_to_unmap() -- the frame is freed with its last
  // mapping and its write goes out with the batch in finish_batch(). Failed: swap is full (the
  // caller activates the folio).
  // A shmem page goes to swap from the page cache (shmem_writeout()): its mapping PTEs are
  // unmapped first, a large folio's whole and in batches by folio_unmap_pte_batch(); `pages`
  // is the folio's size (1 for anon, where a large folio was split first).
  enum class Outcome { Demoted, Swapped, Failed };
  Outcome reclaim_folio(mm::Pfn pfn, unsigned node, std::uint64_t shadow, bool direct, std::vector<core::VmId>& flushed,
                        TimeNs& cost, unsigned& pages);
  // The end of a shrink_folio_list() batch: one flush per mm, the CPU, the writes of the
  // `swapped` folios; `reclaimed` (swapped + demoted) counts as pgsteal.
  void finish_batch(kernel::DaemonEnv& env, std::uint64_t reclaimed, std::uint64_t swapped, bool direct,
                    const std::vector<core::VmId>& flushed, TimeNs& cost);
  void spend(kernel::DaemonEnv& env, TimeNs& cost);

  mm::HostMemory& mem_;
  std::vector<mm::AddressSpace*> by_vm_;  // by VmId
  LruConfig cfg_;
  LruCounters c_;

 private:
  std::optional<std::uint32_t> alloc_slot();

  core::FlatArray<std::uint32_t> prev_, next_;  // per frame: 8 B, the LRU links
  std::vector<List> lists_;                   // [node * kListsPerNode + idx]
  // Swap slots: a bump pointer and freed slots (LIFO); per slot the LRU's shadow entry.
  std::uint32_t next_slot_ = 0;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint64_t> shadow_;  // grows with the slots in use
  std::uint64_t swap_used_ = 0;
  std::vector<std::uint64_t> vm_out_, vm_in_, vm_uffd_dropped_;
  mm::AddressSpace* shmem_owner(mm::Pfn pfn) const;  // the shmem VM whose page cache holds pfn, or null
  Outcome reclaim_shmem(mm::AddressSpace& as, mm::Gfn g, std::uint64_t shadow, std::vector<core::VmId>& flushed,
                        TimeNs& cost, unsigned& pages);
  TimeNs cpu_ns_ = 0;
};

// kswapd<n>: one per node with memory. Wakes when its node is below the low watermark and
// reclaims (balance_pgdat) until it is above the high one; serves direct reclaim on its host.
class Kswapd final : public kernel::KernelDaemon, public kernel::AllocSlowPath {
 public:
  // `slow_path`: this kswapd (the host's first) also serves direct reclaim and reports the
  // host's /proc/vmstat counters.
  Kswapd(std::string name, unsigned host, unsigned cpu_node, unsigned node, std::shared_ptr<Reclaimer> lru,
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
  std::shared_ptr<Reclaimer> lru_;
  bool slow_path_;
  bool running_ = false;  // balance_pgdat() in progress (until the high watermark)
  bool tiering_ = false;  // woken for a memory-tiering promotion once: balance to WMARK_PROMO
  std::uint64_t direct_calls_ = 0;  // allocstall
  TimeNs next_ = 0;
  TimeNs cpu_ns_ = 0;
  std::uint64_t wakeups_ = 0;
};

// The per-VM face of reclaim: its pages out on swap and its swap traffic.
class ReclaimVm final : public kernel::VmMechanism {
 public:
  ReclaimVm(const mm::AddressSpace& as, std::shared_ptr<Reclaimer> lru) : as_(as), lru_(std::move(lru)) {}
  const char* name() const override { return "reclaim"; }
  core::Json summary() const override;
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;

 private:
  const mm::AddressSpace& as_;
  std::shared_ptr<Reclaimer> lru_;
};

}  // namespace vmemsim::vmscan
