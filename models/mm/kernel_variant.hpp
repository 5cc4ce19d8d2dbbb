// The capability table: one row per modelled kernel (KERNEL-MODEL.md §3.2, §5). Every
// question whose answer depends on which kernel runs -- what a PROT_NONE fault means, which
// uffd features, ioctls and PAGEMAP_SCAN categories exist, how an async fault resolves -- is
// a field here. Code asks the table, never the variant's name, so a new kernel variant (say
// a v3 of the series) is one more row.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

namespace vmemsim::mm {

enum class Variant : std::uint8_t { Upstream, RfcV1, Rwp };

// Which PROT_NONE faults go to userfaultfd instead of the NUMA hinting path.
enum class ProtNoneRule : std::uint8_t {
  AlwaysNuma,    // upstream: do_numa_page() for every PROT_NONE fault
  AnonMinorVma,  // rfc-v1 05/12: any PROT_NONE in an anon VM_UFFD_MINOR VMA (the PTE cannot say who set it)
  UffdBit,       // rwp: the uffd bit on the PROT_NONE PTE of a VM_UFFD_RWP VMA
};

enum class UffdReason : std::uint8_t { Missing, Minor, Wp, Rwp };
const char* uffd_reason_name(UffdReason r);

struct KernelCaps {
  Variant variant;
  const char* name;
  const char* summary;
  ProtNoneRule protnone;
  // uffd features and ioctls
  bool minor_anon;         // UFFD_FEATURE_MINOR_ANON (rfc-v1 02/12)
  bool minor_async;        // UFFD_FEATURE_MINOR_ASYNC (rfc-v1 06/12), shmem minor faults included
  bool deactivate;         // UFFDIO_DEACTIVATE (rfc-v1 03/12)
  bool rwp;                // VM_UFFD_RWP, UFFDIO_RWPROTECT, UFFD_FEATURE_RWP_ASYNC
  bool set_mode;           // UFFDIO_SET_MODE (rfc-v1 10/12; kept by the rwp series)
  // how the uffd path handles a PROT_NONE fault it owns
  UffdReason protnone_reason;  // the message a sync fault sends
  bool async_mkwrite;          // async resolution makes the PTE writable (rwp) or not (rfc-v1)
  bool uffd_path_feeds_numa;   // the uffd fault path calls task_numa_fault() (rfc-v1 cover letter)
  bool numab_skip_uffd_minor;  // task_numa_work() skips anon VM_UFFD_MINOR VMAs (rfc-v1 07/12)
  // PAGEMAP_SCAN categories added by the series
  bool cat_uffd_deactivated;  // PAGE_IS_UFFD_DEACTIVATED (rfc-v1 09/12)
  bool cat_accessed;          // PAGE_IS_ACCESSED (rwp)
  // GUP refuses to follow PROT_NONE in VM_UFFD_RWP VMAs (rwp v2 07/14)
  bool gup_rwp_guard;
  // UFFDIO_UNREGISTER restores every PROT_NONE of the VMA (rfc-v1 cannot tell its own from NUMA's)
  bool unregister_clears_all_protnone;
  // hpage_collapse_scan_pmd()'s refusal (mm/khugepaged.c enum scan_result) for a range with a
  // PTE, marker or swap entry carrying the uffd bit: SCAN_PTE_UFFD_WP on 6.18 (pte_uffd_wp());
  // the rwp series' base names it SCAN_PTE_UFFD (pte_uffd(), seed 002's context lines).
  const char* khugepaged_uffd_result;
  // folio_unmap_pte_batch() (mm/rmap.c), the PTEs one try_to_unmap_one() step clears for a large
  // folio: 6.18 batches lazy-free anon folios only; the later base of the series also batches
  // file (shmem) folios, and returns 1 on a userfaultfd_wp() VMA (each PTE gets its own
  // marker); seed 002 makes that userfaultfd_protected() (kernel.patches.rmap_uffd_protected).
  bool rmap_batch_file;
};

const KernelCaps& kernel_caps(Variant v);
std::span<const KernelCaps> kernel_variants();
const KernelCaps* find_variant(std::string_view name);
const char* variant_name(Variant v);

}  // namespace vmemsim::mm
