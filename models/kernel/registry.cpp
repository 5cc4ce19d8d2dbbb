// The explicit registries of the modelled kernel: one line per mechanism, in the order that
// matters (see registry.hpp).
#include "models/kernel/registry.hpp"

#include "models/kernel/vmstat.hpp"
#include "models/hugetlb/hugetlb.hpp"
#include "models/hugetlb/hugetlb_section.hpp"
#include "models/ksm/ksm_section.hpp"
#include "models/mm/core_faults.hpp"
#include "models/numa/numa_section.hpp"
#include "models/thp/thp_section.hpp"
#include "models/vmscan/lru_section.hpp"
#include "models/uffd/uffd_faults.hpp"

namespace vmemsim::kernel {
namespace {

void install_uffd(VmKernel& vk) {
  vk.uffd = std::make_unique<uffd::Uffd>(*vk.as, vk.uffd_costs, vk.vcpus);
  vk.handlers.push_back(uffd::install_faults(*vk.as, *vk.uffd));
}
void install_numa_hint(VmKernel& vk) { numa::install_hint_faults(vk); }
void install_hugetlb(VmKernel& vk) { hugetlb::install_hugetlb_faults(vk); }
void install_thp(VmKernel& vk) { thp::install_thp_faults(vk); }
void install_core(VmKernel& vk) { vk.handlers.push_back(mm::install_core_faults(*vk.as)); }

const FaultMechanismInfo kFaultMechanisms[] = {
    {"uffd", "handle_userfault(): MISSING, MINOR, WP and the variant's PROT_NONE faults", install_uffd},
    {"numa_hint", "do_numa_page(): PROT_NONE faults the variant gives to NUMA balancing", install_numa_hint},
    {"hugetlb", "hugetlb_fault(): a 2 MiB folio from the node's hugetlb pool, PMD-mapped (backing hugetlb)",
     install_hugetlb},
    {"thp", "do_huge_pmd_anonymous_page(): a PMD-mapped folio for a none PMD (kernel.thp)", install_thp},
    {"core", "do_anonymous_page, shmem_fault, do_wp_page, do_swap_page", install_core},
};

}  // namespace

std::span<const FaultMechanismInfo> fault_mechanisms() { return kFaultMechanisms; }

void install_fault_mechanisms(VmKernel& vk) {
  for (const auto& m : kFaultMechanisms) m.install(vk);
}

std::span<const DaemonInfo> daemon_registry() {
  static const DaemonInfo table[] = {
      numa::numa_section_info(),
      vmstat_info(),
      ksm::ksm_section_info(),
      vmscan::lru_section_info(),
      thp::thp_section_info(),
      hugetlb::hugetlb_section_info(),
  };
  return table;
}

bool daemon_section_on(const DaemonInfo& info, const core::Json& resolved) {
  if (info.params.empty() || !resolved.is_object() || !resolved.contains(info.params[0].name)) return false;
  const core::Json& v = resolved[info.params[0].name];
  if (v.is_boolean()) return v.get<bool>();
  return v.is_number() && v.get<double>() != 0;
}

const DaemonInfo* find_daemon(std::string_view name) {
  for (const auto& d : daemon_registry())
    if (name == d.name) return &d;
  return nullptr;
}

}  // namespace vmemsim::kernel
