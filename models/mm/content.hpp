// Page content identity: what a page holds, as one 64-bit word per guest page, so that KSM
// (models/ksm) can find identical pages by content and every data path carries content along.
//
// Lifecycle: a VM gets a content array (AddressSpace::enable_content) when the scenario
// describes its memory (vms[i].content) or when KSM is on; without one nothing is stored and the
// vCPU fast path takes no content branch (8 B per page only for VMs that have it). The word
// is per guest page (gfn), not per frame: every mapper of a frame holds the same data (a
// frame is shared only by KSM, which merges equal content), so the data a frame holds is
// the content of any page that maps it; a COW copy, a migration, a swap-out/in and an
// eviction keep it because they keep the page's data.
//
// Encoding (two tag bits, so classes never collide):
//   0                                the zero page's content (a page of zeroes)
//   1<<62 | image<<32 | j            the j-th page of boot image `image` (identical in every
//                                    VM booted from that image)
//   2<<62 | vm<<32 | k               the k-th distinct content duplicated within VM `vm`
//   3<<62 | vm<<40 | n               a unique page (n counts per VM)
#pragma once
#include <cstdint>

namespace vmemsim::mm {

// The content of a VM's memory as a scenario describes it, in pages. Layout by gfn: image
// pages first, then zero pages, then duplicated pages (page i of that range holds distinct
// content i % dup_contents, so each content has an equal share), then unique pages.
struct ContentSpec {
  std::uint32_t image = 0;          // boot image id (per image name, from 1); 0 = no image pages
  std::uint64_t image_pages = 0;
  std::uint64_t zero_pages = 0;
  std::uint64_t dup_pages = 0;
  std::uint64_t dup_contents = 1;   // distinct contents the duplicated pages are spread over
  // A guest write gives the page new content: with probability write_shared a shared one (one
  // of the VM's duplicated contents, or zeroes if it has none), otherwise a new unique value.
  double write_shared = 0.0;
};

namespace content {
constexpr std::uint64_t kZero = 0;
constexpr std::uint64_t image(std::uint32_t img, std::uint64_t j) { return (1ull << 62) | (std::uint64_t(img) << 32) | (j & 0xffffffffull); }
constexpr std::uint64_t dup(std::uint16_t vm, std::uint64_t k) { return (2ull << 62) | (std::uint64_t(vm) << 32) | (k & 0xffffffffull); }
constexpr std::uint64_t unique(std::uint16_t vm, std::uint64_t n) { return (3ull << 62) | (std::uint64_t(vm) << 40) | (n & ((1ull << 40) - 1)); }
}  // namespace content

}  // namespace vmemsim::mm
