// The `kernel.reclaim` section (section.cpp): kernel reclaim with the LRU `lru` names (classic:
// lru.hpp, mglru: mglru.hpp). Enabled, it builds one Reclaimer per host, a kswapd per node with
// memory and a per-VM `reclaim` mechanism, and lets a host's guests overcommit its DRAM up to
// DRAM + swap.
#pragma once
#include "models/kernel/registry.hpp"

namespace vmemsim::vmscan {

kernel::DaemonInfo lru_section_info();

}  // namespace vmemsim::vmscan
