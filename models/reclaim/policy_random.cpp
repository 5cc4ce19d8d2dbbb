// `random` baseline: the random victim selector (select_random.cpp) fed by the ground-truth
// tracker (track_oracle.cpp), evicting down to a fixed memory target (baseline.hpp).
#include "models/reclaim/baseline.hpp"
#include "models/reclaim/registry_detail.hpp"

namespace vmemsim::reclaim {

PolicyInfo detail::random_policy_info() {
  return {"random", "uniformly random resident pages (seeded), down to memory_target: the floor any tracking must beat", baseline_params("random"), true, kBaselineBytesPerPage, true,
          [](core::Params& p, const PolicyContext& ctx) { return make_baseline(p, ctx, "random"); }};
}

}  // namespace vmemsim::reclaim
