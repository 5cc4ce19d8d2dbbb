// `abit-harvest`: the accessed-bit tracker (track_abit.cpp: test-and-clear every young bit per
// round, one TLB shootdown, no faults) with the age-threshold selector, a fixed memory target
// and the shared evictor (victims marked and evicted under SET_MODE(sync)).
#include "models/reclaim/composed.hpp"
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/track_abit.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Kind;
using core::ParamSpec;
constexpr double kInf = std::numeric_limits<double>::infinity();
const ParamSpec kInterval{"interval", Kind::Duration, "\"1s\"",
                          "time between two passes that test and clear every young bit", 1000, kInf};

std::span<const ParamSpec> params() {
  static const std::vector<ParamSpec> table = age_policy_params({kInterval});
  return table;
}

std::unique_ptr<VmmPolicy> make(core::Params& p, const PolicyContext& ctx) {
  const TimeNs interval = p.get_duration(kInterval);
  AgeEviction a = read_age_eviction(p, ctx);
  require_sync_eviction(p, ctx, "abit-harvest");
  return compose_age_policy(p, ctx, std::move(a),
                            [&](Evictor& ev, StatSet& s) { return make_abit_tracker(interval, ev, s); });
}

}  // namespace

PolicyInfo detail::abit_harvest_info() {
  return {"abit-harvest",
          "the VMM tests and clears every PTE young bit per interval (clear_refs style: cost per PTE, one TLB "
          "shootdown, no faults, blind between passes); age-threshold eviction under SET_MODE(sync)",
          params(), true, kUffdLoopBytesPerPage, false, make};
}

}  // namespace vmemsim::reclaim
