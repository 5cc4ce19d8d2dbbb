// `uffd-ws` and `naive-async`: the userfaultfd working-set loop of the April 2026 RFC (seed
// 001, "VMM Workflow") as a composition -- the uffd tracker (track_uffd.hpp: DEACTIVATE or
// RWPROTECT, sleep, PAGEMAP_SCAN), the age-threshold selector (select_age.cpp), a fixed memory
// target, and the shared evictor under SET_MODE(sync) (evictor.hpp).
//
// The named mechanisms (uffd-minor-async, uffd-rwp-async, uffd-shmem-zap) are in their own
// files. `naive-async` is the same loop without SET_MODE(sync) and without the re-check: a write that
// lands between pwrite and DONTNEED is lost, and the lost-write oracle sees it when the page
// comes back.
#include "models/reclaim/composed.hpp"
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/track_uffd.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {

using core::ParamSpec;

std::span<const ParamSpec> uffd_loop_params(bool sync) {
  static const std::vector<ParamSpec> table = [] {
    std::vector<ParamSpec> t{kUffdIntervalParam};
    for (const auto& s : find_selector("age")->params) t.push_back(s);
    t.insert(t.end(), {kBatchPagesParam, kMemoryTargetParam, kReadViaParam, kHandlerThreadsParam, kPrefetchParam,
                       kThpEvictionParam, kUffdRecheckParam});
    return t;
  }();
  // naive-async: the same table without recheck_after_sync (the last key).
  static const std::vector<ParamSpec> async_table(table.begin(), table.end() - 1);
  return sync ? std::span<const ParamSpec>(table) : std::span<const ParamSpec>(async_table);
}

std::unique_ptr<VmmPolicy> make_uffd_loop(core::Params& p, const PolicyContext& ctx, bool sync, UffdMechanism need) {
  UffdTrackerConfig tc;
  tc.interval = p.get_duration(kUffdIntervalParam);
  const auto age = static_cast<unsigned>(p.get_int(find_selector("age")->params[0]));
  EvictorConfig ec;
  ec.batch = static_cast<std::uint64_t>(p.get_int(kBatchPagesParam));
  const auto target = static_cast<std::uint64_t>(p.get_size(kMemoryTargetParam)) / core::kPageSize;
  ec.buffered_read = p.get_string(kReadViaParam) == "buffered";
  read_vmm_knobs(p, ctx, ec);
  // A hugetlb refetch is a whole 2 MiB page; prefetch counts 4 KiB neighbours (Evictor::fetch).
  if (ctx.backing == mm::Backing::Hugetlb && ec.prefetch > 0)
    p.error("prefetch", "prefetch is not modelled on hugetlb, where a refetch already brings back a whole 2MiB page");
  tc.recheck = sync ? p.get_bool(kUffdRecheckParam) : false;
  tc.sync = sync;
  ec.refault_window = age;  // evicted after `age` cold rounds: back within as many is a mistake
  ec.tier = read_tier(p, ctx.tiers);
  // The kernel's EINVAL, up front: the workflow needs MINOR_ANON/ASYNC + DEACTIVATE (rfc-v1)
  // or RWP, and SET_MODE.
  if (!ctx.caps->set_mode || !(ctx.caps->rwp || ctx.caps->deactivate))
    p.error("policy", "this workflow needs kernel.variant rfc-v1 (UFFDIO_DEACTIVATE, MINOR_ASYNC, SET_MODE) or rwp "
                      "(UFFDIO_RWPROTECT); " + std::string(ctx.caps->name) + " would fail UFFDIO_API with EINVAL");
  // The rwp series registers VM_UFFD_RWP on file-backed VMAs too (seed 002 guards shmem's
  // khugepaged paths for it): RWPROTECT on shmem PTEs, cold = PRESENT && !ACCESSED over pages in
  // the page cache, eviction by PUNCH_HOLE. Not on hugetlb here.
  if (ctx.caps->rwp && ctx.backing == mm::Backing::Hugetlb)
    p.error("policy", "the rwp series tracks anon and shmem memory here; use rfc-v1 for hugetlb (DEACTIVATE zaps)");
  // A named mechanism: the kernel and backing must give exactly that one.
  const bool anon = ctx.backing == mm::Backing::Anon;
  switch (need) {
    case UffdMechanism::Any: break;
    case UffdMechanism::MinorAnon:
      if (ctx.caps->rwp || !ctx.caps->deactivate || !anon)
        p.error("policy", "uffd-minor-async is rfc-v1's MINOR_ANON + DEACTIVATE loop: it needs kernel.variant rfc-v1 and "
                          "anon backing (uffd-ws picks the mechanism by variant and backing)");
      break;
    case UffdMechanism::RwpAnon:
      if (!ctx.caps->rwp || !anon)
        p.error("policy", "uffd-rwp-async is the rwp series' RWPROTECT loop: it needs kernel.variant rwp and anon backing");
      break;
    case UffdMechanism::ShmemZap:
      if (ctx.caps->rwp || !ctx.caps->deactivate || ctx.backing != mm::Backing::Shmem)
        p.error("policy", "uffd-shmem-zap is rfc-v1's DEACTIVATE-zaps-shmem loop (cold = !PAGE_IS_PRESENT): it needs "
                          "kernel.variant rfc-v1 and shmem backing");
      break;
    case UffdMechanism::HugetlbZap:
      if (ctx.caps->rwp || !ctx.caps->deactivate || ctx.backing != mm::Backing::Hugetlb)
        p.error("policy", "uffd-hugetlb-zap is rfc-v1's DEACTIVATE-zaps-hugetlbfs loop at 2MiB granularity: it needs "
                          "kernel.variant rfc-v1 and hugetlb backing");
      break;
  }
  if (!ctx.uffd) return nullptr;
  // The selector reads its own key again here, now that the VM exists (same value, no error).
  const SelectorContext sc{ctx.uffd->mm().pages(), ctx.seed};
  auto sel = find_selector("age")->make(p, sc);
  return std::make_unique<ComposedPolicy>(std::move(sel), std::make_unique<FixedTarget>(target), std::move(ec), *ctx.uffd,
                                          [&](Evictor& ev, StatSet& s) { return make_uffd_tracker(tc, ev, s); });
}

PolicyInfo detail::uffd_ws_info() {
  return {"uffd-ws", "the RFC's working-set loop: mark all, sleep, PAGEMAP_SCAN, SET_MODE(sync), evict cold, SET_MODE(async)",
          uffd_loop_params(true), true, kUffdLoopBytesPerPage, false,
          [](core::Params& p, const PolicyContext& ctx) { return make_uffd_loop(p, ctx, true, UffdMechanism::Any); },
          /*hugetlb=*/true};
}

PolicyInfo detail::naive_async_info() {
  return {"naive-async", "the same loop evicting in async mode (no SET_MODE(sync)): loses writes that race the eviction",
          uffd_loop_params(false), false, kUffdLoopBytesPerPage, false,
          [](core::Params& p, const PolicyContext& ctx) { return make_uffd_loop(p, ctx, false, UffdMechanism::Any); },
          /*hugetlb=*/true};
}

}  // namespace vmemsim::reclaim
