// The VMM side of a VM: a tracking/eviction policy run by a VMM agent thread, plus the
// userfaultfd handler thread that serves its sync faults (KERNEL-MODEL.md §4).
//
// Lifecycle: the world builds one policy per VM from `vms[].vmm` through the registry; the
// engine runs `run_agent()` in a VMM actor and `handle_fault()` in a handler actor for every
// sync userfault of that VM. Policies are pure C++: everything that takes simulated time
// (sleeping, CPU work, tier I/O, the mmap lock, waking vCPUs) goes through VmmEnv, which the
// engine implements with SimGrid and unit tests implement with a recording fake.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "models/mm/address_space.hpp"
#include "models/reclaim/tier.hpp"
#include "models/uffd/uffd.hpp"
#include "sim/core/params.hpp"

namespace vmemsim::reclaim {

using core::TimeNs;

// The VMM threads' view of the platform; as a TierIo it also lends the tier its resources.
class VmmEnv : public TierIo {
 public:
  virtual TimeNs now() = 0;
  virtual void sleep(TimeNs d) = 0;
  virtual void mmap_write_lock() = 0;
  virtual void mmap_write_unlock() = 0;  // vCPUs waiting on the lock retry
  virtual void wake_blocked_faults() = 0;  // release the waiters uffd::Uffd::take_woken() hands back
  virtual void wait_eviction() = 0;        // handler: until the eviction batch in flight is done
  virtual void eviction_done() = 0;
  // An ioctl's allocation failed (ENOMEM from UFFDIO_COPY): run the host's allocation slow
  // path (kernel.reclaim's direct reclaim, as __alloc_pages_slowpath() would in this VMM
  // thread) before the ioctl is retried. False when nothing could be freed.
  virtual bool alloc_slow_path(core::NodeId node) = 0;
  // A fault in a VMM thread read a page back from the host's swap (do_swap_page()): the
  // thread waits for that I/O on the host's swap device.
  virtual void swap_read(std::uint64_t bytes) = 0;
  virtual void slice(const char* what, TimeNs start, TimeNs end) = 0;  // timeline phase
};

// Everything a policy measures; the recorder reads it.
struct VmmStats {
  std::uint64_t scans = 0, pages_walked = 0, marked = 0;
  std::uint64_t evicted_pages = 0, fetched_pages = 0, evicted_now = 0;
  std::uint64_t false_cold_evictions = 0;  // fetched back within age_threshold scans of eviction
  std::uint64_t evicted_while_hot = 0;     // truth: accessed between marking and eviction
  std::uint64_t evicted_while_hot_numa = 0;  // ... and its PROT_NONE was set by the NUMA scanner
  std::uint64_t handled_faults = 0, first_touch_faults = 0;
  std::uint64_t eviction_read_faults = 0;  // the VMM's own GUP read of a page to evict faulted (rwp guard)
  std::uint64_t eviction_swap_ins = 0;     // ... found the page in host swap and read it back (double paging)
  std::uint64_t tier_bytes_written = 0, tier_bytes_read = 0, tier_bytes_stored = 0;
  std::uint64_t ioctls = 0, tlb_flushes = 0;
  TimeNs cpu_ioctl_ns = 0, cpu_scan_ns = 0, cpu_handler_ns = 0, lock_held_ns = 0;
  // the latest scan, against ground truth
  std::uint64_t wss_estimate = 0, wss_true = 0, false_cold = 0, false_hot = 0;
  std::uint64_t false_cold_total = 0, false_hot_total = 0;
  std::uint64_t false_cold_numa_total = 0;  // false-cold pages whose PROT_NONE was NUMA's (truth)
};

class VmmPolicy {
 public:
  virtual ~VmmPolicy() = default;
  // Before any vCPU runs: open the VM's userfaultfd and register guest memory, as a VMM does
  // before it starts its vCPU threads. Its CPU time is spent at the start of run_agent().
  virtual void start() = 0;
  virtual void run_agent(VmmEnv& env, TimeNs until) = 0;
  virtual void handle_fault(const uffd::FaultMsg& m, VmmEnv& env) = 0;
  // After the run: end-of-run audits (e.g. lost writes on pages never fetched back).
  virtual void finish() = 0;
  virtual const VmmStats& stats() const = 0;
  virtual const Tier& tier() const = 0;
};

struct PolicyContext {
  const mm::KernelCaps* caps = &mm::kernel_variants().front();
  mm::Backing backing = mm::Backing::Anon;
  TimeNs duration_ns = 0;
  TierContext tiers;
  // Null while a scenario is only being validated: make() then checks and returns nullptr.
  uffd::Uffd* uffd = nullptr;  // the VM's userfaultfd context (its mm is uffd->mm())
};

// Reads the policy's parameters (errors go to p's sink); `make` builds it once the scenario
// is valid.
struct PolicyInfo {
  const char* name;
  const char* summary;
  std::span<const core::ParamSpec> params;
  // Reads and validates the parameters against the kernel variant and backing (problems go to
  // p's sink); builds the policy when ctx.as is set.
  std::unique_ptr<VmmPolicy> (*make)(core::Params& p, const PolicyContext& ctx);
};

const std::vector<PolicyInfo>& policy_registry();
const PolicyInfo* find_policy(std::string_view name);

}  // namespace vmemsim::reclaim
