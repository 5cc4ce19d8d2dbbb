// Host physical memory: frames per NUMA node, a free pool per node and the reverse map.
//
// Lifecycle: built once per simulated host from the scenario; address spaces allocate and free
// frames through it. Frames of node n are the pfn range [base_n, base_n + capacity_n); a node's
// pool hands out never-used frames by bumping a cursor and reuses freed ones from a stack, so
// construction is O(nodes), not O(frames).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "sim/core/flat_array.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::mm {

// Reverse map entry of a frame: which VM and which page (gfn / shmem index) uses it.
// 0 = free. A KSM frame shared by several mappers keeps its stable-node link elsewhere.
struct FrameOwner {
  static constexpr std::uint64_t kFree = 0;
  static std::uint64_t pack(std::uint16_t vm, std::uint64_t gfn) {
    return (static_cast<std::uint64_t>(vm + 1) << 48) | gfn;
  }
  static std::uint16_t vm(std::uint64_t o) { return static_cast<std::uint16_t>((o >> 48) - 1); }
  static std::uint64_t gfn(std::uint64_t o) { return o & ((1ull << 48) - 1); }
};

class HostMemory {
 public:
  // capacities in 4 KiB frames, per node (a node may have 0 frames)
  explicit HostMemory(std::vector<std::uint64_t> node_frames);

  unsigned node_count() const { return static_cast<unsigned>(nodes_.size()); }
  std::uint64_t capacity(unsigned node) const { return nodes_[node].capacity; }
  std::uint64_t used(unsigned node) const { return nodes_[node].used; }
  std::uint64_t free_frames(unsigned node) const { return nodes_[node].capacity - nodes_[node].used; }
  std::uint64_t total_frames() const { return owner_.size(); }

  // Allocates one frame on `node`, or nullopt if the node is full.
  std::optional<std::uint32_t> alloc_on(unsigned node, std::uint64_t owner);
  // Tries nodes in `order` (preferred first, then by distance): __alloc_pages' zonelist walk.
  std::optional<std::uint32_t> alloc(std::span<const unsigned> order, std::uint64_t owner);
  void free(std::uint32_t pfn);

  unsigned node_of(std::uint32_t pfn) const;
  std::uint64_t owner(std::uint32_t pfn) const { return owner_[pfn]; }

  // Verifies frame accounting (used counts against the reverse map); throws InternalError.
  void check_invariants() const;

 private:
  struct Node {
    std::uint32_t base = 0;
    std::uint64_t capacity = 0;
    std::uint64_t used = 0;
    std::uint64_t bump = 0;             // frames [base, base+bump) have been handed out once
    std::vector<std::uint32_t> freed;   // recycled frames, LIFO
  };
  std::vector<Node> nodes_;
  core::FlatArray<std::uint64_t> owner_;
};

}  // namespace vmemsim::mm
