#include "sim/scenario/scenario.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "models/kernel/registry.hpp"
#include "models/mm/vcpu.hpp"
#include "models/reclaim/vmm.hpp"
#include "models/workload/generator.hpp"
#include "sim/core/json_input.hpp"
#include "sim/core/rng.hpp"
#include "sim/core/units.hpp"
#include "sim/scenario/host_profile.hpp"

namespace vmemsim::scenario {
namespace {

using core::Kind;
using core::Params;
using core::ParamSpec;
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- top level ----
const ParamSpec kName{"name", Kind::String, nullptr, "scenario name; results go to results/<name>/"};
const ParamSpec kSeed{"seed", Kind::Int, "1", "seed of every random stream", 0, 9.0e18};
const ParamSpec kDuration{"duration", Kind::Duration, nullptr, "simulated time to run", 1, kInf};
const ParamSpec kQuantum{"quantum", Kind::Duration, "\"100us\"",
                         "vCPU quantum: accesses between two SimGrid calls (bounds causality error)", 100, kInf};
// ---- engine ----
const ParamSpec kEngineParams[] = {
    {"fault_service", Kind::Enum, "\"exact\"",
     "how a sync userfault reaches its VMM handler: exact = a message to the handler thread, one SimGrid round "
     "trip per fault (the handler's CPU shares its node's cores); inline = the faulting vCPU serves it in model "
     "time (the handler as a calendar of its service intervals) and keeps its quantum going, with SimGrid only "
     "for tier I/O and evictions in flight "
     "(a VM whose VMM node has fewer cores than threads falls back to exact)",
     -kInf, kInf, "exact|inline"},
};

const ParamSpec kDescription{"description", Kind::String, "\"\"", "free text"};
const ParamSpec kHostProfile{"host_profile", Kind::String, "\"\"",
                             "host profile from `vmemsim calibrate --out` (relative to this file; \"\" = none): "
                             "its measured costs become the defaults of kernel.costs"};

// ---- hosts ----
const ParamSpec kHostName{"name", Kind::String, nullptr, "host name, referenced by vms[].host"};
const ParamSpec kCoreSpeed{"core_speed", Kind::Number, "1e9",
                           "flop/s per core; vCPU time is charged as 1 flop per ns", 1, 1e15};
const ParamSpec kNodeCores{"cores", Kind::Int, nullptr, "CPU cores on this node (0 = CPU-less, e.g. CXL)", 0, 4096};
const ParamSpec kNodeMemory{"memory", Kind::Size, nullptr, "DRAM on this node", 0, 1.0 * (1ull << 44)};
const ParamSpec kNodeHugepages{"hugepages", Kind::Int, "0",
                               "nr_hugepages of this node: 2MiB hugetlb pages reserved at boot out of its DRAM for "
                               "hugetlb-backed VMs (vms[].backing hugetlb)",
                               0, 1 << 23};
const ParamSpec kSwapReadBw{"read_bandwidth", Kind::Bandwidth, "\"3GB/s\"", "swap SSD read bandwidth (NVMe class)", 1, 1e15};
const ParamSpec kSwapWriteBw{"write_bandwidth", Kind::Bandwidth, "\"2GB/s\"", "swap SSD write bandwidth", 1, 1e15};
const ParamSpec kSwapLatency{"latency", Kind::Duration, "\"80us\"", "swap SSD access latency per I/O", 0, kInf};
const ParamSpec kSwapSize{"size", Kind::Size, "\"64GiB\"", "swap SSD capacity", 0, kInf};
const ParamSpec kNicBw{"bandwidth", Kind::Bandwidth, "\"12.5GB/s\"", "NIC bandwidth per direction (100 Gbit/s)", 1, 1e15};
const ParamSpec kNicLatency{"latency", Kind::Duration, "\"2us\"", "NIC one-way latency", 0, kInf};

// ---- vms ----
const ParamSpec kVmName{"name", Kind::String, nullptr, "VM name (with count > 1, suffixed -0, -1, ...)"};
const ParamSpec kVmHost{"host", Kind::String, "null", "host name; default the first host"};
const ParamSpec kVmCount{"count", Kind::Int, "1", "number of identical VMs to create from this entry", 1, 65000};
const ParamSpec kVmVcpus{"vcpus", Kind::Int, nullptr, "number of vCPUs", 1, 1024};
const ParamSpec kVmMemory{"memory", Kind::Size, nullptr, "guest memory size (multiple of 4KiB)", 4096, 1.0 * (1ull << 44)};
const ParamSpec kVmBacking{"backing", Kind::Enum, "\"anon\"",
                           "guest memory: private anonymous (KSM-able), shmem (memfd, page cache) or hugetlb "
                           "(hugetlbfs, 2MiB pages from hosts[].nodes[].hugepages; VMM policies that work at 2MiB only)",
                           -kInf, kInf, "anon|shmem|hugetlb"};
const ParamSpec kVmPlacement{"placement", Kind::Enum, "\"local\"",
                             "memory policy: first touch on the vCPU's node, the home node first, or page "
                             "interleave",
                             -kInf, kInf, "local|preferred|interleave"};
const ParamSpec kVmPrealloc{"prealloc_node", Kind::Int, "-1",
                            "the VMM preallocates all guest memory from a thread on this node before the vCPUs start "
                            "(QEMU -mem-prealloc): first touch puts every page there; -1 = no preallocation",
                            -1, 255};
const ParamSpec kVmThreads{"vmm_threads", Kind::Int, "1",
                           "threads of the VMM process besides the vCPUs (QEMU's main loop, I/O threads): they share "
                           "the guest's mm (mm_users), so a 1-vCPU VM is not a single-threaded process",
                           0, 4096};
const ParamSpec kVmMemMerge{"mem_merge", Kind::Bool, "true",
                            "the VMM advises MADV_MERGEABLE on guest memory (QEMU's mem-merge, on by default) so ksmd "
                            "may scan it when kernel.ksm.run is 1; a no-op on shmem"};
// ---- vms[].content: what the guest's memory holds (models/mm/content.hpp) ----
const ParamSpec kContentImage{"image", Kind::String, "null",
                              "boot image name: VMs with the same name hold identical image pages"};
const ParamSpec kContentImagePages{"image_pages", Kind::Int, "0", "pages holding the boot image (first in guest memory)",
                                   0, 1e15};
const ParamSpec kContentImageShare{"image_share", Kind::Number, "0",
                                   "share of guest pages holding the boot image (if image_pages is 0), rounded down", 0,
                                   1};
const ParamSpec kContentZeroPages{"zero_pages", Kind::Int, "0", "pages of zeroes (after the image)", 0, 1e15};
const ParamSpec kContentZeroShare{"zero_share", Kind::Number, "0", "share of pages of zeroes (if zero_pages is 0)", 0, 1};
const ParamSpec kContentDupPages{"dup_pages", Kind::Int, "0",
                                 "pages duplicated within the VM (after the zero pages), spread evenly over "
                                 "dup_contents distinct contents",
                                 0, 1e15};
const ParamSpec kContentDupShare{"dup_share", Kind::Number, "0", "share of duplicated pages (if dup_pages is 0)", 0, 1};
const ParamSpec kContentDupContents{"dup_contents", Kind::Int, "1", "distinct contents of the duplicated pages", 1,
                                    4294967295.0};
const ParamSpec kContentWriteShared{"write_shared", Kind::Number, "0",
                                    "share of guest writes that leave a shared content (one of the VM's duplicated "
                                    "contents, or zeroes without any) instead of a new unique one",
                                    0, 1};
const ParamSpec kVmHome{"home_node", Kind::Int, "0", "home NUMA node (preferred placement; default vCPU node)", 0, 255};

// ---- workload (vCPU-level keys; the generator reads the rest) ----
const ParamSpec kRate{"rate", Kind::Count, "\"10M\"",
                      "accesses per second per vCPU when every access is a local DRAM hit "
                      "(remote latency and faults slow it down)",
                      1, 1e10};
const ParamSpec kRegionOffset{"region_offset", Kind::Size, "0", "start of the region the generator draws from", 0, kInf};
const ParamSpec kRegionSize{"region_size", Kind::Size, "0", "size of that region; 0 = to the end of guest memory", 0, kInf};
const ParamSpec kDeviceShare{"device_share", Kind::Number, "0",
                             "share of accesses made by a device (vhost-style) through get_user_pages()", 0, 1};
const ParamSpec kDeviceHonor{"device_honor_numa_fault", Kind::Bool, "false",
                             "the device's GUP passes FOLL_HONOR_NUMA_FAULT (faults on PROT_NONE instead of "
                             "following it silently)"};
const ParamSpec kGroupVcpus{"vcpus", Kind::Int, nullptr, "vCPUs in this group", 1, 1024};

// ---- kernel ----
// The capability table's rows (models/mm/kernel_variant.cpp), in table order.
const std::string kVariantNames = [] {
  std::string s;
  for (const auto& v : mm::kernel_variants()) s += (s.empty() ? "" : "|") + std::string(v.name);
  return s;
}();
const ParamSpec kVariant{"variant", Kind::Enum, "\"upstream\"",
                         "kernel: upstream, the April 2026 userfaultfd RFC (v1), or the VM_UFFD_RWP series",
                         -kInf, kInf, kVariantNames.c_str()};
const ParamSpec kZeroPage{"use_zero_page", Kind::Bool, "true",
                          "anon read faults map the shared zero page (do_anonymous_page, the kernel's default); false: "
                          "a private zeroed page, as the virtualised hosts of KERNEL-MODEL.md §9 do"};
const ParamSpec kMinFreeKbytes{"min_free_kbytes", Kind::Int, "0",
                               "vm.min_free_kbytes per host; 0 = the kernel's int_sqrt(lowmem_kbytes * 16), clamped "
                               "to [128, 262144] (calculate_min_free_kbytes)", 0, 1e12};
const ParamSpec kWatermarkScale{"watermark_scale_factor", Kind::Int, "10",
                                "vm.watermark_scale_factor: low/high watermark gap in 1/10000 of a node's memory", 1,
                                3000};
// Cost defaults (KERNEL-MODEL.md §6, §8): DRAM ~80-100 ns local (HeMem memsim fast tier 82 ns);
// minor fault ~1-2 us (HeMem memsim 2000 ns page fault); clearing/copying 4 KiB at ~10-16 GB/s.
const ParamSpec kDram{"dram_latency_ns", Kind::Int, "90",
                      "local DRAM latency in ns; remote = this x distance/10 unless latency_ns is given", 1, 1e6};
const ParamSpec kMinorFault{"minor_fault_ns", Kind::Int, "1500", "kernel entry + fault handling, ns", 0, 1e9};
const ParamSpec kPageClear{"page_clear_ns", Kind::Int, "250", "zeroing a new 4 KiB page, ns", 0, 1e9};
const ParamSpec kPageCopy{"page_copy_ns", Kind::Int, "400", "copying a 4 KiB page (COW), ns", 0, 1e9};

// Per-patch switches (KERNEL-MODEL.md §5): each can be turned off to ablate the patch.
const ParamSpec kFeedsNuma{"uffd_feeds_numa", Kind::Bool, "true",
                           "rfc-v1 cover letter (\"NUMA stats fed from uffd fault path instead\"): the uffd minor "
                           "fault path calls task_numa_fault(); not 07/12, which is the task_numa_work() skip"};
const ParamSpec kGupRwp{"gup_rwp_fault", Kind::Bool, "true",
                        "rwp v2 07/14: GUP always faults on PROT_NONE in a VM_UFFD_RWP VMA"};
const ParamSpec kKhugepagedUffdProtected{
    "khugepaged_uffd_protected", Kind::Bool, "true",
    "rwp v2 07/14 (seed 002), khugepaged hunk: try_collapse_pte_mapped_thp() and "
    "file_backed_vma_is_retractable() refuse VM_UFFD_RWP VMAs as they refuse VM_UFFD_WP ones (userfaultfd_protected() "
    "instead of userfaultfd_wp()), so khugepaged keeps a shmem RWP VMA's PTE table; only matters under rwp with "
    "shmem THP (kernel.thp.shmem_enabled)"};
const ParamSpec kRmapUffdProtected{
    "rmap_uffd_protected", Kind::Bool, "true",
    "rwp v2 07/14 (seed 002), rmap hunk: folio_unmap_pte_batch() returns 1 on VM_UFFD_RWP VMAs as on VM_UFFD_WP ones, "
    "so that kernel reclaim unmapping a large shmem folio leaves a marker on each RWP PTE (without it a batch keeps "
    "the first PTE's only); only matters under rwp with shmem THP and kernel.reclaim"};
const ParamSpec kSkipUffdMinor{"numab_skip_uffd_minor", Kind::Bool, "true",
                               "rfc-v1 07/12: task_numa_work() skips anonymous VM_UFFD_MINOR VMAs (trace reason "
                               "uffd_minor); only where the kernel variant has the patch"};
const ParamSpec kTlbIpi{"tlb_ipi_ns", Kind::Int, "1000",
                        "time a vCPU loses to one TLB-shootdown IPI, ns (shootdowns cost ~1-4 us)", 0, 1e9};
// uffd costs: syscall + locking ~0.5-1 us; change_protection ~10-20 ns per PTE; TLB shootdown
// ~1-4 us + per-vCPU IPIs (HeMem memsim: 4000 ns); a sync userfault round trip costs several
// us (e2b-dev/infra PR 2974: 1 GiB touched at ~1.3 GiB/s with a MISSING handler vs ~2.0 GiB/s
// unregistered, i.e. ~1 us extra per 4 KiB page for a same-process handler; faasm/faabric
// PR 232: an off-thread handler costs 2-10x that).
const ParamSpec kIoctl{"ioctl_ns", Kind::Int, "700", "one uffd ioctl: syscall and locking, ns", 0, 1e9};
const ParamSpec kPerPte{"per_pte_ns", Kind::Int, "15", "changing one PTE (change_protection/zap), ns", 0, 1e9};
const ParamSpec kTlbFlush{"tlb_flush_ns", Kind::Int, "2000", "flush_tlb_range() on the initiator, ns", 0, 1e9};
const ParamSpec kTlbPerVcpu{"tlb_per_vcpu_ns", Kind::Int, "500", "extra initiator time per vCPU IPI'd, ns", 0, 1e9};
const ParamSpec kScanPte{"scan_per_pte_ns", Kind::Int, "5", "PAGEMAP_SCAN walk per PTE, ns", 0, 1e9};
const ParamSpec kCopy{"copy_ns", Kind::Int, "400", "UFFDIO_COPY of one 4 KiB page, ns", 0, 1e9};
const ParamSpec kSetMode{"set_mode_ns", Kind::Int, "2000", "UFFDIO_SET_MODE with mmap_write_lock held, ns", 0, 1e9};
// The MISSING path end to end: e2b-dev/infra PR 2974 touched 1 GiB at ~1.3 GiB/s with a
// handler thread (UFFDIO_COPY) against ~2.0 GiB/s unregistered, i.e. ~3.0 us against ~1.95 us
// per 4 KiB page. Split as: the fault's entry into handle_userfault (userfault_ns, 0.5 us), the
// round trip (handler wake-up + read() + wake of the faulting thread, 1.5 us: two context
// switches of ~0.5-0.7 us plus the read), then UFFDIO_COPY (ioctl 0.7 us + copy 0.4 us):
// 3.1 us + DRAM. tests/integration/test_published_costs.py checks the end-to-end figure.
const ParamSpec kUserfault{"userfault_ns", Kind::Int, "500",
                           "faulting side of a sync userfault before it sleeps (entry, handle_userfault), ns", 0, 1e9};
const ParamSpec kRoundtrip{"roundtrip_ns", Kind::Int, "1500",
                           "sync userfault round trip: handler wakeup, read() of the message, wake of the vCPU, ns",
                           0, 1e9};

// ---- vmm ----
const ParamSpec kServerName{"name", Kind::String, nullptr, "memory server name, referenced by vmm.tier.server"};

// ---- output ----
const ParamSpec kSampling{"sampling_interval", Kind::Duration, "\"100ms\"",
                          "time-series sampling interval (also the ground-truth working-set granularity)", 1000, kInf};

std::uint64_t pages_of(Params& p, const ParamSpec& s, std::int64_t bytes) {
  if (bytes % static_cast<std::int64_t>(core::kPageSize) != 0) {
    p.error(s.name, core::format_size(bytes) + " is not a multiple of the 4KiB page size");
  }
  return static_cast<std::uint64_t>(bytes) / core::kPageSize;
}

constexpr double kMaxMatrixEntry = 1e9;
constexpr std::size_t kMaxVms = 65000;  // VM ids are 16 bits (core::VmId)
// Every access costs at least 1 ns and at most a second: a latency that rounds to 0 with no
// think time would let a vCPU issue accesses without its clock moving.
constexpr TimeNs kMinLatencyNs = 1, kMaxLatencyNs = 1'000'000'000;
// Host frame numbers are 32 bits, and 0xffffffff is the zero page's (models/mm/pte.hpp).
constexpr std::uint64_t kMaxHostFrames = 0xffffffffull - 1;

std::vector<std::vector<double>> read_matrix(Params& p, const char* key, std::size_t n) {
  const core::Json* m = p.raw_resolved(key);
  std::vector<std::vector<double>> out;
  if (!m) return out;
  bool ok = m->is_array() && m->size() == n;
  bool too_big = false;
  if (ok) {
    for (const auto& row : *m) {
      if (!row.is_array() || row.size() != n) {
        ok = false;
        break;
      }
      std::vector<double> r;
      for (const auto& x : row) {
        // Bounded above so that the latency derived from it (x ns, or dram_latency_ns x x / 10)
        // fits int64 before it is rounded; the rounded latency is checked in read_host.
        if (!x.is_number() || x.get<double>() <= 0 || x.get<double>() > kMaxMatrixEntry) {
          too_big |= x.is_number() && x.get<double>() > kMaxMatrixEntry;
          ok = false;
          break;
        }
        r.push_back(x.get<double>());
      }
      out.push_back(std::move(r));
    }
  }
  if (!ok) {
    p.error(key, "expected a " + std::to_string(n) + "x" + std::to_string(n) +
                     " matrix of positive numbers (one row per node)" + (too_big ? ", each at most 1e9" : ""));
    out.clear();
  }
  return out;
}

std::vector<unsigned> read_node_list(Params& p, const char* key, unsigned nodes) {
  std::vector<unsigned> out;
  const core::Json* v = p.raw_resolved(key);
  if (!v) return out;
  if (!v->is_array() || v->empty()) {
    p.error(key, "expected a non-empty array of node indices");
    return out;
  }
  for (std::size_t i = 0; i < v->size(); ++i) {
    const auto& x = (*v)[i];
    // Compared as 64 bits: 4294967296 must not narrow to node 0.
    if (!x.is_number_unsigned() || x.get<std::uint64_t>() >= nodes) {
      p.sink().add(p.pointer_of(key) + "/" + std::to_string(i),
                   "expected a node index below " + std::to_string(nodes) + ", got " + x.dump());
      continue;
    }
    out.push_back(x.get<unsigned>());
  }
  return out;
}

HostSpec read_host(Params& h, TimeNs dram_ns) {
  HostSpec host;
  host.name = h.get_string(kHostName);
  host.core_speed = h.get_number(kCoreSpeed);
  auto nodes = h.items("nodes", true);
  if (h.present() && h.has("nodes") && nodes.empty()) h.error("nodes", "a host needs at least one NUMA node");
  if (nodes.size() > mm::kMaxNodes) {
    // Stop here: the rest of the host is sized by the node count (an n x n latency matrix).
    h.error("nodes", "at most " + std::to_string(mm::kMaxNodes) + " NUMA nodes per host, got " +
                         std::to_string(nodes.size()));
    return host;
  }
  for (auto& n : nodes) {
    NodeSpec ns;
    ns.cores = static_cast<unsigned>(n.get_int(kNodeCores));
    ns.memory_bytes = static_cast<std::uint64_t>(n.get_size(kNodeMemory));
    if (ns.memory_bytes % core::kPageSize) n.error("memory", "not a multiple of the 4KiB page size");
    ns.hugepages = static_cast<std::uint64_t>(n.get_int(kNodeHugepages));
    // alloc_pool_huge_folio() needs 2 MiB-aligned blocks out of the node's memory.
    if (ns.hugepages > ns.memory_bytes / (2ull << 20))
      n.error("hugepages", std::to_string(ns.hugepages) + " 2MiB pages do not fit in the node's memory");
    n.finish();
    host.nodes.push_back(ns);
  }
  const std::size_t nn = host.nodes.size();
  bool any_cores = false;
  for (auto& n : host.nodes) any_cores |= n.cores > 0;
  if (nn && !any_cores) h.error("nodes", "no node has CPU cores");

  // Either an explicit [cpu node][memory node] latency matrix in ns, or SLIT distances
  // (10 = local) scaling kernel.costs.dram_latency_ns; default 10 local, 21 remote.
  auto dist = read_matrix(h, "distances", nn);
  auto lat = read_matrix(h, "latency_ns", nn);
  host.latency_ns.assign(nn, std::vector<TimeNs>(nn, 0));
  for (std::size_t i = 0; i < nn; ++i)
    for (std::size_t j = 0; j < nn; ++j) {
      double d = dist.empty() ? (i == j ? 10 : 21) : dist[i][j];
      const double x = lat.empty() ? static_cast<double>(dram_ns) * d / 10.0 : lat[i][j];
      const TimeNs l = x < 0.5 ? 0 : x > 1e12 ? kMaxLatencyNs + 1 : static_cast<TimeNs>(std::llround(x));
      if (l < kMinLatencyNs || l > kMaxLatencyNs) {
        const char* key = lat.empty() ? "distances" : "latency_ns";
        std::ostringstream os;
        os << "latency " << x << " ns (" << (lat.empty() ? "kernel.costs.dram_latency_ns x distance / 10" : "as given")
           << ") rounds to " << (l > kMaxLatencyNs ? std::string("more than 1 s") : std::to_string(l) + " ns")
           << ": every access must take between 1 ns and 1 s";
        if (!lat.empty() || !dist.empty())
          h.sink().add(h.pointer_of(key) + "/" + std::to_string(i) + "/" + std::to_string(j), os.str());
        else
          h.error("nodes", os.str());
      }
      host.latency_ns[i][j] = std::clamp(l, kMinLatencyNs, kMaxLatencyNs);
    }
  h.resolved()["latency_ns"] = host.latency_ns;

  Params swap = h.child("swap");
  host.swap.read_bw = swap.get_bandwidth(kSwapReadBw);
  host.swap.write_bw = swap.get_bandwidth(kSwapWriteBw);
  host.swap.latency_ns = swap.get_duration(kSwapLatency);
  host.swap.size_bytes = static_cast<std::uint64_t>(swap.get_size(kSwapSize));
  swap.finish();
  Params nic = h.child("nic");
  host.nic.bandwidth = nic.get_bandwidth(kNicBw);
  host.nic.latency_ns = nic.get_duration(kNicLatency);
  nic.finish();
  h.finish();
  return host;
}

WorkloadSpec read_workload(Params& w, std::uint64_t vm_pages, std::uint64_t seed) {
  WorkloadSpec ws;
  ws.pointer = w.pointer();
  if (!w.present()) {
    w.error_here("missing workload object");
    return ws;
  }
  ws.rate = w.get_number(kRate);
  ws.device_share = w.get_number(kDeviceShare);
  ws.device_honor_numa_fault = w.get_bool(kDeviceHonor);
  std::int64_t off = w.get_size(kRegionOffset);
  std::int64_t size = w.get_size(kRegionSize);
  ws.region_offset_pages = pages_of(w, kRegionOffset, off);
  ws.region_pages = size == 0 ? (ws.region_offset_pages < vm_pages ? vm_pages - ws.region_offset_pages : 0)
                              : pages_of(w, kRegionSize, size);
  if (vm_pages == 0) {
    ws.region_pages = 1;  // guest memory did not read: its own error says so
  } else if (ws.region_offset_pages + ws.region_pages > vm_pages || ws.region_pages == 0) {
    w.error("region_size", "region [" + core::format_size(off) + ", +" +
                               core::format_size(static_cast<std::int64_t>(ws.region_pages * core::kPageSize)) +
                               ") does not fit in guest memory of " +
                               core::format_size(static_cast<std::int64_t>(vm_pages * core::kPageSize)));
    ws.region_pages = 1;
  }
  // Build one generator now to validate its parameters (and record their defaults).
  workload::GenContext ctx{ws.region_pages, seed, "validate"};
  (void)workload::make_generator(w, ctx);
  w.finish();
  ws.params = w.resolved();
  return ws;
}

VmSpec read_vm(Params& v, const Scenario& sc, const std::vector<std::string>& host_names) {
  VmSpec vm;
  vm.pointer = v.pointer();
  vm.name = v.get_string(kVmName);
  const core::Json* hj = v.raw("host");
  vm.host = 0;
  if (hj && !hj->is_null()) {
    if (!hj->is_string()) {
      v.error("host", "expected a host name string");
    } else {
      auto it = std::find(host_names.begin(), host_names.end(), hj->get<std::string>());
      if (it == host_names.end()) {
        std::string m = "no host named '" + hj->get<std::string>() + "'";
        auto d = core::did_you_mean(hj->get<std::string>(), host_names);
        if (!d.empty()) m += " (did you mean '" + d + "'?)";
        v.error("host", m);
      } else {
        vm.host = static_cast<unsigned>(it - host_names.begin());
      }
    }
  }
  if (!host_names.empty()) v.resolved()["host"] = host_names[vm.host];
  const unsigned nodes = sc.hosts.empty() ? 1 : static_cast<unsigned>(sc.hosts[vm.host].nodes.size());
  vm.vcpus = static_cast<unsigned>(v.get_int(kVmVcpus));
  std::int64_t mem = v.get_size(kVmMemory);
  vm.pages = pages_of(v, kVmMemory, mem);
  const std::string backing = v.get_string(kVmBacking);
  vm.backing = backing == "shmem" ? mm::Backing::Shmem : backing == "hugetlb" ? mm::Backing::Hugetlb : mm::Backing::Anon;
  // hugetlbfs mmap() lengths are whole huge pages (hugetlb_file_setup / hugetlbfs_file_mmap).
  if (vm.backing == mm::Backing::Hugetlb && mem % (2ll << 20) != 0)
    v.error("memory", "a hugetlb-backed VM needs a multiple of the 2MiB huge page size");
  std::string pl = v.get_string(kVmPlacement);
  vm.placement = pl == "interleave" ? mm::Placement::Interleave
                 : pl == "preferred" ? mm::Placement::Preferred
                                     : mm::Placement::Local;
  vm.home_node = static_cast<unsigned>(v.get_int(kVmHome));
  if (vm.home_node >= nodes) {
    v.error("home_node", "host has " + std::to_string(nodes) + " node(s)");
    vm.home_node = 0;
  }
  vm.vmm_threads = static_cast<unsigned>(v.get_int(kVmThreads));
  vm.mem_merge = v.get_bool(kVmMemMerge);
  {
    Params c = v.child("content");
    const core::Json* img = c.raw_resolved("image");
    if (img && !img->is_null() && !img->is_string()) c.error("image", "expected an image name string or null");
    if (img && img->is_string()) vm.content_image = img->get<std::string>();
    // A class is given as a page count or as a share of guest memory, not both.
    auto pages = [&](const ParamSpec& n, const ParamSpec& share) -> std::uint64_t {
      const auto count = static_cast<std::uint64_t>(c.get_int(n));
      const double sh = c.get_number(share);
      if (count > 0 && sh > 0) c.error(share.name, std::string("give ") + n.name + " or " + share.name + ", not both");
      return count > 0 ? count : static_cast<std::uint64_t>(sh * static_cast<double>(vm.pages));
    };
    vm.content.image_pages = pages(kContentImagePages, kContentImageShare);
    vm.content.zero_pages = pages(kContentZeroPages, kContentZeroShare);
    vm.content.dup_pages = pages(kContentDupPages, kContentDupShare);
    vm.content.dup_contents = static_cast<std::uint64_t>(c.get_int(kContentDupContents));
    vm.content.write_shared = c.get_number(kContentWriteShared);
    if (vm.content.image_pages > 0 && vm.content_image.empty())
      c.error("image", "image pages need an image name");
    if (vm.content.image_pages + vm.content.zero_pages + vm.content.dup_pages > vm.pages)
      c.error_here("image, zero and duplicated pages exceed the VM's " + std::to_string(vm.pages) + " pages");
    c.finish();
    // Only a described memory costs a content word per page (without KSM).
    vm.has_content = !vm.content_image.empty() || vm.content.image_pages || vm.content.zero_pages ||
                     vm.content.dup_pages || vm.content.write_shared > 0;
  }
  vm.prealloc_node = static_cast<int>(v.get_int(kVmPrealloc));
  if (vm.prealloc_node >= static_cast<int>(nodes)) {
    v.error("prealloc_node", "host has " + std::to_string(nodes) + " node(s)");
    vm.prealloc_node = -1;
  }
  vm.interleave_nodes = read_node_list(v, "interleave_nodes", nodes);
  if (vm.interleave_nodes.empty()) {
    for (unsigned n = 0; n < nodes; ++n)
      if (sc.hosts.empty() || sc.hosts[vm.host].nodes[n].memory_bytes > 0) vm.interleave_nodes.push_back(n);
    v.resolved()["interleave_nodes"] = vm.interleave_nodes;
  }
  vm.cpu_nodes = read_node_list(v, "cpu_nodes", nodes);
  if (vm.cpu_nodes.empty()) {
    vm.cpu_nodes = {vm.home_node};
    v.resolved()["cpu_nodes"] = vm.cpu_nodes;
  }
  if (!sc.hosts.empty() && nodes > 0) {  // a host whose nodes failed to read has none to index
    for (unsigned n : vm.cpu_nodes)
      if (sc.hosts[vm.host].nodes[n].cores == 0)
        v.error("cpu_nodes", "node " + std::to_string(n) + " has no CPU cores to run vCPUs on");
  }

  const bool has_w = v.has("workload"), has_g = v.has("vcpu_groups");
  if (has_w && has_g) v.error("vcpu_groups", "give either 'workload' (all vCPUs) or 'vcpu_groups', not both");
  if (!has_w && !has_g) v.error("workload", "missing: give 'workload' (all vCPUs) or 'vcpu_groups'");
  if (has_g) {
    unsigned total = 0;
    for (auto& g : v.items("vcpu_groups")) {
      VcpuGroup grp;
      grp.vcpus = static_cast<unsigned>(g.get_int(kGroupVcpus));
      Params w = g.child("workload", true);
      grp.workload = read_workload(w, vm.pages, sc.seed);
      g.finish();
      total += grp.vcpus;
      vm.groups.push_back(std::move(grp));
    }
    if (total != vm.vcpus)
      v.error("vcpu_groups", "groups cover " + std::to_string(total) + " vCPUs but the VM has " +
                                 std::to_string(vm.vcpus));
  } else {
    v.raw("vcpu_groups");  // declare the key (absent) without writing [] into resolved
    Params w = v.child("workload", has_w);
    if (has_w) vm.groups.push_back({vm.vcpus, read_workload(w, vm.pages, sc.seed)});
  }
  return vm;
}

// Whether the VM's reference stream is fixed before it runs (what a policy that needs the future,
// opt, can use): one vCPU replaying a `trace` once. Otherwise why not, and the key to blame.
void future_of(const VmSpec& vm, reclaim::PolicyContext& ctx) {
  const WorkloadSpec* w = vm.groups.empty() ? nullptr : &vm.groups.front().workload;
  if (vm.vcpus != 1) {
    ctx.future_pointer = vm.pointer + "/vcpus";
    ctx.future_problem = "known only for a VM with one vCPU (the order of several vCPUs' accesses is decided by the "
                         "run); this VM has " + std::to_string(vm.vcpus);
  } else if (!w || !w->params.is_object() || w->params.value("type", "") != "trace") {
    ctx.future_pointer = w ? w->pointer + "/type" : vm.pointer;
    ctx.future_problem = "known only for a `trace` workload, whose references exist before the run; a '" +
                         (w && w->params.is_object() ? w->params.value("type", "?") : std::string("?")) +
                         "' workload draws them as it runs";
  } else if (w->params.value("at_end", "loop") != "stop") {
    ctx.future_pointer = w->pointer + "/at_end";
    ctx.future_problem = "the trace must be replayed once (at_end \"stop\"): the future of a looping trace is not "
                         "indexed";
  }
}

VmmSpec read_vmm(Params& p, const Scenario& sc, const std::string& pointer,
                 mm::Backing backing = mm::Backing::Anon, const VmSpec* vm = nullptr) {
  VmmSpec v;
  v.pointer = pointer;
  std::string choices = "none";
  for (const auto& pi : reclaim::policy_registry()) choices += std::string("|") + pi.name;
  const ParamSpec kPolicy{"policy", Kind::Enum, "\"none\"",
                          "VMM tracking/eviction policy (a registered name; none = no VMM agent)", -kInf, kInf,
                          choices.c_str()};
  v.policy = p.get_string(kPolicy);
  // A policy that does not declare hugetlb support (PolicyInfo::hugetlb) would run its 4 KiB
  // verbs on 2 MiB pages: refused rather than run at the wrong granularity.
  const reclaim::PolicyInfo* info = v.policy != "none" ? reclaim::find_policy(v.policy) : nullptr;
  if (info && !reclaim::policy_accepts_backing(*info, backing)) {
    std::string ok;
    for (const auto& pi : reclaim::policy_registry())
      if (reclaim::policy_accepts_backing(pi, backing)) ok += (ok.empty() ? "" : ", ") + std::string(pi.name);
    p.error("policy", "'" + v.policy + "' cannot track a hugetlb-backed VM: it does not work at 2MiB granularity (" +
                          ok + " do)");
  } else if (v.policy != "none" && reclaim::find_policy(v.policy)) {  // "" after a wrong-type error
    reclaim::PolicyContext ctx;
    ctx.caps = &mm::kernel_caps(sc.kernel.variant);
    ctx.backing = backing;
    ctx.duration_ns = sc.duration_ns;
    for (const auto& m : sc.memory_servers) ctx.tiers.memory_servers.push_back(m.name);
    // The top-level default is checked again for each VM that inherits it, with that VM's workload.
    if (vm) future_of(*vm, ctx);
    (void)reclaim::find_policy(v.policy)->make(p, ctx);
  }
  p.finish();
  v.params = p.resolved();
  return v;
}

// `simgrid.cfg`: SimGrid settings the engine applies after its own (README "SimGrid models").
// Each is one "name:value" as SimGrid's --cfg=name:value takes it; whether SimGrid knows the name
// and accepts the value is checked when the run starts (the reader knows no SimGrid).
std::vector<std::string> read_simgrid_cfg(Params& top) {
  std::vector<std::string> out;
  Params sg = top.child("simgrid");
  if (const core::Json* c = sg.raw("cfg")) {
    if (!c->is_array()) {
      sg.error("cfg", "expected an array of SimGrid settings \"name:value\", got " + std::string(c->type_name()));
    } else {
      for (std::size_t i = 0; i < c->size(); ++i) {
        const std::string at = sg.pointer_of("cfg") + "/" + std::to_string(i);
        const auto& x = (*c)[i];
        if (!x.is_string()) {
          sg.sink().add(at, std::string("expected a string \"name:value\", got ") + x.type_name());
          continue;
        }
        const std::string t = x.get<std::string>();
        const auto colon = t.find(':');
        if (!t.empty() && t[0] == '-')
          sg.sink().add(at, "'" + t + "': give the setting without the --cfg= prefix, e.g. \"network/latency-factor:2\"");
        else if (t.find_first_of(" \t\n\r,") != std::string::npos)
          sg.sink().add(at, "'" + t + "': one setting per item (SimGrid splits a setting at spaces and commas)");
        else if (colon == std::string::npos || colon == 0)
          sg.sink().add(at, "'" + t + "': expected \"name:value\", e.g. \"network/latency-factor:2\"");
        else
          out.push_back(t);
      }
    }
  }
  sg.resolved()["cfg"] = out;
  sg.finish();
  return out;
}

}  // namespace

std::string check_name_for_path(const std::string& name) {
  // The name becomes a directory (results/<name>/, and a sweep's <name>-sweep): it must be a
  // valid file name everywhere the results may be copied, so that `validate` refuses what
  // `run` could not write.
  if (name.empty()) return "must not be empty (it names the results directory)";
  if (name.size() > kMaxNameBytes)
    return "is " + std::to_string(name.size()) + " bytes long; at most " + std::to_string(kMaxNameBytes) +
           " (it names the results directory)";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return "must not contain control characters (it names the results directory)";
  return "";
}

void apply_override(Json& doc, const std::string& set, const std::string& file) {
  // Command-line text goes into the scenario, then into result.json: it must be UTF-8 (JSON
  // strings are), and it is held to the same depth rule as a file.
  if (!core::valid_utf8(set)) throw core::InputError(file, {{"", "--set: the text is not valid UTF-8"}});
  auto eq = set.find('=');
  if (eq == std::string::npos || set.empty() || set[0] != '/') {
    throw core::InputError(file, {{"", "--set '" + set + "': expected /json/pointer=value"}});
  }
  std::string ptr = set.substr(0, eq), text = set.substr(eq + 1);
  Json value;
  core::JsonTextError perr;
  if (auto parsed = core::try_parse_json_text(text, /*ignore_comments=*/false, &perr)) {
    value = std::move(*parsed);
  } else if (perr.kind == core::JsonTextError::Kind::Limit) {
    throw core::InputError(file, {{ptr, "--set: the value " + (perr.pointer.empty() ? "" : "at " + perr.pointer + " ") +
                                            "breaks a rule of the reader: " + perr.message}});
  } else {
    value = text;  // bare strings need no quotes: --set /vms/0/backing=shmem
  }
  Json::json_pointer jp;
  try {
    jp = Json::json_pointer(ptr);
  } catch (const std::exception& e) {
    throw core::InputError(file, {{ptr, std::string("--set: invalid JSON pointer: ") + e.what()}});
  }
  // Missing objects on the way are created (defaults fill the rest, so --set
  // /kernel/patches/gup_rwp_fault=false works on a file without a "patches" object); array
  // elements must exist.
  Json::json_pointer parent = jp.parent_pointer();
  std::vector<std::string> tokens;
  for (Json::json_pointer q = parent; !q.empty(); q = q.parent_pointer()) tokens.insert(tokens.begin(), q.back());
  if (tokens.size() + 1 > core::kMaxJsonDepth)
    throw core::InputError(file, {{"", "--set: the pointer has " + std::to_string(tokens.size() + 1) +
                                           " tokens; a scenario is at most " + std::to_string(core::kMaxJsonDepth) +
                                           " levels deep"}});
  // An array index is "0" or digits without a leading zero (RFC 6901), below the array's size.
  auto index_in = [&](const Json& arr, const std::string& t, const std::string& where) {
    const auto idx = core::parse_array_index(t);
    if (!idx)
      throw core::InputError(file, {{ptr, "--set: '" + where + "': '" + t +
                                              "' is not an array index (digits without a leading zero)"}});
    if (*idx >= arr.size()) {
      if (where == ptr)
        throw core::InputError(file, {{ptr, "--set: array index '" + t + "' out of range (size " +
                                                std::to_string(arr.size()) + ")"}});
      throw core::InputError(file, {{ptr, "--set: '" + where + "' does not exist in the scenario"}});
    }
    return *idx;
  };
  Json* cur = &doc;
  std::string at;
  for (const auto& t : tokens) {
    const std::string here = at + "/" + core::escape_pointer_token(t);
    if (cur->is_object()) {
      if (!cur->contains(t)) (*cur)[t] = Json::object();
      cur = &(*cur)[t];
    } else if (cur->is_array()) {
      cur = &(*cur)[index_in(*cur, t, here)];
    } else {
      throw core::InputError(file, {{ptr, "--set: '" + at + "' is a " + cur->type_name() + ", not an object or array"}});
    }
    at = here;
  }
  Json& par = *cur;
  if (!par.is_object() && !par.is_array())
    throw core::InputError(file, {{ptr, "--set: '" + parent.to_string() + "' is a " + par.type_name() + ", not an object or array"}});
  if (par.is_array()) par[index_in(par, jp.back(), ptr)] = std::move(value);
  else par[jp.back()] = std::move(value);
}

std::vector<std::string> split_simgrid_cfg(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

void append_simgrid_cfg(Json& doc, const std::vector<std::string>& settings, const std::string& file) {
  if (settings.empty()) return;
  if (!doc.is_object()) throw core::InputError(file, {{"", "the scenario must be a JSON object"}});
  Json& sg = doc["simgrid"];
  if (sg.is_null()) sg = Json::object();
  if (!sg.is_object())
    throw core::InputError(file, {{"/simgrid", std::string("--cfg: expected an object, got ") + sg.type_name()}});
  Json& cfg = sg["cfg"];
  if (cfg.is_null()) cfg = Json::array();
  if (!cfg.is_array())
    throw core::InputError(file, {{"/simgrid/cfg", std::string("--cfg: expected an array, got ") + cfg.type_name()}});
  for (const auto& s : settings) cfg.push_back(s);
}

std::string scenario_hash(const Json& resolved) {
  std::uint64_t h = core::fnv1a64(resolved.dump());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Scenario parse_scenario(Json doc, const std::string& file, const Overrides& ov) {
  for (const auto& s : ov.sets) apply_override(doc, s, file);
  if (ov.seed) {
    if (!doc.is_object()) throw core::InputError(file, {{"", "the scenario must be a JSON object"}});
    doc["seed"] = *ov.seed;
  }
  append_simgrid_cfg(doc, ov.simgrid_cfg, file);
  // Documents built in memory (tests, sweep points, --set) obey the same depth rule as files.
  if (auto deep = core::json_too_deep(doc))
    throw core::InputError(file, {{*deep, "nested more than " + std::to_string(core::kMaxJsonDepth) +
                                              " levels deep (objects and arrays inside one another)"}});
  core::ErrorSink sink(file);
  Scenario sc;
  sc.file = file;
  sc.resolved = Json::object();
  sc.resolved["schema_version"] = kSchemaVersion;
  Params top(&doc, "", &sink, &sc.resolved);
  if (!doc.is_object()) sink.throw_if_any();
  const ParamSpec kSchema{"schema_version", Kind::Int, "1", "scenario schema version", 1, 1};
  top.get_int(kSchema);
  top.get_string(kDescription);
  sc.name = top.get_string(kName);
  if (sc.name.find('/') != std::string::npos || sc.name == "." || sc.name == "..")
    top.error("name", "must not contain '/' (it names the results directory)");
  else if (const std::string why = check_name_for_path(sc.name); !why.empty() && doc.contains("name") && doc["name"].is_string())
    top.error("name", why);
  sc.seed = static_cast<std::uint64_t>(top.get_int(kSeed));
  sc.duration_ns = top.get_duration(kDuration);
  sc.quantum_ns = top.get_duration(kQuantum);
  {
    Params eng = top.child("engine");
    if (eng.get_string(kEngineParams[0]) == "inline") sc.fault_service = Scenario::FaultService::Inline;
    eng.finish();
  }
  // A measured host profile supplies the defaults of kernel.costs (KERNEL-MODEL.md §9); values
  // given in the scenario still win, and the resolved scenario records the values used.
  if (const std::string hp = top.get_string(kHostProfile); !hp.empty()) {
    std::string why;
    if (auto costs = read_host_profile_costs(host_profile_path(file, hp), &why)) merge_profile_costs(doc, *costs);
    else top.error("host_profile", why);
  }

  // kernel first: host latencies depend on dram_latency_ns.
  Params k = top.child("kernel");
  {
    const std::string v = k.get_string(kVariant);
    if (const auto* caps = mm::find_variant(v)) sc.kernel.variant = caps->variant;  // else reported by get_string
    Params pt = k.child("patches");
    sc.kernel.patches.uffd_feeds_numa = pt.get_bool(kFeedsNuma);
    sc.kernel.patches.gup_rwp_fault = pt.get_bool(kGupRwp);
    sc.kernel.patches.numab_skip_uffd_minor = pt.get_bool(kSkipUffdMinor);
    sc.kernel.patches.khugepaged_uffd_protected = pt.get_bool(kKhugepagedUffdProtected);
    sc.kernel.patches.rmap_uffd_protected = pt.get_bool(kRmapUffdProtected);
    pt.finish();
  }
  {
    Params m = k.child("mm");
    sc.kernel.use_zero_page = m.get_bool(kZeroPage);
    sc.kernel.min_free_kbytes = static_cast<std::uint64_t>(m.get_int(kMinFreeKbytes));
    sc.kernel.watermark_scale_factor = static_cast<unsigned>(m.get_int(kWatermarkScale));
    m.finish();
    Params c = k.child("costs");
    sc.kernel.dram_latency_ns = c.get_int(kDram);
    sc.kernel.costs.minor_fault_ns = c.get_int(kMinorFault);
    sc.kernel.costs.userfault_ns = c.get_int(kUserfault);
    sc.kernel.costs.page_clear_ns = c.get_int(kPageClear);
    sc.kernel.costs.page_copy_ns = c.get_int(kPageCopy);
    sc.kernel.costs.tlb_ipi_ns = c.get_int(kTlbIpi);
    Params u = c.child("uffd");
    auto& uc = sc.kernel.uffd;
    uc.ioctl_ns = u.get_int(kIoctl);
    uc.per_pte_ns = u.get_int(kPerPte);
    uc.tlb_flush_ns = u.get_int(kTlbFlush);
    uc.tlb_per_vcpu_ns = u.get_int(kTlbPerVcpu);
    uc.scan_per_pte_ns = u.get_int(kScanPte);
    uc.copy_ns = u.get_int(kCopy);
    uc.set_mode_ns = u.get_int(kSetMode);
    uc.roundtrip_ns = u.get_int(kRoundtrip);
    u.finish();
    c.finish();
  }
  // Kernel daemons: each registered daemon reads its own section kernel.<name>.
  for (const auto& d : kernel::daemon_registry()) {
    Params dp = k.child(d.name);
    (void)d.make(dp, kernel::DaemonContext{});
    dp.finish();
    sc.kernel.daemons.push_back({d.name, dp.resolved(), dp.pointer()});
  }
  k.finish();

  std::vector<std::string> host_names;
  auto hosts = top.items("hosts", true);
  if (doc.contains("hosts") && doc["hosts"].is_array() && hosts.empty())
    top.error("hosts", "at least one host is needed");
  for (auto& h : hosts) {
    HostSpec hs = read_host(h, sc.kernel.dram_latency_ns);
    if (std::find(host_names.begin(), host_names.end(), hs.name) != host_names.end())
      h.error("name", "duplicate host name '" + hs.name + "'");
    host_names.push_back(hs.name);
    sc.hosts.push_back(std::move(hs));
  }

  for (auto& m : top.items("memory_servers")) {
    MemoryServerSpec ms;
    ms.name = m.get_string(kServerName);
    Params nic = m.child("nic");
    ms.nic.bandwidth = nic.get_bandwidth(kNicBw);
    ms.nic.latency_ns = nic.get_duration(kNicLatency);
    nic.finish();
    m.finish();
    if (std::find(host_names.begin(), host_names.end(), ms.name) != host_names.end())
      m.error("name", "'" + ms.name + "' is already a host name");
    for (const auto& other : sc.memory_servers)
      if (other.name == ms.name) m.error("name", "duplicate memory server name '" + ms.name + "'");
    sc.memory_servers.push_back(std::move(ms));
  }
  // The top-level `vmm` is the default of every VM without its own.
  const core::Json* default_vmm = doc.contains("vmm") ? &doc["vmm"] : nullptr;
  {
    Params dv = top.child("vmm");
    (void)read_vmm(dv, sc, "/vmm");
  }

  std::map<std::string, std::string> vm_names;  // name -> pointer
  std::vector<std::uint64_t> host_pages(sc.hosts.size(), 0), host_huge(sc.hosts.size(), 0);
  auto vms = top.items("vms", true);
  if (doc.contains("vms") && doc["vms"].is_array() && vms.empty()) top.error("vms", "at least one VM is needed");
  for (auto& v : vms) {
    unsigned count = static_cast<unsigned>(v.get_int(kVmCount));
    VmSpec vm = read_vm(v, sc, host_names);
    if (v.has("vmm")) {
      Params vv = v.child("vmm");
      vm.vmm = read_vmm(vv, sc, vv.pointer(), vm.backing, &vm);
    } else {
      v.raw("vmm");
      if (default_vmm) {
        // Re-read the default for this VM's backing (its checks may depend on it).
        core::ErrorSink quiet(sc.file);
        core::Json res = core::Json::object();
        Params dv(default_vmm, "/vmm", &quiet, &res);
        vm.vmm = read_vmm(dv, sc, "/vmm", vm.backing, &vm);
        for (const auto& pr : quiet.problems()) {
          bool dup = false;
          for (const auto& q : sink.problems()) dup |= q.message == pr.message;
          if (!dup) sink.add(v.pointer() + "/backing", "the inherited /vmm: " + pr.message);
        }
        v.resolved()["vmm"] = res;
      } else {
        vm.vmm.policy = "none";
        v.resolved()["vmm"] = {{"policy", "none"}};
      }
    }
    v.finish();
    // Counted before the copies are made: `count` on many entries would otherwise build millions
    // of VMs before the total is checked.
    if (sc.vms.size() + count > kMaxVms) {
      v.error("count", "the scenario would have more than " + std::to_string(kMaxVms) + " VMs");
      break;
    }
    for (unsigned i = 0; i < count; ++i) {
      VmSpec c = vm;
      if (count > 1) c.name = vm.name + "-" + std::to_string(i);
      auto [it, fresh] = vm_names.emplace(c.name, v.pointer());
      if (!fresh) v.error("name", "VM name '" + c.name + "' is already used at " + it->second);
      if (!sc.hosts.empty() && c.backing == mm::Backing::Hugetlb) host_huge[c.host] += c.pages;
      else if (!sc.hosts.empty()) host_pages[c.host] += c.pages;
      sc.vms.push_back(std::move(c));
    }
  }

  // Cross-field checks only on fields that read cleanly (no cascades from earlier errors).
  for (std::size_t h = 0; h < sc.hosts.size() && sink.empty(); ++h) {
    std::uint64_t cap = 0;
    for (auto& n : sc.hosts[h].nodes) cap += n.memory_bytes / core::kPageSize;
    if (cap > kMaxHostFrames) {
      sink.add("/hosts/" + std::to_string(h) + "/nodes",
               "the host's memory (" + core::format_size(static_cast<std::int64_t>(cap * core::kPageSize)) +
                   ") exceeds the simulator's 32-bit frame numbers: at most " +
                   std::to_string(kMaxHostFrames) + " 4KiB frames (16 TiB) per host");
      continue;
    }
    // A kernel section that reclaims to swap (DaemonInfo::overcommit, e.g. kernel.reclaim) lets
    // guests overcommit DRAM up to DRAM + swap.
    const char* reclaimer = nullptr;
    for (std::size_t d = 0; d < sc.kernel.daemons.size(); ++d) {
      const auto& info = kernel::daemon_registry()[d];
      const auto& on = sc.kernel.daemons[d].params[info.params.front().name];
      if (info.overcommit && ((on.is_boolean() && on.get<bool>()) || (on.is_number() && on.get<double>() != 0)))
        reclaimer = info.name;
    }
    const std::uint64_t swap = reclaimer ? sc.hosts[h].swap.size_bytes / core::kPageSize : 0;
    const auto size = [](std::uint64_t pages) { return core::format_size(static_cast<std::int64_t>(pages * core::kPageSize)); };
    // The hugetlb pool is taken out of DRAM at boot: hugetlb guests draw on it alone (a hugetlbfs
    // mmap reserves its whole length, hugetlb_reserve_pages()), everything else on the rest.
    std::uint64_t pool = 0;
    for (auto& n : sc.hosts[h].nodes) pool += n.hugepages * 512;
    if (host_huge[h] > pool)
      sink.add("/hosts/" + std::to_string(h) + "/nodes",
               "hugetlb-backed guest memory on host '" + sc.hosts[h].name + "' (" + size(host_huge[h]) +
                   ") exceeds its hugetlb pool (nodes[].hugepages: " + size(pool) + ")");
    cap -= pool;
    if (host_pages[h] > cap + swap) {
      sink.add("/vms", "guest memory on host '" + sc.hosts[h].name + "' (" + size(host_pages[h]) + ") exceeds its DRAM (" +
                           size(cap) + ")" +
                           (reclaimer ? " plus swap (" + size(swap) + ")"
                                      : std::string(": overcommit needs kernel reclaim to swap (kernel.reclaim.enabled)")));
    }
  }

  Params out = top.child("output");
  sc.output.sampling_ns = out.get_duration(kSampling);
  {
    const core::Json* w = out.raw("wss_windows");
    std::vector<std::string> texts = {"1s", "10s", "60s"};
    std::vector<TimeNs> wins;
    if (w) {
      if (!w->is_array() || w->empty()) {
        out.error("wss_windows", "expected a non-empty array of durations");
      } else {
        texts.clear();
        for (std::size_t i = 0; i < w->size(); ++i) {
          std::string why;
          std::optional<std::int64_t> d;
          if ((*w)[i].is_number_integer()) d = (*w)[i].get<std::int64_t>();
          else if ((*w)[i].is_string()) d = core::parse_duration_ns((*w)[i].get<std::string>(), &why);
          else why = "expected a duration";
          if (!d || *d <= 0) {
            sink.add(out.pointer_of("wss_windows") + "/" + std::to_string(i), why.empty() ? "must be positive" : why);
            continue;
          }
          wins.push_back(*d);
        }
      }
    }
    if (!w) for (auto& t : texts) wins.push_back(*core::parse_duration_ns(t));
    for (TimeNs x : wins) {
      if (sc.output.sampling_ns > 0 && x % sc.output.sampling_ns != 0)
        out.error("wss_windows", core::format_duration(x) + " is not a multiple of the sampling interval " +
                                     core::format_duration(sc.output.sampling_ns));
    }
    sc.output.wss_windows_ns = wins;
    out.resolved()["wss_windows"] = wins;
  }
  out.finish();
  if (sc.duration_ns > 0 && sc.output.sampling_ns > 0 && sc.duration_ns % sc.output.sampling_ns != 0)
    sink.add("/output/sampling_interval", core::format_duration(sc.output.sampling_ns) +
                                              " does not divide the duration " + core::format_duration(sc.duration_ns));
  if (sc.output.sampling_ns > 0 && sc.quantum_ns > sc.output.sampling_ns)
    top.error("quantum", "longer than the sampling interval");
  sc.simgrid_cfg = read_simgrid_cfg(top);
  top.finish();
  sink.throw_if_any();
  return sc;
}

Json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::InputError(path, {{"", "cannot open file"}});
  std::string text;
  if (!core::read_bounded(in, &text))
    throw core::InputError(path, {{"", "larger than " + std::to_string(core::kMaxInputBytes >> 20) + " MiB"}});
  if (in.bad()) throw core::InputError(path, {{"", "cannot read file"}});
  return core::parse_json_text(text, path, /*ignore_comments=*/true);
}

std::span<const core::ParamSpec> engine_params() { return kEngineParams; }

Scenario load_scenario(const std::string& path, const Overrides& ov) {
  return parse_scenario(read_json_file(path), path, ov);
}

}  // namespace vmemsim::scenario
