// Host physical memory: frames per NUMA node, a free pool per node, and per frame its
// refcount, mapcount and reverse map (struct page / struct folio, mm/rmap.c).
//
// Lifecycle: built once per simulated host from the scenario; address spaces allocate frames
// through it, take and drop references and mappings, and the frame returns to its node's pool
// when its last reference goes (folio_put()). Frames of node n are the pfn range
// [base_n, base_n + capacity_n); a node's pool hands out never-used frames by bumping a cursor
// and reuses freed ones from a stack, so construction is O(nodes), not O(frames).
//
// Reference rules, as in the kernel: an anon frame holds one reference per mapping; a shmem
// frame holds one for the page cache plus one per mapping; GUP pins add references. The rmap
// keeps every (VM, page) that maps the frame, so a frame can be shared by several mappers of
// different VMs (KSM, mm/ksm.c): its first mapper lives in the frame record, any further ones
// in a side table that only shared frames use.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "sim/core/flat_array.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::mm {

using core::Gfn;
using core::NodeId;
using core::Pfn;
using core::VmId;

// One mapper of a frame: a page of a VM (an anon gfn, or a shmem file index).
struct Mapper {
  VmId vm;
  Gfn gfn;
  constexpr bool operator==(const Mapper&) const = default;
};

// The per-frame record, 12 bytes (DESIGN.md budget: page table + frame + policy state
// <= 32 B per 4 KiB page). `reclaim` is room for the reclaim mechanism's per-frame state
// (LRU list id, MGLRU generation, age bits); its list links, if it keeps any, are its own.
struct Frame {
  std::uint32_t gfn = 0;       // the first mapper's page (gfns are < 2^32 per VM)
  std::uint16_t vm1 = 0;       // the first mapper's VM + 1; 0 = the frame is free
  std::uint16_t mapcount = 0;  // PTEs that map the frame (folio_mapcount)
  std::uint16_t refcount = 0;  // references (folio_ref_count): mappings + page cache + pins
  std::uint16_t reclaim = 0;   // owned by the reclaim mechanism
};
static_assert(sizeof(Frame) == 12);

// The reclaim mechanism's view of frame lifetimes and swap entries (models/vmscan/lru.hpp):
// a frame enters the LRU when it is allocated (folio_add_lru) and leaves it when its last
// reference goes; a swap entry goes when do_swap_page() brings the page back or a zap drops it
// (free_swap_and_cache). At most one per host; none (the default) costs one null test per
// allocation and free.
class FrameObserver {
 public:
  virtual ~FrameObserver() = default;
  virtual void frame_allocated(Pfn pfn) = 0;
  virtual void frame_freed(Pfn pfn) = 0;
  // `pfn`: the frame the page was swapped into; nullopt: the entry was zapped.
  virtual void swap_entry_freed(std::uint32_t slot, std::optional<Pfn> pfn) = 0;
};

class HostMemory {
 public:
  // capacities in 4 KiB frames, per node (a node may have 0 frames)
  explicit HostMemory(std::vector<std::uint64_t> node_frames);

  unsigned node_count() const { return static_cast<unsigned>(nodes_.size()); }
  std::uint64_t capacity(unsigned node) const { return nodes_[node].capacity; }
  std::uint64_t used(unsigned node) const { return nodes_[node].used; }
  // Free to the buddy allocator: the hugetlb pool's free pages are reserved, not free (MemFree
  // in /proc/meminfo drops when nr_hugepages is raised).
  std::uint64_t free_frames(unsigned node) const {
    return nodes_[node].capacity - nodes_[node].used - nodes_[node].huge_pool.size() * kBlockPages;
  }
  std::uint64_t total_frames() const { return frames_.size(); }

  // Allocates one frame on `node` for `owner` with one reference and no mapping yet, or
  // nullopt if the node is full.
  std::optional<Pfn> alloc_on(NodeId node, Mapper owner);
  // Tries nodes in `order` (preferred first, then by distance): __alloc_pages' zonelist walk.
  std::optional<Pfn> alloc(std::span<const unsigned> order, Mapper owner);

