#include "models/mm/host_memory.hpp"

#include <algorithm>
#include <cmath>

#include "models/mm/pte.hpp"
#include "sim/core/error.hpp"

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
  frames_ = core::FlatArray<Frame>(base);
}

std::optional<Pfn> HostMemory::alloc_on(NodeId node, Mapper owner) {
  Node& n = nodes_[node.v];
  std::uint32_t pfn;
  if (!n.freed.empty()) {
    pfn = n.freed.back();
    n.freed.pop_back();
  } else if (n.bump < n.capacity) {
    pfn = n.base + static_cast<std::uint32_t>(n.bump++);
  } else if (!n.blocks.empty()) {
    // Break a free 2 MiB block: its first frame now, the rest to the 4 KiB pool.
    auto b = std::move(n.blocks.back());
    n.blocks.pop_back();
    pfn = b.front();
    n.freed.insert(n.freed.end(), b.rbegin(), b.rend() - 1);
  } else {
    return std::nullopt;
  }
  take(n, node, pfn, owner);
  return Pfn(pfn);
}

void HostMemory::take(Node& n, NodeId node, std::uint32_t pfn, Mapper owner, bool observed) {
  ++n.used;
  if (owner.vm.v >= owned_.size()) owned_.resize(owner.vm.v + 1, std::vector<std::uint64_t>(nodes_.size(), 0));
  ++owned_[owner.vm.v][node.v];
  VMEMSIM_CHECK(owner.gfn.v <= 0xffffffffull, "gfn " << owner.gfn.v << " beyond the 32-bit rmap index");
  frames_[pfn] = Frame{static_cast<std::uint32_t>(owner.gfn.v), static_cast<std::uint16_t>(owner.vm.v + 1), 0, 1, 0};
  if (observer_ && observed) [[unlikely]] observer_->frame_allocated(Pfn(pfn));
}

std::uint64_t HostMemory::free_blocks(unsigned node) const {
  const Node& n = nodes_[node];
  const std::uint64_t start = n.base + n.bump;
  const std::uint64_t aligned = (start + kBlockPages - 1) / kBlockPages * kBlockPages;
  const std::uint64_t end = n.base + n.capacity;
  return n.blocks.size() + (aligned < end ? (end - aligned) / kBlockPages : 0);
}

bool HostMemory::alloc_block(NodeId node, Mapper owner, std::uint32_t* out, bool compact) {
  Node& n = nodes_[node.v];
  if (!n.blocks.empty()) {
    const auto b = std::move(n.blocks.back());
    n.blocks.pop_back();
    for (unsigned i = 0; i < kBlockPages; ++i) out[i] = b[i];
  } else {
    const std::uint64_t start = n.base + n.bump;
    const std::uint64_t aligned = (start + kBlockPages - 1) / kBlockPages * kBlockPages;
    if (aligned + kBlockPages <= n.base + n.capacity) {
      for (std::uint64_t p = start; p < aligned; ++p) n.freed.push_back(static_cast<std::uint32_t>(p));
      n.bump = aligned + kBlockPages - n.base;
      for (unsigned i = 0; i < kBlockPages; ++i) out[i] = static_cast<std::uint32_t>(aligned + i);
    } else if (compact && n.freed.size() >= kBlockPages) {
      for (unsigned i = 0; i < kBlockPages; ++i) {
        out[i] = n.freed.back();
        n.freed.pop_back();
      }
    } else {
      return false;
    }
  }
  for (unsigned i = 0; i < kBlockPages; ++i) take(n, node, out[i], Mapper{owner.vm, Gfn(owner.gfn.v + i)});
  return true;
}

void HostMemory::free_block(const std::uint32_t* pfns) {
  const NodeId node = node_of(Pfn(pfns[0]));
  std::vector<std::uint32_t> b(pfns, pfns + kBlockPages);
  for (auto pfn : b) {
    const Frame& f = frames_[pfn];
    VMEMSIM_CHECK(f.vm1 != 0 && f.refcount == 1 && f.mapcount == 0 && node_of(Pfn(pfn)) == node,
                  "free_block: pfn " << pfn << " still referenced or mapped");
    release(Pfn(pfn), false);
  }
  nodes_[node.v].blocks.push_back(std::move(b));
}

