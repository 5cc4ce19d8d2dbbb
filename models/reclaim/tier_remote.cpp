// A remote memory server: pages cross this host's NIC and the server's (a SimGrid transfer),
// so hosts sharing a server contend on its link. One transfer per call unless
// tier.max_io_pages splits it (TierQueue).
#include <algorithm>

#include "models/reclaim/tier_registry.hpp"

namespace vmemsim::reclaim {
namespace {

const std::vector<core::ParamSpec>& params() {
  static const std::vector<core::ParamSpec> t = [] {
    std::vector<core::ParamSpec> v{
        {"server", core::Kind::String, "\"\"", "memory server name (default: the first of memory_servers)"}};
    for (const auto& q : TierQueue::params()) v.push_back(q);
    return v;
  }();
  return t;
}

class RemoteTier final : public Tier {
 public:
  RemoteTier(std::string server, TierQueue q) : server_(std::move(server)), q_(q) {}
  const char* kind() const override { return "remote"; }
  void write(TierIo& io, std::uint64_t pages) override { io_(io, pages, true); }
  void read(TierIo& io, std::uint64_t pages) override { io_(io, pages, false); }
  std::uint64_t stored_bytes(std::uint64_t pages) const override { return pages * core::kPageSize; }
  unsigned queue_depth() const override { return q_.depth; }

 private:
  void io_(TierIo& io, std::uint64_t pages, bool to_server) {
    if (q_.max_io_pages == 0 || pages <= q_.max_io_pages)
      return io.net_transfer(server_, pages * core::kPageSize, to_server);
    const auto sizes = q_.split(pages);
    io.net_transfers(server_, sizes, to_server);
  }
  std::string server_;
  TierQueue q_;
};

std::unique_ptr<Tier> make(core::Params& p, const TierContext& ctx) {
  std::string server = p.get_string(params()[0]);
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
  const TierQueue q = TierQueue::read(p);
  return std::make_unique<RemoteTier>(server, q);
}

}  // namespace

TierInfo remote_tier_info() {
  return {"remote", "a remote memory server over the NICs (memory_servers[], tier.server)", params(), make};
}

}  // namespace vmemsim::reclaim
