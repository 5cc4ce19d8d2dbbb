// The `kernel.reclaim` section: kernel reclaim with the classic LRU (lru.hpp). Enabled, it builds
// one HostLru per host, a kswapd per node with memory and a per-VM `reclaim` mechanism, and lets
// a host's guests overcommit its DRAM up to DRAM + swap.
#pragma once
#include "models/kernel/registry.hpp"

namespace vmemsim::vmscan {

kernel::DaemonInfo lru_section_info();

}  // namespace vmemsim::vmscan
