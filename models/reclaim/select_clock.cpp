// `clock`: second chance (Corbató's CLOCK). Resident pages sit on a ring; accessed() sets the
// page's reference bit, as the MMU sets the PTE's A bit. pick() sweeps a hand round the ring:
// a page with its bit set loses the bit and is passed over, a page without it is a victim. A
// new page enters just behind the hand, so it is the last the hand reaches.
//
// Victims are not unlinked by pick() (the caller evicts and calls removed()); a page picked and
// then not evicted keeps its place with a clear bit.
#include "models/reclaim/page_list.hpp"
#include "models/reclaim/selector.hpp"

namespace vmemsim::reclaim {
namespace {

class Clock final : public VictimSelector {
 public:
  explicit Clock(std::uint64_t pages) : ring_(pages), flags_(pages) {}
  void inserted(const Access& a) override {
    // Behind the hand: the slot the hand reaches last. The bit starts clear: the access that
    // brought the page in is not a second use of it.
    ring_.insert_before(hand_ == ring_.end() ? ring_.front() : hand_, a.gfn.v);
    if (hand_ == ring_.end()) hand_ = static_cast<std::uint32_t>(a.gfn.v);
    flags_[a.gfn.v] = 0;
  }
  void accessed(const Access& a) override { flags_[a.gfn.v] |= kReferenced; }
  void removed(core::Gfn g) override {
    if (!ring_.contains(g.v)) return;
    if (hand_ == g.v) hand_ = ring_.size() == 1 ? ring_.end() : step(hand_);
    ring_.unlink(g.v);
    flags_[g.v] = 0;
  }
  void pick(std::uint64_t want, std::vector<core::Gfn>& out) override {
    if (ring_.empty() || want == 0) return;
    const std::size_t first = out.size();
    // Two turns suffice: the first clears every bit it does not take, the second takes what the
    // first left. kPicked keeps a page from being taken twice in one call.
    for (std::uint64_t steps = 2 * ring_.size(); steps > 0 && want > 0; --steps) {
      std::uint8_t& f = flags_[hand_];
      if (f & kReferenced) {
        f &= static_cast<std::uint8_t>(~kReferenced);
      } else if (!(f & kPicked)) {
        f |= kPicked;
        out.push_back(core::Gfn{hand_});
        --want;
      }
      hand_ = step(hand_);
    }
    for (std::size_t i = first; i < out.size(); ++i) flags_[out[i].v] &= static_cast<std::uint8_t>(~kPicked);
  }

 private:
  static constexpr std::uint8_t kReferenced = 1, kPicked = 2;
  // The next page round the ring, skipping the sentinel.
  std::uint32_t step(std::uint32_t g) const {
    const std::uint32_t n = ring_.next(g);
    return n == ring_.end() ? ring_.front() : n;
  }

  PageList ring_;
  core::FlatArray<std::uint8_t> flags_;
  std::uint32_t hand_ = ring_.end();
};

std::unique_ptr<VictimSelector> make(core::Params& p, const SelectorContext& ctx) {
  return std::make_unique<Clock>(ctx.pages);
}

}  // namespace

SelectorInfo clock_selector_info() {
  return {"clock", "second chance: a hand sweeps the resident pages, clearing reference bits set by accesses and "
          "evicting pages found without one", {}, 9, make};
}

}  // namespace vmemsim::reclaim
