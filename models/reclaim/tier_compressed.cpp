// A compressed pool in host RAM (zswap/zram-like): CPU time per page on the VMM thread, and
// 4 KiB / ratio bytes kept per page. lz4-class figures: ~2 GB/s compression, ~4 GB/s
// decompression per core, ratio ~2.5 on guest memory.
#include "models/reclaim/tier_registry.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Kind;
constexpr double kInf = std::numeric_limits<double>::infinity();
const core::ParamSpec kParams[] = {
    {"compression_ratio", Kind::Number, "2.5", "4 KiB / stored bytes", 1, 64},
    {"compress_ns", Kind::Duration, "2000", "CPU time to compress a page", 0, kInf},
    {"decompress_ns", Kind::Duration, "1000", "CPU time to decompress a page", 0, kInf},
};

class CompressedTier final : public Tier {
 public:
  CompressedTier(double ratio, TimeNs comp, TimeNs decomp) : ratio_(ratio), comp_(comp), decomp_(decomp) {}
  const char* kind() const override { return "compressed"; }
  void write(TierIo& io, std::uint64_t pages) override { io.cpu(static_cast<TimeNs>(pages) * comp_); }
  void read(TierIo& io, std::uint64_t pages) override { io.cpu(static_cast<TimeNs>(pages) * decomp_); }
  std::uint64_t stored_bytes(std::uint64_t pages) const override {
    return pages * static_cast<std::uint64_t>(static_cast<double>(core::kPageSize) / ratio_);
  }

 private:
  double ratio_;
  TimeNs comp_, decomp_;
};

}  // namespace

TierInfo compressed_tier_info() {
  return {"compressed", "a compressed pool in host RAM (CPU per page, 4 KiB / ratio stored)", kParams,
          [](core::Params& p, const TierContext&) -> std::unique_ptr<Tier> {
            const double r = p.get_number(kParams[0]);
            const TimeNs c = p.get_duration(kParams[1]);
            const TimeNs d = p.get_duration(kParams[2]);
            return std::make_unique<CompressedTier>(r, c, d);
          }};
}

}  // namespace vmemsim::reclaim
