// `hot_cold`: a hot set that takes most accesses and a cold rest, uniform inside each: the
// two-level working set that tiering and reclaim policies are usually tuned against.
//
// Hot set: ceil(hot_fraction * pages) consecutive pages starting at floor(hot_offset * pages),
// wrapping past the end of the region; the cold set is every other page.
#include <cfloat>
#include <cmath>

#include "models/workload/builtin.hpp"

namespace vmemsim::workload {
namespace {

constexpr core::ParamSpec kParams[] = {
    {"hot_fraction", core::Kind::Number, "0.2",
     "share of the region's pages that are hot (fraction, 0..1); the hot set is "
     "ceil(hot_fraction * pages) pages",
     0.0, 1.0},
    {"hot_probability", core::Kind::Number, "0.8",
     "share of accesses that go to the hot set (fraction, 0..1)", 0.0, 1.0},
    {"hot_offset", core::Kind::Number, "0",
     "where the hot set begins, as a fraction of the region (0..1); it wraps past the end", 0.0,
     1.0},
};

class HotColdGenerator final : public Generator {
 public:
  HotColdGenerator(const GenContext& ctx, std::uint64_t hot_pages, std::uint64_t hot_start,
                   double hot_probability, double write_ratio)
      : pages_(ctx.pages),
        hot_start_(hot_start),
        hot_pages_(hot_pages),
        cold_start_((hot_start + hot_pages) % ctx.pages),
        cold_pages_(ctx.pages - hot_pages),
        // An empty set can never be chosen (below(0) is undefined).
        hot_draw_(hot_pages == 0 ? 0.0 : cold_pages_ == 0 ? 1.0 : hot_probability),
        rng_(ctx.rng()),
        write_(write_ratio) {}

  void fill(core::TimeNs, std::span<Access> out) override {
    // WriteDraw is a plain Bernoulli threshold; it decides hot vs cold without floating point.
    detail::fill_pages(rng_, write_, out,
                       [n = pages_, hs = hot_start_, hn = hot_pages_, cs = cold_start_,
                        cn = cold_pages_, hot = hot_draw_](core::Rng& r) {
                         const bool is_hot = hot(r);
                         std::uint64_t page = (is_hot ? hs : cs) + r.below(is_hot ? hn : cn);
                         if (page >= n) page -= n;  // both starts are < n: one wrap at most
                         return page;
                       });
  }

 private:
  std::uint64_t pages_, hot_start_, hot_pages_, cold_start_, cold_pages_;
  WriteDraw hot_draw_;
  core::Rng rng_;
  WriteDraw write_;
};

std::unique_ptr<Generator> make_hot_cold(core::Params& p, const GenContext& ctx, double write_ratio) {
  const double hot_fraction = p.get_number(kParams[0]);
  const double hot_probability = p.get_number(kParams[1]);
  const double hot_offset = p.get_number(kParams[2]);
  const double pages = static_cast<double>(ctx.pages);
  // ceil, minus the product's rounding noise: 0.07 * 100 is 7.000000000000001 and means 7.
  const double v = hot_fraction * pages;
  auto hot_pages = static_cast<std::uint64_t>(std::ceil(v - v * 4 * DBL_EPSILON));
  if (hot_pages > ctx.pages) hot_pages = ctx.pages;
  const std::uint64_t hot_start = static_cast<std::uint64_t>(std::floor(hot_offset * pages)) % ctx.pages;
  return std::make_unique<HotColdGenerator>(ctx, hot_pages, hot_start, hot_probability, write_ratio);
}

}  // namespace

GeneratorInfo detail::hot_cold_info() {
  return {"hot_cold", "a hot set taking hot_probability of the accesses, uniform inside hot and cold sets",
          kParams, make_hot_cold};
}

}  // namespace vmemsim::workload
