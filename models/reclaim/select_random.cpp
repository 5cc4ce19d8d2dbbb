// `random`: victims drawn uniformly from the resident pages, without replacement within one
// pick, from an Rng seeded with SelectorContext::seed (so a run is reproducible).
//
// The resident set is a dense array with each page's slot beside it (swap-with-last removal,
// O(1)); pick() is a partial Fisher-Yates shuffle of its front, O(want).
#include "models/reclaim/selector.hpp"
#include "sim/core/flat_array.hpp"
#include "sim/core/rng.hpp"

namespace vmemsim::reclaim {
namespace {

class Random final : public VictimSelector {
 public:
  Random(std::uint64_t pages, std::uint64_t seed) : dense_(pages), slot_(pages), rng_(seed) {
    VMEMSIM_CHECK(pages < (1ull << 32) - 1, "random selector over " << pages << " pages");
  }
  void inserted(const Access& a) override {
    dense_[n_] = static_cast<std::uint32_t>(a.gfn.v);
    slot_[a.gfn.v] = static_cast<std::uint32_t>(++n_);  // slot + 1: 0 means not resident
  }
  void accessed(const Access&) override {}
  void removed(core::Gfn g) override {
    const std::uint32_t s = slot_[g.v];
    if (s == 0) return;
    const std::uint32_t last = dense_[--n_];
    dense_[s - 1] = last;
    slot_[last] = s;
    slot_[g.v] = 0;
  }
  void pick(std::uint64_t want, std::vector<core::Gfn>& out) override {
    const std::uint64_t k = want < n_ ? want : n_;
    for (std::uint64_t i = 0; i < k; ++i) {
      const std::uint64_t j = i + rng_.below(n_ - i);
      std::swap(dense_[i], dense_[j]);
      slot_[dense_[i]] = static_cast<std::uint32_t>(i + 1);
      slot_[dense_[j]] = static_cast<std::uint32_t>(j + 1);
      out.push_back(core::Gfn{dense_[i]});
    }
  }

 private:
  core::FlatArray<std::uint32_t> dense_;  // the resident pages, [0, n_)
  core::FlatArray<std::uint32_t> slot_;   // per page: its index in dense_ + 1, or 0
  std::uint64_t n_ = 0;
  core::Rng rng_;
};

std::unique_ptr<VictimSelector> make(core::Params& p, const SelectorContext& ctx) {
  return std::make_unique<Random>(ctx.pages, ctx.seed);
}

}  // namespace

SelectorInfo random_selector_info() {
  return {"random", "uniformly random resident page (deterministic per seed)", {}, 8, make};
}

}  // namespace vmemsim::reclaim
