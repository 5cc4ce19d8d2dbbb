// The `kernel.thp` section (thp_section.cpp) and the "thp" fault mechanism: the huge-page fault
// handler every VM gets (it declines until the section enables THP).
#pragma once
#include "models/kernel/registry.hpp"

namespace vmemsim::thp {

kernel::DaemonInfo thp_section_info();
void install_thp_faults(kernel::VmKernel& vk);

}  // namespace vmemsim::thp
