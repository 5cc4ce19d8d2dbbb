#include "models/reclaim/composed.hpp"

namespace vmemsim::reclaim {

using core::Kind;
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

const core::ParamSpec kBatchPagesParam{"batch_pages", Kind::Int, "512", "pages written to the tier per pwrite batch", 1,
                                       1 << 20};
const core::ParamSpec kMemoryTargetParam{
    "memory_target", Kind::Size, "0",
    "evict only while resident memory is above this (0 = evict every page that is old enough)", 0, kInf};
const core::ParamSpec kReadViaParam{
    "read_via", Kind::Enum, "\"odirect\"",
    "how the VMM reads a page it evicts: odirect = pwrite(O_DIRECT) from the guest mapping, pinned with "
    "get_user_pages(); buffered = pwrite through the page cache, copy_from_user() in the VMM thread",
    -kInf, kInf, "odirect|buffered"};

void ComposedPolicy::run_agent(VmmEnv& env, TimeNs until) {
  tracker_->begin(env);
  while (env.now() + tracker_->interval() < until) {
    const TimeNs since = tracker_->round(env, *sel_);
    victims_.clear();
    const std::uint64_t want = ctl_->want(ev_.as());
    if (want) sel_->pick(want, victims_);
    if (ev_.claim(victims_) == 0) continue;
    const TimeNs t = env.now();
    const bool sync = tracker_->needs_sync();
    if (sync) {
      tracker_->arm(env, ev_);
      ev_.set_mode(env, false);
      tracker_->recheck(env, ev_);
    }
    ev_.evict(env, since);
    if (sync) ev_.set_mode(env, true);
    env.slice("evict", t, env.now());
  }
}

}  // namespace vmemsim::reclaim
