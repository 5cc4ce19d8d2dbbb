// `damon`: DAMON's region-based access monitoring (mm/damon/core.c, mm/damon/vaddr.c) with a
// DAMOS_PAGEOUT-style action, evicting through the shared evictor under SET_MODE(sync).
//
// The guest memory starts as `min_nr_regions` equal regions (damon_va_init splits the
// monitored range evenly). Every `sample_interval` each region's sampled page is checked
// (damon_va_check_accesses -> damon_va_young: young bit set => nr_accesses++) and a new
// random page of the region is picked and made old (damon_va_prepare_access_checks ->
// damon_va_mkold: clear its young bit); a page not present is not young. Every
// `aggr_interval` (one tracker round), as kdamond_fn() does:
//   kdamond_merge_regions(): ages advance (age = 0 when nr_accesses moved by more than the
//     threshold from the last aggregation, else age++), adjacent regions whose nr_accesses
//     differ by <= threshold (max_nr_accesses/10, at least 1) and whose joint size stays within
//     total/min_nr_regions merge, size-weighted (damon_merge_two_regions); the threshold doubles
//     while there are more than max_nr_regions;
//   the scheme: the pages of a region with nr_accesses == 0 are reported cold this round; the
//     age selector then evicts a page once it has been cold for `age_threshold` consecutive
//     aggregations -- the DAMOS access pattern {nr_accesses 0..0, min_age} kept per page
//     rather than per region (a region's age is averaged by merges; a page's is exact);
//   kdamond_reset_aggregated(): last_nr_accesses = nr_accesses, nr_accesses = 0;
//   kdamond_split_regions(): while nr_regions <= max_nr_regions/2, every region splits in 2
//     (3 when nr_regions < max_nr_regions/3) at random points at 10% steps of its size
//     (damon_split_regions_of: damon_rand(1, 10) * sz / 10).
// Randomness comes from the scenario seed's stream "vmm/damon" (same seed, same regions).
// Cost: per region and sample one young check and one mkold, each a single-address page-table
// walk (charged as one PAGEMAP_SCAN PTE plus one PTE changed of uffd.hpp's costs); no TLB
// shootdown (x86 ptep_test_and_clear_young does not flush). Per-page state: none beyond the
// cold bitmap (counted in the loop's 8 B); the regions cost O(max_nr_regions).
#include "models/reclaim/composed.hpp"
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/track_uffd.hpp"
#include "models/reclaim/uffd_loop.hpp"
#include "sim/core/rng.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Gfn;
using core::Kind;
using core::ParamSpec;
namespace pte = mm::pte;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Defaults: DAMON's (damon_new_ctx(): sample 5 ms, aggr 100 ms, min 10 / max 1000 regions).
const ParamSpec kSample{"sample_interval", Kind::Duration, "\"5ms\"",
                        "time between two access checks of each region's sampled page", 1000, kInf};
const ParamSpec kAggr{"aggr_interval", Kind::Duration, "\"100ms\"",
                      "aggregation interval: nr_accesses counted over it, then merge/scheme/reset/split", 1000, kInf};
const ParamSpec kMinRegions{"min_nr_regions", Kind::Int, "10", "regions the monitored memory starts with, and the "
                            "lower bound merging respects", 1, 1 << 20};
const ParamSpec kMaxRegions{"max_nr_regions", Kind::Int, "1000", "upper bound on regions (splitting stops, "
                            "merging tightens)", 3, 1 << 20};

struct Region {
  std::uint64_t start, end;  // [start, end) in gfns
  std::uint64_t sampled;
  unsigned nr_accesses = 0, last_nr_accesses = 0, age = 0;
};

