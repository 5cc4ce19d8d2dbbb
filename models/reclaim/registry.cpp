// The explicit VMM policy registry: one line per policy, in `vmemsim list` order.
#include <algorithm>

#include "models/reclaim/registry_detail.hpp"

namespace vmemsim::reclaim {

const char* tier_kind_name(TierKind k) {
  switch (k) {
    case TierKind::Ssd: return "ssd";
    case TierKind::Remote: return "remote";
    case TierKind::Compressed: return "compressed";
  }
  return "?";
}

const std::vector<PolicyInfo>& policy_registry() {
  static const std::vector<PolicyInfo> table = {
      detail::uffd_ws_info(),
      detail::naive_async_info(),
  };
  return table;
}

const PolicyInfo* find_policy(std::string_view name) {
  for (const auto& p : policy_registry())
    if (name == p.name) return &p;
  return nullptr;
}

TierSpec read_tier(core::Params& parent, const PolicyContext& ctx) {
  using core::Kind;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  static const core::ParamSpec kKind{"kind", Kind::Enum, "\"ssd\"",
                                     "where evicted pages go: the host's swap SSD (SimGrid disk), a remote memory "
                                     "server (over the NICs), or a compressed pool in host RAM",
                                     -kInf, kInf, "ssd|remote|compressed"};
  static const core::ParamSpec kServer{"server", Kind::String, "\"\"", "remote: memory server name (default: the first)"};
  // lz4-class figures: ~2 GB/s compression, ~4 GB/s decompression per core, ratio ~2.5 on guest memory.
  static const core::ParamSpec kRatio{"compression_ratio", Kind::Number, "2.5", "compressed: 4 KiB / stored bytes", 1, 64};
  static const core::ParamSpec kComp{"compress_ns", Kind::Duration, "2000", "compressed: CPU time to compress a page", 0, kInf};
  static const core::ParamSpec kDecomp{"decompress_ns", Kind::Duration, "1000", "compressed: CPU time to decompress a page", 0, kInf};
  core::Params p = parent.child("tier");
  TierSpec t;
  const std::string k = p.get_string(kKind);
  t.kind = k == "remote" ? TierKind::Remote : k == "compressed" ? TierKind::Compressed : TierKind::Ssd;
  t.server = p.get_string(kServer);
  t.compression_ratio = p.get_number(kRatio);
  t.compress_ns = p.get_duration(kComp);
  t.decompress_ns = p.get_duration(kDecomp);
  if (t.kind == TierKind::Remote) {
    if (ctx.memory_servers.empty()) {
      p.error("kind", "a remote tier needs a memory server (top-level memory_servers)");
    } else if (t.server.empty()) {
      t.server = ctx.memory_servers.front();
      p.resolved()["server"] = t.server;
    } else if (std::find(ctx.memory_servers.begin(), ctx.memory_servers.end(), t.server) == ctx.memory_servers.end()) {
      std::string m = "no memory server named '" + t.server + "'";
      auto d = core::did_you_mean(t.server, ctx.memory_servers);
      if (!d.empty()) m += " (did you mean '" + d + "'?)";
      p.error("server", m);
    }
  }
  p.finish();
  return t;
}

}  // namespace vmemsim::reclaim
