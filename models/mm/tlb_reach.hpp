// The TLB-reach saving of an access through a 2 MiB mapping (pte::kHuge): one source for the
// default figure and its citation, which kernel.thp (anon THP, models/thp/thp_section.cpp) and
// kernel.hugetlb (hugetlbfs guests, models/hugetlb/hugetlb_section.cpp) both declare as their
// `tlb_saving_ns` default. The vCPU charges the DRAM latency minus the saving for each access
// through a huge PTE (Vcpu::set_huge_saving, AddressSpace::huge_saving_ns).
//
// The figure: a TLB miss's native page walk costs 60-250 cycles (about 20-80 ns at 3 GHz), and
// under EPT a two-dimensional walk several times that (Pham et al., "Large pages and
// lightweight memory management in virtualized environments", MICRO 2015); HeMem's simulator
// charges 200 ns per walk level (KERNEL-MODEL.md §8). The default, 20 ns per access through a
// PMD mapping, is the low end of one native walk: it assumes accesses that miss the STLB with
// 4 KiB pages (random access over more than its 6 MiB reach) and hit with 2 MiB ones (3 GiB
// reach). 0 models a TLB-friendly workload. The mapping, not how the folio was made, gives the
// reach: a hugetlb PMD and a THP PMD take the same TLB entry.
#pragma once
#include "sim/core/types.hpp"

namespace vmemsim::mm {

inline constexpr core::TimeNs kTlbSavingNs = 20;
// The same figure as the ParamSpec default (JSON text).
inline constexpr const char* kTlbSavingNsJson = "20";

namespace detail {
constexpr core::TimeNs parse_ns(const char* s, core::TimeNs v = 0) {
  return *s ? parse_ns(s + 1, v * 10 + (*s - '0')) : v;
}
}  // namespace detail
static_assert(detail::parse_ns(kTlbSavingNsJson) == kTlbSavingNs, "the two spellings of the default differ");

}  // namespace vmemsim::mm
