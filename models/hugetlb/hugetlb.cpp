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

void alloc_folio(mm::AddressSpace& as, Gfn g0, core::NodeId cpu_node) {
  VMEMSIM_CHECK(g0.v % kHugePages == 0 && !as.in_page_cache(g0), "hugetlb folio at unaligned or cached gfn " << g0.v);
  // dequeue_hugetlb_folio_vma(): the VMA's mempolicy picks the first node, then the other
  // allowed nodes (the zonelist order).
  const auto& cfg = as.config();
  unsigned first = cpu_node.v;
  if (cfg.placement == mm::Placement::Preferred) first = cfg.home_node;
  if (cfg.placement == mm::Placement::Interleave)
    first = cfg.interleave_nodes[(g0.v / kHugePages) % cfg.interleave_nodes.size()];
  std::array<std::uint32_t, kHugePages> pfns{};
  bool got = false;
  for (unsigned n : cfg.fallback[first])
    if (as.host().alloc_hugetlb(core::NodeId(static_cast<std::uint16_t>(n)), mm::Mapper{as.vm(), g0}, pfns.data())) {
      got = true;
      break;
    }
  // hugetlb_reserve_pages() reserved the whole file at mmap time and the scenario reader
  // refuses a host whose hugetlb guests exceed its pool, so the pool cannot run dry here.
  VMEMSIM_CHECK(got, "hugetlb pool exhausted at gfn " << g0.v << " despite the mmap-time reservation");
  for (unsigned i = 0; i < kHugePages; ++i) as.add_to_cache(Gfn(g0.v + i), core::Pfn(pfns[i]));
}

void map_folio(mm::AddressSpace& as, Gfn g0, bool uffd_wp) {
  for (unsigned i = 0; i < kHugePages; ++i) {
    const Gfn g(g0.v + i);
    if (pte::marker(as.pte_at(g))) as.page_table().clear(g);
    if (pte::none(as.pte_at(g))) as.map_from_cache(g, uffd_wp);
    as.page_table().set_huge(g);
  }
}

bool zap_folio(mm::AddressSpace& as, Gfn g0, bool keep_marker) {
  bool any = false;
  for (unsigned i = 0; i < kHugePages; ++i) {
    const Gfn g(g0.v + i);
    if (!pte::present(as.pte_at(g))) continue;
    as.zap(g, keep_marker);
    any = true;
  }
  return any;
}

bool punch_folio(mm::AddressSpace& as, Gfn g0, bool keep_marker) {
  if (!as.in_page_cache(g0)) return false;
  zap_folio(as, g0, keep_marker);
  std::array<std::uint32_t, kHugePages> pfns{};
  for (unsigned i = 0; i < kHugePages; ++i) pfns[i] = as.take_from_cache(Gfn(g0.v + i)).v;
  as.host().free_hugetlb(pfns.data());
  return true;
}

bool zero_partial(mm::AddressSpace& as, Gfn g, std::uint64_t n, TimeNs now) {
  VMEMSIM_CHECK(n > 0 && haddr(g.v) == haddr(g.v + n - 1), "partial zero across huge pages at gfn " << g.v);
  if (!as.in_page_cache(Gfn(haddr(g.v)))) return false;
  for (std::uint64_t i = g.v; i < g.v + n; ++i) {
    if (as.has_content()) as.set_content(Gfn(i), mm::content::kZero);
    as.truth().install_content(Gfn(i), 0, now);
  }
  return true;
}

std::optional<mm::FaultOutcome> HugetlbFaults::handle(mm::AddressSpace& as, const mm::Fault& f) {
  if (f.cls != mm::FaultClass::None && f.cls != mm::FaultClass::Marker) return std::nullopt;
  // hugetlb_fault(): the fault address is rounded down to the huge page (haddr); the whole PMD
  // is filled at once (set_huge_pte_at on the PMD entry). A uffd-wp marker is
  // huge_pte_none_mostly(): hugetlb_no_page() maps the folio and keeps the bit.
  const Gfn g0(haddr(f.gfn.v));
  const auto& c = as.config().costs;
  mm::FaultKind kind = k_minor_;
  TimeNs cost = c.minor_fault_ns;
  if (!as.in_page_cache(g0)) {
    alloc_folio(as, g0, f.cpu_node);
    kind = k_alloc_;
    cost += kHugePages * c.page_clear_ns;  // folio_zero_user(): 512 page clears
  }
  map_folio(as, g0, f.cls == mm::FaultClass::Marker);
  return as.count(kind, cost);
}

void install_hugetlb_faults(kernel::VmKernel& vk) {
  if (vk.as->config().backing != mm::Backing::Hugetlb) return;
  auto h = std::make_unique<HugetlbFaults>(*vk.as);
  vk.as->router().add(mm::FaultClass::None, h.get());
  vk.as->router().add(mm::FaultClass::Marker, h.get());
  vk.handlers.push_back(std::move(h));
}

}  // namespace vmemsim::hugetlb
