// `fifo` baseline: the fifo victim selector (select_fifo.cpp) fed by the ground-truth
// tracker (track_oracle.cpp), evicting down to a fixed memory target (baseline.hpp).
#include "models/reclaim/baseline.hpp"
#include "models/reclaim/registry_detail.hpp"

namespace vmemsim::reclaim {

PolicyInfo detail::fifo_policy_info() {
  return {"fifo", "first in, first out (oracle-fed): evicts the pages resident longest, down to memory_target; accesses do not reorder", baseline_params("fifo"), true, kBaselineBytesPerPage, true,
          [](core::Params& p, const PolicyContext& ctx) { return make_baseline(p, ctx, "fifo"); }};
}

}  // namespace vmemsim::reclaim
