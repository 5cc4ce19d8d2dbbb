// handle_userfault() as a fault mechanism: the faults userfaultfd takes from the kernel's
// default paths (fs/userfaultfd.c, mm/memory.c, mm/shmem.c and the seed patches). Installed
// in front of the core handlers, so a fault it declines takes the ordinary path.
#include "models/uffd/uffd_faults.hpp"

#include "models/hugetlb/hugetlb.hpp"

namespace vmemsim::uffd {
namespace {

namespace pte = mm::pte;
using mm::Fault;
using mm::FaultClass;
using mm::FaultKind;
using mm::FaultOutcome;
using mm::FaultResult;

class UffdFaults final : public mm::FaultHandler {
 public:
  UffdFaults(mm::AddressSpace& as, Uffd& ctx) : ctx_(ctx) {
    auto& r = as.router();
    missing_ = r.add_kind("uffd_missing");
    minor_sync_ = r.add_kind("uffd_minor_sync");
    minor_async_ = r.add_kind("uffd_minor_async");
    rwp_sync_ = r.add_kind("uffd_rwp_sync");
    rwp_async_ = r.add_kind("uffd_rwp_async");
    wp_sync_ = r.add_kind("uffd_wp_sync");
    wp_async_ = r.add_kind("uffd_wp_async");
  }

  std::optional<FaultOutcome> handle(mm::AddressSpace& as, const Fault& f) override {
    const auto& v = as.uffd_vma();
    if (!v.any()) return std::nullopt;
    // A fault that blocks costs the entry into handle_userfault(); one resolved in the kernel
    // (async mode, shmem minor) costs an ordinary minor fault.
    const TimeNs cost = as.config().costs.minor_fault_ns;
    const TimeNs block = as.config().costs.userfault_ns;
    switch (f.cls) {
      case FaultClass::None:
      case FaultClass::Marker:
        if (as.anon()) {
          // do_anonymous_page(): a MISSING-registered range hands every missing page to userspace.
          if (v.missing) return as.count(missing_, block, FaultResult::Blocked, UffdReason::Missing);
          return std::nullopt;
        }
        // shmem_get_folio_gfp(): a folio still in the page cache is a minor fault.
        if (as.in_page_cache(f.gfn)) {
          if (!v.minor) return std::nullopt;
          // rfc-v1 06/12 resolves it in MINOR_ASYNC mode; otherwise the handler maps it with
          // UFFDIO_CONTINUE.
          // hugetlb_no_page(): a folio in the page cache of a VM_UFFD_MINOR VMA goes to
          // hugetlb_handle_userfault(VM_UFFD_MINOR) (the message carries haddr, Uffd::enqueue);
          // 06/12's async resolution maps the whole huge page.
          if (ctx_.caps().minor_async && ctx_.async()) {
            if (hugetlb::is_hugetlb(as)) hugetlb::map_folio(as, Gfn(hugetlb::haddr(f.gfn.v)), f.cls == FaultClass::Marker);
            else as.map_from_cache(f.gfn, f.cls == FaultClass::Marker);
            return as.count(minor_async_, cost);
          }
          return as.count(minor_sync_, block, FaultResult::Blocked, UffdReason::Minor);
        }
        if (v.missing) return as.count(missing_, block, FaultResult::Blocked, UffdReason::Missing);
        return std::nullopt;
      case FaultClass::ProtNoneUffd: {
        const bool rwp = ctx_.caps().protnone_reason == UffdReason::Rwp;
        if (ctx_.async()) {
          // MINOR_ASYNC / RWP_ASYNC: the kernel restores the PTE in place; rfc-v1 without
          // mkwrite (a write takes a second, wp fault), rwp with it where the page allows.
          ctx_.delivered(f.gfn, f.vcpu, f.cpu_node, f.now);
          as.page_table().restore(f.gfn, ctx_.caps().async_mkwrite, false);
          return as.count(rwp ? rwp_async_ : minor_async_, cost);
        }
        return as.count(rwp ? rwp_sync_ : minor_sync_, block, FaultResult::Blocked, ctx_.caps().protnone_reason);
      }
      case FaultClass::Write:
        // do_wp_page() checks the uffd-wp bit before anything else, the zero page included.
        if (!(pte::uffd(f.pte) && v.wp)) return std::nullopt;
        if (!ctx_.features().wp_async) return as.count(wp_sync_, block, FaultResult::Blocked, UffdReason::Wp);
        // WP_ASYNC: drop the bit and resolve the write in place (PAGE_IS_WRITTEN from now on);
        // on the zero page the ordinary COW follows.
        if (hugetlb::is_hugetlb(as)) {
          // hugetlb_wp() on an async-protected huge PTE: huge_pte_clear_uffd_wp() on the whole
          // entry, made writable (a shared mapping reuses the folio).
          const std::uint64_t g0 = hugetlb::haddr(f.gfn.v);
          for (std::uint64_t g = g0; g < g0 + hugetlb::kHugePages; ++g) as.page_table().clear_uffd_wp(Gfn(g), true);
          return as.count(wp_async_, cost);
        }
        as.page_table().clear_uffd_wp(f.gfn, true);
        if (pte::zero_page(f.pte)) return std::nullopt;
        return as.count(wp_async_, cost);
      default:
        return std::nullopt;
    }
  }

 private:
  Uffd& ctx_;
  FaultKind missing_, minor_sync_, minor_async_, rwp_sync_, rwp_async_, wp_sync_, wp_async_;
};

}  // namespace

std::unique_ptr<mm::FaultHandler> install_faults(mm::AddressSpace& as, Uffd& ctx) {
  auto h = std::make_unique<UffdFaults>(as, ctx);
  for (auto c : {FaultClass::None, FaultClass::Marker, FaultClass::ProtNoneUffd, FaultClass::Write})
    as.router().add(c, h.get());
  return h;
}

}  // namespace vmemsim::uffd
