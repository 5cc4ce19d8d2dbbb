// The NUMA hinting fault (do_numa_page, mm/memory.c) as a fault mechanism: it takes the
// PROT_NONE faults the capability table gives to NUMA.
#pragma once
#include <memory>

#include "models/mm/address_space.hpp"

namespace vmemsim::numa {

std::unique_ptr<mm::FaultHandler> install_hinting_faults(mm::AddressSpace& as);

}  // namespace vmemsim::numa
