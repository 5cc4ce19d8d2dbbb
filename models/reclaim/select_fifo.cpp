// `fifo`: evicts in the order pages became resident; accesses do not reorder. The baseline
// that ignores recency (Belady's anomaly is possible: more frames can give more misses).
#include "models/reclaim/page_list.hpp"
#include "models/reclaim/selector.hpp"

namespace vmemsim::reclaim {
namespace {

class Fifo final : public VictimSelector {
 public:
  explicit Fifo(std::uint64_t pages) : queue_(pages) {}
  void inserted(const Access& a) override { queue_.push_back(a.gfn.v); }
  void accessed(const Access&) override {}
  void removed(core::Gfn g) override {
    if (queue_.contains(g.v)) queue_.unlink(g.v);
  }
  void pick(std::uint64_t want, std::vector<core::Gfn>& out) override {
    for (std::uint32_t g = queue_.front(); want > 0 && g != queue_.end(); g = queue_.next(g), --want)
      out.push_back(core::Gfn{g});
  }

 private:
  PageList queue_;  // oldest first
};

std::unique_ptr<VictimSelector> make(core::Params& p, const SelectorContext& ctx) {
  return std::make_unique<Fifo>(ctx.pages);
}

}  // namespace

SelectorInfo fifo_selector_info() {
  return {"fifo", "first in, first out: evicts the page that became resident longest ago", {}, 8, make};
}

}  // namespace vmemsim::reclaim
