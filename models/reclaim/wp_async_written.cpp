// `wp-async-written`: working-set tracking with what upstream Linux has -- userfaultfd
// write-protection in async mode (UFFD_FEATURE_WP_ASYNC, 6.7) and PAGEMAP_SCAN's
// PAGE_IS_WRITTEN (fs/proc/task_mmu.c), the pair CRIU-style dirty tracking uses.
//
//   UFFDIO_WRITEPROTECT(all)       -- once; a write clears the bit in the kernel, no stall
//   sleep(interval)
//   PAGEMAP_SCAN(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN)
//                                  -- the pages written since, re-protected in the same walk
//                                     (one TLB flush)
//   age-threshold eviction of the resident pages not written
//
// Reads do not clear the write-protect bit, so a page that is only read looks cold: it is
// evicted and comes back through a MISSING fault (Q2 of KERNEL-MODEL.md §7: is read tracking
// needed). And upstream has no UFFDIO_SET_MODE: WP_ASYNC cannot be switched to blocking for the
// eviction, so a write between pwrite and MADV_DONTNEED goes through and is lost with the zap
// -- the policy is declared unsafe (PolicyInfo::safe) and the lost-write oracle counts them.
// Anon memory only here (WP on shmem needs the page-cache markers this tracker does not use).
#include "models/reclaim/composed.hpp"
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Gfn;
using core::Kind;
using core::ParamSpec;
constexpr double kInf = std::numeric_limits<double>::infinity();
const ParamSpec kInterval{"interval", Kind::Duration, "\"1s\"",
                          "time between two PAGEMAP_SCANs for written pages (each re-protects what it reports)", 1000,
                          kInf};

class WrittenTracker final : public Tracker {
 public:
  WrittenTracker(TimeNs interval, Evictor& ev, StatSet& s)
      : interval_(interval), ev_(ev), uffd_(ev.uffd()), as_(ev.as()) {
    s.counter("/scans", scans_, "count");
    s.counter("/pages_walked", walked_, "pages");
    s.counter("/pages_marked", marked_, "pages");
    s.counter("/cpu_ns/scan", cpu_scan_ns_, "ns", nullptr, "/cpu_ns/tracking");
  }

  void start() override {
    uffd::Modes m;
    uffd::Features f;
    m.missing = true;  // evicted pages come back through MISSING faults
    m.wp = true;
    f.wp_async = true;
    registration_ = uffd_.register_range(m, f);
  }
  void begin(VmmEnv& env) override { ev_.charge(env, registration_, ev_.cpu_ioctl_ns(), &ev_.cpu_tracking_part()); }
  TimeNs interval() const override { return interval_; }
  bool needs_sync() const override { return false; }  // upstream cannot block WP_ASYNC writes

  TimeNs round(VmmEnv& env, VictimSelector& sel) override {
    const TimeNs since = env.now();
    if (scans_ == 0) marked_ += ev_.charge(env, uffd_.writeprotect(Gfn(0), as_.pages(), true), ev_.cpu_ioctl_ns(), &ev_.cpu_tracking_part()).ptes;
    env.sleep(interval_);
    const TimeNs t = env.now();
    uffd::ScanArgs a;
    a.flags = uffd::kScanWpMatching | uffd::kScanCheckWpAsync;
    a.category_mask = uffd::cat::kWritten | uffd::cat::kPresent;
    cold_.assign((as_.pages() + 63) / 64, ~0ull);  // cold unless reported written
    TimeNs cost = 0;
    for (a.start = 0; a.start < as_.pages(); a.start += kScanChunk) {
      a.len = kScanChunk;
      const uffd::ScanResult r = uffd_.pagemap_scan(a);
      VMEMSIM_CHECK(r.error.empty(), "PAGEMAP_SCAN failed: " << r.error);
      walked_ += r.walked;
      marked_ += r.protected_ptes;
      cost += r.cost_ns;
      for (const auto& reg : r.regions)
        for (std::uint64_t g = reg.start; g < reg.start + reg.len; ++g) cold_[g / 64] &= ~(1ull << (g % 64));
    }
    ++scans_;
    ev_.next_round();
    ev_.report_scan(sel, cold_, since, t);
    env.cpu(cost);
    cpu_scan_ns_ += cost;
    env.slice("scan", t, env.now());
    return since;
  }

  void recheck(VmmEnv&, Evictor&) override {}
  uffd::IoctlResult resolve(const uffd::FaultMsg& m) override { return uffd_.writeprotect(m.gfn, 1, false); }

 private:
  static constexpr std::uint64_t kScanChunk = 1 << 16;
  TimeNs interval_;
  Evictor& ev_;
  uffd::Uffd& uffd_;
  mm::AddressSpace& as_;
  uffd::IoctlResult registration_;
  std::vector<std::uint64_t> cold_;
  std::uint64_t scans_ = 0, walked_ = 0, marked_ = 0;
  TimeNs cpu_scan_ns_ = 0;
};

std::span<const ParamSpec> params() {
  static const std::vector<ParamSpec> table = age_policy_params({kInterval});
  return table;
}

std::unique_ptr<VmmPolicy> make(core::Params& p, const PolicyContext& ctx) {
  const TimeNs interval = p.get_duration(kInterval);
  AgeEviction a = read_age_eviction(p, ctx);
  if (ctx.caps->rwp)
    p.error("policy", "wp-async-written uses VM_UFFD_WP, which the rwp series' VM_UFFD_RWP replaces (they share the PTE "
                      "bit); use kernel.variant upstream or rfc-v1");
  if (ctx.backing != mm::Backing::Anon) p.error("policy", "wp-async-written tracks anon memory here");
  return compose_age_policy(p, ctx, std::move(a),
                            [&](Evictor& ev, StatSet& s) { return std::make_unique<WrittenTracker>(interval, ev, s); });
}

}  // namespace

PolicyInfo detail::wp_async_written_info() {
  return {"wp-async-written",
          "upstream UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN PAGE_IS_WRITTEN (re-protecting what it reports): reads look "
          "cold; no SET_MODE upstream, so writes racing the eviction are lost",
          params(), false, kUffdLoopBytesPerPage, false, make};
}

}  // namespace vmemsim::reclaim
