// The models of one scenario, wired together (no SimGrid): per host its HostMemory, per VM its
// AddressSpace, kernel mechanisms and vCPUs with their generators, and the kernel daemons. The engine drives it; tests and benchmarks can
// drive it directly.
#pragma once
#include <array>
#include <memory>
#include <vector>

#include "models/kernel/registry.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/mm/vcpu.hpp"
#include "models/reclaim/vmm.hpp"
#include "sim/core/histogram.hpp"
#include "sim/scenario/scenario.hpp"

namespace vmemsim::scenario {

struct VmModel {
  const VmSpec* spec;
  std::unique_ptr<mm::AddressSpace> as;
  kernel::VmKernel kernel;  // the mechanisms' per-VM objects: fault handlers, the uffd context
  std::vector<std::unique_ptr<mm::Vcpu>> vcpus;
  std::unique_ptr<reclaim::VmmPolicy> vmm;  // null: no VMM agent
  // Measured by the engine: how long vCPUs stayed blocked on sync userfaults.
  core::Log2Histogram stall_ns;
  // The same stall split by the userfault's reason (UffdReason order: missing, minor, wp, rwp).
  std::array<core::TimeNs, 4> stall_ns_by_reason{};
  core::TimeNs lock_stall_ns = 0;
  // Of the sync-userfault stall, the part spent on notifications ground truth calls spurious
  // (a PROT_NONE uffd did not set), and how many.
  core::TimeNs spurious_stall_ns = 0;
  std::uint64_t spurious_stalls = 0;
  // Kernel reclaim: waiting for swap-in reads, and in direct reclaim.
  core::TimeNs swap_stall_ns = 0, reclaim_stall_ns = 0;
  core::TimeNs vmm_reclaim_ns = 0;  // the uffd handler in direct reclaim (UFFDIO_COPY found no frame)
};

struct World {
  const Scenario* sc = nullptr;
  std::vector<std::unique_ptr<mm::HostMemory>> hosts;
  std::vector<VmModel> vms;
  // Kernel daemons in registry order (then by host): the order the engine starts them in.
  std::vector<std::unique_ptr<kernel::KernelDaemon>> daemons;

  void check_invariants() const;
};

// Allocation order for a fault preferring node n: n, then the others by increasing latency
// from n (ties by index) -- the zonelist order build_zonelists() derives from node distance.
std::vector<std::vector<unsigned>> fallback_orders(const HostSpec& h);

World build_world(const Scenario& sc);

}  // namespace vmemsim::scenario
