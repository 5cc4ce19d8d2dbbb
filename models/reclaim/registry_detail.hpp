// Internal: one info() per policy file, listed in registry.cpp.
#pragma once
#include "models/reclaim/vmm.hpp"

namespace vmemsim::reclaim::detail {
PolicyInfo uffd_ws_info();
PolicyInfo naive_async_info();
PolicyInfo uffd_minor_async_info();
PolicyInfo uffd_rwp_async_info();
PolicyInfo uffd_shmem_zap_info();
PolicyInfo uffd_hugetlb_zap_info();
PolicyInfo wp_async_written_info();
PolicyInfo abit_harvest_info();
PolicyInfo idle_page_info();
PolicyInfo damon_info();
PolicyInfo senpai_info();
PolicyInfo random_policy_info();
PolicyInfo fifo_policy_info();
PolicyInfo clock_policy_info();
PolicyInfo exact_lru_policy_info();
PolicyInfo opt_policy_info();
}  // namespace vmemsim::reclaim::detail
