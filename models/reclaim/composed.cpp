#include "models/reclaim/composed.hpp"

namespace vmemsim::reclaim {

using core::Kind;
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

const core::ParamSpec kBatchPagesParam{"batch_pages", Kind::Int, "512", "pages written to the tier per pwrite batch", 1,
                                       1 << 20};
const core::ParamSpec kMemoryTargetParam{
    "memory_target", Kind::Size, "0",
    "evict only while resident memory is above this (0 = evict every page that is old enough)", 0, kInf};
const core::ParamSpec kReadViaParam{
    "read_via", Kind::Enum, "\"odirect\"",
    "how the VMM reads a page it evicts: odirect = pwrite(O_DIRECT) from the guest mapping, pinned with "
    "get_user_pages(); buffered = pwrite through the page cache, copy_from_user() in the VMM thread",
    -kInf, kInf, "odirect|buffered"};

const core::ParamSpec kHandlerThreadsParam{
    "handler_threads", Kind::Int, "1",
    "userfaultfd handler threads serving this VM's sync faults: each reads the next message of the one uffd queue "
    "and serves it (a refetch blocks that thread in its tier read while the others go on)",
    1, 256};
const core::ParamSpec kPrefetchParam{
    "prefetch", Kind::Int, "0",
    "on a refetch, also read up to this many evicted neighbours of the faulting page (contiguous evicted gfns, after "
    "it first, then before it) in the same I/O and install them with the same UFFDIO_COPY; 0 = off",
    0, 1024};

const core::ParamSpec kThpEvictionParam{
    "thp_eviction", Kind::Enum, "\"split\"",
    "how the evictor moves anon THP guest memory (kernel.thp.enabled allowing the VMA): split = 4 KiB pages, a "
    "victim subpage of a PMD mapping is zapped alone (MADV_DONTNEED over part of the PMD splits it and defers the "
    "folio split: its frames are freed when the deferred split runs) and a refault brings back one page; pmd = whole "
    "2 MiB PMD ranges, a range is evicted only when every resident subpage of it is a victim, with one tier write and "
    "one MADV_DONTNEED of the range (zap_huge_pmd: the folio's 512 frames freed at once), and a refault on any "
    "subpage reads the range back and installs it with one UFFDIO_COPY (512 small PTEs, which khugepaged may "
    "collapse again); refault amplification = fetched_pages / refault_faults. No-op where the VMA holds no THP "
    "(enabled never, or madvise without hugepage_advised) and on hugetlb, whose evictor always moves whole huge "
    "pages; refused on shmem (shmem THP is not modelled), with prefetch and with enforce fault",
    -kInf, kInf, "split|pmd"};

void read_vmm_knobs(core::Params& p, const PolicyContext& ctx, EvictorConfig& ec) {
  ec.handler_threads = static_cast<unsigned>(p.get_int(kHandlerThreadsParam));
  ec.prefetch = static_cast<unsigned>(p.get_int(kPrefetchParam));
  ec.thp_pmd = p.get_string(kThpEvictionParam) == "pmd";
  if (!ec.thp_pmd) return;
  // The kernel's THP state is built after the policy (world.cpp), so the unit is decided at
  // run time (Evictor::unit()); what can be refused from the scenario is refused here.
  if (ctx.backing == mm::Backing::Shmem)
    p.error("thp_eviction", "pmd needs anon guest memory: shmem THP (shmem_enabled) is not modelled, a shmem guest "
                            "never has PMD mappings");
  if (ec.prefetch > 0)
    p.error("thp_eviction", "pmd refetches the whole 2MiB range of a refault; prefetch (4 KiB neighbours) is not "
                            "modelled with it");
}

void ComposedPolicy::run_agent(VmmEnv& env, TimeNs until) {
  tracker_->begin(env);
  last_decision_ = env.now();
  while (env.now() + tracker_->interval() < until) {
    const TimeNs since = tracker_->round(env, *sel_);
    Observation o;
    o.now = env.now();
    o.elapsed = o.now - last_decision_;
    o.refaults = ev_.refaults() - last_refaults_;
    o.refault_stall_ns = ev_.refault_stall_ns() - last_stall_;
    o.vcpus = ev_.uffd().vcpus();
    o.resident = ev_.as().rss_pages();
    last_decision_ = o.now;
    last_refaults_ = ev_.refaults();
    last_stall_ = ev_.refault_stall_ns();
    ctl_->observe(o);
    if (limit_) continue;  // the handler keeps the limit at each fault
    victims_.clear();
    const std::uint64_t want = ctl_->want(ev_.as());
    if (want) sel_->pick(want, victims_);
    evict(env, victims_, since);
  }
}

bool ComposedPolicy::evict(VmmEnv& env, const std::vector<core::Gfn>& victims, TimeNs since) {
  if (ev_.claim(victims) == 0) return false;
  const TimeNs t = env.now();
  const bool sync = tracker_->needs_sync();
  if (sync) {
    tracker_->arm(env, ev_);
    ev_.set_mode(env, false);
    tracker_->recheck(env, ev_);
  }
  ev_.evict(env, since);
  if (sync) ev_.set_mode(env, true);
  env.slice("evict", t, env.now());
  return true;
}

void ComposedPolicy::handle_fault(const uffd::FaultMsg& m, VmmEnv& env) {
  // Demand paging with a fixed number of frames: when the fill would take a frame beyond the
  // limit, evict first (the page about to come in is not resident, so it is never a victim).
  // Resident memory is the VMM's RSS (what FixedTarget sizes too, controller.hpp).
  // A victim a racing fault keeps (recheck) leaves the VM over the limit until the next
  // fault; with one vCPU, blocked on this fault, there is no such race.
  if (limit_ && ev_.fill_takes_frame(m)) {
    const std::uint64_t res = ev_.as().rss_pages();
    if (res >= limit_) {
      VMEMSIM_CHECK(tracker_->report_now(env, *sel_), "a frame limit at faults needs a tracker that reports every access");
      fault_victims_.clear();
      sel_->pick(res + 1 - limit_, fault_victims_);
      evict(env, fault_victims_, env.now());
    }
  }
  ev_.handle_fault(m, env, *tracker_);
}

std::vector<core::ParamSpec> age_policy_params(std::initializer_list<core::ParamSpec> tracker) {
  std::vector<core::ParamSpec> t(tracker);
  for (const auto& s : find_selector("age")->params) t.push_back(s);
  t.insert(t.end(), {kBatchPagesParam, kMemoryTargetParam, kReadViaParam, kHandlerThreadsParam, kPrefetchParam,
                     kThpEvictionParam});
  return t;
}

AgeEviction read_age_eviction(core::Params& p, const PolicyContext& ctx) {
  AgeEviction a;
  a.age = static_cast<unsigned>(p.get_int(find_selector("age")->params[0]));
  a.ec.batch = static_cast<std::uint64_t>(p.get_int(kBatchPagesParam));
  a.target_pages = static_cast<std::uint64_t>(p.get_size(kMemoryTargetParam)) / core::kPageSize;
  a.ec.buffered_read = p.get_string(kReadViaParam) == "buffered";
  a.ec.refault_window = a.age;
  read_vmm_knobs(p, ctx, a.ec);
  a.ec.tier = read_tier(p, ctx.tiers);
  return a;
}

void require_sync_eviction(core::Params& p, const PolicyContext& ctx, const char* policy) {
  if (!ctx.caps->set_mode || !(ctx.caps->rwp || ctx.caps->deactivate))
    p.error("policy", std::string(policy) +
                          " tracks without userfaultfd but evicts like uffd-ws (mark the victims, SET_MODE(sync)): it "
                          "needs kernel.variant rfc-v1 or rwp; " + std::string(ctx.caps->name) +
                          " has no way to block the writes that race an eviction");
  if (ctx.caps->rwp && ctx.backing == mm::Backing::Shmem)
    p.error("policy", "the rwp series tracks anon memory here; use rfc-v1 for shmem (DEACTIVATE zaps)");
}

std::unique_ptr<VmmPolicy> compose_age_policy(core::Params& p, const PolicyContext& ctx, AgeEviction a,
                                              const ComposedPolicy::MakeTracker& make_tracker) {
  if (!ctx.uffd) return nullptr;
  auto sel = find_selector("age")->make(p, SelectorContext{ctx.uffd->mm().pages(), ctx.seed});
  return std::make_unique<ComposedPolicy>(std::move(sel), std::make_unique<FixedTarget>(a.target_pages), std::move(a.ec),
                                          *ctx.uffd, make_tracker);
}

}  // namespace vmemsim::reclaim
