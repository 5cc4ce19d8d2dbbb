#include "sim/scenario/resources.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "models/kernel/registry.hpp"
#include "models/reclaim/vmm.hpp"
#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

namespace vmemsim::scenario {
namespace {

// Saturating arithmetic: a hostile scenario may ask for more than 2^64 bytes.
std::uint64_t add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}
std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

std::string size_text(std::uint64_t b) {
  if (b == UINT64_MAX) return "more than 16 EiB";
  std::ostringstream os;
  os.precision(3);
  if (b >= (1ull << 30)) os << static_cast<double>(b) / (1ull << 30) << " GiB";
  else if (b >= (1ull << 20)) os << static_cast<double>(b) / (1ull << 20) << " MiB";
  else os << static_cast<double>(b) / 1024 << " KiB";
  return os.str();
}

// SimGrid's contexts/stack-size (KiB), as the scenario's simgrid.cfg sets it.
std::uint64_t stack_bytes(const Scenario& sc) {
  std::uint64_t b = kDefaultStackBytes;
  for (const auto& c : sc.simgrid_cfg) {
    const std::string key = "contexts/stack-size:";
    if (c.rfind(key, 0) != 0) continue;
    char* end = nullptr;
    const unsigned long long kib = std::strtoull(c.c_str() + key.size(), &end, 10);
    if (end && *end == 0 && kib > 0) b = mul(kib, 1024);
  }
  return b;
}

}  // namespace

