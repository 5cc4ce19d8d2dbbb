// `senpai`: a pressure-driven memory target, after Facebook's senpai (facebookincubator/senpai,
// senpai.py at c51e8e2; the oomd Senpai plugin is its successor). Senpai sizes a cgroup by moving its
// memory.high: once a second it reads the cgroup's PSI memory "some" total and adds its
// increase to an integral; when the integral exceeds the target (`--pressure`, 10 ms over the
// `--interval` of 6 s) it backs off -- raises the limit by
//   adj = min(max_backoff, max_backoff * (integral / target / coeff_backoff)^2)
// of its current value; otherwise, once `interval` ticks have passed since the last change, it
// probes -- lowers the limit by
//   adj = min(max_probe, max_probe * (target / max(integral, 1) / coeff_probe)^2);
// either resets the integral (Senpai.tick(), Senpai.adjust()). The limit starts at the
// cgroup's current usage (Cgroup.import_limit) and stays within [min_size, max_size]. Here the
// limit is in pages, so a backoff rounds up and a probe rounds down: each moves at least one
// page (senpai rounds bytes down to a page for both).
//
// In a VM the VMM cannot read the guest's PSI. What it does see is the stall its own evictions
// cause: each refault is a MISSING userfault its handler thread serves, and the vCPU waits from
// the fault to the UFFDIO_COPY that resolves it (Evictor::refault_stall_ns(): measured per
// fault from event times, never estimated). The pressure here is that stall time summed over
// the VM's vCPUs, per vCPU and per unit of (simulated) wall time: 0.001 = each vCPU stalled on
// refaults 1 ms per second. (senpai's default, 10 ms per 6 s of one cgroup's "some" time, is
// about 0.0017.) The memory.high analogue is the VMM's target for the VM's resident pages; a
// decision evicts the excess.
//
// The composition. Senpai leaves the choice of pages to the kernel's LRU, which ages pages by
// their referenced (young) bits; the VMM's analogue is A-bit harvesting (track_abit.cpp: each
// tick, sleep `interval`, then test and clear every young bit, one TLB shootdown), feeding the
// exact-lru selector, so victims go in LRU order at tick granularity (pages not seen young for
// the most ticks first; among pages seen in the same tick, lowest gfn first). This controller
// sizes the eviction. The shared evictor writes the victims out: they are marked with the
// kernel's uffd verb, SET_MODE(sync), and those touched since the marking are dropped
// (VictimGuard), so -- unlike the uffd tracker's re-check, which keeps any page touched during
// the round -- a target below the pages touched in one tick is enforced, as memory.high is.
// (The uffd tracker would never evict a page touched since its mark, so a target below the
// tick's working set would not be met and its pressure never seen.)
//
// Per-page state: the evictor's 4.125 B, the LRU list's 8 B and the harvest's cold bitmap
// (1 bit): 12.25 B, rounded up to 13.
#include <cmath>

#include "models/reclaim/composed.hpp"
#include "models/reclaim/registry_detail.hpp"
#include "models/reclaim/track_abit.hpp"

