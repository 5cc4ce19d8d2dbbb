// The explicit VMM policy registry: one line per policy, in `vmemsim list` order.
#include <algorithm>

#include "models/reclaim/registry_detail.hpp"

namespace vmemsim::reclaim {

const std::vector<PolicyInfo>& policy_registry() {
  static const std::vector<PolicyInfo> table = {
      detail::uffd_ws_info(),
      detail::uffd_minor_async_info(),
      detail::uffd_rwp_async_info(),
      detail::uffd_shmem_zap_info(),
      detail::uffd_hugetlb_zap_info(),
      detail::naive_async_info(),
      detail::wp_async_written_info(),
      detail::abit_harvest_info(),
      detail::idle_page_info(),
      detail::damon_info(),
      detail::senpai_info(),
      detail::random_policy_info(),
      detail::fifo_policy_info(),
      detail::clock_policy_info(),
      detail::exact_lru_policy_info(),
      detail::opt_policy_info(),
  };
  return table;
}

const PolicyInfo* find_policy(std::string_view name) {
  for (const auto& p : policy_registry())
    if (name == p.name) return &p;
  return nullptr;
}

}  // namespace vmemsim::reclaim
