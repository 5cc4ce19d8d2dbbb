// `exact-lru`: perfect recency. Every access moves its page to the head of one list; victims are
// taken from the tail. With every access reported (replay, or a tracker that sees each one) this
// is the textbook LRU that the tracking policies approximate; O(1) per event.
#include "models/reclaim/page_list.hpp"
#include "models/reclaim/selector.hpp"

namespace vmemsim::reclaim {
namespace {

class ExactLru final : public VictimSelector {
 public:
  explicit ExactLru(std::uint64_t pages) : lru_(pages) {}
  bool lru_stack_property() const override { return true; }
  void inserted(const Access& a) override { lru_.push_front(a.gfn.v); }
  void accessed(const Access& a) override {
    if (lru_.front() != a.gfn.v) lru_.move_to_front(a.gfn.v);  // a re-reference is often to the head
  }
  void removed(core::Gfn g) override {
    if (lru_.contains(g.v)) lru_.unlink(g.v);
  }
  void pick(std::uint64_t want, std::vector<core::Gfn>& out) override {
    for (std::uint32_t g = lru_.back(); want > 0 && g != lru_.end(); g = lru_.prev(g), --want)
      out.push_back(core::Gfn{g});
  }

 private:
  PageList lru_;
};

std::unique_ptr<VictimSelector> make(core::Params& p, const SelectorContext& ctx) {
  return std::make_unique<ExactLru>(ctx.pages);
}

}  // namespace

SelectorInfo exact_lru_selector_info() {
  return {"exact-lru", "least recently used page first, from every reported access (perfect recency, O(1) per event)",
          {}, 8, make};
}

}  // namespace vmemsim::reclaim
