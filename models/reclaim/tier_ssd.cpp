// The host's swap SSD: pages written and read as one I/O per call on a SimGrid disk, whose
// latency and bandwidth are the host's `swap` settings.
#include "models/reclaim/tier_registry.hpp"

namespace vmemsim::reclaim {
namespace {

class SsdTier final : public Tier {
 public:
  const char* kind() const override { return "ssd"; }
  void write(TierIo& io, std::uint64_t pages) override { io.disk_io(pages * core::kPageSize, true); }
  void read(TierIo& io, std::uint64_t pages) override { io.disk_io(pages * core::kPageSize, false); }
  std::uint64_t stored_bytes(std::uint64_t pages) const override { return pages * core::kPageSize; }
};

}  // namespace

TierInfo ssd_tier_info() {
  return {"ssd", "the host's swap SSD (a SimGrid disk: hosts[].swap)", {},
          [](core::Params&, const TierContext&) -> std::unique_ptr<Tier> { return std::make_unique<SsdTier>(); }};
}

}  // namespace vmemsim::reclaim
