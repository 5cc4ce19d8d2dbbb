// Shared fixture of the unit tests: one VM's kernel objects built the way the world builds
// them (an AddressSpace, then kernel::install_fault_mechanisms() for its fault handlers and
// its uffd context), fault kinds looked up by name, and readable Catch2 output for the strong
// ids.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "models/kernel/registry.hpp"
#include "models/mm/address_space.hpp"
#include "models/mm/host_memory.hpp"
#include "models/uffd/uffd.hpp"
#include "sim/core/types.hpp"

namespace Catch {
template <class Tag, class Rep>
struct StringMaker<vmemsim::core::StrongId<Tag, Rep>> {
  static std::string convert(const vmemsim::core::StrongId<Tag, Rep>& id) { return std::to_string(id.v); }
};
template <>
struct StringMaker<vmemsim::mm::Mapper> {
  static std::string convert(const vmemsim::mm::Mapper& m) {
    return "{vm " + std::to_string(m.vm.v) + ", gfn " + std::to_string(m.gfn.v) + "}";
  }
};
}  // namespace Catch

namespace vmemsim::test {

// The id of the fault kind registered under `name` in the VM's router; fails the test if no
// mechanism registered it.
inline mm::FaultKind kind_of(const mm::AddressSpace& as, std::string_view name) {
  const auto& k = as.router().kinds();
  const auto it = std::find(k.begin(), k.end(), name);
  INFO("fault kind " << name);
  REQUIRE(it != k.end());
  return static_cast<mm::FaultKind>(it - k.begin());
}

// The name of a fault kind id, for messages.
inline std::string kind_name(const mm::AddressSpace& as, mm::FaultKind k) {
  const auto& names = as.router().kinds();
  return k < names.size() ? names[k] : "kind#" + std::to_string(k);
}

inline core::NodeId node(unsigned n) { return core::NodeId(static_cast<std::uint16_t>(n)); }

// One VM as build_world() makes it: the address space plus every registered fault mechanism.
class TestVm {
 public:
  TestVm(mm::AddressSpaceConfig cfg, mm::HostMemory& host, unsigned vcpus = 2, uffd::Costs costs = {})
      : as_(std::make_unique<mm::AddressSpace>(std::move(cfg), host)) {
    k_.as = as_.get();
    k_.vcpus = vcpus;
    k_.uffd_costs = costs;
    kernel::install_fault_mechanisms(k_);
  }
  TestVm(const TestVm&) = delete;
  TestVm& operator=(const TestVm&) = delete;

  mm::AddressSpace& as() { return *as_; }
  const mm::AddressSpace& as() const { return *as_; }
  uffd::Uffd& uffd() { return *k_.uffd; }
  kernel::VmKernel& kernel() { return k_; }

  mm::FaultKind kind(std::string_view name) const { return kind_of(*as_, name); }
  std::string kind_name(mm::FaultKind k) const { return test::kind_name(*as_, k); }
  std::uint64_t faults(std::string_view name) const { return as_->faults(kind(name)); }

  // A vCPU fault on node `node` (vCPU 0 unless given).
  mm::FaultOutcome fault(std::uint64_t g, bool write, unsigned node = 0, core::TimeNs now = 0, unsigned vcpu = 0) {
    return as_->fault(core::Gfn(g), write, vcpu, core::NodeId(static_cast<std::uint16_t>(node)), now);
  }
  mm::Pte pte(std::uint64_t g) const { return as_->pte_at(core::Gfn(g)); }

 private:
  std::unique_ptr<mm::AddressSpace> as_;
  kernel::VmKernel k_;
};

// An address-space config over `nodes` nodes whose fallback order is "own node first, then by
// index", with a 1 us ground-truth epoch.
inline mm::AddressSpaceConfig vm_config(std::uint64_t pages, unsigned nodes, mm::Backing b = mm::Backing::Anon,
                                        mm::Variant v = mm::Variant::Upstream) {
  mm::AddressSpaceConfig c;
  c.pages = pages;
  c.backing = b;
  c.variant = v;
  for (unsigned n = 0; n < nodes; ++n) {
    std::vector<unsigned> order = {n};
    for (unsigned m = 0; m < nodes; ++m)
      if (m != n) order.push_back(m);
    c.fallback.push_back(order);
  }
  c.epoch_ns = 1000;
  c.duration_ns = 10000;
  return c;
}

// A kernel::DaemonEnv that records what a daemon charged: CPU, flushes, swap I/O (reclaim tests).
struct RecEnv : kernel::DaemonEnv {
  core::TimeNs t = 0, cpu_ns = 0;
  std::uint64_t written = 0, read = 0, flushes = 0;
  core::TimeNs now() override { return t; }
  void cpu(core::TimeNs d) override {
    t += d;
    cpu_ns += d;
  }
  void tlb_flush(core::VmId) override { ++flushes; }
  void slice(const char*, core::TimeNs, core::TimeNs) override {}
  void swap_io(std::uint64_t bytes, bool write) override { (write ? written : read) += bytes; }
};

}  // namespace vmemsim::test
