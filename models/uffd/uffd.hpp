// userfaultfd: the context of one VM (struct userfaultfd_ctx), registered over the VM's guest
// memory: its features and mode, the message queue between faulting threads and the VMM's
// handler, the rule for which blocked faults a mode switch wakes, and its ioctls
// (KERNEL-MODEL.md §3 items 5-9; fs/userfaultfd.c, mm/userfaultfd.c and the seed patches).
//
// Lifecycle: one per VM, created with the VM's kernel objects; the uffd fault handler
// (uffd_faults.cpp, installed by the mechanism registry) queues sync faults here; the VMM
// (models/reclaim policies) registers the range, reads messages through read() in its handler
// thread and calls the ioctls, which change PTEs through the page table's transitions and
// return their cost. A feature the kernel variant lacks is refused with the kernel's EINVAL.
// The engine only supplies the wait channels: it parks a blocked vCPU under its waiter id and
// releases the ids that read() and take_woken() hand back.
// On a hugetlb VMA (models/hugetlb) every verb works on whole 2 MiB pages, as
// vma_kernel_pagesize() makes the kernel's do: messages carry the huge page's address, fills,
// DEACTIVATE and WRITEPROTECT need aligned ranges (EINVAL), zaps round as madvise and
// fallocate do, and PAGEMAP_SCAN reports PAGE_IS_HUGE (tests/kernel/FINDINGS.md "hugetlb").
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/mm/address_space.hpp"

namespace vmemsim::uffd {

using core::Gfn;
using core::NodeId;
using core::TimeNs;
using mm::UffdReason;

// Cost of the ioctls (ns), each a scenario knob (kernel.costs.uffd.*).
struct Costs {
  TimeNs ioctl_ns = 700;          // syscall entry/exit + locking of one ioctl
  TimeNs per_pte_ns = 15;         // change_protection()/zap per PTE changed
  TimeNs tlb_flush_ns = 2000;     // flush_tlb_range() initiator side
  TimeNs tlb_per_vcpu_ns = 500;   // + one IPI per vCPU of the VM
  TimeNs scan_per_pte_ns = 5;     // PAGEMAP_SCAN walk per PTE
  TimeNs copy_ns = 400;           // UFFDIO_COPY: copying 4 KiB into a new page
  TimeNs set_mode_ns = 2000;      // UFFDIO_SET_MODE with the mmap write lock held
  TimeNs roundtrip_ns = 1500;     // sync fault: handler wake-up, read() of the message, wake of the faulting thread
};

struct Modes {
  bool missing = false, wp = false, minor = false, rwp = false;
};
struct Features {
  bool wp_async = false;
  bool minor_anon = false;     // rfc-v1 UFFD_FEATURE_MINOR_ANON
  bool minor_async = false;    // rfc-v1 UFFD_FEATURE_MINOR_ASYNC (start in async mode)
  bool rwp_async = false;      // rwp UFFD_FEATURE_RWP_ASYNC (start in async mode)
  bool wp_unpopulated = false; // UFFD_FEATURE_WP_UNPOPULATED (6.18: implied by WP_ASYNC)
};

// PAGEMAP_SCAN categories (include/uapi/linux/fs.h); the last two are the seed series' flags.
namespace cat {
constexpr std::uint32_t kWpAllowed = 1u << 0;
constexpr std::uint32_t kWritten = 1u << 1;
constexpr std::uint32_t kFile = 1u << 2;
constexpr std::uint32_t kPresent = 1u << 3;
constexpr std::uint32_t kSwapped = 1u << 4;
constexpr std::uint32_t kPfnZero = 1u << 5;
constexpr std::uint32_t kHuge = 1u << 6;
constexpr std::uint32_t kSoftDirty = 1u << 7;
constexpr std::uint32_t kGuard = 1u << 8;
constexpr std::uint32_t kUffdDeactivated = 1u << 9;  // rfc-v1 09/12
constexpr std::uint32_t kAccessed = 1u << 10;        // rwp
}  // namespace cat

// PAGEMAP_SCAN flags (include/uapi/linux/fs.h)
constexpr std::uint32_t kScanWpMatching = 1u << 0;   // PM_SCAN_WP_MATCHING
constexpr std::uint32_t kScanCheckWpAsync = 1u << 1; // PM_SCAN_CHECK_WPASYNC

struct ScanArgs {
  std::uint64_t start = 0, len = 0;  // pages
  std::uint32_t flags = 0;
  std::uint32_t category_mask = 0, category_inverted = 0, category_anyof_mask = 0, return_mask = 0;
  std::uint64_t max_pages = 0;  // 0 = no limit
};
struct ScanRegion {
  std::uint64_t start, len;
  std::uint32_t categories;  // & return_mask
};
struct ScanResult {
  std::vector<ScanRegion> regions;
  std::uint64_t walked = 0;
  std::uint64_t matched = 0;
  std::uint64_t protected_ptes = 0;  // PM_SCAN_WP_MATCHING
  TimeNs cost_ns = 0;
  std::string error;
};

struct IoctlResult {
  TimeNs cost_ns = 0;
  std::uint64_t ptes = 0;  // PTEs changed
  bool flushed = false;    // a TLB flush was needed
  // Non-empty: the errno name (-EINVAL with why). "EAGAIN" is a multi-huge-page UFFDIO_COPY /
  // UFFDIO_CONTINUE on hugetlb that stopped part-way: `ptes` pages were filled, what the kernel
  // reports in uffdio_copy.copy / uffdio_continue.mapped (in bytes there).
  std::string error;
};

// What the source buffer of a UFFDIO_COPY holds for one destination page: the data version
// the ground truth compares, and the content when the VMM knows it (see Uffd::copy).
struct CopySrc {
  std::uint32_t version = 0;
  std::optional<std::uint64_t> content;
};

// A sync fault's message (struct uffd_msg) and the thread waiting for it.
struct FaultMsg {
  Gfn gfn;
  bool write;
  UffdReason reason;
  NodeId cpu_node;
  TimeNs t = 0;  // when the fault was taken
};
struct Pending {
  FaultMsg msg;
  unsigned waiter;         // the blocked vCPU
  bool spurious = false;   // ground truth: the PROT_NONE it reports was not set by uffd
};

class Uffd {
 public:
  Uffd(mm::AddressSpace& as, Costs costs, unsigned vcpus);

