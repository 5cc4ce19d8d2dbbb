#pragma once
#include "models/kernel/registry.hpp"

namespace vmemsim::kernel {
DaemonInfo vmstat_info();
}