class DamonTracker final : public Tracker {
 public:
  DamonTracker(TimeNs sample, TimeNs aggr, unsigned min_r, unsigned max_r, std::uint64_t seed, Evictor& ev, StatSet& s)
      : sample_(sample), aggr_(aggr), min_r_(min_r), max_r_(max_r), rng_(core::Rng::stream(seed, "vmm/damon")),
        ev_(ev), uffd_(ev.uffd()), as_(ev.as()), guard_(s) {
    s.counter("/scans", scans_, "count");
    s.counter("/samples", samples_, "count");
    s.gauge("/regions", nr_regions_, "count");
    s.gauge("/regions_max_seen", max_seen_, "count");
    s.counter("/cpu_ns/scan", cpu_scan_ns_, "ns");
    const std::uint64_t n = as_.pages();
    const std::uint64_t k = std::min<std::uint64_t>(min_r_, n);
    for (std::uint64_t i = 0; i < k; ++i) regions_.push_back(Region{n * i / k, n * (i + 1) / k, 0});
    nr_regions_ = max_seen_ = regions_.size();
  }

  void start() override { registration_ = uffd_register(uffd_); }
  void begin(VmmEnv& env) override { ev_.charge(env, registration_, ev_.cpu_ioctl_ns()); }
  TimeNs interval() const override { return aggr_; }
  bool needs_sync() const override { return true; }

  TimeNs round(VmmEnv& env, VictimSelector& sel) override {
    const TimeNs since = env.now();
    const auto& c = uffd_.costs();
    const TimeNs per_region = c.scan_per_pte_ns + c.per_pte_ns;
    uffd::IoctlResult r;
    for (auto& reg : regions_) prepare(reg);
    r.cost_ns = per_region * static_cast<TimeNs>(regions_.size());
    ev_.charge(env, r, cpu_scan_ns_);
    const TimeNs samples = std::max<TimeNs>(1, aggr_ / sample_);
    for (TimeNs i = 0; i < samples; ++i) {
      env.sleep(sample_);
      for (auto& reg : regions_) {
        if (young(reg.sampled)) ++reg.nr_accesses;  // damon_va_check_accesses()
        prepare(reg);                                 // damon_va_prepare_access_checks()
      }
      ++samples_;
      r.cost_ns = 2 * per_region * static_cast<TimeNs>(regions_.size());
      ev_.charge(env, r, cpu_scan_ns_);
    }
    const TimeNs t = env.now();
    merge(static_cast<unsigned>(samples));
    cold_.assign((as_.pages() + 63) / 64, 0);
    for (const auto& reg : regions_)
      if (reg.nr_accesses == 0)
        for (std::uint64_t g = reg.start; g < reg.end; ++g) cold_[g / 64] |= 1ull << (g % 64);
    ++scans_;
    ev_.next_round();
    ev_.report_scan(sel, cold_, since, t);
    for (auto& reg : regions_) {  // kdamond_reset_aggregated()
      reg.last_nr_accesses = reg.nr_accesses;
      reg.nr_accesses = 0;
    }
    split();
    nr_regions_ = regions_.size();
    max_seen_ = std::max<std::uint64_t>(max_seen_, nr_regions_);
    env.slice("scan", since, env.now());
    return since;
  }

  void arm(VmmEnv& env, Evictor& ev) override { guard_.arm(env, ev); }
  void recheck(VmmEnv& env, Evictor& ev) override { guard_.recheck(env, ev, cpu_scan_ns_); }
  uffd::IoctlResult resolve(const uffd::FaultMsg& m) override { return uffd_resolve(ev_, m); }

 private:
  bool young(std::uint64_t g) {
    return pte::present(as_.pte_at(Gfn(g))) && as_.page_table().test_and_clear_young(Gfn(g));
  }
  void prepare(Region& reg) {
    reg.sampled = reg.start + rng_.below(reg.end - reg.start);
    if (pte::present(as_.pte_at(Gfn(reg.sampled)))) as_.page_table().test_and_clear_young(Gfn(reg.sampled));
  }
  static unsigned absdiff(unsigned a, unsigned b) { return a > b ? a - b : b - a; }