  // UFFDIO_API + UFFDIO_REGISTER over all of guest memory.
  IoctlResult register_range(Modes m, Features f);
  // UFFDIO_UNREGISTER / close(): PTE state owned by uffd is restored.
  IoctlResult unregister();

  IoctlResult deactivate(Gfn start, std::uint64_t len);              // rfc-v1
  IoctlResult rwprotect(Gfn start, std::uint64_t len, bool protect);  // rwp
  IoctlResult writeprotect(Gfn start, std::uint64_t len, bool protect);
  IoctlResult cont(Gfn g);                                            // UFFDIO_CONTINUE of one page
  // UFFDIO_CONTINUE of [start, start + len): on hugetlb whole huge pages only (EINVAL otherwise,
  // mfill_atomic_hugetlb), elsewhere page by page.
  IoctlResult cont_range(Gfn start, std::uint64_t len);
  // UFFDIO_COPY / UFFDIO_ZEROPAGE; `content_version` is the data version the source buffer
  // holds (0 for zeroes), which the ground truth compares with the guest's latest.
  // `content` is the buffer's page content (models/mm/content.hpp): zeroes for ZEROPAGE, else
  // what the VMM copied out (the tier copy's), when it knows; see AddressSpace::install.
  IoctlResult copy(Gfn g, NodeId cpu_node, bool zeropage, std::uint32_t content_version, TimeNs now,
                   std::optional<std::uint64_t> content = std::nullopt);
  // UFFDIO_COPY of [start, start + len) with the source buffer `src` gives per page; on hugetlb
  // whole huge pages only and no ZEROPAGE (EINVAL, mfill_atomic_hugetlb), elsewhere page by page.
  IoctlResult copy_range(Gfn start, std::uint64_t len, NodeId cpu_node, bool zeropage, TimeNs now,
                         const std::function<CopySrc(Gfn)>& src);
  IoctlResult set_mode(bool async);                                   // UFFDIO_SET_MODE
  ScanResult pagemap_scan(const ScanArgs& a);
  std::uint32_t categories(Gfn g) const;
  // madvise(MADV_DONTNEED) and fallocate(PUNCH_HOLE): not uffd, but the VMM's eviction verbs.
  IoctlResult dontneed(const std::vector<Gfn>& gfns);
  // FALLOC_FL_PUNCH_HOLE; on hugetlb the partial huge pages at a run's ends are zeroed in place
  // (their content and, at `now`, the data the guest sees: hugetlbfs_zero_partial_page).
  IoctlResult punch_hole(const std::vector<Gfn>& gfns, TimeNs now = 0);

