// The explicit tier registry: one line per tier, in `vmemsim list` order.
#include "models/reclaim/tier_registry.hpp"

#include <algorithm>

namespace vmemsim::reclaim {

std::span<const TierInfo> tier_registry() {
  static const TierInfo table[] = {
      ssd_tier_info(),
      remote_tier_info(),
      compressed_tier_info(),
  };
  return table;
}

std::span<const core::ParamSpec> TierQueue::params() {
  static const core::ParamSpec t[] = {
      {"queue_depth", core::Kind::Int, "0",
       "tier I/Os of this VM in flight at once, over all its VMM threads (the agent's writes, the handlers' "
       "reads); a thread finding the queue full waits for a slot; 0 = no bound (each thread's blocking I/O goes "
       "to the device at once)",
       0, 65536},
      {"max_io_pages", core::Kind::Int, "0",
       "largest tier I/O in pages: a write (eviction batch) or read (a refetch with its prefetched neighbours) "
       "of more pages is split into I/Os of at most this many, submitted together (within queue_depth); 1 = "
       "adjacent pages never merge; 0 = one I/O per call",
       0, 1 << 20},
  };
  return t;
}

TierQueue TierQueue::read(core::Params& p) {
  TierQueue q;
  q.depth = static_cast<unsigned>(p.get_int(params()[0]));
  q.max_io_pages = static_cast<std::uint64_t>(p.get_int(params()[1]));
  return q;
}

std::vector<std::uint64_t> TierQueue::split(std::uint64_t pages) const {
  std::vector<std::uint64_t> out;
  const std::uint64_t m = max_io_pages ? max_io_pages : pages;
  for (std::uint64_t done = 0; done < pages; done += m) out.push_back(std::min(m, pages - done) * core::kPageSize);
  return out;
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
