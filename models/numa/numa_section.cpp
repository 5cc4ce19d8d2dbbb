// kernel.numa: reads automatic NUMA balancing's knobs (KERNEL-MODEL.md §6; the names of
// kernel.numa_balancing* sysctls and of debugfs sched/numa_balancing/*) and wires every VM's
// balancer (balancer.hpp) to its host. The balancer has no thread of its own: it runs in the
// vCPU threads' task work and hinting faults, so this section builds no daemon.
#include "models/numa/numa_section.hpp"

#include <limits>

#include "models/numa/balancer.hpp"

namespace vmemsim::numa {
namespace {

using core::Kind;
constexpr double kInf = std::numeric_limits<double>::infinity();

const core::ParamSpec kParams[] = {
    {"numa_balancing", Kind::Int, "-1",
     "kernel.numa_balancing: 0 off, 1 normal, 2 memory tiering, 3 both; -1 = the kernel's boot default "
     "(check_numabalancing_enable(): 1 on a host with more than one node, as CONFIG_NUMA_BALANCING_DEFAULT_ENABLED=y "
     "kernels such as Debian's do, else 0)",
     -1, 3},
    {"scan_delay", Kind::Duration, "\"1000ms\"", "debugfs scan_delay_ms: before an mm's first scan", 1e6, 3.6e12},
    {"scan_period_min", Kind::Duration, "\"1000ms\"", "debugfs scan_period_min_ms: a full pass at most this often",
     1e6, 3.6e12},
    {"scan_period_max", Kind::Duration, "\"60000ms\"", "debugfs scan_period_max_ms", 1e6, 3.6e12},
    {"scan_size_mb", Kind::Int, "256", "debugfs scan_size_mb: address range made PROT_NONE per scan window, MiB", 1,
     1 << 20},
    {"hot_threshold", Kind::Duration, "\"1000ms\"",
     "debugfs hot_threshold_ms: memory tiering promotes a page whose hint-fault latency is below this", 1e6, 3.6e12},
    {"promote_rate_limit_MBps", Kind::Int, "65536", "kernel.numa_balancing_promote_rate_limit_MBps", 1, 1e9},
    {"tick", Kind::Duration, "\"4ms\"", "TICK_NSEC (CONFIG_HZ=250): how often task_tick_numa() looks", 1e5, 1e9},
    // Costs. change_pte_range() walks a PTE in a few ns and rewrites one in tens of ns; a
    // shootdown costs ~1-4 us on the initiator (KERNEL-MODEL.md §6; HeMem memsim: 4000 ns);
    // migrating a 4 KiB folio -- isolate, unmap, copy, remap, putback -- ~2-3 us beyond the fault
    // (migrate_pages moves ~1.5 GB/s per thread before batched flushing, kernel commit 7e12beb8ca2a).
    {"pte_walk_ns", Kind::Int, "3", "CPU per PTE looked at by change_pte_range(), ns", 0, 1e6},
    {"pte_update_ns", Kind::Int, "20", "CPU per PTE made PROT_NONE, ns", 0, 1e6},
    {"tlb_flush_ns", Kind::Int, "2000", "initiator's CPU per flush of a changed chunk, ns", 0, 1e9},
    {"migrate_ns", Kind::Int, "2500", "a hinting fault's page migration beyond the fault itself, ns", 0, 1e9},
};

std::vector<std::unique_ptr<kernel::KernelDaemon>> make(core::Params& p, const kernel::DaemonContext& ctx) {
  NumaConfig c;
  const auto mode = p.get_int(kParams[0]);
  c.scan_delay_ms = p.get_duration(kParams[1]) / 1'000'000;
  c.scan_period_min_ms = p.get_duration(kParams[2]) / 1'000'000;
  c.scan_period_max_ms = p.get_duration(kParams[3]) / 1'000'000;
  c.scan_size_mb = static_cast<std::uint64_t>(p.get_int(kParams[4]));
  c.hot_threshold_ms = p.get_duration(kParams[5]) / 1'000'000;
  c.promote_rate_limit_mbps = static_cast<std::uint64_t>(p.get_int(kParams[6]));
  c.tick_ns = p.get_duration(kParams[7]);
  c.pte_walk_ns = p.get_int(kParams[8]);
  c.pte_update_ns = p.get_int(kParams[9]);
  c.tlb_flush_ns = p.get_int(kParams[10]);
  c.migrate_ns = p.get_int(kParams[11]);
  if (c.scan_period_max_ms < c.scan_period_min_ms)
    p.error("scan_period_max", "scan_period_max is below scan_period_min");
  for (const auto& h : ctx.hosts) {
    auto host = std::make_shared<HostNuma>(*h.memory, h.node_cores, h.latency_ns);
    host->cfg = c;
    host->cfg.mode = mode >= 0 ? static_cast<unsigned>(mode) : (h.memory->node_count() > 1 ? kNormal : 0u);
    for (kernel::VmKernel* vk : h.vms)
      if (vk->numa) vk->numa->configure(host);
  }
  return {};
}

}  // namespace

kernel::DaemonInfo numa_section_info() {
  return {"numa", "automatic NUMA balancing: scanner (task work), hinting faults, placement, tiering", kParams, make};
}

void install_hint_faults(kernel::VmKernel& vk) { vk.numa = install_numa(*vk.as, vk.mechanisms); }

}  // namespace vmemsim::numa
