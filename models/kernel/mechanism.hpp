// The per-VM face of a kernel mechanism: its counters, as the result reports them.
//
// Lifecycle: a mechanism that keeps per-VM state (NUMA balancing, later KSM and reclaim)
// adds one object to VmKernel::mechanisms when it is installed. The recorder, which names no
// mechanism, writes summary() under summary.vms[i].kernel.<name>, and samples counters() (as
// per-interval deltas) and gauges() (as values) into series.vms[i].kernel.<name>.<counter>.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/params.hpp"

namespace vmemsim::kernel {

class VmMechanism {
 public:
  virtual ~VmMechanism() = default;
  virtual const char* name() const = 0;
  // The end-of-run summary (counters with their kernel names, per-task detail).
  virtual core::Json summary() const = 0;
  // Monotonic counters, in a fixed order: the series holds their per-interval deltas.
  virtual void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const = 0;
  // Instantaneous values, in a fixed order (e.g. a task's preferred node).
  virtual void gauges(std::vector<std::pair<std::string, double>>& out) const { (void)out; }
};

}  // namespace vmemsim::kernel
