// kernel.hugetlb: the TLB-reach saving of hugetlbfs-backed guests (hugetlb_section.hpp).
#include "models/hugetlb/hugetlb_section.hpp"

#include "models/hugetlb/hugetlb.hpp"
#include "models/mm/tlb_reach.hpp"

namespace vmemsim::hugetlb {
namespace {

using core::Kind;

// The default and its citation are models/mm/tlb_reach.hpp's, shared with kernel.thp: a
// hugetlb PMD and a THP PMD take the same 2 MiB TLB entry.
const core::ParamSpec kParams[] = {
    {"enabled", Kind::Bool, "true",
     "hugetlb guests get their 2 MiB TLB reach and report it under summary.vms[i].kernel.hugetlb; false builds nothing "
     "(their accesses then cost what 4 KiB-mapped ones do, as tlb_saving_ns 0 would)"},
    {"tlb_saving_ns", Kind::Int, mm::kTlbSavingNsJson,
     "access-time saving of an access through a hugetlb PMD mapping (TLB reach), ns; 0 models a TLB-friendly "
     "workload",
     0, 1e6},
};

std::vector<std::unique_ptr<kernel::KernelDaemon>> make(core::Params& p, const kernel::DaemonContext& ctx) {
  const bool enabled = p.get_bool(kParams[0]);
  const core::TimeNs saving = p.get_int(kParams[1]);
  if (!enabled) return {};
  for (const auto& hk : ctx.hosts)
    for (kernel::VmKernel* vk : hk.vms) {
      if (!is_hugetlb(*vk->as)) continue;
      vk->as->set_huge_saving_ns(saving);
      vk->mechanisms.push_back(std::make_unique<HugetlbVm>(*vk->as, saving));
    }
  return {};
}

}  // namespace

std::uint64_t HugetlbVm::mapped_huge_pages() const {
  std::uint64_t n = 0;
  for (std::uint64_t g0 = 0; g0 < as_.pages(); g0 += kHugePages) n += mm::pte::present(as_.pte_at(core::Gfn(g0)));
  return n;
}

std::uint64_t HugetlbVm::cached_huge_pages() const {
  std::uint64_t n = 0;
  for (std::uint64_t g0 = 0; g0 < as_.pages(); g0 += kHugePages) n += as_.in_page_cache(core::Gfn(g0));
  return n;
}

core::Json HugetlbVm::summary() const {
  core::Json j;
  j["huge_pages_mapped"] = mapped_huge_pages();
  j["huge_pages_cached"] = cached_huge_pages();
  j["huge_accesses"] = as_.huge_accesses();
  j["huge_access_share"] =
      as_.accesses() ? static_cast<double>(as_.huge_accesses()) / static_cast<double>(as_.accesses()) : 0.0;
  j["tlb_saving_ns_per_access"] = tlb_saving_ns_;
  j["tlb_saved_ns"] = as_.huge_accesses() * static_cast<std::uint64_t>(tlb_saving_ns_);
  return j;
}

void HugetlbVm::counters(std::vector<std::pair<std::string, std::uint64_t>>& out) const {
  out.emplace_back("huge_accesses", as_.huge_accesses());
}

void HugetlbVm::gauges(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("huge_pages_mapped", static_cast<double>(mapped_huge_pages()));
}

kernel::DaemonInfo hugetlb_section_info() {
  return {"hugetlb",
          "hugetlbfs-backed guests (models/hugetlb, mm/hugetlb.c): the TLB-reach saving of their 2 MiB mappings, "
          "whether or not THP is on",
          kParams, make};
}

}  // namespace vmemsim::hugetlb
