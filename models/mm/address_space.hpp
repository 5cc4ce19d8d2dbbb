// One VM's memory as the host kernel sees it: an mm with its VMA(s), its page table as a flat
// array of page slots, the shmem page cache when the guest memory is a memfd, the VMA's
// userfaultfd registration, plus the hidden ground truth of the run (last access time, data
// versions, who set a PROT_NONE) that the modelled kernel and VMM never read for decisions.
//
// Lifecycle: built by the scenario layer per VM; vCPU executors check pte::accessible() on the
// slot and stamp note_access() on the fast path, and call fault()/gup() on the slow path; uffd
// ioctls and madvise use the primitives below; the sampler reads counters and truth.
// Mirrors: handle_pte_fault() -> do_anonymous_page() / do_wp_page() / do_numa_page() /
// do_swap_page() / shmem_fault() / handle_userfault() in mm/memory.c, mm/shmem.c,
// fs/userfaultfd.c and the seed patches.
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

// Which kernel is modelled (KERNEL-MODEL.md §3.2): it decides where a PROT_NONE fault goes.
enum class Variant : std::uint8_t {
  Upstream,  // PROT_NONE faults are always NUMA hinting faults
  RfcV1,     // April 2026 RFC: any PROT_NONE in an anon VM_UFFD_MINOR VMA goes to uffd
  Rwp,       // VM_UFFD_RWP series: uffd iff the PTE carries the uffd bit
};
const char* variant_name(Variant v);

// The VMA's userfaultfd registration (vm_flags VM_UFFD_*) and its context's features.
struct UffdVma {
  bool missing = false;  // VM_UFFD_MISSING
  bool wp = false;       // VM_UFFD_WP
  bool minor = false;    // VM_UFFD_MINOR (anon needs UFFD_FEATURE_MINOR_ANON, rfc-v1)
  bool rwp = false;      // VM_UFFD_RWP (rwp); exclusive with wp: they share the PTE bit
  bool wp_async = false; // UFFD_FEATURE_WP_ASYNC
  bool async = false;    // MINOR_ASYNC (rfc-v1) / RWP_ASYNC (rwp), toggled by UFFDIO_SET_MODE
  bool any() const { return missing || wp || minor || rwp; }
};

// Per-patch switches, so each patch can be ablated (KERNEL-MODEL.md §5).
struct KernelPatches {
  bool uffd_feeds_numa = true;   // rfc-v1 07/12: the uffd minor path calls task_numa_fault()
  bool gup_rwp_fault = true;     // rwp v2 07/14: gup_can_follow_protnone() false on VM_UFFD_RWP
};

enum class FaultKind : std::uint8_t {
  AnonAlloc,       // do_anonymous_page: new zeroed frame, mapped writable
  ZeroMap,         // do_anonymous_page read fault: map the shared zero page read-only
  CowZero,         // do_wp_page on the zero page: allocate and map a private copy
  ShmemAlloc,      // shmem_fault: page not in the page cache, allocate it
  ShmemMinor,      // shmem_fault: page already in the page cache, only the PTE is filled
  WpReuse,         // do_wp_page -> wp_page_reuse: exclusive anon page made writable again
  NumaHint,        // do_numa_page: PROT_NONE restored (placement decisions come with NUMA)
  UffdMissing,     // handle_userfault(VM_UFFD_MISSING): always a sync message to the handler
  UffdMinorSync,   // handle_userfault(VM_UFFD_MINOR), sync: the vCPU blocks
  UffdMinorAsync,  // MINOR_ASYNC: the kernel restores the PTE in place
  UffdRwpSync,     // RWP fault, sync
  UffdRwpAsync,    // RWP_ASYNC: restored in place
  UffdWpSync,      // uffd-wp fault, sync
  UffdWpAsync,     // WP_ASYNC: bit cleared, made writable in place
  SwapIn,          // do_swap_page
  Oom,             // no frame on any allowed node
  kCount
};
const char* fault_kind_name(FaultKind k);
constexpr std::size_t kFaultKinds = static_cast<std::size_t>(FaultKind::kCount);

// Who really set a PTE to PROT_NONE: hidden ground truth, never read by the modelled kernel.
enum class PnOrigin : std::uint8_t { None = 0, Numa = 1, Uffd = 2 };

enum class UffdReason : std::uint8_t { Missing, Minor, Wp, Rwp };
const char* uffd_reason_name(UffdReason r);

// Kernel-side costs of the fault paths (ns). Defaults and their sources live in the scenario
// reader (sim/scenario), where each is a knob.
struct FaultCosts {
  core::TimeNs minor_fault_ns = 1500;
  core::TimeNs page_clear_ns = 250;
  core::TimeNs page_copy_ns = 400;
  core::TimeNs tlb_ipi_ns = 1000;  // time a vCPU loses to one TLB-shootdown IPI
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
  Variant variant = Variant::Upstream;
  KernelPatches patches;
  FaultCosts costs;
  core::TimeNs epoch_ns = core::kNsPerSec / 10;  // ground-truth working-set granularity
  core::TimeNs duration_ns = 0;
};

