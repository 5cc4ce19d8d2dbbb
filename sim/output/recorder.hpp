// Samples the models at every sampling instant and turns the run into the deterministic result
// body (DESIGN.md "Output"): summary per VM / host / total, columnar time series, counters by
// mechanism. Reads counters and ground truth only; never changes model state.
//
// Lifecycle: built after the world; the engine's sampler actor calls sample(t) at each
// multiple of the sampling interval up to the duration (all vCPU stamps before t are made by
// then, see AddressSpace::note_access); body() is called once at the end.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "sim/core/params.hpp"
#include "sim/scenario/world.hpp"

namespace vmemsim::output {

using core::Json;
using core::TimeNs;

class Recorder {
 public:
  explicit Recorder(const scenario::World& w);
  void sample(TimeNs now);
  Json body() const;
  std::uint64_t total_accesses() const;

 private:
  struct VmTotals {
    std::uint64_t accesses = 0, writes = 0, remote = 0;
    std::vector<std::uint64_t> faults;  // by fault kind (the router's registration order)
    std::uint64_t lost_writes = 0;
    TimeNs fault_ns = 0, memory_ns = 0, tlb_ns = 0;
    std::vector<TimeNs> fault_ns_by_kind;  // fault_ns by fault kind (router order)
    TimeNs task_work_ns = 0;               // the rest of fault_ns
    std::uint64_t device = 0;
    std::uint64_t stalls = 0, stall_ns = 0;
    std::vector<std::uint64_t> vmm;  // the policy's registered stats (StatSet order)
  };
  VmTotals totals(std::size_t vm) const;

  // A kernel mechanism's or daemon's named counters (as per-interval deltas) and gauges.
  struct Mech {
    std::vector<std::string> names, gauge_names;
    std::vector<std::uint64_t> last;
    std::vector<std::vector<std::uint64_t>> deltas;
    std::vector<std::vector<double>> gauges;
    void sample(const std::vector<std::pair<std::string, std::uint64_t>>& cs,
                const std::vector<std::pair<std::string, double>>& gs);
    Json to_json() const;  // null when it has nothing
  };
  struct VmSeries {
    std::vector<std::vector<std::uint64_t>> resident;  // [node][sample]
    std::vector<std::uint64_t> accesses, writes;
    std::vector<double> remote_ratio;
    std::vector<std::vector<std::uint64_t>> faults;  // [kind][sample]
    std::vector<std::vector<std::uint64_t>> wss;     // [window][sample]
    std::vector<TimeNs> fault_ns;
    std::vector<std::uint64_t> stalls, stall_ns;  // sync userfault stalls per interval
    std::vector<std::uint64_t> spurious;           // ground truth: spurious uffd notifications per interval
    std::uint64_t last_spurious = 0;
    // with a VMM policy: each registered stat that has a series name ([stat][sample]; empty
    // for the others), and the lost-write oracle's running count
    std::vector<std::vector<std::uint64_t>> vmm;
    std::vector<std::uint64_t> lost_writes;
    std::uint64_t peak_resident = 0;
    VmTotals last;
    std::vector<Mech> mech;  // per kernel mechanism (VmKernel::mechanisms order)
  };
  const scenario::World& w_;
  std::vector<TimeNs> t_;
  std::vector<VmSeries> vms_;
  std::vector<std::vector<std::vector<std::uint64_t>>> host_free_;  // [host][node][sample]
  // Per kernel daemon (World::daemons order): its counters and gauges, and its CPU share.
  struct DaemonSeries {
    Mech mech;
    TimeNs last_cpu = 0;
    std::vector<double> cpu_share;
  };
  std::vector<DaemonSeries> daemons_;
};

}  // namespace vmemsim::output
