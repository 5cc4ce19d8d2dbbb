// Where evicted pages go: one interface, one file per tier, one line each in the tier
// registry (tier_registry.cpp). A tier turns "write / read these pages" into uses of the
// platform's resources, which the engine lends through TierIo (a SimGrid disk, the NICs to a
// memory server, CPU time); it knows nothing of SimGrid.
//
// Lifecycle: a policy reads its `tier` object through read_tier(), which picks the tier by
// `kind` and lets it read its own parameters; the policy then calls write()/read() from its
// VMM threads, which block for the simulated time the I/O takes.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sim/core/params.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::reclaim {

using core::TimeNs;

// The platform resources a tier may use, lent by the engine to the calling VMM thread.
class TierIo {
 public:
  virtual ~TierIo() = default;
  // A read or write of `bytes` on the host's swap device (its latency and bandwidth sharing
  // are the device's).
  virtual void disk_io(std::uint64_t bytes, bool write) = 0;
  // A transfer between this host and memory server `server` over both NICs.
  virtual void net_transfer(const std::string& server, std::uint64_t bytes, bool to_server) = 0;
  // The calling thread computes for d.
  virtual void cpu(TimeNs d) = 0;
};

class Tier {
 public:
  virtual ~Tier() = default;
  virtual const char* kind() const = 0;
  virtual void write(TierIo& io, std::uint64_t pages) = 0;
  virtual void read(TierIo& io, std::uint64_t pages) = 0;
  // Bytes the tier keeps for `pages` pages.
  virtual std::uint64_t stored_bytes(std::uint64_t pages) const = 0;
};

struct TierContext {
  std::vector<std::string> memory_servers;  // names a remote tier may use
};

struct TierInfo {
  const char* name;  // the `kind` value
  const char* summary;
  std::span<const core::ParamSpec> params;  // its keys in the `tier` object, beside `kind`
  // Reads the tier's own keys of the `tier` object (problems go to p's sink) and builds it.
  std::unique_ptr<Tier> (*make)(core::Params& p, const TierContext& ctx);
};
std::span<const TierInfo> tier_registry();

// The `tier` object of a vmm config: `kind` picks the tier, which reads the rest.
std::unique_ptr<Tier> read_tier(core::Params& parent, const TierContext& ctx);

}  // namespace vmemsim::reclaim
