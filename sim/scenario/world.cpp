#include "sim/scenario/world.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/core/error.hpp"
#include "sim/core/rng.hpp"

namespace vmemsim::scenario {

std::vector<std::vector<unsigned>> fallback_orders(const HostSpec& h) {
  const unsigned n = static_cast<unsigned>(h.nodes.size());
  std::vector<std::vector<unsigned>> out(n);
  for (unsigned from = 0; from < n; ++from) {
    std::vector<unsigned> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](unsigned a, unsigned b) {
      if (a == from || b == from) return a == from && b != from;
      return h.latency_ns[from][a] < h.latency_ns[from][b];
    });
    out[from] = std::move(order);
  }
  return out;
}

namespace {

// The reference stream of a VM the scenario reader found fixed before the run (one vCPU replaying
// a `trace` once: reader's future_of()), drawn from a second generator built exactly like the
// vCPU's below (same parameters, path and region), so it is the gfn sequence the vCPU will issue.
std::shared_ptr<reclaim::FutureRefs> future_refs(const Scenario& sc, const VmSpec& vs) {
  VMEMSIM_CHECK(vs.vcpus == 1 && vs.groups.size() == 1, vs.name << ": a future needs one vCPU");
  const WorkloadSpec& wl = vs.groups.front().workload;
  workload::GenContext ctx{wl.region_pages, sc.seed, "vm/" + vs.name + "/vcpu/0/workload"};
  core::ErrorSink sink(sc.file);
  core::Params p(&wl.params, wl.pointer, &sink, nullptr);
  auto gen = workload::make_generator(p, ctx);
  sink.throw_if_any();
  std::vector<std::uint32_t> gfns;
  std::vector<workload::Access> buf(4096);
  for (;;) {
    gen->fill(0, buf);
    const core::TimeNs* gaps = gen->gaps();
    VMEMSIM_CHECK(gaps, vs.name << ": the workload's stream has no end");
    std::size_t n = 0;
    while (n < buf.size() && gaps[n] != workload::kGapEnd) ++n;
    for (std::size_t i = 0; i < n; ++i)
      gfns.push_back(static_cast<std::uint32_t>(wl.region_offset_pages + workload::access_page(buf[i])));
    if (n < buf.size()) break;
  }
  return std::make_shared<reclaim::FutureRefs>(gfns, vs.pages);
}

}  // namespace