  // ---- 2 MiB blocks for PMD-mapped folios (models/thp) ----
  // The fragmentation model, deliberately simple: a node hands out a free 2 MiB block from
  // (1) the blocks that whole huge folios gave back (free_block), else (2) its never-used frames,
  // aligned to 512 (frames skipped for alignment go to the 4 KiB pool). Frames freed one by one
  // never coalesce back into a block (no buddy merging), so a node whose never-used memory is
  // gone has blocks only where whole huge folios were freed. `compact` (direct compaction, the
  // defrag setting) may then gather any 512 free 4 KiB frames into a block: compaction moves
  // pages until an aligned block is free, and the model keeps no physical contiguity, so only
  // the count of free frames and the caller's compaction cost matter. A 4 KiB allocation that
  // finds no free frame and no never-used memory breaks a free block (__rmqueue_smallest).
  static constexpr unsigned kBlockPages = 512;
  // Allocates a block on `node` for pages owner.gfn .. owner.gfn + 511 (frame i for gfn + i,
  // one reference each, no mapping) into out[0..511]. False when the node has no block.
  bool alloc_block(NodeId node, Mapper owner, std::uint32_t* out, bool compact);
  // The last references of a whole huge folio (each frame refcount 1, mapcount 0): the frames
  // go back to the node as one block.
  void free_block(const std::uint32_t* pfns);
  // Blocks the node could hand out without compaction.
  std::uint64_t free_blocks(unsigned node) const;

  // ---- the hugetlb pool (mm/hugetlb.c, /sys/devices/system/node/nodeN/hugepages/
  // hugepages-2048kB/nr_hugepages) ----
  // set_max_huge_pages() -> alloc_pool_huge_folio(): `count` 2 MiB pages taken from the node's
  // never-used memory at boot (as hugepages= on the command line reserves them before the buddy
  // allocator fragments), kept out of the buddy allocator and off the LRU. False when the node
  // has fewer aligned blocks than asked (the kernel then stops short; the reader refuses it).
  bool reserve_hugetlb(unsigned node, std::uint64_t count);
  std::uint64_t hugetlb_total(unsigned node) const { return nodes_[node].huge_total; }
  std::uint64_t hugetlb_free(unsigned node) const { return nodes_[node].huge_pool.size(); }
  // dequeue_hugetlb_folio_node_exact(): a free pool page on `node` for pages owner.gfn .. +511
  // (frame i for gfn + i, one reference each, no mapping) into out[0..511]. The frames are not
  // announced to the FrameObserver: hugetlb folios never enter the LRU. False when the node's
  // pool is empty.
  bool alloc_hugetlb(NodeId node, Mapper owner, std::uint32_t* out);
  // free_huge_folio() -> enqueue_hugetlb_folio(): the folio's last references (each frame
  // refcount 1, mapcount 0) go; it returns to its node's pool, not to the buddy allocator.
  void free_hugetlb(const std::uint32_t* pfns);

  // folio_get() / folio_put(): the frame is freed when its last reference goes.
  void get(Pfn pfn);
  void put(Pfn pfn);
  // A PTE of `who` now maps / no longer maps the frame (folio_add_*_rmap / folio_remove_rmap).
  // map() does not take a reference: callers pair it with the reference their mapping holds.
  void map(Pfn pfn, Mapper who);
  void unmap(Pfn pfn, Mapper who);

  NodeId node_of(Pfn pfn) const;
  const Frame& frame(Pfn pfn) const { return frames_[pfn.v]; }
  Frame& frame(Pfn pfn) { return frames_[pfn.v]; }
  bool is_free(Pfn pfn) const { return frames_[pfn.v].vm1 == 0; }
  // folio_test_ksm(): the frame is a KSM page (set by ksmd when it makes the page a stable-tree
  // page, cleared when the frame is freed). A bitmap beside the frames, allocated on the first
  // set_ksm(): 1 bit per frame while KSM has merged anything, nothing otherwise.
  bool is_ksm(Pfn pfn) const { return pfn.v < ksm_bits_.size() * 64 && (ksm_bits_[pfn.v >> 6] >> (pfn.v & 63)) & 1; }
  void set_ksm(Pfn pfn);
  std::uint64_t ksm_frames() const { return ksm_frames_; }
  // The rmap walk (rmap_walk()): every mapper in a deterministic order, the first mapper first.
  std::vector<Mapper> mappers(Pfn pfn) const;
  // The frame's identity page: its first mapper (for anon, the page it was allocated for).
  Mapper owner(Pfn pfn) const { return {VmId(static_cast<std::uint16_t>(frames_[pfn.v].vm1 - 1)), Gfn(frames_[pfn.v].gfn)}; }

