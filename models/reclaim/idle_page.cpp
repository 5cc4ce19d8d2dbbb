// `idle-page`: the VMM tracks with the page_idle bitmap (/sys/kernel/mm/page_idle/bitmap,
// mm/page_idle.c; Documentation/admin-guide/mm/idle_page_tracking.rst) and evicts with the
// age-threshold selector under SET_MODE(sync), like abit-harvest.
//
// Each round, in two phases separated by a sleep:
//  - mark: the VMM translates every guest page to its PFN (a /proc/pid/pagemap read, charged
//    per PTE like the PAGEMAP_SCAN walk) and writes 1s to the bitmap. page_idle_bitmap_write()
//    calls page_idle_clear_pte_refs() on each page -- an rmap walk (folio_lock/anon_vma lock,
//    page_vma_mapped_walk) that clears the young bit of every PTE mapping it
//    (ptep_clear_young_notify) -- then folio_set_idle(). That rmap walk per page is dearer than
//    a page-table walk per PTE, hence its own cost parameter. x86's ptep_clear_flush_young()
//    does not flush the TLB, so the mark issues no shootdown.
//  - read: after `interval`, page_idle_bitmap_read() reports a page idle only if
//    folio_test_idle() still holds after another page_idle_clear_pte_refs(): a young bit set
//    again clears the idle flag (the access is seen), and a page that faulted in after the mark
//    never had the flag (it counts as accessed). The pages still idle are this round's cold pages.
// The idle flag is the policy's own per-page state (1 bit, allocated when the policy is on):
// the simulator has no struct page flags, so the kernel's PG_idle lives here; a page
// that left memory loses it (its next frame is new, not idle).
#include "models/reclaim/composed.hpp"
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/track_uffd.hpp"
#include "models/reclaim/uffd_loop.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Gfn;
using core::Kind;
using core::ParamSpec;
namespace pte = mm::pte;
constexpr double kInf = std::numeric_limits<double>::infinity();

const ParamSpec kInterval{"interval", Kind::Duration, "\"1s\"",
                          "time between marking every page idle and reading the bitmap back", 1000, kInf};
// No measured figure is cited for the rmap walk (the reference kernel here is built without
// CONFIG_IDLE_PAGE_TRACKING): the default is 10x the per-PTE change_protection() cost of
// uffd.hpp (15 ns), for a walk that takes the folio and anon_vma locks and runs
// page_vma_mapped_walk() for one PTE. Set it from a measurement when one exists.
const ParamSpec kRmapNs{"rmap_per_page_ns", Kind::Int, "150",
                        "CPU ns of one page_idle_clear_pte_refs() rmap walk (mark and read, per page)", 0, 1e9};

class IdlePageTracker final : public Tracker {
 public:
  IdlePageTracker(TimeNs interval, TimeNs rmap_ns, Evictor& ev, StatSet& s)
      : interval_(interval), rmap_ns_(rmap_ns), ev_(ev), uffd_(ev.uffd()), as_(ev.as()), guard_(s),
        idle_((ev.as().pages() + 63) / 64, 0) {
    s.counter("/scans", scans_, "count");
    s.counter("/pages_marked_idle", marked_, "pages");
    s.counter("/pages_still_idle", still_idle_, "pages");
    s.counter("/rmap_walks", walks_, "count");
    s.counter("/cpu_ns/mark", cpu_mark_ns_, "ns");
    s.counter("/cpu_ns/scan", cpu_scan_ns_, "ns");
  }

  void start() override { registration_ = uffd_register(uffd_); }
  void begin(VmmEnv& env) override { ev_.charge(env, registration_, ev_.cpu_ioctl_ns()); }
  TimeNs interval() const override { return interval_; }
  bool needs_sync() const override { return true; }

