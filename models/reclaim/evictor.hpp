// The evictor: the part of every VMM policy that moves pages out and back, shared by all of
// them. It owns the tier I/O (pwrite of a batch, read on refetch), MADV_DONTNEED (and
// FALLOC_FL_PUNCH_HOLE for shmem), the in-flight batch the handler thread must wait for,
// UFFDIO_SET_MODE(sync/async) around an eviction when the tracker needs it, the refetch on a
// MISSING fault (UFFDIO_COPY of the tier copy, or a zero page on first touch), and the
// accounting the comparison needs: the ioctls and their CPU, the version of each tier copy for
// the lost-write oracle, false-cold evictions (refetched within `refault_window` rounds), and
// -- through TruthMeter -- what each tracking round reported against ground truth.
//
// It also keeps the VMM's view of residency (1 bit per page): observe() turns a change into
// VictimSelector::inserted()/removed(), so a selector hears of every page exactly once.
//
// On hugetlb every verb works on whole huge pages (Uffd::page_pages(): 512): a victim claims
// its whole huge page, a fault drops it whole, a batch holds whole huge pages, MADV_DONTNEED
// and PUNCH_HOLE free them, and a refault brings the 512 pages back with one UFFDIO_COPY of
// the huge page (refault amplification: /fetched_pages over /refault_faults).
//
// Anon THP (EvictorConfig::thp_pmd, the `thp_eviction` knob) has two ways. `split` (the
// default) moves 4 KiB pages: a victim that is a subpage of a PMD mapping is zapped with the
// other victims of its batch, and a MADV_DONTNEED range that covers the PMD only in part splits
// it (zap_pmd_range() -> __split_huge_pmd()) and leaves the folio on the deferred split queue,
// its zapped subpages' frames held until deferred_split_scan() or its last unmap; a refault
// brings back one page. `pmd` moves the VMA's PMD ranges whole, with the hugetlb machinery
// above (unit(): 512 pages): a PMD range is claimed only when every resident subpage of it is
// among the selector's victims (the 512 subpages of a PMD mapping share one PMD, so its
// tracking state, and are cold together; a PTE-mapped range needs each of its PTEs cold), then
// whole: one batch (a 2 MiB tier write with the default batch_pages), one MADV_DONTNEED over
// the range (zap_huge_pmd(): the PMD and its folio go at once, no split, no deferred split);
// the eviction read's fault and a sync RWP fault are resolved with a 2 MiB RWPROTECT(clear),
// which keeps the PMD (change_huge_pmd(); rfc-v1's anon CONTINUE restores one PTE and splits);
// and a refault on any subpage reads the range back and installs every page of it that is in
// the tier with one UFFDIO_COPY (mfill_atomic() -> mfill_atomic_pte() per page: 512 small
// PTEs on anon, which khugepaged may collapse again). A page never written (a hole) is not in
// the tier and stays out. The ranges beyond the last whole PMD of the VMA stay 4 KiB.
//
// Per-page state: one 32-bit word (tier-copy version, eviction round, eviction state) and the
// residency bit: 4.125 B per page, allocated with the policy. Prefetch (EvictorConfig::prefetch)
// adds no per-page array: the prefetched pages not yet resolved as hit or wasted are kept in a
// map (about 40 B per such page), whose size is bounded by the pages prefetched. thp_pmd adds
// none either (claim() counts victims per range in a vector as long as the victim list).
//
// Several handler threads (`handler_threads`) may run handle_fault() at once: each blocks in its
// tier read while the others serve later messages. A page whose read is in flight is in state
// Fetching (with its prefetched neighbours); a fault on it waits for that read (wait_eviction(),
// which the fetching thread's eviction_done() ends) and then retries, as a thread whose
// UFFDIO_COPY found the page already mapped (EEXIST) would return and let the vCPU retry.
#pragma once
#include <cstdint>
#include <map>
#include <utility>
#include <memory>
#include <vector>

#include "models/reclaim/selector.hpp"
#include "models/reclaim/stats.hpp"
#include "models/reclaim/tracker.hpp"
#include "models/reclaim/vmm.hpp"
#include "sim/core/flat_array.hpp"

