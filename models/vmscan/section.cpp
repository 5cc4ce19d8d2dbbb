// The kernel.reclaim section: its knobs, the LRU implementations it can build (one line each in
// kLrus), and the daemons and per-VM mechanisms of each host.
#include <limits>

#include "models/kernel/registry.hpp"
#include "models/vmscan/lru.hpp"
#include "models/vmscan/lru_section.hpp"
#include "models/vmscan/mglru.hpp"
#include "sim/core/error.hpp"

namespace vmemsim::vmscan {
namespace {

using core::Kind;

struct LruInfo {
  const char* name;
  std::shared_ptr<Reclaimer> (*make)(mm::HostMemory&, std::vector<mm::AddressSpace*>, LruConfig);
};
template <class T>
std::shared_ptr<Reclaimer> build(mm::HostMemory& m, std::vector<mm::AddressSpace*> by_vm, LruConfig c) {
  return std::make_shared<T>(m, std::move(by_vm), c);
}
const LruInfo kLrus[] = {
    {"classic", build<ClassicLru>},
    {"mglru", build<MgLru>},
};

const core::ParamSpec kParams[] = {
    {"enabled", Kind::Bool, "false",
     "kernel reclaim: kswapd per node, direct reclaim on a failed allocation, anon pages swapped to the host's "
     "swap device (hosts[].swap) with refault detection (workingset); lets guests overcommit DRAM up to DRAM + "
     "swap"},
    {"lru", Kind::Enum, "\"classic\"",
     "the LRU: classic = active/inactive lists with refault distance (lru.hpp); mglru = the multi-generational "
     "LRU (CONFIG_LRU_GEN: generations, aging by page-table walk, min_ttl; no tiers/PID controller, no "
     "look-around, no Bloom filters: mglru.hpp). Both simplified against mm/vmscan.c: no priority loop "
     "(SWAP_CLUSTER_MAX steps until the goal or two walks of the lists), swap writes synchronous for their "
     "reclaimer, slots freed at swap-in (no swap cache), KSM/pinned frames not reclaimed, kswapd notices "
     "the low watermark within kswapd_poll",
     -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), "classic|mglru"},
    {"kswapd_poll", Kind::Duration, "\"1ms\"",
     "how soon kswapd notices its node below the low watermark (the model's stand-in for wakeup_kswapd())", 1000,
     1e12},
    {"swap_cluster_max", Kind::Int, "32", "folios per isolate / shrink step (SWAP_CLUSTER_MAX)", 1, 4096},
    {"kswapd_batches", Kind::Int, "16", "shrink steps kswapd makes before it yields the core", 1, 1e6},
    // Costs: isolating and checking a folio is list manipulation (~50 ns); an rmap walk step
    // takes the PTL and reads/clears one PTE (~150 ns); add_to_swap allocates a slot and
    // inserts into the swap cache (~200 ns); the flush as for NUMA and KSM; MGLRU's walk_mm()
    // reads PTEs in page-table order, a few cache lines per 8 PTEs (~20 ns each).
    {"scan_ns", Kind::Int, "50", "CPU per folio isolated and looked at, ns", 0, 1e6},
    {"rmap_ns", Kind::Int, "150", "CPU per mapping PTE in folio_referenced()/try_to_unmap(), ns", 0, 1e6},
    {"swap_alloc_ns", Kind::Int, "200", "CPU per add_to_swap(), ns", 0, 1e6},
    {"tlb_flush_ns", Kind::Int, "2000", "initiator's CPU per TLB flush after a batch of unmaps, ns", 0, 1e9},
    {"walk_ns", Kind::Int, "20", "mglru: CPU per PTE visited by the aging walk (walk_mm), ns", 0, 1e6},
    {"min_ttl", Kind::Duration, "\"0s\"",
     "mglru: /sys/kernel/mm/lru_gen/min_ttl_ms; kswapd counts lru_gen_min_ttl_oom when every generation is "
     "younger (the kernel would OOM-kill; the model cannot, and goes on). 0 = off",
     0, 1e15},
    {"demotion_enabled", Kind::Bool, "false",
     "/sys/kernel/mm/numa/demotion_enabled: reclaim on a node with CPUs first migrates folios to its demotion "
     "target -- the nearest CPU-less node with memory (a lower memory tier, e.g. CXL) -- while that node has "
     "free frames above its min watermark, and swaps only what cannot be demoted (pgdemote_kswapd/direct); "
     "CPU-less nodes swap"},
    {"migrate_ns", Kind::Int, "2500", "CPU per demoted folio (isolate, unmap, copy 4 KiB, remap), ns", 0, 1e9},
    // A batched try_to_unmap_one() step (folio_unmap_pte_batch(), shmem large folios on the
    // series' base) costs one rmap_ns for the walk step plus this per further PTE it clears
    // (get_and_clear_ptes(), folio_remove_rmap_ptes()): the per-PTE cost of change_protection()
    // (kernel.uffd per_pte_ns' default).
    {"rmap_batch_pte_ns", Kind::Int, "15",
     "CPU per further PTE of a batched try_to_unmap() step of a large shmem folio, ns. Which steps are batched is "
     "the kernel variant's folio_unmap_pte_batch(): upstream (6.18) batches lazy-free anon folios only, so a shmem "
     "folio goes one PTE per step; rfc-v1 and rwp (the series' 2026 base) batch file folios, one PTE per step on a "
     "uffd-wp VMA and, with kernel.patches.rmap_uffd_protected (seed 002), on an RWP VMA; a batch leaves a uffd "
     "marker on its first PTE only",
     0, 1e6},
};

// establish_demotion_targets(), simplified: a node with CPUs demotes to the nearest (by the
// host's latency matrix) CPU-less node with memory; a CPU-less node is the last tier.
std::vector<int> demotion_targets(const kernel::HostKernel& hk) {
  const unsigned n = hk.memory->node_count();
  std::vector<int> t(n, -1);
  for (unsigned a = 0; a < n; ++a) {
    if (a >= hk.node_cores.size() || hk.node_cores[a] == 0) continue;
    for (unsigned b = 0; b < n; ++b) {
      if (b >= hk.node_cores.size() || hk.node_cores[b] != 0 || hk.memory->capacity(b) == 0) continue;
      const auto lat = [&](unsigned x) { return a < hk.latency_ns.size() && x < hk.latency_ns[a].size() ? hk.latency_ns[a][x] : 0; };
      if (t[a] < 0 || lat(b) < lat(static_cast<unsigned>(t[a]))) t[a] = static_cast<int>(b);
    }
  }
  return t;
}

std::vector<std::unique_ptr<kernel::KernelDaemon>> make(core::Params& p, const kernel::DaemonContext& ctx) {
  const bool on = p.get_bool(kParams[0]);
  const std::string lru_name = p.get_string(kParams[1]);
  LruConfig c;
  c.poll_ns = p.get_duration(kParams[2]);
  c.cluster = static_cast<unsigned>(p.get_int(kParams[3]));
  c.kswapd_batches = static_cast<unsigned>(p.get_int(kParams[4]));
  c.scan_ns = p.get_int(kParams[5]);
  c.rmap_ns = p.get_int(kParams[6]);
  c.swap_alloc_ns = p.get_int(kParams[7]);
  c.tlb_flush_ns = p.get_int(kParams[8]);
  c.walk_ns = p.get_int(kParams[9]);
  c.min_ttl_ns = p.get_duration(kParams[10]);
  c.demotion = p.get_bool(kParams[11]);
  c.migrate_ns = p.get_int(kParams[12]);
  c.rmap_batch_pte_ns = p.get_int(kParams[13]);
  const LruInfo* lru_info = &kLrus[0];
  for (const auto& l : kLrus)
    if (lru_name == l.name) lru_info = &l;
  std::vector<std::unique_ptr<kernel::KernelDaemon>> out;
  if (!on) return out;
  for (unsigned h = 0; h < ctx.hosts.size(); ++h) {
    const auto& hk = ctx.hosts[h];
    std::vector<mm::AddressSpace*> by_vm;
    for (kernel::VmKernel* vk : hk.vms) {
      const unsigned id = vk->as->config().vm;
      if (by_vm.size() <= id) by_vm.resize(id + 1, nullptr);
      by_vm[id] = vk->as;
    }
    LruConfig hc = c;
    hc.swap_pages = hk.swap_bytes / core::kPageSize;
    hc.demote_target = demotion_targets(hk);
    std::shared_ptr<Reclaimer> lru = lru_info->make(*hk.memory, by_vm, hc);
    VMEMSIM_CHECK(hk.memory->observer() == nullptr, "host " << hk.name << " already has a frame observer");
    hk.memory->set_observer(lru.get());
    lru->adopt_used_frames();
    for (kernel::VmKernel* vk : hk.vms) vk->mechanisms.push_back(std::make_unique<ReclaimVm>(*vk->as, lru));
    bool first = true;
    for (unsigned n = 0; n < hk.memory->node_count(); ++n) {
      if (hk.memory->capacity(n) == 0) continue;
      out.push_back(std::make_unique<Kswapd>("kswapd" + std::to_string(n) + "." + hk.name, h, hk.cpu_nodes.front(), n,
                                             lru, first));
      first = false;
    }
  }
  return out;
}

}  // namespace

kernel::DaemonInfo lru_section_info() {
  return {"reclaim", "kernel reclaim: kswapd, direct reclaim, the classic or multi-generational LRU, swap", kParams,
          make,
          /*overcommit=*/true,
          /*bytes_per_host_frame=*/8,  // the LRU's prev/next links
          /*bytes_per_swap_slot=*/8};  // the shadow entry of a slot in use (grows with use)
}

}  // namespace vmemsim::vmscan