namespace vmemsim::reclaim {
namespace {

using core::Kind;
using core::ParamSpec;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Defaults: senpai.py's (a 1 s tick, --interval 6, --max-probe 0.01, --max-backoff 1.0,
// --coeff-probe 10, --coeff-backoff 20), but for `pressure` (a fraction of the vCPUs' time, see
// above) and `min_target` (its 100 MiB is more than the small guests of the scenarios; 0 leaves
// one page as the floor).
const ParamSpec kInterval{"interval", Kind::Duration, "\"1s\"",
                          "senpai's tick: one A-bit harvest (sleep, test and clear every young bit), one pressure "
                          "reading and, when the pressure is over target, a backoff",
                          1000, kInf};
const ParamSpec kProbeInterval{"probe_interval", Kind::Duration, "\"6s\"",
                               "senpai's --interval: time from the last adjustment to the next probe (rounded to whole "
                               "ticks, at least one); the pressure target is counted over it",
                               1000, kInf};
const ParamSpec kPressure{"pressure", Kind::Number, "0.001",
                          "target refault stall: vCPU time stalled on refaults per vCPU per unit of wall time, over "
                          "probe_interval (senpai: 10 ms per 6 s)",
                          0, 1};
const ParamSpec kMaxProbe{"max_probe", Kind::Number, "0.01",
                          "largest probe: fraction of the target removed when pressure is at or below "
                          "1/coeff_probe of the target pressure",
                          0, 1};
const ParamSpec kMaxBackoff{"max_backoff", Kind::Number, "1.0",
                            "largest backoff: fraction of the target added when pressure is at or above "
                            "coeff_backoff times the target pressure",
                            0, 100};
const ParamSpec kCoeffProbe{"coeff_probe", Kind::Number, "10",
                            "probes scale as (target pressure / observed / coeff_probe)^2 of max_probe", 1e-3, 1e6};
const ParamSpec kCoeffBackoff{"coeff_backoff", Kind::Number, "20",
                              "backoffs scale as (observed / target pressure / coeff_backoff)^2 of max_backoff", 1e-3,
                              1e6};
const ParamSpec kMinTarget{"min_target", Kind::Size, "0",
                           "the target never goes below this (0 = one page)", 0, kInf};
const ParamSpec kMaxTarget{"max_target", Kind::Size, "0",
                           "the target never goes above this (0 = guest memory)", 0, kInf};

struct SenpaiConfig {
  unsigned ticks_per_probe = 6;
  double pressure = 0.001, max_probe = 0.01, max_backoff = 1.0, coeff_probe = 10, coeff_backoff = 20;
  TimeNs probe_interval = 6'000'000'000;
  std::uint64_t min_pages = 1, max_pages = ~0ull;
};

class SenpaiController final : public Controller {
 public:
  explicit SenpaiController(const SenpaiConfig& c) : c_(c) {}

  void register_stats(StatSet& s) override {
    s.gauge("/senpai/target_pages", target_, "pages", "senpai_target_pages");
    // The last tick's pressure, in millionths of the vCPUs' time.
    s.gauge("/senpai/pressure_ppm", pressure_ppm_, "ppm", "senpai_pressure_ppm");
    s.counter("/senpai/ticks", ticks_, "count");
    s.counter("/senpai/probes", probes_, "count", "senpai_probes");
    s.counter("/senpai/backoffs", backoffs_, "count", "senpai_backoffs");
    s.counter("/senpai/stall_ns", stall_total_, "ns");
  }

  void observe(const Observation& o) override {
    if (!started_) {
      // Cgroup.import_limit(): the first limit is the current usage.
      started_ = true;
      target_ = clamp(o.resident);
      grace_ = c_.ticks_per_probe;
    }
    ++ticks_;
    stall_total_ += static_cast<std::uint64_t>(o.refault_stall_ns);
    integral_ += static_cast<double>(o.refault_stall_ns);
    const double vcpu_ns = static_cast<double>(o.elapsed) * o.vcpus;
    pressure_ppm_ = vcpu_ns > 0 ? static_cast<std::uint64_t>(std::llround(1e6 * static_cast<double>(o.refault_stall_ns) / vcpu_ns)) : 0;
    // senpai's target is an amount of stall over its sampling interval; here it is that
    // fraction of the vCPUs' time over probe_interval.
    const double goal = c_.pressure * static_cast<double>(c_.probe_interval) * o.vcpus;
    if (integral_ > goal) {
      // Back off: more aggressively the further pressure is over target.
      const double err = integral_ / goal;
      const double adj = std::min(c_.max_backoff, c_.max_backoff * (err / c_.coeff_backoff) * (err / c_.coeff_backoff));
      // Rounded up: a backoff gives back at least one page.
      target_ = std::min(c_.max_pages, static_cast<std::uint64_t>(std::ceil(static_cast<double>(target_) * (1 + adj))));
      ++backoffs_;
      adjusted();
      return;
    }
    if (grace_) {
      --grace_;
      return;
    }
    // Probe: tighten, more aggressively the further pressure is under target.
    const double err = goal / std::max(integral_, 1.0);
    const double adj = std::min(c_.max_probe, c_.max_probe * (err / c_.coeff_probe) * (err / c_.coeff_probe));
    // Rounded down: a probe takes at least one page.
    const auto lowered = static_cast<std::uint64_t>(std::floor(static_cast<double>(target_) * (1 - adj)));
    target_ = std::max(c_.min_pages, std::min(lowered, target_ ? target_ - 1 : 0));
    ++probes_;
    adjusted();
  }

