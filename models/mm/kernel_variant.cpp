#include "models/mm/kernel_variant.hpp"

namespace vmemsim::mm {

namespace {
// Rows in `kernel.variant` enum order. Sources: seed 000/001 (the April 2026 RFC, v1) and
// seed 002/003 (the VM_UFFD_RWP series, v2), fs/userfaultfd.c and mm/memory.c of 6.18.
constexpr KernelCaps kRows[] = {
    {Variant::Upstream, "upstream", "Linux 6.18: PROT_NONE faults are NUMA hinting faults; uffd MISSING/WP/MINOR(shmem)",
     ProtNoneRule::AlwaysNuma,
     /*minor_anon*/ false, /*minor_async*/ false, /*deactivate*/ false, /*rwp*/ false, /*set_mode*/ false,
     UffdReason::Minor, /*async_mkwrite*/ false, /*feeds_numa*/ false, /*numab_skip_uffd_minor*/ false,
     /*cat_deact*/ false, /*cat_accessed*/ false, /*gup_guard*/ false, /*unreg_all*/ false, "SCAN_PTE_UFFD_WP",
     /*rmap_batch_file*/ false},
    {Variant::RfcV1, "rfc-v1", "April 2026 RFC: MINOR_ANON, MINOR_ASYNC, DEACTIVATE (plain PROT_NONE), SET_MODE",
     ProtNoneRule::AnonMinorVma,
     true, true, true, false, true,
     UffdReason::Minor, /*async_mkwrite: 06/12 restores without mkwrite*/ false, /*feeds_numa*/ true,
     /*numab_skip_uffd_minor*/ true,
     true, false, false, /*unreg_all*/ true, "SCAN_PTE_UFFD_WP",
     /*rmap_batch_file: the RFC's 2026 base, assumed the rwp series' (seed 002's context lines)*/ true},
    {Variant::Rwp, "rwp", "VM_UFFD_RWP series: PROT_NONE plus the uffd bit, RWPROTECT, RWP_ASYNC, SET_MODE",
     ProtNoneRule::UffdBit,
     false, false, false, true, true,
     UffdReason::Rwp, /*async_mkwrite*/ true, /*feeds_numa*/ false, /*numab_skip_uffd_minor: the bit tells them apart*/ false,
     false, true, /*gup_guard*/ true, false, "SCAN_PTE_UFFD",
     /*rmap_batch_file: seed 002's context (a userfaultfd_wp() cap in folio_unmap_pte_batch)*/ true},
};
}  // namespace

const char* uffd_reason_name(UffdReason r) {
  switch (r) {
    case UffdReason::Missing: return "missing";
    case UffdReason::Minor: return "minor";
    case UffdReason::Wp: return "wp";
    case UffdReason::Rwp: return "rwp";
  }
  return "?";
}

const KernelCaps& kernel_caps(Variant v) { return kRows[static_cast<std::size_t>(v)]; }
std::span<const KernelCaps> kernel_variants() { return kRows; }
const KernelCaps* find_variant(std::string_view name) {
  for (const auto& r : kRows)
    if (name == r.name) return &r;
  return nullptr;
}
const char* variant_name(Variant v) { return kernel_caps(v).name; }

}  // namespace vmemsim::mm
