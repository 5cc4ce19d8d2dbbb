// A vCPU's execution in plain C++: draws accesses from its generator and applies them to the
// page table, adding up each access's cost (DRAM latency by NUMA distance, fault costs).
//
// Lifecycle: built per vCPU by the engine; its actor calls run(start, end) once per quantum and
// then makes a single SimGrid call for the time consumed (DESIGN.md "Time and the vCPU
// quantum"). A quantum ends early on a blocking event (a sync userfault, the mmap lock held
// for write): the access that blocked stays pending and is retried by the next run() once the
// engine has resolved it. Accesses drawn but not issued stay buffered, so the access stream
// does not depend on the quantum length.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "models/mm/address_space.hpp"
#include "models/workload/generator.hpp"

namespace vmemsim::mm {

constexpr unsigned kMaxNodes = 64;

struct VcpuConfig {
  unsigned index = 0;                   // the vCPU's index in its VM (the faulting task)
  unsigned node = 0;                    // node whose cores run this vCPU at start
  std::uint32_t pid = 0;                // the vCPU thread's pid (deterministic)
  std::uint64_t region_base = 0;        // generator page p -> gfn region_base + p
  core::TimeNs think_ns = 0;            // compute time between accesses
  // DRAM latency by [CPU node][memory node]: the scheduler may move the vCPU (Task::cpu_node).
  std::vector<std::vector<core::TimeNs>> latency_ns;
  double device_share = 0;              // share of accesses made by a device through GUP
  bool honor_numa_fault = false;        // the device's GUP passes FOLL_HONOR_NUMA_FAULT
  std::uint64_t seed = 0;               // for the device-access stream
  std::string path;                     // stable component path
};

struct VcpuCounters {
  std::uint64_t writes = 0;
  std::array<std::uint64_t, kMaxNodes> by_node{};  // accesses served from each memory node
  std::uint64_t local = 0;                         // accesses served from the node it ran on
  std::uint64_t device_accesses = 0;
  core::TimeNs fault_ns = 0;   // time spent in the kernel's fault handling
  // fault_ns split by fault kind (FaultRouter::kinds() order; grown on a fault's slow path
  // only), and the task work run on the way back to guest mode (task_numa_work, ...):
  // sum(fault_ns_by_kind) + task_work_ns == fault_ns.
  std::vector<core::TimeNs> fault_ns_by_kind;
  core::TimeNs task_work_ns = 0;
  core::TimeNs memory_ns = 0;  // time spent waiting for DRAM
  core::TimeNs tlb_ns = 0;     // time lost to TLB-shootdown IPIs
  std::uint64_t huge_accesses = 0;  // accesses through a PMD mapping
  core::TimeNs tlb_saved_ns = 0;    // their TLB-reach saving (included in memory_ns)
  std::uint64_t accesses() const {
    std::uint64_t s = 0;
    for (auto n : by_node) s += n;
    return s;
  }
};

class Vcpu {
 public:
  static constexpr std::size_t kBatch = 256;
  static constexpr std::size_t kPrefetch = 20;

  Vcpu(VcpuConfig cfg, AddressSpace& as, std::unique_ptr<workload::Generator> gen);

  // Io: the access went through after a swap-in whose read the vCPU now waits for (io_bytes).
  // Oom: no frame; the engine may run direct reclaim and resume (the access is retried).
  enum class Stop : std::uint8_t { None, Oom, Blocked, LockWait, Io };
  struct Quantum {
    core::TimeNs end;  // vCPU time reached (>= the requested end unless stopped)
    Stop stop = Stop::None;
    // Stop::Blocked: the userfault to deliver to the handler.
    Gfn gfn;
    bool write = false;
    UffdReason reason = UffdReason::Missing;
    std::uint32_t io_bytes = 0;  // Stop::Io
  };
  // Issues accesses from `start` until the vCPU's time reaches `end` or an access blocks.
  Quantum run(core::TimeNs start, core::TimeNs end);

  const VcpuCounters& counters() const { return c_; }
  const VcpuConfig& config() const { return cfg_; }
  unsigned task() const { return task_; }
  // The node whose cores run it now (the scheduler's Task::cpu_node).
  unsigned node() const { return as_.task(task_).cpu_node.v; }

 private:
  void advance_epoch(core::TimeNs t);
  void refill(core::TimeNs t);

  VcpuConfig cfg_;
  AddressSpace& as_;
  unsigned task_ = 0;
  // [cpu node] -> latency by pte::lat_index(): the memory node's DRAM latency, less the
  // TLB-reach saving for a PMD-mapped page (indexes 64 + node; AddressSpace::huge_saving_ns).
  std::vector<std::array<core::TimeNs, pte::kLatIndexes>> lat_;
  core::TimeNs huge_saving_ = 0;
  void set_huge_saving(core::TimeNs ns);
  std::unique_ptr<workload::Generator> gen_;
  core::Rng device_rng_;
  core::Rng content_rng_;  // the contents this vCPU's writes leave (content.hpp)
  std::uint64_t device_threshold_ = 0;
  std::array<workload::Access, kBatch> buf_{};
  std::size_t pos_ = kBatch;
  const core::TimeNs* gaps_ = nullptr;  // the generator's gaps for buf_ (Generator::gaps())
  bool finished_ = false;               // the generator's stream ended (kGapEnd)
  VcpuCounters c_;
  std::uint64_t tlb_seen_ = 0;
  // Cached ground-truth epoch of the current access time: [epoch_lo_, epoch_hi_).
  core::TimeNs epoch_lo_ = 0, epoch_hi_ = 0;
  std::size_t epoch_ = 0;
};

}  // namespace vmemsim::mm
