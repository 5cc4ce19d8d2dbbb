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
// userfaultfd on a hugetlb VMA (models/uffd) works on whole huge pages through the helpers
// below: a fill (UFFDIO_COPY, UFFDIO_CONTINUE) allocates or maps a whole folio, a zap
// (MADV_DONTNEED, DEACTIVATE) clears the whole PMD, a hole punch frees the folio to the pool.
// The fault handler also takes faults on uffd-wp markers (hugetlb_no_page() keeps the bit).
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

// is_vm_hugetlb_page(vma)
inline bool is_hugetlb(const mm::AddressSpace& as) { return as.config().backing == mm::Backing::Hugetlb; }
// The first page of the huge page holding g (address & huge_page_mask(h)).
inline std::uint64_t haddr(std::uint64_t g) { return g / kHugePages * kHugePages; }

// alloc_hugetlb_folio() under the VMA's mempolicy (dequeue_hugetlb_folio_vma: the policy's
// first node, then the zonelist order) and hugetlb_add_to_page_cache() at index g0 (aligned).
// The pool cannot run dry: hugetlb_reserve_pages() reserved the whole file at mmap time.
void alloc_folio(mm::AddressSpace& as, core::Gfn g0, core::NodeId cpu_node);
// set_huge_pte_at() of the page-cache folio at g0: its 512 slots become one PMD mapping;
// `uffd_wp` carries a uffd-wp marker's bit into the new entry (hugetlb_no_page()).
void map_folio(mm::AddressSpace& as, core::Gfn g0, bool uffd_wp);
// __unmap_hugepage_range() on the PMD at g0: the whole entry goes; a uffd-wp entry leaves a
// marker when `keep_marker` (the VMA is VM_UFFD_WP and no ZAP_FLAG_DROP_MARKER). The folio
// stays in the page cache. Returns whether a mapping was cleared.
bool zap_folio(mm::AddressSpace& as, core::Gfn g0, bool keep_marker);
// hugetlbfs_punch_hole() -> remove_inode_hugepages() on the folio at g0: unmapped
// (hugetlb_vmdelete_list, uffd-wp markers kept as for a zap) and freed back to the node's pool
// (free_huge_folio). Returns whether a folio was there.
// The partial huge pages at a hole's ends are zeroed instead (zero_partial, below).
bool punch_folio(mm::AddressSpace& as, core::Gfn g0, bool keep_marker);

// hugetlbfs_zero_partial_page() on [g, g + n), inside one huge page: when its folio is in the
// page cache (filemap_lock_hugetlb_folio), folio_zero_segment() zeroes those subpages in place.
// Nothing is unmapped and no PTE changes; the pages now hold zeroes (content::kZero when the VM
// tracks content) and the guest sees data version 0 from `now` (the ground truth records a lost
// write if it had written them: nobody kept a copy). Returns whether a folio was there.
bool zero_partial(mm::AddressSpace& as, core::Gfn g, std::uint64_t n, core::TimeNs now);

// Installs HugetlbFaults when the VM's backing is hugetlb.
void install_hugetlb_faults(kernel::VmKernel& vk);

}  // namespace vmemsim::hugetlb
