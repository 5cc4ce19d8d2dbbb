// One VM's memory as the host kernel sees it: an mm with its VMA(s), its page table as a flat
// PTE array, the shmem page cache when the guest memory is a memfd, plus the hidden ground
// truth of the run (last access time of every page) that the modelled kernel never reads.
//
// Lifecycle: built by the scenario/engine layer per VM; vCPU executors call accessible()/touch()
// on the fast path and fault() on the slow path; the sampler reads counters and truth.
// Mirrors: handle_mm_fault() -> do_anonymous_page() / do_wp_page() (zero-page COW) /
// shmem_fault() in mm/memory.c and mm/shmem.c.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models/mm/host_memory.hpp"
#include "models/mm/pte.hpp"
#include "sim/core/flat_array.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::mm {

enum class Backing : std::uint8_t { Anon, Shmem };

// Where new pages are placed (the VMA's mempolicy).
enum class Placement : std::uint8_t {
  Local,       // first touch on the faulting vCPU's node (MPOL_LOCAL, the default)
  Preferred,   // the VM's home node first, then by distance (MPOL_PREFERRED)
  Interleave,  // node by page offset across the given nodes (MPOL_INTERLEAVE)
};

enum class FaultKind : std::uint8_t {
  AnonAlloc,   // do_anonymous_page: new zeroed frame, mapped writable
  ZeroMap,     // do_anonymous_page read fault: map the shared zero page read-only
  CowZero,     // do_wp_page on the zero page: allocate and map a private copy
  ShmemAlloc,  // shmem_fault: page not in the page cache, allocate it
  ShmemMinor,  // shmem_fault: page already in the page cache, only the PTE is filled
  Oom,         // no frame on any allowed node
  kCount
};
const char* fault_kind_name(FaultKind k);
constexpr std::size_t kFaultKinds = static_cast<std::size_t>(FaultKind::kCount);

// Kernel-side costs of the fault paths (ns). Defaults and their sources live in the scenario
// reader (sim/scenario), where each is a knob.
struct FaultCosts {
  core::TimeNs minor_fault_ns = 1500;
  core::TimeNs page_clear_ns = 250;
  core::TimeNs page_copy_ns = 400;
};

struct AddressSpaceConfig {
  std::uint16_t vm = 0;
  std::uint64_t pages = 0;
  Backing backing = Backing::Anon;
  Placement placement = Placement::Local;
  unsigned home_node = 0;
  std::vector<unsigned> interleave_nodes;
  // fallback[n] = allocation order for a fault whose preferred node is n (n first, then nodes
  // by increasing distance, skipping CPU-less/full nodes only by running out of frames).
  std::vector<std::vector<unsigned>> fallback;
  bool use_zero_page = true;  // !mm_forbids_zeropage(): read faults map ZERO_PFN
  FaultCosts costs;
  core::TimeNs epoch_ns = core::kNsPerSec / 10;  // ground-truth working-set granularity
  core::TimeNs duration_ns = 0;
};

// The per-page record: the PTE and, beside it in the same cache line, the hidden ground truth
// of the page's last access. Keeping them together means the fast path takes one cache miss
// per access instead of two (measured: bench/README.md).
struct PageSlot {
  Pte pte;
  core::TimeNs last_access;  // time + 1 of the latest access, 0 = never (ground truth)
};
static_assert(sizeof(PageSlot) == 16);

struct FaultOutcome {
  FaultKind kind;
  core::TimeNs cost_ns;
  bool ok;  // false: the access could not be completed (no memory)
};

class AddressSpace {
 public:
  AddressSpace(AddressSpaceConfig cfg, HostMemory& host);

  const AddressSpaceConfig& config() const { return cfg_; }
  std::uint64_t pages() const { return cfg_.pages; }
  PageSlot* slots() { return pages_.data(); }
  Pte pte_at(std::uint64_t gfn) const { return pages_[gfn].pte; }

  // Slow path: the access `write` by a vCPU on `cpu_node` found `gfn` inaccessible.
  FaultOutcome fault(std::uint64_t gfn, bool write, unsigned cpu_node, core::TimeNs now);

  // ---- ground truth (hidden from the modelled kernel) ----
  // Records a completed access at `t`: last-access time, and the per-epoch page counts
  // behind the true working-set size. `epoch_lo` is the start of t's epoch (the caller caches it).
  void note_access(PageSlot& s, core::TimeNs t, core::TimeNs epoch_lo, std::size_t epoch) {
    const core::TimeNs stored = t + 1;
    const core::TimeNs old = s.last_access;
    if (old <= epoch_lo) [[unlikely]] move_epoch(old, epoch);  // first touch in t's epoch
    s.last_access = old > stored ? old : stored;  // vCPUs may run slightly out of order
  }
  core::TimeNs last_access(std::uint64_t gfn) const { return pages_[gfn].last_access - 1; }  // -1 = never
  // Pages whose last access lies in [now - window, now); `now` and `window` multiples of epoch_ns.
  std::uint64_t true_wss(core::TimeNs now, core::TimeNs window) const;
  core::TimeNs epoch_ns() const { return cfg_.epoch_ns; }
  std::size_t epoch_count() const { return epoch_pages_.size(); }

  // ---- counters ----
  std::uint64_t resident(unsigned node) const { return resident_[node]; }
  std::uint64_t resident_total() const;
  std::uint64_t faults(FaultKind k) const { return faults_[static_cast<std::size_t>(k)]; }
  std::uint64_t zero_page_maps() const { return zero_maps_; }

  // Verifies PTE <-> frame <-> counter consistency (O(pages); --check-invariants only).
  void check_invariants() const;

 private:
  void move_epoch(core::TimeNs old_stored, std::size_t epoch);
  bool allocate(std::uint64_t gfn, unsigned cpu_node, std::uint32_t& pfn, unsigned& node);

  AddressSpaceConfig cfg_;
  HostMemory& host_;
  core::FlatArray<PageSlot> pages_;
  // shmem page cache: pfn+1 of the page at each file index, 0 = not cached.
  core::FlatArray<std::uint32_t> cache_;
  std::vector<std::uint64_t> epoch_pages_;  // pages whose last access is in epoch e
  std::vector<std::uint64_t> resident_;     // frames owned by this VM, per node
  std::array<std::uint64_t, kFaultKinds> faults_{};
  std::uint64_t zero_maps_ = 0;
};

}  // namespace vmemsim::mm
