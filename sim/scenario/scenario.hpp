// Scenario file (JSON) -> typed, validated structs (DESIGN.md "Scenario file").
//
// load_scenario() reads the file, applies --seed/--set overrides, reads every key through the
// ParamSpec reader (all problems of the file collected, each with its JSON pointer, thrown as
// one InputError), runs the cross-field checks, and keeps the fully resolved scenario (every
// default filled in, base units) for the result file.
//
// Rules of the reader (each an InputError with the pointer of the value at fault; README "What
// the reader refuses"):
//  - bounded nesting: JSON depth <= core::kMaxJsonDepth while parsing (json_input.hpp),
//    `phases` in `phases` <= workload::kMaxPhaseDepth;
//  - every time quantity >= 1 ns after rounding, or rejected: access latencies in [1 ns, 1 s]
//    (read_host), durations <= core::kMaxDurationNs, periods >= 1 us (their ParamSpecs);
//  - every integer range-checked before narrowing (Params::read_integer, node lists as 64 bits,
//    --set array tokens by core::parse_array_index);
//  - resource estimates before allocating: node count before the n x n matrix, VM count before
//    `count` copies, host frames within 32 bits; the run's memory by resources.hpp.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "models/mm/address_space.hpp"
#include "models/uffd/uffd.hpp"
#include "sim/core/params.hpp"
#include "sim/core/types.hpp"

