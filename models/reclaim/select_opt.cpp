// `opt`: Belady's MIN (L. A. Belady, "A study of replacement algorithms for a virtual-storage
// computer", IBM Systems Journal 5(2), 1966): evicts the resident page whose next use lies
// farthest in the future, which gives the fewest misses of any demand-paging policy. It is the
// lower bound the other selectors are measured against, not a policy a VMM could run.
//
// Where the future comes from: every event carries Access::next_use (wants_future() is true).
// `vmemsim replay` fills it by one backward pass over the trace before replaying it (the trace
// is the future). Inside a simulation the `opt` policy (policy_opt.cpp) runs only on a VM with
// one vCPU replaying a trace once: the world builder indexes that trace's references
// (future.hpp) and the oracle tracker gives every resident page its next use at each report.
//
// State: an indexed binary max-heap on next_use (ties: larger gfn first, for a fixed order),
// O(log n) per event; pick(want) reads the `want` largest without popping them, O(want log want).
#include <algorithm>
#include <queue>

#include "models/reclaim/selector.hpp"
#include "sim/core/flat_array.hpp"

namespace vmemsim::reclaim {
namespace {

class Opt final : public VictimSelector {
 public:
  explicit Opt(std::uint64_t pages) : heap_(pages), slot_(pages), next_(pages) {
    VMEMSIM_CHECK(pages < (1ull << 32) - 1, "opt selector over " << pages << " pages");
  }
  bool wants_future() const override { return true; }
  void inserted(const Access& a) override {
    const auto g = static_cast<std::uint32_t>(a.gfn.v);
    next_[g] = a.next_use;
    heap_[n_] = g;
    slot_[g] = static_cast<std::uint32_t>(n_ + 1);
    sift_up(n_++);
  }
  void accessed(const Access& a) override {
    const auto g = static_cast<std::uint32_t>(a.gfn.v);
    if (slot_[g] == 0) return;
    next_[g] = a.next_use;
    restore(g);
  }
  void removed(core::Gfn gfn) override {
    const std::uint32_t s = slot_[gfn.v];
    if (s == 0) return;
    const std::uint64_t i = s - 1;
    slot_[gfn.v] = 0;
    if (i == --n_) return;
    const std::uint32_t last = heap_[n_];
    place(i, last);
    restore(last);
  }
  void pick(std::uint64_t want, std::vector<core::Gfn>& out) override {
    if (n_ == 0 || want == 0) return;
    // Best-first walk of the heap: a candidate frontier ordered like the heap itself.
    auto worse = [this](std::uint64_t a, std::uint64_t b) { return above(heap_[b], heap_[a]); };
    std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, decltype(worse)> frontier(worse);
    frontier.push(0);
    while (want > 0 && !frontier.empty()) {
      const std::uint64_t i = frontier.top();
      frontier.pop();
      out.push_back(core::Gfn{heap_[i]});
      --want;
      for (std::uint64_t c = 2 * i + 1; c <= 2 * i + 2 && c < n_; ++c) frontier.push(c);
    }
  }

 private:
  // Heap order: a above b when a's next use is later (ties: the larger gfn).
  bool above(std::uint32_t a, std::uint32_t b) const {
    return next_[a] != next_[b] ? next_[a] > next_[b] : a > b;
  }
  // g's key changed (or g moved): one of the two sifts does nothing.
  void restore(std::uint32_t g) {
    sift_up(slot_[g] - 1);
    sift_down(slot_[g] - 1);
  }
  void place(std::uint64_t i, std::uint32_t g) {
    heap_[i] = g;
    slot_[g] = static_cast<std::uint32_t>(i + 1);
  }
  void sift_up(std::uint64_t i) {
    const std::uint32_t g = heap_[i];
    while (i > 0) {
      const std::uint64_t parent = (i - 1) / 2;
      if (!above(g, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, g);
  }
  void sift_down(std::uint64_t i) {
    const std::uint32_t g = heap_[i];
    for (;;) {
      std::uint64_t c = 2 * i + 1;
      if (c >= n_) break;
      if (c + 1 < n_ && above(heap_[c + 1], heap_[c])) ++c;
      if (!above(heap_[c], g)) break;
      place(i, heap_[c]);
      i = c;
    }
    place(i, g);
  }

  core::FlatArray<std::uint32_t> heap_;  // [0, n_): the resident pages, heap-ordered
  core::FlatArray<std::uint32_t> slot_;  // per page: its heap index + 1, or 0
  core::FlatArray<std::uint64_t> next_;  // per page: next use
  std::uint64_t n_ = 0;
};

std::unique_ptr<VictimSelector> make(core::Params& p, const SelectorContext& ctx) {
  return std::make_unique<Opt>(ctx.pages);
}

}  // namespace

SelectorInfo opt_selector_info() {
  return {"opt",
          "Belady's MIN: the resident page whose next use is farthest. Needs the future: `vmemsim replay` computes "
          "each access's next use by a backward pass over the trace; in a VM, the `opt` policy indexes the trace its one "
          "vCPU replays",
          {}, 16, make};
}

}  // namespace vmemsim::reclaim
