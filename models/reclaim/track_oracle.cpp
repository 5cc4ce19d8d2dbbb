// The ground-truth tracker of the baseline policies (random, fifo, clock, exact-lru): an
// oracle, declared as such (PolicyInfo::oracle). Each round it sleeps `interval`, then reads
// the hidden last-access time of every page (GroundTruth, which the kernel never exposes) and
// reports the pages accessed in the round to the selector in the order of their last access,
// so a recency selector holds the exact LRU order as of the decision (to the ground truth's
// epoch; ties in gfn order). It costs no CPU and takes no fault: it is the bound a tracking
// mechanism is measured against, not a mechanism.
//
// For opt (a selector that wants the future) each report also gives every resident page its next
// use from the VM's future references (future.hpp): the trace the one vCPU replays.
//
// Between rounds, report_now() does the same report at a fault (the fixed frame limit of the
// baselines, ComposedPolicy::limit_at_faults): each access is reported once -- at the round or
// the fault report after it, whichever comes first -- so the selector's order is the order of
// the accesses until that fault. That is a pass over every page per fault: simulator work,
// charged to no simulated CPU.
//
// Eviction stays honest: the victims are marked with the kernel's tracking verb (DEACTIVATE /
// RWPROTECT, contiguous runs in one ioctl), then SET_MODE(sync) and a re-check keep only those
// still marked, exactly as uffd-ws protects its candidates -- so a baseline loses no write and
// pays the same I/O, zap and refault costs as the mechanisms it is compared with.
#include <algorithm>

#include "models/reclaim/track_oracle.hpp"
#include "models/reclaim/track_uffd.hpp"

namespace vmemsim::reclaim {

using core::Gfn;

namespace {

class OracleTracker final : public Tracker {
 public:
  OracleTracker(TimeNs interval, Evictor& ev, StatSet& s, std::shared_ptr<FutureRefs> future)
      : interval_(interval), ev_(ev), uffd_(ev.uffd()), as_(ev.as()), guard_(s), future_(std::move(future)) {
    s.counter("/scans", rounds_, "count");
    s.counter("/cpu_ns/scan", cpu_scan_ns_, "ns", nullptr, "/cpu_ns/tracking");
  }

  void start() override { registration_ = uffd_register(uffd_); }
  void begin(VmmEnv& env) override { ev_.charge(env, registration_, ev_.cpu_ioctl_ns(), &ev_.cpu_tracking_part()); }
  TimeNs interval() const override { return interval_; }
  bool needs_sync() const override { return true; }

  TimeNs round(VmmEnv& env, VictimSelector& sel) override {
    const TimeNs since = env.now();
    env.sleep(interval_);
    const TimeNs t = env.now();
    ev_.next_round();
    auto& truth = ev_.truth();
    truth.begin();
    report(sel, t, [&](Gfn g, bool resident, bool accessed) {
      truth.page(g, resident, !accessed, since);  // the oracle reports the truth
    }, since);
    truth.end();
    sel.scan_done(t);
    ++rounds_;
    env.slice("oracle", since, t);
    return since;
  }

  bool report_now(VmmEnv& env, VictimSelector& sel) override {
    report(sel, env.now(), [](Gfn, bool, bool) {}, reported_);
    return true;
  }

  void arm(VmmEnv& env, Evictor& ev) override { guard_.arm(env, ev); }
  void recheck(VmmEnv& env, Evictor& ev) override { guard_.recheck(env, ev, cpu_scan_ns_); }
  uffd::IoctlResult resolve(const uffd::FaultMsg& m) override { return uffd_resolve(ev_, m); }

 private:
  // Residency changes first (inserted at their access time when it is known), then the
  // accesses since `since` not reported yet (at an earlier fault report), oldest first. `each`
  // sees every page: resident, and accessed since `since`.
  template <class Each>
  void report(VictimSelector& sel, TimeNs t, Each&& each, TimeNs since) {
    const TimeNs from = std::max(since, reported_);
    hits_.clear();
    for (std::uint64_t g = 0; g < as_.pages(); ++g) {
      const bool resident = ev_.resident_now(Gfn(g));
      const TimeNs last = as_.truth().last_access(Gfn(g));
      const bool accessed = last >= since;
      ev_.observe(Gfn(g), resident, accessed ? last : t);
      each(Gfn(g), resident, accessed);
      if (resident && last >= from) hits_.push_back({last, g});
    }
    std::sort(hits_.begin(), hits_.end());
    for (const auto& [last, g] : hits_) sel.accessed({Gfn(g), last});
    if (future_) {
      // OPT: every resident page's next use as of now (the VM's completed accesses), also for
      // pages inserted since the last report, which the evictor reported without one.
      const std::uint64_t pos = as_.accesses();
      for (std::uint64_t g = 0; g < as_.pages(); ++g)
        if (ev_.resident_now(Gfn(g))) sel.accessed({Gfn(g), t, false, future_->next_use(Gfn(g), pos)});
    }
    reported_ = t;
  }

  TimeNs interval_;
  Evictor& ev_;
  uffd::Uffd& uffd_;
  mm::AddressSpace& as_;
  VictimGuard guard_;
  std::shared_ptr<FutureRefs> future_;  // for a selector that wants the future (opt)
  uffd::IoctlResult registration_;
  std::vector<std::pair<TimeNs, std::uint64_t>> hits_;
  // Accesses stamped before this were reported (a vCPU running ahead of its quantum may have
  // stamped later ones already: those are reported again at the next report, which an order by
  // last access tolerates).
  TimeNs reported_ = 0;
  std::uint64_t rounds_ = 0;
  TimeNs cpu_scan_ns_ = 0;
};

}  // namespace

std::unique_ptr<Tracker> make_oracle_tracker(TimeNs interval, Evictor& ev, StatSet& stats,
                                             std::shared_ptr<FutureRefs> future) {
  return std::make_unique<OracleTracker>(interval, ev, stats, std::move(future));
}

}  // namespace vmemsim::reclaim