namespace vmemsim::scenario {

using core::Json;
using core::TimeNs;

constexpr int kSchemaVersion = 1;

struct NodeSpec {
  unsigned cores = 0;
  std::uint64_t memory_bytes = 0;
  std::uint64_t hugepages = 0;  // nr_hugepages (2 MiB) reserved out of memory_bytes
};

struct DiskSpec {  // a swap SSD: a SimGrid Disk on the host
  double read_bw = 0, write_bw = 0;  // bytes/s
  TimeNs latency_ns = 0;
  std::uint64_t size_bytes = 0;
};

struct NicSpec {  // the host's network interface: a SimGrid split-duplex link
  double bandwidth = 0;  // bytes/s
  TimeNs latency_ns = 0;
};

struct HostSpec {
  std::string name;
  std::vector<NodeSpec> nodes;
  std::vector<std::vector<TimeNs>> latency_ns;  // [cpu node][memory node]
  double core_speed = 1e9;                      // flop/s per core (1 flop = 1 ns of vCPU time)
  DiskSpec swap;
  NicSpec nic;
};

struct WorkloadSpec {
  Json params;          // the resolved workload object, to build one generator per vCPU
  std::string pointer;  // where it came from, for messages
  double rate = 0;      // accesses per second when every access is a local DRAM hit
  double device_share = 0;  // share of accesses made by a device through GUP
  bool device_honor_numa_fault = false;
  std::uint64_t region_offset_pages = 0, region_pages = 0;
};

struct VcpuGroup {
  unsigned vcpus = 0;
  WorkloadSpec workload;
};

struct VmmSpec {
  std::string policy;   // "none" or a registered policy name
  Json params;          // the resolved vmm object, to build the policy
  std::string pointer;
};

struct VmSpec {
  std::string name;
  std::string pointer;  // the vms[] entry it came from ("/vms/3"), for messages
  unsigned host = 0;
  unsigned vcpus = 0;
  std::uint64_t pages = 0;
  mm::Backing backing = mm::Backing::Anon;
  mm::Placement placement = mm::Placement::Local;
  unsigned home_node = 0;
  int prealloc_node = -1;           // the VMM touches all guest memory from this node first
  unsigned vmm_threads = 1;         // VMM threads besides the vCPUs (mm_users)
  bool mem_merge = true;            // MADV_MERGEABLE on guest memory (QEMU mem-merge)
  bool has_content = false;         // vms[].content given: the VM tracks page content
  mm::ContentSpec content;          // its description (image id set by build_world)
  std::string content_image;        // the boot image's name
  std::vector<unsigned> interleave_nodes;
  std::vector<unsigned> cpu_nodes;  // vCPU i runs on cpu_nodes[i % size]
  std::vector<VcpuGroup> groups;    // sums to vcpus
  VmmSpec vmm;
};

// A kernel daemon's resolved section kernel.<name>, to build it once the world exists.
struct DaemonSection {
  std::string name;
  Json params;
  std::string pointer;
};

struct KernelSpec {
  mm::Variant variant = mm::Variant::Upstream;
  mm::KernelPatches patches;
  bool use_zero_page = true;
  std::uint64_t min_free_kbytes = 0;  // 0 = the kernel's default for the host's memory
  unsigned watermark_scale_factor = 10;
  std::vector<DaemonSection> daemons;  // in daemon-registry order
  TimeNs dram_latency_ns = 90;
  mm::FaultCosts costs;
  uffd::Costs uffd;
};

struct MemoryServerSpec {  // a remote memory tier: a host reached over the NICs
  std::string name;
  NicSpec nic;
};


struct OutputSpec {
  TimeNs sampling_ns = 0;
  std::vector<TimeNs> wss_windows_ns;
};

struct Scenario {
  std::string file;
  std::string name;
  std::uint64_t seed = 0;
  TimeNs duration_ns = 0;
  TimeNs quantum_ns = 0;
  // engine.fault_service: how a sync userfault reaches its VMM handler (sim/engine/engine.cpp).
  // Exact: a message to the handler thread, a SimGrid round trip per fault. Inline: the
  // faulting vCPU runs the handler in model time (a calendar of its service intervals) and
  // touches SimGrid only for the platform waits the handling needs (tier I/O, an eviction in
  // flight).
  enum class FaultService : std::uint8_t { Exact, Inline };
  FaultService fault_service = FaultService::Exact;
  std::vector<HostSpec> hosts;
  std::vector<MemoryServerSpec> memory_servers;
  std::vector<VmSpec> vms;  // VMs with `count` > 1 are expanded here
  KernelSpec kernel;
  OutputSpec output;
  // SimGrid settings ("name:value", as SimGrid's --cfg=name:value) applied after vmemsim's own
  // model settings (sim/engine/engine.cpp, README "SimGrid models"); part of the run id.
  std::vector<std::string> simgrid_cfg;
  Json resolved;  // the scenario with every default filled in (base units)
};

struct Overrides {
  std::optional<std::uint64_t> seed;
  std::vector<std::string> sets;         // "/json/pointer=value"
  std::vector<std::string> simgrid_cfg;  // --cfg=name:value: appended to /simgrid/cfg after the sets
};

// The keys of the scenario's `engine` object (`vmemsim describe engine`).
std::span<const core::ParamSpec> engine_params();

// A JSON file (comments allowed); a missing file or a syntax error is an InputError.
Json read_json_file(const std::string& path);

// Reads and validates; throws core::InputError (exit 2) listing every problem.
Scenario load_scenario(const std::string& path, const Overrides& ov = {});
// Same, from an in-memory document (tests; `file` names it in messages).
Scenario parse_scenario(Json doc, const std::string& file, const Overrides& ov = {});

// Applies one "/pointer=value" override to `doc`; value is JSON if it parses, else a string.
void apply_override(Json& doc, const std::string& set, const std::string& file);

// Appends SimGrid settings to doc's /simgrid/cfg (created when absent): what `--cfg=name:value`
// does to a scenario. A /simgrid or /simgrid/cfg that is not an object/array is an InputError.
void append_simgrid_cfg(Json& doc, const std::vector<std::string>& settings, const std::string& file);

// One --cfg value as separate settings: SimGrid splits it at spaces, tabs, newlines and commas.
std::vector<std::string> split_simgrid_cfg(const std::string& text);

// A scenario or sweep name names a results directory: "" when `name` is usable as one (1 to
// kMaxNameBytes bytes, no control characters; '/' is checked by the callers), else why not.
constexpr std::size_t kMaxNameBytes = 200;
std::string check_name_for_path(const std::string& name);

// A stable id for a resolved scenario (hex of a fixed hash of its canonical dump).
std::string scenario_hash(const Json& resolved);

}  // namespace vmemsim::scenario
