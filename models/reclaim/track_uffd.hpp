// The userfaultfd tracker of the April 2026 RFC (seed 001, "VMM Workflow"):
//
//   UFFDIO_DEACTIVATE(all)        -- async mode, no vCPU stalls   (rwp: UFFDIO_RWPROTECT)
//   sleep(interval)
//   PAGEMAP_SCAN                  -- still-deactivated pages are cold
//
// Masks: anon rfc-v1 PAGE_IS_UFFD_DEACTIVATED; shmem !PAGE_IS_PRESENT (the VMM skips holes
// with SEEK_DATA, so "in the page cache" is known to it); rwp PRESENT && !PAGE_IS_ACCESSED.
// The mechanism follows the kernel: RWPROTECT where the kernel has the rwp series, DEACTIVATE
// (MINOR_ANON + MINOR_ASYNC) otherwise.
//
// The scan takes time while vCPUs run, so a page it reports cold may be touched before the
// evictor's SET_MODE(sync); with `recheck` the tracker re-scans the claimed pages once faults
// block and keeps only those still cold. Without `sync` (naive-async) the eviction races vCPU
// writes.
#pragma once
#include <memory>

#include "models/reclaim/evictor.hpp"
#include "models/reclaim/tracker.hpp"

namespace vmemsim::reclaim {

extern const core::ParamSpec kUffdIntervalParam;
extern const core::ParamSpec kUffdRecheckParam;

struct UffdTrackerConfig {
  TimeNs interval = 0;
  bool sync = true;     // evictions need SET_MODE(sync)
  bool recheck = true;  // ... and re-scan the claimed pages under it
};

// The pieces of the uffd mechanism other trackers reuse to evict safely: registration (MISSING
// + the kernel's async tracking mode), marking a range, the "still marked" test after
// SET_MODE(sync), and resolving a tracking fault.
uffd::IoctlResult uffd_register(uffd::Uffd& u);
uffd::IoctlResult uffd_mark(uffd::Uffd& u, core::Gfn start, std::uint64_t len);
bool uffd_still_marked(uffd::Uffd& u, core::Gfn g);
// The fault's page, or the evictor's unit around it (Evictor::unit_of): a VMM that moves whole
// PMD ranges (thp_eviction pmd) unprotects the range, which keeps a PMD mapping whole.
uffd::IoctlResult uffd_resolve(Evictor& ev, const uffd::FaultMsg& m);

// For trackers that do not mark every page themselves (the oracle, A bits): before
// SET_MODE(sync), mark the claimed victims (contiguous runs in one ioctl) so that a touch
// before sync shows in the re-check and a touch after it blocks until the page is gone.
class VictimGuard {
 public:
  explicit VictimGuard(StatSet& s) { s.counter("/pages_marked", marked_, "pages"); }
  void arm(VmmEnv& env, Evictor& ev);
  void recheck(VmmEnv& env, Evictor& ev, TimeNs& bucket);

 private:
  std::uint64_t marked_ = 0;
};

std::unique_ptr<Tracker> make_uffd_tracker(const UffdTrackerConfig& c, Evictor& ev, StatSet& stats);

}  // namespace vmemsim::reclaim
