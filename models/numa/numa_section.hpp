// The `kernel.numa` section: automatic NUMA balancing's sysctls and debugfs knobs.
#pragma once
#include "models/kernel/registry.hpp"

namespace vmemsim::numa {

kernel::DaemonInfo numa_section_info();
// The numa_hint fault mechanism: do_numa_page() for one VM.
void install_hint_faults(kernel::VmKernel& vk);

}  // namespace vmemsim::numa
