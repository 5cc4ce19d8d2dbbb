#include "models/mm/rmap.hpp"

#include <algorithm>

namespace vmemsim::mm {

unsigned folio_unmap_pte_batch(const AddressSpace& as, Gfn g, std::uint64_t folio_first, std::uint64_t folio_end) {
  if (folio_end - folio_first <= 1 || !as.caps().rmap_batch_file) return 1;  // !folio_test_large(), 6.18
  const auto& v = as.uffd_vma();
  if (v.wp || (v.rwp && as.config().patches.rmap_uffd_protected)) return 1;
  // The batch stays inside one PTE table: 512 entries per PMD range.
  constexpr std::uint64_t kPtes = 512;
  const std::uint64_t end = std::min(folio_end, (g.v / kPtes + 1) * kPtes);
  // pte_batch_clear_ignored(): dirty and young do not count; write (FPB_RESPECT_WRITE), the
  // protection and the uffd bit do.
  constexpr Pte kCompared = pte::kPresent | pte::kWrite | pte::kProtNone | pte::kUffd | pte::kHuge;
  const Pte first = as.pte_at(g);
  unsigned n = 1;
  for (std::uint64_t x = g.v + 1; x < end; ++x, ++n) {
    const Pte p = as.pte_at(Gfn(x));
    if (!pte::present(p) || pte::zero_page(p) || (p & kCompared) != (first & kCompared)) break;
    if (!as.in_page_cache(Gfn(x)) || pte::pfn(p) != as.cache_pfn(Gfn(x)).v) break;  // not the folio's next page
  }
  return n;
}

}  // namespace vmemsim::mm
