// kernel.ksm: reads ksmd's knobs under their sysfs names (/sys/kernel/mm/ksm/*) and builds one
// ksmd per host plus a KsmVm per VM (ksm.hpp). run=0 (the kernel's default) builds nothing,
// so KSM off costs no memory and no time.
#include "models/ksm/ksm_section.hpp"

#include "models/ksm/ksm.hpp"

namespace vmemsim::ksm {
namespace {

using core::Kind;

const core::ParamSpec kParams[] = {
    {"run", Kind::Int, "0", "/sys/kernel/mm/ksm/run: 1 runs ksmd on every host, 0 stops it (the default)", 0, 1},
    {"pages_to_scan", Kind::Int, "100", "pages ksmd scans per wake-up (pages_to_scan)", 1, 1e9},
    {"sleep_millisecs", Kind::Int, "20", "ksmd's sleep between batches, ms (sleep_millisecs)", 0, 3.6e6},
    {"max_page_sharing", Kind::Int, "256",
     "mappers of one KSM page before a new dup starts a stable_node chain (max_page_sharing)", 2, 1e9},
    {"merge_across_nodes", Kind::Int, "1", "1: merge pages of any NUMA node; 0: one tree per node", 0, 1},
    {"use_zero_pages", Kind::Int, "0", "1: empty pages are mapped to the zero page (counted in ksm_zero_pages)", 0, 1},
    {"smart_scan", Kind::Int, "1", "1: skip pages that stayed unmerged for several scans (should_skip_rmap_item)", 0,
     1},
    {"keep_uffd_wp", Kind::Bool, "false",
     "a kernel whose replace_page() keeps the sharer's uffd-wp bit; Linux 6.18 rebuilds the PTE from the VMA's "
     "protection and loses it (false)"},
    // Costs. calc_checksum() is xxhash over 4 KiB (~10 GB/s: ~0.4 us); memcmp_pages() of two
    // equal pages about as much, of different pages usually far less (first differing
    // bytes): 150 ns on average; write_protect_page()/replace_page() take the rmap and page
    // table locks, rewrite a PTE and adjust refcounts: ~1-2 us; the shootdown as for NUMA.
    {"walk_ns", Kind::Int, "10", "CPU per PTE ksmd's scan looks at, ns", 0, 1e6},
    {"checksum_ns", Kind::Int, "400", "CPU per calc_checksum() of a page, ns", 0, 1e6},
    {"cmp_ns", Kind::Int, "150", "CPU per page comparison in a tree walk, ns", 0, 1e6},
    {"merge_ns", Kind::Int, "1500", "CPU per write_protect_page() or replace_page(), ns", 0, 1e9},
    {"tlb_flush_ns", Kind::Int, "2000", "initiator's CPU per TLB flush of a merged PTE, ns", 0, 1e9},
};

std::vector<std::unique_ptr<kernel::KernelDaemon>> make(core::Params& p, const kernel::DaemonContext& ctx) {
  const bool run = p.get_int(kParams[0]) == 1;
  KsmConfig c;
  c.pages_to_scan = static_cast<unsigned>(p.get_int(kParams[1]));
  c.sleep_ns = p.get_int(kParams[2]) * 1'000'000;
  c.max_page_sharing = static_cast<unsigned>(p.get_int(kParams[3]));
  c.merge_across_nodes = p.get_int(kParams[4]) == 1;
  c.use_zero_pages = p.get_int(kParams[5]) == 1;
  c.smart_scan = p.get_int(kParams[6]) == 1;
  c.keep_uffd_wp = p.get_bool(kParams[7]);
  c.walk_ns = p.get_int(kParams[8]);
  c.checksum_ns = p.get_int(kParams[9]);
  c.cmp_ns = p.get_int(kParams[10]);
  c.merge_ns = p.get_int(kParams[11]);
  c.tlb_flush_ns = p.get_int(kParams[12]);
  std::vector<std::unique_ptr<kernel::KernelDaemon>> out;
  if (!run) return out;
  for (unsigned h = 0; h < ctx.hosts.size(); ++h) {
    const auto& hk = ctx.hosts[h];
    std::vector<KsmVm*> vms;
    for (kernel::VmKernel* vk : hk.vms) {
      auto m = std::make_unique<KsmVm>(*vk->as);
      vms.push_back(m.get());
      vk->mechanisms.push_back(std::move(m));
    }
    out.push_back(std::make_unique<Ksmd>("ksmd." + hk.name, h, hk.cpu_nodes.front(), *hk.memory, std::move(vms), c));
  }
  return out;
}

}  // namespace

kernel::DaemonInfo ksm_section_info() {
  return {"ksm", "ksmd: Kernel Samepage Merging of MADV_MERGEABLE anon memory (mm/ksm.c)", kParams, make};
}

}  // namespace vmemsim::ksm