bool HostMemory::reserve_hugetlb(unsigned node, std::uint64_t count) {
  Node& n = nodes_[node];
  for (std::uint64_t k = 0; k < count; ++k) {
    const std::uint64_t start = n.base + n.bump;
    const std::uint64_t aligned = (start + kBlockPages - 1) / kBlockPages * kBlockPages;
    if (aligned + kBlockPages > n.base + n.capacity) return false;
    for (std::uint64_t p = start; p < aligned; ++p) n.freed.push_back(static_cast<std::uint32_t>(p));
    n.bump = aligned + kBlockPages - n.base;
    std::vector<std::uint32_t> b(kBlockPages);
    for (unsigned i = 0; i < kBlockPages; ++i) b[i] = static_cast<std::uint32_t>(aligned + i);
    n.huge_pool.push_back(std::move(b));
    ++n.huge_total;
  }
  return true;
}

bool HostMemory::alloc_hugetlb(NodeId node, Mapper owner, std::uint32_t* out) {
  Node& n = nodes_[node.v];
  if (n.huge_pool.empty()) return false;
  const auto b = std::move(n.huge_pool.back());
  n.huge_pool.pop_back();
  for (unsigned i = 0; i < kBlockPages; ++i) {
    out[i] = b[i];
    take(n, node, out[i], Mapper{owner.vm, Gfn(owner.gfn.v + i)}, false);
  }
  return true;
}

void HostMemory::free_hugetlb(const std::uint32_t* pfns) {
  const NodeId node = node_of(Pfn(pfns[0]));
  std::vector<std::uint32_t> b(pfns, pfns + kBlockPages);
  for (auto pfn : b) {
    const Frame& f = frames_[pfn];
    VMEMSIM_CHECK(f.vm1 != 0 && f.refcount == 1 && f.mapcount == 0 && node_of(Pfn(pfn)) == node,
                  "free_hugetlb: pfn " << pfn << " still referenced or mapped");
    release(Pfn(pfn), false, false);
  }
  nodes_[node.v].huge_pool.push_back(std::move(b));
}

std::optional<Pfn> HostMemory::alloc(std::span<const unsigned> order, Mapper owner) {
  for (unsigned node : order) {
    if (auto p = alloc_on(NodeId(static_cast<std::uint16_t>(node)), owner)) return p;
  }
  return std::nullopt;
}

void HostMemory::get(Pfn pfn) {
  Frame& f = frames_[pfn.v];
  VMEMSIM_CHECK(f.vm1 != 0, "get on free pfn " << pfn.v);
  VMEMSIM_CHECK(f.refcount < 0xffff, "refcount overflow on pfn " << pfn.v);
  ++f.refcount;
}

void HostMemory::put(Pfn pfn) {
  Frame& f = frames_[pfn.v];
  VMEMSIM_CHECK(f.vm1 != 0 && f.refcount > 0, "put on free pfn " << pfn.v);
  VMEMSIM_CHECK(f.refcount > f.mapcount, "put would drop pfn " << pfn.v << " below its mapcount " << f.mapcount);
  if (--f.refcount == 0) release(pfn);
}

void HostMemory::map(Pfn pfn, Mapper who) {
  Frame& f = frames_[pfn.v];
  VMEMSIM_CHECK(f.vm1 != 0, "map of free pfn " << pfn.v);
  VMEMSIM_CHECK(f.mapcount < 0xffff, "mapcount overflow on pfn " << pfn.v);
  auto it = extra_.find(pfn.v);
  const std::size_t extras = it == extra_.end() ? 0 : it->second.size();
  const bool owner_maps = f.mapcount > extras;
  if (who == owner(pfn) && !owner_maps) {
    ++f.mapcount;
    return;
  }
  auto& list = extra_[pfn.v];
  VMEMSIM_CHECK(std::find(list.begin(), list.end(), who) == list.end() && !(who == owner(pfn)),
                "pfn " << pfn.v << " mapped twice by the same page");
  list.push_back(who);
  ++f.mapcount;
}

void HostMemory::unmap(Pfn pfn, Mapper who) {
  Frame& f = frames_[pfn.v];
  VMEMSIM_CHECK(f.vm1 != 0 && f.mapcount > 0, "unmap of unmapped pfn " << pfn.v);
  auto it = extra_.find(pfn.v);
  if (it != extra_.end()) {
    auto& list = it->second;
    auto pos = std::find(list.begin(), list.end(), who);
    if (pos != list.end()) {
      list.erase(pos);
      if (list.empty()) extra_.erase(it);
      --f.mapcount;
      return;
    }
  }
  const std::size_t extras = it == extra_.end() ? 0 : it->second.size();
  VMEMSIM_CHECK(who == owner(pfn) && f.mapcount > extras, "pfn " << pfn.v << " is not mapped by that page");
  --f.mapcount;
}

