#include "models/mm/core_faults.hpp"

namespace vmemsim::mm {
namespace {

class CoreFaults final : public FaultHandler {
 public:
  explicit CoreFaults(AddressSpace& as) {
    auto& r = as.router();
    anon_alloc_ = r.add_kind("anon_alloc");
    zero_map_ = r.add_kind("zero_map");
    cow_zero_ = r.add_kind("cow_zero");
    cow_copy_ = r.add_kind("cow_copy");
    shmem_alloc_ = r.add_kind("shmem_alloc");
    shmem_minor_ = r.add_kind("shmem_minor");
    wp_reuse_ = r.add_kind("wp_reuse");
    swap_in_ = r.add_kind("swap_in");
  }

  std::optional<FaultOutcome> handle(AddressSpace& as, const Fault& f) override {
    switch (f.cls) {
      case FaultClass::None:
      case FaultClass::Marker: return fill(as, f, f.cls == FaultClass::Marker);
      case FaultClass::Write: return write(as, f);
      case FaultClass::Swap: {
        const auto& c = as.config().costs;
        // do_swap_page(): a new frame, the entry's data read from the swap device (the vCPU
        // waits for the read; the copy is the device's DMA, not CPU time).
        if (!as.swap_in(f.gfn, f.cpu_node)) return oom(as);
        FaultOutcome o = as.count(swap_in_, c.minor_fault_ns);
        o.read_bytes = static_cast<std::uint32_t>(core::kPageSize);
        return o;
      }
      default: return std::nullopt;
    }
  }

 private:
  FaultOutcome oom(AddressSpace& as) {
    return as.count(as.router().oom_kind(), as.config().costs.minor_fault_ns, FaultResult::Oom);
  }

  // do_anonymous_page() / shmem_fault() + finish_fault(). A uffd-wp marker's bit is carried
  // into the new PTE (pte_marker_handle_uffd_wp -> do_fault / do_anonymous_page with
  // vmf_orig_pte_uffd_wp), so the page comes in write-protected and a write faults again.
  FaultOutcome fill(AddressSpace& as, const Fault& f, bool carry) {
    const auto& c = as.config().costs;
    if (f.cls == FaultClass::Marker) as.page_table().clear(f.gfn);
    if (as.anon()) {
      // A page whose described content is not zeroes holds data the guest put there (its boot
      // image), so a read cannot be served by the zero page (content.hpp).
      if (!f.write && as.config().use_zero_page && (!as.has_content() || as.content(f.gfn) == content::kZero)) {
        as.map_zero_page(f.gfn, carry);
        return as.count(zero_map_, c.minor_fault_ns);
      }
      // A private page, writable and dirty whatever the access (VM_WRITE).
      auto pfn = as.alloc_frame(f.gfn, f.cpu_node);
      if (!pfn) return oom(as);
      as.map_frame(f.gfn, *pfn, true, carry);
      return as.count(anon_alloc_, c.minor_fault_ns + c.page_clear_ns);
    }
    if (as.in_page_cache(f.gfn)) {
      // A marker in a VM_UFFD_RWP VMA (left by an rmap unmap of an RWP PTE, khugepaged's
      // collapse_file()) restores the page read-write-protected, as do_swap_page() does for a
      // swap entry with the uffd bit: the access then faults to userfaultfd as RWP.
      const bool rwp_marker = carry && as.uffd_vma().rwp;
      as.map_from_cache(f.gfn, carry && !rwp_marker);
      if (rwp_marker) as.page_table().protnone(f.gfn, true, PnOrigin::Uffd);
      return as.count(shmem_minor_, c.minor_fault_ns);
    }
    auto pfn = as.alloc_frame(f.gfn, f.cpu_node);
    if (!pfn) return oom(as);
    as.add_to_cache(f.gfn, *pfn);
    as.host().get(*pfn);  // the mapping's reference beside the page cache's
    as.map_frame(f.gfn, *pfn, true, carry);
    return as.count(shmem_alloc_, c.minor_fault_ns + c.page_clear_ns);
  }

  // do_wp_page(): the zero page and a shared anon frame are copied (wp_page_copy), an
  // exclusive anon page or a shared-mapping page just gets write permission (wp_page_reuse).
  FaultOutcome write(AddressSpace& as, const Fault& f) {
    const auto& c = as.config().costs;
    const Pte p = as.pte_at(f.gfn);
    if (pte::zero_page(p)) {
      auto pfn = as.alloc_frame(f.gfn, f.cpu_node);
      if (!pfn) return oom(as);
      as.zap(f.gfn);
      as.map_frame(f.gfn, *pfn, true);
      return as.count(cow_zero_, c.minor_fault_ns + c.page_clear_ns);  // a clear: the source is zeroes
    }
    // A KSM folio is never reused, even by its last mapper (wp_can_reuse_anon_folio() refuses
    // folio_test_ksm): the write breaks COW with a copy.
    const Pfn old(pte::pfn(p));
    const bool ksm = as.host().is_ksm(old);
    if (as.anon() && (ksm || as.host().frame(old).mapcount > 1)) {
      auto pfn = as.alloc_frame(f.gfn, f.cpu_node);
      if (!pfn) return oom(as);
      if (ksm) as.note_ksm_cow();
      as.zap(f.gfn);
      as.map_frame(f.gfn, *pfn, true);
      return as.count(cow_copy_, c.minor_fault_ns + c.page_copy_ns);
    }
    as.page_table().mkwrite(f.gfn);
    as.folio_reused(f.gfn);
    return as.count(wp_reuse_, c.minor_fault_ns);
  }

  FaultKind anon_alloc_, zero_map_, cow_zero_, cow_copy_, shmem_alloc_, shmem_minor_, wp_reuse_, swap_in_;
};

}  // namespace

std::unique_ptr<FaultHandler> install_core_faults(AddressSpace& as) {
  auto h = std::make_unique<CoreFaults>(as);
  for (auto c : {FaultClass::None, FaultClass::Marker, FaultClass::Write, FaultClass::Swap}) as.router().add(c, h.get());
  return h;
}

}  // namespace vmemsim::mm
