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
  // Several I/Os submitted together (io_uring / libaio style, tier.max_io_pages pieces of one
  // write or read), each of `bytes[i]`; returns when all are done. The engine runs them
  // concurrently, at most tier.queue_depth of the VM in flight; this default runs them one by one.
  virtual void disk_ios(std::span<const std::uint64_t> bytes, bool write) {
    for (auto b : bytes) disk_io(b, write);
  }
  virtual void net_transfers(const std::string& server, std::span<const std::uint64_t> bytes, bool to_server) {
    for (auto b : bytes) net_transfer(server, b, to_server);
  }
};

// How a device tier (ssd, remote) queues its I/O: the keys `queue_depth` and `max_io_pages` of
// its `tier` object. The defaults are the plain blocking pwrite/pread of each VMM thread: no
// bound on the I/Os the VM's threads have in flight (each has at most one), and a write or read
// call is one I/O whatever its size (an eviction batch of batch_pages is one pwrite).
struct TierQueue {
  // Tier I/Os of this VM in flight at once (the engine bounds them on the real disk or NICs;
  // a thread that finds the queue full waits for a slot); 0 = no bound.
  unsigned depth = 0;
  // Largest I/O in pages: a call of more pages is split into I/Os of at most this many,
  // submitted together; 1 = no merging of adjacent pages; 0 = no limit.
  std::uint64_t max_io_pages = 0;
  static std::span<const core::ParamSpec> params();
  static TierQueue read(core::Params& p);
  // The I/O sizes in bytes of one call of `pages` pages (one element: one I/O).
  std::vector<std::uint64_t> split(std::uint64_t pages) const;
};

class Tier {
 public:
  virtual ~Tier() = default;
  virtual const char* kind() const = 0;
  virtual void write(TierIo& io, std::uint64_t pages) = 0;
  virtual void read(TierIo& io, std::uint64_t pages) = 0;
  // Bytes the tier keeps for `pages` pages.
  virtual std::uint64_t stored_bytes(std::uint64_t pages) const = 0;
  // Tier I/Os of the VM in flight at once that the engine allows (TierQueue::depth); 0 = no
  // bound. A tier that does no device I/O (compressed) has none.
  virtual unsigned queue_depth() const { return 0; }
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
