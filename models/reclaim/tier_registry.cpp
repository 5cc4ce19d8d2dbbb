// The explicit tier registry: one line per tier, in `vmemsim list` order.
#include "models/reclaim/tier_registry.hpp"

namespace vmemsim::reclaim {

std::span<const TierInfo> tier_registry() {
  static const TierInfo table[] = {
      ssd_tier_info(),
      remote_tier_info(),
      compressed_tier_info(),
  };
  return table;
}

std::unique_ptr<Tier> read_tier(core::Params& parent, const TierContext& ctx) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  static const std::string kinds = [] {
    std::string s;
    for (const auto& t : tier_registry()) s += (s.empty() ? "" : "|") + std::string(t.name);
    return s;
  }();
  static const core::ParamSpec kKind{"kind", core::Kind::Enum, "\"ssd\"", "where evicted pages go (vmemsim list)", -kInf,
                                     kInf, kinds.c_str()};
  core::Params p = parent.child("tier");
  const std::string k = p.get_string(kKind);
  std::unique_ptr<Tier> t;
  for (const auto& info : tier_registry())
    if (k == info.name) t = info.make(p, ctx);
  if (!t) t = tier_registry().front().make(p, ctx);  // the enum error is already reported
  p.finish();
  return t;
}

}  // namespace vmemsim::reclaim
