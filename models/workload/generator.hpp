// Access generators: the page-access streams that simulated vCPUs issue.
//
// Lifecycle: the scenario layer builds one Generator per vCPU through the registry
// (make_generator) from the vCPU's workload object; the vCPU actor calls fill() once per batch
// of accesses inside its quantum and applies each access to the page table. fill() is the only
// virtual call on the hot path, amortised over a batch (DESIGN.md "Performance budget").
// Generators are pure: all randomness comes from the Rng stream they are given.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/params.hpp"
#include "sim/core/rng.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::workload {

// One access, packed: page index (relative to the generator's region) << 2 | is_device << 1 |
// is_write. Generators produce CPU accesses; the vCPU marks a share of them as device (GUP)
// accesses after each batch.
using Access = std::uint64_t;
constexpr Access kDeviceBit = 2;
constexpr Access make_access(std::uint64_t page, bool write) { return (page << 2) | (write ? 1u : 0u); }
constexpr std::uint64_t access_page(Access a) { return a >> 2; }
constexpr bool access_is_write(Access a) { return (a & 1u) != 0; }
constexpr bool access_is_device(Access a) { return (a & kDeviceBit) != 0; }

struct GenContext {
  std::uint64_t pages = 0;     // size of the region the generator draws from, in 4 KiB pages
  std::uint64_t seed = 0;      // scenario seed
  std::string path;            // stable component path, e.g. "vm/web/vcpu/0/workload"
  unsigned depth = 0;          // `phases` workloads enclosing this one (bounded: kMaxPhaseDepth)
  unsigned vcpu = 0;           // this vCPU's index among the vCPUs sharing the workload object
  unsigned vcpus = 1;          // how many vCPUs share it (a `trace` may be split over them)
  core::Rng rng() const { return core::Rng::stream(seed, path); }
};

// `phases` inside `phases` recurses through the registry once per level: the reader's
// bounded-nesting rule caps it here, below what the JSON depth limit would allow.
constexpr unsigned kMaxPhaseDepth = 8;

class Generator {
 public:
  virtual ~Generator() = default;
  // Fills `out` with the next accesses; `now` is the simulated time of the first one
  // (time-dependent generators such as `phases` switch on it, at batch granularity).
  virtual void fill(core::TimeNs now, std::span<Access> out) = 0;
  // After fill(): per access, the time from it to the next access, which replaces the vCPU's
  // think time (a trace with timestamps); kGapThink keeps the think time; kGapEnd marks the
  // first slot past the end of a finite stream (the vCPU issues nothing from there on).
  // nullptr (the default, and every generator with an endless untimed stream): think time
  // throughout, so the vCPU's loop does not look at gaps at all.
  virtual const core::TimeNs* gaps() const { return nullptr; }
};
constexpr core::TimeNs kGapThink = -1;
constexpr core::TimeNs kGapEnd = -2;

// Write bit drawn against a 64-bit threshold: one compare per access, no floating point.
class WriteDraw {
 public:
  explicit WriteDraw(double ratio)
      : threshold_(ratio >= 1.0 ? ~0ull : static_cast<std::uint64_t>(ratio * 0x1.0p64)), always_(ratio >= 1.0) {}
  bool operator()(core::Rng& r) const { return always_ || r.next() < threshold_; }
  bool never() const { return threshold_ == 0 && !always_; }

 private:
  std::uint64_t threshold_;
  bool always_;
};

using GeneratorFactory = std::unique_ptr<Generator> (*)(core::Params& p, const GenContext& ctx,
                                                        double write_ratio);

struct GeneratorInfo {
  const char* name;
  const char* summary;
  std::span<const core::ParamSpec> params;  // type-specific parameters (besides `type`, `write_ratio`)
  GeneratorFactory make;
};

// The explicit registry table (registry.cpp): one line per generator, fixed order for `list`.
const std::vector<GeneratorInfo>& generator_registry();
const GeneratorInfo* find_generator(std::string_view name);

// Reads `type` and `write_ratio` from `p`, then the type's own parameters, and builds it.
// Returns nullptr (with errors in p's sink) on bad input. Does not call p.finish().
std::unique_ptr<Generator> make_generator(core::Params& p, const GenContext& ctx);

// Parameters common to every generator, for `describe`.
std::span<const core::ParamSpec> common_generator_params();

}  // namespace vmemsim::workload
