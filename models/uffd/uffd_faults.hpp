// The userfaultfd fault mechanism: registers with the VM's fault router the faults that
// handle_userfault() takes (none PTEs in MISSING ranges, shmem minor faults, the PROT_NONE
// faults the capability table gives to uffd, uffd-wp write faults).
#pragma once
#include <memory>

#include "models/uffd/uffd.hpp"

namespace vmemsim::uffd {

std::unique_ptr<mm::FaultHandler> install_faults(mm::AddressSpace& as, Uffd& ctx);

}  // namespace vmemsim::uffd
