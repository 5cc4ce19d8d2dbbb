// userfaultfd: one context per VM, registered over the VM's guest memory, and its ioctls
// (KERNEL-MODEL.md §3 items 5-9; fs/userfaultfd.c, mm/userfaultfd.c and the seed patches).
//
// Lifecycle: the VMM (models/reclaim policies) opens it at the start of the run with
// register_range(); ioctls change PTEs through mm::AddressSpace primitives and return their
// cost; the fault side (handle_userfault) lives in mm::AddressSpace::fault(). A feature that
// the kernel variant lacks is refused with the kernel's EINVAL, as a message.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/mm/address_space.hpp"

namespace vmemsim::uffd {

using core::TimeNs;

// Cost of the ioctls (ns), each a scenario knob (kernel.costs.uffd.*).
struct Costs {
  TimeNs ioctl_ns = 700;          // syscall entry/exit + locking of one ioctl
  TimeNs per_pte_ns = 15;         // change_protection()/zap per PTE changed
  TimeNs tlb_flush_ns = 2000;     // flush_tlb_range() initiator side
  TimeNs tlb_per_vcpu_ns = 500;   // + one IPI per vCPU of the VM
  TimeNs scan_per_pte_ns = 5;     // PAGEMAP_SCAN walk per PTE
  TimeNs copy_ns = 400;           // UFFDIO_COPY: copying 4 KiB into a new page
  TimeNs set_mode_ns = 2000;      // UFFDIO_SET_MODE with the mmap write lock held
  TimeNs roundtrip_ns = 5000;     // sync fault: read() of the message + wake of the faulting thread
};

struct Modes {
  bool missing = false, wp = false, minor = false, rwp = false;
};
struct Features {
  bool wp_async = false;
  bool minor_anon = false;   // rfc-v1 UFFD_FEATURE_MINOR_ANON
  bool minor_async = false;  // rfc-v1 UFFD_FEATURE_MINOR_ASYNC (start in async mode)
  bool rwp_async = false;    // rwp UFFD_FEATURE_RWP_ASYNC (start in async mode)
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
constexpr std::uint32_t kUffdDeactivated = 1u << 9;  // rfc-v1 09/12
constexpr std::uint32_t kAccessed = 1u << 10;        // rwp
}  // namespace cat

struct ScanArgs {
  std::uint64_t start = 0, len = 0;  // pages
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
  TimeNs cost_ns = 0;
};

struct IoctlResult {
  TimeNs cost_ns = 0;
  std::uint64_t ptes = 0;  // PTEs changed
  bool flushed = false;    // a TLB flush was needed
  std::string error;       // non-empty: -EINVAL and why
};

class Uffd {
 public:
  Uffd(mm::AddressSpace& as, Costs costs, unsigned vcpus);

  // UFFDIO_API + UFFDIO_REGISTER over all of guest memory.
  IoctlResult register_range(Modes m, Features f);
  // UFFDIO_UNREGISTER / close(): PTE state owned by uffd is restored.
  IoctlResult unregister();

  IoctlResult deactivate(std::uint64_t start, std::uint64_t len);              // rfc-v1
  IoctlResult rwprotect(std::uint64_t start, std::uint64_t len, bool protect);  // rwp
  IoctlResult writeprotect(std::uint64_t start, std::uint64_t len, bool protect);
  IoctlResult cont(std::uint64_t gfn);                                          // UFFDIO_CONTINUE
  IoctlResult copy(std::uint64_t gfn, unsigned cpu_node, bool zeropage);        // COPY / ZEROPAGE
  IoctlResult set_mode(bool async);                                             // UFFDIO_SET_MODE
  ScanResult pagemap_scan(const ScanArgs& a) const;
  std::uint32_t categories(std::uint64_t gfn) const;
  // madvise(MADV_DONTNEED) and fallocate(PUNCH_HOLE): not uffd, but the VMM's eviction verbs.
  IoctlResult dontneed(const std::vector<std::uint64_t>& gfns);
  IoctlResult punch_hole(const std::vector<std::uint64_t>& gfns);

  const Costs& costs() const { return costs_; }
  bool registered() const { return as_.uffd().any(); }
  mm::Variant variant() const { return as_.config().variant; }

 private:
  IoctlResult finish(std::uint64_t ptes, bool flush) const;
  std::uint64_t clamp(std::uint64_t start, std::uint64_t len) const;  // end of a range, within the VMA
  mm::AddressSpace& as_;
  Costs costs_;
  unsigned vcpus_;
};

}  // namespace vmemsim::uffd