  // ---- the fault side (handle_userfault) ----
  bool async() const { return async_; }
  const Features& features() const { return f_; }
  // A sync fault: queue its message; `waiter` blocks until read() or take_woken() releases it.
  // The message carries the address userfault_msg() reports (msg_address).
  void enqueue(FaultMsg m, unsigned waiter) {
    m.gfn = msg_address(m.gfn);
    queue_.push_back({m, waiter});
  }
  // The address of a fault's message without UFFD_FEATURE_EXACT_ADDRESS: vmf->address, which
  // hugetlb_fault() rounds down to the huge page (haddr, passed on by
  // hugetlb_handle_userfault() and the uffd-wp path of hugetlb_wp()); the page elsewhere.
  Gfn msg_address(Gfn g) const { return Gfn(g.v / page_pages() * page_pages()); }
  // vma_kernel_pagesize() in 4 KiB pages: 512 on hugetlb, 1 elsewhere. The granule of every
  // fill, zap and protection change on the VMA.
  std::uint64_t page_pages() const;
  // The handler's read(): the oldest message. Consuming it is the notification (counted in
  // the ground truth as spurious when uffd did not set the PROT_NONE it reports).
  std::optional<Pending> read();
  // Waiters released by SET_MODE(async): their faults retry and resolve in the kernel.
  std::vector<unsigned> take_woken() { return std::exchange(woken_, {}); }
  std::size_t queued() const { return queue_.size(); }
  // The waiter whose message read() returns next (none: the queue is empty).
  std::optional<unsigned> next_waiter() const {
    return queue_.empty() ? std::nullopt : std::optional<unsigned>(queue_.front().waiter);
  }
  // A notification consumed for g (read by the handler, or resolved in the kernel in async
  // mode): ground truth, and under rfc-v1 the task_numa_fault() feed.
  // Returns whether it was spurious (ground truth, for metrics).
  bool delivered(Gfn g, unsigned vcpu, NodeId cpu_node, TimeNs now);

  const Costs& costs() const { return costs_; }
  unsigned vcpus() const { return vcpus_; }  // threads a TLB shootdown interrupts
  bool registered() const { return as_.uffd_vma().any(); }
  const mm::KernelCaps& caps() const { return as_.caps(); }
  mm::AddressSpace& mm() { return as_; }

 private:
  // `entries` page-table entries were written (cost); `ptes` pages changed (reported).
  IoctlResult finish(std::uint64_t ptes, bool flush, std::optional<std::uint64_t> entries = std::nullopt) const;
  bool hugetlb() const { return page_pages() > 1; }
  IoctlResult copy_huge(Gfn start, std::uint64_t len, NodeId cpu_node, bool zeropage, TimeNs now,
                        const std::function<CopySrc(Gfn)>& src);
  std::uint64_t clamp(Gfn start, std::uint64_t len) const;  // end of a range, within the VMA
  mm::AddressSpace& as_;
  mm::PageTable& pt_;
  Costs costs_;
  unsigned vcpus_;
  Features f_;
  bool async_ = false;  // MINOR_ASYNC (rfc-v1) / RWP_ASYNC (rwp), toggled by UFFDIO_SET_MODE
  std::deque<Pending> queue_;
  std::vector<unsigned> woken_;
};

}  // namespace vmemsim::uffd