ResourceEstimate estimate_resources(const Scenario& sc) {
  ResourceEstimate e;
  // Guest pages, per vms[] entry (a `count` fleet adds up under its entry's pointer).
  std::map<std::string, std::uint64_t> vm_bytes, vm_vcpus, vm_pages;
  std::map<std::string, std::string> vm_per_page;  // "N B (slot 16, frame 12, ...)"
  std::uint64_t actors = 1;  // the sampler
  // kernel.numa_balancing: -1 is the kernel's boot rule (on with more than one node).
  long long numa_mode = -1;
  for (const auto& d : sc.kernel.daemons)
    if (d.name == "numa" && d.params.is_object() && d.params.contains("numa_balancing") &&
        d.params["numa_balancing"].is_number_integer())
      numa_mode = d.params["numa_balancing"].get<long long>();
  // kernel.ksm.run: ksmd keeps a content word and an rmap item per page of a mergeable anon VM.
  bool ksm_on = false;
  for (const auto& d : sc.kernel.daemons)
    if (d.name == "ksm" && d.params.is_object() && d.params.contains("run") && d.params["run"].is_number_integer())
      ksm_on = d.params["run"].get<long long>() == 1;
  // kernel.thp.enabled: per-VM THP state of anon VMs unless "never"; shmem_enabled the same for
  // shmem VMs (2 KiB of frame numbers per huge page-cache folio: 4 B per page, measured 4.1).
  bool thp_on = false, shmem_thp_on = false;
  for (const auto& d : sc.kernel.daemons)
    if (d.name == "thp" && d.params.is_object()) {
      if (d.params.contains("enabled") && d.params["enabled"].is_string())
        thp_on = d.params["enabled"].get<std::string>() != "never";
      if (d.params.contains("shmem_enabled") && d.params["shmem_enabled"].is_string()) {
        const auto m = d.params["shmem_enabled"].get<std::string>();
        shmem_thp_on = m != "never" && m != "deny";
      }
    }
  for (const auto& vm : sc.vms) {
    // Bytes per guest page, by the mechanism that keeps them (bench/README.md measures them).
    std::uint64_t per_page = 0;
    std::string parts;
    auto part = [&](const char* what, std::uint64_t b) {
      per_page += b;
      parts += (parts.empty() ? "" : ", ") + std::string(what) + " " + std::to_string(b);
    };
    part("page table + ground truth", kBytesPerPageSlot);
    part("frame", kBytesPerFrame);
    part("free list", kBytesPerFreedFrame);
    if (thp_on && vm.backing == mm::Backing::Anon) part("THP", kBytesPerPageThp);
    if (shmem_thp_on && vm.backing == mm::Backing::Shmem) part("shmem THP", kBytesPerPageThp);
    if (vm.backing != mm::Backing::Anon) part("page cache", kBytesPerPageCache);
    if (const auto* pi = reclaim::find_policy(vm.vmm.policy); pi && pi->bytes_per_page) part("VMM policy", pi->bytes_per_page);
    const bool numa_on = numa_mode > 0 || (numa_mode < 0 && !sc.hosts.empty() && sc.hosts[vm.host].nodes.size() > 1);
    if (numa_on) part("NUMA balancing", kBytesPerPageNuma);
    const bool ksm_scanned = ksm_on && vm.mem_merge && vm.backing == mm::Backing::Anon;
    if (ksm_scanned) part("KSM rmap item", kBytesPerPageKsm);
    if (ksm_scanned || vm.has_content) part("content", kBytesPerPageContent);
    vm_bytes[vm.pointer] = add(vm_bytes[vm.pointer], mul(vm.pages, per_page));
    vm_pages[vm.pointer] = add(vm_pages[vm.pointer], vm.pages);
    vm_per_page[vm.pointer] = std::to_string(per_page) + " B (" + parts + ")";
    vm_vcpus[vm.pointer] = add(vm_vcpus[vm.pointer], vm.vcpus);
    // A policy runs the VMM agent and vmm.handler_threads uffd handler threads.
    std::uint64_t vmm_threads = 0;
    if (vm.vmm.policy != "none") {
      const auto h = vm.vmm.params.find("handler_threads");
      vmm_threads = 1 + (h != vm.vmm.params.end() && h->is_number_unsigned() ? h->get<std::uint64_t>() : 1);
    }
    actors = add(actors, vm.vcpus + vmm_threads);
  }
  for (const auto& [ptr, b] : vm_bytes)
    e.parts.push_back({ptr + "/memory", "guest pages: " + std::to_string(vm_pages[ptr]) + " pages x " + vm_per_page[ptr], b});

  // Kernel sections with state per host frame or swap slot (DaemonInfo), e.g. reclaim's LRU
  // links: every host's DRAM, and the swap slots its guests' overcommit can fill.
  for (const auto& d : sc.kernel.daemons) {
    const kernel::DaemonInfo* info = kernel::find_daemon(d.name);
    if (!info || !(info->bytes_per_host_frame || info->bytes_per_swap_slot) || !kernel::daemon_section_on(*info, d.params))
      continue;
    std::uint64_t b = 0;
    for (std::size_t h = 0; h < sc.hosts.size(); ++h) {
      std::uint64_t frames = 0, guest = 0;
      for (const auto& n : sc.hosts[h].nodes) frames = add(frames, n.memory_bytes / core::kPageSize);
      for (const auto& vm : sc.vms)
        if (vm.host == h) guest = add(guest, vm.pages);
      const std::uint64_t slots = std::min(guest > frames ? guest - frames : 0, sc.hosts[h].swap.size_bytes / core::kPageSize);
      b = add(b, add(mul(frames, info->bytes_per_host_frame), mul(slots, info->bytes_per_swap_slot)));
    }
    e.parts.push_back({d.pointer, std::string("kernel.") + d.name + " state per host frame and swap slot", b});
  }

  // Per-interval state: the ground truth's per-epoch counts (allocated up front) and the
  // recorder's series, one value per sample per VM and series.
  if (sc.output.sampling_ns > 0) {
    const std::uint64_t intervals = static_cast<std::uint64_t>(sc.duration_ns / sc.output.sampling_ns) + 2;
    std::uint64_t per_interval = 0;
    for (const auto& vm : sc.vms) {
      const std::uint64_t nodes = sc.hosts.empty() ? 1 : sc.hosts[vm.host].nodes.size();
      per_interval = add(per_interval, 8 + kBytesPerSeriesValue * (kSeriesPerVm + nodes + sc.output.wss_windows_ns.size()));
    }
    for (const auto& h : sc.hosts) per_interval = add(per_interval, kBytesPerSeriesValue * h.nodes.size());
    e.parts.push_back({"/output/sampling_interval", "per-interval counters and time series (" +
                                                        std::to_string(intervals) + " intervals)",
                       mul(intervals, per_interval)});
  }

  // Actors: vCPUs, a VMM agent and its uffd handler threads per VM with a policy, kernel daemons (at most
  // one per node each), the sampler. Their stacks are reserved whole (address space) and
  // touched a little (resident).
  std::uint64_t nodes = 0;
  for (const auto& h : sc.hosts) nodes += h.nodes.size();
  actors = add(actors, mul(sc.kernel.daemons.size(), nodes));
  e.actors = actors;
  e.stack_bytes = stack_bytes(sc);
  std::string vcpu_ptr = "/vms";
  std::uint64_t most = 0;
  for (const auto& [ptr, n] : vm_vcpus)
    if (n > most) most = n, vcpu_ptr = ptr + "/vcpus";
  e.parts.push_back({vcpu_ptr, std::to_string(actors) + " simulated threads (vCPUs, VMM agents, daemons)",
                     mul(actors, kActorResidentBytes)});
  e.parts.push_back({"", "the simulator itself", kBaseBytes});

  std::stable_sort(e.parts.begin(), e.parts.end(), [](const ResourcePart& a, const ResourcePart& b) { return a.bytes > b.bytes; });
  for (const auto& p : e.parts) e.resident = add(e.resident, p.bytes);
  // Address space: every stack whole, and the host frame arrays sized for all of DRAM
  // (calloc'd: reserved, touched only as frames are used).
  std::uint64_t frames = 0, most_frames = 0;
  for (std::size_t h = 0; h < sc.hosts.size(); ++h) {
    std::uint64_t f = 0;
    for (const auto& n : sc.hosts[h].nodes) f = add(f, n.memory_bytes / core::kPageSize);
    frames = add(frames, f);
    if (f >= most_frames) most_frames = f, e.frames_pointer = "/hosts/" + std::to_string(h) + "/nodes";
  }
  e.frame_bytes = mul(frames, kBytesPerFrame);
  e.address_space = add(add(e.resident, mul(actors, e.stack_bytes)), e.frame_bytes);
  return e;
}

