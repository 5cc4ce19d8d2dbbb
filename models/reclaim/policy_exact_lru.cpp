// `exact-lru` baseline: the exact-lru victim selector (select_exact_lru.cpp) fed by the ground-truth
// tracker (track_oracle.cpp), evicting down to a fixed memory target (baseline.hpp).
#include "models/reclaim/baseline.hpp"
#include "models/reclaim/registry_detail.hpp"

namespace vmemsim::reclaim {

PolicyInfo detail::exact_lru_policy_info() {
  return {"exact-lru", "perfect recency (oracle): ground-truth last-access order, least recently used evicted down to memory_target", baseline_params("exact-lru"), true, kBaselineBytesPerPage, true,
          [](core::Params& p, const PolicyContext& ctx) { return make_baseline(p, ctx, "exact-lru"); }};
}

}  // namespace vmemsim::reclaim
