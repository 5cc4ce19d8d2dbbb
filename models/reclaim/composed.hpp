// A VMM policy as a composition: a tracker (how accesses are found), a victim selector (which
// resident pages go first), a controller (how many go now) and the shared evictor (how they
// go). A policy file names one composition and its parameters; this file holds the loop they
// all run and the parameters the shared parts read.
//
// The agent loop, one iteration per tracking interval:
//   tracker.round()        -- arm, wait, collect; the selector hears accessed()/scan_done()
//   controller.observe()   -- what the VMM measured since the previous decision (refaults, their
//                             stall time, elapsed time)
//   controller.want()      -- pages to evict now
//   selector.pick(want)    -- the victims, best first
//   evictor.claim()        -- from here a fault on a victim keeps it resident
//   [tracker.arm(); SET_MODE(sync); tracker.recheck()]   when the tracker needs it
//   evictor.evict()        -- batches of pwrite + DONTNEED (+ PUNCH_HOLE), selector.removed()
//   [SET_MODE(async)]
//
// With a fixed frame limit (limit_at_faults(), the baselines' `enforce: fault`) the agent still
// runs its rounds (the truth metrics) but evicts nothing; instead the handler thread, before a
// MISSING fault is filled with a frame while `limit` pages are resident, has the tracker report
// every access until that fault (Tracker::report_now) and evicts the selector's victims by the
// same protocol (claim, mark, SET_MODE(sync), recheck, evict, SET_MODE(async)) until the page
// fits: demand paging with `limit` frames, as `vmemsim replay` simulates it.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "models/reclaim/controller.hpp"
#include "models/reclaim/evictor.hpp"
#include "models/reclaim/selector.hpp"
#include "models/reclaim/tracker.hpp"
#include "models/reclaim/vmm.hpp"

namespace vmemsim::reclaim {

// Parameters of the shared parts, in the order policies list them.
extern const core::ParamSpec kBatchPagesParam;    // evictor
extern const core::ParamSpec kMemoryTargetParam;  // FixedTarget controller
extern const core::ParamSpec kReadViaParam;       // evictor
// The VMM's fault service (evictor): handler threads and prefetch on refault, read by
// read_vmm_knobs() into an EvictorConfig, last in every policy's table.
extern const core::ParamSpec kHandlerThreadsParam;
extern const core::ParamSpec kPrefetchParam;
extern const core::ParamSpec kThpEvictionParam;
void read_vmm_knobs(core::Params& p, const PolicyContext& ctx, EvictorConfig& ec);

class ComposedPolicy final : public VmmPolicy {
 public:
  using MakeTracker = std::function<std::unique_ptr<Tracker>(Evictor&, StatSet&)>;
  ComposedPolicy(std::unique_ptr<VictimSelector> sel, std::unique_ptr<Controller> ctl, EvictorConfig ec,
                 uffd::Uffd& u, const MakeTracker& make_tracker)
      : sel_(std::move(sel)), ctl_(std::move(ctl)), ev_(std::move(ec), u, *sel_, stats_) {
    tracker_ = make_tracker(ev_, stats_);
    ctl_->register_stats(stats_);
  }

  void start() override { tracker_->start(); }
  void run_agent(VmmEnv& env, TimeNs until) override;
  void handle_fault(const uffd::FaultMsg& m, VmmEnv& env) override;
  void finish() override { ev_.finish(); }
  unsigned handler_threads() const override { return ev_.config().handler_threads; }
  const StatSet& stats() const override { return stats_; }
  const Tier& tier() const override { return ev_.tier(); }
  std::uint64_t lost_writes_pending() const override { return ev_.lost_writes_pending(); }
  // A fixed frame limit of `limit_pages` (> 0), enforced at every fault that would exceed it
  // (see the top of this file); the tracker must support Tracker::report_now().
  void limit_at_faults(std::uint64_t limit_pages) { limit_ = limit_pages; }

 private:
  // Claims `victims` and evicts them under the tracker's protocol; false when none was claimed.
  bool evict(VmmEnv& env, const std::vector<core::Gfn>& victims, TimeNs since);

  StatSet stats_;  // first: the components register into it as they are built
  std::unique_ptr<VictimSelector> sel_;
  std::unique_ptr<Controller> ctl_;
  Evictor ev_;
  std::unique_ptr<Tracker> tracker_;
  std::vector<core::Gfn> victims_;
  // The evictor's cumulative counts at the previous decision (Observation is their increase).
  TimeNs last_decision_ = 0, last_stall_ = 0;
  std::uint64_t last_refaults_ = 0;
  std::uint64_t limit_ = 0;                  // 0: no frame limit at faults
  std::vector<core::Gfn> fault_victims_;     // the handler's, apart from the agent's
};

// The age-threshold composition that abit-harvest, idle-page, damon and wp-async-written share:
// the age selector's threshold, batch_pages, memory_target, read_via and the tier, read after the
// tracker's own parameters, then a ComposedPolicy around the tracker `make_tracker` builds.
struct AgeEviction {
  unsigned age = 2;
  std::uint64_t target_pages = 0;
  EvictorConfig ec;
};
AgeEviction read_age_eviction(core::Params& p, const PolicyContext& ctx);
// Its parameter table: the tracker's own keys, then the age selector's and the evictor's, in
// the order read_age_eviction() reads them.
std::vector<core::ParamSpec> age_policy_params(std::initializer_list<core::ParamSpec> tracker);
// A tracker without userfaultfd that evicts like uffd-ws (victims marked, SET_MODE(sync)) needs a
// kernel with SET_MODE and a uffd protection (rfc-v1 or rwp; anon on rwp): the kernel's EINVAL,
// up front, naming `policy`.
void require_sync_eviction(core::Params& p, const PolicyContext& ctx, const char* policy);
// Null while the scenario is only being validated (ctx.uffd unset).
std::unique_ptr<VmmPolicy> compose_age_policy(core::Params& p, const PolicyContext& ctx, AgeEviction a,
                                              const ComposedPolicy::MakeTracker& make_tracker);

}  // namespace vmemsim::reclaim
