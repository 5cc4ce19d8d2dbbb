// try_to_unmap_one()'s PTE batching (mm/rmap.c folio_unmap_pte_batch()), as a rule on PTE
// state. Which large folios are batched and where the uffd cap applies is the kernel's, so it
// comes from the capability table (KernelCaps::rmap_batch_file) and the seed 002 switch
// (KernelPatches::rmap_uffd_protected); the caller (kernel reclaim, models/vmscan) charges the
// cost per batch and handles the PTEs' uffd state.
#pragma once
#include <cstdint>

#include "models/mm/address_space.hpp"

namespace vmemsim::mm {

// How many PTEs from g (present, mapping the page-cache page at g) one try_to_unmap_one() step
// of a large file folio covering [folio_first, folio_end) clears:
//  - 6.18: "We only support lazyfree batching for now" -- a file folio is never batched: 1;
//  - the series' later base: file folios too, but 1 on a userfaultfd_wp() VMA (so that
//    pte_install_uffd_wp_if_needed(), which looks at the first PTE only, leaves a marker on
//    each); seed 002: 1 on any userfaultfd_protected() VMA;
//  - otherwise folio_pte_batch_flags(FPB_RESPECT_WRITE | FPB_RESPECT_SOFT_DIRTY): the run of
//    PTEs mapping the folio's next pages with the same bits but dirty and young (a PROT_NONE
//    or a uffd bit breaks it), within the folio and the PTE table (pmd_addr_end()).
unsigned folio_unmap_pte_batch(const AddressSpace& as, Gfn g, std::uint64_t folio_first, std::uint64_t folio_end);

}  // namespace vmemsim::mm