std::uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

void check_resources(const Scenario& sc, std::uint64_t max_memory) {
  const ResourceEstimate e = estimate_resources(sc);
  std::string breakdown;
  for (const auto& p : e.parts)
    if (p.bytes > 0 && p.pointer.size()) breakdown += "; " + size_text(p.bytes) + " " + p.what + " at " + p.pointer;
  const std::uint64_t limit = max_memory ? max_memory : available_memory();
  if (limit && e.resident > limit) {
    const ResourcePart& top = e.parts.front();
    throw core::InputError(sc.file, {{top.pointer, "the run needs about " + size_text(e.resident) + " of memory, more than the " +
                                                        size_text(limit) +
                                                        (max_memory ? " allowed by --max-memory" : " available (MemAvailable)") +
                                                        "; the largest share is driven by this key" + breakdown}});
  }
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && e.address_space > rl.rlim_cur) {
    // Stacks dominate the address space: name the VM with the most vCPUs, unless pages do.
    // Name the key behind the largest share: thread stacks, the host frame arrays, or the
    // largest resident part.
    const std::uint64_t stacks = mul(e.actors, e.stack_bytes);
    std::string ptr, stack_ptr;
    std::uint64_t resident_top = 0;
    for (const auto& p : e.parts) {
      if (p.what.find("simulated threads") != std::string::npos) stack_ptr = p.pointer;
      if (!p.pointer.empty() && p.bytes > resident_top) resident_top = p.bytes, ptr = p.pointer;
    }
    if (stacks >= resident_top && stacks >= e.frame_bytes) ptr = stack_ptr;
    else if (e.frame_bytes >= resident_top) ptr = e.frames_pointer;
    throw core::InputError(
        sc.file, {{ptr, "the run needs about " + size_text(e.address_space) + " of address space (" +
                            std::to_string(e.actors) + " simulated threads with " + size_text(e.stack_bytes) +
                            " stacks: " + size_text(stacks) + "; frame arrays for the hosts' memory: " +
                            size_text(e.frame_bytes) + "), more than the process limit (ulimit -v) of " +
                            size_text(rl.rlim_cur) +
                            "; fewer vCPUs or less host memory, a higher limit, or a smaller SimGrid stack "
                            "(--cfg=contexts/stack-size:KiB)"}});
  }
}

double default_point_timeout(const Scenario& sc) {
  const double seconds = static_cast<double>(sc.duration_ns) * 1e-9;
  double accesses = 0;
  for (const auto& vm : sc.vms)
    for (const auto& g : vm.groups) accesses += static_cast<double>(g.vcpus) * g.workload.rate * seconds;
  const double samples = sc.output.sampling_ns > 0 ? static_cast<double>(sc.duration_ns / sc.output.sampling_ns) : 0;
  return 60.0 + accesses / 1e6 + samples * static_cast<double>(sc.vms.size()) * 1e-5;
}

}  // namespace vmemsim::scenario
