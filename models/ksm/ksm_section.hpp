// The `kernel.ksm` section: ksmd's /sys/kernel/mm/ksm knobs (KERNEL-MODEL.md §6 defaults).
// With run=1 it builds one ksmd per host (ksm.hpp) and a per-VM `ksm` mechanism for each VM.
#pragma once
#include "models/kernel/registry.hpp"

namespace vmemsim::ksm {

kernel::DaemonInfo ksm_section_info();

}  // namespace vmemsim::ksm
