// Latency histogram with power-of-two buckets: bucket k holds values in [2^(k-1), 2^k) ns
// (bucket 0 holds 0). Fixed memory, exact counts, deterministic; enough resolution for
// stall latencies spanning ns to seconds.
#pragma once
#include <array>
#include <bit>
#include <cstdint>

#include <nlohmann/json.hpp>

namespace vmemsim::core {

class Log2Histogram {
 public:
  void add(std::int64_t v) {
    const std::uint64_t u = v < 0 ? 0 : static_cast<std::uint64_t>(v);
    ++counts_[u == 0 ? 0 : static_cast<std::size_t>(std::bit_width(u))];
    ++n_;
    sum_ += u;
    if (u > max_) max_ = u;
  }
  std::uint64_t count() const { return n_; }
  std::uint64_t sum() const { return sum_; }
  std::uint64_t max() const { return max_; }
  // {"bounds_ns": upper bounds (exclusive) of the non-empty range, "counts": [...], ...}
  nlohmann::json to_json() const {
    std::size_t hi = 0;
    for (std::size_t k = 0; k < counts_.size(); ++k)
      if (counts_[k]) hi = k + 1;
    nlohmann::json b = nlohmann::json::array(), c = nlohmann::json::array();
    for (std::size_t k = 0; k < hi; ++k) {
      b.push_back(k == 0 ? 1ull : (k >= 64 ? ~0ull : (1ull << k)));
      c.push_back(counts_[k]);
    }
    return {{"bounds_ns", b}, {"counts", c}, {"count", n_}, {"sum_ns", sum_}, {"max_ns", max_}};
  }

 private:
  std::array<std::uint64_t, 65> counts_{};
  std::uint64_t n_ = 0, sum_ = 0, max_ = 0;
};

}  // namespace vmemsim::core
