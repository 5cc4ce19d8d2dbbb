// The mechanism registry: the explicit, ordered lists of what the modelled kernel is made of.
//
// - Fault mechanisms: per VM, each installs its fault handlers into the VM's fault router.
//   The list's order is the order handlers are offered a fault, so a mechanism that takes
//   some faults of a class sits before the kernel's default path for it.
// - Kernel daemons: per scenario, each reads its own section kernel.<name> (every key declared
//   in its ParamSpec table, its on/off switch first: `enabled`, or the kernel's own knob such as
//   numa_balancing) and builds zero or more daemons; a section may instead (or also) configure
//   per-VM state its fault mechanism installed (VmKernel), as kernel.numa does. The engine starts
//   them in this order, which makes simultaneous wake-ups deterministic.
// Adding a mechanism is a new folder plus a line in a table in registry.cpp.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "models/kernel/daemon.hpp"
#include "models/kernel/mechanism.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/uffd/uffd.hpp"

namespace vmemsim::numa {
class MmNuma;
}
namespace vmemsim::thp {
class ThpFaults;
}

namespace vmemsim::kernel {

// The kernel objects of one VM, as the mechanisms built them.
struct VmKernel {
  mm::AddressSpace* as = nullptr;
  unsigned vcpus = 1;
  uffd::Costs uffd_costs;
  std::unique_ptr<uffd::Uffd> uffd;  // the VM's userfaultfd context (the VMM opens it)
  std::vector<std::unique_ptr<mm::FaultHandler>> handlers;
  // Per-VM mechanism state with counters (the recorder reports each under its name).
  std::vector<std::unique_ptr<VmMechanism>> mechanisms;
  numa::MmNuma* numa = nullptr;  // the mm's NUMA-balancing state (in mechanisms), set by numa_hint
  thp::ThpFaults* thp = nullptr;  // the huge-page fault handler (in handlers), set by thp
};

struct FaultMechanismInfo {
  const char* name;
  const char* summary;
  void (*install)(VmKernel& vk);
};
std::span<const FaultMechanismInfo> fault_mechanisms();
// Runs every fault mechanism's install on a freshly built VM.
void install_fault_mechanisms(VmKernel& vk);

// What a daemon factory sees of the world.
struct HostKernel {
  std::string name;
  mm::HostMemory* memory = nullptr;
  std::vector<unsigned> cpu_nodes;      // nodes with cores, in index order
  std::vector<VmKernel*> vms;           // the VMs on this host, in scenario order
  std::vector<unsigned> node_cores;     // cores per node (0: CPU-less, e.g. CXL memory)
  std::vector<std::vector<TimeNs>> latency_ns;  // DRAM latency [cpu node][memory node]
  std::uint64_t swap_bytes = 0;                 // the host's swap device (hosts[].swap.size)
};
struct DaemonContext {
  std::vector<HostKernel> hosts;  // empty while a scenario is only being validated
  TimeNs duration_ns = 0;
};

struct DaemonInfo {
  const char* name;      // the scenario section kernel.<name>
  const char* summary;
  std::span<const core::ParamSpec> params;  // the on/off switch first
  // Reads the section (problems go to p's sink); builds the daemons when ctx.hosts is set and
  // the section is enabled.
  std::vector<std::unique_ptr<KernelDaemon>> (*make)(core::Params& p, const DaemonContext& ctx);
  // Enabled, the section reclaims guest memory to the host's swap device: the scenario may then
  // give a host's guests more memory than its DRAM, up to DRAM + swap.
  bool overcommit = false;
  // Enabled, the section's state per host frame and per swap slot, in bytes, for the memory
  // estimate (sim/scenario/resources.cpp); it appears there under the section's switch.
  std::uint64_t bytes_per_host_frame = 0;
  std::uint64_t bytes_per_swap_slot = 0;
};
// The section is on: its switch (the first parameter) is true or a non-zero number.
bool daemon_section_on(const DaemonInfo& info, const core::Json& resolved);
std::span<const DaemonInfo> daemon_registry();
const DaemonInfo* find_daemon(std::string_view name);

}  // namespace vmemsim::kernel
