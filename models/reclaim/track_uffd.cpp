#include "models/reclaim/track_uffd.hpp"

#include <algorithm>

namespace vmemsim::reclaim {

using core::Gfn;
using core::Kind;
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

const core::ParamSpec kUffdIntervalParam{"interval", Kind::Duration, "\"1s\"",
                                         "time between marking all pages and scanning for cold ones", 1000, kInf};
const core::ParamSpec kUffdRecheckParam{"recheck_after_sync", Kind::Bool, "true",
                                        "after SET_MODE(sync), re-scan the candidates and evict only those still cold"};

namespace {

class UffdTracker final : public Tracker {
 public:
  UffdTracker(const UffdTrackerConfig& c, Evictor& ev, StatSet& s)
      : c_(c), ev_(ev), uffd_(ev.uffd()), as_(ev.as()) {
    s.counter("/scans", scans_, "count");
    s.counter("/pages_walked", pages_walked_, "pages");
    s.counter("/pages_marked", marked_, "pages");
    s.counter("/cpu_ns/scan", cpu_scan_ns_, "ns", nullptr, "/cpu_ns/tracking");
  }

  void start() override { registration_ = uffd_register(uffd_); }
  void begin(VmmEnv& env) override { ev_.charge(env, registration_, ev_.cpu_ioctl_ns(), &ev_.cpu_tracking_part()); }
  TimeNs interval() const override { return c_.interval; }
  bool needs_sync() const override { return c_.sync; }

  TimeNs round(VmmEnv& env, VictimSelector& sel) override {
    const bool rwp = uffd_.caps().rwp;
    // 1. Mark every page: the next access to it is tracked (async: no vCPU stalls). The PTEs
    //    change when the ioctl starts; its CPU time follows.
    const TimeNs mark_time = env.now();
    marked_ += ev_.charge(env, uffd_mark(uffd_, Gfn(0), as_.pages()), ev_.cpu_ioctl_ns(), &ev_.cpu_tracking_part()).ptes;
    env.slice("mark", mark_time, env.now());
    env.sleep(c_.interval);

    // 2. Scan: pages still marked were not touched during the interval.
    const TimeNs t1 = env.now();
    scan_cold(rwp);
    ev_.next_round();
    // The selector hears what the scan saw: residency (PAGEMAP's PRESENT, which the same walk
    // reports) and every resident page not reported cold as accessed.
    ev_.report_scan(sel, cold_, mark_time, t1);
    env.cpu(last_scan_cost_);
    cpu_scan_ns_ += last_scan_cost_;
    env.slice("scan", t1, env.now());
    return mark_time;
  }

  // Under sync mode: keep only the claimed pages still cold (a page touched between the scan
  // and SET_MODE(sync) was restored by the kernel without the handler seeing it).
  void recheck(VmmEnv& env, Evictor& ev) override {
    if (!c_.recheck) return;
    TimeNs cost = uffd_.costs().ioctl_ns;
    for (Gfn g : ev.claimed()) {
      if (!ev.pending(g)) continue;
      if (!uffd_still_marked(uffd_, g)) ev.drop(g);
      cost += uffd_.costs().scan_per_pte_ns;
    }
    env.cpu(cost);
    cpu_scan_ns_ += cost;
  }

  uffd::IoctlResult resolve(const uffd::FaultMsg& m) override { return uffd_resolve(ev_, m); }

 private:
  // PAGEMAP_SCAN over the whole guest, in chunks of kScanChunk pages as a VMM with a bounded
  // output buffer does; the cold pages land in a bitmap (1 bit per page).
  static constexpr std::uint64_t kScanChunk = 1 << 16;
  void scan_cold(bool rwp) {
    uffd::ScanArgs a;
    if (rwp) {
      a.category_mask = uffd::cat::kPresent | uffd::cat::kAccessed;
      a.category_inverted = uffd::cat::kAccessed;
    } else if (as_.anon()) {
      a.category_mask = uffd::cat::kUffdDeactivated;
    } else {
      a.category_mask = uffd::cat::kPresent;
      a.category_inverted = uffd::cat::kPresent;
    }
    cold_.assign((as_.pages() + 63) / 64, 0);
    last_scan_cost_ = 0;
    for (a.start = 0; a.start < as_.pages(); a.start += kScanChunk) {
      a.len = kScanChunk;
      const uffd::ScanResult r = uffd_.pagemap_scan(a);
      pages_walked_ += r.walked;
      last_scan_cost_ += r.cost_ns;
      for (const auto& reg : r.regions)
        for (std::uint64_t g = reg.start; g < reg.start + reg.len; ++g)
          if (as_.anon() || as_.in_file(Gfn(g))) cold_[g / 64] |= 1ull << (g % 64);  // shmem: SEEK_DATA skips holes
    }
    ++scans_;
  }

