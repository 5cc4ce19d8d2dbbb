// hugetlbfs-backed guest memory (mm/hugetlb.c): the VM's RAM is a hugetlbfs file whose 2 MiB
// folios come from the host's pre-reserved per-node pool (HostMemory::reserve_hugetlb), mapped
// by PMD only and never split (hugetlb folios have no split path), never on the LRU (no kernel
// reclaim or swap), never merged by KSM (ksm_madvise refuses VM_HUGETLB) and never collapsed by
// khugepaged (VM_HUGETLB is not THP-eligible).
//
// Lifecycle: the "hugetlb" fault mechanism (registry.cpp) installs a HugetlbFaults handler into
// every VM whose backing is hugetlb, in front of the THP and core handlers. It takes every fault
// on a none PTE: hugetlb_fault() -> hugetlb_no_page() allocates a folio from the pool and adds
// it to the file's page cache (the AddressSpace's shmem page cache, one slot per 4 KiB subpage
// holding the folio's frame), or finds it there, and maps the whole 2 MiB (the PMD: 512 slots
// with pte::kHuge, pte.hpp). State: nothing beyond the page cache the backing already has.
//
// Not modelled yet: userfaultfd on hugetlb VMAs (MINOR faults, DEACTIVATE/zap and fills at
// huge-page granularity, PAGEMAP_SCAN's PAGE_IS_HUGE); the scenario reader refuses a VMM
// policy on a hugetlb VM.
#pragma once
#include <memory>
#include <optional>

#include "models/mm/address_space.hpp"
#include "models/mm/fault_router.hpp"

namespace vmemsim::kernel {
struct VmKernel;
}

namespace vmemsim::hugetlb {

constexpr unsigned kHugePages = 512;  // pages_per_huge_page(h) for the 2 MiB hstate

class HugetlbFaults final : public mm::FaultHandler {
 public:
  explicit HugetlbFaults(mm::AddressSpace& as);
  std::optional<mm::FaultOutcome> handle(mm::AddressSpace& as, const mm::Fault& f) override;

 private:
  mm::FaultKind k_alloc_ = 0, k_minor_ = 0;
};

// Installs HugetlbFaults when the VM's backing is hugetlb.
void install_hugetlb_faults(kernel::VmKernel& vk);

}  // namespace vmemsim::hugetlb
