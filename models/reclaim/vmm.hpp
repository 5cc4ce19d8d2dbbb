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
#include "models/reclaim/future.hpp"
#include "models/reclaim/stats.hpp"
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
  // A handler thread waits until the evictor's I/O in flight (an eviction batch, another handler
  // thread's fetch) is done; eviction_done() releases every such waiter, which re-checks.
  virtual void wait_eviction() = 0;
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
  // Every counter and gauge its components registered; the recorder writes them all.
  virtual const StatSet& stats() const = 0;
  virtual const Tier& tier() const = 0;
  // uffd handler threads the engine runs for this VM's sync faults (vms[].vmm.handler_threads);
  // handle_fault() may then run in several of them at once.
  virtual unsigned handler_threads() const { return 1; }
  // Truth: writes already lost in evicted copies that the lost-write oracle will count when the
  // page comes back or in the end-of-run audit, so the time series can show them when they
  // happen.
  virtual std::uint64_t lost_writes_pending() const { return 0; }
};

struct PolicyContext {
  const mm::KernelCaps* caps = &mm::kernel_variants().front();
  mm::Backing backing = mm::Backing::Anon;
  TimeNs duration_ns = 0;
  // Seed of the policy's own random choices (Rng::stream(scenario seed, "<vm path>/vmm")).
  std::uint64_t seed = 0;
  TierContext tiers;
  // Null while a scenario is only being validated: make() then checks and returns nullptr.
  uffd::Uffd* uffd = nullptr;  // the VM's userfaultfd context (its mm is uffd->mm())
  // The VM's future references (future.hpp), for a policy with PolicyInfo::needs_future. The
  // scenario reader sets future_problem when the scenario does not fix them before the run (why
  // not, to be reported at JSON pointer future_pointer); the world builder sets `future`.
  std::string future_problem, future_pointer;
  std::shared_ptr<FutureRefs> future;
};

// Reads the policy's parameters (errors go to p's sink); `make` builds it once the scenario
// is valid.
struct PolicyInfo {
  const char* name;
  const char* summary;
  std::span<const core::ParamSpec> params;
  // False for a policy that can lose guest writes by design (naive-async evicts without
  // blocking faults); the contract test holds every safe policy to zero lost writes.
  bool safe;
  // Bytes of policy state per guest page (tracker, selector, evictor), for the resource
  // estimate (sim/scenario/resources.cpp; measured figures in bench/README.md).
  std::uint64_t bytes_per_page;
  // True when the tracker reads ground truth instead of a kernel mechanism (exact-lru and the
  // other baselines): a bound to compare mechanisms against, not something a VMM can run.
  bool oracle;
  // Reads and validates the parameters against the kernel variant and backing (problems go to
  // p's sink); builds the policy when ctx.uffd is set.
  std::unique_ptr<VmmPolicy> (*make)(core::Params& p, const PolicyContext& ctx);
  // True when the policy can run on a hugetlb-backed VM: every verb it uses works on whole
  // 2 MiB pages (fills and zaps need huge-page-aligned ranges there). The scenario reader
  // refuses the others on hugetlb; make() still checks the kernel variant.
  bool hugetlb = false;
  // True when the policy needs the VM's future references (PolicyContext::future): opt.
  bool needs_future = false;
};

// Whether `info` can run on guest memory of this backing (the scenario reader's check before
// make()).
inline bool policy_accepts_backing(const PolicyInfo& info, mm::Backing b) {
  return b != mm::Backing::Hugetlb || info.hugetlb;
}

const std::vector<PolicyInfo>& policy_registry();
const PolicyInfo* find_policy(std::string_view name);

}  // namespace vmemsim::reclaim