std::vector<Mapper> HostMemory::mappers(Pfn pfn) const {
  std::vector<Mapper> out;
  const Frame& f = frames_[pfn.v];
  if (f.vm1 == 0) return out;
  auto it = extra_.find(pfn.v);
  const std::size_t extras = it == extra_.end() ? 0 : it->second.size();
  if (f.mapcount > extras) out.push_back(owner(pfn));
  if (it != extra_.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  return out;
}

void HostMemory::set_ksm(Pfn pfn) {
  VMEMSIM_CHECK(frames_[pfn.v].vm1 != 0, "set_ksm on free pfn " << pfn.v);
  if (ksm_bits_.empty()) ksm_bits_.assign((frames_.size() + 63) / 64, 0);
  if (!is_ksm(pfn)) ++ksm_frames_;
  ksm_bits_[pfn.v >> 6] |= 1ull << (pfn.v & 63);
}

void HostMemory::release(Pfn pfn, bool to_pool, bool observed) {
  if (is_ksm(pfn)) {  // a KSM page's last reference went (the stable node goes stale)
    ksm_bits_[pfn.v >> 6] &= ~(1ull << (pfn.v & 63));
    --ksm_frames_;
  }
  if (observer_ && observed) [[unlikely]] observer_->frame_freed(pfn);
  const NodeId node = node_of(pfn);
  Node& n = nodes_[node.v];
  --owned_[owner(pfn).vm.v][node.v];
  frames_[pfn.v] = Frame{};
  --n.used;
  if (to_pool) n.freed.push_back(pfn.v);
}

NodeId HostMemory::node_of(Pfn pfn) const {
  for (unsigned i = 0; i + 1 < nodes_.size(); ++i) {
    if (pfn.v < nodes_[i + 1].base) return NodeId(static_cast<std::uint16_t>(i));
  }
  return NodeId(static_cast<std::uint16_t>(nodes_.size() - 1));
}

std::uint64_t HostMemory::default_min_free_kbytes(std::uint64_t total_pages) {
  const std::uint64_t lowmem_kbytes = total_pages * 4;
  std::uint64_t v = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(lowmem_kbytes * 16)));
  while (v * v > lowmem_kbytes * 16) --v;  // int_sqrt() rounds down
  return std::clamp<std::uint64_t>(v, 128, 262144);
}

void HostMemory::setup_watermarks(std::uint64_t min_free_kbytes, unsigned watermark_scale_factor) {
  const std::uint64_t pages_min = min_free_kbytes >> 2;  // >> (PAGE_SHIFT - 10)
  std::uint64_t lowmem = 0;
  for (const auto& n : nodes_) lowmem += n.capacity;
  for (auto& n : nodes_) {
    if (lowmem == 0) break;
    const std::uint64_t min = pages_min * n.capacity / lowmem;
    const std::uint64_t gap = std::max<std::uint64_t>(min >> 2, n.capacity * watermark_scale_factor / 10000);
    n.wmark = {min, min + gap, min + 2 * gap, min + 3 * gap};
  }
}

void HostMemory::check_invariants() const {
  for (unsigned i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    std::uint64_t owned = 0;
    for (std::uint64_t k = 0; k < n.bump; ++k) {
      const Frame& f = frames_[n.base + k];
      if (f.vm1 == 0) {
        VMEMSIM_CHECK(f.refcount == 0 && f.mapcount == 0, "free pfn " << n.base + k << " has references");
        continue;
      }
      ++owned;
      VMEMSIM_CHECK(f.refcount >= f.mapcount && f.refcount > 0,
                    "pfn " << n.base + k << ": refcount " << f.refcount << " < mapcount " << f.mapcount);
    }
    VMEMSIM_CHECK(owned == n.used, "node " << i << ": " << owned << " owned frames but used=" << n.used);
    std::uint64_t by_vm = 0;
    for (const auto& v : owned_) by_vm += v[i];
    VMEMSIM_CHECK(by_vm == n.used, "node " << i << ": per-VM owned counts sum to " << by_vm << ", used=" << n.used);
    VMEMSIM_CHECK(n.huge_pool.size() <= n.huge_total, "node " << i << ": hugetlb pool above nr_hugepages");
    VMEMSIM_CHECK(n.bump - n.freed.size() - (n.blocks.size() + n.huge_pool.size()) * kBlockPages == n.used,
                  "node " << i << ": free-list accounting broken");
  }
  for (const auto& [pfn, list] : extra_)
    VMEMSIM_CHECK(!list.empty() && frames_[pfn].mapcount >= list.size(), "rmap side table of pfn " << pfn);
}

}  // namespace vmemsim::mm
