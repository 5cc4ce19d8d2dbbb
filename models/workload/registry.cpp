// The explicit generator registry: one line per generator, in the order `vmemsim list` shows
// them (STYLE.md: no self-registering statics, whose order depends on link order).
#include <array>
#include <limits>
#include <string>

#include "models/workload/builtin.hpp"

namespace vmemsim::workload {

const std::vector<GeneratorInfo>& generator_registry() {
  static const std::vector<GeneratorInfo> table = {
      detail::uniform_info(),
      detail::zipf_info(),
      detail::hot_cold_info(),
      detail::sequential_info(),
      detail::phases_info(),
      detail::trace_info(),
  };
  return table;
}

const GeneratorInfo* find_generator(std::string_view name) {
  for (const GeneratorInfo& g : generator_registry()) {
    if (name == g.name) return &g;
  }
  return nullptr;
}

std::span<const core::ParamSpec> common_generator_params() {
  // `type`'s choices come from the table, so they cannot drift from it.
  static const std::string choices = [] {
    std::string s;
    for (const GeneratorInfo& g : generator_registry()) {
      if (!s.empty()) s += '|';
      s += g.name;
    }
    return s;
  }();
  static const std::array<core::ParamSpec, 2> specs = {{
      {"type", core::Kind::Enum, nullptr, "which access generator (a registered name)",
       -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
       choices.c_str()},
      {"write_ratio", core::Kind::Number, "0.0",
       "share of accesses that are writes (fraction, 0..1)", 0.0, 1.0},
  }};
  return specs;
}

std::unique_ptr<Generator> detail::make_generator_with_write_default(core::Params& p,
                                                                     const GenContext& ctx,
                                                                     double default_write_ratio) {
  const std::size_t errors_before = error_count(p);
  const auto common = common_generator_params();
  const std::string type = p.get_string(common[0]);
  const GeneratorInfo* info = error_count(p) == errors_before ? find_generator(type) : nullptr;

  core::ParamSpec write_spec = common[1];
  const std::string write_default = core::Json(default_write_ratio).dump();
  write_spec.def = write_default.c_str();
  const double write_ratio = p.get_number(write_spec);

  if (ctx.pages == 0) p.error_here("the workload's memory region is empty (0 pages)");
  if (!info || ctx.pages == 0) {
    // Without a usable type, declare every generator's keys so the caller's finish() does not
    // bury the real error under "unknown key" reports for keys that are merely unread.
    for (const GeneratorInfo& g : generator_registry()) {
      for (const core::ParamSpec& s : g.params) p.raw(s.name);
    }
    return nullptr;
  }
  std::unique_ptr<Generator> gen = info->make(p, ctx, write_ratio);
  if (error_count(p) != errors_before) return nullptr;
  return gen;
}

std::unique_ptr<Generator> make_generator(core::Params& p, const GenContext& ctx) {
  return detail::make_generator_with_write_default(p, ctx, 0.0);
}

}  // namespace vmemsim::workload