  std::uint64_t want(const mm::AddressSpace& as) override {
    if (!started_) return 0;
    const std::uint64_t res = as.rss_pages();  // the VMM's RSS, as FixedTarget (controller.hpp)
    return res > target_ ? res - target_ : 0;
  }

 private:
  std::uint64_t clamp(std::uint64_t pages) const { return std::max(c_.min_pages, std::min(c_.max_pages, pages)); }
  // Senpai.adjust(): the integral starts again, and the next probe is a full interval away.
  void adjusted() {
    integral_ = 0;
    grace_ = c_.ticks_per_probe - 1;
  }

  SenpaiConfig c_;
  bool started_ = false;
  double integral_ = 0;  // refault stall (ns, summed over vCPUs) since the last adjustment
  unsigned grace_ = 0;   // ticks until the next probe
  std::uint64_t target_ = 0, pressure_ppm_ = 0, ticks_ = 0, probes_ = 0, backoffs_ = 0, stall_total_ = 0;
};

std::span<const ParamSpec> params() {
  static const std::vector<ParamSpec> table = {kInterval,   kProbeInterval, kPressure,  kMaxProbe,
                                               kMaxBackoff, kCoeffProbe,    kCoeffBackoff, kMinTarget,
                                               kMaxTarget,  kBatchPagesParam, kReadViaParam};
  return table;
}

std::unique_ptr<VmmPolicy> make(core::Params& p, const PolicyContext& ctx) {
  const TimeNs interval = p.get_duration(kInterval);
  SenpaiConfig c;
  c.probe_interval = p.get_duration(kProbeInterval);
  c.pressure = p.get_number(kPressure);
  c.max_probe = p.get_number(kMaxProbe);
  c.max_backoff = p.get_number(kMaxBackoff);
  c.coeff_probe = p.get_number(kCoeffProbe);
  c.coeff_backoff = p.get_number(kCoeffBackoff);
  const auto min_b = static_cast<std::uint64_t>(p.get_size(kMinTarget));
  const auto max_b = static_cast<std::uint64_t>(p.get_size(kMaxTarget));
  EvictorConfig ec;
  ec.batch = static_cast<std::uint64_t>(p.get_int(kBatchPagesParam));
  ec.buffered_read = p.get_string(kReadViaParam) == "buffered";
  ec.refault_window = 1;  // fetched back within the tick after its eviction: the probe went too far
  ec.tier = read_tier(p, ctx.tiers);
  if (c.pressure <= 0) p.error("pressure", "must be above 0 (a zero target would back off on every refault)");
  if (max_b && min_b > max_b) p.error("min_target", "must be at most max_target");
  // Evicts like uffd-ws (victims marked, SET_MODE(sync)): the kernel's EINVAL up front.
  require_sync_eviction(p, ctx, "senpai");
  c.ticks_per_probe = static_cast<unsigned>(
      std::max<TimeNs>(1, (c.probe_interval + interval / 2) / std::max<TimeNs>(1, interval)));
  if (!ctx.uffd) return nullptr;
  const std::uint64_t pages = ctx.uffd->mm().pages();
  c.max_pages = max_b ? std::min(pages, max_b / core::kPageSize) : pages;
  c.min_pages = std::min(c.max_pages, std::max<std::uint64_t>(1, min_b / core::kPageSize));
  auto sel = find_selector("exact-lru")->make(p, SelectorContext{pages, ctx.seed});
  return std::make_unique<ComposedPolicy>(std::move(sel), std::make_unique<SenpaiController>(c), std::move(ec), *ctx.uffd,
                                          [&](Evictor& ev, StatSet& s) { return make_abit_tracker(interval, ev, s); });
}

}  // namespace

PolicyInfo detail::senpai_info() {
  return {"senpai",
          "senpai's pressure controller (facebookincubator/senpai) on a VM: a memory target probed down while the "
          "vCPUs' stall on refaults the VMM serves (fault to UFFDIO_COPY, per vCPU per second) stays under `pressure`, "
          "backed off when it exceeds it; A bits harvested per tick order pages least recently seen young first; "
          "the excess over the target is evicted under SET_MODE(sync)",
          params(), true, 13, false, make};
}

}  // namespace vmemsim::reclaim
