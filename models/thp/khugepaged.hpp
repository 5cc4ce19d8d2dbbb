// khugepaged (mm/khugepaged.c), one kernel daemon per host: walks the mm slots of THP-eligible
// VMs PMD range by PMD range, checks each with hpage_collapse_scan_pmd() and collapses the ones
// that pass into a new PMD-mapped folio (collapse_huge_page()). The scan and the collapse are
// ThpVm members (defined in khugepaged.cpp) so that MADV_COLLAPSE uses the same code with
// cc->is_khugepaged false.
//
// Lifecycle: built by the kernel.thp section when THP is on (enabled != never), like the
// kernel's start_stop_khugepaged(). Each wake-up is khugepaged_do_scan(): pages_to_scan in the
// kernel's unit (512 per PMD range examined, whatever the outcome), then scan_sleep_millisecs;
// after a failed huge-page allocation, alloc_sleep_millisecs. At each wake-up it also runs the
// deferred split queue (deferred_split_scan(), which the kernel runs from its shrinker).
//
// Public names: stats() under summary.kernel.daemons.khugepaged.<host>: pages_scanned (the
// kernel's khugepaged/pages_collapsed's sibling counter), pages_collapsed, full_scans,
// alloc_failed_sleeps, deferred_frames_freed, scan_results{name: count}, cpu_ns.
#pragma once
#include <string>
#include <vector>

#include "models/kernel/daemon.hpp"
#include "models/thp/thp.hpp"

namespace vmemsim::thp {

class Khugepaged final : public kernel::KernelDaemon {
 public:
  Khugepaged(std::string name, unsigned host, unsigned node, std::vector<ThpVm*> vms, ThpConfig cfg);

  const std::string& name() const override { return name_; }
  unsigned host() const override { return host_; }
  unsigned node() const override { return node_; }
  TimeNs next_wakeup(TimeNs now) override;
  void run_batch(kernel::DaemonEnv& env, TimeNs now) override;
  core::Json stats() const override;
  TimeNs cpu_ns() const override { return cpu_; }
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;
  void check_invariants() const override;

  // khugepaged_do_scan() without an environment (unit tests): returns the CPU it took and
  // whether an allocation failed.
  struct Pass {
    TimeNs cpu = 0;
    bool alloc_failed = false;
    std::vector<core::VmId> flushes;  // one TLB flush per collapse, by VM
    unsigned swap_reads = 0;
  };
  Pass do_scan(unsigned pages, TimeNs now = 0);

  std::uint64_t pages_scanned() const { return pages_scanned_; }
  std::uint64_t pages_collapsed() const { return pages_collapsed_; }
  std::uint64_t full_scans() const { return full_scans_; }

 private:
  std::string name_;
  unsigned host_, node_;
  std::vector<ThpVm*> vms_;
  ThpConfig cfg_;
  std::size_t cur_vm_ = 0;     // khugepaged_scan.mm_slot
  std::uint64_t cur_pmd_ = 0;  // khugepaged_scan.address
  std::uint64_t pages_scanned_ = 0, pages_collapsed_ = 0, full_scans_ = 0, alloc_sleeps_ = 0;
  std::uint64_t deferred_freed_ = 0;
  std::array<std::uint64_t, kScanResults> results_{};
  TimeNs next_ = 0;
  TimeNs cpu_ = 0;
};

}  // namespace vmemsim::thp
