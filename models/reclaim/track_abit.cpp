// The accessed-bit harvesting tracker of `abit-harvest`: the VMM reads and clears the PTE young
// bits itself, as /proc/pid/clear_refs ("1") does -- clear_refs_pte_range() runs
// ptep_test_and_clear_young() on every PTE of the mm, and clear_refs_write() ends with
// flush_tlb_mm() (fs/proc/task_mmu.c): a young bit cleared while a CPU still caches the
// translation would not be set again by the next access, so the flush is what makes the next
// round's bits mean "accessed since the clear". (mmu_notifier_clear_young / kvm_age_gfn is the
// same test-and-clear for the secondary MMU; x86's ptep_clear_flush_young() skips the flush
// and accepts the inaccuracy, which this tracker does not model.)
//
// Each round: sleep `interval`, then one pass that tests and clears the young bit of every
// present PTE (a page whose bit was clear is cold for the round), charged per PTE walked and
// per bit cleared, plus one TLB shootdown of all vCPUs. No faults, no vCPU stalls; blind
// between passes; and it competes with the kernel's own LRU aging (vmscan's
// folio_referenced() clears the same bits).
//
// Tracking needs no userfaultfd, but evicting safely does: victims are marked with the
// kernel's uffd tracking verb and evicted under SET_MODE(sync) (VictimGuard), and refetched
// through MISSING faults, so the policy needs kernel.variant rfc-v1 or rwp.
#include "models/reclaim/track_abit.hpp"

#include "models/reclaim/track_uffd.hpp"

namespace vmemsim::reclaim {

using core::Gfn;
namespace pte = mm::pte;

namespace {

class AbitTracker final : public Tracker {
 public:
  AbitTracker(TimeNs interval, Evictor& ev, StatSet& s)
      : interval_(interval), ev_(ev), uffd_(ev.uffd()), as_(ev.as()), guard_(s) {
    s.counter("/scans", scans_, "count");
    s.counter("/pages_walked", walked_, "pages");
    s.counter("/young_cleared", cleared_, "pages");
    s.counter("/cpu_ns/scan", cpu_scan_ns_, "ns", nullptr, "/cpu_ns/tracking");
  }

  void start() override { registration_ = uffd_register(uffd_); }
  void begin(VmmEnv& env) override { ev_.charge(env, registration_, ev_.cpu_ioctl_ns(), &ev_.cpu_tracking_part()); }
  TimeNs interval() const override { return interval_; }
  bool needs_sync() const override { return true; }

  TimeNs round(VmmEnv& env, VictimSelector& sel) override {
    const TimeNs since = env.now();
    env.sleep(interval_);
    const TimeNs t = env.now();
    // Test and clear every young bit; the pages whose bit was clear are cold.
    const auto& c = uffd_.costs();
    cold_.assign((as_.pages() + 63) / 64, 0);
    uffd::IoctlResult r;
    r.cost_ns = c.ioctl_ns;
    for (std::uint64_t g = 0; g < as_.pages(); ++g) {
      r.cost_ns += c.scan_per_pte_ns;
      ++walked_;
      if (!pte::present(as_.pte_at(Gfn(g)))) continue;
      if (as_.page_table().test_and_clear_young(Gfn(g))) {
        r.cost_ns += c.per_pte_ns;
        ++r.ptes;
      } else {
        cold_[g / 64] |= 1ull << (g % 64);
      }
    }
    cleared_ += r.ptes;
    if (r.ptes) {  // flush_tlb_mm(): one shootdown of every vCPU
      r.flushed = true;
      r.cost_ns += c.tlb_flush_ns + c.tlb_per_vcpu_ns * static_cast<TimeNs>(uffd_.vcpus());
      as_.tlb_flush();
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
  uffd::IoctlResult resolve(const uffd::FaultMsg& m) override { return uffd_resolve(ev_, m); }

 private:
  TimeNs interval_;
  Evictor& ev_;
  uffd::Uffd& uffd_;
  mm::AddressSpace& as_;
  VictimGuard guard_;
  uffd::IoctlResult registration_;
  std::vector<std::uint64_t> cold_;  // this round's cold pages, 1 bit each
  std::uint64_t scans_ = 0, walked_ = 0, cleared_ = 0;
  TimeNs cpu_scan_ns_ = 0;
};

}  // namespace

std::unique_ptr<Tracker> make_abit_tracker(TimeNs interval, Evictor& ev, StatSet& stats) {
  return std::make_unique<AbitTracker>(interval, ev, stats);
}

}  // namespace vmemsim::reclaim