  // Per-node watermarks (zone->_watermark of a node's one zone), from min_free_kbytes and
  // watermark_scale_factor as __setup_per_zone_wmarks() derives them (mm/page_alloc.c).
  struct Watermarks {
    std::uint64_t min = 0, low = 0, high = 0;  // pages
    std::uint64_t promo = 0;  // WMARK_PROMO: high + the same step (memory-tiering promotion)
  };
  void setup_watermarks(std::uint64_t min_free_kbytes, unsigned watermark_scale_factor);
  const Watermarks& watermarks(unsigned node) const { return nodes_[node].wmark; }
  // wakeup_kswapd(): a request for the node's kswapd (pgdat->kswapd_wait), from a mechanism that
  // needs room on the node; Promo: a memory-tiering promotion asked for it, and kswapd then
  // balances to WMARK_PROMO (pgdat_balanced() in tiering mode). kswapd takes the request.
  enum class KswapdWake : std::uint8_t { None = 0, Normal = 1, Promo = 2 };
  void wakeup_kswapd(unsigned node, KswapdWake w) {
    auto& k = nodes_[node].kswapd_wake;
    if (static_cast<std::uint8_t>(w) > k) k = static_cast<std::uint8_t>(w);
  }
  KswapdWake kswapd_wake(unsigned node) const { return static_cast<KswapdWake>(nodes_[node].kswapd_wake); }
  KswapdWake take_kswapd_wake(unsigned node) {
    const auto w = kswapd_wake(node);
    nodes_[node].kswapd_wake = 0;
    return w;
  }
  // calculate_min_free_kbytes(): int_sqrt(lowmem_kbytes * 16), clamped to [128, 262144].
  static std::uint64_t default_min_free_kbytes(std::uint64_t total_pages);

  // Frames owned (allocated for, see owner()) by VM `vm` on `node`: the VM's resident memory,
  // whoever drops the frame's last reference.
  std::uint64_t owned(VmId vm, unsigned node) const {
    return vm.v < owned_.size() ? owned_[vm.v][node] : 0;
  }

  void set_observer(FrameObserver* o) { observer_ = o; }
  FrameObserver* observer() const { return observer_; }

  // Verifies frame accounting (used counts, free list, refcount >= mapcount); throws InternalError.
  void check_invariants() const;

 private:
  void release(Pfn pfn, bool to_pool = true, bool observed = true);
  struct Node {
    std::uint32_t base = 0;
    std::uint64_t capacity = 0;
    std::uint64_t used = 0;
    std::uint64_t bump = 0;             // frames [base, base+bump) have been handed out once
    std::vector<std::uint32_t> freed;   // recycled frames, LIFO
    std::vector<std::vector<std::uint32_t>> blocks;  // 2 MiB blocks freed whole, LIFO
    std::vector<std::vector<std::uint32_t>> huge_pool;  // free hugetlb pages, LIFO
    std::uint64_t huge_total = 0;                        // nr_hugepages
    Watermarks wmark;
    std::uint8_t kswapd_wake = 0;  // KswapdWake: a pending wakeup_kswapd() request
  };
  void take(Node& n, NodeId node, std::uint32_t pfn, Mapper owner, bool observed = true);
  std::vector<Node> nodes_;
  core::FlatArray<Frame> frames_;
  // Mappers beyond the first, for frames mapped by several pages (KSM); ordered by pfn, each
  // list in mapping order, so an rmap walk never depends on pointer or hash order.
  std::map<std::uint32_t, std::vector<Mapper>> extra_;
  std::vector<std::vector<std::uint64_t>> owned_;  // [vm][node]
  std::vector<std::uint64_t> ksm_bits_;  // folio_test_ksm, empty until KSM merges
  std::uint64_t ksm_frames_ = 0;
  FrameObserver* observer_ = nullptr;
};

}  // namespace vmemsim::mm
