// The `kernel.hugetlb` section (hugetlb_section.cpp): what the kernel gives a hugetlbfs-backed
// guest (vms[].backing hugetlb) beyond its faults, which the "hugetlb" fault mechanism
// (hugetlb.hpp) installs. Today that is the TLB reach of its 2 MiB mappings: every access of a
// hugetlb guest goes through a huge PTE, so it takes the saving whether or not THP is enabled
// (hugetlb is not THP: thp_vma_allowable_order() refuses VM_HUGETLB, and kernel.thp skips it).
//
// Lifecycle: the section's make() runs once the VMs are built (world.cpp); unless `enabled` is
// false (on by default: a hugetlb guest's PMDs are there whatever the section says), for each
// hugetlb VM it sets the AddressSpace's huge_saving_ns and adds a HugetlbVm to its mechanisms,
// which the recorder reports under summary.vms[i].kernel.hugetlb. No daemon, no per-page state
// (the report scans one PTE per huge page at the end of the run and per sample).
#pragma once
#include "models/kernel/mechanism.hpp"
#include "models/kernel/registry.hpp"

namespace vmemsim::hugetlb {

// The per-VM report of a hugetlb guest: its huge pages and the TLB-reach saving they gave.
class HugetlbVm final : public kernel::VmMechanism {
 public:
  HugetlbVm(mm::AddressSpace& as, core::TimeNs tlb_saving_ns) : as_(as), tlb_saving_ns_(tlb_saving_ns) {}
  const char* name() const override { return "hugetlb"; }
  core::Json summary() const override;
  void counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const override;
  void gauges(std::vector<std::pair<std::string, double>>& out) const override;

 private:
  std::uint64_t mapped_huge_pages() const;  // huge PTEs present now
  std::uint64_t cached_huge_pages() const;  // folios in the hugetlbfs file (from the pool)
  mm::AddressSpace& as_;
  core::TimeNs tlb_saving_ns_;
};

kernel::DaemonInfo hugetlb_section_info();

}  // namespace vmemsim::hugetlb