  UffdTrackerConfig c_;
  Evictor& ev_;
  uffd::Uffd& uffd_;
  mm::AddressSpace& as_;
  std::vector<std::uint64_t> cold_;  // the latest scan's cold pages, 1 bit each
  TimeNs last_scan_cost_ = 0;
  uffd::IoctlResult registration_;
  std::uint64_t scans_ = 0, pages_walked_ = 0, marked_ = 0;
  TimeNs cpu_scan_ns_ = 0;
};

}  // namespace

uffd::IoctlResult uffd_register(uffd::Uffd& u) {
  uffd::Modes m;
  uffd::Features f;
  m.missing = true;  // evicted pages come back through MISSING faults (the evictor's)
  if (u.caps().rwp) {
    m.rwp = true;
    f.rwp_async = true;
  } else {
    m.minor = true;
    f.minor_anon = u.mm().anon();
    f.minor_async = true;
  }
  return u.register_range(m, f);
}

// The tracking verb the kernel offers: RWPROTECT (rwp) or DEACTIVATE (rfc-v1).
uffd::IoctlResult uffd_mark(uffd::Uffd& u, Gfn start, std::uint64_t len) {
  return u.caps().rwp ? u.rwprotect(start, len, true) : u.deactivate(start, len);
}

bool uffd_still_marked(uffd::Uffd& u, Gfn g) {
  const std::uint32_t c = u.categories(g);
  if (u.caps().rwp) return (c & uffd::cat::kPresent) && !(c & uffd::cat::kAccessed);
  if (u.mm().anon()) return (c & uffd::cat::kUffdDeactivated) != 0;
  return !(c & uffd::cat::kPresent) && u.mm().in_file(g);
}

uffd::IoctlResult uffd_resolve(Evictor& ev, const uffd::FaultMsg& m) {
  uffd::Uffd& u = ev.uffd();
  switch (m.reason) {
    // A whole huge page on hugetlb (the message names haddr; a 4 KiB fill is EINVAL there).
    // rfc-v1's anon CONTINUE restores one PTE (04/12): a PMD mapping is split for it.
    case mm::UffdReason::Minor: return u.cont_range(m.gfn, u.page_pages());
    case mm::UffdReason::Rwp: {
      // RWPROTECT(clear) of the evictor's unit: one page, or with thp_eviction pmd the PMD range,
      // which change_protection() -> change_huge_pmd() clears on the PMD itself, where a 4 KiB
      // range would split it first (change_pmd_range() -> __split_huge_pmd()). The range was
      // touched, so it stays resident whole either way (Evictor::drop()).
      const auto [g0, g1] = ev.unit_of(m.gfn.v);
      return u.rwprotect(Gfn(g0), g1 - g0, false);
    }
    case mm::UffdReason::Wp: return u.writeprotect(m.gfn, u.page_pages(), false);
    case mm::UffdReason::Missing: break;
  }
  VMEMSIM_CHECK(false, "uffd tracker asked to resolve a MISSING fault");
  return {};
}

void VictimGuard::arm(VmmEnv& env, Evictor& ev) {
  std::vector<Gfn> v = ev.claimed();
  std::sort(v.begin(), v.end(), [](Gfn a, Gfn b) { return a.v < b.v; });
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i + 1;
    while (j < v.size() && v[j].v == v[j - 1].v + 1) ++j;
    marked_ += ev.charge(env, uffd_mark(ev.uffd(), v[i], j - i), ev.cpu_ioctl_ns(), &ev.cpu_tracking_part()).ptes;
    i = j;
  }
}

void VictimGuard::recheck(VmmEnv& env, Evictor& ev, TimeNs& bucket) {
  TimeNs cost = ev.uffd().costs().ioctl_ns;
  for (Gfn g : ev.claimed()) {
    if (!ev.pending(g)) continue;
    if (!uffd_still_marked(ev.uffd(), g)) ev.drop(g);
    cost += ev.uffd().costs().scan_per_pte_ns;
  }
  env.cpu(cost);
  bucket += cost;
}

std::unique_ptr<Tracker> make_uffd_tracker(const UffdTrackerConfig& c, Evictor& ev, StatSet& stats) {
  return std::make_unique<UffdTracker>(c, ev, stats);
}

}  // namespace vmemsim::reclaim
