// The age-threshold rule of the RFC's working-set loop (seed 001): a page is evicted once it
// has been idle for `age_threshold` consecutive tracking rounds. Ages count scan_done() calls
// in which the tracker did not report the page accessed; an access resets the age. Victims are
// returned in gfn order (the order a VMM walks its PAGEMAP_SCAN output), so the choice among
// equally old pages is the one the seed loop makes.
//
// Per-page state: 2 bytes (8-bit age saturating at 255, a resident bit, an accessed-this-round
// bit), allocated with the selector.
#include <algorithm>

#include "models/reclaim/selector.hpp"
#include "sim/core/flat_array.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Gfn;
using core::Kind;
using core::ParamSpec;

const ParamSpec kParams[] = {
    {"age_threshold", Kind::Int, "2", "evict a page after this many consecutive cold scans", 1, 255},
};

class AgeSelector final : public VictimSelector {
 public:
  AgeSelector(std::uint64_t pages, unsigned threshold) : w_(pages), threshold_(threshold) {}

  // A page that became resident starts at age 0; the round's scan decides whether it ages.
  void inserted(const Access& a) override { w_[a.gfn.v] = kResident; }
  void accessed(const Access& a) override {
    if (w_[a.gfn.v] & kResident) w_[a.gfn.v] = kResident | kSeen;
  }
  void removed(Gfn g) override { w_[g.v] = 0; }
  void scan_done(core::TimeNs) override {
    for (std::uint64_t g = 0; g < w_.size(); ++g) {
      const std::uint16_t w = w_[g];
      if (!(w & kResident)) continue;
      if (w & kSeen) w_[g] = kResident;  // age 0
      else w_[g] = static_cast<std::uint16_t>(kResident | std::min<unsigned>((w & kAgeMask) + 1, 255));
    }
  }
  void pick(std::uint64_t want, std::vector<Gfn>& out) override {
    std::uint64_t n = 0;
    for (std::uint64_t g = 0; g < w_.size() && n < want; ++g) {
      const std::uint16_t w = w_[g];
      if ((w & kResident) && (w & kAgeMask) >= threshold_) {
        out.push_back(Gfn(g));
        ++n;
      }
    }
  }

 private:
  static constexpr std::uint16_t kAgeMask = 0xff, kResident = 0x100, kSeen = 0x200;
  core::FlatArray<std::uint16_t> w_;
  unsigned threshold_;
};

}  // namespace

SelectorInfo age_selector_info() {
  return {"age", "idle for age_threshold consecutive tracking rounds (the RFC's working-set rule), in gfn order",
          kParams, 2, [](core::Params& p, const SelectorContext& ctx) -> std::unique_ptr<VictimSelector> {
            const auto t = static_cast<unsigned>(p.get_int(kParams[0]));
            return std::make_unique<AgeSelector>(ctx.pages, t);
          },
          /*threshold=*/true};
}

}  // namespace vmemsim::reclaim
