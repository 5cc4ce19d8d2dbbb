// `sequential`: a strided scan, page = (start + i * stride) mod pages for access i -- the
// streaming pattern that defeats LRU and that prefetch-aware policies are meant to catch.
//
// The scan wraps modulo the region. If stride and pages are not coprime it revisits only the
// pages/gcd(stride, pages) pages congruent to start modulo gcd(stride, pages), cycling through
// them in the same order forever; a stride that is a multiple of pages repeats one page.
// The write bit is the only random part.
#include <string>

#include "models/workload/builtin.hpp"

namespace vmemsim::workload {
namespace {

constexpr core::ParamSpec kParams[] = {
    {"stride", core::Kind::Int, "1",
     "distance between consecutive accesses (pages, >= 1); wraps modulo the region", 1.0},
    {"start", core::Kind::Int, "0", "page of the first access (page index, 0 <= start < pages)", 0.0},
};

class SequentialGenerator final : public Generator {
 public:
  SequentialGenerator(const GenContext& ctx, std::uint64_t stride, std::uint64_t start, double write_ratio)
      : pages_(ctx.pages), stride_(stride % ctx.pages), next_(start), rng_(ctx.rng()), write_(write_ratio) {}

  void fill(core::TimeNs, std::span<Access> out) override {
    std::uint64_t cur = next_;  // a local, so it stays in a register across the stores
    detail::fill_pages(rng_, write_, out, [&cur, n = pages_, s = stride_](core::Rng&) {
      const std::uint64_t page = cur;
      cur += s;  // both < n: one conditional subtraction instead of a division
      if (cur >= n) cur -= n;
      return page;
    });
    next_ = cur;
  }

 private:
  std::uint64_t pages_;
  std::uint64_t stride_;  // already reduced modulo pages
  std::uint64_t next_;
  core::Rng rng_;
  WriteDraw write_;
};

std::unique_ptr<Generator> make_sequential(core::Params& p, const GenContext& ctx, double write_ratio) {
  const std::int64_t stride = p.get_int(kParams[0]);
  std::int64_t start = p.get_int(kParams[1]);
  if (start < 0 || static_cast<std::uint64_t>(start) >= ctx.pages) {
    // The range depends on the region, so it cannot live in the spec.
    if (start >= 0) {
      p.error("start", "start page " + std::to_string(start) + " is outside the region (" +
                           std::to_string(ctx.pages) + " pages)");
    }
    start = 0;
  }
  return std::make_unique<SequentialGenerator>(ctx, static_cast<std::uint64_t>(stride),
                                               static_cast<std::uint64_t>(start), write_ratio);
}

}  // namespace

GeneratorInfo detail::sequential_info() {
  return {"sequential", "strided scan from `start`, wrapping modulo the region", kParams, make_sequential};
}

}  // namespace vmemsim::workload
