// The future references of a VM whose access stream is fixed before it runs: what the `opt`
// policy (Belady) needs to know each page's next use inside a simulation.
//
// Only a VM with one vCPU replaying a `trace` once (at_end "stop") has such a stream: the world
// builder draws it from a second generator built like the vCPU's (same file, mapping and split),
// so it is the exact sequence of gfns the vCPU will issue. During the run the position in it is
// the number of accesses the VM has completed (AddressSpace::accesses()), so the next use of a
// page at position `pos` is its first reference at index >= pos -- the same next-use time
// `vmemsim replay` gives OPT by its backward pass over the trace.
//
// State: the references grouped by page (CSR: 4 B per page of offsets, 4 B per reference) and a
// cursor per page (4 B), advanced as the position grows: O(1) amortised per query. Allocated
// only for a policy that declares PolicyInfo::needs_future.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "models/reclaim/selector.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::reclaim {

class FutureRefs {
 public:
  FutureRefs(std::span<const std::uint32_t> gfns, std::uint64_t pages) : start_(pages + 1, 0), cur_(pages, 0) {
    VMEMSIM_CHECK(gfns.size() < (1ull << 32) - 1, "a future of " << gfns.size() << " references");
    for (auto g : gfns) {
      VMEMSIM_CHECK(g < pages, "future reference to gfn " << g << " beyond " << pages << " pages");
      ++start_[g + 1];
    }
    for (std::uint64_t g = 0; g < pages; ++g) start_[g + 1] += start_[g];
    at_.resize(gfns.size());
    std::vector<std::uint32_t> fill(start_.begin(), start_.end() - 1);
    for (std::size_t i = 0; i < gfns.size(); ++i) at_[fill[gfns[i]]++] = static_cast<std::uint32_t>(i);
    for (std::uint64_t g = 0; g < pages; ++g) cur_[g] = start_[g];
  }
  std::uint64_t references() const { return at_.size(); }
  // Index of the first reference to g at or after `pos`, or Access::kNever. For each page, `pos`
  // must not decrease from one call to the next (positions only grow during a run).
  std::uint64_t next_use(core::Gfn g, std::uint64_t pos) {
    std::uint32_t& c = cur_[g.v];
    const std::uint32_t end = start_[g.v + 1];
    while (c < end && at_[c] < pos) ++c;
    return c < end ? at_[c] : Access::kNever;
  }

 private:
  std::vector<std::uint32_t> start_;  // per page: where its references begin in at_
  std::vector<std::uint32_t> at_;     // reference indexes, grouped by page, ascending
  std::vector<std::uint32_t> cur_;    // per page: its first reference not yet passed
};

}  // namespace vmemsim::reclaim