namespace vmemsim::reclaim {

struct EvictorConfig {
  std::uint64_t batch = 512;  // pages per pwrite
  bool buffered_read = false;  // read_via = buffered (copy_from_user) rather than O_DIRECT (GUP)
  // A page fetched back within this many tracking rounds of its eviction counts as a
  // false-cold eviction (uffd-ws: age_threshold, the window in which it could not look cold).
  unsigned refault_window = 1;
  std::unique_ptr<Tier> tier;
  // uffd handler threads of the VMM serving sync faults (the engine runs that many; they read
  // the one uffd queue in order).
  unsigned handler_threads = 1;
  // On a refetch, also read up to this many evicted neighbours (contiguous evicted gfns around
  // the fault) in the same I/O and install them (UFFDIO_COPY of the range); 0 = off.
  unsigned prefetch = 0;
  // thp_eviction = pmd: on a VMA that may hold PMD mappings (mm::HugeMappings::pmd_pages()),
  // evict and refetch whole PMD ranges (see the top of this file); false = split.
  bool thp_pmd = false;
};

// Ground truth against what a tracker reported in one round (metrics only: the VMM never
// reads these). A page reported cold that was accessed since `since` is false-cold; a resident
// page reported hot that was not is false-hot.
class TruthMeter {
 public:
  TruthMeter(const mm::AddressSpace& as, StatSet& stats);
  void begin() { fc_ = fh_ = est_ = truth_ = 0; }
  void page(core::Gfn g, bool resident, bool cold, TimeNs since) {
    const bool accessed = as_.truth().last_access(g) >= since;
    // The true working set counts what the estimate can count: a page whose accesses were all
    // reads served by the shared zero page can never be resident, so it is in neither.
    truth_ += accessed && !mm::pte::zero_page(as_.pte_at(g));
    if (!resident) return;
    if (cold) {
      fc_ += accessed;
      // The seed-000 conflict: the PROT_NONE that made it look deactivated is NUMA's.
      if (accessed && as_.truth().pn_origin(g) == mm::PnOrigin::Numa) ++false_cold_numa_total_;
    } else {
      ++est_;
      fh_ += !accessed;
    }
  }
  void end();

 private:
  const mm::AddressSpace& as_;
  std::uint64_t fc_ = 0, fh_ = 0, est_ = 0, truth_ = 0;
  std::uint64_t wss_estimate_ = 0, wss_true_ = 0, false_cold_ = 0, false_hot_ = 0;
  std::uint64_t false_cold_total_ = 0, false_hot_total_ = 0, false_cold_numa_total_ = 0;
};

class Evictor {
 public:
  Evictor(EvictorConfig c, uffd::Uffd& u, VictimSelector& sel, StatSet& stats);

  uffd::Uffd& uffd() { return uffd_; }
  const EvictorConfig& config() const { return c_; }
  mm::AddressSpace& as() { return as_; }
  const Tier& tier() const { return *c_.tier; }
  TruthMeter& truth() { return truth_; }

  // Accounts an ioctl of any component and spends its CPU time (during which other actors
  // run), into `bucket` (e.g. cpu_ioctl_ns()) and, when given, into `part`: the use the time
  // is summed under (cpu_tracking_part() for a tracker's registration and marking ioctls).
  uffd::IoctlResult charge(VmmEnv& env, const uffd::IoctlResult& r, TimeNs& bucket, TimeNs* part = nullptr);
  TimeNs& cpu_ioctl_ns() { return cpu_ioctl_ns_; }
  TimeNs& cpu_handler_ns() { return cpu_handler_ns_; }
  TimeNs& cpu_tracking_part() { return cpu_tracking_ioctl_ns_; }

  // Residency as the VMM sees it in PAGEMAP: anon, a present PTE to a page of its own (not
  // the shared zero page); shmem, in the memfd's page cache (SEEK_DATA).
  bool resident_now(core::Gfn g) const;
  // A tracker saw the page (non-)resident: the selector hears of a change.
  void observe(core::Gfn g, bool resident, TimeNs t, bool write = false);
  // One tracking round has been observed (false-cold evictions count rounds).
  void next_round() { ++round_; }
  // The report of a scan-based tracker: for every page, its residency (observe()), then
  // accessed() for each resident page not in `cold` (1 bit per page), the truth meter's
  // comparison against accesses since `since`, and scan_done(t).
  void report_scan(VictimSelector& sel, const std::vector<std::uint64_t>& cold, TimeNs since, TimeNs t);