// The per-page record: the PTE and, beside it in the same cache line, the hidden ground truth
// of the page's last access. Keeping them together means the fast path takes one cache miss
// per access instead of two (measured: bench/README.md).
//
// `truth` layout: bits 0..59 last access time + 1 (0 = never); bit 60 written since the data
// version was last taken; bits 61..62 PnOrigin of a PROT_NONE.
struct PageSlot {
  Pte pte;
  std::uint64_t truth;
};
static_assert(sizeof(PageSlot) == 16);
namespace truth {
constexpr std::uint64_t kTimeMask = (1ull << 60) - 1;
constexpr std::uint64_t kWritten = 1ull << 60;
constexpr int kOriginShift = 61;
constexpr std::uint64_t kOriginMask = 3ull << kOriginShift;
}  // namespace truth

enum class FaultResult : std::uint8_t {
  Done,      // the PTE now allows the access (or, for GUP, the access went through)
  Blocked,   // a sync userfault: the vCPU waits for the handler (reason says which)
  LockWait,  // the mmap lock is write-held (UFFDIO_SET_MODE): wait for it, then retry
  Oom,       // no frame: the access cannot complete
};

struct FaultOutcome {
  FaultKind kind;
  core::TimeNs cost_ns;
  FaultResult result = FaultResult::Done;
  UffdReason reason = UffdReason::Missing;
  bool ok() const { return result == FaultResult::Done; }
};

class AddressSpace {
 public:
  AddressSpace(AddressSpaceConfig cfg, HostMemory& host);

  const AddressSpaceConfig& config() const { return cfg_; }
  std::uint64_t pages() const { return cfg_.pages; }
  PageSlot* slots() { return pages_.data(); }
  Pte pte_at(std::uint64_t gfn) const { return pages_[gfn].pte; }
  bool anon() const { return cfg_.backing == Backing::Anon; }

  // ---- fault paths (mm/memory.c handle_pte_fault and friends) ----
  // Slow path of a vCPU access that the PTE did not allow.
  FaultOutcome fault(std::uint64_t gfn, bool write, unsigned cpu_node, core::TimeNs now);
  // A device access through get_user_pages() (vhost-style). Follows a PROT_NONE PTE without a
  // fault unless the caller honours NUMA faults or the VMA is RWP-tracked (gup_can_follow_protnone).
  // `invisible` is set when the access went through a PROT_NONE PTE that stays PROT_NONE.
  FaultOutcome gup(std::uint64_t gfn, bool write, bool honor_numa_fault, unsigned cpu_node, core::TimeNs now,
                   bool& invisible);

  // ---- primitives used by the uffd ioctls, madvise and reclaim ----
  UffdVma& uffd() { return uffd_; }
  const UffdVma& uffd() const { return uffd_; }
  // PRESENT -> PROT_NONE (the frame stays mapped); records the hidden origin.
  void set_protnone(std::uint64_t gfn, bool uffd_bit, PnOrigin origin);
  // PROT_NONE -> accessible; `mkwrite` keeps write permission where the page had it;
  // `keep_uffd` keeps a uffd-wp marker (the NUMA path's pte_modify() preserves it).
  void restore_protnone(std::uint64_t gfn, bool mkwrite, bool keep_uffd = false);
  // A uffd notification for gfn was consumed (read by the handler, or resolved in the kernel
  // in async mode): counts it as spurious when uffd did not set that PROT_NONE (hidden truth),
  // and feeds task_numa_fault() under rfc-v1 07/12.
  void userfault_delivered(std::uint64_t gfn);
  // Zaps the PTE (zap_pte_range): anon frees its frame, shmem keeps the page cache folio.
  void zap(std::uint64_t gfn);
  // fallocate(PUNCH_HOLE) on shmem: drops the page-cache folio (and any mapping of it).
  void punch_hole(std::uint64_t gfn);
  bool in_page_cache(std::uint64_t gfn) const { return cfg_.backing == Backing::Shmem && cache_[gfn] != 0; }
  // UFFDIO_COPY / UFFDIO_ZEROPAGE: install a new page at a NONE PTE (shmem: into the cache).
  bool install(std::uint64_t gfn, unsigned cpu_node, bool zero_page_ok);
  // UFFDIO_CONTINUE on shmem: map the page-cache folio at a NONE PTE.
  void map_from_cache(std::uint64_t gfn);
  // Reclaim to swap: PRESENT/PROT_NONE -> SWAP entry (the uffd bit survives; a NUMA PROT_NONE
  // does not). Frees the frame.
  void swap_out(std::uint64_t gfn, std::uint32_t slot);
  // do_swap_page: a new frame; rwp re-applies PROT_NONE when the swap entry kept the uffd bit.
  bool swap_in(std::uint64_t gfn, unsigned cpu_node);

  // ---- mmap lock and TLB ----
  void set_mmap_write_locked(bool l) { mmap_write_locked_ = l; }
  bool mmap_write_locked() const { return mmap_write_locked_; }
  // One flush_tlb_range(): every vCPU of the VM takes an IPI.
  void tlb_flush() { ++tlb_flushes_; }
  std::uint64_t tlb_flushes() const { return tlb_flushes_; }

