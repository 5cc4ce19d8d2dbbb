#include "models/hugetlb/hugetlb.hpp"

#include <array>

#include "models/kernel/registry.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::hugetlb {

namespace pte = mm::pte;
using core::Gfn;
using core::TimeNs;

HugetlbFaults::HugetlbFaults(mm::AddressSpace& as) {
  k_alloc_ = as.router().add_kind("hugetlb_alloc");
  k_minor_ = as.router().add_kind("hugetlb_minor");
}

std::optional<mm::FaultOutcome> HugetlbFaults::handle(mm::AddressSpace& as, const mm::Fault& f) {
  if (f.cls != mm::FaultClass::None) return std::nullopt;
  // hugetlb_fault(): the fault address is rounded down to the huge page (haddr); the whole PMD
  // is filled at once (set_huge_pte_at on the PMD entry).
  const std::uint64_t g0 = f.gfn.v / kHugePages * kHugePages;
  const auto& c = as.config().costs;
  mm::FaultKind kind = k_minor_;
  TimeNs cost = c.minor_fault_ns;
  if (!as.in_page_cache(Gfn(g0))) {
    // hugetlb_no_page() -> alloc_hugetlb_folio() -> dequeue_hugetlb_folio_vma(): the VMA's
    // mempolicy picks the first node, then the other allowed nodes (the zonelist order).
    const auto& cfg = as.config();
    unsigned first = f.cpu_node.v;
    if (cfg.placement == mm::Placement::Preferred) first = cfg.home_node;
    if (cfg.placement == mm::Placement::Interleave)
      first = cfg.interleave_nodes[(g0 / kHugePages) % cfg.interleave_nodes.size()];
    std::array<std::uint32_t, kHugePages> pfns{};
    bool got = false;
    for (unsigned n : cfg.fallback[first])
      if (as.host().alloc_hugetlb(core::NodeId(static_cast<std::uint16_t>(n)), mm::Mapper{as.vm(), Gfn(g0)}, pfns.data())) {
        got = true;
        break;
      }
    // hugetlb_reserve_pages() reserved the whole file at mmap time and the scenario reader
    // refuses a host whose hugetlb guests exceed its pool, so the pool cannot run dry here.
    VMEMSIM_CHECK(got, "hugetlb pool exhausted at gfn " << g0 << " despite the mmap-time reservation");
    for (unsigned i = 0; i < kHugePages; ++i) as.add_to_cache(Gfn(g0 + i), core::Pfn(pfns[i]));
    kind = k_alloc_;
    cost += kHugePages * c.page_clear_ns;  // folio_zero_user(): 512 page clears
  }
  for (unsigned i = 0; i < kHugePages; ++i) {
    const Gfn g(g0 + i);
    if (pte::none(as.pte_at(g))) as.map_from_cache(g);
    as.page_table().set_huge(g);
  }
  return as.count(kind, cost);
}

void install_hugetlb_faults(kernel::VmKernel& vk) {
  if (vk.as->config().backing != mm::Backing::Hugetlb) return;
  auto h = std::make_unique<HugetlbFaults>(*vk.as);
  vk.as->router().add(mm::FaultClass::None, h.get());
  vk.handlers.push_back(std::move(h));
}

}  // namespace vmemsim::hugetlb