  // kdamond_merge_regions() / damon_merge_regions_of() / damon_merge_two_regions().
  void merge(unsigned max_nr_accesses) {
    const unsigned max_thres = std::max(1u, max_nr_accesses / 10);
    const std::uint64_t sz_limit = std::max<std::uint64_t>(1, as_.pages() / min_r_);
    unsigned thres = max_thres;
    bool first = true;
    do {
      std::vector<Region> out;
      for (auto reg : regions_) {
        if (first) reg.age = absdiff(reg.nr_accesses, reg.last_nr_accesses) > thres ? 0 : reg.age + 1;
        if (!out.empty()) {
          Region& l = out.back();
          const std::uint64_t sl = l.end - l.start, sr = reg.end - reg.start;
          if (l.end == reg.start && absdiff(l.nr_accesses, reg.nr_accesses) <= thres && sl + sr <= sz_limit) {
            l.nr_accesses = static_cast<unsigned>((l.nr_accesses * sl + reg.nr_accesses * sr) / (sl + sr));
            l.age = static_cast<unsigned>((l.age * sl + reg.age * sr) / (sl + sr));
            l.end = reg.end;
            continue;
          }
        }
        out.push_back(reg);
      }
      regions_.swap(out);
      first = false;
      thres *= 2;
    } while (regions_.size() > max_r_ && thres / 2 < max_thres);
  }

  // kdamond_split_regions() / damon_split_regions_of().
  void split() {
    if (regions_.size() > max_r_ / 2) return;
    const unsigned subs = regions_.size() < max_r_ / 3 ? 3 : 2;
    std::vector<Region> out;
    for (auto reg : regions_) {
      for (unsigned i = 0; i + 1 < subs; ++i) {
        const std::uint64_t sz = reg.end - reg.start;
        const std::uint64_t sub = (1 + rng_.below(10)) * sz / 10;
        if (sub == 0 || sub >= sz) continue;
        Region left = reg;
        left.end = reg.start + sub;
        out.push_back(left);
        reg.start = left.end;
      }
      out.push_back(reg);
    }
    regions_.swap(out);
  }

  TimeNs sample_, aggr_;
  unsigned min_r_, max_r_;
  core::Rng rng_;
  Evictor& ev_;
  uffd::Uffd& uffd_;
  mm::AddressSpace& as_;
  VictimGuard guard_;
  uffd::IoctlResult registration_;
  std::vector<Region> regions_;
  std::vector<std::uint64_t> cold_;
  std::uint64_t scans_ = 0, samples_ = 0, nr_regions_ = 0, max_seen_ = 0;
  TimeNs cpu_scan_ns_ = 0;
};

std::span<const ParamSpec> params() {
  static const std::vector<ParamSpec> table = age_policy_params({kSample, kAggr, kMinRegions, kMaxRegions});
  return table;
}

std::unique_ptr<VmmPolicy> make(core::Params& p, const PolicyContext& ctx) {
  const TimeNs sample = p.get_duration(kSample);
  const TimeNs aggr = p.get_duration(kAggr);
  const auto min_r = static_cast<unsigned>(p.get_int(kMinRegions));
  const auto max_r = static_cast<unsigned>(p.get_int(kMaxRegions));
  if (aggr < sample) p.error("aggr_interval", "must be at least sample_interval (DAMON's attrs check)");
  if (max_r < min_r) p.error("max_nr_regions", "must be at least min_nr_regions (damon_set_attrs)");
  AgeEviction a = read_age_eviction(p, ctx);
  require_sync_eviction(p, ctx, "damon");
  const std::uint64_t seed = ctx.seed;
  return compose_age_policy(p, ctx, std::move(a), [&](Evictor& ev, StatSet& s) {
    return std::make_unique<DamonTracker>(sample, aggr, min_r, max_r, seed, ev, s);
  });
}

}  // namespace

PolicyInfo detail::damon_info() {
  return {"damon",
          "DAMON regions: one random page per region sampled per sample_interval (young bit checked and "
          "cleared), nr_accesses aggregated per aggr_interval, regions merged/split within min/max_nr_regions; "
          "DAMOS pageout of pages in zero-access regions for age_threshold aggregations, under SET_MODE(sync)",
          params(), true, kUffdLoopBytesPerPage, false, make};
}

}  // namespace vmemsim::reclaim