  // Claims the victims for this eviction (in the selector's order); returns how many. From
  // here a fault on a claimed page drops it (the handler resolves it as usual) unless its
  // pwrite has started.
  std::uint64_t claim(const std::vector<core::Gfn>& victims);
  const std::vector<core::Gfn>& claimed() const { return claimed_; }
  bool pending(core::Gfn g) const { return state(g.v) == State::Pending; }
  // A claimed page is kept after all (touched, or seen touched by a re-check): its whole
  // unit (huge page on hugetlb, PMD range with thp_pmd).
  void drop(core::Gfn g) {
    const auto [g0, g1] = unit_of(g.v);
    for (std::uint64_t x = g0; x < g1; ++x)
      if (state(x) == State::Pending) set_state(x, State::None);
  }
  // Pages moved as one: the VMA's fill granule on hugetlb (512); with thp_pmd on a VMA where THP
  // is allowed, a PMD range (HPAGE_PMD_NR); else 1. The policy is built before the kernel's
  // THP state (the kernel sections come after the VMs), so it is looked up at first use.
  std::uint64_t unit() const {
    if (unit_ == 0)
      unit_ = fill_ > 1 ? fill_ : c_.thp_pmd && as_.huge() ? as_.huge()->pmd_pages() : 1;
    return unit_;
  }
  // The unit around g: [g0, g1), a single page beyond the last whole unit of the VMA.
  std::pair<std::uint64_t, std::uint64_t> unit_of(std::uint64_t g) const {
    const std::uint64_t u = unit(), g0 = g / u * u;
    return g0 + u <= as_.pages() ? std::make_pair(g0, g0 + u) : std::make_pair(g, g + 1);
  }
  // UFFDIO_SET_MODE under mmap_write_lock (faults stall while it is held).
  void set_mode(VmmEnv& env, bool async);
  // Writes the still-claimed pages out in batches and zaps them. `since` is the tracking
  // round's start (truth: a page accessed after it was evicted while hot).
  void evict(VmmEnv& env, TimeNs since);

  // The handler thread's side of a sync userfault.
  void handle_fault(const uffd::FaultMsg& m, VmmEnv& env, Tracker& tracker);
  // Whether handle_fault(m) will fill the page with a new frame: a MISSING fault on a page not
  // being written out and not resolved meanwhile, brought back from the tier, or touched first
  // by a write (a first read maps the shared zero page), or a shmem page not in the page cache.
  bool fill_takes_frame(const uffd::FaultMsg& m) const;
  // End of run: lost-write audit of pages still in the tier.
  void finish();
  // Truth: writes already lost in tier copies not fetched back yet (the zap dropped a write
  // that raced the pwrite); the oracle counts each when the page comes back or at finish().
  std::uint64_t lost_writes_pending() const { return stale_in_tier_; }
  // What the VMM measures of the refaults it serves (a feedback controller's input, see
  // Observation): pages fetched back from the tier, and the vCPU time they stalled -- for each
  // fault on a page this VMM evicted (or is evicting), from the instant the vCPU raised it
  // (FaultMsg::t) to the return of the ioctl that resolves it, which wakes the vCPU.
  std::uint64_t refaults() const { return fetched_; }
  TimeNs refault_stall_ns() const { return refault_stall_ns_; }

