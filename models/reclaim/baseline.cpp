#include "models/reclaim/baseline.hpp"

#include <map>
#include <string>

#include "models/reclaim/composed.hpp"
#include "models/reclaim/track_oracle.hpp"

namespace vmemsim::reclaim {

using core::Kind;
using core::ParamSpec;
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
const ParamSpec kInterval{"interval", Kind::Duration, "\"1s\"",
                          "time between decisions: the oracle reports the round's accesses, then the target is enforced",
                          1000, kInf};
const ParamSpec kTarget{"memory_target", Kind::Size, "0",
                        "keep resident memory at or below this (0 = memory_target_ratio of guest memory)", 0, kInf};
const ParamSpec kRatio{"memory_target_ratio", Kind::Number, "0.5",
                       "with memory_target 0: the target as a fraction of guest memory", 0.01, 1};
const ParamSpec kEnforce{
    "enforce", Kind::Enum, "\"interval\"",
    "interval = evict down to the target at each decision (resident memory grows past it in between); "
    "fault = a fixed frame limit: before every fault that would fill a frame beyond the target, the oracle "
    "reports every access until that fault and the selector's victims are evicted (sync) first, so resident "
    "memory never exceeds it -- demand paging as `vmemsim replay` simulates it (exact-lru: the misses of an LRU "
    "cache of target pages = first-touch faults + fetched pages, one vCPU; reads of never-written pages map the "
    "zero page and take no frame; fifo likewise; clock differs from replay's in one point: the access that brought "
    "a page in reaches the oracle after the fill, so it sets the reference bit); decisions then only measure. "
    "Costs a pass over all guest pages per fault in the simulator",
    -kInf, kInf, "interval|fault"};
}  // namespace

std::span<const ParamSpec> baseline_params(const char* selector) {
  static std::map<std::string, std::vector<ParamSpec>> tables;
  auto& t = tables[selector];
  if (t.empty()) {
    t = {kInterval, kTarget, kRatio, kEnforce, kBatchPagesParam, kReadViaParam, kHandlerThreadsParam, kPrefetchParam, kThpEvictionParam};
    for (const auto& s : find_selector(selector)->params) t.push_back(s);
  }
  return t;
}

std::unique_ptr<VmmPolicy> make_baseline(core::Params& p, const PolicyContext& ctx, const char* selector) {
  const TimeNs interval = p.get_duration(kInterval);
  auto target = static_cast<std::uint64_t>(p.get_size(kTarget)) / core::kPageSize;
  const double ratio = p.get_number(kRatio);
  const bool at_faults = p.get_string(kEnforce) == "fault";
  EvictorConfig ec;
  ec.batch = static_cast<std::uint64_t>(p.get_int(kBatchPagesParam));
  ec.buffered_read = p.get_string(kReadViaParam) == "buffered";
  read_vmm_knobs(p, ctx, ec);
  // A frame limit at faults evicts the few pages that make room for one fill; a PMD range goes
  // only when all of its resident subpages are victims, which such a pick never holds.
  if (at_faults && ec.thp_pmd)
    p.error("thp_eviction", "pmd evicts whole 2MiB ranges; enforce fault picks single pages to make room for one "
                            "fault (use enforce interval)");
  ec.refault_window = 1;  // back within the round after its eviction: a miss the oracle's order caused
  const SelectorInfo& si = *find_selector(selector);
  const SelectorContext sc{ctx.uffd ? ctx.uffd->mm().pages() : 0, ctx.seed};
  auto sel = si.make(p, sc);
  ec.tier = read_tier(p, ctx.tiers);
  if (si.threshold) p.error("policy", std::string("selector ") + selector + " cannot order victims for a memory target here");
  // A selector that wants the future (opt) gets it only where the scenario fixes the VM's
  // references before the run (PolicyContext::future_problem says why not, and where).
  if (sel->wants_future() && !ctx.future_problem.empty())
    p.sink().add(ctx.future_pointer, std::string("policy ") + selector + " needs the VM's future accesses: " +
                                         ctx.future_problem);
  // The eviction protocol marks the victims and evicts under SET_MODE(sync).
  if (!ctx.caps->set_mode || !(ctx.caps->rwp || ctx.caps->deactivate))
    p.error("policy", "the baselines evict like uffd-ws (mark the victims, SET_MODE(sync)): they need kernel.variant "
                      "rfc-v1 or rwp; " + std::string(ctx.caps->name) + " would fail UFFDIO_API with EINVAL");
  if (ctx.caps->rwp && ctx.backing == mm::Backing::Shmem)
    p.error("policy", "the rwp series tracks anon memory here; use rfc-v1 for shmem (DEACTIVATE zaps)");
  if (!ctx.uffd) return nullptr;
  if (target == 0) target = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(ratio * static_cast<double>(sc.pages)));
  std::shared_ptr<FutureRefs> future;
  if (sel->wants_future()) {
    VMEMSIM_CHECK(ctx.future, "policy " << selector << " built without the VM's future references");
    future = ctx.future;
  }
  auto pol = std::make_unique<ComposedPolicy>(
      std::move(sel), std::make_unique<FixedTarget>(target), std::move(ec), *ctx.uffd,
      [&](Evictor& ev, StatSet& s) { return make_oracle_tracker(interval, ev, s, future); });
  if (at_faults) pol->limit_at_faults(target);
  return pol;
}

}  // namespace vmemsim::reclaim
