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
//   bits 40..47  NUMA node of the frame, cached so the fast path never looks the frame up
// A PTE that is exactly UFFD (nothing else set) is the uffd-wp PTE marker (PTE_MARKER_UFFD_WP,
// include/linux/swapops.h): a none PTE that remembers a write protection. The kernel stores it
// as a swap-format entry, so pte_none() is false for it and handle_pte_fault() takes it to
// do_swap_page() -> handle_pte_marker() -> pte_marker_handle_uffd_wp(), which faults the page
// in as for a none PTE and carries the bit into the new PTE (pte_mkuffd_wp).
// PN_NUMA and rfc-v1's PN_DEACT are both PRESENT|PROTNONE with UFFD clear: the encoding
// cannot tell them apart, exactly as in the kernel, and that is what produces the seed-000
// protnone conflict. Who really set a PROT_NONE is hidden ground truth kept elsewhere.
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
constexpr Pte kNodeMask = 0xffull << kNodeShift;

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
constexpr std::uint32_t pfn(Pte p) { return static_cast<std::uint32_t>(p & kPfnMask); }
constexpr unsigned node(Pte p) { return static_cast<unsigned>((p & kNodeMask) >> kNodeShift); }
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