  TimeNs round(VmmEnv& env, VictimSelector& sel) override {
    const auto& c = uffd_.costs();
    // Mark: pagemap read, then one bitmap write whose every present page costs an rmap walk.
    const TimeNs m0 = env.now();
    uffd::IoctlResult mark;
    mark.cost_ns = 2 * c.ioctl_ns;  // the pagemap read() and the bitmap write()
    for (std::uint64_t g = 0; g < as_.pages(); ++g) {
      mark.cost_ns += c.scan_per_pte_ns;
      clear_idle(g);
      if (!pte::present(as_.pte_at(Gfn(g)))) continue;
      as_.page_table().test_and_clear_young(Gfn(g));  // page_idle_clear_pte_refs()
      idle_[g / 64] |= 1ull << (g % 64);              // folio_set_idle()
      mark.cost_ns += rmap_ns_;
      ++walks_;
      ++marked_;
    }
    ev_.charge(env, mark, cpu_mark_ns_);
    env.slice("mark", m0, env.now());
    const TimeNs since = env.now();
    env.sleep(interval_);
    const TimeNs t = env.now();
    // Read: pagemap again (frames may have changed), then the bitmap; an idle page costs
    // another rmap walk that tests its young bit.
    uffd::IoctlResult r;
    r.cost_ns = 2 * c.ioctl_ns;
    cold_.assign(idle_.size(), 0);
    for (std::uint64_t g = 0; g < as_.pages(); ++g) {
      r.cost_ns += c.scan_per_pte_ns;
      if (!pte::present(as_.pte_at(Gfn(g))) || !is_idle(g)) continue;
      r.cost_ns += rmap_ns_;
      ++walks_;
      if (as_.page_table().test_and_clear_young(Gfn(g))) {
        clear_idle(g);  // referenced: folio_clear_idle()
      } else {
        cold_[g / 64] |= 1ull << (g % 64);
        ++still_idle_;
      }
    }
    ++scans_;
    ev_.next_round();
    ev_.report_scan(sel, cold_, since, t);
    ev_.charge(env, r, cpu_scan_ns_);
    env.slice("scan", t, env.now());
    return since;
  }

  void arm(VmmEnv& env, Evictor& ev) override { guard_.arm(env, ev); }
  void recheck(VmmEnv& env, Evictor& ev) override { guard_.recheck(env, ev, cpu_scan_ns_); }
  // A page that faulted (tracking verb on a victim) is a new mapping: not idle.
  uffd::IoctlResult resolve(const uffd::FaultMsg& m) override {
    clear_idle(m.gfn.v);
    return uffd_resolve(ev_, m);
  }

 private:
  bool is_idle(std::uint64_t g) const { return idle_[g / 64] >> (g % 64) & 1; }
  void clear_idle(std::uint64_t g) { idle_[g / 64] &= ~(1ull << (g % 64)); }

  TimeNs interval_, rmap_ns_;
  Evictor& ev_;
  uffd::Uffd& uffd_;
  mm::AddressSpace& as_;
  VictimGuard guard_;
  uffd::IoctlResult registration_;
  std::vector<std::uint64_t> idle_;  // PG_idle, 1 bit per page
  std::vector<std::uint64_t> cold_;  // this round's cold pages, 1 bit each
  std::uint64_t scans_ = 0, marked_ = 0, still_idle_ = 0, walks_ = 0;
  TimeNs cpu_mark_ns_ = 0, cpu_scan_ns_ = 0;
};

std::span<const ParamSpec> params() {
  static const std::vector<ParamSpec> table = age_policy_params({kInterval, kRmapNs});
  return table;
}

std::unique_ptr<VmmPolicy> make(core::Params& p, const PolicyContext& ctx) {
  const TimeNs interval = p.get_duration(kInterval);
  const auto rmap_ns = static_cast<TimeNs>(p.get_int(kRmapNs));
  AgeEviction a = read_age_eviction(p, ctx);
  require_sync_eviction(p, ctx, "idle-page");
  return compose_age_policy(p, ctx, std::move(a),
                            [&](Evictor& ev, StatSet& s) { return std::make_unique<IdlePageTracker>(interval, rmap_ns, ev, s); });
}

}  // namespace

PolicyInfo detail::idle_page_info() {
  // uffd loop state plus the PG_idle bit (1 bit, rounded up to 1 B; the cold bitmap is
  // counted in the loop's 8 B, as for abit-harvest).
  return {"idle-page",
          "the VMM marks every page idle through the page_idle bitmap (an rmap walk per page clears its young "
          "bits), sleeps, reads the bitmap back (still idle = cold); age-threshold eviction under SET_MODE(sync)",
          params(), true, kUffdLoopBytesPerPage + 1, false, make};
}

}  // namespace vmemsim::reclaim
