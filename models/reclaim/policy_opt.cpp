// `opt` baseline: Belady's MIN (select_opt.cpp) fed by the ground-truth tracker (track_oracle.cpp)
// with the VM's future references (future.hpp), evicting down to a fixed memory target
// (baseline.hpp). Only for a VM whose references are fixed before it runs: one vCPU replaying a
// `trace` once; the scenario reader refuses it elsewhere, naming the key that makes the future
// unknowable.
#include "models/reclaim/baseline.hpp"
#include "models/reclaim/registry_detail.hpp"

namespace vmemsim::reclaim {

// Evictor 4.125 B + the opt selector's 16 B + the future index's 8 B (offset and cursor) per
// page, rounded up; plus 4 B per trace reference, which no per-page figure covers.
constexpr std::uint64_t kOptBytesPerPage = 29;

PolicyInfo detail::opt_policy_info() {
  return {"opt",
          "Belady's MIN (oracle): the resident page whose next use is farthest, evicted down to memory_target. It "
          "knows the future from the trace: for a VM with one vCPU replaying a `trace` workload once (at_end "
          "\"stop\"), the world builder draws the whole reference stream from a second generator built like the "
          "vCPU's, and a page's next use at a decision is its first reference at or after the number of accesses "
          "the VM has completed (the next-use times `vmemsim replay` gives opt); +4 B per trace reference. Other "
          "workloads are refused (exit 2, naming the key). With enforce \"fault\" its misses are replay's",
          baseline_params("opt"), true, kOptBytesPerPage, true,
          [](core::Params& p, const PolicyContext& ctx) { return make_baseline(p, ctx, "opt"); },
          /*hugetlb=*/false, /*needs_future=*/true};
}

}  // namespace vmemsim::reclaim
