// The kernel-daemon seam (DESIGN.md "Kernel daemons"): a named model object that says when it
// next wants to run and then runs a bounded batch of work through an environment. kswapd,
// ksmd, khugepaged and the NUMA scanner are daemons; so is the vmstat sampler shipped here.
//
// Lifecycle: the world builds daemons from the registry (models/kernel/registry.cpp) for the
// kernel.<name> sections a scenario enables; the engine runs each in its own actor, in the
// registry's order, on a core of the node the daemon names: it sleeps until next_wakeup(),
// calls run_batch(), and repeats until next_wakeup() says never. The engine knows nothing of
// what a daemon does; unit tests drive daemons with a recording fake DaemonEnv.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/params.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::kernel {

using core::TimeNs;

constexpr TimeNs kNever = INT64_MAX;

// What a daemon may spend and ask for while it runs. Every call that takes simulated time
// lets other actors run meanwhile.
class DaemonEnv {
 public:
  virtual ~DaemonEnv() = default;
  virtual TimeNs now() = 0;
  // The daemon computes for d on its core (kthread CPU time competes with vCPUs).
  virtual void cpu(TimeNs d) = 0;
  // One flush_tlb_range() on VM `vm`'s mm: the initiator's cost is the daemon's cpu(); every
  // vCPU of the VM takes an IPI.
  virtual void tlb_flush(core::VmId vm) = 0;
  // A timeline slice for the daemon's track.
  virtual void slice(const char* what, TimeNs start, TimeNs end) = 0;
  // I/O on the host's swap device (reclaim's pageout): returns when the device has done it.
  virtual void swap_io(std::uint64_t bytes, bool write) = 0;
};

// The page allocator's slow path (__alloc_pages_slowpath): a mechanism that can free frames in
// the context of a thread whose allocation failed (direct reclaim). The engine calls it, through
// KernelDaemon::slow_path(), when a vCPU's fault found no free frame on the daemon's host, with
// an environment that charges the vCPU; the vCPU retries the access when frames were freed.
class AllocSlowPath {
 public:
  virtual ~AllocSlowPath() = default;
  // Frames freed for an allocation that preferred `node`.
  virtual std::uint64_t direct_reclaim(DaemonEnv& env, unsigned node) = 0;
};

class KernelDaemon {
 public:
  virtual ~KernelDaemon() = default;
  // Stable, unique among the run's daemons (e.g. "vmstat.h0"): names the actor and the stats.
  virtual const std::string& name() const = 0;
  // The SimGrid host it runs on: (host index, NUMA node with cores).
  virtual unsigned host() const = 0;
  virtual unsigned node() const = 0;
  // The next time it wants to run, at or after `now`; kNever to stop.
  virtual TimeNs next_wakeup(TimeNs now) = 0;
  // One bounded batch of work.
  virtual void run_batch(DaemonEnv& env, TimeNs now) = 0;
  // Its counters, under summary.kernel.daemons.<name> in the result.
  virtual core::Json stats() const = 0;
  // The kthread's CPU time so far (what it charged through DaemonEnv::cpu): the recorder
  // reports it as a share of a core, per sampling interval and over the run.
  virtual TimeNs cpu_ns() const = 0;
  // Sampled into timeseries.kernel.daemons.<name> at every sampling interval, as the per-VM
  // kernel::VmMechanism series are: monotonic counters (in a fixed order) as per-interval
  // deltas, gauges as values.
  virtual void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const { (void)out; }
  virtual void gauges(std::vector<std::pair<std::string, double>>& out) const { (void)out; }
  // The allocator slow path this daemon serves on its host, if any (kswapd: direct reclaim).
  virtual AllocSlowPath* slow_path() { return nullptr; }
  // Its own consistency (--check-invariants); throws InternalError.
  virtual void check_invariants() const {}
};

}  // namespace vmemsim::kernel
