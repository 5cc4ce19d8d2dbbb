// `abit-harvest`: the accessed-bit tracker (track_abit.cpp: test-and-clear every young bit per
// round, one TLB shootdown, no faults) with the age-threshold selector, a fixed memory target
// and the shared evictor (victims marked and evicted under SET_MODE(sync)).
#include "models/reclaim/composed.hpp"
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/track_abit.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Kind;
using core::ParamSpec;
constexpr double kInf = std::numeric_limits<double>::infinity();
const ParamSpec kInterval{"interval", Kind::Duration, "\"1s\"",
                          "time between two passes that test and clear every young bit", 1000, kInf};

std::span<const ParamSpec> params() {
  static const std::vector<ParamSpec> table = [] {
    std::vector<ParamSpec> t{kInterval};
    for (const auto& s : find_selector("age")->params) t.push_back(s);
    t.insert(t.end(), {kBatchPagesParam, kMemoryTargetParam, kReadViaParam});
    return t;
  }();
  return table;
}

std::unique_ptr<VmmPolicy> make(core::Params& p, const PolicyContext& ctx) {
  const TimeNs interval = p.get_duration(kInterval);
  const auto age = static_cast<unsigned>(p.get_int(find_selector("age")->params[0]));
  EvictorConfig ec;
  ec.batch = static_cast<std::uint64_t>(p.get_int(kBatchPagesParam));
  const auto target = static_cast<std::uint64_t>(p.get_size(kMemoryTargetParam)) / core::kPageSize;
  ec.buffered_read = p.get_string(kReadViaParam) == "buffered";
  ec.refault_window = age;
  ec.tier = read_tier(p, ctx.tiers);
  if (!ctx.caps->set_mode || !(ctx.caps->rwp || ctx.caps->deactivate))
    p.error("policy", "abit-harvest tracks without userfaultfd but evicts like uffd-ws (mark the victims, "
                      "SET_MODE(sync)): it needs kernel.variant rfc-v1 or rwp; " + std::string(ctx.caps->name) +
                      " has no way to block the writes that race an eviction");
  if (ctx.caps->rwp && ctx.backing == mm::Backing::Shmem)
    p.error("policy", "the rwp series tracks anon memory here; use rfc-v1 for shmem (DEACTIVATE zaps)");
  if (!ctx.uffd) return nullptr;
  auto sel = find_selector("age")->make(p, SelectorContext{ctx.uffd->mm().pages(), ctx.seed});
  return std::make_unique<ComposedPolicy>(std::move(sel), std::make_unique<FixedTarget>(target), std::move(ec), *ctx.uffd,
                                          [&](Evictor& ev, StatSet& s) { return make_abit_tracker(interval, ev, s); });
}

}  // namespace

PolicyInfo detail::abit_harvest_info() {
  return {"abit-harvest",
          "the VMM tests and clears every PTE young bit per interval (clear_refs style: cost per PTE, one TLB "
          "shootdown, no faults, blind between passes); age-threshold eviction under SET_MODE(sync)",
          params(), true, kUffdLoopBytesPerPage, false, make};
}

}  // namespace vmemsim::reclaim