World build_world(const Scenario& sc) {
  World w;
  w.sc = &sc;
  std::vector<std::vector<std::vector<unsigned>>> fallbacks;
  for (const auto& h : sc.hosts) {
    std::vector<std::uint64_t> frames;
    std::uint64_t total = 0;
    for (const auto& n : h.nodes) {
      frames.push_back(n.memory_bytes / core::kPageSize);
      total += frames.back();
    }
    auto mem = std::make_unique<mm::HostMemory>(std::move(frames));
    for (unsigned n = 0; n < h.nodes.size(); ++n)
      VMEMSIM_CHECK(mem->reserve_hugetlb(n, h.nodes[n].hugepages), "node " << n << " cannot hold its hugepages");
    mem->setup_watermarks(sc.kernel.min_free_kbytes ? sc.kernel.min_free_kbytes
                                                    : mm::HostMemory::default_min_free_kbytes(total),
                          sc.kernel.watermark_scale_factor);
    w.hosts.push_back(std::move(mem));
    fallbacks.push_back(fallback_orders(h));
  }
  std::vector<std::string> images;  // boot image ids, by first appearance (content.hpp)
  for (std::size_t i = 0; i < sc.vms.size(); ++i) {
    const VmSpec& vs = sc.vms[i];
    const HostSpec& hs = sc.hosts[vs.host];
    mm::AddressSpaceConfig cfg;
    cfg.vm = static_cast<std::uint16_t>(i);
    cfg.pages = vs.pages;
    cfg.backing = vs.backing;
    cfg.placement = vs.placement;
    cfg.home_node = vs.home_node;
    cfg.interleave_nodes = vs.interleave_nodes;
    cfg.fallback = fallbacks[vs.host];
    cfg.use_zero_page = sc.kernel.use_zero_page;
    cfg.costs = sc.kernel.costs;
    cfg.variant = sc.kernel.variant;
    cfg.patches = sc.kernel.patches;
    cfg.epoch_ns = sc.output.sampling_ns;
    cfg.vmm_threads = vs.vmm_threads;
    cfg.mergeable = vs.mem_merge;
    cfg.duration_ns = sc.duration_ns;
    VmModel vm;
    vm.spec = &vs;
    vm.as = std::make_unique<mm::AddressSpace>(std::move(cfg), *w.hosts[vs.host]);
    vm.kernel.as = vm.as.get();
    if (vs.has_content) {
      mm::ContentSpec cs = vs.content;
      if (!vs.content_image.empty()) {
        auto it = std::find(images.begin(), images.end(), vs.content_image);
        if (it == images.end()) it = images.insert(images.end(), vs.content_image);
        cs.image = static_cast<std::uint32_t>(it - images.begin() + 1);
      }
      vm.as->enable_content(cs);
    }
    vm.kernel.vcpus = vs.vcpus;
    vm.kernel.uffd_costs = sc.kernel.uffd;
    kernel::install_fault_mechanisms(vm.kernel);
    if (vs.prealloc_node >= 0) {
      // QEMU -mem-prealloc: the VMM's main thread writes every page before the vCPU threads
      // exist and before userfaultfd is registered; the ordinary fault path places each page
      // by the VMA's mempolicy from that thread's node.
      const core::NodeId from(static_cast<std::uint16_t>(vs.prealloc_node));
      for (std::uint64_t g = 0; g < vs.pages; ++g) {
        const auto r = vm.as->fault(mm::Gfn(g), true, ~0u, from, 0);
        VMEMSIM_CHECK(r.ok(), vs.name << ": preallocation of page " << g << " failed");
      }
    }
    unsigned idx = 0;
    for (const auto& g : vs.groups) {
      for (unsigned k = 0; k < g.vcpus; ++k, ++idx) {
        mm::VcpuConfig vc;
        vc.index = idx;
        vc.node = vs.cpu_nodes[idx % vs.cpu_nodes.size()];
        vc.region_base = g.workload.region_offset_pages;
        vc.latency_ns = hs.latency_ns;
        vc.pid = static_cast<std::uint32_t>(1000 * (i + 1) + idx);
        // `rate` is the issue rate when every access is a local DRAM hit: the time between
        // accesses is 1/rate, of which the local latency is part.
        auto period = static_cast<core::TimeNs>(std::llround(1e9 / g.workload.rate));
        vc.think_ns = std::max<core::TimeNs>(0, period - hs.latency_ns[vc.node][vc.node]);
        vc.device_share = g.workload.device_share;
        vc.honor_numa_fault = g.workload.device_honor_numa_fault;
        vc.seed = sc.seed;
        vc.path = "vm/" + vs.name + "/vcpu/" + std::to_string(idx);
        workload::GenContext ctx{g.workload.region_pages, sc.seed, vc.path + "/workload"};
        ctx.vcpu = k;
        ctx.vcpus = g.vcpus;
        core::ErrorSink sink(sc.file);
        core::Params p(&g.workload.params, g.workload.pointer, &sink, nullptr);
        auto gen = workload::make_generator(p, ctx);
        sink.throw_if_any();
        vm.vcpus.push_back(std::make_unique<mm::Vcpu>(std::move(vc), *vm.as, std::move(gen)));
      }
    }
    if (vs.vmm.policy != "none") {
      reclaim::PolicyContext pc;
      pc.caps = &vm.as->caps();
      pc.backing = vs.backing;
      pc.duration_ns = sc.duration_ns;
      pc.seed = sc.seed ^ core::fnv1a64(vs.name + "/vmm");
      for (const auto& m : sc.memory_servers) pc.tiers.memory_servers.push_back(m.name);
      pc.uffd = vm.kernel.uffd.get();
      const reclaim::PolicyInfo& pi = *reclaim::find_policy(vs.vmm.policy);
      if (pi.needs_future) pc.future = future_refs(sc, vs);
      core::ErrorSink sink(sc.file);
      core::Params p(&vs.vmm.params, vs.vmm.pointer, &sink, nullptr);
      vm.vmm = pi.make(p, pc);
      sink.throw_if_any();
    }
    w.vms.push_back(std::move(vm));
  }
  kernel::DaemonContext dc;
  dc.duration_ns = sc.duration_ns;
  for (std::size_t h = 0; h < sc.hosts.size(); ++h) {
    kernel::HostKernel hk;
    hk.name = sc.hosts[h].name;
    hk.memory = w.hosts[h].get();
    for (unsigned n = 0; n < sc.hosts[h].nodes.size(); ++n) {
      if (sc.hosts[h].nodes[n].cores > 0) hk.cpu_nodes.push_back(n);
      hk.node_cores.push_back(sc.hosts[h].nodes[n].cores);
    }
    hk.latency_ns = sc.hosts[h].latency_ns;
    hk.swap_bytes = sc.hosts[h].swap.size_bytes;
    for (auto& vm : w.vms)
      if (vm.spec->host == h) hk.vms.push_back(&vm.kernel);
    dc.hosts.push_back(std::move(hk));
  }
  for (const auto& d : sc.kernel.daemons) {
    core::ErrorSink sink(sc.file);
    core::Params p(&d.params, d.pointer, &sink, nullptr);
    for (auto& dm : kernel::find_daemon(d.name)->make(p, dc)) w.daemons.push_back(std::move(dm));
    sink.throw_if_any();
  }
  return w;
}

void World::check_invariants() const {
  for (const auto& h : hosts) h->check_invariants();
  for (const auto& v : vms) v.as->check_invariants();
  for (const auto& d : daemons) d->check_invariants();
}

}  // namespace vmemsim::scenario
