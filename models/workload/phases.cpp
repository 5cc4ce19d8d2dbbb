// `phases`: a sequence of workloads, each for a duration -- program phases, a daily cycle, a
// working set that moves. After the last phase it starts over (`repeat`) or stays on the last.
//
// Semantics:
//  - The phase is chosen from the `now` passed to fill(), once per batch: a batch that
//    straddles a boundary belongs to the phase of its first access (the vCPU quantum already
//    bounds time resolution; DESIGN.md "Time and the vCPU quantum").
//  - Each phase owns one generator for the whole run, with its own rng stream
//    (<path>/phase/<i>); when a phase comes round again it resumes where it stopped (a scan
//    continues, it does not restart).
//  - A phase's generator sees time relative to the start of the phase's current occurrence,
//    so a nested `phases` workload lays out its durations inside its parent phase.
//  - `write_ratio` on the phases object is the default for every phase's workload.
#include <algorithm>
#include <string>
#include <vector>

#include "models/workload/builtin.hpp"

namespace vmemsim::workload {
namespace {

constexpr core::ParamSpec kParams[] = {
    {"phases", core::Kind::Array, nullptr,
     "the phases, in order: objects {duration: time the phase lasts (ns or a string such as "
     "\"250ms\", > 0), workload: a workload object with its own type and parameters}"},
    {"repeat", core::Kind::Bool, "true",
     "after the last phase, start again from the first (true) or stay on the last (false)"},
};

// Keys of one phase object. The limits are checked by hand for a clearer message.
constexpr core::ParamSpec kDuration = {"duration", core::Kind::Duration, nullptr,
                                       "time the phase lasts (ns or a string such as \"250ms\"), > 0"};

struct Phase {
  core::TimeNs end;  // end of the phase within one cycle (cumulative durations), ns
  std::unique_ptr<Generator> gen;
};

class PhasesGenerator final : public Generator {
 public:
  PhasesGenerator(std::vector<Phase> phases, bool repeat) : phases_(std::move(phases)), repeat_(repeat) {}

  void fill(core::TimeNs now, std::span<Access> out) override {
    const core::TimeNs cycle = phases_.back().end;
    core::TimeNs t = now < 0 ? 0 : now;  // time within the current cycle
    if (repeat_) t %= cycle;
    const core::TimeNs at = t < cycle ? t : cycle - 1;  // past the end (no repeat): the last phase
    // Batches arrive in time order, so the current phase almost always still holds.
    if (!(at >= begin_of(cur_) && at < phases_[cur_].end)) {
      auto it = std::upper_bound(phases_.begin(), phases_.end(), at,
                                 [](core::TimeNs v, const Phase& ph) { return v < ph.end; });
      cur_ = static_cast<std::size_t>(it - phases_.begin());
    }
    phases_[cur_].gen->fill(t - begin_of(cur_), out);
  }
  // The gaps of the phase that filled the last batch (a timed trace inside a phase).
  const core::TimeNs* gaps() const override { return phases_[cur_].gen->gaps(); }

 private:
  core::TimeNs begin_of(std::size_t i) const { return i == 0 ? 0 : phases_[i - 1].end; }

  std::vector<Phase> phases_;
  bool repeat_;
  std::size_t cur_ = 0;
};

std::unique_ptr<Generator> make_phases(core::Params& p, const GenContext& ctx, double write_ratio) {
  const std::size_t errors_before = detail::error_count(p);
  if (ctx.depth >= kMaxPhaseDepth) {
    p.raw("phases");
    p.raw("repeat");
    p.error_here("`phases` workloads nested more than " + std::to_string(kMaxPhaseDepth) + " deep");
    return nullptr;
  }
  std::vector<core::Params> items = p.items("phases", true);
  const bool repeat = p.get_bool(kParams[1]);
  // Each phase owns a generator per vCPU for the whole run: a bounded count keeps that state
  // (and the reader's time) proportional to a plausible program, not to the file size.
  constexpr std::size_t kMaxPhases = 4096;
  if (items.size() > kMaxPhases) {
    p.error("phases", "at most " + std::to_string(kMaxPhases) + " phases, got " + std::to_string(items.size()));
    return nullptr;
  }
  if (p.has("phases") && items.empty() && detail::error_count(p) == errors_before) {
    p.error("phases", "must list at least one phase");
  }
  std::vector<Phase> phases;
  core::TimeNs end = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    core::Params& item = items[i];
    if (!item.present()) continue;  // not an object: already reported, nothing more to say
    const std::size_t errors_before_duration = detail::error_count(item);
    const core::TimeNs d = item.get_duration(kDuration);
    if (d <= 0 && detail::error_count(item) == errors_before_duration) {
      item.error("duration", "a phase must last > 0 ns, got " + std::to_string(d));
    }
    if (__builtin_add_overflow(end, d, &end)) {
      item.error("duration", "the phases' total duration overflows 64-bit nanoseconds");
    }
    core::Params wl = item.child("workload", true);
    GenContext sub{ctx.pages, ctx.seed, ctx.path + "/phase/" + std::to_string(i), ctx.depth + 1};
    std::unique_ptr<Generator> gen;
    if (wl.present()) gen = detail::make_generator_with_write_default(wl, sub, write_ratio);
    wl.finish();
    item.finish();
    phases.push_back({end, std::move(gen)});
  }
  if (phases.empty() || detail::error_count(p) != errors_before) return nullptr;
  return std::make_unique<PhasesGenerator>(std::move(phases), repeat);
}

}  // namespace

GeneratorInfo detail::phases_info() {
  return {"phases",
          "a sequence of workloads, each for a duration, switched by simulated time; write_ratio "
          "is the phases' default",
          kParams, make_phases};
}

}  // namespace vmemsim::workload
