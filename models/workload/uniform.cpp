// `uniform`: every page of the region equally likely, independently per access. The baseline
// with no locality at all (worst case for any working-set tracker).
#include "models/workload/builtin.hpp"

namespace vmemsim::workload {
namespace {

class UniformGenerator final : public Generator {
 public:
  UniformGenerator(const GenContext& ctx, double write_ratio)
      : pages_(ctx.pages), rng_(ctx.rng()), write_(write_ratio) {}

  void fill(core::TimeNs, std::span<Access> out) override {
    detail::fill_pages(rng_, write_, out, [n = pages_](core::Rng& r) { return r.below(n); });
  }

 private:
  std::uint64_t pages_;
  core::Rng rng_;
  WriteDraw write_;
};

std::unique_ptr<Generator> make_uniform(core::Params&, const GenContext& ctx, double write_ratio) {
  return std::make_unique<UniformGenerator>(ctx, write_ratio);
}

}  // namespace

GeneratorInfo detail::uniform_info() {
  return {"uniform", "every page of the region equally likely (no locality)", {}, make_uniform};
}

}  // namespace vmemsim::workload
