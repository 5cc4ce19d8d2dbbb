// `clock` baseline: the clock victim selector (select_clock.cpp) fed by the ground-truth
// tracker (track_oracle.cpp), evicting down to a fixed memory target (baseline.hpp).
#include "models/reclaim/baseline.hpp"
#include "models/reclaim/registry_detail.hpp"

namespace vmemsim::reclaim {

PolicyInfo detail::clock_policy_info() {
  return {"clock", "CLOCK second chance (oracle-fed reference bits): the hand skips pages accessed since it last passed, down to memory_target", baseline_params("clock"), true, kBaselineBytesPerPage, true,
          [](core::Params& p, const PolicyContext& ctx) { return make_baseline(p, ctx, "clock"); }};
}

}  // namespace vmemsim::reclaim