  // ---- ground truth (hidden from the modelled kernel) ----
  // Records a completed access at `t`: last-access time, the written bit behind data versions,
  // and the per-epoch page counts behind the true working-set size. `epoch_lo` is the start of
  // t's epoch (the caller caches it).
  void note_access(PageSlot& s, core::TimeNs t, bool write, core::TimeNs epoch_lo, std::size_t epoch) {
    const std::uint64_t stored = static_cast<std::uint64_t>(t) + 1;
    const std::uint64_t old = s.truth;
    const std::uint64_t old_t = old & truth::kTimeMask;
    if (old_t <= static_cast<std::uint64_t>(epoch_lo)) [[unlikely]] move_epoch(old_t, epoch);
    // vCPUs may run slightly out of order: keep the latest stamp.
    s.truth = (old & ~truth::kTimeMask) | (old_t > stored ? old_t : stored) | (write ? truth::kWritten : 0);
  }
  core::TimeNs last_access(std::uint64_t gfn) const {
    return static_cast<core::TimeNs>(pages_[gfn].truth & truth::kTimeMask) - 1;  // -1 = never
  }
  PnOrigin pn_origin(std::uint64_t gfn) const {
    return static_cast<PnOrigin>((pages_[gfn].truth & truth::kOriginMask) >> truth::kOriginShift);
  }
  // The page's latest data version: bumped once if written since the last call.
  std::uint32_t data_version(std::uint64_t gfn);
  // After a lost write the data in memory is the older version: the oracle starts from it.
  void set_data_version(std::uint64_t gfn, std::uint32_t v) {
    pages_[gfn].truth &= ~truth::kWritten;
    versions_[gfn] = static_cast<std::uint16_t>(v);
  }
  // Pages whose last access is at or after now - window (`now` and `window` multiples of
  // epoch_ns), including stamps a vCPU running ahead in its quantum has already made.
  std::uint64_t true_wss(core::TimeNs now, core::TimeNs window) const;
  core::TimeNs epoch_ns() const { return cfg_.epoch_ns; }
  std::size_t epoch_count() const { return epoch_pages_.size(); }

  // ---- counters ----
  std::uint64_t resident(unsigned node) const { return resident_[node]; }
  std::uint64_t resident_total() const;
  std::uint64_t faults(FaultKind k) const { return faults_[static_cast<std::size_t>(k)]; }
  std::uint64_t zero_page_maps() const { return zero_maps_; }
  // uffd minor/RWP notifications for a PTE that uffd did not protect (e.g. a NUMA PROT_NONE
  // under rfc-v1): measured against the hidden origin.
  std::uint64_t spurious_uffd() const { return spurious_uffd_; }
  std::uint64_t numa_faults_recorded() const { return numa_recorded_; }  // task_numa_fault() calls
  std::uint64_t gup_invisible() const { return gup_invisible_; }
  std::uint64_t lock_waits() const { return lock_waits_; }

  // Verifies PTE <-> frame <-> counter consistency (O(pages); --check-invariants only).
  void check_invariants() const;

 private:
  void move_epoch(std::uint64_t old_stored, std::size_t epoch);
  bool allocate(std::uint64_t gfn, unsigned cpu_node, std::uint32_t& pfn, unsigned& node);
  void release_frame(std::uint32_t pfn);
  void set_origin(std::uint64_t gfn, PnOrigin o) {
    auto& t = pages_[gfn].truth;
    t = (t & ~truth::kOriginMask) | (static_cast<std::uint64_t>(o) << truth::kOriginShift);
  }
  FaultOutcome count(FaultKind k, core::TimeNs cost, FaultResult r = FaultResult::Done,
                     UffdReason why = UffdReason::Missing) {
    ++faults_[static_cast<std::size_t>(k)];
    return FaultOutcome{k, cost, r, why};
  }
  FaultOutcome fault_none(std::uint64_t gfn, bool write, unsigned cpu_node);
  FaultOutcome fault_protnone(std::uint64_t gfn, bool write);
  FaultOutcome fault_wp(std::uint64_t gfn, unsigned cpu_node);

  AddressSpaceConfig cfg_;
  HostMemory& host_;
  core::FlatArray<PageSlot> pages_;
  // shmem page cache: pfn+1 of the page at each file index, 0 = not cached.
  core::FlatArray<std::uint32_t> cache_;
  // Materialised data versions (ground truth). 16 bits suffice: a version advances at most
  // once between the snapshot at eviction and the comparison at fetch, which is all the
  // lost-write oracle compares (modulo 2^16).
  core::FlatArray<std::uint16_t> versions_;
  UffdVma uffd_;
  bool mmap_write_locked_ = false;
  std::uint64_t tlb_flushes_ = 0;
  std::vector<std::uint64_t> epoch_pages_;  // pages whose last access is in epoch e
  std::vector<std::uint64_t> resident_;     // frames owned by this VM, per node
  std::array<std::uint64_t, kFaultKinds> faults_{};
  std::uint64_t zero_maps_ = 0, spurious_uffd_ = 0, numa_recorded_ = 0, gup_invisible_ = 0, lock_waits_ = 0;
};

}  // namespace vmemsim::mm
