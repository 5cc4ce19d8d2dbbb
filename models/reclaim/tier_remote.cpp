// A remote memory server: pages cross this host's NIC and the server's (a SimGrid transfer),
// so hosts sharing a server contend on its link.
#include <algorithm>

#include "models/reclaim/tier_registry.hpp"

namespace vmemsim::reclaim {
namespace {

const core::ParamSpec kParams[] = {
    {"server", core::Kind::String, "\"\"", "memory server name (default: the first of memory_servers)"},
};

class RemoteTier final : public Tier {
 public:
  explicit RemoteTier(std::string server) : server_(std::move(server)) {}
  const char* kind() const override { return "remote"; }
  void write(TierIo& io, std::uint64_t pages) override { io.net_transfer(server_, pages * core::kPageSize, true); }
  void read(TierIo& io, std::uint64_t pages) override { io.net_transfer(server_, pages * core::kPageSize, false); }
  std::uint64_t stored_bytes(std::uint64_t pages) const override { return pages * core::kPageSize; }

 private:
  std::string server_;
};

std::unique_ptr<Tier> make(core::Params& p, const TierContext& ctx) {
  std::string server = p.get_string(kParams[0]);
  if (ctx.memory_servers.empty()) {
    p.error("kind", "a remote tier needs a memory server (top-level memory_servers)");
  } else if (server.empty()) {
    server = ctx.memory_servers.front();
    if (p.has_resolved()) p.resolved()["server"] = server;
  } else if (std::find(ctx.memory_servers.begin(), ctx.memory_servers.end(), server) == ctx.memory_servers.end()) {
    std::string m = "no memory server named '" + server + "'";
    auto d = core::did_you_mean(server, ctx.memory_servers);
    if (!d.empty()) m += " (did you mean '" + d + "'?)";
    p.error("server", m);
  }
  return std::make_unique<RemoteTier>(server);
}

}  // namespace

TierInfo remote_tier_info() {
  return {"remote", "a remote memory server over the NICs (memory_servers[], tier.server)", kParams, make};
}

}  // namespace vmemsim::reclaim
