// The PTE encoding shared by every mechanism (KERNEL-MODEL.md §2).
//
// One 64-bit word per guest page:
//   bits  0..31  pfn of the mapped frame, or the swap slot of a swap entry
//   bit  32      PRESENT   mapped to a frame (true for PROT_NONE too, like pte_present())
//   bit  33      PROTNONE  hardware-inaccessible (NUMA hint, rfc-v1 deactivate, RWP)
//   bit  34      WRITE     hardware-writable
//   bit  35      ACCESSED  young
//   bit  36      DIRTY
//   bit  37      UFFD      the uffd PTE bit (WP marker, or RWP marker with PROTNONE)
//   bit  38      SWAP      a swap entry (PRESENT clear); UFFD survives in it
//   bits 40..45  NUMA node of the frame, cached so the fast path never looks the frame up
//   bit  46      HUGE      one of the 512 slots of a PMD-mapped 2 MiB folio (models/thp)
// A PTE that is exactly UFFD (nothing else set) is the uffd-wp PTE marker (PTE_MARKER_UFFD_WP,
// include/linux/swapops.h): a none PTE that remembers a write protection. The kernel stores it
// as a swap-format entry, so pte_none() is false for it and handle_pte_fault() takes it to
// do_swap_page() -> handle_pte_marker() -> pte_marker_handle_uffd_wp(), which faults the page
// in as for a none PTE and carries the bit into the new PTE (pte_mkuffd_wp).
// PN_NUMA and rfc-v1's PN_DEACT are both PRESENT|PROTNONE with UFFD clear: the encoding
// cannot tell them apart, exactly as in the kernel, and that is what produces the seed-000
// protnone conflict. Who really set a PROT_NONE is hidden ground truth kept elsewhere.
//
// A PMD mapping (a 2 MiB THP, models/thp) is kept as its 512 PTE slots, each with HUGE set and
// mapping its subpage's frame, so the vCPU fast path reads one slot per access whatever the
// mapping size. While HUGE is set the 512 slots are one page-table entry: every transition
// applies to all of them together (models/thp splits the PMD first where an operation covers
// only part of it, as __split_huge_pmd() does), except the accessed and dirty bits, which the
// MMU sets in the slot it touched: the PMD's A (D) bit is the OR of its slots' bits, and a
// split gives every subpage the PMD's A/D (__split_huge_pmd_locked()). HUGE sits next to the
// node bits so that the fast path's latency lookup (lat_index) tells a PMD-mapped access from
// a 4 KiB one with the same shift and mask it used for the node alone: the TLB-reach saving
// costs the fast path nothing.
#pragma once
#include <cstdint>

namespace vmemsim::mm {

using Pte = std::uint64_t;

namespace pte {
constexpr Pte kPfnMask = 0xffffffffull;
constexpr Pte kPresent = 1ull << 32;
constexpr Pte kProtNone = 1ull << 33;
constexpr Pte kWrite = 1ull << 34;
constexpr Pte kAccessed = 1ull << 35;
constexpr Pte kDirty = 1ull << 36;
constexpr Pte kUffd = 1ull << 37;
constexpr Pte kSwap = 1ull << 38;
constexpr int kNodeShift = 40;
constexpr Pte kNodeMask = 0x3full << kNodeShift;  // nodes < 64 (mm::kMaxNodes)
constexpr Pte kHuge = 1ull << 46;

// The shared zero page (ZERO_PFN): a read fault on untouched anon memory maps it read-only.
constexpr std::uint32_t kZeroPfn = 0xffffffffu;

constexpr bool none(Pte p) { return p == 0; }
constexpr bool marker(Pte p) { return p == kUffd; }
// pte_none() || a uffd-wp marker: no page behind it either way.
constexpr bool none_or_marker(Pte p) { return (p & ~kUffd) == 0; }
constexpr bool present(Pte p) { return (p & kPresent) != 0; }
constexpr bool protnone(Pte p) { return (p & (kPresent | kProtNone)) == (kPresent | kProtNone); }
constexpr bool writable(Pte p) { return (p & kWrite) != 0; }
constexpr bool young(Pte p) { return (p & kAccessed) != 0; }
constexpr bool dirty(Pte p) { return (p & kDirty) != 0; }
constexpr bool uffd(Pte p) { return (p & kUffd) != 0; }
constexpr bool swap(Pte p) { return (p & kSwap) != 0; }
constexpr bool huge(Pte p) { return (p & kHuge) != 0; }
constexpr std::uint32_t pfn(Pte p) { return static_cast<std::uint32_t>(p & kPfnMask); }
constexpr unsigned node(Pte p) { return static_cast<unsigned>((p & kNodeMask) >> kNodeShift); }
// The vCPU's latency-table index: the node, plus 64 when the PTE belongs to a PMD mapping.
constexpr unsigned kLatIndexes = 128;
constexpr unsigned lat_index(Pte p) { return static_cast<unsigned>(p >> kNodeShift) & (kLatIndexes - 1); }
constexpr bool zero_page(Pte p) { return present(p) && pfn(p) == kZeroPfn; }

constexpr Pte make_present(std::uint32_t pfn, unsigned node, bool write) {
  return kPresent | (write ? kWrite : 0) | (static_cast<Pte>(node) << kNodeShift) | pfn;
}

// The hardware check of the fast path: may this access complete without a fault?
constexpr bool accessible(Pte p, bool write) {
  const Pte mask = kPresent | kProtNone | (write ? kWrite : 0);
  const Pte want = kPresent | (write ? kWrite : 0);
  return (p & mask) == want;
}
}  // namespace pte

}  // namespace vmemsim::mm