 private:
  // The per-page word: eviction round (mod 2^13) | state (2 bits) | in tier | tier version (16).
  static constexpr std::uint32_t kRoundMask = 0x1fff;
  static constexpr std::uint32_t kStateShift = 13;
  static constexpr std::uint32_t kStateMask = 3u << kStateShift;
  static constexpr std::uint32_t kInTier = 1u << 15;
  static constexpr std::uint32_t kVersionShift = 16;
  // Fetching: a handler thread's tier read of the page (or of a neighbour it prefetches) is in
  // flight.
  enum class State : std::uint32_t { None = 0, Pending = 1, InFlight = 2, Fetching = 3 };
  State state(std::uint64_t g) const { return static_cast<State>((meta_[g] & kStateMask) >> kStateShift); }
  void set_state(std::uint64_t g, State e) {
    meta_[g] = (meta_[g] & ~kStateMask) | (static_cast<std::uint32_t>(e) << kStateShift);
  }
  std::uint32_t tier_version(std::uint64_t g) const { return meta_[g] >> kVersionShift; }
  bool known(std::uint64_t g) const { return (known_[g / 64] >> (g % 64)) & 1; }
  void set_known(std::uint64_t g, bool r) {
    if (r) known_[g / 64] |= 1ull << (g % 64);
    else known_[g / 64] &= ~(1ull << (g % 64));
  }
  void read_for_eviction(VmmEnv& env, const std::vector<core::Gfn>& batch);
  uffd::IoctlResult fetch(const uffd::FaultMsg& m, VmmEnv& env);
  // The tier copy of g comes back (its lost-write oracle accounting); returns its version.
  std::uint32_t take_from_tier(std::uint64_t g);
  // The evicted neighbours a refetch of g reads with it: [lo, hi] around g, contiguous, every
  // page in the tier and in no other I/O, at most `prefetch` besides g (after g first, then
  // before it, as swap_vma_readahead() takes a window around the fault).
  std::pair<std::uint64_t, std::uint64_t> prefetch_window(std::uint64_t g) const;
  bool prefetchable(std::uint64_t g) const;
  // A prefetched page leaves the VMM's residency (evicted again) or the run ends: hit if the
  // guest accessed it since it was installed (ground truth), else wasted.
  void resolve_prefetch(std::uint64_t g);
  // UFFDIO_COPY allocates the page in the VMM thread: when the host has no free frame, the
  // allocator's slow path (direct reclaim, with kernel.reclaim on) runs in that thread and the
  // ioctl is retried, as mfill_atomic_pte_copy()'s folio allocation would.
  template <class Copy>
  uffd::IoctlResult copy_or_reclaim(VmmEnv& env, const uffd::FaultMsg& m, Copy&& copy) {
    for (;;) {
      uffd::IoctlResult r = copy();
      if (r.error != "ENOMEM") return r;
      env.cpu(r.cost_ns);
      cpu_handler_ns_ += r.cost_ns;
      cpu_demand_ns_ += r.cost_ns;
      VMEMSIM_CHECK(env.alloc_slow_path(m.cpu_node), "host out of memory: UFFDIO_COPY of gfn " << m.gfn.v << " found no frame");
    }
  }
  static constexpr unsigned kVmmThread = ~0u;

  EvictorConfig c_;
  uffd::Uffd& uffd_;
  mm::AddressSpace& as_;
  VictimSelector& sel_;
  TruthMeter truth_;
  core::FlatArray<std::uint32_t> meta_;
  std::vector<std::uint64_t> known_;             // resident as the VMM last saw it, 1 bit each
  core::FlatArray<std::uint64_t> tier_content_;  // content of each tier copy (only with content tracking)
  std::vector<core::Gfn> claimed_;
  std::uint64_t fill_ = 1;  // pages per fill/zap on this VMA (Uffd::page_pages)
  mutable std::uint64_t unit_ = 0;  // unit(); 0 until first used
  std::uint64_t round_ = 0;
  std::uint64_t stale_in_tier_ = 0;
  // A handler thread waits for another's fetch (Fetching): the fetching thread ends the wait.
  bool fetch_waiters_ = false;
  // Prefetched pages not resolved yet, with the time they were installed (truth: metrics only).
  std::map<std::uint64_t, TimeNs> prefetched_at_;
  std::uint64_t prefetched_ = 0, prefetch_hits_ = 0, prefetch_wasted_ = 0, prefetch_ios_ = 0;

  std::uint64_t refault_faults_ = 0;
  std::uint64_t evicted_ = 0, fetched_ = 0, evicted_now_ = 0, false_cold_evictions_ = 0;
  std::uint64_t evicted_while_hot_ = 0, evicted_while_hot_numa_ = 0;
  std::uint64_t handled_faults_ = 0, first_touch_faults_ = 0, eviction_read_faults_ = 0;
  std::uint64_t eviction_swap_ins_ = 0;  // eviction reads that found the page in host swap (double paging)
  std::uint64_t tier_written_ = 0, tier_read_ = 0, tier_stored_ = 0;
  std::uint64_t ioctls_ = 0, tlb_flushes_ = 0;
  TimeNs cpu_ioctl_ns_ = 0, cpu_handler_ns_ = 0, lock_held_ns_ = 0;
  TimeNs refault_stall_ns_ = 0;
  // The same CPU time by use (StatSet sums, see the constructor): the trackers' ioctls
  // (registration, marking); eviction (SET_MODE, the eviction read and its fault
  // resolutions, DONTNEED/PUNCH_HOLE); demand paging (the handler's round trip and the
  // ioctl that resolves a fault, fetch included). ioctl + handler == the three together.
  TimeNs cpu_tracking_ioctl_ns_ = 0, cpu_eviction_ns_ = 0, cpu_demand_ns_ = 0;
};

}  // namespace vmemsim::reclaim
