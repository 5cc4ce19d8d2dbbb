// The host's swap SSD: pages written and read on a SimGrid disk, whose latency and bandwidth
// are the host's `swap` settings; one I/O per call unless tier.max_io_pages splits it
// (TierQueue).
#include "models/reclaim/tier_registry.hpp"

namespace vmemsim::reclaim {
namespace {

class SsdTier final : public Tier {
 public:
  explicit SsdTier(TierQueue q) : q_(q) {}
  const char* kind() const override { return "ssd"; }
  void write(TierIo& io, std::uint64_t pages) override { io_(io, pages, true); }
  void read(TierIo& io, std::uint64_t pages) override { io_(io, pages, false); }
  std::uint64_t stored_bytes(std::uint64_t pages) const override { return pages * core::kPageSize; }
  unsigned queue_depth() const override { return q_.depth; }

 private:
  void io_(TierIo& io, std::uint64_t pages, bool write) {
    if (q_.max_io_pages == 0 || pages <= q_.max_io_pages) return io.disk_io(pages * core::kPageSize, write);
    const auto sizes = q_.split(pages);
    io.disk_ios(sizes, write);
  }
  TierQueue q_;
};

}  // namespace

TierInfo ssd_tier_info() {
  return {"ssd", "the host's swap SSD (a SimGrid disk: hosts[].swap)", TierQueue::params(),
          [](core::Params& p, const TierContext&) -> std::unique_ptr<Tier> {
            return std::make_unique<SsdTier>(TierQueue::read(p));
          }};
}

}  // namespace vmemsim::reclaim
