#include "models/mm/host_memory.hpp"

#include "sim/core/error.hpp"
#include "models/mm/pte.hpp"

namespace vmemsim::mm {

HostMemory::HostMemory(std::vector<std::uint64_t> node_frames) {
  std::uint64_t base = 0;
  for (auto n : node_frames) {
    Node nd;
    nd.base = static_cast<std::uint32_t>(base);
    nd.capacity = n;
    nodes_.push_back(std::move(nd));
    base += n;
  }
  VMEMSIM_CHECK(base < pte::kZeroPfn, "host memory of " << base << " frames exceeds the 32-bit pfn space");
  owner_ = core::FlatArray<std::uint64_t>(base);
}

std::optional<std::uint32_t> HostMemory::alloc_on(unsigned node, std::uint64_t owner) {
  Node& n = nodes_[node];
  std::uint32_t pfn;
  if (!n.freed.empty()) {
    pfn = n.freed.back();
    n.freed.pop_back();
  } else if (n.bump < n.capacity) {
    pfn = n.base + static_cast<std::uint32_t>(n.bump++);
  } else {
    return std::nullopt;
  }
  ++n.used;
  owner_[pfn] = owner;
  return pfn;
}

std::optional<std::uint32_t> HostMemory::alloc(std::span<const unsigned> order, std::uint64_t owner) {
  for (unsigned node : order) {
    if (auto p = alloc_on(node, owner)) return p;
  }
  return std::nullopt;
}

void HostMemory::free(std::uint32_t pfn) {
  Node& n = nodes_[node_of(pfn)];
  VMEMSIM_CHECK(owner_[pfn] != FrameOwner::kFree, "double free of pfn " << pfn);
  owner_[pfn] = FrameOwner::kFree;
  --n.used;
  n.freed.push_back(pfn);
}

unsigned HostMemory::node_of(std::uint32_t pfn) const {
  for (unsigned i = 0; i + 1 < nodes_.size(); ++i) {
    if (pfn < nodes_[i + 1].base) return i;
  }
  return static_cast<unsigned>(nodes_.size() - 1);
}

void HostMemory::check_invariants() const {
  for (unsigned i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    std::uint64_t owned = 0;
    for (std::uint64_t f = 0; f < n.bump; ++f) owned += owner_[n.base + f] != FrameOwner::kFree;
    VMEMSIM_CHECK(owned == n.used, "node " << i << ": " << owned << " owned frames but used=" << n.used);
    VMEMSIM_CHECK(n.bump - n.freed.size() == n.used, "node " << i << ": free-list accounting broken");
  }
}

}  // namespace vmemsim::mm
