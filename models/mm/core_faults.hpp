// The kernel's default fault paths as a fault mechanism (mm/memory.c, mm/shmem.c): they take
// whatever the mechanisms in front of them (userfaultfd, ...) decline.
#pragma once
#include <memory>

#include "models/mm/address_space.hpp"

namespace vmemsim::mm {

std::unique_ptr<FaultHandler> install_core_faults(AddressSpace& as);

}  // namespace vmemsim::mm
