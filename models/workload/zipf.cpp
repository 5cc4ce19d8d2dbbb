// `zipf`: P(rank k) ∝ k^-theta over ranks 1..pages, the classic skewed-popularity workload
// (YCSB's default theta is 0.99).
//
// Sampling is W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from
// monotone discrete distributions", ACM TOMACS 6(3):169-184, 1996: invert the integral H of the
// hat function h(x) = x^-theta, round to the nearest integer, accept with a cheap squeeze test
// (almost always) or one more H evaluation. O(1) setup and expected O(1) per draw, exact for
// any theta >= 0 including 1, and no O(pages) zeta table: regions can be 2^28 pages and more.
// The code follows the structure of the Apache Commons RNG implementation of the same paper
// (RejectionInversionZipfSampler), which also handles theta = 1 and theta < 1.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/workload/builtin.hpp"

namespace vmemsim::workload {
namespace {

constexpr core::ParamSpec kParams[] = {
    {"theta", core::Kind::Number, "0.99",
     "skew exponent (dimensionless, 0 <= theta < 10): P(rank k) is proportional to k^-theta; "
     "0 = uniform, 0.99 = YCSB's default",
     0.0, 10.0},
    {"scramble", core::Kind::Bool, "true",
     "spread ranks over the region by a fixed bijection (true), or map rank 1 to page 0, "
     "rank 2 to page 1, ... (false)"},
};

// Draws ranks in [1, n] (Hörmann & Derflinger's algorithm ZRI).
class ZipfRanks {
 public:
  ZipfRanks(std::uint64_t n, double theta)
      : theta_(theta),
        one_minus_theta_(1.0 - theta),
        inv_one_minus_theta_(theta == 1.0 ? 0.0 : 1.0 / (1.0 - theta)),
        n_(n),
        n_plus_half_(static_cast<double>(n) + 0.5) {
    h_x1_ = h_integral(1.5) - 1.0;
    h_n_ = h_integral(n_plus_half_);
    span_ = h_x1_ - h_n_;
    s_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
  }

  std::uint64_t operator()(core::Rng& r) const {
    for (;;) {
      // u is uniform in (H(1.5) - 1, H(n + 1/2)]; the extra 1 is the mass of rank 1.
      const double u = h_n_ + r.uniform() * span_;
      const double x = h_integral_inverse(u);
      const double kx = x + 0.5;
      std::uint64_t k;
      if (!(kx >= 1.0)) k = 1;  // also catches NaN from rounding at the edges
      else if (kx >= n_plus_half_ + 0.5) k = n_;
      else k = static_cast<std::uint64_t>(kx);
      const double kd = static_cast<double>(k);
      // Squeeze: accepts without evaluating H for all but a few percent of draws.
      if (kd - x <= s_ || u >= h_integral(kd + 0.5) - h(kd)) return k;
    }
  }

 private:
  // H(x) = (x^(1-theta) - 1) / (1 - theta), or log(x) at theta = 1 (its limit). Written with
  // expm1/log1p so they stay accurate when theta is close to 1 and their arguments are tiny.
  double h_integral(double x) const {
    const double log_x = std::log(x);
    return theta_ == 1.0 ? log_x : std::expm1(one_minus_theta_ * log_x) * inv_one_minus_theta_;
  }
  double h(double x) const { return std::exp(-theta_ * std::log(x)); }
  double h_integral_inverse(double x) const {
    if (theta_ == 1.0) return std::exp(x);
    double t = x * one_minus_theta_;
    if (t < -1.0) t = -1.0;  // rounding can push t just past the domain of log1p
    return std::exp(log1p_fast(t) * inv_one_minus_theta_);
  }
  // glibc's log1p is twice as slow as its log away from 0, the common case here on the hot
  // path. For |t| >= 1/4, 1 + t rounds with relative error <= 2^-53 and |log1p(t)| > 0.22, so
  // log(1 + t) is as accurate; near 0 only log1p keeps full precision.
  static double log1p_fast(double t) { return std::fabs(t) < 0.25 ? std::log1p(t) : std::log(1.0 + t); }

  double theta_, one_minus_theta_, inv_one_minus_theta_;
  std::uint64_t n_;
  double n_plus_half_;
  double h_x1_ = 0, h_n_ = 0, span_ = 0, s_ = 0;
};

// How a rank becomes a page: rank - 1 directly, or times a multiplier coprime with the region
// size (a bijection on [0, pages)), 64-bit when the product cannot overflow.
enum class Map { kIdentity, kMul64, kMul128 };

class ZipfGenerator final : public Generator {
 public:
  ZipfGenerator(const GenContext& ctx, double theta, bool scramble, double write_ratio)
      : pages_(ctx.pages),
        uniform_(theta == 0.0),
        ranks_(ctx.pages, theta),
        rng_(ctx.rng()),
        write_(write_ratio) {
    if (scramble && pages_ > 1) {
      // A multiplier near pages/phi puts consecutive ranks far apart (Fibonacci hashing);
      // any value coprime with pages is a bijection, and pages - 1 always is, so this ends.
      mul_ = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(static_cast<double>(pages_) * 0.6180339887498949));
      while (std::gcd(mul_, pages_) != 1) ++mul_;
      map_ = pages_ <= (1ull << 32) ? Map::kMul64 : Map::kMul128;
    }
  }

  void fill(core::TimeNs, std::span<Access> out) override {
    // Theta 0 is uniform: skip the transcendental functions (and the map, which is moot).
    if (uniform_) {
      detail::fill_pages(rng_, write_, out, [n = pages_](core::Rng& r) { return r.below(n); });
      return;
    }
    switch (map_) {
      case Map::kIdentity: return run<Map::kIdentity>(out);
      case Map::kMul64: return run<Map::kMul64>(out);
      case Map::kMul128: return run<Map::kMul128>(out);
    }
  }

 private:
  template <Map M>
  void run(std::span<Access> out) {
    const ZipfRanks ranks = ranks_;
    detail::fill_pages(rng_, write_, out, [&ranks, n = pages_, m = mul_](core::Rng& r) {
      const std::uint64_t i = ranks(r) - 1;
      if constexpr (M == Map::kIdentity) {
        (void)n, (void)m;  // this map needs neither
        return i;
      } else if constexpr (M == Map::kMul64) return i * m % n;  // i, m < n <= 2^32
      else return static_cast<std::uint64_t>(static_cast<__uint128_t>(i) * m % n);
    });
  }

  std::uint64_t pages_;
  bool uniform_;
  ZipfRanks ranks_;
  Map map_ = Map::kIdentity;
  std::uint64_t mul_ = 1;
  core::Rng rng_;
  WriteDraw write_;
};

std::unique_ptr<Generator> make_zipf(core::Params& p, const GenContext& ctx, double write_ratio) {
  double theta = p.get_number(kParams[0]);
  // The spec's range is inclusive; 10 itself is excluded (beyond it rank 1 takes ~all draws).
  if (theta >= 10.0) {
    p.error("theta", "theta must be < 10, got " + std::to_string(theta));
    theta = 0.0;
  }
  const bool scramble = p.get_bool(kParams[1]);
  return std::make_unique<ZipfGenerator>(ctx, theta, scramble, write_ratio);
}

}  // namespace

GeneratorInfo detail::zipf_info() {
  return {"zipf", "Zipf(theta) popularity over the region's pages (rejection-inversion sampler)",
          kParams, make_zipf};
}

}  // namespace vmemsim::workload
